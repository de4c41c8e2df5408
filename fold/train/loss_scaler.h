// The dynamic loss scaler of fp16 training (Micikevicius et al. 2018): the loss is
// multiplied by `scale` before backward so small gradients survive fp16; a step whose
// gradients overflow (inf/nan) is skipped and the scale backed off; after
// growth_interval clean steps in a row the scale grows.
#pragma once

#include <cstdint>

namespace fold::train {

struct LossScalerOptions {
  double init_scale = 65536.0, growth_factor = 2.0, backoff_factor = 0.5, min_scale = 1.0;
  int64_t growth_interval = 2000;
};

class DynamicLossScaler {
 public:
  explicit DynamicLossScaler(LossScalerOptions options = {});
  double scale() const { return scale_; }
  int64_t clean_steps() const { return clean_; }
  // Records one step's outcome; returns whether the optimizer may step (false when the
  // gradients were not finite).
  bool update(bool gradients_finite);
  void restore(double scale, int64_t clean_steps);

 private:
  LossScalerOptions options_;
  double scale_;
  int64_t clean_ = 0;
};

}  // namespace fold::train
