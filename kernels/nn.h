// The two neural-network building blocks every model folder shares (evoformer/,
// structure_module/, fold/): Linear layers initialised as OpenFold's primitives.py
// (AF2 Supplement 1.11.4) and the LayerNorm module over kernels::layer_norm. They live
// in kernels/ because that is the one library all model folders may depend on.
#pragma once

#include <torch/nn/cloneable.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/pimpl.h>
#include <torch/types.h>

namespace fold::kernels {

// OpenFold's Linear `init=` names: default (LeCun truncated normal), relu (He truncated
// normal), glorot (Xavier uniform), gating (weight 0, bias 1), normal (Kaiming normal,
// linear gain), final (weight 0, bias 0). Biases start at 0 unless gating.
enum class LinearInit { kDefault, kRelu, kGlorot, kGating, kNormal, kFinal };

// A torch::nn::Linear (parameters `weight` [out, in] and `bias` [out], the names of
// OpenFold's Linear, which subclasses nn.Linear) initialised as OpenFold does.
torch::nn::Linear make_linear(int64_t in, int64_t out, bool bias, LinearInit init);
// Re-draws an existing Linear's parameters with `init`.
void init_linear(torch::nn::LinearImpl& linear, LinearInit init);

struct LayerNormOptions {
  /* implicit */ LayerNormOptions(int64_t c) : c_(c) {}
  TORCH_ARG(int64_t, c);
  // AF2 (Haiku) and OpenFold both use 1e-5.
  TORCH_ARG(double, eps) = 1e-5;
};

// LayerNorm over the last dim with `weight` (ones) and `bias` (zeros), OpenFold's names;
// runs kernels::layer_norm (fp32 statistics for low-precision inputs).
class LayerNormImpl : public torch::nn::Cloneable<LayerNormImpl> {
 public:
  explicit LayerNormImpl(const LayerNormOptions& options);
  void reset() override;
  torch::Tensor forward(const torch::Tensor& x);

  LayerNormOptions options;
  torch::Tensor weight, bias;
};
TORCH_MODULE(LayerNorm);

// A module holding one Linear named `linear`: the shape OpenFold gives its one-layer
// embedders and heads (extra_msa_embedder.linear, template_pair_embedder.linear,
// aux_heads.distogram.linear, ...), so that their state_dict names match.
class LinearModuleImpl : public torch::nn::Cloneable<LinearModuleImpl> {
 public:
  LinearModuleImpl(int64_t c_in, int64_t c_out, LinearInit init);
  void reset() override;
  torch::Tensor forward(const torch::Tensor& x) { return linear(x); }

  int64_t c_in, c_out;
  LinearInit init;
  torch::nn::Linear linear{nullptr};
};
TORCH_MODULE(LinearModule);

}  // namespace fold::kernels
