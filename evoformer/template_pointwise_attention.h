// AF2 Supplement Algorithm 17: template pointwise attention. Each pair entry z_ij
// attends over the templates' t_ij (one query, N_templ keys), as OpenFold's
// TemplatePointwiseAttention (openfold/model/template.py) with its state_dict names:
// mha.{linear_q, linear_k, linear_v, linear_o} (no gating). Templates whose
// template_mask is 0 get the bias -inf (inf = 1e5 in AF2).
#pragma once

#include <torch/nn/cloneable.h>
#include <torch/nn/pimpl.h>
#include <torch/types.h>

#include "evoformer/attention.h"
#include "kernels/attention.h"

namespace fold::evoformer {

// model.template.template_pointwise_attention.*
struct TemplatePointwiseAttentionOptions {
  TORCH_ARG(int64_t, c_t) = 64;
  TORCH_ARG(int64_t, c_z) = 128;
  TORCH_ARG(int64_t, c_hidden) = 16;
  TORCH_ARG(int64_t, no_heads) = 4;
  TORCH_ARG(double, inf) = 1e5;
  TORCH_ARG(kernels::AttentionOptions, kernel) = {};
};

class TemplatePointwiseAttentionImpl : public torch::nn::Cloneable<TemplatePointwiseAttentionImpl> {
 public:
  explicit TemplatePointwiseAttentionImpl(const TemplatePointwiseAttentionOptions& options = {});
  void reset() override;
  void set_kernel_options(const kernels::AttentionOptions& kernel);
  // t [*, N_templ, N, N, c_t], z [*, N, N, c_z], template_mask [*, N_templ] (float {0, 1});
  // chunk_size slices the rows i. Returns the update [*, N, N, c_z].
  torch::Tensor forward(const torch::Tensor& t, const torch::Tensor& z, const torch::Tensor& template_mask,
                        int64_t chunk_size = 0);

  TemplatePointwiseAttentionOptions options;
  Attention mha{nullptr};
};
TORCH_MODULE(TemplatePointwiseAttention);

}  // namespace fold::evoformer
