// MSA attention, AF2 Supplement:
//   Algorithm 7   MSARowAttentionWithPairBias
//   Algorithm 8   MSAColumnAttention
//   Algorithm 19  MSAColumnGlobalAttention (extra-MSA stack)
// as OpenFold's openfold/model/msa.py, with its state_dict names. Every module returns
// the update; the residual add (and dropout) belongs to the caller.
//
// Shapes: m [*, N_seq, N_res, c_m], z [*, N_res, N_res, c_z], mask [*, N_seq, N_res]
// (float {0, 1}; none = all ones). `*` may be empty. Masked keys get the additive bias
// inf * (mask - 1) (inf = 1e9, `model.evoformer_stack.inf`). chunk_size > 0 evaluates the
// attention over slices of the batch-like axis (a memory knob, same numbers).
#pragma once

#include <torch/nn/cloneable.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/pimpl.h>
#include <torch/types.h>

#include <optional>
#include <utility>

#include "evoformer/attention.h"
#include "evoformer/axial_parallel.h"
#include "evoformer/primitives.h"
#include "kernels/attention.h"

namespace fold::evoformer {

// OpenFold's MSAAttention: row-wise gated self-attention over an MSA, with an optional
// pair bias (Algorithm 7 lines 1-4 with bias, Algorithm 8 without).
struct MsaAttentionOptions {
  MsaAttentionOptions(int64_t c_in, int64_t c_hidden, int64_t no_heads)
      : c_in_(c_in), c_hidden_(c_hidden), no_heads_(no_heads) {}
  TORCH_ARG(int64_t, c_in);
  TORCH_ARG(int64_t, c_hidden);
  TORCH_ARG(int64_t, no_heads);
  TORCH_ARG(bool, pair_bias) = false;
  // Pair channels; only with pair_bias.
  TORCH_ARG(int64_t, c_z) = 0;
  TORCH_ARG(double, inf) = 1e9;
  TORCH_ARG(kernels::AttentionOptions, kernel) = {};
};

// The shared part: layer_norm_m, [layer_norm_z, linear_z (c_z -> H, no bias, normal
// init)], mha. Derived is the concrete module (CRTP, so that clone() copies it whole).
template <typename Derived>
class MsaAttentionBase : public torch::nn::Cloneable<Derived> {
 public:
  explicit MsaAttentionBase(const MsaAttentionOptions& options);
  void reset() override;
  // Kernel path / low_memory for this module and its attention.
  void set_kernel_options(const kernels::AttentionOptions& kernel);

  MsaAttentionOptions options;
  LayerNorm layer_norm_m{nullptr}, layer_norm_z{nullptr};
  torch::nn::Linear linear_z{nullptr};
  Attention mha{nullptr};

 protected:
  // Row attention of m [*, S, N, c_in]: each row attends over its N positions, keys
  // masked by mask [*, S, N], biased by z [*, N, N, c_z] when pair_bias. Under DAP
  // (dap set), z holds this rank's rows and the pair bias is all-gathered.
  torch::Tensor attend(const torch::Tensor& m, const std::optional<torch::Tensor>& z,
                       const std::optional<torch::Tensor>& mask, int64_t chunk_size,
                       const AxialParallel* dap = nullptr);
  // The inference path: m += the row attention's update, in place, chunk by chunk of
  // rows (a row only attends within itself). m may be a view (the column attention's
  // transpose); writes land in what it views.
  void attend_(const torch::Tensor& m, const std::optional<torch::Tensor>& z, const std::optional<torch::Tensor>& mask,
               int64_t chunk_size);

