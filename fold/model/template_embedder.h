// The template embedding of AF2 (Supplement Algorithm 2 lines 7-13; 1.7.1): template
// features -> a pair update (template pair embedder, template pair stack, Algorithm 16,
// template pointwise attention, Algorithm 17) and extra MSA rows (template torsion
// angle embedding), as OpenFold's monomer TemplateEmbedder
// (openfold/model/embedders.py) with its state_dict names:
// template_single_embedder.{linear_1, linear_2}, template_pair_embedder.linear,
// template_pair_stack.*, template_pointwise_att.mha.*.
#pragma once

#include <torch/nn/cloneable.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/pimpl.h>
#include <torch/types.h>

#include "data/feature_dict.h"
#include "evoformer/memory_policy.h"
#include "evoformer/primitives.h"
#include "evoformer/template_pair_stack.h"
#include "evoformer/template_pointwise_attention.h"

namespace fold {

// model.template.* (distogram, embedders; the stack and attention have their own).
struct TemplateEmbedderOptions {
  TORCH_ARG(int64_t, c_m) = 256;          // template_single_embedder.c_out
  TORCH_ARG(int64_t, angle_c_in) = 57;    // template_single_embedder.c_in
  TORCH_ARG(int64_t, pair_c_in) = 88;     // template_pair_embedder.c_in
  TORCH_ARG(double, distogram_min_bin) = 3.25;
  TORCH_ARG(double, distogram_max_bin) = 50.75;
  TORCH_ARG(int64_t, distogram_no_bins) = 39;
  TORCH_ARG(bool, use_unit_vector) = false;
  TORCH_ARG(bool, embed_angles) = true;
  TORCH_ARG(double, inf) = 1e5;  // the distogram's last edge (squared distance)
  TORCH_ARG(double, eps) = 1e-8;
  TORCH_ARG(evoformer::TemplatePairStackOptions, pair_stack) = {};
  TORCH_ARG(evoformer::TemplatePointwiseAttentionOptions, pointwise) = {};
};

// One-hot distogram of points [*, N, 3] -> [*, N, N, no_bins]: bin b holds squared
// distances in (lower_b, lower_{b+1}), lower = linspace(min_bin, max_bin)^2, the last
// bin open up to `inf` (AF2's dgram_from_positions).
at::Tensor dgram_from_positions(const at::Tensor& positions, double min_bin, double max_bin, int64_t no_bins,
                                double inf);

// AF2's template pair features [*, N, N, 88] of one template's features (no template
// axis): distogram of the pseudo-beta atoms (39), their 2-D mask (1), the template
// residue types one-hot along j and i (22 + 22), the unit vectors of CA_j in the
// backbone frame of i (3, zeros unless use_unit_vector), the 2-D backbone mask (1);
// everything times the 2-D backbone mask.
at::Tensor build_template_pair_feat(const data::FeatureDict& template_features, const TemplateEmbedderOptions& options);

// AF2's template angle features [*, N_templ, N, 57]: residue type one-hot (22), torsion
// sin/cos (14), alternative torsion sin/cos (14), torsion masks (7).
at::Tensor build_template_angle_feat(const data::FeatureDict& template_features);

// Algorithm 2 line 7: Linear-ReLU-Linear of the angle features.
class TemplateAngleEmbedderImpl : public torch::nn::Cloneable<TemplateAngleEmbedderImpl> {
 public:
  TemplateAngleEmbedderImpl(int64_t c_in, int64_t c_out);
  void reset() override;
  torch::Tensor forward(const torch::Tensor& x);
  int64_t c_in, c_out;
  torch::nn::Linear linear_1{nullptr}, linear_2{nullptr};
};
TORCH_MODULE(TemplateAngleEmbedder);

struct TemplateEmbedding {
  torch::Tensor pair;         // [*, N, N, c_z], zero when no template is present
  torch::Tensor single;       // [*, N_templ, N, c_m] extra MSA rows; undefined unless embed_angles
  torch::Tensor single_mask;  // [*, N_templ, N] their MSA mask: the psi torsion mask (AF2)
};

class TemplateEmbedderImpl : public torch::nn::Cloneable<TemplateEmbedderImpl> {
 public:
  explicit TemplateEmbedderImpl(const TemplateEmbedderOptions& options = {});
  void reset() override;
  void set_kernel_options(const kernels::AttentionOptions& kernel);
  // `features`: the template_* features of one recycling iteration (template_aatype
  // [*, T, N], template_all_atom_positions [*, T, N, 37, 3], template_all_atom_mask,
  // template_pseudo_beta [*, T, N, 3], template_pseudo_beta_mask, template_mask [*, T],
  // and with embed_angles the template torsion features); z [*, N, N, c_z];
  // pair_mask [*, N, N].
  TemplateEmbedding forward(const data::FeatureDict& features, const torch::Tensor& z, const torch::Tensor& pair_mask,
                            const evoformer::MemoryPolicy& policy = {}, const dist::Group& dap = {});

  TemplateEmbedderOptions options;
  TemplateAngleEmbedder template_single_embedder{nullptr};
  // Algorithm 2 line 9: one Linear of the pair features (AF2's ReLU initialiser,
  // although no ReLU follows).
  evoformer::LinearModule template_pair_embedder{nullptr};
  evoformer::TemplatePairStack template_pair_stack{nullptr};
  evoformer::TemplatePointwiseAttention template_pointwise_att{nullptr};
};
TORCH_MODULE(TemplateEmbedder);

}  // namespace fold
