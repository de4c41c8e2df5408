#include "evoformer/outer_product_mean.h"

#include <torch/torch.h>

#include <algorithm>

#include "evoformer/memory_policy.h"

namespace fold::evoformer {

OuterProductMeanImpl::OuterProductMeanImpl(const OuterProductMeanOptions& o) : options(o) { reset(); }

void OuterProductMeanImpl::reset() {
  const int64_t h = options.c_hidden();
  layer_norm = register_module("layer_norm", LayerNorm(options.c_m()));
  linear_1 = register_module("linear_1", make_linear(options.c_m(), h, true, LinearInit::kDefault));
  linear_2 = register_module("linear_2", make_linear(options.c_m(), h, true, LinearInit::kDefault));
  linear_out = register_module("linear_out", make_linear(h * h, options.c_z(), true, LinearInit::kFinal));
}

void OuterProductMeanImpl::check_inputs(const torch::Tensor& m, const torch::Tensor& mask) const {
  TORCH_CHECK(m.dim() >= 3 && m.size(-1) == options.c_m(), "OuterProductMean: m must be [*, S, N, ",
              options.c_m(), "], got ", m.sizes());
  TORCH_CHECK(mask.sizes() == m.sizes().slice(0, m.dim() - 1), "OuterProductMean: mask ", mask.sizes(),
              " must be m's [*, S, N] ", m.sizes());
}

torch::Tensor OuterProductMeanImpl::project(torch::nn::Linear& linear, const torch::Tensor& ln,
                                            const torch::Tensor& mask) {
  return (linear(ln) * mask.unsqueeze(-1).to(ln.scalar_type())).transpose(-2, -3);
}

torch::Tensor OuterProductMeanImpl::update_rows(const torch::Tensor& a_rows, const torch::Tensor& b_flat,
                                                const torch::Tensor& norm_rows) {
  // outer[i, j, c, e] = sum_s a[i, s, c] b[j, s, e], as one product [(i, c), s] x [s, (j, e)]
  // against b laid out once (right_factor); an einsum would re-lay b out for every chunk.
  const int64_t rows = a_rows.size(-3), h = options.c_hidden();
  const torch::Tensor left = a_rows.transpose(-1, -2).flatten(-3, -2);  // [*, R*c, S]
  const torch::Tensor outer = torch::matmul(left, b_flat)
                                  .unflatten(-2, {rows, h})
                                  .unflatten(-1, {b_flat.size(-1) / h, h})  // [*, R, c, N, e]
                                  .transpose(-2, -3)
                                  .flatten(-2);  // [*, R, N, c * c_hidden + e]
  return linear_out(outer) / norm_rows;
}

torch::Tensor OuterProductMeanImpl::right_factor(const torch::Tensor& b) {
  return b.transpose(-2, -3).flatten(-2).contiguous();  // [*, N, S, e] -> [*, S, N * e]
}

namespace {

// norm_ij = eps + the number of sequences where both residues are present; mt [*, N, S]
// (this rank's residues) against mt_all [*, N_all, S].
torch::Tensor pair_counts(const torch::Tensor& mt, const torch::Tensor& mt_all, double eps) {
  return torch::matmul(mt, mt_all.transpose(-1, -2)).unsqueeze(-1) + eps;
}

}  // namespace

torch::Tensor OuterProductMeanImpl::forward(const torch::Tensor& m, const torch::Tensor& mask, int64_t chunk_size,
                                            const AxialParallel* dap) {
  check_inputs(m, mask);
  // [*, N, S, c]: residues first, so a residue chunk is a slice.
  const torch::Tensor ln = layer_norm(m);
  const torch::Tensor a = project(linear_1, ln, mask);
  torch::Tensor b = project(linear_2, ln, mask);
  if (dap) b = dap::all_gather(b, -3, dap->group());
  const torch::Tensor mt = mask.to(ln.scalar_type()).transpose(-1, -2);  // [*, N, S]
  const torch::Tensor norm = pair_counts(mt, dap ? dap::all_gather(mt, -2, dap->group()) : mt, options.eps());
  const torch::Tensor b_flat = right_factor(b);
  return chunked(a.size(-3), chunk_size, -3, [&](int64_t i0, int64_t len) {
    return update_rows(a.narrow(-3, i0, len), b_flat, norm.narrow(-3, i0, len));
  });
}

void OuterProductMeanImpl::add_update_(const torch::Tensor& z, const torch::Tensor& m, const torch::Tensor& mask,
                                       int64_t chunk_size) {
  check_inference_mode("OuterProductMean");
  check_inputs(m, mask);
  TORCH_CHECK(z.dim() == m.dim() && z.size(-2) == m.size(-2) && z.size(-3) == m.size(-2) && z.size(-1) == options.c_z(),
              "OuterProductMean: z must be [*, N, N, ", options.c_z(), "] for m ", m.sizes(), ", got ", z.sizes());
  const int64_t n = m.size(-2), h = options.c_hidden();
  // Only b is held, [*, S, N, c] (right_factor's layout, so no relayout copy), filled
  // chunk by chunk of sequences so that the normalised MSA never exists whole; a is
  // computed per chunk of rows from those residues' columns of the MSA.
  std::vector<int64_t> shape(m.sizes().begin(), m.sizes().end() - 1);
  shape.push_back(h);
  const torch::Tensor b = torch::empty(shape, m.options());
  for_each_chunk(m.size(-3), chunk_size, [&](int64_t s0, int64_t len) {
    b.narrow(-3, s0, len).copy_(project(linear_2, layer_norm(m.narrow(-3, s0, len)), mask.narrow(-2, s0, len)).transpose(-2, -3));
  });
  const torch::Tensor b_flat = b.flatten(-2);
  const torch::Tensor mt = mask.to(m.scalar_type()).transpose(-1, -2);
  const torch::Tensor norm = pair_counts(mt, mt, options.eps());
  for_each_chunk(n, chunk_size, [&](int64_t i0, int64_t len) {
    const torch::Tensor a_rows = project(linear_1, layer_norm(m.narrow(-2, i0, len)), mask.narrow(-1, i0, len));
    // The outer products of a chunk of rows are c^2 wide per column (AF2: 8 pair rows):
    // taken in column blocks of kMinChunkBytes, a large chunk of rows of a long protein
    // does not hold them for every column at once.
    const int64_t per_column = len * h * h * static_cast<int64_t>(m.element_size());
    const int64_t columns = std::clamp<int64_t>(kMinChunkBytes / per_column, 1, n);
    for_each_chunk(n, columns, [&](int64_t j0, int64_t width) {
      z.narrow(-3, i0, len).narrow(-2, j0, width).add_(update_rows(a_rows, b_flat.narrow(-1, j0 * h, width * h),
                                                                   norm.narrow(-3, i0, len).narrow(-2, j0, width)));
    });
  });
}

}  // namespace fold::evoformer
