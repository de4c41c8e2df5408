// The attention primitives of the Evoformer (OpenFold openfold/model/primitives.py):
//  - Attention: gated multi-head attention (AF2 Supplement Algorithms 7, 8, 13, 14 share
//    it), computed by kernels::attention, the one attention entry point;
//  - GlobalAttention: the single-key-head global attention of Algorithm 19 (extra-MSA
//    stack), in plain ATen since its logits are [*, N_res, H, N_seq], tiny.
#pragma once

#include <torch/nn/cloneable.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/pimpl.h>
#include <torch/types.h>

#include <vector>

#include "kernels/attention.h"

namespace fold::evoformer {

struct MhaOptions {
  MhaOptions(int64_t c_q, int64_t c_k, int64_t c_v, int64_t c_hidden, int64_t no_heads)
      : c_q_(c_q), c_k_(c_k), c_v_(c_v), c_hidden_(c_hidden), no_heads_(no_heads) {}
  TORCH_ARG(int64_t, c_q);
  TORCH_ARG(int64_t, c_k);
  TORCH_ARG(int64_t, c_v);
  // Channels per head.
  TORCH_ARG(int64_t, c_hidden);
  TORCH_ARG(int64_t, no_heads);
  TORCH_ARG(bool, gating) = true;
  // Path (`kernels.attention`) and low_memory (`globals.low_memory_attention`) of the
  // kernel; the scale stays 0, i.e. 1 / sqrt(c_hidden) as AF2.
  TORCH_ARG(kernels::AttentionOptions, kernel) = {};
};

// OpenFold's Attention: linear_q, linear_k, linear_v (no bias, Glorot), linear_o (bias,
// final init), linear_g (bias, gating init) when gating.
//   q, k, v = x W_{q,k,v} split into heads [*, H, L, C]
//   o = sigmoid(q_x W_g + b_g) * softmax(q k^T / sqrt(C) + sum(biases)) v
//   out = concat_heads(o) W_o + b_o
class AttentionImpl : public torch::nn::Cloneable<AttentionImpl> {
 public:
  explicit AttentionImpl(const MhaOptions& options);
  void reset() override;

  // q_x [*, Q, c_q], kv_x [*, K, c_k] (c_k == c_v); every bias broadcastable to
  // [*, H, Q, K]. Returns [*, Q, c_q].
  torch::Tensor forward(const torch::Tensor& q_x, const torch::Tensor& kv_x,
                        const std::vector<torch::Tensor>& biases = {});

  MhaOptions options;
  torch::nn::Linear linear_q{nullptr}, linear_k{nullptr}, linear_v{nullptr}, linear_o{nullptr},
      linear_g{nullptr};
};
TORCH_MODULE(Attention);

struct GlobalAttentionOptions {
  GlobalAttentionOptions(int64_t c_in, int64_t c_hidden, int64_t no_heads)
      : c_in_(c_in), c_hidden_(c_hidden), no_heads_(no_heads) {}
  TORCH_ARG(int64_t, c_in);
  TORCH_ARG(int64_t, c_hidden);
  TORCH_ARG(int64_t, no_heads);
  TORCH_ARG(double, inf) = 1e9;
  // Added to the mask count of the masked mean of the queries. OpenFold's default is
  // 1e-10; its AF2 configs pass globals.eps = 1e-8.
  TORCH_ARG(double, eps) = 1e-10;
};

// OpenFold's GlobalAttention (Algorithm 19, lines 2-7): one query per column (the masked
// mean over rows), H query heads against a single shared key/value head.
// linear_q (no bias) c_in -> H*C, linear_k / linear_v (no bias) c_in -> C, linear_g
// (gating) c_in -> H*C, linear_o (final) H*C -> c_in.
class GlobalAttentionImpl : public torch::nn::Cloneable<GlobalAttentionImpl> {
 public:
  explicit GlobalAttentionImpl(const GlobalAttentionOptions& options);
  void reset() override;

  // m [*, N_res, N_seq, c_in] (already transposed and normalised), mask [*, N_res, N_seq].
  // Returns [*, N_res, N_seq, c_in].
  torch::Tensor forward(const torch::Tensor& m, const torch::Tensor& mask);

  GlobalAttentionOptions options;
  torch::nn::Linear linear_q{nullptr}, linear_k{nullptr}, linear_v{nullptr}, linear_g{nullptr},
      linear_o{nullptr};
};
TORCH_MODULE(GlobalAttention);

}  // namespace fold::evoformer
