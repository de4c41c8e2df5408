#include "evoformer/template_pair_stack.h"

#include <torch/csrc/autograd/grad_mode.h>

#include <vector>

namespace fold::evoformer {

EvoformerBlockOptions TemplatePairStackOptions::block() const {
  // Only the pair half is built from these; the MSA sizes are unused.
  return EvoformerBlockOptions(/*c_m=*/c_t(), /*c_z=*/c_t())
      .c_hidden_mul(c_hidden_tri_mul())
      .c_hidden_pair_att(c_hidden_tri_att())
      .no_heads_pair(no_heads())
      .transition_n(pair_transition_n())
      .pair_dropout(dropout_rate())
      .inf(inf())
      .tri_mul_first(tri_mul_first())
      .fuse_projection_weights(fuse_projection_weights())
      .kernel(kernel());
}

TemplatePairStackImpl::TemplatePairStackImpl(const TemplatePairStackOptions& options_) : options(options_) {
  reset();
}

void TemplatePairStackImpl::reset() {
  TORCH_CHECK(options.no_blocks() >= 1, "TemplatePairStack: no_blocks must be >= 1, got ", options.no_blocks());
  blocks = register_module("blocks", torch::nn::ModuleList());
  for (int64_t i = 0; i < options.no_blocks(); ++i) blocks->push_back(PairStack(options.block()));
  layer_norm = register_module("layer_norm", LayerNorm(LayerNormOptions(options.c_t())));
}

void TemplatePairStackImpl::set_kernel_options(const kernels::AttentionOptions& kernel) {
  options.kernel(kernel);
  for (size_t i = 0; i < blocks->size(); ++i) blocks->at<PairStackImpl>(i).set_kernel_options(kernel);
}

torch::Tensor TemplatePairStackImpl::forward(const torch::Tensor& t, const torch::Tensor& pair_mask,
                                             const MemoryPolicy& policy, const dist::Group& group) {
  TORCH_CHECK(t.dim() >= 4 && t.size(-1) == options.c_t() && t.size(-2) == t.size(-3),
              "TemplatePairStack: t must be [*, N_templ, N, N, ", options.c_t(), "], got ", t.sizes());
  const int64_t templ_dim = t.dim() - 4;
  const StackBlocks stack = pair_stack_blocks(blocks);
  const auto one = [&](int64_t i) {
    return layer_norm(run_stack(stack, {}, t.select(templ_dim, i), {}, pair_mask, policy, group).second);
  };
  if (!torch::GradMode::is_enabled()) {
    // Each template's result straight into the output.
    torch::Tensor out = torch::empty_like(t);
    for (int64_t i = 0; i < t.size(templ_dim); ++i) out.select(templ_dim, i).copy_(one(i));
    return out;
  }
  std::vector<torch::Tensor> out;
  for (int64_t i = 0; i < t.size(templ_dim); ++i) out.push_back(one(i));
  return torch::stack(out, templ_dim);
}

}  // namespace fold::evoformer
