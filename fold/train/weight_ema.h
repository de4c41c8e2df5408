// The exponential moving average of the weights that AF2 evaluates and exports
// (Supplement 1.11.7, decay 0.999; OpenFold's ExponentialMovingAverage): after every
// optimizer step, ema <- ema - (1 - decay) * (ema - weight), in fp32.
#pragma once

#include <ATen/core/Tensor.h>

#include <map>
#include <string>
#include <utility>
#include <vector>

namespace fold::train {

class WeightEma {
 public:
  // Starts at the current weights.
  WeightEma(const std::vector<std::pair<std::string, at::Tensor>>& weights, double decay);
  void update(const std::vector<std::pair<std::string, at::Tensor>>& weights);
  const std::map<std::string, at::Tensor>& weights() const { return ema_; }
  // Replaces the average; names and shapes must match (std::invalid_argument naming
  // `source` otherwise).
  void load(const std::map<std::string, at::Tensor>& weights, const std::string& source);

 private:
  double decay_;
  std::map<std::string, at::Tensor> ema_;
};

}  // namespace fold::train
