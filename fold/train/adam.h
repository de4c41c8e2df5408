// Adam (Kingma & Ba 2015) as AF2 trains with it (Supplement 1.11.3: beta1 0.9, beta2
// 0.999; OpenFold uses eps 1e-6 in its config), stepping named fp32 master parameters.
// Its state is a map of named tensors, so a checkpoint stores it as one safetensors file
// and a ZeRO shard (an Adam over the owned parameters only) is a subset of the same names.
#pragma once

#include <ATen/core/Tensor.h>

#include <map>
#include <string>
#include <utility>
#include <vector>

namespace fold::train {

struct AdamOptions {
  double beta1 = 0.9, beta2 = 0.999, eps = 1e-6;
};

class Adam {
 public:
  Adam(std::vector<std::pair<std::string, at::Tensor>> params, AdamOptions options);

  // One update of every parameter with a defined .grad(), at learning rate `lr`: the
  // moments, then p -= lr / (1 - beta1^t) * m / (sqrt(v / (1 - beta2^t)) + eps).
  void step(double lr);
  int64_t steps() const { return step_; }
  // The bytes the moments take (what ZeRO shards over the data-parallel ranks).
  int64_t state_bytes() const;

  // "step", "exp_avg/<name>", "exp_avg_sq/<name>" (moments of parameters not yet
  // stepped are absent).
  std::map<std::string, at::Tensor> state() const;
  // The inverse of state(); the names must match this optimizer's parameters and
  // shapes, or std::invalid_argument names the first offender and `source`.
  void load_state(const std::map<std::string, at::Tensor>& state, const std::string& source);

 private:
  std::vector<std::pair<std::string, at::Tensor>> params_;
  AdamOptions options_;
  int64_t step_ = 0;
  std::map<std::string, std::pair<at::Tensor, at::Tensor>> moments_;  // name -> (m, v)
};

}  // namespace fold::train
