// `fold predict`: FASTA + MSAs (+ templates) or a precomputed feature batch -> a
// structure (PDB, mmCIF with pLDDT in the B-factors), a JSON report and optionally
// every output array.
#include <CLI/CLI.hpp>

#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>

#include "data/fasta.h"
#include "data/npz.h"
#include "data/precomputed_alignments.h"
#include "data/protein.h"
#include "data/text_file.h"
#include "fold/cli/commands.h"
#include "fold/cli/device_option.h"
#include "fold/config.h"
#include "fold/features/feature_pipeline.h"
#include "fold/loss/alphafold_loss.h"
#include "fold/predict.h"

namespace fold::cli {

namespace {

using json = nlohmann::json;

std::vector<double> to_vector(const at::Tensor& t) {
  const at::Tensor c = t.to(at::kDouble).contiguous();
  return std::vector<double>(c.data_ptr<double>(), c.data_ptr<double>() + c.numel());
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

}  // namespace

void add_predict_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("predict", "Predict a structure (AlphaFold2 monomer inference)");
  struct Args {
    std::string fasta, hhr, alignment_dir, mmcif_dir, max_template_date, features, params, config = "af2_model_1", out_dir, save_outputs, save_features;
    std::vector<std::string> msas, overrides;
    PredictOptions predict;
    int64_t seed = 0;
    bool quiet = false;
    bool loss = false;
  };
  auto a = std::make_shared<Args>();
  cmd->add_option("--fasta", a->fasta, "Query sequence (one record)")->check(CLI::ExistingFile);
  auto* msa_option = cmd->add_option("--msa", a->msas, "MSA file, a3m or Stockholm (repeatable; merged and deduplicated)")
                         ->check(CLI::ExistingFile);
  auto* templates = cmd->add_option("--templates", a->hhr, "Template hits (.hhr)")->check(CLI::ExistingFile);
  cmd->add_option("--alignment-dir", a->alignment_dir,
                  "OpenFold's precomputed alignments of the query (what `fold msa` writes): uniref90_hits.sto, "
                  "bfd_uniclust_hits.a3m / bfd_uniref_hits.a3m, mgnify_hits.sto with AF2's depth limits, other "
                  ".a3m / .sto, and pdb70_hits.hhr / hhsearch_output.hhr as the template hits")
      ->check(CLI::ExistingDirectory)
      ->excludes(msa_option)
      ->excludes(templates);
  cmd->add_option("--template-mmcif-dir", a->mmcif_dir, "Folder of <pdb_id>.cif (or .cif.gz) for the template hits")
      ->check(CLI::ExistingDirectory);
  cmd->add_option("--max-template-date", a->max_template_date,
                  "Ignore templates released after this date (YYYY-MM-DD; default: no cutoff)");
  cmd->add_option("--features", a->features,
                  "Model-ready batch (.npz, OpenFold's processed feature names, trailing recycling axis); "
                  "bypasses the data pipeline")
      ->check(CLI::ExistingFile);
  cmd->add_option("--params", a->params,
                  "AF2 .npz, native .safetensors, OpenFold .pt, or a `fold train` run / checkpoint directory "
                  "(its EMA weights)")
      ->required()
      ->check(CLI::ExistingPath);
  cmd->add_option("--config", a->config, "Preset or TOML file (default af2_model_1)");
  cmd->add_option("--set", a->overrides, "Override one key: a.b.c=value (repeatable)");
  cmd->add_option("--out", a->out_dir, "Output folder")->required();
  cmd->add_option("--recycles", a->predict.recycles, "Recycling iterations after the first (default: config / features)");
  cmd->add_option("--chunk-size", a->predict.chunk_size,
                  "none | auto | N: rows every module computes at once (default: the config's globals.chunk_size)");
  cmd->add_flag("--low-memory", a->predict.low_memory,
                "Stream attention over keys (never the full logits), run the triangle multiplication in tiles that hold "
                "no pair-sized projection (more work), and park recycled tensors on the host");
  cmd->add_option("--precision", a->predict.precision, "fp32 | bf16")->check(CLI::IsMember({"fp32", "bf16"}));
  add_device_option(cmd, a->predict.device, "cpu | cuda | cuda:N");
  cmd->add_option("--seed", a->seed, "Seed of the feature sampling (MSA clusters, masks)");
  cmd->add_option("--save-outputs", a->save_outputs, "Write every output array to this .npz");
  cmd->add_option("--save-features", a->save_features,
                  "Write the model-ready batch to this .npz (reusable with --features)");
  cmd->add_flag("--loss", a->loss,
                "With --features holding ground truth (OpenFold's supervised batch): the training loss of the "
                "outputs, printed, in the JSON and in --save-outputs as loss/<term>, loss/loss, violation/<name>");
  cmd->add_flag("--quiet", a->quiet, "No progress lines");
  cmd->callback([a] {
    using clock = std::chrono::steady_clock;
    if (a->features.empty() && (a->fasta.empty() || (a->msas.empty() && a->alignment_dir.empty())))
      throw CLI::ValidationError("predict", "give --fasta with --alignment-dir or at least one --msa, or --features");
    if (!a->hhr.empty() && a->mmcif_dir.empty())
      throw CLI::ValidationError("--templates", "needs --template-mmcif-dir");
    if (a->loss && a->features.empty())
      throw CLI::ValidationError("--loss", "needs --features: a batch with ground-truth features");
    Config config = Config::load(a->config, a->overrides);
    a->predict.progress = !a->quiet;
    std::filesystem::create_directories(a->out_dir);
    const auto t0 = clock::now();
    data::FeatureDict batch;
    features::PipelineReport pipeline;
    std::string name;
    if (!a->features.empty()) {
      batch = data::read_npz(a->features);
      name = std::filesystem::path(a->features).stem().string();
      if (a->loss) {
        try {
          loss::check_loss_features(batch);
        } catch (const std::invalid_argument& e) {
          throw std::invalid_argument(a->features + ": --loss: " + e.what());
        }
      }
    } else {
      const auto records = data::read_fasta(a->fasta);
      if (records.size() != 1)
        throw std::invalid_argument(a->fasta + ": expected one sequence (monomer), found " +
                                    std::to_string(records.size()));
      name = std::filesystem::path(a->fasta).stem().string();
      features::InferenceInputs inputs{records[0].sequence, a->msas, {}, a->hhr, a->mmcif_dir, a->max_template_date};
      if (!a->alignment_dir.empty()) {
        const data::PrecomputedAlignments found = data::read_precomputed_alignments(a->alignment_dir);
        inputs.msa_paths = found.msa_paths;
        inputs.msa_max_rows = found.max_rows;
        // The folder's hits become templates where their structures are given.
        if (!a->mmcif_dir.empty()) inputs.template_hits = a->hhr = found.template_hits;
        else if (!found.template_hits.empty() && !a->quiet)
          std::cerr << "templates: " << found.template_hits << " not used without --template-mmcif-dir\n";
      }
      features::PipelineOptions options = pipeline_options(config);
      options.seed = a->seed;
      if (a->predict.recycles >= 0) options.num_recycles = a->predict.recycles;
      if (!a->hhr.empty() && !options.use_templates)
        std::cerr << "warning: --templates ignored: the config sets data.common.use_templates = false\n";
      batch = features::build_inference_features(inputs, options, &pipeline);
      for (const auto& s : pipeline.skipped_templates) std::cerr << "template skipped: " << s << "\n";
      if (!a->hhr.empty() && options.use_templates && !a->quiet)
        std::cerr << "templates: " << pipeline.templates.size() << " used\n";
    }
    const double feature_seconds = std::chrono::duration<double>(clock::now() - t0).count();
    if (!a->save_features.empty()) data::write_npz(a->save_features, batch);
    if (!a->quiet) std::cerr << "features: " << feature_seconds << " s\n";

    const auto t1 = clock::now();
    Predictor predictor(config, a->params, a->predict);
    const double load_seconds = std::chrono::duration<double>(clock::now() - t1).count();
    PredictionReport report;
    const data::FeatureDict out = predictor.predict(batch, &report);
    const data::FeatureDict losses = a->loss ? loss_outputs(config, batch, out) : data::FeatureDict();

    const auto path = [&](const std::string& ext) { return (std::filesystem::path(a->out_dir) / (name + ext)).string(); };
    const data::Protein protein = prediction_to_protein(name, batch, out);
    data::ModelQuality quality;
    const std::vector<double> plddt = to_vector(out.at("plddt"));
    quality.plddt.assign(plddt.begin(), plddt.end());
    if (out.count("ptm_score")) quality.ptm = out.at("ptm_score").item<double>();
    data::write_protein(protein, path(".pdb"));
    data::write_protein(protein, path(".cif"), &quality);
    if (!a->save_outputs.empty()) {
      data::FeatureDict saved = out;
      saved.insert(losses.begin(), losses.end());
      data::write_npz(a->save_outputs, saved);
    }

    json j;
    j["name"] = name;
    j["sequence"] = protein.sequence();
    j["plddt"] = plddt;
    j["mean_plddt"] = out.at("plddt").mean().item<double>();
    if (out.count("predicted_aligned_error")) {
      write_afdb_pae(path("_pae.json"), out.at("predicted_aligned_error"),
                     out.at("max_predicted_aligned_error").item<double>());
      j["pae_file"] = path("_pae.json");
      j["max_predicted_aligned_error"] = out.at("max_predicted_aligned_error").item<double>();
      j["ptm"] = out.at("ptm_score").item<double>();
    }
    for (const auto& [key, value] : losses)
      if (key.rfind("loss/", 0) == 0) j["loss"][key.substr(5)] = value.item<double>();
    j["templates"] = pipeline.templates;
    j["skipped_templates"] = pipeline.skipped_templates;
    j["recycles"] = report.iterations - 1;
    json timings = {{"features", feature_seconds}, {"load_params", load_seconds}};
    for (const auto& [stage, s] : report.stage_seconds) timings[stage] = s;
    j["timings_seconds"] = timings;
    // AF2's timings.json, one prediction per output directory as AF2 lays them out.
    data::write_text_file((std::filesystem::path(a->out_dir) / "timings.json").string(), timings.dump(4) + "\n");
    j["peak_memory_bytes"] = report.peak_bytes;
    j["peak_memory_bytes_per_stage"] = report.stage_peak_bytes;
    j["device"] = report.device;
    j["chunk_size"] = report.chunk_size;
    j["memory_policy"] = predictor.memory_policy().to_string();
    j["low_memory"] = predictor.memory_policy().attention.low_memory;
    j["precision"] = a->predict.precision;
    j["params"] = a->params;
    data::write_text_file(path(".json"), j.dump(2) + "\n");
    std::cout << "wrote " << path(".pdb") << ", " << path(".cif") << ", " << path(".json")
              << (a->save_outputs.empty() ? "" : ", " + a->save_outputs) << " (mean pLDDT "
              << j["mean_plddt"].get<double>() << ")\n";
  });
}

}  // namespace fold::cli
