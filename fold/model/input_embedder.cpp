#include "fold/model/input_embedder.h"

#include <torch/torch.h>

#include "evoformer/primitives.h"

namespace fold {

using evoformer::LinearInit;
using evoformer::make_linear;

InputEmbedderImpl::InputEmbedderImpl(const InputEmbedderOptions& o) : options(o) { reset(); }

void InputEmbedderImpl::reset() {
  const auto& o = options;
  linear_tf_z_i = register_module("linear_tf_z_i", make_linear(o.tf_dim(), o.c_z(), true, LinearInit::kDefault));
  linear_tf_z_j = register_module("linear_tf_z_j", make_linear(o.tf_dim(), o.c_z(), true, LinearInit::kDefault));
  linear_tf_m = register_module("linear_tf_m", make_linear(o.tf_dim(), o.c_m(), true, LinearInit::kDefault));
  linear_msa_m = register_module("linear_msa_m", make_linear(o.msa_dim(), o.c_m(), true, LinearInit::kDefault));
  linear_relpos =
      register_module("linear_relpos", make_linear(2 * o.relpos_k() + 1, o.c_z(), true, LinearInit::kDefault));
}

torch::Tensor InputEmbedderImpl::relpos_one_hot(const torch::Tensor& residue_index,
                                                const std::optional<torch::Tensor>& rows) const {
  const int64_t k = options.relpos_k();
  const torch::Tensor ri = residue_index.to(torch::kLong);
  const torch::Tensor ri_rows = rows ? rows->to(torch::kLong) : ri;
  // The nearest of the bins -k..k is the clipped offset.
  const torch::Tensor d = (ri_rows.unsqueeze(-1) - ri.unsqueeze(-2)).clamp(-k, k) + k;
  return torch::one_hot(d, 2 * k + 1);
}

std::pair<torch::Tensor, torch::Tensor> InputEmbedderImpl::forward(const torch::Tensor& target_feat,
                                                                   const torch::Tensor& residue_index,
                                                                   const torch::Tensor& msa_feat, int64_t chunk_size) {
  return {msa(target_feat, msa_feat), pair(target_feat, residue_index, chunk_size)};
}

torch::Tensor InputEmbedderImpl::pair(const torch::Tensor& target_feat, const torch::Tensor& residue_index,
                                      int64_t chunk_size) {
  TORCH_CHECK(target_feat.size(-1) == options.tf_dim(), "InputEmbedder: target_feat has ", target_feat.size(-1),
              " channels, expected tf_dim ", options.tf_dim());
  TORCH_CHECK(residue_index.sizes() == target_feat.sizes().slice(0, target_feat.dim() - 1),
              "InputEmbedder: residue_index ", residue_index.sizes(), " must be target_feat's [*, N] ",
              target_feat.sizes());
  const torch::Tensor tf_i = linear_tf_z_i(target_feat), tf_j = linear_tf_z_j(target_feat);
  return evoformer::chunked(target_feat.size(-2), chunk_size, -3, [&](int64_t start, int64_t len) {
    const torch::Tensor one_hot = relpos_one_hot(residue_index, residue_index.narrow(-1, start, len));
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
