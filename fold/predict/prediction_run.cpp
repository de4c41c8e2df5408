#include "fold/predict/prediction_run.h"

#include <chrono>
#include <cmath>
#include <filesystem>
#include <iostream>
#include <nlohmann/json.hpp>
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

// The batch of a request and the name its files take: the .npz as given, or the FASTA's
// sequence through the feature pipeline (its template report in `pipeline`).
data::FeatureDict request_batch(const Config& config, PredictionRequest& r, features::PipelineReport* pipeline,
                                std::string* name) {
  if (!r.features.empty()) {
    *name = std::filesystem::path(r.features).stem().string();
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
  const auto records = data::read_fasta(r.fasta);
  if (records.size() != 1)
    throw std::invalid_argument(r.fasta + ": expected one sequence (monomer), found " + std::to_string(records.size()));
  *name = std::filesystem::path(r.fasta).stem().string();
  const bool quiet = !r.predict.progress;
  features::InferenceInputs inputs{records[0].sequence, r.msas, {}, r.template_hits, r.mmcif_dir, r.max_template_date};
  if (!r.alignment_dir.empty()) {
    const data::PrecomputedAlignments found = data::read_precomputed_alignments(r.alignment_dir);
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

}  // namespace

PredictionFiles run_prediction(const Config& config, PredictionRequest r) {
  std::filesystem::create_directories(r.out_dir);
  const auto features_start = steady::now();
  features::PipelineReport pipeline;
  std::string name;
  const data::FeatureDict batch = request_batch(config, r, &pipeline, &name);
  const double feature_seconds = seconds_since(features_start);
  if (!r.save_features.empty()) data::write_npz(r.save_features, batch);
  if (r.predict.progress) std::cerr << "features: " << feature_seconds << " s\n";

  const auto load_start = steady::now();
  Predictor predictor(config, r.params, r.predict);
  const double load_seconds = seconds_since(load_start);
  PredictionReport report;
  const data::FeatureDict out = predictor.predict(batch, &report);
  const data::FeatureDict losses = r.loss ? loss_outputs(config, batch, out) : data::FeatureDict();

  const auto path = [&](const std::string& ext) { return (std::filesystem::path(r.out_dir) / (name + ext)).string(); };
  const data::Protein protein = prediction_to_protein(name, batch, out);
  json j = prediction_summary(r, out, losses, pipeline, report, predictor);
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
  data::write_text_file((std::filesystem::path(r.out_dir) / "timings.json").string(), timings.dump(4) + "\n");
  data::write_text_file(path(".json"), j.dump(2) + "\n");
  return {path(".pdb"), path(".cif"), path(".json"), j["mean_plddt"].get<double>()};
}

}  // namespace fold
