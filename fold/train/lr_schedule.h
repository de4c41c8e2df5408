// The learning-rate schedule of AF2 training (Supplement 1.11.3), in OpenFold's
// AlphaFoldLRScheduler form: linear warm-up from base_lr to max_lr over the first
// warmup_no_steps optimizer steps, max_lr until start_decay_after_n_steps, then max_lr *
// decay_factor^k with k growing by one every decay_every_n_steps.
#pragma once

#include <cstdint>

#include "fold/config.h"

namespace fold::train {

struct LrSchedule {
  int64_t warmup_no_steps = 1000, start_decay_after_n_steps = 50000, decay_every_n_steps = 50000;
  double decay_factor = 0.95, base_lr = 0.0, max_lr = 1e-3;

  static LrSchedule from_config(const Config& config);  // the [scheduler] section
  // The rate of optimizer step `step` (0-based, as OpenFold's last_epoch).
  double at(int64_t step) const;
};

}  // namespace fold::train
