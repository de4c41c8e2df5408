// `--precision fp32|bf16|fp16` for training (ARCHITECTURE.md, Precision): fp32 master weights always.
// In low precision a working copy of the model holds the trunk in bf16/fp16 (the
// structure module, heads and losses stay fp32, LayerNorm and softmax statistics are fp32
// inside the kernels); forward and backward run on the copy, its gradients are moved
// onto the fp32 masters, the optimizer steps the masters and the copy is refreshed from
// them. This is explicit rather than an autocast switch, so it behaves the same on every
// LibTorch version.
#pragma once

#include <c10/core/ScalarType.h>

#include <string>
#include <utility>
#include <vector>

#include "fold/model/alphafold.h"

namespace fold::train {

enum class Precision { kFp32, kBf16, kFp16 };
// "fp32" | "bf16" | "fp16"; std::invalid_argument naming the value otherwise.
Precision parse_precision(const std::string& text);
c10::ScalarType trunk_dtype(Precision precision);

class MixedPrecisionModel {
 public:
  // Takes the fp32 master model.
  MixedPrecisionModel(AlphaFold master, Precision precision);

  AlphaFold& master() { return master_; }
  // What forward and backward run on (the master itself in fp32).
  AlphaFold& working() { return working_; }
  Precision precision() const { return precision_; }
  std::vector<std::pair<std::string, at::Tensor>> master_parameters();

  void zero_grad();
  // The working gradients times `factor` (1 / loss scale / accumulation) as fp32
  // master gradients. Returns whether every gradient is finite.
  bool gradients_to_master(double factor);
  // After the optimizer step (or a change of the masters): the copy follows the masters.
  void master_to_working();

 private:
  Precision precision_;
  AlphaFold master_, working_;
};

}  // namespace fold::train
