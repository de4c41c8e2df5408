// `fold predict`: FASTA + MSAs (+ templates) or a precomputed feature batch -> a
// structure (PDB, mmCIF with pLDDT in the B-factors), a JSON report and optionally
// every output array. The run itself is fold/predict/prediction_run.
#include <CLI/CLI.hpp>

#include <iostream>

#include "fold/cli/commands.h"
#include "fold/cli/device_option.h"
#include "fold/config.h"
#include "fold/predict/prediction_run.h"

namespace fold::cli {

void add_predict_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("predict", "Predict a structure (AlphaFold2 and AlphaFold-Multimer inference)");
  struct Args {
    PredictionRequest request;
    std::string config = "af2_model_1";
    std::vector<std::string> overrides;
    std::vector<int> models;
    std::string params_dir;
    bool quiet = false;
  };
  auto a = std::make_shared<Args>();
  PredictionRequest& r = a->request;
  cmd->add_option("--fasta", r.fasta,
                  "Query sequences: a FASTA file (several records are predicted in turn, the model loaded once) "
                  "or a folder of .fasta/.fa/.fas files; for a multimer model, each file is one complex whose records are its "
                  "chains")
      ->check(CLI::ExistingPath);
  auto* msa_option = cmd->add_option("--msa", r.msas, "MSA file, a3m or Stockholm (repeatable; merged and deduplicated)")
                         ->check(CLI::ExistingFile);
  auto* templates = cmd->add_option("--templates", r.template_hits, "Template hits (.hhr)")->check(CLI::ExistingFile);
  cmd->add_option("--alignment-dir", r.alignment_dir,
                  "OpenFold's precomputed alignments of the query (what `fold msa` writes): uniref90_hits.sto, "
                  "bfd_uniclust_hits.a3m / bfd_uniref_hits.a3m, mgnify_hits.sto with AF2's depth limits, other "
                  ".a3m / .sto, and pdb70_hits.hhr / hhsearch_output.hhr as the template hits; with several "
                  "queries, one such folder per query, DIR/<name>/ (outputs then go to OUT/<name>/); a complex: one "
                  "folder per chain, DIR/<record id>/, with uniprot_hits.sto for pairing by species")
      ->check(CLI::ExistingDirectory)
      ->excludes(msa_option)
      ->excludes(templates);
  cmd->add_option("--template-mmcif-dir", r.mmcif_dir, "Folder of <pdb_id>.cif (or .cif.gz) for the template hits")
      ->check(CLI::ExistingDirectory);
  cmd->add_option("--max-template-date", r.max_template_date,
                  "Ignore templates released after this date (YYYY-MM-DD; default: no cutoff)");
  cmd->add_option("--features", r.features,
                  "Model-ready batch (.npz, OpenFold's processed feature names, trailing recycling axis); "
                  "bypasses the data pipeline")
      ->check(CLI::ExistingFile);
  auto* params = cmd->add_option("--params", r.params,
                                 "AF2 .npz, native .safetensors, OpenFold .pt, or a `fold train` run / checkpoint "
                                 "directory (its EMA weights)")
                     ->check(CLI::ExistingPath);
  auto* models = cmd->add_option("--models", a->models,
                                 "AF2 models to run, e.g. 1,2,3,4,5 (with --params-dir): each with its preset "
                                 "af2_model_N (af2_model_N_ptm after --config af2_model_1_ptm; any other --config "
                                 "for all), ranked into ranked_0.pdb ... and ranking_debug.json")
                     ->delimiter(',');
  auto* params_dir = cmd->add_option("--params-dir", a->params_dir,
                                     "Folder of AF2's params_model_N[_ptm|_multimer_v3].npz (or .safetensors) for --models")
                         ->check(CLI::ExistingDirectory);
  models->needs(params_dir);
  params_dir->needs(models);
  params->excludes(params_dir);
  cmd->add_option("--rank-by", r.rank_by,
                  "With --models: auto (AF2's: mean pLDDT, or ipTM+pTM for multimer models), plddt, ptm (_ptm "
                  "models) or iptm+ptm (multimer models)")
      ->capture_default_str()
      ->check(CLI::IsMember({"auto", "plddt", "ptm", "iptm+ptm"}));
  cmd->add_option("--config", a->config, "Preset or TOML file")->capture_default_str();
  cmd->add_option("--set", a->overrides, "Override one key: a.b.c=value (repeatable)");
  cmd->add_option("--out", r.out_dir, "Output folder")->required();
  cmd->add_option("--recycles", r.predict.recycles, "Recycling iterations after the first (default: config / features)");
  cmd->add_option("--chunk-size", r.predict.chunk_size,
                  "none | auto | N: rows every module computes at once (default: the config's globals.chunk_size)");
  cmd->add_flag("--low-memory", r.predict.low_memory,
                "Stream attention over keys (never the full logits), run the triangle multiplication in tiles that hold "
                "no pair-sized projection (more work), and park recycled tensors on the host");
  cmd->add_option("--precision", r.predict.precision, "fp32 | bf16")->check(CLI::IsMember({"fp32", "bf16"}));
  add_device_option(cmd, r.predict.device, "cpu | cuda | cuda:N");
  cmd->add_option("--seed", r.seed, "Seed of the feature sampling (MSA clusters, masks)");
  cmd->add_option("--save-outputs", r.save_outputs, "Write every output array to this .npz");
  cmd->add_option("--save-features", r.save_features,
                  "Write the model-ready batch to this .npz (reusable with --features)");
  cmd->add_flag("--loss", r.loss,
                "With --features holding ground truth (OpenFold's supervised batch): the training loss of the "
                "outputs, printed, in the JSON and in --save-outputs as loss/<term>, loss/loss, violation/<name>");
  cmd->add_flag("--relax", r.relax,
                "Relax each prediction as AF2 does (Amber, OpenMM; see `fold relax`): <name>_relaxed.pdb, the "
                "violations before and after in <name>.json");
  cmd->add_flag("--quiet", a->quiet, "No progress lines");
  cmd->callback([a] {
    const PredictionRequest& r = a->request;
    if (r.features.empty() && (r.fasta.empty() || (r.msas.empty() && r.alignment_dir.empty())))
      throw CLI::ValidationError("predict", "give --fasta with --alignment-dir or at least one --msa, or --features");
    if (!r.template_hits.empty() && r.mmcif_dir.empty())
      throw CLI::ValidationError("--templates", "needs --template-mmcif-dir");
    if (r.loss && r.features.empty())
      throw CLI::ValidationError("--loss", "needs --features: a batch with ground-truth features");
    if (r.params.empty() && a->models.empty())
      throw CLI::ValidationError("predict", "give --params, or --models with --params-dir");
    a->request.predict.progress = !a->quiet;
    const std::vector<ModelSpec> specs =
        a->models.empty() ? std::vector<ModelSpec>{{"", Config::load(a->config, a->overrides), r.params}}
                          : model_set(a->config, a->overrides, a->models, a->params_dir);
    for (const PredictionFiles& files : run_prediction(specs, r))
      std::cout << "wrote " << files.pdb << ", " << files.cif << ", " << files.json
                << (files.relaxed_pdb.empty() ? "" : ", " + files.relaxed_pdb)
                << (r.save_outputs.empty() ? "" : ", " + r.save_outputs) << " (mean pLDDT " << files.mean_plddt
                << ")\n";
  });
}

}  // namespace fold::cli
