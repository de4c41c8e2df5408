// AF2 Supplement Algorithm 22: Invariant Point Attention (IPA), with OpenFold's
// parameter names (openfold/model/structure_module.py InvariantPointAttention, monomer):
// linear_q, linear_kv, linear_q_points.linear, linear_kv_points.linear, linear_b,
// head_weights, linear_out; with `multimer`, InvariantPointAttentionMultimer's:
// linear_q, linear_k, linear_v (no biases), linear_{q,k,v}_points.linear, linear_b,
// head_weights, linear_out.
//
// Attention of residue i to j mixes three logits per head h:
//   sqrt(1/(3 C)) q_i . k_j  +  sqrt(1/3) b_ij
//   - 1/2 * softplus(head_weights_h) * sqrt(2 / (9 P_qk)) * sum_p |T_i q_ip - T_j k_jp|^2
// (plus the mask bias inf * (mask_i mask_j - 1)); the outputs are the scalar values, the
// value points mapped back into frame i (and their norms) and the pair features, all
// attention-weighted, concatenated and projected to c_s. Invariant under any global
// rigid motion of the frames.
#pragma once

#include <torch/nn/cloneable.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/pimpl.h>
#include <torch/types.h>

#include <functional>

#include "structure_module/rigid.h"

namespace fold::structure {

// Local points from the single representation, mapped to the global frame: OpenFold's
// PointProjection. linear: c_s -> H * P * 3, read as 3 blocks (x, y, z) of H * P (AF2's
// monomer layout: jnp.split(..., 3, axis=-1)), each head-major; with per_head (AF-
// Multimer's), as H blocks of 3 blocks (x, y, z) of P.
struct PointProjectionOptions {
  PointProjectionOptions(int64_t c_in, int64_t no_points, int64_t no_heads)
      : c_in_(c_in), no_points_(no_points), no_heads_(no_heads) {}
  TORCH_ARG(int64_t, c_in);
  TORCH_ARG(int64_t, no_points);
  TORCH_ARG(int64_t, no_heads);
  TORCH_ARG(bool, per_head) = false;
};

class PointProjectionImpl : public torch::nn::Cloneable<PointProjectionImpl> {
 public:
  explicit PointProjectionImpl(const PointProjectionOptions& options);
  void reset() override;
  // s [*, N, c_in], frames of batch shape [*, N] -> global points [*, N, H, P, 3].
  torch::Tensor forward(const torch::Tensor& s, const Rigid& frames);

  PointProjectionOptions options;
  torch::nn::Linear linear{nullptr};
};
TORCH_MODULE(PointProjection);

struct InvariantPointAttentionOptions {
  InvariantPointAttentionOptions(int64_t c_s, int64_t c_z, int64_t c_hidden, int64_t no_heads, int64_t no_qk_points,
                                 int64_t no_v_points)
      : c_s_(c_s),
        c_z_(c_z),
        c_hidden_(c_hidden),
        no_heads_(no_heads),
        no_qk_points_(no_qk_points),
        no_v_points_(no_v_points) {}
  TORCH_ARG(int64_t, c_s);           // 384
  TORCH_ARG(int64_t, c_z);           // 128
  TORCH_ARG(int64_t, c_hidden);      // c_ipa, 16
  TORCH_ARG(int64_t, no_heads);      // 12
  TORCH_ARG(int64_t, no_qk_points);  // 4
  TORCH_ARG(int64_t, no_v_points);   // 8
  TORCH_ARG(double, inf) = 1e5;      // mask bias magnitude (AF2 / OpenFold)
  TORCH_ARG(double, eps) = 1e-8;     // inside the output point norms
  // AF-Multimer's IPA (OpenFold's InvariantPointAttentionMultimer): the parameter layout
  // above; the same logits, except that the mask bias is scaled by sqrt(1/3) with the
  // rest, and the output point norms are clamped at eps^2 instead of adding eps.
  TORCH_ARG(bool, multimer) = false;
};

// The normalised pair as IPA reads it (the pair bias and the pair output): whole, or,
// for long proteins without autograd, `rows(start, length)` normalising just those rows
// of [*, N, N, c_z] on demand. IPA then attends `chunk_size` query rows at a time (a
// query row reads only its own row of the pair), so neither the normalised pair nor
// the [H, N, N] logits exist whole.
struct NormalisedPair {
  torch::Tensor whole;
  std::function<torch::Tensor(int64_t start, int64_t length)> rows;
  int64_t n = 0, chunk_size = 0;
};

class InvariantPointAttentionImpl : public torch::nn::Cloneable<InvariantPointAttentionImpl> {
 public:
  explicit InvariantPointAttentionImpl(const InvariantPointAttentionOptions& options);
  void reset() override;
  // s [*, N, c_s], z [*, N, N, c_z], frames of batch shape [*, N] (translations in the
  // structure module's units), mask [*, N] -> single update [*, N, c_s].
  torch::Tensor forward(const torch::Tensor& s, const torch::Tensor& z, const Rigid& frames,
                        const torch::Tensor& mask);
  // The same with the normalised pair whole or row by row (same numbers).
  torch::Tensor attend(const torch::Tensor& s, const NormalisedPair& z, const Rigid& frames, const torch::Tensor& mask);

  InvariantPointAttentionOptions options;
  torch::nn::Linear linear_q{nullptr}, linear_kv{nullptr}, linear_b{nullptr}, linear_out{nullptr};
  PointProjection linear_q_points{nullptr}, linear_kv_points{nullptr};
  // multimer: separate key and value projections instead of linear_kv(_points).
  torch::nn::Linear linear_k{nullptr}, linear_v{nullptr};
  PointProjection linear_k_points{nullptr}, linear_v_points{nullptr};
  torch::Tensor head_weights;  // [H], softplus'ed; starts at softplus^-1(1)
};
TORCH_MODULE(InvariantPointAttention);

}  // namespace fold::structure
