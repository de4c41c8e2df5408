#include "evoformer/template_pair_stack.h"

#include <algorithm>
#include <optional>
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
      .tri_mul_first(false)
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
                                             int64_t chunk_size, const CheckpointPolicy& checkpoint_policy,
                                             const dap::Group& group) {
  TORCH_CHECK(t.dim() >= 4 && t.size(-1) == options.c_t() && t.size(-2) == t.size(-3),
              "TemplatePairStack: t must be [*, N_templ, N, N, ", options.c_t(), "], got ", t.sizes());
  const int64_t n_blocks = static_cast<int64_t>(blocks->size());
  // checkpoint() is a plain call outside grad mode.
  const int64_t k = checkpoint_policy.enabled() ? checkpoint_policy.blocks_per_checkpoint : n_blocks;
  std::vector<torch::Tensor> out;
  const int64_t templ_dim = t.dim() - 4;
  for (int64_t i = 0; i < t.size(templ_dim); ++i) {
    torch::Tensor x = t.select(templ_dim, i);
    torch::Tensor mask = pair_mask;
    std::optional<AxialParallel> dap;
    if (group.size() > 1) {
      dap.emplace(group, 1, x.size(-2));
      const AxialParallel::Shards s = dap->enter({}, x, {}, pair_mask);
      x = s.z;
      mask = s.pair_mask;
    }
    for (int64_t begin = 0; begin < n_blocks; begin += k) {
      const int64_t end = std::min(n_blocks, begin + k);
      // The holder by value: a checkpoint's recompute may outlive this call.
      auto segment = [list = blocks, begin, end, mask, chunk_size, dap](const torch::Tensor& in) mutable {
        torch::Tensor y = in;
        for (int64_t b = begin; b < end; ++b)
          y = list->at<PairStackImpl>(b).forward(y, mask, chunk_size, dap ? &*dap : nullptr);
        return y;
      };
      x = checkpoint_policy.enabled() ? checkpoint(segment, x) : segment(x);
    }
    if (dap) x = dap->leave_pair(x);
    out.push_back(layer_norm(x));
  }
  return torch::stack(out, templ_dim);
}

}  // namespace fold::evoformer
