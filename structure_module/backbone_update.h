// AF2 Supplement Algorithm 23: backbone update. One linear layer (OpenFold's
// BackboneUpdate, parameter `linear`, init "final") predicts [*, N, 6] = (b, c, d, t):
// the rotation is the normalised quaternion (1, b, c, d), the translation t; the caller
// composes it onto the current frames (Rigid::compose_update_vec, or the quaternion
// update of the structure module).
#pragma once

#include <torch/nn/cloneable.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/pimpl.h>
#include <torch/types.h>

namespace fold::structure {

class BackboneUpdateImpl : public torch::nn::Cloneable<BackboneUpdateImpl> {
 public:
  explicit BackboneUpdateImpl(int64_t c_s);
  void reset() override;
  // s [*, N, c_s] -> update vector [*, N, 6] = (b, c, d, tx, ty, tz).
  torch::Tensor forward(const torch::Tensor& s);

  int64_t c_s;
  torch::nn::Linear linear{nullptr};
};
TORCH_MODULE(BackboneUpdate);

}  // namespace fold::structure
