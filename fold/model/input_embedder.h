// AF2 Supplement Algorithm 3 (input embedder) with Algorithm 4 (relative position
// encoding): target_feat, residue_index and msa_feat -> the initial MSA and pair
// representations. Parameter names as OpenFold's (monomer) InputEmbedder.
#pragma once

#include <torch/nn/cloneable.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/pimpl.h>
#include <torch/types.h>

#include <optional>
#include <utility>

namespace fold {

struct InputEmbedderOptions {
  InputEmbedderOptions(int64_t c_m, int64_t c_z) : c_m_(c_m), c_z_(c_z) {}
  TORCH_ARG(int64_t, c_m);
  TORCH_ARG(int64_t, c_z);
  TORCH_ARG(int64_t, tf_dim) = 22;   // model.input_embedder.tf_dim
  TORCH_ARG(int64_t, msa_dim) = 49;  // model.input_embedder.msa_dim
  TORCH_ARG(int64_t, relpos_k) = 32;  // clip of |i - j|; 2k + 1 bins
};

// linear_tf_z_i, linear_tf_z_j (tf_dim -> c_z), linear_tf_m (tf_dim -> c_m),
// linear_msa_m (msa_dim -> c_m), linear_relpos (2k + 1 -> c_z).
class InputEmbedderImpl : public torch::nn::Cloneable<InputEmbedderImpl> {
 public:
  explicit InputEmbedderImpl(const InputEmbedderOptions& options);
  void reset() override;

  // One-hot of clip(r_i - r_j, -k, k) (Algorithm 4), [*, N, N, 2k + 1]; of rows i from
  // `rows` ([*, R]) against every j of residue_index when given.
  torch::Tensor relpos_one_hot(const torch::Tensor& residue_index,
                               const std::optional<torch::Tensor>& rows = std::nullopt) const;

  // target_feat [*, N, tf_dim], residue_index [*, N], msa_feat [*, S, N, msa_dim]
  // -> (msa [*, S, N, c_m], pair [*, N, N, c_z]): msa() and pair() below.
  std::pair<torch::Tensor, torch::Tensor> forward(const torch::Tensor& target_feat, const torch::Tensor& residue_index,
                                                  const torch::Tensor& msa_feat, int64_t chunk_size = 0);
  // The pair half: [*, N, N, c_z]. chunk_size: pair rows built at once (without autograd
  // straight into the result, so the one-hot never exists whole).
  torch::Tensor pair(const torch::Tensor& target_feat, const torch::Tensor& residue_index, int64_t chunk_size = 0);
  // The MSA half: [*, S, N, c_m]. Separate so that the model can build the MSA only
  // after the extra-MSA stack, which needs just the pair (alphafold.cpp).
  torch::Tensor msa(const torch::Tensor& target_feat, const torch::Tensor& msa_feat);

  InputEmbedderOptions options;
  torch::nn::Linear linear_tf_z_i{nullptr}, linear_tf_z_j{nullptr}, linear_tf_m{nullptr}, linear_msa_m{nullptr},
      linear_relpos{nullptr};
};
TORCH_MODULE(InputEmbedder);

}  // namespace fold
