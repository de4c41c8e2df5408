// `fold train`: train an AlphaFold2 model on a `fold prepare` dataset (fold/train/
// trainer.h has the loop). A run directory holds log.jsonl (one JSON record per logged
// step), checkpoints/step-*/ (the native checkpoint), run.json (the data it trains on,
// so `--resume DIR` needs nothing else) and predictions/ (the validation chains as
// predicted at the end). Prints a JSON summary on stdout.
#include <CLI/CLI.hpp>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>

#include "dap/dist_environment.h"
#include "data/protein.h"
#include "data/training_checkpoint.h"
#include "fold/cli/commands.h"
#include "fold/cli/device_option.h"
#include "fold/cli/id_list.h"
#include "fold/cli/stop_signals.h"
#include "fold/config.h"
#include "fold/predict/predict.h"
#include "fold/train/trainer.h"

namespace fold::cli {

namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

struct Args {
  std::string config, data, chains, valid_data, valid_chains, out, resume, init_params, precision, checkpoint;
  std::vector<std::string> overrides;
  int64_t steps = 0, stop_after = -1;
  std::string device = "cpu";
  int workers = 2;
  bool quiet = false;
};

// A resumed run continues with the configuration it was started with (from its
// checkpoint), plus this command's overrides; its data comes from run.json.
Config resolve(Args& a) {
  std::vector<std::string> overrides = a.overrides;
  if (a.steps > 0) overrides.push_back("train.max_steps=" + std::to_string(a.steps));
  if (!a.precision.empty()) overrides.push_back("globals.precision=" + a.precision);
  if (!a.checkpoint.empty()) overrides.push_back("train.checkpoint=" + a.checkpoint);
  if (a.resume.empty()) return Config::load(a.config, overrides);

  const std::string dir = data::latest_checkpoint(a.resume);
  if (dir.empty()) throw std::invalid_argument("--resume " + a.resume + ": no complete checkpoint there");
  if (a.out.empty()) a.out = fs::is_regular_file(fs::path(a.resume) / "run.json") ? a.resume : fs::path(dir).parent_path().parent_path().string();
  std::ifstream run_file(fs::path(a.out) / "run.json");
  if (run_file) {
    const json run = json::parse(run_file);
    if (a.data.empty()) a.data = run.value("data", "");
    if (a.chains.empty()) a.chains = run.value("chains", "");
    if (a.valid_data.empty()) a.valid_data = run.value("valid_data", "");
    if (a.valid_chains.empty()) a.valid_chains = run.value("valid_chains", "");
  }
  Config config;
  if (a.config.empty()) {
    const data::TrainingCheckpoint c = data::load_training_checkpoint(dir);
    config.merge(c.state.config_toml, dir + "/state.json");
    for (const auto& o : overrides) config.set(o);
  } else {
    config = Config::load(a.config, overrides);
  }
  return config;
}

}  // namespace

