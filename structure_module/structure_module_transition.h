// The transition of AF2 Supplement Algorithm 20 (lines 8-9): a residual 3-layer MLP,
// dropout and LayerNorm, as OpenFold's StructureModuleTransition(+Layer) (parameter names
// layers.{i}.linear_1 / linear_2 / linear_3, layer_norm):
//   s = s + linear_3(relu(linear_2(relu(linear_1(s)))))   (no_layers times)
//   s = layer_norm(dropout(s))
#pragma once

#include <torch/nn/cloneable.h>
#include <torch/nn/modules/container/modulelist.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/pimpl.h>
#include <torch/types.h>

#include "evoformer/primitives.h"

namespace fold::structure {

class StructureModuleTransitionLayerImpl : public torch::nn::Cloneable<StructureModuleTransitionLayerImpl> {
 public:
  explicit StructureModuleTransitionLayerImpl(int64_t c);
  void reset() override;
  torch::Tensor forward(const torch::Tensor& s);

  int64_t c;
  torch::nn::Linear linear_1{nullptr}, linear_2{nullptr}, linear_3{nullptr};  // relu, relu, final
};
TORCH_MODULE(StructureModuleTransitionLayer);

struct StructureModuleTransitionOptions {
  /* implicit */ StructureModuleTransitionOptions(int64_t c) : c_(c) {}
  TORCH_ARG(int64_t, c);
  TORCH_ARG(int64_t, no_layers) = 1;
  TORCH_ARG(double, dropout_rate) = 0.1;
};

class StructureModuleTransitionImpl : public torch::nn::Cloneable<StructureModuleTransitionImpl> {
 public:
  explicit StructureModuleTransitionImpl(const StructureModuleTransitionOptions& options);
  void reset() override;
  torch::Tensor forward(const torch::Tensor& s);

  StructureModuleTransitionOptions options;
  torch::nn::ModuleList layers{nullptr};
  evoformer::LayerNorm layer_norm{nullptr};
};
TORCH_MODULE(StructureModuleTransition);

}  // namespace fold::structure
