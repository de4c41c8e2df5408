#include "fold/predict/prediction_run.h"

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <iostream>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <stdexcept>

#include "data/fasta.h"
#include "data/npz.h"
#include "data/precomputed_alignments.h"
#include "data/protein.h"
#include "data/text_file.h"
#include "fold/features/feature_pipeline.h"
#include "fold/loss/alphafold_loss.h"

namespace fold {

namespace {

using json = nlohmann::json;
using steady = std::chrono::steady_clock;

double seconds_since(steady::time_point start) {
  return std::chrono::duration<double>(steady::now() - start).count();
}

std::vector<double> to_vector(const at::Tensor& t) {
  const at::Tensor c = t.to(at::kDouble).contiguous();
  return std::vector<double>(c.data_ptr<double>(), c.data_ptr<double>() + c.numel());
}

// One structure to predict: its name, and where its alignments and files are.
struct Query {
  std::string name, sequence, alignment_dir, out_dir;
};

// The FASTA files of `path`: the file itself, or a folder's .fasta / .fa / .fas files
// sorted by name.
std::vector<std::filesystem::path> fasta_files(const std::string& path) {
  namespace fs = std::filesystem;
  if (!fs::is_directory(path)) return {path};
  std::vector<fs::path> files;
  for (const auto& e : fs::directory_iterator(path)) {
    const std::string ext = e.path().extension().string();
    if (e.is_regular_file() && (ext == ".fasta" || ext == ".fa" || ext == ".fas")) files.push_back(e.path());
  }
  std::sort(files.begin(), files.end());
  if (files.empty()) throw std::invalid_argument(path + ": no .fasta, .fa or .fas files in the folder");
  return files;
}

// A record id as a file and folder name: characters other than letters, digits, '.', '-'
// and '_' (a UniProt id's '|', say) become '_'.
std::string file_name_of(const std::string& id) {
  std::string name = id;
  for (char& ch : name)
    if (!std::isalnum(static_cast<unsigned char>(ch)) && ch != '.' && ch != '-' && ch != '_') ch = '_';
  return name;
}

std::vector<Query> fasta_queries(const PredictionRequest& r) {
  namespace fs = std::filesystem;
  std::vector<Query> queries;
  for (const fs::path& file : fasta_files(r.fasta)) {
    const auto records = data::read_fasta(file.string());
    for (const auto& record : records)
      queries.push_back({records.size() == 1 ? file.stem().string() : file_name_of(record.id), record.sequence,
                         r.alignment_dir, r.out_dir});
  }
  if (queries.size() == 1) return queries;
  const std::string several = r.fasta + ": " + std::to_string(queries.size()) + " queries: ";
  if (!r.msas.empty() || !r.template_hits.empty())
    throw std::invalid_argument(several + "--msa and --templates give one query's inputs; give --alignment-dir " +
                                "with one folder per query (DIR/<name>/)");
  if (!r.save_outputs.empty() || !r.save_features.empty())
    throw std::invalid_argument(several + "--save-outputs and --save-features name one file; predict one query " +
                                "at a time to save its arrays");
  std::set<std::string> names;
  for (Query& q : queries) {
    if (!names.insert(q.name).second) throw std::invalid_argument(several + "two are named '" + q.name + "'");
    q.alignment_dir = (fs::path(r.alignment_dir) / q.name).string();
    if (!fs::is_directory(q.alignment_dir))
      throw std::invalid_argument(several + "no alignment folder " + q.alignment_dir);
    q.out_dir = (fs::path(r.out_dir) / q.name).string();
  }
  return queries;
}

// The queries of a request: the .npz batch as given, or the FASTA's.
std::vector<Query> queries_of(const PredictionRequest& r) {
  if (!r.features.empty()) return {{std::filesystem::path(r.features).stem().string(), "", "", r.out_dir}};
  return fasta_queries(r);
}

// The batch of a query: the .npz as given, or its sequence through the feature pipeline
// (its template report in `pipeline`).
data::FeatureDict query_batch(const Config& config, PredictionRequest& r, const Query& query,
                              features::PipelineReport* pipeline) {
  if (!r.features.empty()) {
    data::FeatureDict batch = data::read_npz(r.features);
    if (r.loss) {
      try {
        loss::check_loss_features(batch);
      } catch (const std::invalid_argument& e) {
        throw std::invalid_argument(r.features + ": --loss: " + e.what());
      }
    }
    return batch;
  }
  const bool quiet = !r.predict.progress;
  features::InferenceInputs inputs{query.sequence, r.msas, {}, r.template_hits, r.mmcif_dir, r.max_template_date};
  if (!query.alignment_dir.empty()) {
    const data::PrecomputedAlignments found = data::read_precomputed_alignments(query.alignment_dir);
    inputs.msa_paths = found.msa_paths;
    inputs.msa_max_rows = found.max_rows;
    // The folder's hits become templates where their structures are given.
    if (!r.mmcif_dir.empty()) inputs.template_hits = r.template_hits = found.template_hits;
    else if (!found.template_hits.empty() && !quiet)
      std::cerr << "templates: " << found.template_hits << " not used without --template-mmcif-dir\n";
  }
  features::PipelineOptions options = pipeline_options(config);
  options.seed = r.seed;
  if (r.predict.recycles >= 0) options.num_recycles = r.predict.recycles;
  if (!r.template_hits.empty() && !options.sampling.use_templates)
    std::cerr << "warning: --templates ignored: the config sets data.common.use_templates = false\n";
  data::FeatureDict batch = features::build_inference_features(inputs, options, pipeline);
  for (const auto& s : pipeline->skipped_templates) std::cerr << "template skipped: " << s << "\n";
  if (!r.template_hits.empty() && options.sampling.use_templates && !quiet)
    std::cerr << "templates: " << pipeline->templates.size() << " used\n";
  return batch;
}

// --loss: the training loss of the outputs against the ground truth of the batch's last
// recycling slice (OpenFold's batch[..., -1]), with the config's [loss] weights; the
// terms printed and returned as loss/<term>, violation/<name> arrays.
data::FeatureDict loss_outputs(const Config& config, const data::FeatureDict& batch, const data::FeatureDict& out) {
  const loss::LossBreakdown r =
      loss::alphafold_loss(out, data::last_recycling_slice(batch), loss::LossOptions::from_config(config));
  std::cout << "loss " << r.total.item<double>() << " (unscaled " << r.unscaled_total.item<double>() << ")";
  for (const auto& [term, value] : r.terms) std::cout << ", " << term << " " << value.item<double>();
  std::cout << "\n";
  return loss::loss_arrays(r);
}

// The predicted aligned error in AlphaFold DB's format: one object in a list, the [N, N]
// matrix in Angstrom to one decimal, compact.
void write_afdb_pae(const std::string& path, const at::Tensor& pae, double max_pae) {
  const at::Tensor rounded = (pae.to(at::kDouble) * 10).round() / 10;
  json rows = json::array();
  for (int64_t i = 0; i < rounded.size(0); ++i) {
    json row = json::array();
    const at::Tensor r = rounded[i].contiguous();
    for (int64_t k = 0; k < r.size(0); ++k) row.push_back(r.data_ptr<double>()[k]);
    rows.push_back(std::move(row));
  }
  const json afdb = json::array(
      {{{"predicted_aligned_error", rows}, {"max_predicted_aligned_error", std::round(max_pae * 100) / 100}}});
  data::write_text_file(path, afdb.dump() + "\n");
}

// <name>.json: the confidence numbers, the losses, what ran and how long each stage took.
json prediction_summary(const PredictionRequest& r, const data::FeatureDict& out, const data::FeatureDict& losses,
                        const features::PipelineReport& pipeline, const PredictionReport& report,
                        const Predictor& predictor) {
  json j;
  j["plddt"] = to_vector(out.at("plddt"));
  j["mean_plddt"] = out.at("plddt").mean().item<double>();
  if (out.count("predicted_aligned_error")) {
    j["max_predicted_aligned_error"] = out.at("max_predicted_aligned_error").item<double>();
    j["ptm"] = out.at("ptm_score").item<double>();
  }
  for (const auto& [key, value] : losses)
    if (key.rfind("loss/", 0) == 0) j["loss"][key.substr(5)] = value.item<double>();
  j["templates"] = pipeline.templates;
  j["skipped_templates"] = pipeline.skipped_templates;
  j["recycles"] = report.iterations - 1;
  j["peak_memory_bytes"] = report.peak_bytes;
  j["peak_memory_bytes_per_stage"] = report.stage_peak_bytes;
  j["device"] = report.device;
  j["chunk_size"] = report.chunk_size;
  j["memory_policy"] = predictor.memory_policy().to_string();
  j["low_memory"] = predictor.memory_policy().attention.low_memory;
  j["precision"] = r.predict.precision;
  j["params"] = r.params;
  return j;
}

// Predicts one query and writes its files. `r` is the request as this query sees it (the
// alignment folder's template hits are set in it). The model is loaded once, after the
// first batch is built, so that a bad input fails before the weights are read; every
// query's timings.json gives that load's time.
PredictionFiles predict_query(const Config& config, PredictionRequest r, const Query& query,
                              std::optional<Predictor>& predictor, double& load_seconds) {
  std::filesystem::create_directories(query.out_dir);
  const std::string& name = query.name;
  const auto features_start = steady::now();
  features::PipelineReport pipeline;
  const data::FeatureDict batch = query_batch(config, r, query, &pipeline);
  const double feature_seconds = seconds_since(features_start);
  if (!r.save_features.empty()) data::write_npz(r.save_features, batch);
  if (r.predict.progress) std::cerr << "features: " << feature_seconds << " s\n";
  if (!predictor) {
    const auto load_start = steady::now();
    predictor.emplace(config, r.params, r.predict);
    load_seconds = seconds_since(load_start);
  }

  PredictionReport report;
  const data::FeatureDict out = predictor->predict(batch, &report);
  const data::FeatureDict losses = r.loss ? loss_outputs(config, batch, out) : data::FeatureDict();

  const auto path = [&](const std::string& ext) { return (std::filesystem::path(query.out_dir) / (name + ext)).string(); };
  const data::Protein protein = prediction_to_protein(name, batch, out);
  json j = prediction_summary(r, out, losses, pipeline, report, *predictor);
  data::ModelQuality quality;
  const auto plddt = j["plddt"].get<std::vector<double>>();
  quality.plddt.assign(plddt.begin(), plddt.end());
  if (out.count("ptm_score")) quality.ptm = out.at("ptm_score").item<double>();
  data::write_protein(protein, path(".pdb"));
  data::write_protein(protein, path(".cif"), &quality);
  if (!r.save_outputs.empty()) {
    data::FeatureDict saved = out;
    saved.insert(losses.begin(), losses.end());
    data::write_npz(r.save_outputs, saved);
  }
  if (out.count("predicted_aligned_error")) {
    write_afdb_pae(path("_pae.json"), out.at("predicted_aligned_error"),
                   out.at("max_predicted_aligned_error").item<double>());
    j["pae_file"] = path("_pae.json");
  }
  json timings = {{"features", feature_seconds}, {"load_params", load_seconds}};
  for (const auto& [stage, s] : report.stage_seconds) timings[stage] = s;
  j["timings_seconds"] = timings;
  j["name"] = name;
  j["sequence"] = protein.sequence();
  // AF2's timings.json, one prediction per output directory as AF2 lays them out.
  data::write_text_file((std::filesystem::path(query.out_dir) / "timings.json").string(), timings.dump(4) + "\n");
  data::write_text_file(path(".json"), j.dump(2) + "\n");
  return {path(".pdb"), path(".cif"), path(".json"), j["mean_plddt"].get<double>()};
}

}  // namespace

std::vector<PredictionFiles> run_prediction(const Config& config, const PredictionRequest& request) {
  const std::vector<Query> queries = queries_of(request);
  std::optional<Predictor> predictor;
  double load_seconds = 0;
  std::vector<PredictionFiles> files;
  for (const Query& query : queries) files.push_back(predict_query(config, request, query, predictor, load_seconds));
  return files;
}

}  // namespace fold
