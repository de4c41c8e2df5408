// `fold ablate --config CFG --data H5 --crop 64,128 --strategies none,checkpoint,dap2
// [--steps N] [--device cpu|cuda] --out DIR`: the same training steps under each memory
// strategy and crop (fold/ablation.h); exits non-zero when the losses disagree or a run
// fails for a reason other than memory.
#include <CLI/CLI.hpp>

#include <cstdlib>
#include <fstream>
#include <iostream>

#include "fold/cli/commands.h"
#include "fold/cli/device_option.h"
#include "fold/train/ablation.h"

namespace fold::cli {

void add_ablate_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("ablate", "Compare memory strategies (DAP, checkpointing, chunking) on one training step");
  auto o = std::make_shared<AblationOptions>();
  cmd->add_option("--config", o->config, "Preset or TOML file of every run")->capture_default_str();
  cmd->add_option("--data", o->data, "Training dataset (.h5 from fold prepare)")->required();
  cmd->add_option("--chain", o->chain,
                  "The chain every step trains on, or for a multimer config the complex (entry id; default: the "
                  "dataset's longest)");
  cmd->add_option("--crop", o->crops, "Crop sizes, comma-separated")->delimiter(',')->capture_default_str();
  cmd->add_option("--strategies", o->strategies,
                  "Comma-separated; each none or '+'-joined checkpoint, dap<K>, chunk<N>, lowmem")
      ->delimiter(',')
      ->capture_default_str();
  cmd->add_option("--steps", o->steps, "Training steps per run (the first is a warm-up for the timing)")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  add_device_option(cmd, o->device, "cpu | cuda | cuda:N");
  cmd->add_option("--precision", o->precision, "fp32 | bf16 | fp16")
      ->check(CLI::IsMember({"fp32", "bf16", "fp16"}))
      ->capture_default_str();
  cmd->add_option("--set", o->overrides, "Override one key of every run: a.b.c=value (repeatable)");
  cmd->add_option("--tol", o->tolerance, "Relative loss difference allowed between strategies")->capture_default_str();
  cmd->add_option("--out", o->out, "Output directory (ablation.csv, ablation.md, ablation.png, runs/)")->required();
  cmd->callback([o] {
    const Ablation a = run_ablation(*o, std::cerr);
    const bool agree = a.losses_agree;
    bool failed = false;
    for (const auto& r : a.runs) failed |= r.status == "failed";
    std::cerr << "[ablate] wrote " << o->out << "/ablation.{csv,md,png}; losses " << (agree ? "agree" : "DISAGREE")
              << (failed ? "; some runs failed" : "") << "\n";
    std::cout << std::ifstream(o->out + "/ablation.md").rdbuf();
    if (!agree || failed) std::exit(1);
  });
}

}  // namespace fold::cli
