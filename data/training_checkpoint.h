// The native training checkpoint (ARCHITECTURE.md, Checkpoints): a directory <root>/step-<8 digits> with
// model.safetensors (fp32 master weights, OpenFold names), optimizer.safetensors (Adam's
// step and moments; with ZeRO one file per shard, optimizer-<r>-of-<n>.safetensors,
// each a subset of the same names), ema.safetensors (the averaged weights) and
// state.json (step, data cursor, RNG state, loss scaler, config). It is written under <name>.partial, synced
// and renamed into place, so a process killed at any moment leaves either the complete
// checkpoint or none: a half-written one never carries the name the loader looks for.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <map>
#include <string>

namespace fold::data {

struct TrainingState {
  int64_t step = 0;                   // optimizer steps done
  int64_t epoch = 0, position = 0;    // data cursor: the next sample of the schedule
  std::string cpu_rng;                // the CPU generator's state, hex
  double loss_scale = 1.0;
  int64_t loss_scale_clean_steps = 0;
  std::string precision = "fp32";
  std::string config_toml;            // the run's full configuration
};

struct TrainingCheckpoint {
  // optimizer: the whole state (the union of the shards when loaded).
  std::map<std::string, at::Tensor> model, optimizer, ema;
  TrainingState state;
};

// Writes the checkpoint of state.step under `root` and deletes all but the newest
// `keep` complete checkpoints (and any .partial leftovers). Returns its directory.
std::string save_training_checkpoint(const std::string& root, const TrainingCheckpoint& checkpoint, int64_t keep);

// The same in three parts when the optimizer state is sharded over ranks: one process
// begins (a fresh .partial directory), every shard's owner writes its shard into it, and
// after all have, the first process finishes (everything but the optimizer state, then
// the rename; it throws if a shard is missing). finish does not use checkpoint.optimizer.
void begin_training_checkpoint(const std::string& root, int64_t step);
void write_optimizer_shard(const std::string& root, int64_t step, int shard, int shards,
                           const std::map<std::string, at::Tensor>& state);
std::string finish_training_checkpoint(const std::string& root, const TrainingCheckpoint& checkpoint, int shards,
                                       int64_t keep);

// The newest complete checkpoint: `path` itself if it is a checkpoint directory, else
// the highest step-* under path or path/checkpoints; "" when there is none.
std::string latest_checkpoint(const std::string& path);

// The newest complete checkpoint beside `dir` (in the same folder) with a lower step;
// "" when there is none. What to offer when `dir` cannot be loaded.
std::string previous_checkpoint(const std::string& dir);

// state.json's text -> the state; std::runtime_error naming `source` and the problem.
TrainingState parse_training_state(const std::string& text, const std::string& source);

// Throws std::runtime_error naming the directory and the missing or unreadable file.
TrainingCheckpoint load_training_checkpoint(const std::string& dir);

bool is_training_checkpoint(const std::string& dir);

// The CPU generator's state as hex, and back.
std::string cpu_rng_state();
void set_cpu_rng_state(const std::string& hex);

}  // namespace fold::data
