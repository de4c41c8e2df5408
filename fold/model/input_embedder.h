// AF2 Supplement Algorithm 3 (input embedder) with Algorithm 4 (relative position
// encoding): target_feat, residue_index and msa_feat -> the initial MSA and pair
// representations. Parameter names as OpenFold's InputEmbedder, and with
// use_chain_relative as its InputEmbedderMultimer (AF-Multimer's chain-aware relpos).
#pragma once

#include <torch/nn/cloneable.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/pimpl.h>
#include <torch/types.h>

#include <optional>
#include <utility>

namespace fold {

// What the relative position encoding reads of each residue: its residue_index, and for
// AF-Multimer its chain (asym_id), the chain's sequence (entity_id) and which copy of that
// sequence the chain is (sym_id). The chain ids are undefined for a monomer.
struct ResiduePositions {
  ResiduePositions(torch::Tensor residue_index) : residue_index(std::move(residue_index)) {}  // NOLINT: a monomer's
  ResiduePositions(torch::Tensor residue_index, torch::Tensor asym_id, torch::Tensor entity_id, torch::Tensor sym_id);
  bool has_chains() const { return asym_id.defined(); }
  // Residues start .. start + len - 1 (last dimension).
  ResiduePositions narrow(int64_t start, int64_t len) const;

  torch::Tensor residue_index, asym_id, entity_id, sym_id;
};

struct InputEmbedderOptions {
  InputEmbedderOptions(int64_t c_m, int64_t c_z) : c_m_(c_m), c_z_(c_z) {}
  TORCH_ARG(int64_t, c_m);
  TORCH_ARG(int64_t, c_z);
  TORCH_ARG(int64_t, tf_dim) = 22;   // model.input_embedder.tf_dim
  TORCH_ARG(int64_t, msa_dim) = 49;  // model.input_embedder.msa_dim
  TORCH_ARG(int64_t, relpos_k) = 32;  // clip of |i - j|; 2k + 1 bins (OpenFold's multimer max_relative_idx)
  // AF-Multimer: 2k + 2 position bins (the last: another chain), one "same entity"
  // channel, and 2c + 2 bins of the sym_id offset clipped to c = max_relative_chain
  // (the last: another entity).
  TORCH_ARG(bool, use_chain_relative) = false;
  TORCH_ARG(int64_t, max_relative_chain) = 2;

 public:
  int64_t relpos_channels() const {
    return use_chain_relative_ ? 2 * relpos_k_ + 2 + 1 + 2 * max_relative_chain_ + 2 : 2 * relpos_k_ + 1;
  }
};

// linear_tf_z_i, linear_tf_z_j (tf_dim -> c_z), linear_tf_m (tf_dim -> c_m),
// linear_msa_m (msa_dim -> c_m), linear_relpos (relpos_channels() -> c_z).
class InputEmbedderImpl : public torch::nn::Cloneable<InputEmbedderImpl> {
 public:
  explicit InputEmbedderImpl(const InputEmbedderOptions& options);
  void reset() override;

  // The relative position features of rows i (`rows`, [*, R]) against every residue j of
  // `all` ([*, N]), [*, R, N, relpos_channels()]: the one-hot of clip(r_i - r_j, -k, k)
  // (Algorithm 4), and with use_chain_relative the multimer features above. `rows`
  // defaults to `all`.
  torch::Tensor relpos_one_hot(const ResiduePositions& all,
                               const std::optional<ResiduePositions>& rows = std::nullopt) const;

  // target_feat [*, N, tf_dim], positions [*, N], msa_feat [*, S, N, msa_dim]
  // -> (msa [*, S, N, c_m], pair [*, N, N, c_z]): msa() and pair() below.
  std::pair<torch::Tensor, torch::Tensor> forward(const torch::Tensor& target_feat, const ResiduePositions& positions,
                                                  const torch::Tensor& msa_feat, int64_t chunk_size = 0);
  // The pair half: [*, N, N, c_z]. chunk_size: pair rows built at once (without autograd
  // straight into the result, so the one-hot never exists whole).
  torch::Tensor pair(const torch::Tensor& target_feat, const ResiduePositions& positions, int64_t chunk_size = 0);
  // The MSA half: [*, S, N, c_m]. Separate so that the model can build the MSA only
  // after the extra-MSA stack, which needs just the pair (alphafold.cpp).
  torch::Tensor msa(const torch::Tensor& target_feat, const torch::Tensor& msa_feat);

  InputEmbedderOptions options;
  torch::nn::Linear linear_tf_z_i{nullptr}, linear_tf_z_j{nullptr}, linear_tf_m{nullptr}, linear_msa_m{nullptr},
      linear_relpos{nullptr};
};
TORCH_MODULE(InputEmbedder);

}  // namespace fold
