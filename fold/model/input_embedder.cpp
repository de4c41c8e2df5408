#include "fold/model/input_embedder.h"

#include <torch/torch.h>

#include "evoformer/primitives.h"

namespace fold {

using evoformer::LinearInit;
using evoformer::make_linear;

ResiduePositions::ResiduePositions(torch::Tensor residue_index, torch::Tensor asym_id, torch::Tensor entity_id,
                                   torch::Tensor sym_id)
    : residue_index(std::move(residue_index)),
      asym_id(std::move(asym_id)),
      entity_id(std::move(entity_id)),
      sym_id(std::move(sym_id)) {
  using Named = std::pair<const char*, const torch::Tensor*>;
  for (const auto& [name, id] : {Named{"asym_id", &this->asym_id}, Named{"entity_id", &this->entity_id},
                                 Named{"sym_id", &this->sym_id}})
    TORCH_CHECK(id->sizes() == this->residue_index.sizes(), "ResiduePositions: ", name, " ", id->sizes(),
                " must be residue_index's shape ", this->residue_index.sizes());
}

ResiduePositions ResiduePositions::narrow(int64_t start, int64_t len) const {
  if (!has_chains()) return ResiduePositions(residue_index.narrow(-1, start, len));
  return {residue_index.narrow(-1, start, len), asym_id.narrow(-1, start, len), entity_id.narrow(-1, start, len),
          sym_id.narrow(-1, start, len)};
}

InputEmbedderImpl::InputEmbedderImpl(const InputEmbedderOptions& o) : options(o) { reset(); }

void InputEmbedderImpl::reset() {
  const auto& o = options;
  linear_tf_z_i = register_module("linear_tf_z_i", make_linear(o.tf_dim(), o.c_z(), true, LinearInit::kDefault));
  linear_tf_z_j = register_module("linear_tf_z_j", make_linear(o.tf_dim(), o.c_z(), true, LinearInit::kDefault));
  linear_tf_m = register_module("linear_tf_m", make_linear(o.tf_dim(), o.c_m(), true, LinearInit::kDefault));
  linear_msa_m = register_module("linear_msa_m", make_linear(o.msa_dim(), o.c_m(), true, LinearInit::kDefault));
  linear_relpos =
      register_module("linear_relpos", make_linear(o.relpos_channels(), o.c_z(), true, LinearInit::kDefault));
}

namespace {

// [*, R, N]: the pairwise difference of an id, rows against all.
torch::Tensor offsets(const torch::Tensor& rows, const torch::Tensor& all) {
  return rows.to(torch::kLong).unsqueeze(-1) - all.to(torch::kLong).unsqueeze(-2);
}

}  // namespace

torch::Tensor InputEmbedderImpl::relpos_one_hot(const ResiduePositions& all,
                                                const std::optional<ResiduePositions>& rows_given) const {
  const ResiduePositions& rows = rows_given ? *rows_given : all;
  const int64_t k = options.relpos_k();
  // The nearest of the bins -k..k is the clipped offset.
  const torch::Tensor position = offsets(rows.residue_index, all.residue_index).clamp(-k, k) + k;
  if (!options.use_chain_relative()) return torch::one_hot(position, 2 * k + 1);
  TORCH_CHECK(all.has_chains() && rows.has_chains(),
              "InputEmbedder: use_chain_relative (AF-Multimer) needs asym_id, entity_id and sym_id");
  const int64_t c = options.max_relative_chain();
  const torch::Tensor same_chain = offsets(rows.asym_id, all.asym_id).eq(0);
  const torch::Tensor same_entity = offsets(rows.entity_id, all.entity_id).eq(0);
  // Residue offsets only count within a chain, and copy offsets only within an entity;
  // across, each has a bin of its own.
  const torch::Tensor chain_copy = offsets(rows.sym_id, all.sym_id).clamp(-c, c) + c;
  return torch::cat({torch::one_hot(torch::where(same_chain, position, 2 * k + 1), 2 * k + 2),
                     same_entity.unsqueeze(-1).to(torch::kLong),
                     torch::one_hot(torch::where(same_entity, chain_copy, 2 * c + 1), 2 * c + 2)},
                    -1);
}

std::pair<torch::Tensor, torch::Tensor> InputEmbedderImpl::forward(const torch::Tensor& target_feat,
                                                                   const ResiduePositions& positions,
                                                                   const torch::Tensor& msa_feat, int64_t chunk_size) {
  return {msa(target_feat, msa_feat), pair(target_feat, positions, chunk_size)};
}

torch::Tensor InputEmbedderImpl::pair(const torch::Tensor& target_feat, const ResiduePositions& positions,
                                      int64_t chunk_size) {
  const torch::Tensor& residue_index = positions.residue_index;
  TORCH_CHECK(target_feat.size(-1) == options.tf_dim(), "InputEmbedder: target_feat has ", target_feat.size(-1),
              " channels, expected tf_dim ", options.tf_dim());
  TORCH_CHECK(residue_index.sizes() == target_feat.sizes().slice(0, target_feat.dim() - 1),
              "InputEmbedder: residue_index ", residue_index.sizes(), " must be target_feat's [*, N] ",
              target_feat.sizes());
  const torch::Tensor tf_i = linear_tf_z_i(target_feat), tf_j = linear_tf_z_j(target_feat);
  return evoformer::chunked(target_feat.size(-2), chunk_size, -3, [&](int64_t start, int64_t len) {
    const torch::Tensor one_hot = relpos_one_hot(positions, positions.narrow(start, len));
    return linear_relpos(one_hot.to(target_feat.scalar_type())) + tf_i.narrow(-2, start, len).unsqueeze(-2) +
           tf_j.unsqueeze(-3);
  });
}

torch::Tensor InputEmbedderImpl::msa(const torch::Tensor& target_feat, const torch::Tensor& msa_feat) {
  TORCH_CHECK(target_feat.size(-1) == options.tf_dim(), "InputEmbedder: target_feat has ", target_feat.size(-1),
              " channels, expected tf_dim ", options.tf_dim());
  TORCH_CHECK(msa_feat.size(-1) == options.msa_dim(), "InputEmbedder: msa_feat has ", msa_feat.size(-1),
              " channels, expected msa_dim ", options.msa_dim());
  // In place on the projection (its backward needs neither it nor the sum).
  return linear_msa_m(msa_feat).add_(linear_tf_m(target_feat).unsqueeze(-3));
}

}  // namespace fold
