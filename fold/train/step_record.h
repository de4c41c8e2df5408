// One line of a training run's log.jsonl: what one optimizer step did. The trainer
// writes it and `fold ablate` reads a run's lines back, both through this struct, so the
// log's field names live here only.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "fold/train/validation.h"

namespace fold::train {

// The figures every rank of a multi-process run reports for the same step (-1: none,
// as where the device keeps no memory statistics).
struct RankFigures {
  double peak_memory_bytes = -1, peak_step_memory_bytes = -1, peak_forward_bytes = -1, peak_backward_bytes = -1,
         peak_optimizer_bytes = -1, optimizer_state_bytes = -1, communication_seconds = -1, step_seconds = -1;

  // Each figure's log name and member, in the order the ranks gather them.
  static const std::vector<std::pair<const char*, double RankFigures::*>>& fields();
  std::vector<double> values() const;
  static RankFigures from_values(const std::vector<double>& values);
};

struct StepRecord {
  int64_t step = 0;
  double lr = 0;
  std::vector<std::string> samples;  // the chains trained on (rank 0's under data parallelism)
  bool stepped = false;              // false: the update was skipped
  std::optional<double> loss;        // mean over the usable samples; none without one
  std::map<std::string, double> losses;  // per term, the same mean
  std::optional<double> grad_norm;       // none when the update was skipped
  double loss_scale = 1;
  int64_t residues = 0;
  double step_seconds = 0, data_wait_seconds = 0, communication_seconds = 0;
  // The peak of each phase and of the step, and the peak beyond the resident weights and
  // optimizer state; none where the device keeps no statistics.
  std::optional<int64_t> peak_forward_bytes, peak_backward_bytes, peak_optimizer_bytes, peak_memory_bytes,
      peak_step_memory_bytes;
  int64_t optimizer_state_bytes = 0;
  std::vector<RankFigures> ranks;              // every rank's, when the run has several
  std::optional<ValidationResult> validation;  // when the step was followed by validation

  // This rank's RankFigures.
  RankFigures figures() const;
  // The largest peak over the ranks (this rank's alone without `ranks`); -1: none.
  double largest_peak_bytes() const;
  double largest_step_peak_bytes() const;

  std::string to_json_line() const;
  // A step's line; none for another line (a validation-only one) or a malformed one
  // (a field of the wrong type).
  static std::optional<StepRecord> parse(const std::string& line);
};

// The line that records the final validation of a run whose last step was not validated.
std::string validation_line(int64_t step, const ValidationResult& validation);

}  // namespace fold::train
