#include "structure_module/invariant_point_attention.h"

#include <algorithm>

#include <torch/torch.h>

#include <cmath>

#include "evoformer/primitives.h"

namespace fold::structure {

using evoformer::LinearInit;
using evoformer::make_linear;

namespace {

// [*, N, H, X...] -> [*, H, N, prod(X)]: heads before residues, the rest flattened.
torch::Tensor heads_first(const torch::Tensor& x, int64_t trailing) {
  torch::Tensor t = x;
  if (trailing > 1) t = t.flatten(-trailing, -1);
  return t.transpose(-2, -3);
}

// Residues [start, start + len) of `whole` along `axis` from `part`; `whole` is
// allocated for all n residues on first use.
void fill_rows(torch::Tensor& whole, const torch::Tensor& part, int64_t axis, int64_t n, int64_t start) {
  if (!whole.defined()) {
    auto shape = part.sizes().vec();
    shape[part.dim() + axis] = n;
    whole = torch::empty(shape, part.options());
  }
  whole.narrow(axis, start, part.size(axis)).copy_(part);
}

// The shapes attend() needs: s [*, N, c_s], the pair whole [*, N, N, c_z] or as rows
// covering N, mask [*, N] and frames of batch shape [*, N].
void check_inputs(const InvariantPointAttentionOptions& options, const torch::Tensor& s, const NormalisedPair& pair,
                  const Rigid& frames, const torch::Tensor& mask) {
  TORCH_CHECK(s.dim() >= 2 && s.size(-1) == options.c_s(), "InvariantPointAttention: s must be [*, N, ",
              options.c_s(), "], got ", s.sizes());
  const int64_t n = s.size(-2);
  if (pair.whole.defined()) {
    const torch::Tensor& z = pair.whole;
    TORCH_CHECK(z.dim() == s.dim() + 1 && z.size(-1) == options.c_z() && z.size(-2) == n && z.size(-3) == n,
                "InvariantPointAttention: z must be [*, N, N, ", options.c_z(), "] with s ", s.sizes(), ", got ",
                z.sizes());
  } else {
    TORCH_CHECK(pair.rows && pair.n == n, "InvariantPointAttention: the pair's rows must cover N = ", n);
  }
  TORCH_CHECK(mask.sizes() == s.sizes().slice(0, s.dim() - 1), "InvariantPointAttention: mask ", mask.sizes(),
              " must be s's [*, N] ", s.sizes());
  TORCH_CHECK(frames.trans().sizes().slice(0, frames.trans().dim() - 1) == mask.sizes(),
              "InvariantPointAttention: frames of batch shape ", frames.trans().sizes(), " must match [*, N] ",
              mask.sizes());
}

}  // namespace

// ---------------------------------------------------------------------------------------
// PointProjection

PointProjectionImpl::PointProjectionImpl(const PointProjectionOptions& o) : options(o) { reset(); }

void PointProjectionImpl::reset() {
  linear = register_module(
      "linear", make_linear(options.c_in(), options.no_heads() * options.no_points() * 3, true, LinearInit::kDefault));
}

torch::Tensor PointProjectionImpl::forward(const torch::Tensor& s, const Rigid& frames) {
  // [*, N, 3 * H * P]: x, y and z blocks of H * P, or (per_head) H blocks of x, y, z of P.
  torch::Tensor local = linear(s);
  auto shape = local.sizes().vec();
  shape.back() = options.no_heads();
  if (options.per_head()) local = local.unflatten(-1, {options.no_heads(), -1});  // [*, N, H, 3 * P]
  shape.push_back(options.no_points());
  shape.push_back(3);
  const torch::Tensor points = torch::stack(local.chunk(3, -1), -1).reshape(shape);  // [*, N, H, P, 3]
  return frames.unsqueeze(-1).unsqueeze(-1).apply(points);
}

// ---------------------------------------------------------------------------------------
// InvariantPointAttention

InvariantPointAttentionImpl::InvariantPointAttentionImpl(const InvariantPointAttentionOptions& o) : options(o) {
  reset();
}

void InvariantPointAttentionImpl::reset() {
  const int64_t h = options.no_heads(), hc = h * options.c_hidden(), c_s = options.c_s();
  const bool multimer = options.multimer();
  const auto points = [&](const char* name, int64_t no_points) {
    return register_module(name, PointProjection(PointProjectionOptions(c_s, no_points, h).per_head(multimer)));
  };
  // AF2's monomer code (and OpenFold) give these projections biases and LeCun init,
  // unlike the supplement's pseudocode; AF-Multimer drops the biases.
  // Registered in OpenFold's order for each layout.
  linear_q = register_module("linear_q", make_linear(c_s, hc, !multimer, LinearInit::kDefault));
  if (multimer) {
    linear_q_points = points("linear_q_points", options.no_qk_points());
    linear_k = register_module("linear_k", make_linear(c_s, hc, false, LinearInit::kDefault));
    linear_v = register_module("linear_v", make_linear(c_s, hc, false, LinearInit::kDefault));
    linear_k_points = points("linear_k_points", options.no_qk_points());
    linear_v_points = points("linear_v_points", options.no_v_points());
  } else {
    linear_kv = register_module("linear_kv", make_linear(c_s, 2 * hc, true, LinearInit::kDefault));
    linear_q_points = points("linear_q_points", options.no_qk_points());
    linear_kv_points = points("linear_kv_points", options.no_qk_points() + options.no_v_points());
  }
  linear_b = register_module("linear_b", make_linear(options.c_z(), h, true, LinearInit::kDefault));
  // softplus(head_weights) = 1 initially (OpenFold's ipa_point_weights_init_).
  head_weights = register_parameter("head_weights", torch::full({h}, std::log(std::expm1(1.0))));
  const int64_t concat = h * (options.c_z() + options.c_hidden() + options.no_v_points() * 4);
  linear_out = register_module("linear_out", make_linear(concat, c_s, true, LinearInit::kFinal));
}

torch::Tensor InvariantPointAttentionImpl::forward(const torch::Tensor& s, const torch::Tensor& z,
                                                   const Rigid& frames, const torch::Tensor& mask) {
  NormalisedPair pair;
  pair.whole = z;
  return attend(s, pair, frames, mask);
}

torch::Tensor InvariantPointAttentionImpl::attend(const torch::Tensor& s, const NormalisedPair& pair,
                                                   const Rigid& frames, const torch::Tensor& mask) {
  const int64_t h = options.no_heads(), c = options.c_hidden(), pq = options.no_qk_points(),
                pv = options.no_v_points();
  check_inputs(options, s, pair, frames, mask);
  const int64_t n = s.size(-2);

  // Scalar queries, keys, values [*, N, H, C].
  auto head_shape = s.sizes().vec();
  head_shape.back() = h;
  head_shape.push_back(-1);
  const torch::Tensor q = linear_q(s).view(head_shape);
  // Global points [*, N, H, P, 3].
  const torch::Tensor q_pts = linear_q_points(s, frames);
  torch::Tensor k, v, k_pts, v_pts;
  if (options.multimer()) {
    k = linear_k(s).view(head_shape);
    v = linear_v(s).view(head_shape);
    k_pts = linear_k_points(s, frames);
    v_pts = linear_v_points(s, frames);
  } else {
    const auto kv = linear_kv(s).view(head_shape).split(c, -1);
    k = kv[0];
    v = kv[1];
    const auto kv_pts = linear_kv_points(s, frames).split_with_sizes({pq, pv}, -2);
    k_pts = kv_pts[0];
    v_pts = kv_pts[1];
  }

  // Point term -w_h / 2 * sum_p |q_ip - k_jp|^2, expanded as |q|^2 + |k|^2 - 2 q.k so
  // that no [*, N, N, H, P, 3] difference tensor exists. The points are first centred on
  // the mean frame origin (distances do not change; a constant carries no gradient):
  // the expansion then cancels only protein-sized, not position-sized, magnitudes.
  const torch::Tensor centre = frames.trans().mean(-2, true).detach().unsqueeze(-2).unsqueeze(-2);  // [*, 1,1,1,3]
  const torch::Tensor qc = heads_first(q_pts - centre, 2);  // [*, H, N, P * 3]
  const torch::Tensor kc = heads_first(k_pts - centre, 2);
  const torch::Tensor qh = heads_first(q, 1), kh = heads_first(k, 1), vh = heads_first(v, 1);  // [*, H, N, C]
  const torch::Tensor v_ptsh = heads_first(v_pts, 2);                                          // [*, H, N, P_v * 3]
  const torch::Tensor w = (torch::softplus(head_weights) * std::sqrt(1.0 / (3.0 * (pq * 9.0 / 2.0))))
                              .to(qh.scalar_type())
                              .view({h, 1, 1});
  const torch::Tensor mask_f = mask.to(qh.scalar_type());

  // Query rows i in [i0, i0 + len) against every key j: the logits [*, H, len, N] of those
  // rows only (the whole at once with a whole pair; chunk by chunk of the pair's rows
  // otherwise, so no [H, N, N] tensor exists), then their softmax and outputs: the scalar
  // output [*, len, H * C], the global point output [*, len, H, P_v, 3] and the pair
  // output [*, len, H * c_z] from the same rows of the normalised pair.
  const auto rows = [&](int64_t i0, int64_t len, const torch::Tensor& z_rows) {
    torch::Tensor a = torch::matmul(qh.narrow(-2, i0, len), kh.transpose(-1, -2)) * std::sqrt(1.0 / (3.0 * c));
    a = a + std::sqrt(1.0 / 3.0) * linear_b(z_rows).movedim(-1, -3);
    const torch::Tensor qr = qc.narrow(-2, i0, len);
    const torch::Tensor dist2 = (qr * qr).sum(-1).unsqueeze(-1) + (kc * kc).sum(-1).unsqueeze(-2) -
                                2.0 * torch::matmul(qr, kc.transpose(-1, -2));
    a = a - 0.5 * w * dist2;
    const torch::Tensor square_mask = (mask_f.narrow(-1, i0, len).unsqueeze(-1) * mask_f.unsqueeze(-2) - 1.0) *
                                      (options.inf() * (options.multimer() ? std::sqrt(1.0 / 3.0) : 1.0));
    a = torch::softmax(a + square_mask.unsqueeze(-3), -1);  // [*, H, len, N]
    const torch::Tensor o = torch::matmul(a, vh).transpose(-2, -3).flatten(-2, -1);
    auto pt_shape = a.sizes().vec();
    pt_shape.pop_back();  // [*, H, len]
    pt_shape.push_back(pv);
    pt_shape.push_back(3);
    const torch::Tensor o_pt_global = torch::matmul(a, v_ptsh).reshape(pt_shape).transpose(-3, -4);
    const torch::Tensor o_pair = torch::matmul(a.transpose(-2, -3), z_rows).flatten(-2, -1);
    return std::make_tuple(o, o_pt_global, o_pair);
  };
  torch::Tensor o, o_pt_global, o_pair;
  if (pair.whole.defined()) {
    std::tie(o, o_pt_global, o_pair) = rows(0, n, pair.whole);
  } else {
    // Outputs per residue are small ([*, N, H * (C + c_z)]): filled chunk by chunk of the
    // pair's rows.
    const int64_t step = pair.chunk_size > 0 ? pair.chunk_size : n;
    for (int64_t start = 0; start < n; start += step) {
      const int64_t len = std::min(step, n - start);
      const auto [o_r, pt_r, pair_r] = rows(start, len, pair.rows(start, len));
      fill_rows(o, o_r, -2, n, start);
      fill_rows(o_pt_global, pt_r, -4, n, start);
      fill_rows(o_pair, pair_r, -2, n, start);
    }
  }
  const torch::Tensor o_pt = frames.unsqueeze(-1).unsqueeze(-1).invert_apply(o_pt_global);
  // [*, N, H * P_v] norms and 3 x [*, N, H * P_v] coordinates.
  const torch::Tensor o_pt_norm2 = (o_pt * o_pt).sum(-1);
  const torch::Tensor o_pt_norm =
      torch::sqrt(options.multimer() ? o_pt_norm2.clamp_min(options.eps() * options.eps()) : o_pt_norm2 + options.eps())
          .flatten(-2, -1);
  const auto o_pt_xyz = o_pt.flatten(-3, -2).unbind(-1);

  return linear_out(torch::cat({o, o_pt_xyz[0], o_pt_xyz[1], o_pt_xyz[2], o_pt_norm, o_pair}, -1));
}

}  // namespace fold::structure
