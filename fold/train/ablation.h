// `fold ablate`: the same training steps (same weights, same sample) under
// several memory strategies and crop sizes, each run as its own `fold train` (under
// `fold launch` for DAP), so a strategy that runs out of memory is reported, not fatal.
// The results are compared (the losses must agree) and written as ablation.csv,
// ablation.md and ablation.png.
#pragma once

#include <cstdint>
#include <iosfwd>
#include <string>
#include <vector>

#include "evoformer/memory_policy.h"

namespace fold {

// A strategy is a memory policy in its text form (evoformer/memory_policy.h):
// '+'-joined parts such as dap2+checkpoint+chunk4+lowmem. The `--set` overrides of
// `fold train` that select `policy`; std::invalid_argument for the parts training has
// no use for (chunkauto, offload, bf16 -- that is --precision --, copy).
std::vector<std::string> training_overrides(const evoformer::MemoryPolicy& policy);

struct AblationRun {
  int64_t crop = 0;
  std::string strategy;
  std::string status;  // "ok", "OOM" or "failed"
  std::string detail;  // why it failed
  int ranks = 1;
  int64_t residues = 0;                        // per step (one sample)
  double peak_bytes = 0, step_peak_bytes = 0;  // the largest rank's, over the steps
  double step_seconds = 0;                     // median over the steps after the first
  double communication_share = 0;              // of rank 0's step time
  std::vector<double> losses;                  // per step
  double loss_difference = 0;                  // relative, to the reference strategy
  double tokens_per_second() const { return step_seconds > 0 ? residues / step_seconds : 0; }
};

// Reads one run's log.jsonl (as `fold train` writes it) into `run`; false when the log
// has no step with a loss.
bool read_ablation_log(const std::string& path, AblationRun& run);

// Sets loss_difference per crop against the first strategy that ran; returns whether
// every run that ran agrees within `tolerance`.
bool compare_ablation_losses(std::vector<AblationRun>& runs, double tolerance);

struct AblationOptions {
  std::string config = "tiny", data, chain, out, device = "cpu", precision = "fp32";
  std::vector<int64_t> crops{64, 128};
  std::vector<std::string> strategies{"none", "checkpoint", "dap2", "dap2+checkpoint", "chunk4"};
  std::vector<std::string> overrides;  // more `--set` for every run
  int steps = 2;
  double tolerance = 1e-3;
};

struct Ablation {
  std::vector<AblationRun> runs;
  bool losses_agree = true;
};

// Runs every crop x strategy, writes DIR/ablation.{csv,md,png} (the PNG when gnuplot is
// installed) and DIR/runs/<crop>-<strategy>/ (each run's output and training log).
// Progress goes to `log`.
Ablation run_ablation(const AblationOptions& options, std::ostream& log);

void write_ablation_csv(const std::vector<AblationRun>& runs, const std::string& path);
void write_ablation_markdown(const std::vector<AblationRun>& runs, const AblationOptions& options,
                             const std::string& header, bool agree, const std::string& path);
// false (with the reason in `why`) when gnuplot is missing or fails.
bool write_ablation_plot(const std::vector<AblationRun>& runs, const std::string& path, std::string& why);

}  // namespace fold
