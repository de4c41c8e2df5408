#include "evoformer/outer_product_mean.h"

#include <torch/torch.h>

namespace fold::evoformer {

OuterProductMeanImpl::OuterProductMeanImpl(const OuterProductMeanOptions& o) : options(o) { reset(); }

void OuterProductMeanImpl::reset() {
  const int64_t h = options.c_hidden();
  layer_norm = register_module("layer_norm", LayerNorm(options.c_m()));
  linear_1 = register_module("linear_1", make_linear(options.c_m(), h, true, LinearInit::kDefault));
  linear_2 = register_module("linear_2", make_linear(options.c_m(), h, true, LinearInit::kDefault));
  linear_out = register_module("linear_out", make_linear(h * h, options.c_z(), true, LinearInit::kFinal));
}

torch::Tensor OuterProductMeanImpl::forward(const torch::Tensor& m, const torch::Tensor& mask, int64_t chunk_size,
                                            const AxialParallel* dap) {
  TORCH_CHECK(m.dim() >= 3 && m.size(-1) == options.c_m(), "OuterProductMean: m must be [*, S, N, ",
              options.c_m(), "], got ", m.sizes());
  TORCH_CHECK(mask.sizes() == m.sizes().slice(0, m.dim() - 1), "OuterProductMean: mask ", mask.sizes(),
              " must be m's [*, S, N] ", m.sizes());
  const torch::Tensor ln = layer_norm(m);
  const torch::Tensor w = mask.unsqueeze(-1).to(ln.scalar_type());
  // [*, N, S, c]: residues first, so a residue chunk is a slice.
  const torch::Tensor a = (linear_1(ln) * w).transpose(-2, -3);
  torch::Tensor b = (linear_2(ln) * w).transpose(-2, -3);
  if (dap) b = dap::all_gather(b, -3, dap->group());
  const int64_t n = a.size(-3), h = options.c_hidden();
  // norm_ij = number of sequences where both residues are present.
  const torch::Tensor mt = mask.to(ln.scalar_type()).transpose(-1, -2);  // [*, N, S]
  const torch::Tensor mt_all = dap ? dap::all_gather(mt, -2, dap->group()) : mt;
  const torch::Tensor norm = torch::matmul(mt, mt_all.transpose(-1, -2)).unsqueeze(-1) + options.eps();
  torch::Tensor out = chunked(n, chunk_size, -3, [&](int64_t i0, int64_t len) {
    // outer[i, j, c, e] = sum_s a[i, s, c] b[j, s, e], flattened to c * c_hidden + e.
    const torch::Tensor outer = torch::einsum("...isc,...jse->...ijce", {a.narrow(-3, i0, len), b});
    std::vector<int64_t> shape = outer.sizes().vec();
    shape.resize(shape.size() - 2);
    shape.push_back(h * h);
    return linear_out(outer.reshape(shape));
  });
  return out / norm;
}

}  // namespace fold::evoformer
