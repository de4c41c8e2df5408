#include "evoformer/triangle_attention.h"

namespace fold::evoformer {

TriangleAttentionImpl::TriangleAttentionImpl(const TriangleAttentionOptions& options_) : options(options_) {
  reset();
}

void TriangleAttentionImpl::reset() {
  const TriangleAttentionOptions& o = options;
  layer_norm = register_module("layer_norm", LayerNorm(o.c_in()));
  linear = register_module("linear", make_linear(o.c_in(), o.no_heads(), false, LinearInit::kNormal));
  mha = register_module(
      "mha", Attention(MhaOptions(o.c_in(), o.c_in(), o.c_in(), o.c_hidden(), o.no_heads()).kernel(o.kernel())));
}

void TriangleAttentionImpl::set_kernel_options(const kernels::AttentionOptions& kernel) {
  options.kernel(kernel);
  mha->options.kernel(kernel);
}

torch::Tensor TriangleAttentionImpl::forward(const torch::Tensor& z, const std::optional<torch::Tensor>& mask,
                                             int64_t chunk_size, const AxialParallel* dap) {
  const int64_t split = dap ? dap->group().size() : 1;
  const int64_t whole = options.starting() ? z.size(-3) * split : z.size(-2) * split;
  TORCH_CHECK(z.dim() >= 3 && z.size(-1) == options.c_in() && (options.starting() ? z.size(-2) : z.size(-3)) == whole,
              "TriangleAttention: z must be [*, N, N, ", options.c_in(), "], got ", z.sizes());
  torch::Tensor x = z;
  torch::Tensor mk = mask ? *mask : torch::ones(z.sizes().slice(0, z.dim() - 1), z.options());
  if (!options.starting()) {
    x = x.transpose(-2, -3);
    mk = mk.transpose(-1, -2);
  }
  // [*, I, J, C]
  x = layer_norm(x);
  // [*, I, 1, 1, J]
  const torch::Tensor bias_mask = mask_bias(mk, options.inf(), x.scalar_type()).unsqueeze(-2).unsqueeze(-2);
  // [*, I, J, H] -> [*, 1, H, I, J]
  torch::Tensor bias_triangle = linear(x);
  if (dap) bias_triangle = dap::all_gather(bias_triangle, -3, dap->group());
  bias_triangle = bias_triangle.movedim(-1, -3).unsqueeze(-4);
  torch::Tensor out = chunked(x.size(-3), chunk_size, -3, [&](int64_t start, int64_t len) {
    const torch::Tensor xs = x.narrow(-3, start, len);
    return mha(xs, xs, std::vector<torch::Tensor>{bias_mask.narrow(-4, start, len), bias_triangle});
  });
  if (!options.starting()) out = out.transpose(-2, -3);
  return out;
}

}  // namespace fold::evoformer
