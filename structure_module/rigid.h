// Rigid-body geometry of the structure module (AF2 Supplement 1.8: rotations, frames
// T = (R, t), quaternions; Algorithm 21 for frames from three points), as OpenFold's
// openfold/utils/rigid_utils.py Rotation / Rigid, with rotations always stored as
// proper 3x3 matrices.
//
// Shapes: a Rotation holds rot_mats [*, 3, 3], a Rigid its Rotation and trans [*, 3];
// `*` is the batch shape (e.g. [B, N_res]). Points are [*, 3]; the batch shapes
// broadcast (add a dim to the frames with unsqueeze, as OpenFold's `r[..., None]`).
// Everything is ATen ops, so differentiable in every input; no op here changes dtype
// (the structure module runs in fp32, ARCHITECTURE.md, Precision).
#pragma once

#include <ATen/core/Tensor.h>

#include <vector>

namespace fold::structure {

// Quaternion [*, 4] = (w, x, y, z), w the real part -> rotation [*, 3, 3]. The quaternion
// is normalised first (AF2's quat_to_rot applies to normalised quaternions), so any
// non-zero quaternion gives a proper rotation.
at::Tensor quat_to_rot(const at::Tensor& quat);
// Rotation [*, 3, 3] -> unit quaternion [*, 4], sign-canonical (w >= 0). Shepperd's
// method: the branch of the largest of 1 + trace, 1 + 2 R_ii - trace, so it is accurate
// for every rotation, 180 degree turns included.
at::Tensor rot_to_quat(const at::Tensor& rot);
// Hamilton product of quaternions [*, 4] (w first); rotation of p by a then b = b * a.
at::Tensor quat_multiply(const at::Tensor& a, const at::Tensor& b);

class Rotation {
 public:
  Rotation() = default;
  explicit Rotation(at::Tensor rot_mats);

  // Identity rotations of batch shape `shape`.
  static Rotation identity(at::IntArrayRef shape, const at::TensorOptions& options);
  // From quaternions [*, 4] (normalised first).
  static Rotation from_quat(const at::Tensor& quat);

  const at::Tensor& rot_mats() const { return rot_mats_; }
  at::Tensor to_quat() const { return rot_to_quat(rot_mats_); }
  // Batch shape (rot_mats without the trailing [3, 3]).
  std::vector<int64_t> shape() const;

  // this * other: apply `other` first.
  Rotation compose(const Rotation& other) const;
  Rotation invert() const;
  // R p and R^T p for points [*, 3].
  at::Tensor apply(const at::Tensor& points) const;
  at::Tensor invert_apply(const at::Tensor& points) const;

  Rotation unsqueeze(int64_t dim) const;  // dim counts in the batch shape
  Rotation detach() const;                // stop_gradient
  Rotation to(const at::TensorOptions& options) const;

 private:
  at::Tensor rot_mats_;
};

// T = (R, t): x -> R x + t, local -> global.
class Rigid {
 public:
  Rigid() = default;
  Rigid(Rotation rots, at::Tensor trans);

  static Rigid identity(at::IntArrayRef shape, const at::TensorOptions& options);
  // The 7-vector layout of AF2's QuatAffine.to_tensor / OpenFold's to_tensor_7:
  // [*, 7] = [w, x, y, z, tx, ty, tz]; the quaternion is normalised (AF2 normalize=True).
  static Rigid from_tensor_7(const at::Tensor& t7);
  at::Tensor to_tensor_7() const;
  // Homogeneous [*, 4, 4] matrices [[R, t], [0, 0, 0, 1]].
  static Rigid from_tensor_4x4(const at::Tensor& t4x4);
  at::Tensor to_tensor_4x4() const;

  // OpenFold's Rigid.from_3_points: origin at `origin`, x axis along origin - p_neg_x_axis
  // (so p_neg_x_axis lies on the negative x axis), y axis the Gram-Schmidt of
  // p_xy_plane - origin (p_xy_plane lies in the xy plane, y > 0), z = x cross y; the
  // norms are sqrt(|v|^2 + eps). Points [*, 3].
  static Rigid from_3_points(const at::Tensor& p_neg_x_axis, const at::Tensor& origin,
                             const at::Tensor& p_xy_plane, double eps = 1e-8);
  // AF2 Supplement Algorithm 21 (rigidFrom3Points): x1, x2, x3 = N, CA, C -> origin CA,
  // x axis along C - CA, N in the xy plane (y > 0). Same Gram-Schmidt and eps.
  static Rigid from_backbone(const at::Tensor& n, const at::Tensor& ca, const at::Tensor& c, double eps = 1e-8);

  const Rotation& rots() const { return rots_; }
  const at::Tensor& trans() const { return trans_; }
  std::vector<int64_t> shape() const { return rots_.shape(); }

  // this * other = (R1 R2, R1 t2 + t1): apply `other` first.
  Rigid compose(const Rigid& other) const;
  Rigid invert() const;
  at::Tensor apply(const at::Tensor& points) const;         // R x + t
  at::Tensor invert_apply(const at::Tensor& points) const;  // R^T (x - t)
  // Algorithm 23's update: `update` [*, 6] = (b, c, d, tx, ty, tz) -> this * T_update
  // with T_update = (quat_to_rot((1, b, c, d) normalised), (tx, ty, tz)).
  Rigid compose_update_vec(const at::Tensor& update) const;

  Rigid unsqueeze(int64_t dim) const;  // dim counts in the batch shape
  // Gradients stop at the rotation (AF2 stops them between structure module layers).
  Rigid stop_rot_gradient() const;
  Rigid scale_translation(double factor) const;
  Rigid detach() const;
  Rigid to(const at::TensorOptions& options) const;

 private:
  Rotation rots_;
  at::Tensor trans_;
};

}  // namespace fold::structure
