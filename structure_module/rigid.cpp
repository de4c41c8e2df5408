#include "structure_module/rigid.h"

#include <ATen/ATen.h>

#include <utility>

namespace fold::structure {

namespace {

void check_last(const at::Tensor& t, int64_t n, const char* what) {
  TORCH_CHECK(t.defined() && t.dim() >= 1 && t.size(-1) == n, what, ": expected [*, ", n, "], got ",
              t.defined() ? t.sizes() : at::IntArrayRef{});
}

void check_mats(const at::Tensor& t, int64_t n, const char* what) {
  TORCH_CHECK(t.defined() && t.dim() >= 2 && t.size(-1) == n && t.size(-2) == n, what, ": expected [*, ", n, ", ",
              n, "], got ", t.defined() ? t.sizes() : at::IntArrayRef{});
}

// Rotation of columns e0, e1, e2 ([*, 3] each): R[:, j] = e_j.
at::Tensor from_columns(const at::Tensor& e0, const at::Tensor& e1, const at::Tensor& e2) {
  return at::stack({e0, e1, e2}, -1);
}

// Gram-Schmidt of the unnormalised x direction and a point direction in the xy plane,
// as OpenFold's from_3_points (norms sqrt(|v|^2 + eps)).
at::Tensor gram_schmidt(const at::Tensor& v0, const at::Tensor& v1, double eps) {
  const at::Tensor e0 = v0 / at::sqrt((v0 * v0).sum(-1, true) + eps);
  const at::Tensor u1 = v1 - e0 * (e0 * v1).sum(-1, true);
  const at::Tensor e1 = u1 / at::sqrt((u1 * u1).sum(-1, true) + eps);
  return from_columns(e0, e1, at::linalg_cross(e0, e1, -1));
}

int64_t batch_dim(int64_t dim, int64_t batch_rank, int64_t trailing) {
  // A batch dim (negative counts from the end of the batch shape, as in unsqueeze:
  // -1 appends) -> the tensor dim with `trailing` dims after the batch.
  TORCH_CHECK(dim >= -(batch_rank + 1) && dim <= batch_rank, "unsqueeze: dim ", dim, " out of range for batch rank ",
              batch_rank);
  return dim >= 0 ? dim : dim - trailing;
}

}  // namespace

at::Tensor quat_to_rot(const at::Tensor& quat) {
  check_last(quat, 4, "quat_to_rot");
  const at::Tensor q = quat / at::linalg_vector_norm(quat, 2, {-1}, true);
  const auto c = q.unbind(-1);
  const at::Tensor &w = c[0], &x = c[1], &y = c[2], &z = c[3];
  const at::Tensor ww = w * w, xx = x * x, yy = y * y, zz = z * z;
  const at::Tensor wx = w * x, wy = w * y, wz = w * z, xy = x * y, xz = x * z, yz = y * z;
  // The homogeneous form of AF2's QUAT_TO_ROT table (exact for unit quaternions).
  const at::Tensor r = at::stack({ww + xx - yy - zz, 2 * (xy - wz), 2 * (xz + wy),  //
                                  2 * (xy + wz), ww - xx + yy - zz, 2 * (yz - wx),  //
                                  2 * (xz - wy), 2 * (yz + wx), ww - xx - yy + zz},
                                 -1);
  auto shape = quat.sizes().vec();
  shape.back() = 3;
  shape.push_back(3);
  return r.reshape(shape);
}

at::Tensor rot_to_quat(const at::Tensor& rot) {
  check_mats(rot, 3, "rot_to_quat");
  const auto r = [&rot](int64_t i, int64_t j) { return rot.select(-1, j).select(-1, i); };
  const at::Tensor r00 = r(0, 0), r11 = r(1, 1), r22 = r(2, 2);
  // 4 * (w^2, x^2, y^2, z^2) for a rotation; the largest picks the well-conditioned branch.
  const at::Tensor t = at::stack({1 + r00 + r11 + r22, 1 + r00 - r11 - r22, 1 - r00 + r11 - r22, 1 - r00 - r11 + r22},
                                 -1);
  // 2 * the picked component, clamped so that the branches not picked stay finite
  // (their gradients are zeroed by the selection, but must not be NaN).
  const at::Tensor s = 2 * at::sqrt(at::clamp_min(t, 1e-12));  // [*, 4]
  const at::Tensor d21 = r(2, 1) - r(1, 2), d02 = r(0, 2) - r(2, 0), d10 = r(1, 0) - r(0, 1);
  const at::Tensor s01 = r(0, 1) + r(1, 0), s02 = r(0, 2) + r(2, 0), s12 = r(1, 2) + r(2, 1);
  const auto sb = s.unbind(-1);
  // Candidate (w, x, y, z) per branch: the picked component is s / 4, the others
  // (pairwise sums/differences) / s.
  const at::Tensor cand = at::stack(
      {at::stack({sb[0] / 4, d21 / sb[0], d02 / sb[0], d10 / sb[0]}, -1),
       at::stack({d21 / sb[1], sb[1] / 4, s01 / sb[1], s02 / sb[1]}, -1),
       at::stack({d02 / sb[2], s01 / sb[2], sb[2] / 4, s12 / sb[2]}, -1),
       at::stack({d10 / sb[3], s02 / sb[3], s12 / sb[3], sb[3] / 4}, -1)},
      -2);  // [*, 4 branches, 4]
  auto index_shape = cand.sizes().vec();
  index_shape[index_shape.size() - 2] = 1;
  const at::Tensor index = t.argmax(-1, true).unsqueeze(-1).expand(index_shape);
  at::Tensor q = cand.gather(-2, index).squeeze(-2);
  q = q / at::linalg_vector_norm(q, 2, {-1}, true);
  // Sign-canonical: w >= 0 (q and -q are the same rotation).
  const at::Tensor sign = at::where(q.select(-1, 0) < 0, -1.0, 1.0).to(q.scalar_type()).unsqueeze(-1);
  return q * sign;
}

at::Tensor quat_multiply(const at::Tensor& a, const at::Tensor& b) {
  check_last(a, 4, "quat_multiply");
  check_last(b, 4, "quat_multiply");
  const auto p = a.unbind(-1), q = b.unbind(-1);
  return at::stack({p[0] * q[0] - p[1] * q[1] - p[2] * q[2] - p[3] * q[3],
                    p[0] * q[1] + p[1] * q[0] + p[2] * q[3] - p[3] * q[2],
                    p[0] * q[2] - p[1] * q[3] + p[2] * q[0] + p[3] * q[1],
                    p[0] * q[3] + p[1] * q[2] - p[2] * q[1] + p[3] * q[0]},
                   -1);
}

// ---------------------------------------------------------------------------------------
// Rotation

Rotation::Rotation(at::Tensor rot_mats) : rot_mats_(std::move(rot_mats)) { check_mats(rot_mats_, 3, "Rotation"); }

Rotation Rotation::identity(at::IntArrayRef shape, const at::TensorOptions& options) {
  auto full = shape.vec();
  full.push_back(3);
  full.push_back(3);
  return Rotation(at::eye(3, options).expand(full).clone());
}

Rotation Rotation::from_quat(const at::Tensor& quat) { return Rotation(quat_to_rot(quat)); }

std::vector<int64_t> Rotation::shape() const {
  const auto s = rot_mats_.sizes();
  return {s.begin(), s.end() - 2};
}

Rotation Rotation::compose(const Rotation& other) const { return Rotation(at::matmul(rot_mats_, other.rot_mats_)); }

Rotation Rotation::invert() const { return Rotation(rot_mats_.transpose(-1, -2)); }

at::Tensor Rotation::apply(const at::Tensor& points) const {
  check_last(points, 3, "Rotation::apply");
  return at::matmul(rot_mats_, points.unsqueeze(-1)).squeeze(-1);
}

at::Tensor Rotation::invert_apply(const at::Tensor& points) const {
  check_last(points, 3, "Rotation::invert_apply");
  return at::matmul(rot_mats_.transpose(-1, -2), points.unsqueeze(-1)).squeeze(-1);
}

Rotation Rotation::unsqueeze(int64_t dim) const {
  return Rotation(rot_mats_.unsqueeze(batch_dim(dim, rot_mats_.dim() - 2, 2)));
}

Rotation Rotation::detach() const { return Rotation(rot_mats_.detach()); }

Rotation Rotation::to(const at::TensorOptions& options) const { return Rotation(rot_mats_.to(options)); }

// ---------------------------------------------------------------------------------------
// Rigid

Rigid::Rigid(Rotation rots, at::Tensor trans) : rots_(std::move(rots)), trans_(std::move(trans)) {
  check_last(trans_, 3, "Rigid translation");
  TORCH_CHECK(rots_.rot_mats().defined(), "Rigid: undefined rotation");
}

Rigid Rigid::identity(at::IntArrayRef shape, const at::TensorOptions& options) {
  auto full = shape.vec();
  full.push_back(3);
  return Rigid(Rotation::identity(shape, options), at::zeros(full, options));
}

Rigid Rigid::from_tensor_7(const at::Tensor& t7) {
  check_last(t7, 7, "Rigid::from_tensor_7");
  return Rigid(Rotation::from_quat(t7.narrow(-1, 0, 4)), t7.narrow(-1, 4, 3));
}

at::Tensor Rigid::to_tensor_7() const { return at::cat({rots_.to_quat(), trans_}, -1); }

Rigid Rigid::from_tensor_4x4(const at::Tensor& t4x4) {
  check_mats(t4x4, 4, "Rigid::from_tensor_4x4");
  return Rigid(Rotation(t4x4.narrow(-2, 0, 3).narrow(-1, 0, 3)), t4x4.narrow(-2, 0, 3).select(-1, 3));
}

at::Tensor Rigid::to_tensor_4x4() const {
  const at::Tensor top = at::cat({rots_.rot_mats(), trans_.unsqueeze(-1)}, -1);  // [*, 3, 4]
  auto shape = top.sizes().vec();
  shape[shape.size() - 2] = 1;
  at::Tensor bottom = at::zeros({4}, top.options());
  bottom[3] = 1;
  return at::cat({top, bottom.expand(shape)}, -2);
}

Rigid Rigid::from_3_points(const at::Tensor& p_neg_x_axis, const at::Tensor& origin, const at::Tensor& p_xy_plane,
                           double eps) {
  check_last(p_neg_x_axis, 3, "Rigid::from_3_points");
  check_last(origin, 3, "Rigid::from_3_points");
  check_last(p_xy_plane, 3, "Rigid::from_3_points");
  return Rigid(Rotation(gram_schmidt(origin - p_neg_x_axis, p_xy_plane - origin, eps)), origin);
}

Rigid Rigid::from_backbone(const at::Tensor& n, const at::Tensor& ca, const at::Tensor& c, double eps) {
  check_last(n, 3, "Rigid::from_backbone");
  check_last(ca, 3, "Rigid::from_backbone");
  check_last(c, 3, "Rigid::from_backbone");
  return Rigid(Rotation(gram_schmidt(c - ca, n - ca, eps)), ca);
}

Rigid Rigid::compose(const Rigid& other) const {
  return Rigid(rots_.compose(other.rots_), rots_.apply(other.trans_) + trans_);
}

Rigid Rigid::invert() const {
  const Rotation inv = rots_.invert();
  return Rigid(inv, -inv.apply(trans_));
}

at::Tensor Rigid::apply(const at::Tensor& points) const { return rots_.apply(points) + trans_; }

at::Tensor Rigid::invert_apply(const at::Tensor& points) const { return rots_.invert_apply(points - trans_); }

Rigid Rigid::compose_update_vec(const at::Tensor& update) const {
  check_last(update, 6, "Rigid::compose_update_vec");
  const at::Tensor bcd = update.narrow(-1, 0, 3);
  const at::Tensor quat = at::cat({at::ones_like(bcd.narrow(-1, 0, 1)), bcd}, -1);
  return compose(Rigid(Rotation::from_quat(quat), update.narrow(-1, 3, 3)));
}

Rigid Rigid::unsqueeze(int64_t dim) const {
  return Rigid(rots_.unsqueeze(dim), trans_.unsqueeze(batch_dim(dim, trans_.dim() - 1, 1)));
}

Rigid Rigid::stop_rot_gradient() const { return Rigid(rots_.detach(), trans_); }

Rigid Rigid::scale_translation(double factor) const { return Rigid(rots_, trans_ * factor); }

Rigid Rigid::detach() const { return Rigid(rots_.detach(), trans_.detach()); }

Rigid Rigid::to(const at::TensorOptions& options) const { return Rigid(rots_.to(options), trans_.to(options)); }

}  // namespace fold::structure
