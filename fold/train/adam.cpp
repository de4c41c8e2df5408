#include "fold/train/adam.h"

#include <ATen/ATen.h>
#include <c10/core/GradMode.h>

#include <cmath>
#include <stdexcept>

namespace fold::train {

Adam::Adam(std::vector<std::pair<std::string, at::Tensor>> params, AdamOptions options)
    : params_(std::move(params)), options_(options) {
  for (const auto& [name, p] : params_)
    if (p.scalar_type() != at::kFloat && p.scalar_type() != at::kDouble)
      throw std::invalid_argument("Adam: master parameter '" + name + "' must be fp32 or fp64");
}

void Adam::step(double lr) {
  c10::NoGradGuard no_grad;
  ++step_;
  const double correction1 = 1.0 - std::pow(options_.beta1, static_cast<double>(step_));
  const double correction2 = 1.0 - std::pow(options_.beta2, static_cast<double>(step_));
  for (auto& [name, p] : params_) {
    const at::Tensor& g = p.grad();
    if (!g.defined()) continue;
    auto it = moments_.find(name);
    if (it == moments_.end()) it = moments_.emplace(name, std::make_pair(at::zeros_like(p), at::zeros_like(p))).first;
    auto& [m, v] = it->second;
    m.mul_(options_.beta1).add_(g, 1.0 - options_.beta1);
    v.mul_(options_.beta2).addcmul_(g, g, 1.0 - options_.beta2);
    const at::Tensor denominator = (v.sqrt() / std::sqrt(correction2)).add_(options_.eps);
    p.addcdiv_(m, denominator, -lr / correction1);
  }
}

int64_t Adam::state_bytes() const {
  int64_t bytes = 0;
  for (const auto& [name, mv] : moments_) bytes += mv.first.nbytes() + mv.second.nbytes();
  return bytes;
}

std::map<std::string, at::Tensor> Adam::state() const {
  std::map<std::string, at::Tensor> out;
  out["step"] = at::full({}, step_, at::kLong);
  for (const auto& [name, mv] : moments_) {
    out["exp_avg/" + name] = mv.first;
    out["exp_avg_sq/" + name] = mv.second;
  }
  return out;
}

void Adam::load_state(const std::map<std::string, at::Tensor>& state, const std::string& source) {
  const auto step = state.find("step");
  if (step == state.end() || step->second.numel() != 1)
    throw std::invalid_argument(source + ": optimizer state lacks its step count");
  std::map<std::string, std::pair<at::Tensor, at::Tensor>> moments;
  size_t used = 1;
  for (const auto& [name, p] : params_) {
    const auto m = state.find("exp_avg/" + name), v = state.find("exp_avg_sq/" + name);
    if (m == state.end() && v == state.end()) continue;
    if (m == state.end() || v == state.end() || !m->second.sizes().equals(p.sizes()) ||
        !v->second.sizes().equals(p.sizes()))
      throw std::invalid_argument(source + ": optimizer moments of '" + name + "' are missing or mis-shaped");
    moments[name] = {m->second.to(p.options()).clone(), v->second.to(p.options()).clone()};
    used += 2;
  }
  if (used != state.size())
    throw std::invalid_argument(source + ": optimizer state holds entries for parameters this model does not have");
  step_ = step->second.item<int64_t>();
  moments_ = std::move(moments);
}

}  // namespace fold::train
