#include "dap/zero_sharding.h"

#include <ATen/ATen.h>
#include <c10/core/GradMode.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <stdexcept>

namespace fold::zero {

namespace {
constexpr int kEveryone = -1;
}

ZeroSharding::ZeroSharding(std::vector<std::pair<std::string, at::Tensor>> params, const dist::Group& dp, int stage)
    : group_(dp), stage_(stage) {
  if (stage < 0 || stage > 2) throw std::invalid_argument("dist.zero: expected 0, 1 or 2, got " + std::to_string(stage));
  for (auto& [name, p] : params) slots_.push_back({name, p, kEveryone, 0});
  if (!sharded()) {
    for (auto& s : slots_) {
      s.offset = segment_;
      segment_ += s.param.numel();
    }
    return;
  }
  // Largest first to the least-loaded rank (lowest rank on ties): deterministic, so every
  // rank computes the same owners, and within one parameter of perfect balance.
  std::vector<size_t> order(slots_.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(),
                   [&](size_t a, size_t b) { return slots_[a].param.numel() > slots_[b].param.numel(); });
  std::vector<int64_t> load(group_.size(), 0);
  for (size_t i : order) {
    slots_[i].owner = static_cast<int>(std::min_element(load.begin(), load.end()) - load.begin());
    load[slots_[i].owner] += slots_[i].param.numel();
  }
  std::fill(load.begin(), load.end(), 0);
  for (auto& s : slots_) {
    s.offset = load[s.owner];
    load[s.owner] += s.param.numel();
  }
  segment_ = *std::max_element(load.begin(), load.end());
}

bool ZeroSharding::owns(const std::string& name) const {
  for (const auto& s : slots_)
    if (s.name == name) return s.owner == kEveryone || s.owner == group_.rank();
  return false;
}

std::vector<std::pair<std::string, at::Tensor>> ZeroSharding::owned() const {
  std::vector<std::pair<std::string, at::Tensor>> out;
  for (const auto& s : slots_)
    if (s.owner == kEveryone || s.owner == group_.rank()) out.emplace_back(s.name, s.param);
  return out;
}

void ZeroSharding::reduce_gradients(double factor) {
  c10::NoGradGuard no_grad;
  if (group_.size() == 1) {
    if (factor != 1.0) scale_gradients(factor);
    return;
  }
  if (slots_.empty()) return;
  const at::TensorOptions options = slots_.front().param.options();
  // Which parameters have a gradient on some rank (a sample may leave a module unused).
  at::Tensor has_grad = at::zeros({static_cast<int64_t>(slots_.size())}, options);
  for (size_t i = 0; i < slots_.size(); ++i)
    if (slots_[i].param.grad().defined()) has_grad[static_cast<int64_t>(i)] = 1;
  group_.all_reduce(has_grad).wait();
  const at::Tensor has_grad_cpu = has_grad.to(at::kCPU, at::kFloat);
  const auto anywhere = has_grad_cpu.accessor<float, 1>();

  const int64_t parts = sharded() ? group_.size() : 1;
  at::Tensor flat = at::zeros({parts * segment_}, options);
  for (const auto& s : slots_) {
    const at::Tensor& g = s.param.grad();
    if (!g.defined()) continue;
    const int64_t base = s.owner == kEveryone ? 0 : s.owner * segment_;
    flat.narrow(0, base + s.offset, g.numel()).copy_(g.reshape(-1));
  }
  at::Tensor mine;
  if (sharded() && stage_ == 2) {
    mine = at::empty({segment_}, options);
    group_.reduce_scatter(mine, flat).wait();
    flat = at::Tensor();  // the other owners' sums are never needed here
  } else {
    group_.all_reduce(flat).wait();
    mine = sharded() ? flat.narrow(0, group_.rank() * segment_, segment_).clone() : flat;
  }
  if (factor != 1.0) mine.mul_(factor);
  for (size_t i = 0; i < slots_.size(); ++i) {
    Slot& s = slots_[i];
    const bool mine_to_step = s.owner == kEveryone || s.owner == group_.rank();
    s.param.mutable_grad() = mine_to_step && anywhere[static_cast<int64_t>(i)] > 0 ? mine.narrow(0, s.offset, s.param.numel()).view_as(s.param)
                                                             : at::Tensor();
  }
}

double ZeroSharding::gradient_norm() const {
  c10::NoGradGuard no_grad;
  if (slots_.empty()) return 0;
  at::Tensor sum = at::zeros({1}, slots_.front().param.options().dtype(at::kDouble));
  for (const auto& s : slots_)
    if (s.param.grad().defined()) sum += s.param.grad().to(at::kDouble).pow(2).sum();
  if (sharded()) group_.all_reduce(sum).wait();
  return std::sqrt(sum.item<double>());
}

void ZeroSharding::scale_gradients(double factor) {
  c10::NoGradGuard no_grad;
  for (const auto& s : slots_)
    if (s.param.grad().defined()) s.param.mutable_grad().mul_(factor);
}

void ZeroSharding::gather_parameters() {
  if (!sharded()) return;
  c10::NoGradGuard no_grad;
  const at::TensorOptions options = slots_.front().param.options();
  at::Tensor mine = at::zeros({segment_}, options);
  for (const auto& s : slots_)
    if (s.owner == group_.rank()) mine.narrow(0, s.offset, s.param.numel()).copy_(s.param.reshape(-1));
  at::Tensor all = at::empty({group_.size() * segment_}, options);
  group_.all_gather(all, mine).wait();
  for (auto& s : slots_)
    if (s.owner != group_.rank())
      s.param.copy_(all.narrow(0, s.owner * segment_ + s.offset, s.param.numel()).view_as(s.param));
}

}  // namespace fold::zero