 private:
  // The key mask bias [*, S, 1, 1, N] of m and, with pair_bias, the pair bias
  // [*, 1, H, N, N] (gathered under DAP; over chunks of z's rows when chunk_size > 0
  // without autograd).
  std::pair<torch::Tensor, torch::Tensor> biases(const torch::Tensor& m, const std::optional<torch::Tensor>& z,
                                                 const std::optional<torch::Tensor>& mask, int64_t chunk_size,
                                                 const AxialParallel* dap);
  // The update of rows m_rows [*, R, N, c] with their mask bias [*, R, 1, 1, N] and the
  // pair bias [*, 1, H, N, N] (undefined without): what both paths compute per chunk.
  torch::Tensor attend_rows(const torch::Tensor& m_rows, const torch::Tensor& bias_mask, const torch::Tensor& bias_pair);
};

class MsaAttentionImpl final : public MsaAttentionBase<MsaAttentionImpl> {
 public:
  using MsaAttentionBase::MsaAttentionBase;
  torch::Tensor forward(const torch::Tensor& m, const std::optional<torch::Tensor>& z = std::nullopt,
                        const std::optional<torch::Tensor>& mask = std::nullopt, int64_t chunk_size = 0) {
    return attend(m, z, mask, chunk_size);
  }
  void add_update_(const torch::Tensor& m, const std::optional<torch::Tensor>& z = std::nullopt,
                   const std::optional<torch::Tensor>& mask = std::nullopt, int64_t chunk_size = 0) {
    attend_(m, z, mask, chunk_size);
  }
};
TORCH_MODULE(MsaAttention);

struct MsaRowAttentionWithPairBiasOptions {
  MsaRowAttentionWithPairBiasOptions(int64_t c_m, int64_t c_z, int64_t c_hidden, int64_t no_heads)
      : c_m_(c_m), c_z_(c_z), c_hidden_(c_hidden), no_heads_(no_heads) {}
  TORCH_ARG(int64_t, c_m);
  TORCH_ARG(int64_t, c_z);
  TORCH_ARG(int64_t, c_hidden);
  TORCH_ARG(int64_t, no_heads);
  TORCH_ARG(double, inf) = 1e9;
  TORCH_ARG(kernels::AttentionOptions, kernel) = {};
};

// Algorithm 7. Parameters: layer_norm_m, layer_norm_z, linear_z, mha.*.
class MsaRowAttentionWithPairBiasImpl final : public MsaAttentionBase<MsaRowAttentionWithPairBiasImpl> {
 public:
  explicit MsaRowAttentionWithPairBiasImpl(const MsaRowAttentionWithPairBiasOptions& options);
  // m [*, S, N, c_m], z [*, N, N, c_z], mask [*, S, N]. Returns the update [*, S, N, c_m].
  // Under DAP: m and mask hold this rank's sequences, z its rows.
  torch::Tensor forward(const torch::Tensor& m, const torch::Tensor& z,
                        const std::optional<torch::Tensor>& mask = std::nullopt, int64_t chunk_size = 0,
                        const AxialParallel* dap = nullptr);
  // Inference: m += the update, in place (MsaAttentionBase::attend_).
  void add_update_(const torch::Tensor& m, const torch::Tensor& z,
                   const std::optional<torch::Tensor>& mask = std::nullopt, int64_t chunk_size = 0) {
    attend_(m, z, mask, chunk_size);
  }
};
TORCH_MODULE(MsaRowAttentionWithPairBias);

struct MsaColumnAttentionOptions {
  MsaColumnAttentionOptions(int64_t c_m, int64_t c_hidden, int64_t no_heads)
      : c_m_(c_m), c_hidden_(c_hidden), no_heads_(no_heads) {}
  TORCH_ARG(int64_t, c_m);
  TORCH_ARG(int64_t, c_hidden);
  TORCH_ARG(int64_t, no_heads);
  TORCH_ARG(double, inf) = 1e9;
  TORCH_ARG(kernels::AttentionOptions, kernel) = {};
};

// Algorithm 8, as OpenFold: a row attention (submodule `_msa_att`, an MsaAttention
// without pair bias) on the transposed MSA. Parameters: _msa_att.layer_norm_m,
// _msa_att.mha.*.
class MsaColumnAttentionImpl : public torch::nn::Cloneable<MsaColumnAttentionImpl> {
 public:
  explicit MsaColumnAttentionImpl(const MsaColumnAttentionOptions& options);
  void reset() override;
  void set_kernel_options(const kernels::AttentionOptions& kernel);
  // m [*, S, N, c_m], mask [*, S, N]; chunk_size slices the residues. Returns [*, S, N, c_m].
  torch::Tensor forward(const torch::Tensor& m, const std::optional<torch::Tensor>& mask = std::nullopt,
                        int64_t chunk_size = 0);
  // Inference: m += the update, in place, chunk by chunk of columns.
  void add_update_(const torch::Tensor& m, const std::optional<torch::Tensor>& mask = std::nullopt,
                   int64_t chunk_size = 0);

  MsaColumnAttentionOptions options;
  MsaAttention _msa_att{nullptr};
};
TORCH_MODULE(MsaColumnAttention);

// The global attention's own options (c_in = c_e, c_hidden, no_heads, inf, eps; the AF2
// configs pass `model.extra_msa.extra_msa_stack.eps` = 1e-8).
using MsaColumnGlobalAttentionOptions = GlobalAttentionOptions;

// Algorithm 19. Parameters: layer_norm_m, global_attention.{linear_q, linear_k, linear_v,
// linear_g, linear_o}. Computed in ATen (its logits are [*, N_res, H, N_seq]); the
// kernel options do not apply.
class MsaColumnGlobalAttentionImpl : public torch::nn::Cloneable<MsaColumnGlobalAttentionImpl> {
 public:
  explicit MsaColumnGlobalAttentionImpl(const MsaColumnGlobalAttentionOptions& options);
  void reset() override;
  // m [*, S, N, c_in], mask [*, S, N]; chunk_size slices the residues. Returns [*, S, N, c_in].
  torch::Tensor forward(const torch::Tensor& m, const std::optional<torch::Tensor>& mask = std::nullopt,
                        int64_t chunk_size = 0);
  // Inference: m += the update, in place, chunk by chunk of columns.
  void add_update_(const torch::Tensor& m, const std::optional<torch::Tensor>& mask = std::nullopt,
                   int64_t chunk_size = 0);

  MsaColumnGlobalAttentionOptions options;
  LayerNorm layer_norm_m{nullptr};
  GlobalAttention global_attention{nullptr};

 private:
  // The update of columns m_cols [*, R, S, c] (transposed) with their mask [*, R, S].
  torch::Tensor attend_columns(const torch::Tensor& m_cols, const torch::Tensor& mask_cols);
};
TORCH_MODULE(MsaColumnGlobalAttention);

}  // namespace fold::evoformer
