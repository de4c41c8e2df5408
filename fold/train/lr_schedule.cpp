#include "fold/train/lr_schedule.h"

#include <cmath>

#include "fold/config_section.h"

namespace fold::train {

LrSchedule LrSchedule::from_config(const Config& c) {
  LrSchedule s;
  read_section(c, "scheduler", {{"warmup_no_steps", &s.warmup_no_steps},
                                {"start_decay_after_n_steps", &s.start_decay_after_n_steps},
                                {"decay_every_n_steps", &s.decay_every_n_steps}, {"decay_factor", &s.decay_factor},
                                {"base_lr", &s.base_lr}, {"max_lr", &s.max_lr}});
  if (s.warmup_no_steps < 0 || s.decay_every_n_steps < 1 || s.start_decay_after_n_steps < 0)
    throw ConfigError("scheduler: warmup_no_steps and start_decay_after_n_steps must be >= 0, decay_every_n_steps >= 1");
  return s;
}

double LrSchedule::at(int64_t step) const {
  if (warmup_no_steps > 0 && step <= warmup_no_steps)
    return base_lr + (max_lr - base_lr) * static_cast<double>(step) / static_cast<double>(warmup_no_steps);
  if (step > start_decay_after_n_steps) {
    const int64_t k = (step - start_decay_after_n_steps) / decay_every_n_steps + 1;
    return max_lr * std::pow(decay_factor, static_cast<double>(k));
  }
  return max_lr;
}

}  // namespace fold::train
