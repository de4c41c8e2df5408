// Finite-difference gradient checks in fp64, shared by the module and loss tests.
//
// A check takes f: named fp64 inputs -> outputs (one or more tensors; integer outputs
// are ignored) and optionally the module whose parameters f uses. With fixed random
// cotangents c_k it forms L(x, theta) = sum_k sum(f(x, theta)_k * c_k) and compares the
// autograd gradient of L (one loss.backward(), so checkpointed segments work too) with
// central differences (L(x + h e_j) - L(x - h e_j)) / 2h on a seeded random sample of
// entries of every input and of (a sample of) the parameter tensors:
//   |autograd_j - fd_j| <= tol * scale,   scale = max(max |autograd| of that tensor,
//                                                     floor * max |autograd| of all tensors)
// so a tensor whose gradient is everywhere tiny is judged against the loss's overall
// gradient scale rather than against rounding noise.
//
// Pick inputs away from hinges (ReLU kinks, clamps, bin edges) and, with AF2's finite
// "inf" mask biases, keep at least one unmasked key per query: a fully masked row's
// logits sit at -1e9 + O(1), where the fp64 spacing (1e-7) swallows the step.
#pragma once

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <functional>
#include <iostream>
#include <map>
#include <random>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

namespace fold::test {

using NamedTensors = std::vector<std::pair<std::string, torch::Tensor>>;
using GradFn = std::function<std::vector<torch::Tensor>(const std::vector<torch::Tensor>&)>;

struct GradCheckOptions {
  double step = 1e-6;
  double tol = 1e-6;
  // Relative floor of the per-tensor scale (see above).
  double floor = 1e-3;
  // Entries checked per tensor (every entry when the tensor has fewer).
  int64_t entries = 20;
  // Parameter tensors checked: a seeded random subset of this many (< 0: all). The
  // autograd gradients of all of them are still computed and must be finite.
  int64_t max_params = -1;
  uint64_t seed = 0;
};

// Draws every parameter of `module` afresh: matrices ~ N(0, 1 / fan_in), LayerNorm
// weights 1 + N(0, 0.1^2), other vectors (biases, IPA head weights) ~ N(0, 0.2^2).
// AF2's init zeroes the output projections and gating weights ("final", "gating"), which
// would make most gradients trivially zero. Uses torch's default generator.
inline void randomize_parameters(torch::nn::Module& module) {
  torch::NoGradGuard no_grad;
  for (auto& item : module.named_parameters()) {
    torch::Tensor p = item.value();
    const std::string& name = item.key();
    if (p.dim() >= 2) {
      p.normal_(0.0, 1.0 / std::sqrt(static_cast<double>(p.size(-1))));
    } else if (name.find("layer_norm") != std::string::npos && name.size() >= 6 &&
               name.compare(name.size() - 6, 6, "weight") == 0) {
      p.normal_(1.0, 0.1);
    } else {
      p.normal_(0.0, 0.2);
    }
  }
}

// The module in fp64, eval mode (no dropout), parameters redrawn.
inline void prepare_fp64(torch::nn::Module& module) {
  module.to(torch::kFloat64);
  module.eval();
  randomize_parameters(module);
}

// Cotangents for `outputs` (undefined for non-floating outputs), from `seed`.
inline std::vector<torch::Tensor> make_cotangents(const std::vector<torch::Tensor>& outputs, uint64_t seed) {
  auto gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  std::vector<torch::Tensor> cots;
  for (const auto& o : outputs) {
    cots.push_back(o.defined() && o.is_floating_point()
                       ? at::normal(0.0, 1.0, o.sizes(), gen, o.options().requires_grad(false))
                       : torch::Tensor());
  }
  return cots;
}

inline torch::Tensor contract(const std::vector<torch::Tensor>& outputs, const std::vector<torch::Tensor>& cots) {
  torch::Tensor loss;
  for (size_t k = 0; k < outputs.size(); ++k) {
    if (!cots[k].defined()) continue;
    const torch::Tensor term = (outputs[k] * cots[k]).sum();
    loss = loss.defined() ? loss + term : term;
  }
  return loss;
}

// Autograd gradients of L w.r.t. the inputs ("in/<name>") and every parameter of
// `module` ("<param name>"); a tensor L does not depend on gets zeros.
inline std::map<std::string, torch::Tensor> autograd_gradients(const GradFn& f, const NamedTensors& inputs,
                                                               torch::nn::Module* module,
                                                               const std::vector<torch::Tensor>& cots) {
  std::vector<torch::Tensor> vars;
  for (const auto& [name, x] : inputs) vars.push_back(x.detach().clone().requires_grad_(true));
  if (module != nullptr) {
    for (auto& p : module->parameters()) p.mutable_grad() = torch::Tensor();
  }
  contract(f(vars), cots).backward();
  std::map<std::string, torch::Tensor> grads;
  for (size_t i = 0; i < inputs.size(); ++i) {
    const torch::Tensor g = vars[i].grad();
    grads["in/" + inputs[i].first] = g.defined() ? g.clone() : torch::zeros_like(vars[i]);
  }
  if (module != nullptr) {
    for (auto& item : module->named_parameters()) {
      const torch::Tensor g = item.value().grad();
      grads[item.key()] = g.defined() ? g.clone() : torch::zeros_like(item.value());
      item.value().mutable_grad() = torch::Tensor();
    }
  }
  return grads;
}

// Outputs and gradients of f, for comparing memory strategies.
struct GradRun {
  std::vector<torch::Tensor> outputs;
  std::map<std::string, torch::Tensor> grads;
};

inline GradRun run_with_gradients(const GradFn& f, const NamedTensors& inputs, torch::nn::Module* module,
                                  uint64_t cot_seed = 1) {
  std::vector<torch::Tensor> plain;
  for (const auto& [name, x] : inputs) plain.push_back(x);
  GradRun r;
  {
    torch::NoGradGuard no_grad;
    for (const auto& o : f(plain)) r.outputs.push_back(o.defined() ? o.detach().clone() : o);
  }
  r.grads = autograd_gradients(f, inputs, module, make_cotangents(r.outputs, cot_seed));
  return r;
}

inline double max_rel_diff(const torch::Tensor& a, const torch::Tensor& b) {
  const double scale = std::max(b.abs().max().item<double>(), 1e-300);
  return (a - b).abs().max().item<double>() / scale;
}

// Every output and gradient of `b` equals `a` within `tol` relative to the tensor's
// max |value| (fp64 rounding of a different evaluation order), with the floor below.
inline void expect_same_run(const GradRun& a, const GradRun& b, double tol, const std::string& what) {
  ASSERT_EQ(a.outputs.size(), b.outputs.size()) << what;
  // A gradient that is exactly zero in exact arithmetic (e.g. a LayerNorm bias feeding an
  // attention bias that is constant along the keys: softmax is shift invariant) is only
  // rounding noise: judge every gradient against at least `floor` of the largest one.
  constexpr double floor = 1e-3;
  double global = 0.0;
  for (const auto& [name, g] : a.grads) global = std::max(global, g.abs().max().item<double>());
  double worst = 0.0;
  for (size_t k = 0; k < a.outputs.size(); ++k) {
    if (!a.outputs[k].defined() || !a.outputs[k].is_floating_point()) continue;
    const double e = max_rel_diff(b.outputs[k], a.outputs[k]);
    worst = std::max(worst, e);
    EXPECT_LE(e, tol) << what << ": output " << k;
  }
  for (const auto& [name, g] : a.grads) {
    ASSERT_TRUE(b.grads.count(name)) << what << ": no gradient " << name;
    const double scale = std::max({g.abs().max().item<double>(), floor * global, 1e-300});
    const double e = (b.grads.at(name) - g).abs().max().item<double>() / scale;
    worst = std::max(worst, e);
    EXPECT_LE(e, tol) << what << ": gradient " << name;
  }
  std::cout << "[ strategy ] " << what << ": " << a.grads.size() << " gradients, worst rel diff " << worst << "\n";
}

namespace detail {

inline std::vector<int64_t> sample_indices(int64_t numel, int64_t k, std::mt19937_64& rng) {
  std::vector<int64_t> idx(static_cast<size_t>(numel));
  for (int64_t i = 0; i < numel; ++i) idx[static_cast<size_t>(i)] = i;
  if (k >= numel) return idx;
  for (int64_t i = 0; i < k; ++i) {
    std::uniform_int_distribution<int64_t> pick(i, numel - 1);
    std::swap(idx[static_cast<size_t>(i)], idx[static_cast<size_t>(pick(rng))]);
  }
  idx.resize(static_cast<size_t>(k));
  std::sort(idx.begin(), idx.end());
  return idx;
}

}  // namespace detail

struct GradCheckReport {
  int64_t tensors = 0, entries = 0, failures = 0;
  double worst = 0.0;  // max |autograd - fd| / scale
  std::string worst_where;
};

// The check itself (see the top of the file). Reports each failing entry with
// ADD_FAILURE and prints a one-line summary.
inline GradCheckReport expect_gradients_match_finite_differences(const GradFn& f, const NamedTensors& inputs,
                                                                 torch::nn::Module* module,
                                                                 const GradCheckOptions& o = {}) {
  GradCheckReport report;
  std::vector<torch::Tensor> base;
  for (const auto& [name, x] : inputs) {
    EXPECT_EQ(x.scalar_type(), torch::kFloat64) << "input " << name << " must be fp64";
    base.push_back(x.detach().clone());
  }
  if (module != nullptr) {
    for (const auto& p : module->parameters()) {
      EXPECT_EQ(p.scalar_type(), torch::kFloat64) << "parameters must be fp64";
    }
  }
  std::vector<torch::Tensor> outputs;
  {
    torch::NoGradGuard no_grad;
    outputs = f(base);
  }
  const std::vector<torch::Tensor> cots = make_cotangents(outputs, o.seed + 1);
  const auto grads = autograd_gradients(f, inputs, module, cots);

  double global = 0.0;
  for (const auto& [name, g] : grads) {
    EXPECT_TRUE(torch::isfinite(g).all().item<bool>()) << "non-finite gradient " << name;
    global = std::max(global, g.abs().max().item<double>());
  }
  EXPECT_GT(global, 0.0) << "every gradient is zero";

  // The tensors to perturb: every input, then the (sampled) parameters.
  struct Target {
    std::string name;
    torch::Tensor tensor;  // perturbed in place
  };
  std::vector<Target> targets;
  for (size_t i = 0; i < inputs.size(); ++i) targets.push_back({"in/" + inputs[i].first, base[i]});
  std::mt19937_64 rng(o.seed * 7919 + 17);
  if (module != nullptr) {
    std::vector<Target> params;
    for (auto& item : module->named_parameters()) params.push_back({item.key(), item.value()});
    if (o.max_params >= 0 && static_cast<int64_t>(params.size()) > o.max_params) {
      std::vector<Target> picked;
      for (int64_t i : detail::sample_indices(static_cast<int64_t>(params.size()), o.max_params, rng)) {
        picked.push_back(params[static_cast<size_t>(i)]);
      }
      params = std::move(picked);
    }
    targets.insert(targets.end(), params.begin(), params.end());
  }

  torch::NoGradGuard no_grad;
  const auto start = std::chrono::steady_clock::now();
  const auto loss = [&] { return contract(f(base), cots).item<double>(); };
  for (auto& t : targets) {
    const torch::Tensor& g = grads.at(t.name);
    const double scale = std::max({g.abs().max().item<double>(), o.floor * global, 1e-300});
    torch::Tensor flat = t.tensor.view(-1);
    const torch::Tensor gflat = g.reshape(-1);
    ++report.tensors;
    for (int64_t j : detail::sample_indices(t.tensor.numel(), o.entries, rng)) {
      const double orig = flat[j].item<double>();
      flat[j].fill_(orig + o.step);
      const double lp = loss();
      flat[j].fill_(orig - o.step);
      const double lm = loss();
      flat[j].fill_(orig);
      const double fd = (lp - lm) / (2 * o.step);
      const double ad = gflat[j].item<double>();
      const double err = std::abs(ad - fd) / scale;
      ++report.entries;
      if (err > report.worst) {
        report.worst = err;
        std::ostringstream where;
        where << t.name << "[" << j << "]";
        report.worst_where = where.str();
      }
      if (!(err <= o.tol)) {
        ++report.failures;
        if (report.failures <= 10) {
          ADD_FAILURE() << t.name << " entry " << j << ": autograd " << ad << " vs finite difference " << fd
                        << " (|diff| / " << scale << " = " << err << ")";
        }
      }
    }
  }
  if (report.failures > 10) ADD_FAILURE() << report.failures << " entries failed in all";
  const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  std::cout << "[ fd-check ] " << report.tensors << " tensors, " << report.entries << " entries, worst " << report.worst
            << " at " << report.worst_where << " (" << ms / std::max<int64_t>(1, 2 * report.entries)
            << " ms per forward)\n";
  return report;
}

}  // namespace fold::test
