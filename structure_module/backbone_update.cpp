#include "structure_module/backbone_update.h"

#include <torch/torch.h>

#include "evoformer/primitives.h"

namespace fold::structure {

BackboneUpdateImpl::BackboneUpdateImpl(int64_t c_s_) : c_s(c_s_) { reset(); }

void BackboneUpdateImpl::reset() {
  linear = register_module("linear", evoformer::make_linear(c_s, 6, true, evoformer::LinearInit::kFinal));
}

torch::Tensor BackboneUpdateImpl::forward(const torch::Tensor& s) {
  TORCH_CHECK(s.dim() >= 1 && s.size(-1) == c_s, "BackboneUpdate: s must be [*, ", c_s, "], got ", s.sizes());
  return linear(s);
}

}  // namespace fold::structure
