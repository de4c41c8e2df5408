// Triangle self-attention, AF2 Supplement:
//   Algorithm 13  TriangleAttentionStartingNode (starting = true)
//   Algorithm 14  TriangleAttentionEndingNode   (starting = false)
// as OpenFold's openfold/model/triangular_attention.py (one TriangleAttention class with
// a `starting` flag and its state_dict names: layer_norm, linear, mha.*). The ending-node
// variant transposes the pair (and its mask) in and out, as OpenFold's
// TriangleAttention(starting=False) and AF2's per-column orientation do, so both variants
// take and return z in the same orientation. Returns the update; the residual add (and
// dropout) belongs to the caller.
#pragma once

#include <torch/nn/cloneable.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/pimpl.h>
#include <torch/types.h>

#include <optional>

#include "evoformer/attention.h"
#include "evoformer/axial_parallel.h"
#include "evoformer/primitives.h"
#include "kernels/attention.h"

namespace fold::evoformer {

struct TriangleAttentionOptions {
  TriangleAttentionOptions(int64_t c_in, int64_t c_hidden, int64_t no_heads)
      : c_in_(c_in), c_hidden_(c_hidden), no_heads_(no_heads) {}
  TORCH_ARG(int64_t, c_in);
  TORCH_ARG(int64_t, c_hidden);
  TORCH_ARG(int64_t, no_heads);
  // true: around the starting node (Algorithm 13); false: ending node (Algorithm 14).
  TORCH_ARG(bool, starting) = true;
  TORCH_ARG(double, inf) = 1e9;
  TORCH_ARG(kernels::AttentionOptions, kernel) = {};
};

// Parameters: layer_norm, linear (c_in -> H triangle bias, no bias term, normal init), mha.*.
//   starting: o_ij = sum_k a_ijk v_ik, a_ijk = softmax_k(q_ij k_ik / sqrt(c) + b_jk)
//   ending:   o_ij = sum_k a_ijk v_kj, a_ijk = softmax_k(q_ij k_kj / sqrt(c) + b_ki)
class TriangleAttentionImpl : public torch::nn::Cloneable<TriangleAttentionImpl> {
 public:
  explicit TriangleAttentionImpl(const TriangleAttentionOptions& options);
  void reset() override;
  void set_kernel_options(const kernels::AttentionOptions& kernel);
  // z [*, N, N, c_in], mask [*, N, N] (none = all ones); chunk_size slices the rows of
  // the (transposed, when ending) pair. Returns the update [*, N, N, c_in]. Under DAP,
  // z and mask hold this rank's rows (starting) or columns (ending) and the triangle
  // bias is all-gathered.
  torch::Tensor forward(const torch::Tensor& z, const std::optional<torch::Tensor>& mask = std::nullopt,
                        int64_t chunk_size = 0, const AxialParallel* dap = nullptr);
  // The inference path (memory_policy.h): z += the update, in place, without autograd.
  // The triangle bias is computed first (over chunks of rows), then each chunk of rows
  // (columns when ending) is normalised, attended and added where it came from: rows
  // only read themselves and the bias, so nothing a later chunk needs is overwritten.
  void add_update_(const torch::Tensor& z, const std::optional<torch::Tensor>& mask = std::nullopt,
                   int64_t chunk_size = 0);

  TriangleAttentionOptions options;
  LayerNorm layer_norm{nullptr};
  torch::nn::Linear linear{nullptr};
  Attention mha{nullptr};

 private:
  // The update of normalised rows `xs` ([*, R, J, C], oriented) from their mask bias
  // and the whole triangle bias: the one computation both paths share.
  torch::Tensor attend_rows(const torch::Tensor& xs, const torch::Tensor& bias_mask, const torch::Tensor& bias_tri);
  void check_pair(const torch::Tensor& z, int64_t split) const;
};
TORCH_MODULE(TriangleAttention);

}  // namespace fold::evoformer
