// The module reference data of an independent AlphaFold2 implementation
// (../shared/ref-modules/*.npz, see its README) for the Evoformer test suites: loading
// (skipped with a printed reason when absent), tolerances and the error measure.
#pragma once

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "data/npz.h"

namespace fold::test::ref_modules {

namespace fs = std::filesystem;
using Tensors = std::map<std::string, torch::Tensor>;

// Two settings of a memory knob (low_memory, path, chunking, batching) agree to this
// relative error (max |diff| / max |value|).
constexpr double kTol = 1e-5;
// Against OpenFold: this multiple of the float32 vs float64 spread the reference data
// records for that array (<= 1e-6 relative for these modules, so <= 1e-5).
constexpr double kSpreadMultiple = 10.0;

inline fs::path ref_dir() { return fs::path(FOLD_SOURCE_DIR "/../shared/ref-modules"); }

struct Ref {
  std::string name;
  Tensors arrays;
  nlohmann::json meta;

  const torch::Tensor& get(const std::string& key) const {
    const auto it = arrays.find(key);
    if (it == arrays.end()) throw std::runtime_error(name + ".npz has no array '" + key + "'");
    return it->second;
  }
  const nlohmann::json& hyper() const { return meta.at("hyper"); }
  // The inputs in/<x>, keyed by x.
  Tensors inputs() const {
    Tensors in;
    for (const auto& [key, value] : arrays)
      if (key.rfind("in/", 0) == 0) in[key.substr(3)] = value;
    return in;
  }
  std::vector<std::string> grad_inputs() const { return meta.at("grad_inputs").get<std::vector<std::string>>(); }
  // The tolerance for comparing with `key` ("out/update", "grad/m"): kSpreadMultiple
  // times the recorded float32 vs float64 spread, kTol when none is recorded.
  double tolerance(const std::string& key) const {
    const auto spread = meta.value("f32_vs_f64", nlohmann::json::object());
    if (!spread.contains(key)) return kTol;
    return kSpreadMultiple * spread.at(key).at("max_rel_to_max").get<double>();
  }
};

// Reads (once) ../shared/ref-modules/<name>.npz; nullptr when absent.
inline const Ref* load_ref(const std::string& name) {
  static std::map<std::string, std::unique_ptr<Ref>> cache;
  auto it = cache.find(name);
  if (it != cache.end()) return it->second.get();
  const fs::path path = ref_dir() / (name + ".npz");
  if (!fs::exists(path)) return nullptr;
  auto ref = std::make_unique<Ref>();
  ref->name = name;
  ref->arrays = data::read_npz(path.string());
  ref->meta = nlohmann::json::parse(data::read_npz_text(path.string(), "meta"));
  return cache.emplace(name, std::move(ref)).first->second.get();
}

#define FOLD_LOAD_REF(var, name)                                                                      \
  const Ref* var = load_ref(name);                                                                    \
  if (var == nullptr)                                                                                 \
    GTEST_SKIP() << "reference data not present: " << (ref_dir() / (std::string(name) + ".npz")).string() \
                 << " (../shared/ref-modules is read in place)"

// max |a - b| / max |b| over the entries where `valid` is 1 (all when undefined).
inline double rel_err(const torch::Tensor& a, const torch::Tensor& b, const torch::Tensor& valid = {}) {
  torch::Tensor d = (a.to(torch::kDouble) - b.to(torch::kDouble)).abs();
  torch::Tensor s = b.to(torch::kDouble).abs();
  if (valid.defined()) {
    d = d * valid.to(torch::kDouble);
    s = s * valid.to(torch::kDouble);
  }
  return d.max().item<double>() / std::max(s.max().item<double>(), 1e-30);
}


}  // namespace fold::test::ref_modules
