#include "evoformer/triangle_multiplication.h"

#include <torch/torch.h>

namespace fold::evoformer {

TriangleMultiplicationImpl::TriangleMultiplicationImpl(const TriangleMultiplicationOptions& o) : options(o) {
  reset();
}

void TriangleMultiplicationImpl::reset() {
  const int64_t c = options.c_z(), h = options.c_hidden();
  linear_a_p = register_module("linear_a_p", make_linear(c, h, true, LinearInit::kDefault));
  linear_a_g = register_module("linear_a_g", make_linear(c, h, true, LinearInit::kGating));
  linear_b_p = register_module("linear_b_p", make_linear(c, h, true, LinearInit::kDefault));
  linear_b_g = register_module("linear_b_g", make_linear(c, h, true, LinearInit::kGating));
  linear_g = register_module("linear_g", make_linear(c, c, true, LinearInit::kGating));
  linear_z = register_module("linear_z", make_linear(h, c, true, LinearInit::kFinal));
  layer_norm_in = register_module("layer_norm_in", LayerNorm(c));
  layer_norm_out = register_module("layer_norm_out", LayerNorm(h));
}

torch::Tensor TriangleMultiplicationImpl::forward(const torch::Tensor& z, const torch::Tensor& mask, int64_t chunk_size,
                                                  const AxialParallel* dap) {
  const int64_t split = dap ? dap->group().size() : 1;
  TORCH_CHECK(z.dim() >= 3 && z.size(-2) == z.size(-3) * split && z.size(-1) == options.c_z(),
              "TriangleMultiplication: z must be [*, N, N, ", options.c_z(), "], got ", z.sizes());
  const torch::Tensor zn = layer_norm_in(z);
  const torch::Tensor m = mask.unsqueeze(-1).to(zn.scalar_type());
  torch::Tensor a = m * torch::sigmoid(linear_a_g(zn)) * linear_a_p(zn);
  torch::Tensor b = m * torch::sigmoid(linear_b_g(zn)) * linear_b_p(zn);
  if (dap) {
    // Rows are split: x_i. needs every row of b; incoming also needs a's columns i.
    if (!options.outgoing()) a = dap::all_to_all(a, -2, -3, dap->group());
    b = dap::all_gather(b, -3, dap->group());
  }
  // Channels first so each channel is one [N, N] matrix product:
  //   outgoing x_ij = sum_k a_ik b_jk = (A B^T)_ij;  incoming x_ij = sum_k a_ki b_kj = (A^T B)_ij.
  const torch::Tensor ac = a.movedim(-1, -3);  // [*, c, N, N]
  const torch::Tensor bc = b.movedim(-1, -3);
  // The output rows: i of a_ik (outgoing) or of a_ki (incoming).
  const int64_t n = options.outgoing() ? ac.size(-2) : ac.size(-1);
  torch::Tensor x = chunked(n, chunk_size, -2, [&](int64_t i0, int64_t len) {
    return options.outgoing() ? torch::matmul(ac.narrow(-2, i0, len), bc.transpose(-1, -2))
                              : torch::matmul(ac.narrow(-1, i0, len).transpose(-1, -2), bc);
  });
  x = layer_norm_out(x.movedim(-3, -1));
  return linear_z(x) * torch::sigmoid(linear_g(zn));
}

}  // namespace fold::evoformer
