#include "evoformer/triangle_attention.h"

namespace fold::evoformer {

namespace {

// The pair oriented so that each variant attends along rows: z itself (starting) or
// its transpose (ending); a view, so writes into it land in z.
torch::Tensor oriented(const torch::Tensor& z, bool starting) { return starting ? z : z.transpose(-2, -3); }

// [*, I, 1, 1, J]: the key mask bias of every row of the oriented pair.
torch::Tensor row_mask_bias(const torch::Tensor& x, const std::optional<torch::Tensor>& mask, bool starting,
                            double inf) {
  const torch::Tensor mk = mask ? (starting ? *mask : mask->transpose(-1, -2))
                                : torch::ones(x.sizes().slice(0, x.dim() - 1), x.options());
  return mask_bias(mk, inf, x.scalar_type()).unsqueeze(-2).unsqueeze(-2);
}

}  // namespace

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

void TriangleAttentionImpl::check_pair(const torch::Tensor& z, int64_t split) const {
  const int64_t whole = options.starting() ? z.size(-3) * split : z.size(-2) * split;
  TORCH_CHECK(z.dim() >= 3 && z.size(-1) == options.c_in() && (options.starting() ? z.size(-2) : z.size(-3)) == whole,
              "TriangleAttention: z must be [*, N, N, ", options.c_in(), "], got ", z.sizes());
}

torch::Tensor TriangleAttentionImpl::attend_rows(const torch::Tensor& xs, const torch::Tensor& bias_mask,
                                                 const torch::Tensor& bias_tri) {
  return mha(xs, xs, std::vector<torch::Tensor>{bias_mask, bias_tri});
}

torch::Tensor TriangleAttentionImpl::forward(const torch::Tensor& z, const std::optional<torch::Tensor>& mask,
                                             int64_t chunk_size, const AxialParallel* dap) {
  check_pair(z, dap ? dap->group().size() : 1);
  const torch::Tensor x = oriented(z, options.starting());
  const torch::Tensor bias_mask = row_mask_bias(x, mask, options.starting(), options.inf());
  // Normalised once: autograd keeps one copy for the bias and the attention alike.
  const torch::Tensor xn = layer_norm(x);
  // [*, H, I, J] -> [*, 1, H, I, J]; under DAP every rank's rows are gathered.
  torch::Tensor bias_tri = linear(xn).movedim(-1, -3);
  if (dap) bias_tri = dap::all_gather(bias_tri, -2, dap->group());
  bias_tri = bias_tri.unsqueeze(-4);
  torch::Tensor out = chunked(x.size(-3), chunk_size, -3, [&](int64_t start, int64_t len) {
    return attend_rows(xn.narrow(-3, start, len), bias_mask.narrow(-4, start, len), bias_tri);
  });
  return options.starting() ? out : out.transpose(-2, -3);
}

void TriangleAttentionImpl::add_update_(const torch::Tensor& z, const std::optional<torch::Tensor>& mask,
                                        int64_t chunk_size) {
  check_inference_mode("TriangleAttention");
  check_pair(z, 1);
  const torch::Tensor x = oriented(z, options.starting());
  const torch::Tensor bias_mask = row_mask_bias(x, mask, options.starting(), options.inf());
  const torch::Tensor bias_tri = pair_bias(x, *layer_norm, *linear, chunk_size).unsqueeze(-4);
  for_each_chunk(x.size(-3), chunk_size, [&](int64_t start, int64_t len) {
    const torch::Tensor rows = x.narrow(-3, start, len);
    rows.add_(attend_rows(layer_norm(rows), bias_mask.narrow(-4, start, len), bias_tri));
  });
}

}  // namespace fold::evoformer
