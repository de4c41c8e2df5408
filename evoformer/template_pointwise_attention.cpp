#include "evoformer/template_pointwise_attention.h"

#include "evoformer/primitives.h"

namespace fold::evoformer {

TemplatePointwiseAttentionImpl::TemplatePointwiseAttentionImpl(const TemplatePointwiseAttentionOptions& options_)
    : options(options_) {
  reset();
}

void TemplatePointwiseAttentionImpl::reset() {
  const auto& o = options;
  mha = register_module(
      "mha", Attention(MhaOptions(o.c_z(), o.c_t(), o.c_t(), o.c_hidden(), o.no_heads()).gating(false).kernel(o.kernel())));
}

void TemplatePointwiseAttentionImpl::set_kernel_options(const kernels::AttentionOptions& kernel) {
  options.kernel(kernel);
  mha->options.kernel(kernel);
}

torch::Tensor TemplatePointwiseAttentionImpl::forward(const torch::Tensor& t, const torch::Tensor& z,
                                                      const torch::Tensor& template_mask, int64_t chunk_size) {
  TORCH_CHECK(t.dim() >= 4 && t.size(-1) == options.c_t(), "TemplatePointwiseAttention: t must be [*, N_templ, N, N, ",
              options.c_t(), "], got ", t.sizes());
  TORCH_CHECK(z.dim() == t.dim() - 1 && z.size(-1) == options.c_z() && z.size(-2) == t.size(-2) &&
                  z.size(-3) == t.size(-3),
              "TemplatePointwiseAttention: z must be [*, N, N, ", options.c_z(), "] matching t ", t.sizes(), ", got ",
              z.sizes());
  TORCH_CHECK(template_mask.dim() == t.dim() - 3 && template_mask.size(-1) == t.size(-4),
              "TemplatePointwiseAttention: template_mask must be [*, N_templ], got ", template_mask.sizes());
  // Keys: the templates of entry (i, j), [*, N, N, N_templ, c_t]; one query per entry.
  const torch::Tensor kv = t.movedim(-4, -2);
  const torch::Tensor q = z.unsqueeze(-2);
  // [*, 1, 1, 1 (heads), 1 (query), N_templ]
  torch::Tensor bias = mask_bias(template_mask, options.inf(), z.scalar_type());
  for (int i = 0; i < 4; ++i) bias = bias.unsqueeze(-2);
  const int64_t row_dim = q.dim() - 4;
  return chunked(q.size(row_dim), chunk_size, row_dim,
                 [&](int64_t start, int64_t length) {
                   return mha->forward(q.narrow(row_dim, start, length), kv.narrow(row_dim, start, length), {bias});
                 })
      .squeeze(-2);
}

}  // namespace fold::evoformer
