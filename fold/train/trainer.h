// `fold train`: AlphaFold2 training on the HDF5 chain dataset. One
// optimizer step = grad_accumulation samples, each through the model with the
// sample's own recycling count (gradients through the last iteration only), the AF2
// loss (fold/loss/alphafold_loss.h), backward (scaled in fp16); then the gradients on
// the fp32 masters, the finite check (a non-finite step is skipped and logged; past
// train.max_skipped_steps in a row in fp32/bf16 the run stops, its last checkpoint
// intact; FOLD_INJECT_NONFINITE_LOSS_AT_STEP=N makes every loss NaN from step N, for
// the tests of that), global
// norm clipping, Adam at the scheduled rate, the EMA update. Every log_every steps a
// JSONL record, every validate_every the EMA weights on the validation chains (lDDT-Ca,
// GDT-TS, drmsd), every checkpoint_every and at the end a checkpoint; a progress bar
// with ETA on stderr. A resumed run restores weights, optimizer, EMA, loss scaler, the
// CPU RNG and the data cursor, so on the CPU it continues bit for bit. Asked to stop
// (SIGTERM, Ctrl-C), the run checkpoints at the end of the step and returns.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <iosfwd>
#include <memory>
#include <string>
#include <vector>

#include "fold/config.h"
#include "fold/train/validation.h"

namespace fold::train {

struct TrainerOptions {
  std::string train_data;                  // the dataset (.h5) of `fold prepare`
  std::vector<std::string> train_chains;   // empty: every chain of train_data
  std::string valid_data;                  // empty: no validation
  std::vector<std::string> valid_chains;   // empty: every chain of valid_data
  std::string out_dir;                     // log.jsonl, checkpoints/, predictions/
  std::string resume;                      // a run or checkpoint directory; empty: a fresh run
  std::string init_params;                 // optional starting weights (any format fold predict reads)
  std::string device = "cpu";
  int workers = 2;
  bool progress = true;
  // Stops the run after this many steps of this process (the checkpoint at exit still
  // happens); < 0: run to train.max_steps. For tests of resuming.
  int64_t stop_after = -1;
  // When set and it becomes true (SIGTERM, Ctrl-C): the run stops at the end of the step,
  // every rank at the same one, with a checkpoint that --resume continues bit for bit.
  const std::atomic<bool>* stop_requested = nullptr;
};

struct TrainingSummary {
  int64_t first_step = 0, last_step = 0, skipped_steps = 0, skipped_samples = 0;
  double seconds = 0, final_loss = 0;
  ValidationResult validation;  // the last validation (chains = 0 when none ran)
  std::vector<ChainScore> chain_scores;  // its per-chain scores and predictions
  std::string last_checkpoint;
  bool stopped_by_request = false;  // by TrainerOptions::stop_requested
};

class Trainer {
 public:
  Trainer(const Config& config, TrainerOptions options, std::ostream& log);
  ~Trainer();
  TrainingSummary run();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace fold::train
