#include "fold/train/weight_ema.h"

#include <ATen/ATen.h>
#include <c10/core/GradMode.h>

#include <stdexcept>

namespace fold::train {

WeightEma::WeightEma(const std::vector<std::pair<std::string, at::Tensor>>& weights, double decay) : decay_(decay) {
  if (!(decay >= 0.0 && decay <= 1.0)) throw std::invalid_argument("EMA decay must lie in [0, 1]");
  c10::NoGradGuard no_grad;
  for (const auto& [name, w] : weights) ema_[name] = w.detach().to(at::kFloat).clone();
}

void WeightEma::update(const std::vector<std::pair<std::string, at::Tensor>>& weights) {
  c10::NoGradGuard no_grad;
  for (const auto& [name, w] : weights) {
    at::Tensor& e = ema_.at(name);
    e.sub_((e - w.to(at::kFloat)) * (1.0 - decay_));
  }
}

void WeightEma::load(const std::map<std::string, at::Tensor>& weights, const std::string& source) {
  if (weights.size() != ema_.size())
    throw std::invalid_argument(source + ": the EMA holds " + std::to_string(weights.size()) + " tensors, the model " +
                                std::to_string(ema_.size()));
  for (auto& [name, e] : ema_) {
    const auto it = weights.find(name);
    if (it == weights.end() || !it->second.sizes().equals(e.sizes()))
      throw std::invalid_argument(source + ": EMA weight '" + name + "' is missing or mis-shaped");
    e = it->second.to(e.options()).clone();
  }
}

}  // namespace fold::train
