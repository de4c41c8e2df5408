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
#include "fold/features/multimer_feature_pipeline.h"
#include "fold/loss/alphafold_loss.h"
#include "fold/model/input_batch.h"

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

// One structure to predict: its name, and where its alignments and files are. A
// complex (multimer models) has its chains, each with its alignment folder.
struct Query {
  std::string name, sequence, alignment_dir, out_dir;
  std::vector<data::SequenceRecord> chains = {};
  std::vector<std::string> chain_alignment_dirs = {};
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

// For multimer models, as in OpenFold's multimer mode: each FASTA file is one complex
// whose records are its chains, with their alignments in alignment_dir/<record id>/ (a
// chain repeating an earlier sequence needs none); several files write to
// out_dir/<file name>/.
std::vector<Query> complex_queries(const PredictionRequest& r) {
  namespace fs = std::filesystem;
  const std::vector<fs::path> files = fasta_files(r.fasta);
  if (r.alignment_dir.empty())
    throw std::invalid_argument("a complex (multimer model) needs --alignment-dir with one folder per chain, "
                                "DIR/<record id>/ (uniprot_hits.sto in each for pairing)");
  std::vector<Query> queries;
  for (const fs::path& file : files) {
    Query q{file.stem().string(), "", "", files.size() == 1 ? r.out_dir : (fs::path(r.out_dir) / file.stem()).string()};
    q.chains = data::read_fasta(file.string());
    std::set<std::string> sequences;
    for (const auto& chain : q.chains) {
      const std::string dir = (fs::path(r.alignment_dir) / file_name_of(chain.id)).string();
      const bool first = sequences.insert(chain.sequence).second;
      if (first && !fs::is_directory(dir))
        throw std::invalid_argument(file.string() + ": chain " + chain.id + ": no alignment folder " + dir);
      q.chain_alignment_dirs.push_back(first ? dir : "");
      q.sequence += chain.sequence;
    }
    queries.push_back(std::move(q));
  }
  if (queries.size() > 1 && (!r.save_outputs.empty() || !r.save_features.empty()))
    throw std::invalid_argument(r.fasta + ": " + std::to_string(queries.size()) +
                                " complexes: --save-outputs and --save-features name one file; predict one at a time "
                                "to save its arrays");
  return queries;
}

// The queries of a request: the .npz batch as given, or the FASTA's (complexes for
// multimer models).
std::vector<Query> queries_of(const PredictionRequest& r, bool multimer) {
  if (!r.features.empty()) return {{std::filesystem::path(r.features).stem().string(), "", "", r.out_dir}};
  if (multimer) {
    if (!r.msas.empty() || !r.template_hits.empty())
      throw std::invalid_argument("--msa and --templates give one chain's inputs; a multimer model reads a complex's "
                                  "alignments from --alignment-dir, one folder per chain");
    return complex_queries(r);
  }
  return fasta_queries(r);
}

// A complex's batch: each chain's alignment folder through the multimer pipeline.
data::FeatureDict complex_batch(const PredictionRequest& r, const Query& query, const features::PipelineOptions& o,
                                features::PipelineReport* pipeline) {
  features::ComplexInputs inputs;
  inputs.template_mmcif_dir = r.mmcif_dir;
  inputs.max_template_date = r.max_template_date;
  for (size_t c = 0; c < query.chains.size(); ++c) {
    features::ComplexChainInputs chain{query.chains[c].id, query.chains[c].sequence};
    if (!query.chain_alignment_dirs[c].empty()) {
      const data::PrecomputedAlignments found = data::read_precomputed_alignments(query.chain_alignment_dirs[c]);
      chain.msa_paths = found.msa_paths;
      chain.msa_max_rows = found.max_rows;
      chain.pairing_msa = found.pairing_msa;
      if (!r.mmcif_dir.empty()) chain.template_hits = found.template_hits;
      else if (!found.template_hits.empty() && r.predict.progress)
        std::cerr << "templates: " << found.template_hits << " not used without --template-mmcif-dir\n";
    }
    inputs.chains.push_back(std::move(chain));
  }
  return features::build_complex_features(inputs, o, pipeline);
}

// The batch of a query: the .npz as given, or its sequence through the feature pipeline
// (its template report in `pipeline`).
data::FeatureDict query_batch(const Config& config, PredictionRequest& r, const Query& query,
                              features::PipelineReport* pipeline) {
  if (!r.features.empty()) {
    data::FeatureDict batch = data::read_npz(r.features);
    if (r.loss) {
      try {
        loss::check_loss_features(batch, config.get_bool("globals.is_multimer"));
      } catch (const std::invalid_argument& e) {
        throw std::invalid_argument(r.features + ": --loss: " + e.what());
      }
    }
    // A batch from outside is checked here, before the weights load, naming its file;
    // the pipeline's own batches hold the contract by construction.
    try {
      const AlphaFoldOptions model = AlphaFoldOptions::from_config(config);
      check_input_batch(batch, model.input_embedder.tf_dim(), model.is_multimer);
    } catch (const std::invalid_argument& e) {
      throw std::invalid_argument(r.features + ": " + e.what());
    }
    return batch;
  }
  const bool quiet = !r.predict.progress;
  features::PipelineOptions options = pipeline_options(config);
  options.seed = r.seed;
  if (r.predict.recycles >= 0) options.num_recycles = r.predict.recycles;
  if (!query.chains.empty()) {
    data::FeatureDict batch = complex_batch(r, query, options, pipeline);
    for (const auto& s : pipeline->skipped_templates) std::cerr << "template skipped: " << s << "\n";
    if (!quiet)
      std::cerr << "complex: " << query.chains.size() << " chains, " << batch.at("msa_feat").size(0)
                << " MSA cluster rows, " << batch.at("extra_msa").size(0) << " extra rows, "
                << pipeline->templates.size() << " templates\n";
    return batch;
  }
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
  // AF-Multimer's interface score and ranking confidence (AF2's ranking_confidence).
  if (out.count("iptm_score")) {
    j["iptm"] = out.at("iptm_score").item<double>();
    j["ranking_confidence"] = out.at("weighted_ptm_score").item<double>();
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
  return j;
}

// Predicts one query with one model and writes its files; its stage times go into
// `timings` (AF2's timings.json), suffixed with the model's name when it has one. `r` is
// the request as this query sees it (the alignment folder's template hits are set in
// it). The model is loaded once, after the first batch is built, so that a bad input
// fails before the weights are read; every query's timings give that load's time.
PredictionFiles predict_query(const ModelSpec& model, PredictionRequest r, const Query& query,
                              std::optional<Predictor>& predictor, double& load_seconds, json& timings) {
  std::filesystem::create_directories(query.out_dir);
  const Config& config = model.config;
  const std::string name = query.name + (model.name.empty() ? "" : "_" + model.name);
  const auto features_start = steady::now();
  features::PipelineReport pipeline;
  const data::FeatureDict batch = query_batch(config, r, query, &pipeline);
  const double feature_seconds = seconds_since(features_start);
  if (!r.save_features.empty()) data::write_npz(r.save_features, batch);
  if (r.predict.progress) std::cerr << "features: " << feature_seconds << " s\n";
  if (!predictor) {
    const auto load_start = steady::now();
    predictor.emplace(config, model.params, r.predict);
    load_seconds = seconds_since(load_start);
  }

  PredictionReport report;
  const data::FeatureDict out = predictor->predict(batch, &report);
  const data::FeatureDict losses = r.loss ? loss_outputs(config, batch, out) : data::FeatureDict();

  const auto path = [&](const std::string& ext) { return (std::filesystem::path(query.out_dir) / (name + ext)).string(); };
  const data::Protein protein = prediction_to_protein(name, batch, out);
  json j = prediction_summary(r, out, losses, pipeline, report, *predictor);
  j["params"] = model.params;
  if (!model.name.empty()) j["model"] = model.name;
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
  PredictionFiles files;
  files.model = model.name;
  files.pdb = path(".pdb"), files.cif = path(".cif"), files.json = path(".json");
  files.mean_plddt = j["mean_plddt"].get<double>();
  files.ptm = quality.ptm;
  if (out.count("weighted_ptm_score")) files.ranking_confidence = out.at("weighted_ptm_score").item<double>();
  json stages = {{"features", feature_seconds}, {"load_params", load_seconds}};
  for (const auto& [stage, s] : report.stage_seconds) stages[stage] = s;
  if (r.relax) {
    // A structure that cannot be relaxed loses nothing: the prediction's files are
    // written, the reason goes into its JSON, and the run fails at its end.
    const auto relax_start = steady::now();
    try {
      const RelaxResult relaxed = relax(protein, r.relax_options);
      data::write_text_file(path("_relaxed.pdb"), relaxed.pdb);
      j["relax"] = json::parse(relax_summary_json(relaxed, r.relax_options));
      files.relaxed_pdb = j["relaxed_pdb"] = path("_relaxed.pdb");
      if (r.predict.progress)
        std::cerr << "relax: " << relaxed.before.residues << " -> " << relaxed.after.residues
                  << " residues with violations in " << relaxed.iterations << " minimisations\n";
    } catch (const std::exception& e) {
      files.relax_error = j["relax_error"] = e.what();
      std::cerr << "relax failed for " << name << ": " << e.what() << "\n";
    }
    stages["relax"] = seconds_since(relax_start);
  }
  j["timings_seconds"] = stages;
  for (const auto& [stage, s] : stages.items()) timings[model.name.empty() ? stage : stage + "_" + model.name] = s;
  j["name"] = name;
  j["sequence"] = protein.sequence();
  // A complex: each chain as the structure files name it, with its sequence and mean pLDDT.
  if (protein.chain_ids.size() > 1) {
    const at::Tensor plddt = out.at("plddt").to(at::kDouble).cpu();
    const at::Tensor chain_of = at::tensor(protein.chain_index, at::kLong);
    for (int32_t c = 0; c < static_cast<int32_t>(protein.chain_ids.size()); ++c) {
      j["chains"].push_back({{"id", protein.chain_ids[c]},
                             {"sequence", protein.chain_sequence(c)},
                             {"mean_plddt", plddt.masked_select(chain_of == c).mean().item<double>()}});
      // The FASTA record of each chain (AF2 orders chains by entity, not as in the file).
      if (pipeline.chains.size() == protein.chain_ids.size()) j["chains"].back()["fasta_id"] = pipeline.chains[c];
    }
  }
  data::write_text_file(path(".json"), j.dump(2) + "\n");
  return files;
}

// AF2's ranking of a query's models: ranked_<i>.pdb, best first (the relaxed structure
// where there is one), and ranking_debug.json with the confidences and the order.
// rank_by: "plddt", "ptm" or "iptm+ptm" (run_prediction resolves "auto").
void write_ranking(const Query& query, const std::vector<PredictionFiles>& models, const std::string& rank_by) {
  std::vector<std::pair<double, size_t>> scored;
  json confidences = json::object();
  for (size_t m = 0; m < models.size(); ++m) {
    const double score = rank_by == "ptm"        ? models[m].ptm.value()
                         : rank_by == "iptm+ptm" ? models[m].ranking_confidence.value()
                                                 : models[m].mean_plddt;
    confidences[models[m].model] = score;
    scored.emplace_back(score, m);
  }
  // Best first; ties keep the models' order, as Python's sorted does in AF2.
  std::stable_sort(scored.begin(), scored.end(), [](const auto& a, const auto& b) { return a.first > b.first; });
  json order = json::array();
  const std::filesystem::path dir(query.out_dir);
  for (size_t i = 0; i < scored.size(); ++i) {
    const PredictionFiles& f = models[scored[i].second];
    order.push_back(f.model);
    std::filesystem::copy_file(f.relaxed_pdb.empty() ? f.pdb : f.relaxed_pdb,
                               dir / ("ranked_" + std::to_string(i) + ".pdb"),
                               std::filesystem::copy_options::overwrite_existing);
  }
  const json ranking = {{rank_by == "plddt" ? "plddts" : rank_by, confidences}, {"order", order}};
  data::write_text_file((dir / "ranking_debug.json").string(), ranking.dump(4) + "\n");
}

}  // namespace

std::vector<ModelSpec> model_set(const std::string& config, const std::vector<std::string>& overrides,
                                 const std::vector<int>& models, const std::string& params_dir) {
  namespace fs = std::filesystem;
  if (models.empty()) throw std::invalid_argument("--models: no model given");
  // "af2_model_3_ptm" -> every model takes its own af2_model_N_ptm preset, and
  // "af2_model_1_multimer_v3" its af2_model_N_multimer_v3 (AF2's file names alike).
  const bool af2_preset = config.rfind("af2_model_", 0) == 0 && !fs::exists(config);
  const auto ends_with = [&config](const std::string& tail) {
    return config.size() > tail.size() && config.compare(config.size() - tail.size(), tail.size(), tail) == 0;
  };
  const std::string suffix = ends_with("_ptm") ? "_ptm" : ends_with("_multimer_v3") ? "_multimer_v3" : "";
  std::vector<ModelSpec> specs;
  std::set<int> seen;
  for (int n : models) {
    if (n < 1 || n > 5) throw std::invalid_argument("--models: AF2 has models 1 to 5, not " + std::to_string(n));
    if (!seen.insert(n).second) throw std::invalid_argument("--models: model " + std::to_string(n) + " given twice");
    const std::string stem = "params_model_" + std::to_string(n) + suffix;
    std::string params;
    for (const char* ext : {".npz", ".safetensors"})
      if (fs::is_regular_file(fs::path(params_dir) / (stem + ext))) {
        params = (fs::path(params_dir) / (stem + ext)).string();
        break;
      }
    if (params.empty())
      throw std::invalid_argument("--params-dir " + params_dir + ": no " + stem + ".npz (or .safetensors) for model " +
                                  std::to_string(n));
    const std::string preset = af2_preset ? "af2_model_" + std::to_string(n) + suffix : config;
    specs.push_back({"model_" + std::to_string(n), Config::load(preset, overrides), params});
  }
  return specs;
}

std::vector<PredictionFiles> run_prediction(const Config& config, const PredictionRequest& request) {
  return run_prediction(std::vector<ModelSpec>{{"", config, request.params}}, request);
}

std::vector<PredictionFiles> run_prediction(const std::vector<ModelSpec>& models, const PredictionRequest& request) {
  const auto multimer = [](const ModelSpec& m) { return m.config.get_bool("globals.is_multimer"); };
  if (!std::all_of(models.begin(), models.end(), multimer) && std::any_of(models.begin(), models.end(), multimer))
    throw std::invalid_argument("--models: monomer and multimer models read different inputs; run them apart");
  const std::vector<Query> queries = queries_of(request, !models.empty() && multimer(models.front()));
  if (models.size() > 1 && (!request.save_outputs.empty() || !request.save_features.empty()))
    throw std::invalid_argument("--save-outputs and --save-features name one file; with several models, predict "
                                "with one model at a time to save its arrays");
  std::string rank_by = request.rank_by;
  if (rank_by == "auto")
    rank_by = std::all_of(models.begin(), models.end(), multimer) ? "iptm+ptm" : "plddt";
  if (rank_by != "plddt" && rank_by != "ptm" && rank_by != "iptm+ptm")
    throw std::invalid_argument("--rank-by: auto, plddt, ptm or iptm+ptm, not '" + rank_by + "'");
  if (models.size() > 1 && rank_by == "ptm")
    for (const ModelSpec& m : models)
      if (!m.config.get_bool("model.heads.tm.enabled"))
        throw std::invalid_argument("--rank-by ptm: " + m.name + " has no PAE head (use _ptm models, or rank by plddt)");
  if (models.size() > 1 && rank_by == "iptm+ptm")
    for (const ModelSpec& m : models)
      if (!multimer(m) || !m.config.get_bool("model.heads.tm.enabled"))
        throw std::invalid_argument("--rank-by iptm+ptm: " + m.name +
                                    " is not a multimer model with a PAE head (ipTM needs chains)");
  std::vector<std::vector<PredictionFiles>> per_query(queries.size());
  std::vector<json> timings(queries.size(), json::object());
  for (const ModelSpec& model : models) {
    std::optional<Predictor> predictor;  // released before the next model loads
    double load_seconds = 0;
    for (size_t q = 0; q < queries.size(); ++q)
      per_query[q].push_back(predict_query(model, request, queries[q], predictor, load_seconds, timings[q]));
  }
  std::vector<PredictionFiles> files;
  std::string relax_errors;
  for (size_t q = 0; q < queries.size(); ++q) {
    for (const PredictionFiles& f : per_query[q])
      if (!f.relax_error.empty()) relax_errors += "\n  " + f.pdb + ": " + f.relax_error;
    // AF2's timings.json, one per output folder as AF2 lays them out.
    data::write_text_file((std::filesystem::path(queries[q].out_dir) / "timings.json").string(),
                          timings[q].dump(4) + "\n");
    if (models.size() > 1) write_ranking(queries[q], per_query[q], rank_by);
    files.insert(files.end(), per_query[q].begin(), per_query[q].end());
  }
  if (!relax_errors.empty())
    throw std::runtime_error("--relax failed (the unrelaxed predictions are written):" + relax_errors);
  return files;
}

}  // namespace fold
