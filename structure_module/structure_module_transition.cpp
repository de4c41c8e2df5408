#include "structure_module/structure_module_transition.h"

#include <torch/torch.h>

namespace fold::structure {

using evoformer::LinearInit;
using evoformer::make_linear;

StructureModuleTransitionLayerImpl::StructureModuleTransitionLayerImpl(int64_t c_) : c(c_) { reset(); }

void StructureModuleTransitionLayerImpl::reset() {
  linear_1 = register_module("linear_1", make_linear(c, c, true, LinearInit::kRelu));
  linear_2 = register_module("linear_2", make_linear(c, c, true, LinearInit::kRelu));
  linear_3 = register_module("linear_3", make_linear(c, c, true, LinearInit::kFinal));
}

torch::Tensor StructureModuleTransitionLayerImpl::forward(const torch::Tensor& s) {
  return s + linear_3(torch::relu(linear_2(torch::relu(linear_1(s)))));
}

StructureModuleTransitionImpl::StructureModuleTransitionImpl(const StructureModuleTransitionOptions& o) : options(o) {
  reset();
}

void StructureModuleTransitionImpl::reset() {
  layers = register_module("layers", torch::nn::ModuleList());
  for (int64_t i = 0; i < options.no_layers(); ++i) layers->push_back(StructureModuleTransitionLayer(options.c()));
  layer_norm = register_module("layer_norm", evoformer::LayerNorm(options.c()));
}

torch::Tensor StructureModuleTransitionImpl::forward(const torch::Tensor& s) {
  TORCH_CHECK(s.size(-1) == options.c(), "StructureModuleTransition: s must be [*, ", options.c(), "], got ",
              s.sizes());
  torch::Tensor x = s;
  for (const auto& layer : *layers) x = layer->as<StructureModuleTransitionLayer>()->forward(x);
  return layer_norm(torch::dropout(x, options.dropout_rate(), is_training()));
}

}  // namespace fold::structure