void add_train_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("train", "Train an AlphaFold2 model on a `fold prepare` dataset");
  auto a = std::make_shared<Args>();
  cmd->add_option("--config", a->config, "Preset or TOML file (default initial_training; on --resume, the run's own)");
  cmd->add_option("--set", a->overrides, "Override one key: a.b.c=value (repeatable)");
  cmd->add_option("--data", a->data, "Training dataset (.h5 from fold prepare)");
  cmd->add_option("--chains", a->chains,
                  "Train only on these chains: ids (1abc_A,2def_B) or @FILE; a multimer config trains on complexes "
                  "(all of an entry's chains), named by entry (1abc) or by one of their chains");
  cmd->add_option("--valid-data", a->valid_data, "Validation dataset (.h5); scored every train.validate_every steps");
  cmd->add_option("--valid-chains", a->valid_chains, "Validate only on these chains: ids or @FILE");
  cmd->add_option("--out", a->out, "Run directory (log.jsonl, checkpoints/, predictions/)");
  cmd->add_option("--resume", a->resume, "Continue the run in this directory (or from this checkpoint)")
      ->check(CLI::ExistingDirectory);
  cmd->add_option("--init-params", a->init_params, "Start from these weights (any format fold predict reads)")
      ->check(CLI::ExistingPath);
  cmd->add_option("--steps", a->steps, "Optimizer steps of the whole run (train.max_steps)")
      ->check(CLI::PositiveNumber);
  cmd->add_option("--precision", a->precision, "fp32 | bf16 | fp16 (globals.precision)")
      ->check(CLI::IsMember({"fp32", "bf16", "fp16"}));
  cmd->add_option("--checkpoint", a->checkpoint, "Activation checkpointing: none | block | every:K (train.checkpoint)");
  add_device_option(cmd, a->device, "cpu | cuda | cuda:N");
  cmd->add_option("--workers", a->workers, "Data loader threads")->check(CLI::PositiveNumber);
  cmd->add_option("--stop-after", a->stop_after, "Stop after this many steps of this invocation (checkpointed)")
      ->check(CLI::NonNegativeNumber);
  cmd->add_flag("--quiet", a->quiet, "No progress bar");
  cmd->callback([a] {
    if (a->resume.empty() && a->config.empty()) a->config = "initial_training";
    const Config config = resolve(*a);
    if (a->data.empty()) throw CLI::ValidationError("train", "give --data (the training dataset) or --resume");
    if (a->out.empty()) throw CLI::ValidationError("train", "give --out (the run directory) or --resume");
    fs::create_directories(a->out);
    // Under fold launch, rank 0 writes the run's files; the others only train.
    const bool writer = dist::read_dist_environment().rank == 0;
    if (a->resume.empty() && writer) {
      std::ofstream run(fs::path(a->out) / "run.json");
      run << json{{"data", a->data}, {"chains", a->chains}, {"valid_data", a->valid_data}, {"valid_chains", a->valid_chains}}
                 .dump(2)
          << "\n";
    }
    train::TrainerOptions o;
    o.train_data = a->data;
    o.train_chains = parse_id_list(a->chains);
    o.valid_data = a->valid_data;
    o.valid_chains = parse_id_list(a->valid_chains);
    o.out_dir = a->out;
    o.resume = a->resume;
    o.init_params = a->init_params;
    o.device = a->device;
    o.workers = a->workers;
    o.progress = !a->quiet && isatty(STDERR_FILENO);
    o.stop_after = a->stop_after;
    // SIGTERM (SLURM's notice before it kills a job) or Ctrl-C: checkpoint at the end of
    // the step and exit 0; --resume continues.
    const StopSignals stop("\nfold train: stopping at the end of this step with a checkpoint (again to kill at once)\n");
    o.stop_requested = stop.flag();
    train::Trainer trainer(config, o, std::cerr);
    const train::TrainingSummary s = trainer.run();
    if (!writer) return;

    json chains = json::array();
    if (!s.chain_scores.empty()) fs::create_directories(fs::path(a->out) / "predictions");
    for (const auto& c : s.chain_scores) {
      const std::string pdb = (fs::path(a->out) / "predictions" / (c.chain + ".pdb")).string();
      data::write_protein(prediction_to_protein(c.chain, c.features, c.outputs), pdb);
      json score = {{"chain", c.chain}, {"lddt_ca", c.lddt_ca}, {"gdt_ts", c.gdt_ts}, {"drmsd", c.drmsd}, {"pdb", pdb}};
      std::cerr << "held-out " << c.chain << ": lDDT-Ca " << c.lddt_ca;
      if (c.interface_lddt_ca) {
        score["interface_lddt_ca"] = *c.interface_lddt_ca;
        std::cerr << ", interface lDDT-Ca " << *c.interface_lddt_ca;
      }
      std::cerr << " against the true structure (" << pdb << ")\n";
      chains.push_back(std::move(score));
    }
    json validation = {{"lddt_ca", s.validation.lddt_ca},
                       {"gdt_ts", s.validation.gdt_ts},
                       {"drmsd", s.validation.drmsd},
                       {"chains", chains}};
    if (s.validation.interface_lddt_ca) validation["interface_lddt_ca"] = *s.validation.interface_lddt_ca;
    const json summary = {{"out", a->out},
                          {"steps", {s.first_step, s.last_step}},
                          {"seconds", s.seconds},
                          {"final_loss", s.final_loss},
                          {"skipped_steps", s.skipped_steps},
                          {"skipped_samples", s.skipped_samples},
                          {"checkpoint", s.last_checkpoint},
                          {"stopped_by_signal", s.stopped_by_request},
                          {"validation", validation}};
    std::cout << summary.dump(2) << "\n";
  });
}

}  // namespace fold::cli
