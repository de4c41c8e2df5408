// The module reference data of an independent AlphaFold2 implementation
// (../shared/ref-modules/*.npz, see its README) for the Evoformer test suites: loading
// (skipped with a printed reason when absent), tolerances and the error measure.
#pragma once

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include <algorithm>
#include <cstdlib>
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

// Reads (once) <dir>/<name>.npz; nullptr when absent.
inline const Ref* load_ref_from(const fs::path& dir, const std::string& name) {
  static std::map<std::string, std::unique_ptr<Ref>> cache;
  const fs::path path = dir / (name + ".npz");
  auto it = cache.find(path.string());
  if (it != cache.end()) return it->second.get();
  if (!fs::exists(path)) return nullptr;
  auto ref = std::make_unique<Ref>();
  ref->name = name;
  ref->arrays = data::read_npz(path.string());
  ref->meta = nlohmann::json::parse(data::read_npz_text(path.string(), "meta"));
  return cache.emplace(path.string(), std::move(ref)).first->second.get();
}

// ../shared/ref-modules/<name>.npz.
inline const Ref* load_ref(const std::string& name) { return load_ref_from(ref_dir(), name); }

#define FOLD_LOAD_REF(var, name)                                                                      \
  const Ref* var = load_ref(name);                                                                    \
  if (var == nullptr)                                                                                 \
    GTEST_SKIP() << "reference data not present: " << (ref_dir() / (std::string(name) + ".npz")).string() \
                 << " (../shared/ref-modules is read in place)"

// The multimer modules' OpenFold values are made on demand, not kept (they come from
// running OpenFold): tools/parity/multimer-modules.sh writes them and points
// FOLD_OPENFOLD_MULTIMER_REF at the folder.
inline fs::path openfold_multimer_ref_dir() {
  const char* dir = std::getenv("FOLD_OPENFOLD_MULTIMER_REF");
  return dir ? fs::path(dir) : fs::path();
}

#define FOLD_LOAD_OPENFOLD_MULTIMER_REF(var, name)                                                          \
  if (openfold_multimer_ref_dir().empty())                                                                 \
    GTEST_SKIP() << "FOLD_OPENFOLD_MULTIMER_REF is not set: run tools/parity/multimer-modules.sh "         \
                    "--openfold DIR (an OpenFold checkout) to compare with OpenFold";                      \
  const Ref* var = load_ref_from(openfold_multimer_ref_dir(), name);                                       \
  ASSERT_NE(var, nullptr) << (openfold_multimer_ref_dir() / (std::string(name) + ".npz")).string() << " is missing"

// Copies param/<OpenFold name> into every parameter and buffer of `module`; each must be
// there with its shape, and every param/ array must be used.
inline void load_openfold_params(torch::nn::Module& module, const Ref& ref) {
  torch::NoGradGuard no_grad;
  size_t used = 0;
  for (auto& p : module.named_parameters()) {
    const torch::Tensor& v = ref.get("param/" + p.key());
    ASSERT_EQ(v.sizes(), p.value().sizes()) << p.key();
    p.value().copy_(v);
    ++used;
  }
  size_t stored = 0;
  for (const auto& [key, value] : ref.arrays) stored += key.rfind("param/", 0) == 0;
  EXPECT_EQ(used, stored) << ref.name << ": OpenFold has parameters the module lacks";
}

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

// Outputs out/<y> and input gradients grad/<x> against the reference's float32 values,
// each within its tolerance, but never below 1e-6: a float32 result whose float32 and
// float64 references happen to agree to 1e-9 still carries its own order of evaluation's
// rounding. Prints every error (and the one against float64).
inline void expect_matches_ref(const Ref& ref, const Tensors& outputs, const Tensors& grads = {}) {
  std::cout << "[ errors   ] " << ref.name << ":";
  for (const auto& [prefix, values] : {std::pair<std::string, const Tensors*>{"out/", &outputs}, {"grad/", &grads}})
    for (const auto& [key, value] : *values) {
      const std::string k = prefix + key;
      ASSERT_TRUE(value.defined()) << ref.name << ": no " << k;
      const std::string k64 = (prefix == "out/" ? "out64/" : "grad64/") + key;
      const double e = rel_err(value, ref.get(k)), e64 = rel_err(value, ref.get(k64));
      std::cout << " " << k << " " << e << " (vs float64 " << e64 << ")";
      EXPECT_LE(e, std::max(ref.tolerance(k), 1e-6)) << ref.name << " " << k;
    }
  std::cout << "\n";
}

}  // namespace fold::test::ref_modules
