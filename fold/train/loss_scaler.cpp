#include "fold/train/loss_scaler.h"

#include <algorithm>
#include <stdexcept>

namespace fold::train {

DynamicLossScaler::DynamicLossScaler(LossScalerOptions options) : options_(options), scale_(options.init_scale) {
  if (!(options.init_scale > 0 && options.growth_factor > 1 && options.backoff_factor > 0 &&
        options.backoff_factor < 1 && options.growth_interval >= 1))
    throw std::invalid_argument(
        "loss scaler: needs init_scale > 0, growth_factor > 1, 0 < backoff_factor < 1, growth_interval >= 1");
}

bool DynamicLossScaler::update(bool gradients_finite) {
  if (!gradients_finite) {
    scale_ = std::max(options_.min_scale, scale_ * options_.backoff_factor);
    clean_ = 0;
    return false;
  }
  if (++clean_ >= options_.growth_interval) {
    scale_ *= options_.growth_factor;
    clean_ = 0;
  }
  return true;
}

void DynamicLossScaler::restore(double scale, int64_t clean_steps) {
  if (!(scale > 0) || clean_steps < 0) throw std::invalid_argument("loss scaler: restored state is invalid");
  scale_ = scale;
  clean_ = clean_steps;
}

}  // namespace fold::train
