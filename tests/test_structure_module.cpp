// Structure module against AlphaFold2 as computed by OpenFold (../shared/ref-modules):
// rigid-body geometry (quaternions, rotations, Rigid, frames from three points) on
// identities and a real backbone, and Invariant Point Attention (Algorithm 22) with
// weights imported under AF2's names through tests/af2_module_params: output where
// defined, gradients of s, z and the frames, invariance under global rigid motions.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include <filesystem>
#include <iostream>
#include <map>
#include <string>

#include "data/npz.h"
#include "data/protein.h"
#include "structure_module/invariant_point_attention.h"
#include "structure_module/rigid.h"
#include "tests/af2_module_params.h"
#include "tests/ref_modules.h"

namespace fold::structure {
namespace {

using fold::test::ref_modules::load_ref;
using fold::test::ref_modules::ref_dir;
using fold::test::ref_modules::Ref;
using fold::test::ref_modules::rel_err;

namespace fs = std::filesystem;
using Tensors = std::map<std::string, torch::Tensor>;

fs::path source_dir() { return FOLD_SOURCE_DIR; }

double max_abs(const torch::Tensor& t) { return t.abs().max().item<double>(); }

// Random proper rotations [n, 3, 3] from random unit quaternions.
torch::Tensor random_rotations(int64_t n, torch::Dtype dtype = torch::kFloat) {
  return quat_to_rot(torch::randn({n, 4}, torch::dtype(dtype)));
}

void expect_proper_rotations(const torch::Tensor& r, double tol, const std::string& what) {
  const auto eye = torch::eye(3, r.options()).expand_as(r);
  EXPECT_LT(max_abs(torch::matmul(r, r.transpose(-1, -2)) - eye), tol) << what << ": R R^T != I";
  EXPECT_LT(max_abs(torch::linalg_det(r) - 1), tol) << what << ": det != 1";
}

// ---------------------------------------------------------------------------------------
// Quaternions and rotations

TEST(Rigid, QuaternionRotationRoundTrip) {
  torch::manual_seed(1);
  // Sign-canonical random unit quaternions (w > 0).
  torch::Tensor q = torch::randn({2000, 4}, torch::kDouble);
  q = q / q.norm(2, -1, true);
  q = q * torch::where(q.select(-1, 0) < 0, -1.0, 1.0).to(torch::kDouble).unsqueeze(-1);
  const torch::Tensor r = quat_to_rot(q);
  expect_proper_rotations(r, 1e-12, "quat_to_rot");
  EXPECT_LT(max_abs(rot_to_quat(r) - q), 1e-12);
  // fp32, unnormalised input: normalised first.
  const torch::Tensor q32 = q.to(torch::kFloat);
  EXPECT_LT(max_abs(rot_to_quat(quat_to_rot(3.5f * q32)) - q32), 2e-6);
  // Rotations near and at 180 degrees (w ~ 0) round trip through the quaternion.
  torch::Tensor axis = torch::randn({500, 3}, torch::kDouble);
  axis = axis / axis.norm(2, -1, true);
  for (double angle : {M_PI, M_PI - 1e-7, 1e-9, 0.0}) {
    const torch::Tensor qa =
        torch::cat({torch::full({500, 1}, std::cos(angle / 2), torch::kDouble), std::sin(angle / 2) * axis}, -1);
    const torch::Tensor ra = quat_to_rot(qa);
    EXPECT_LT(max_abs(quat_to_rot(rot_to_quat(ra)) - ra), 1e-12) << "angle " << angle;
    EXPECT_GE(rot_to_quat(ra).select(-1, 0).min().item<double>(), 0.0);
  }
  // Identity.
  EXPECT_LT(max_abs(rot_to_quat(torch::eye(3, torch::kDouble)) - torch::tensor({1.0, 0.0, 0.0, 0.0}, torch::kDouble)),
            1e-15);
}

TEST(Rigid, QuaternionProductIsComposition) {
  torch::manual_seed(2);
  const torch::Tensor a = torch::randn({100, 4}, torch::kDouble), b = torch::randn({100, 4}, torch::kDouble);
  EXPECT_LT(max_abs(quat_to_rot(quat_multiply(a, b)) - torch::matmul(quat_to_rot(a), quat_to_rot(b))), 1e-12);
}

TEST(Rigid, RotToQuatGradientsFinite) {
  // Every branch (trace, x, y, z largest) and the identity: the branches not picked must
  // not poison the gradient with NaN.
  const auto diag = [](double a, double b, double c) { return torch::diag(torch::tensor({a, b, c}, torch::kDouble)); };
  torch::Tensor r =
      torch::stack({diag(1, 1, 1), diag(1, -1, -1), diag(-1, 1, -1), diag(-1, -1, 1)}).requires_grad_(true);
  rot_to_quat(r).sum().backward();
  EXPECT_TRUE(torch::isfinite(r.grad()).all().item<bool>());
  // Gradient against central finite differences on random rotations.
  torch::manual_seed(3);
  const torch::Tensor r0 = random_rotations(20, torch::kDouble);
  const torch::Tensor cot = torch::randn({20, 4}, torch::kDouble);
  torch::Tensor x = r0.clone().requires_grad_(true);
  (rot_to_quat(x) * cot).sum().backward();
  const torch::Tensor dir = torch::randn({20, 3, 3}, torch::kDouble);
  const double h = 1e-6;
  const double fd = (((rot_to_quat(r0 + h * dir) - rot_to_quat(r0 - h * dir)) * cot).sum() / (2 * h)).item<double>();
  EXPECT_NEAR((x.grad() * dir).sum().item<double>(), fd, 1e-6 * std::max(1.0, std::abs(fd)));
}

// ---------------------------------------------------------------------------------------
// Rigid

Rigid random_rigid(int64_t n, torch::Dtype dtype = torch::kDouble) {
  return Rigid(Rotation(random_rotations(n, dtype)), 10 * torch::randn({n, 3}, torch::dtype(dtype)));
}

TEST(Rigid, ComposeInvertIdentities) {
  torch::manual_seed(4);
  const Rigid a = random_rigid(50), b = random_rigid(50);
  const torch::Tensor x = torch::randn({50, 3}, torch::kDouble);
  // (a b) x = a (b x)
  EXPECT_LT(max_abs(a.compose(b).apply(x) - a.apply(b.apply(x))), 1e-12);
  // a a^-1 = a^-1 a = identity
  for (const Rigid& id : {a.compose(a.invert()), a.invert().compose(a)}) {
    EXPECT_LT(max_abs(id.rots().rot_mats() - torch::eye(3, torch::kDouble)), 1e-12);
    EXPECT_LT(max_abs(id.trans()), 1e-12);
  }
  // invert_apply = inverse's apply = the inverse of apply
  EXPECT_LT(max_abs(a.invert_apply(x) - a.invert().apply(x)), 1e-12);
  EXPECT_LT(max_abs(a.invert_apply(a.apply(x)) - x), 1e-12);
  // (a b)^-1 = b^-1 a^-1
  EXPECT_LT(max_abs(a.compose(b).invert().to_tensor_4x4() - b.invert().compose(a.invert()).to_tensor_4x4()), 1e-12);
  // Identity frames
  const Rigid id = Rigid::identity({50}, torch::kDouble);
  EXPECT_LT(max_abs(id.compose(a).to_tensor_4x4() - a.to_tensor_4x4()), 1e-15);
  EXPECT_LT(max_abs(id.apply(x) - x), 1e-15);
  // Broadcasting: frames [50, 1] on points [50, 7, 3].
  const torch::Tensor pts = torch::randn({50, 7, 3}, torch::kDouble);
  const torch::Tensor moved = a.unsqueeze(-1).apply(pts);
  EXPECT_EQ(moved.sizes(), pts.sizes());
  EXPECT_LT(max_abs(moved.select(1, 3) - a.apply(pts.select(1, 3))), 1e-12);
  EXPECT_EQ(a.unsqueeze(-1).shape(), (std::vector<int64_t>{50, 1}));
  EXPECT_EQ(a.unsqueeze(0).shape(), (std::vector<int64_t>{1, 50}));
}

TEST(Rigid, TensorLayouts) {
  torch::manual_seed(5);
  const Rigid a = random_rigid(30);
  // 4x4: homogeneous matrices multiply as composition.
  const Rigid b = random_rigid(30);
  EXPECT_LT(max_abs(torch::matmul(a.to_tensor_4x4(), b.to_tensor_4x4()) - a.compose(b).to_tensor_4x4()), 1e-12);
  const Rigid a4 = Rigid::from_tensor_4x4(a.to_tensor_4x4());
  EXPECT_LT(max_abs(a4.rots().rot_mats() - a.rots().rot_mats()), 1e-15);
  EXPECT_LT(max_abs(a4.trans() - a.trans()), 1e-15);
  // 7-vector [w, x, y, z, tx, ty, tz], w >= 0.
  const torch::Tensor t7 = a.to_tensor_7();
  EXPECT_EQ(t7.sizes(), (std::vector<int64_t>{30, 7}));
  EXPECT_GE(t7.select(-1, 0).min().item<double>(), 0.0);
  EXPECT_LT(max_abs(t7.narrow(-1, 4, 3) - a.trans()), 1e-15);
  const Rigid a7 = Rigid::from_tensor_7(t7);
  EXPECT_LT(max_abs(a7.rots().rot_mats() - a.rots().rot_mats()), 1e-12);
  // from_tensor_7 normalises the quaternion (AF2 QuatAffine normalize=True).
  const torch::Tensor scaled = torch::cat({2.0 * t7.narrow(-1, 0, 4), t7.narrow(-1, 4, 3)}, -1);
  EXPECT_LT(max_abs(Rigid::from_tensor_7(scaled).rots().rot_mats() - a.rots().rot_mats()), 1e-12);
  // A known one: 90 degrees about z.
  const double s = std::sqrt(0.5);
  const Rigid z90 = Rigid::from_tensor_7(torch::tensor({s, 0.0, 0.0, s, 1.0, 2.0, 3.0}, torch::kDouble));
  EXPECT_LT(max_abs(z90.apply(torch::tensor({1.0, 0.0, 0.0}, torch::kDouble)) -
                    torch::tensor({1.0, 3.0, 3.0}, torch::kDouble)),
            1e-12);
}

TEST(Rigid, ComposeUpdateVecStopGradientScale) {
  torch::manual_seed(6);
  const Rigid a = random_rigid(10);
  // Zero update = identity (Algorithm 23 with (b, c, d) = 0).
  const Rigid same = a.compose_update_vec(torch::zeros({10, 6}, torch::kDouble));
  EXPECT_LT(max_abs(same.to_tensor_4x4() - a.to_tensor_4x4()), 1e-15);
  const torch::Tensor u = torch::randn({10, 6}, torch::kDouble);
  const torch::Tensor q = torch::cat({torch::ones({10, 1}, torch::kDouble), u.narrow(-1, 0, 3)}, -1);
  const Rigid expected = a.compose(Rigid(Rotation(quat_to_rot(q)), u.narrow(-1, 3, 3)));
  EXPECT_LT(max_abs(a.compose_update_vec(u).to_tensor_4x4() - expected.to_tensor_4x4()), 1e-12);
  // scale_translation
  EXPECT_LT(max_abs(a.scale_translation(0.1).trans() - 0.1 * a.trans()), 1e-15);
  // stop_rot_gradient: no gradient reaches the rotation, the translation's still flows.
  torch::Tensor rot = a.rots().rot_mats().clone().requires_grad_(true);
  torch::Tensor trans = a.trans().clone().requires_grad_(true);
  Rigid(Rotation(rot), trans).stop_rot_gradient().apply(torch::ones({10, 3}, torch::kDouble)).sum().backward();
  EXPECT_FALSE(rot.grad().defined());
  ASSERT_TRUE(trans.grad().defined());
  EXPECT_LT(max_abs(trans.grad() - 1), 1e-15);
}

TEST(Rigid, FramesFromRealBackbone) {
  const fs::path cif = source_dir() / ".." / "shared" / "data" / "mmcif" / "2q2k.cif";
  if (!fs::exists(cif))
    GTEST_SKIP() << "test data not present: " << cif.string() << " (../shared/data is read in place)";
  const data::Protein p = data::read_protein(cif.string());
  const int64_t n = static_cast<int64_t>(p.num_residues());
  const torch::Tensor pos = torch::from_blob(const_cast<float*>(p.atom_positions.data()), {n, 37, 3}).clone();
  const torch::Tensor mask = torch::from_blob(const_cast<float*>(p.atom_mask.data()), {n, 37}).clone();
  // Residues with N, CA and C observed (atom37 indices 0, 1, 2).
  const torch::Tensor keep = (mask.narrow(1, 0, 3).sum(1) == 3).nonzero().squeeze(1);
  ASSERT_GT(keep.numel(), 50);
  const torch::Tensor bb = pos.index_select(0, keep);
  const torch::Tensor nx = bb.select(1, 0), ca = bb.select(1, 1), c = bb.select(1, 2);

  // OpenFold's from_3_points(N, CA, C): N on the negative x axis, C in the xy plane.
  const Rigid f = Rigid::from_3_points(nx, ca, c);
  expect_proper_rotations(f.rots().rot_mats(), 2e-6, "from_3_points");
  const torch::Tensor ln = f.invert_apply(nx), lca = f.invert_apply(ca), lc = f.invert_apply(c);
  EXPECT_LT(max_abs(lca), 1e-4);
  EXPECT_LT(max_abs(ln.narrow(-1, 1, 2)), 1e-4);
  EXPECT_LT(ln.select(-1, 0).max().item<double>(), -1.0);  // N-CA is ~1.46 A
  EXPECT_NEAR(ln.select(-1, 0).mean().item<double>(), -1.46, 0.05);
  EXPECT_LT(max_abs(lc.select(-1, 2)), 1e-4);
  EXPECT_GT(lc.select(-1, 1).min().item<double>(), 0.5);
  // Local -> global maps the backbone back.
  EXPECT_LT(max_abs(f.apply(ln) - nx), 1e-4);
  EXPECT_LT(max_abs(f.apply(lc) - c), 1e-4);

  // Algorithm 21 (N, CA, C): C on the positive x axis, N in the xy plane.
  const Rigid g = Rigid::from_backbone(nx, ca, c);
  expect_proper_rotations(g.rots().rot_mats(), 2e-6, "from_backbone");
  const torch::Tensor gn = g.invert_apply(nx), gc = g.invert_apply(c);
  EXPECT_LT(max_abs(gc.narrow(-1, 1, 2)), 1e-4);
  EXPECT_NEAR(gc.select(-1, 0).mean().item<double>(), 1.52, 0.05);
  EXPECT_LT(max_abs(gn.select(-1, 2)), 1e-4);
  EXPECT_GT(gn.select(-1, 1).min().item<double>(), 0.5);
  EXPECT_LT(max_abs(g.apply(gn) - nx), 1e-4);
  // Local backbone geometry is the same in every residue's frame, up to real variation
  // (N-CA-C angle +-5 degrees, bond lengths +-0.05 A).
  EXPECT_LT((gn - gn.mean(0)).abs().max().item<double>(), 0.35);
}

// ---------------------------------------------------------------------------------------
// Invariant Point Attention

constexpr const char* kIpa = "invariant_point_attention";
InvariantPointAttention build_ipa(const Ref& r) {
  const auto h = [&](const char* key) { return r.hyper().at(key).get<int64_t>(); };
  InvariantPointAttention m(InvariantPointAttentionOptions(h("c_s"), h("c_z"), h("c_hidden"), h("no_heads"),
                                                           h("no_qk_points"), h("no_v_points"))
                                .inf(r.hyper().at("inf").get<double>())
                                .eps(r.hyper().at("eps").get<double>()));
  af2::load_module_params(*m, r.arrays, r.meta.at("af2_scope").get<std::string>(),
                          af2::param_table(af2::ModuleKind::kInvariantPointAttention));
  return m;
}

struct IpaRun {
  torch::Tensor out;
  Tensors grads;
};

// Forward with frames (rot, trans), backward of sum(out * cot).
IpaRun run_ipa(InvariantPointAttention& m, const Tensors& inputs, const torch::Tensor& cot) {
  Tensors in;
  for (const char* key : {"s", "z", "rot", "trans"}) in[key] = inputs.at(key).detach().clone().requires_grad_(true);
  const torch::Tensor out = m(in.at("s"), in.at("z"), Rigid(Rotation(in.at("rot")), in.at("trans")), inputs.at("mask"));
  (out * cot).sum().backward();
  IpaRun r{out.detach(), {}};
  for (const auto& [key, value] : in) r.grads[key] = value.grad();
  return r;
}

Tensors ref_inputs(const Ref& ref) {
  Tensors in;
  for (const char* key : {"s", "z", "rot", "trans", "mask"}) in[key] = ref.get(std::string("in/") + key);
  return in;
}

TEST(InvariantPointAttention, MatchesOpenFold) {
  FOLD_LOAD_REF(ref, kIpa);
  InvariantPointAttention m = build_ipa(*ref);
  const IpaRun r = run_ipa(m, ref_inputs(*ref), ref->get("cot/update"));
  const double out_err = rel_err(r.out, ref->get("out/update"), ref->get("valid/update"));
  const double out64_err = rel_err(r.out, ref->get("out64/update"), ref->get("valid/update"));
  std::cout << "[ ipa ] out/update rel err " << out_err << " (vs float64 " << out64_err << ", tol "
            << ref->tolerance("out/update") << ")\n";
  EXPECT_LT(out_err, ref->tolerance("out/update"));
  for (const std::string& x : ref->meta.at("grad_inputs").get<std::vector<std::string>>()) {
    const std::string key = "grad/" + x;
    ASSERT_TRUE(r.grads.at(x).defined()) << key;
    const double err = rel_err(r.grads.at(x), ref->get(key));
    std::cout << "[ ipa ] " << key << " rel err " << err << " (vs float64 "
              << rel_err(r.grads.at(x), ref->get("grad64/" + x)) << ", tol " << ref->tolerance(key) << ")\n";
    EXPECT_LT(err, ref->tolerance(key)) << key;
  }
}

// A global rigid motion of every frame (rot -> G rot, trans -> G trans + g) leaves the
// update unchanged (Supplement 1.8.2), for the reference inputs and random weights.
TEST(InvariantPointAttention, InvariantUnderGlobalRigidMotion) {
  FOLD_LOAD_REF(ref, kIpa);
  InvariantPointAttention m = build_ipa(*ref);
  const Tensors in = ref_inputs(*ref);
  torch::NoGradGuard no_grad;
  const Rigid frames(Rotation(in.at("rot")), in.at("trans"));
  const torch::Tensor base = m(in.at("s"), in.at("z"), frames, in.at("mask"));
  const torch::Tensor valid = ref->get("valid/update");
  torch::manual_seed(7);
  double worst = 0;
  for (int trial = 0; trial < 5; ++trial) {
    const Rigid g(Rotation(random_rotations(1).squeeze(0)), 20 * torch::randn({3}));
    const Rigid moved = Rigid(g.rots(), g.trans()).unsqueeze(0).compose(frames);
    const torch::Tensor out = m(in.at("s"), in.at("z"), moved, in.at("mask"));
    worst = std::max(worst, rel_err(out, base, valid));
  }
  std::cout << "[ ipa ] invariance rel err " << worst << "\n";
  EXPECT_LE(worst, 1e-5);
}

// A leading batch dim gives each element's result.
TEST(InvariantPointAttention, Batched) {
  FOLD_LOAD_REF(ref, kIpa);
  InvariantPointAttention m = build_ipa(*ref);
  const Tensors in = ref_inputs(*ref);
  torch::NoGradGuard no_grad;
  torch::manual_seed(8);
  const torch::Tensor rot2 = torch::matmul(random_rotations(1), in.at("rot"));
  const torch::Tensor s = torch::stack({in.at("s"), in.at("s").flip(0)});
  const torch::Tensor z = torch::stack({in.at("z"), in.at("z").transpose(0, 1)});
  const torch::Tensor rot = torch::stack({in.at("rot"), rot2});
  const torch::Tensor trans = torch::stack({in.at("trans"), in.at("trans") + 1});
  const torch::Tensor mask = torch::stack({in.at("mask"), torch::ones_like(in.at("mask"))});
  const torch::Tensor out = m(s, z, Rigid(Rotation(rot), trans), mask);
  ASSERT_EQ(out.sizes(), (std::vector<int64_t>{2, 11, ref->hyper().at("c_s").get<int64_t>()}));
  for (int64_t b = 0; b < 2; ++b) {
    const torch::Tensor one = m(s[b], z[b], Rigid(Rotation(rot[b]), trans[b]), mask[b]);
    EXPECT_LT(rel_err(out[b], one, b == 0 ? ref->get("valid/update") : torch::Tensor()), 1e-6) << "batch " << b;
  }
}

TEST(InvariantPointAttention, OpenFoldNamesAndInit) {
  InvariantPointAttention m(InvariantPointAttentionOptions(8, 4, 2, 3, 2, 3));
  const auto names = m->named_parameters().keys();
  EXPECT_EQ(names, (std::vector<std::string>{"head_weights", "linear_q.weight", "linear_q.bias", "linear_kv.weight",
                                             "linear_kv.bias", "linear_q_points.linear.weight",
                                             "linear_q_points.linear.bias", "linear_kv_points.linear.weight",
                                             "linear_kv_points.linear.bias", "linear_b.weight", "linear_b.bias",
                                             "linear_out.weight", "linear_out.bias"}));
  EXPECT_EQ(m->linear_q_points->linear->weight.sizes(), (std::vector<int64_t>{3 * 2 * 3, 8}));
  EXPECT_EQ(m->linear_kv_points->linear->weight.sizes(), (std::vector<int64_t>{3 * 5 * 3, 8}));
  EXPECT_EQ(m->linear_out->weight.sizes(), (std::vector<int64_t>{8, 3 * (4 + 2 + 3 * 4)}));
  // softplus(head_weights) = 1; the final projection starts at 0.
  EXPECT_NEAR(torch::softplus(m->head_weights).min().item<double>(), 1.0, 1e-6);
  EXPECT_EQ(max_abs(m->linear_out->weight), 0.0);
  const auto out = m(torch::randn({5, 8}), torch::randn({5, 5, 4}), Rigid::identity({5}, torch::kFloat),
                     torch::ones({5}));
  EXPECT_EQ(out.sizes(), (std::vector<int64_t>{5, 8}));
  EXPECT_EQ(max_abs(out), 0.0);
}

}  // namespace
}  // namespace fold::structure
