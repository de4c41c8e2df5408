// The building blocks the model's modules share (evoformer/, structure_module/, fold/),
// as OpenFold's openfold/model/primitives.py: Linear with the AF2 initialisers
// (Supplement 1.11.4), the LayerNorm module over kernels::layer_norm, the attention mask
// bias, chunked evaluation and shared dropout. Its own target, fold_primitives, below
// both the Evoformer and the structure module (ARCHITECTURE.md).
#pragma once

#include <torch/nn/cloneable.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/pimpl.h>
#include <torch/types.h>

#include <functional>
#include <optional>

namespace fold::evoformer {

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

// The additive attention bias of a {0, 1} mask: inf * (mask - 1), i.e. 0 where the mask
// is 1 and -inf where it is 0 (AF2 and OpenFold use the finite inf = 1e9), in `dtype`.
torch::Tensor mask_bias(const torch::Tensor& mask, double inf, torch::ScalarType dtype);

// Evaluates fn(start, length) over [0, n) in slices of `chunk_size` and concatenates the
// results along `dim` (chunk_size <= 0 or >= n: one call). A memory knob only: every
// chunk size gives the same numbers (OpenFold's chunk_layer).
torch::Tensor chunked(int64_t n, int64_t chunk_size, int64_t dim,
                      const std::function<torch::Tensor(int64_t, int64_t)>& fn);

// Calls fn(start, length) over [0, n) in slices of `chunk_size` (<= 0 or >= n: one
// call): the in-place inference path, whose chunks write their results where they
// belong instead of returning them for a concatenation.
void for_each_chunk(int64_t n, int64_t chunk_size, const std::function<void(int64_t, int64_t)>& fn);

// The in-place inference path (memory_policy.h, `inplace`) needs autograd off: an
// in-place residual update would overwrite what backward needs. Throws naming `who`.
void check_inference_mode(const char* who);

// A tensor the caller may overwrite: `t` itself when this is the only reference to it
// and to its storage (the caller gave it up with std::move), else a contiguous copy.
// So an in-place stack never changes a tensor someone else still holds.
torch::Tensor writable(torch::Tensor t);

// The per-head attention bias [*, H, I, J] of a pair [*, I, J, c]:
// linear(norm(z)) with the heads moved before the rows (the MSA row attention's pair
// bias, the triangle attentions' triangle bias). Without autograd and with
// chunk_size > 0 it is computed over chunks of rows into one buffer, so the normalised
// pair never exists whole.
torch::Tensor pair_bias(const torch::Tensor& z, LayerNormImpl& norm, torch::nn::LinearImpl& linear,
                        int64_t chunk_size);

// AF2's shared dropout (Supplement 1.11.6; OpenFold's DropoutRowwise / DropoutColumnwise):
// one mask, scaled by 1 / (1 - p), shared along `shared_dim` of x (-3 = rowwise: the same
// mask for every row of an MSA or pair; -2 = columnwise). Identity when not training or
// p == 0. Draws from the default generator of x's device.
torch::Tensor shared_dropout(const torch::Tensor& x, double p, int64_t shared_dim, bool training);

}  // namespace fold::evoformer
