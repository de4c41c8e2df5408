// AF-Multimer's template embedding, as OpenFold's TemplateEmbedderMultimer
// (openfold/model/embedders.py) with its state_dict names:
//   template_pair_embedder.{dgram_linear, aatype_linear_1, aatype_linear_2,
//     query_embedding_layer_norm, query_embedding_linear, pseudo_beta_mask_linear,
//     x_linear, y_linear, z_linear, backbone_mask_linear},
//   template_single_embedder.{template_single_embedder, template_projector},
//   template_pair_stack.*, linear_t.
// Unlike AF2's (template_embedder.h), each template's pair features are embedded by a
// sum of per-feature linears that also reads the query's pair (LayerNorm(z)); distances
// and backbone unit vectors count only within a chain; the templates are averaged after
// the pair stack (no pointwise attention), then ReLU and linear_t; the single rows come
// from the residue type and the chi angles measured on the template's atoms.
#pragma once

#include <torch/nn/cloneable.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/pimpl.h>
#include <torch/types.h>

#include "data/feature_dict.h"
#include "evoformer/memory_policy.h"
#include "evoformer/primitives.h"
#include "evoformer/template_pair_stack.h"
#include "fold/model/template_embedder.h"

namespace fold {

// model.template.* as OpenFold's multimer config has them.
struct TemplateEmbedderMultimerOptions {
  TORCH_ARG(int64_t, c_z) = 128;        // template_pair_embedder.c_in: the query pair
  TORCH_ARG(int64_t, c_m) = 256;        // template_single_embedder.c_out
  TORCH_ARG(int64_t, single_c_in) = 34; // template_single_embedder.c_in: 22 + 3 x 4 chi features
  TORCH_ARG(int64_t, c_aatype) = 22;    // template_pair_embedder.c_aatype
  TORCH_ARG(double, distogram_min_bin) = 3.25;
  TORCH_ARG(double, distogram_max_bin) = 50.75;
  TORCH_ARG(int64_t, distogram_no_bins) = 39;  // template_pair_embedder.c_dgram
  TORCH_ARG(double, inf) = 1e5;  // the distogram's last edge (squared distance)
  TORCH_ARG(evoformer::TemplatePairStackOptions, pair_stack) = {};
};

class TemplatePairEmbedderMultimerImpl : public torch::nn::Cloneable<TemplatePairEmbedderMultimerImpl> {
 public:
  explicit TemplatePairEmbedderMultimerImpl(const TemplateEmbedderMultimerOptions& options);
  void reset() override;
  // One template (no template axis): its aatype [*, N], atom37 positions and mask, the
  // query pair z [*, N, N, c_z] and multichain_mask_2d [*, N, N] (same chain) ->
  // [*, N, N, c_t].
  torch::Tensor forward(const torch::Tensor& aatype, const torch::Tensor& positions, const torch::Tensor& atom_mask,
                        const torch::Tensor& z, const torch::Tensor& multichain_mask_2d);

  TemplateEmbedderMultimerOptions options;
  torch::nn::Linear dgram_linear{nullptr}, aatype_linear_1{nullptr}, aatype_linear_2{nullptr},
      query_embedding_linear{nullptr}, pseudo_beta_mask_linear{nullptr}, x_linear{nullptr}, y_linear{nullptr},
      z_linear{nullptr}, backbone_mask_linear{nullptr};
  evoformer::LayerNorm query_embedding_layer_norm{nullptr};
};
TORCH_MODULE(TemplatePairEmbedderMultimer);

class TemplateSingleEmbedderMultimerImpl : public torch::nn::Cloneable<TemplateSingleEmbedderMultimerImpl> {
 public:
  TemplateSingleEmbedderMultimerImpl(int64_t c_in, int64_t c_out);
  void reset() override;
  // aatype [*, T, N], positions, atom mask -> (extra MSA rows [*, T, N, c_m], their mask
  // [*, T, N]: the chi1 mask).
  std::pair<torch::Tensor, torch::Tensor> forward(const torch::Tensor& aatype, const torch::Tensor& positions,
                                                  const torch::Tensor& atom_mask);
  int64_t c_in, c_out;
  torch::nn::Linear template_single_embedder{nullptr}, template_projector{nullptr};
};
TORCH_MODULE(TemplateSingleEmbedderMultimer);

class TemplateEmbedderMultimerImpl : public torch::nn::Cloneable<TemplateEmbedderMultimerImpl> {
 public:
  explicit TemplateEmbedderMultimerImpl(const TemplateEmbedderMultimerOptions& options = {});
  void reset() override;
  void set_kernel_options(const kernels::AttentionOptions& kernel);
  // `features`: template_aatype [*, T, N], template_all_atom_positions [*, T, N, 37, 3],
  // template_all_atom_mask [*, T, N, 37] and asym_id [*, N]; z [*, N, N, c_z];
  // pair_mask [*, N, N]. Every template slot counts in the average, as in AF-Multimer.
  TemplateEmbedding forward(const data::FeatureDict& features, const torch::Tensor& z, const torch::Tensor& pair_mask,
                            const evoformer::MemoryPolicy& policy = {}, const dist::Group& dap = {});

  TemplateEmbedderMultimerOptions options;
  TemplatePairEmbedderMultimer template_pair_embedder{nullptr};
  TemplateSingleEmbedderMultimer template_single_embedder{nullptr};
  evoformer::TemplatePairStack template_pair_stack{nullptr};
  torch::nn::Linear linear_t{nullptr};
};
TORCH_MODULE(TemplateEmbedderMultimer);

}  // namespace fold
