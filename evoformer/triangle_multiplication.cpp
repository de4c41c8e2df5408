#include "evoformer/triangle_multiplication.h"

#include <torch/torch.h>

#include <algorithm>
#include <utility>
#include <vector>

namespace fold::evoformer {

TriangleMultiplicationImpl::TriangleMultiplicationImpl(const TriangleMultiplicationOptions& o) : options(o) {
  reset();
}

void TriangleMultiplicationImpl::reset() {
  const int64_t c = options.c_z(), h = options.c_hidden();
  if (options.fuse_projection_weights()) {
    linear_ab_p = register_module("linear_ab_p", make_linear(c, 2 * h, true, LinearInit::kDefault));
    linear_ab_g = register_module("linear_ab_g", make_linear(c, 2 * h, true, LinearInit::kGating));
  } else {
    linear_a_p = register_module("linear_a_p", make_linear(c, h, true, LinearInit::kDefault));
    linear_a_g = register_module("linear_a_g", make_linear(c, h, true, LinearInit::kGating));
    linear_b_p = register_module("linear_b_p", make_linear(c, h, true, LinearInit::kDefault));
    linear_b_g = register_module("linear_b_g", make_linear(c, h, true, LinearInit::kGating));
  }
  linear_g = register_module("linear_g", make_linear(c, c, true, LinearInit::kGating));
  linear_z = register_module("linear_z", make_linear(h, c, true, LinearInit::kFinal));
  layer_norm_in = register_module("layer_norm_in", LayerNorm(c));
  layer_norm_out = register_module("layer_norm_out", LayerNorm(h));
}

torch::Tensor TriangleMultiplicationImpl::project(const torch::Tensor& zn, const torch::Tensor& mask, bool first) {
  const int64_t h = options.c_hidden();
  // a's or b's half of a fused linear, or its own linear.
  const auto apply = [&](torch::nn::Linear& fused, torch::nn::Linear& own) {
    if (!fused) return own(zn);
    return torch::linear(zn, fused->weight.narrow(0, first ? 0 : h, h), fused->bias.narrow(0, first ? 0 : h, h));
  };
  const torch::Tensor g = apply(linear_ab_g, first ? linear_a_g : linear_b_g);
  const torch::Tensor m = mask.unsqueeze(-1).to(zn.scalar_type());
  if (torch::GradMode::is_enabled()) return m * torch::sigmoid(g) * apply(linear_ab_p, first ? linear_a_p : linear_b_p);
  // Without autograd: in place, one buffer beside the projection's.
  return g.sigmoid_().mul_(apply(linear_ab_p, first ? linear_a_p : linear_b_p)).mul_(m);
}

torch::Tensor TriangleMultiplicationImpl::finish(const torch::Tensor& x, const torch::Tensor& zn) {
  if (torch::GradMode::is_enabled()) return linear_z(layer_norm_out(x)) * torch::sigmoid(linear_g(zn));
  return linear_z(layer_norm_out(x)).mul_(linear_g(zn).sigmoid_());
}

torch::Tensor TriangleMultiplicationImpl::forward(const torch::Tensor& z, const torch::Tensor& mask, int64_t chunk_size,
                                                  const AxialParallel* dap) {
  const int64_t split = dap ? dap->group().size() : 1;
  TORCH_CHECK(z.dim() >= 3 && z.size(-2) == z.size(-3) * split && z.size(-1) == options.c_z(),
              "TriangleMultiplication: z must be [*, N, N, ", options.c_z(), "], got ", z.sizes());
  const torch::Tensor zn = layer_norm_in(z);
  torch::Tensor a = project(zn, mask, true);
  torch::Tensor b = project(zn, mask, false);
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
  const torch::Tensor x = chunked(n, chunk_size, -2, [&](int64_t i0, int64_t len) {
    return options.outgoing() ? torch::matmul(ac.narrow(-2, i0, len), bc.transpose(-1, -2))
                              : torch::matmul(ac.narrow(-1, i0, len).transpose(-1, -2), bc);
  });
  return finish(x.movedim(-3, -1), zn);
}

void TriangleMultiplicationImpl::add_update_(const torch::Tensor& z, const torch::Tensor& mask, int64_t chunk_size,
                                             int64_t tile_rows) {
  check_inference_mode("TriangleMultiplication");
  TORCH_CHECK(z.dim() >= 3 && z.size(-2) == z.size(-3) && z.size(-1) == options.c_z(),
              "TriangleMultiplication: z must be [*, N, N, ", options.c_z(), "], got ", z.sizes());
  if (tile_rows > 0) return add_update_tiles_(z, mask, tile_rows);
  const bool outgoing = options.outgoing();
  const int64_t n = z.size(-2);
  // held[c, p, q] = b (outgoing) or a (incoming) of z_pq, filled chunk by chunk of rows.
  std::vector<int64_t> shape(z.sizes().begin(), z.sizes().end() - 3);
  shape.insert(shape.end(), {options.c_hidden(), n, n});
  const torch::Tensor held = torch::empty(shape, z.options());
  for_each_chunk(n, chunk_size, [&](int64_t r0, int64_t len) {
    const torch::Tensor zn = layer_norm_in(z.narrow(-3, r0, len));
    held.narrow(-2, r0, len).copy_(project(zn, mask.narrow(-2, r0, len), !outgoing).movedim(-1, -3));
  });
  // The rows walked: z's (outgoing) or, through the transposed view, its columns.
  const torch::Tensor v = outgoing ? z : z.transpose(-2, -3);
  const torch::Tensor v_mask = outgoing ? mask : mask.transpose(-1, -2);
  for_each_chunk(n, chunk_size, [&](int64_t r0, int64_t len) {
    const torch::Tensor rows = v.narrow(-3, r0, len);
    const torch::Tensor zn = layer_norm_in(rows);
    // [*, c, R, N]: a_ik of rows i (outgoing) or b_kj of columns j (incoming).
    // Contiguous: a channels-first view would send bmm down its per-matrix fallback.
    const torch::Tensor p = project(zn, v_mask.narrow(-2, r0, len), outgoing).movedim(-1, -3).contiguous();
    //   outgoing: x[c, i, j] = sum_k a[c, i, k] b[c, j, k]
    //   incoming (transposed): x[c, j, i] = sum_k b[c, k, j] a[c, k, i], p[c, j, k] = b[c, k, j]
    const torch::Tensor x = outgoing ? torch::matmul(p, held.transpose(-1, -2)) : torch::matmul(p, held);
    rows.add_(finish(x.movedim(-3, -1), zn));
  });
}

int64_t TriangleMultiplicationImpl::tile_rows(int64_t n, int64_t chunk_rows) {
  const int64_t rows = std::max(chunk_rows > 0 ? chunk_rows : n, (n + 15) / 16);
  return (n + rows - 1) / rows >= 8 ? rows : 0;
}

void TriangleMultiplicationImpl::add_update_tiles_(const torch::Tensor& z, const torch::Tensor& mask,
                                                   int64_t tile_rows) {
  // As add_update_, on the view v whose rows are walked: x_v[r, q] = sum_k L(v_rk) H(v_qk)
  // with (L, H) = (a, b) outgoing on z, and (b, a) incoming on z transposed.
  const bool outgoing = options.outgoing();
  const int64_t n = z.size(-2);
  const torch::Tensor v = outgoing ? z : z.transpose(-2, -3);
  const torch::Tensor v_mask = outgoing ? mask : mask.transpose(-1, -2);
  const int64_t tiles = (n + tile_rows - 1) / tile_rows;
  const auto span = [&](int64_t tile) {
    return std::pair<int64_t, int64_t>{tile * tile_rows, std::min(tile_rows, n - tile * tile_rows)};
  };
  // L and H of normalised entries zn [*, R, K, c_z] under their mask, channels first.
  const auto projections = [&](const torch::Tensor& zn, const torch::Tensor& m) {
    return std::pair<torch::Tensor, torch::Tensor>{project(zn, m, outgoing).movedim(-1, -3).contiguous(),
                                                   project(zn, m, !outgoing).movedim(-1, -3).contiguous()};
  };
  // The products (t, s) and (s, t) of two tiles are sums over k of column blocks, added
  // in the compute type (a bf16 product is rounded once, as one matrix product's is).
  const auto ct = z.scalar_type() == torch::kDouble ? torch::kDouble : torch::kFloat;
  const auto add = [&](torch::Tensor& sum, const torch::Tensor& l, const torch::Tensor& h) {
    const torch::Tensor p = torch::matmul(l.to(ct), h.to(ct).transpose(-1, -2));
    sum = sum.defined() ? sum.add_(p) : p;
  };
  std::vector<int64_t> shape(z.sizes().begin(), z.sizes().end() - 3);
  shape.insert(shape.end(), {options.c_hidden(), 0, n});
  // waiting[s]: the finished (s, t) of earlier steps t, written once row s is read.
  std::vector<std::vector<std::pair<int64_t, torch::Tensor>>> waiting(tiles);
  for (int64_t t = 0; t < tiles; ++t) {
    const auto [r0, rn] = span(t);
    const torch::Tensor v_t = v.narrow(-3, r0, rn), m_t = v_mask.narrow(-2, r0, rn);
    const torch::Tensor zn_t = layer_norm_in(v_t);
    // Tile t's projections [*, c, R, N], made a column block at a time.
    shape[shape.size() - 2] = rn;
    const torch::Tensor l_t = torch::empty(shape, z.options()), h_t = torch::empty(shape, z.options());
    for (int64_t k = 0; k < tiles; ++k) {
      const auto [k0, kn] = span(k);
      const auto [l, h] = projections(zn_t.narrow(-2, k0, kn), m_t.narrow(-1, k0, kn));
      l_t.narrow(-1, k0, kn).copy_(l);
      h_t.narrow(-1, k0, kn).copy_(h);
    }
    // Row t is read for the last time above: its waiting products and (t, t) go in.
    for (const auto& [col, update] : waiting[t]) v_t.narrow(-2, col * tile_rows, update.size(-2)).add_(update);
    waiting[t].clear();
    v_t.narrow(-2, r0, rn).add_(finish(torch::matmul(l_t, h_t.transpose(-1, -2)).movedim(-3, -1), zn_t.narrow(-2, r0, rn)));
    // A later tile s is read a column block at a time, so none of its projections
    // exists whole; its block k = t also gates (s, t).
    for (int64_t s = t + 1; s < tiles; ++s) {
      const auto [s0, sn] = span(s);
      const torch::Tensor v_s = v.narrow(-3, s0, sn), m_s = v_mask.narrow(-2, s0, sn);
      torch::Tensor x_ts, x_st, zn_st;
      for (int64_t k = 0; k < tiles; ++k) {
        const auto [k0, kn] = span(k);
        const torch::Tensor zn = layer_norm_in(v_s.narrow(-2, k0, kn));
        if (k == t) zn_st = zn;
        const auto [l, h] = projections(zn, m_s.narrow(-1, k0, kn));
        add(x_ts, l_t.narrow(-1, k0, kn), h);
        add(x_st, l, h_t.narrow(-1, k0, kn));
      }
      v_t.narrow(-2, s0, sn).add_(finish(x_ts.to(z.scalar_type()).movedim(-3, -1), zn_t.narrow(-2, s0, sn)));
      waiting[s].emplace_back(t, finish(x_st.to(z.scalar_type()).movedim(-3, -1), zn_st));
    }
  }
}

}  // namespace fold::evoformer
