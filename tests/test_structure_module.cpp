// Structure module against AlphaFold2 as computed by OpenFold (../shared/ref-modules):
// rigid-body geometry (quaternions, rotations, Rigid, frames from three points) on
// identities and a real backbone, Invariant Point Attention (Algorithm 22) with
// weights imported under AF2's names through fold/af2_params: output where
// defined, gradients of s, z and the frames, invariance under global rigid motions;
// Algorithm 24 (torsions -> frames -> atom14) against the idealised geometry and the
// stereochemistry table, atom14 <-> atom37; the whole structure module (Algorithm 20,
// all 8 iterations, every output and the input gradients).
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include <filesystem>
#include <iostream>
#include <map>
#include <set>
#include <string>

#include "data/af2_module_params.h"
#include "data/npz.h"
#include "data/protein.h"
#include "data/residue_constants.h"
#include "structure_module/all_atom.h"
#include "structure_module/invariant_point_attention.h"
#include "structure_module/rigid.h"
#include "structure_module/structure_module.h"
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

// AF-Multimer's IPA layout holding AF2's weights (the query bias zero, linear_kv's key
// and value rows split per head, the point projections re-laid from x, y, z blocks of
// H * P to per-head blocks) computes the same update: the layouts differ, the algorithm
// does not. Fp64, with masked residues (the mask bias scales differently, saturating
// either way) and eps 0 (the point norms' eps enters differently: sqrt(x + eps) against
// sqrt(max(x, eps^2))); also invariant under a global rigid motion.
TEST(InvariantPointAttention, MultimerLayoutComputesAf2sAlgorithm) {
  constexpr int64_t c_s = 10, c_z = 6, c = 4, h = 3, pq = 2, pv = 3, n = 9;
  const auto options = InvariantPointAttentionOptions(c_s, c_z, c, h, pq, pv).eps(0.0);
  InvariantPointAttention af2(options), multimer(InvariantPointAttentionOptions(options).multimer(true));
  torch::manual_seed(41);
  af2->to(torch::kDouble);
  multimer->to(torch::kDouble);
  torch::NoGradGuard no_grad;
  for (auto& p : af2->parameters()) p.normal_(0.0, 0.3);
  af2->linear_q->bias.zero_();
  af2->linear_kv->bias.zero_();
  // AF2's [x | y | z] blocks of H * P points (head-major) -> per head [x | y | z] of P,
  // for points p0 .. p0 + count - 1 of each head's `total`.
  const auto per_head_rows = [&](int64_t total, int64_t p0, int64_t count) {
    std::vector<int64_t> rows;
    for (int64_t head = 0; head < h; ++head)
      for (int64_t axis = 0; axis < 3; ++axis)
        for (int64_t p = 0; p < count; ++p) rows.push_back(axis * h * total + head * total + p0 + p);
    return torch::tensor(rows);
  };
  const auto copy_points = [&](PointProjection& to, const PointProjection& from, int64_t total, int64_t p0,
                               int64_t count) {
    const auto rows = per_head_rows(total, p0, count);
    to->linear->weight.copy_(from->linear->weight.index_select(0, rows));
    to->linear->bias.copy_(from->linear->bias.index_select(0, rows));
  };
  // linear_kv's output is per head [k (c) | v (c)].
  const auto kv_rows = [&](int64_t offset) {
    std::vector<int64_t> rows;
    for (int64_t head = 0; head < h; ++head)
      for (int64_t i = 0; i < c; ++i) rows.push_back(head * 2 * c + offset + i);
    return torch::tensor(rows);
  };
  multimer->linear_q->weight.copy_(af2->linear_q->weight);
  multimer->linear_k->weight.copy_(af2->linear_kv->weight.index_select(0, kv_rows(0)));
  multimer->linear_v->weight.copy_(af2->linear_kv->weight.index_select(0, kv_rows(c)));
  copy_points(multimer->linear_q_points, af2->linear_q_points, pq, 0, pq);
  copy_points(multimer->linear_k_points, af2->linear_kv_points, pq + pv, 0, pq);
  copy_points(multimer->linear_v_points, af2->linear_kv_points, pq + pv, pq, pv);
  for (const char* name : {"linear_b", "linear_out"})
    for (const auto& p : af2->named_children()[name]->named_parameters())
      multimer->named_children()[name]->named_parameters()[p.key()].copy_(p.value());
  multimer->head_weights.copy_(af2->head_weights);

  const auto s = torch::randn({n, c_s}, torch::kDouble), z = torch::randn({n, n, c_z}, torch::kDouble);
  auto mask = torch::ones({n}, torch::kDouble);
  mask[n - 1] = 0;
  const Rigid frames(Rotation(random_rotations(n, torch::kDouble)), 5 * torch::randn({n, 3}, torch::kDouble));
  const torch::Tensor want = af2(s, z, frames, mask), got = multimer(s, z, frames, mask);
  std::cout << "[ ipa ] multimer layout vs AF2's: rel err " << rel_err(got, want) << "\n";
  EXPECT_LE(rel_err(got, want), 1e-10);
  const Rigid g(Rotation(random_rotations(1, torch::kDouble).squeeze(0)), 20 * torch::randn({3}, torch::kDouble));
  EXPECT_LE(rel_err(multimer(s, z, g.unsqueeze(0).compose(frames), mask), got), 1e-10);
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

// ---------------------------------------------------------------------------------------
// Algorithm 24: torsions -> rigid-group frames -> atom14 positions

namespace rc = fold::data::rc;

// (sin, cos) of angles [..] -> [.., 2]
torch::Tensor sin_cos(const torch::Tensor& angle) { return torch::stack({angle.sin(), angle.cos()}, -1); }

// Every standard restype once, identity backbone frames.
torch::Tensor all_restypes() { return torch::arange(rc::kNumRestypes, torch::kLong); }

// With zero torsions the group frames are the default frames chained (chi_k onto
// chi_{k-1}, computed here as plain 4x4 products in float64) and each atom sits at its
// literature position mapped by its group's frame.
TEST(AllAtom, ZeroTorsionsGiveLiteratureGeometry) {
  const torch::Tensor aatype = all_restypes();
  const int64_t n = aatype.size(0);
  const torch::Tensor zero_torsions = sin_cos(torch::zeros({n, 7}, torch::kDouble));
  const Rigid groups = torsion_angles_to_frames(Rigid::identity({n}, torch::kDouble), zero_torsions, aatype);
  ASSERT_EQ(groups.shape(), (std::vector<int64_t>{n, 8}));
  const torch::Tensor pos = frames_and_literature_positions_to_atom14_pos(groups, aatype);
  ASSERT_EQ(pos.sizes(), (std::vector<int64_t>{n, 14, 3}));
  double worst_frame = 0, worst_pos = 0;
  for (int64_t r = 0; r < n; ++r) {
    std::vector<torch::Tensor> expected(8);
    const auto& d = rc::restype_rigid_group_default_frame()[r];
    const auto mat = [&](int g) {
      torch::Tensor m = torch::empty({4, 4}, torch::kDouble);
      for (int i = 0; i < 4; ++i)
        for (int j = 0; j < 4; ++j) m[i][j] = d[g][i][j];
      return m;
    };
    for (int g = 0; g < 5; ++g) expected[g] = mat(g);
    for (int g = 5; g < 8; ++g) expected[g] = torch::matmul(expected[g - 1], mat(g));
    const torch::Tensor got = groups.to_tensor_4x4()[r];
    for (int g = 0; g < 8; ++g) {
      if (g >= 4 && rc::chi_angles_mask()[r][g - 4] == 0) continue;  // all-zero frames
      worst_frame = std::max(worst_frame, max_abs(got[g] - expected[g]));
    }
    for (int a = 0; a < 14; ++a) {
      if (rc::restype_atom14_mask()[r][a] == 0) {
        EXPECT_EQ(max_abs(pos[r][a]), 0.0);
        continue;
      }
      const int g = rc::restype_atom14_to_rigid_group()[r][a];
      const auto& lit = rc::restype_atom14_rigid_group_positions()[r][a];
      const torch::Tensor x = torch::tensor({double(lit[0]), double(lit[1]), double(lit[2]), 1.0}, torch::kDouble);
      worst_pos = std::max(worst_pos, max_abs(pos[r][a] - torch::matmul(expected[g], x).narrow(0, 0, 3)));
    }
  }
  std::cout << "[ all_atom ] zero torsions: frame err " << worst_frame << ", position err " << worst_pos << "\n";
  EXPECT_LT(worst_frame, 1e-6);
  EXPECT_LT(worst_pos, 1e-5);
  // Backbone atoms (group 0) are exactly the literature positions: N, CA, C.
  EXPECT_LT(max_abs(pos[0][1]), 1e-12);  // CA at the origin
}

// IUPAC dihedral of a-b-c-d: atan2(|b1| b0 . (b1 x b2), (b0 x b1) . (b1 x b2)).
double dihedral(const torch::Tensor& a, const torch::Tensor& b, const torch::Tensor& c, const torch::Tensor& d) {
  const torch::Tensor b0 = b - a, b1 = c - b, b2 = d - c;
  const torch::Tensor n1 = torch::linalg_cross(b0, b1), n2 = torch::linalg_cross(b1, b2);
  return std::atan2((b1.norm() * (b0 * n2).sum()).item<double>(), (n1 * n2).sum().item<double>());
}

// Bond lengths are torsion-invariant: for random torsions and global frames every
// intra-residue bond of stereo_chemical_props.txt keeps its length, and each chi angle
// set is the dihedral of its four atoms (up to one constant offset per chi).
TEST(AllAtom, RandomTorsionsKeepStereochemistry) {
  torch::manual_seed(11);
  const torch::Tensor aatype = all_restypes();
  const int64_t n = aatype.size(0);
  const Rigid backbone(Rotation(random_rotations(n, torch::kDouble)), 10 * torch::randn({n, 3}, torch::kDouble));
  double worst_bond = 0;
  std::map<std::pair<int64_t, int>, std::vector<double>> offsets;
  for (int trial = 0; trial < 4; ++trial) {
    const torch::Tensor chis = (torch::rand({n, 7}, torch::kDouble) * 2 - 1) * M_PI;
    const torch::Tensor pos = frames_and_literature_positions_to_atom14_pos(
        torsion_angles_to_frames(backbone, sin_cos(chis), aatype), aatype);
    for (int64_t r = 0; r < n; ++r) {
      const auto& names = rc::restype_name_to_atom14_names()[r];
      const auto slot = [&](std::string_view name) {
        for (int a = 0; a < 14; ++a)
          if (names[a] == name) return a;
        return -1;
      };
      int bonds = 0;
      for (const auto& bond : rc::stereo_bond_lengths()) {
        if (bond.resname != rc::resnames[r]) continue;
        const int a = slot(bond.atom1), b = slot(bond.atom2);
        if (a < 0 || b < 0) continue;
        // Proline's ring closes only at its real chi angles.
        if (rc::resnames[r] == "PRO" && bond.atom1 == "CD" && bond.atom2 == "N") continue;
        ++bonds;
        const double len = (pos[r][a] - pos[r][b]).norm().item<double>();
        worst_bond = std::max(worst_bond, std::abs(len - bond.length));
      }
      EXPECT_GE(bonds, 3) << rc::resnames[r];
      for (int k = 0; k < rc::kNumChi; ++k) {
        if (rc::chi_angles_mask()[r][k] == 0) continue;
        const auto& atoms = rc::chi_angles_atoms()[r][k];
        const double dih = dihedral(pos[r][slot(atoms[0])], pos[r][slot(atoms[1])], pos[r][slot(atoms[2])],
                                    pos[r][slot(atoms[3])]);
        offsets[{r, k}].push_back(dih - chis[r][3 + k].item<double>());
      }
    }
  }
  std::cout << "[ all_atom ] worst bond length deviation from stereo_chemical_props " << worst_bond << " A\n";
  EXPECT_LT(worst_bond, 0.05);
  double worst_offset_spread = 0, worst_offset = 0;
  for (const auto& [key, v] : offsets) {
    for (double o : v) worst_offset_spread = std::max(worst_offset_spread, std::abs(std::sin((o - v[0]) / 2)));
    worst_offset = std::max(worst_offset, std::abs(std::sin(v[0] / 2)));
  }
  EXPECT_LT(worst_offset_spread, 1e-6) << "a chi torsion does not rotate its dihedral one for one";
  // ... and the offset is 0: the torsion set is the IUPAC chi dihedral itself.
  EXPECT_LT(worst_offset, 1e-6) << "chi torsions are offset from the IUPAC dihedrals";
}

TEST(AllAtom, Atom14Atom37RoundTrip) {
  torch::manual_seed(12);
  const torch::Tensor aatype = torch::randint(0, rc::kNumRestypesWithX, {3, 17}, torch::kLong);
  const torch::Tensor m14 = atom14_mask(aatype), m37 = atom37_mask(aatype);
  ASSERT_EQ(m14.sizes(), (std::vector<int64_t>{3, 17, 14}));
  ASSERT_EQ(m37.sizes(), (std::vector<int64_t>{3, 17, 37}));
  // Both masks count the same atoms.
  EXPECT_EQ(m14.sum().item<double>(), m37.sum().item<double>());
  const torch::Tensor x14 = torch::randn({3, 17, 14, 3}) * m14.unsqueeze(-1);
  const torch::Tensor x37 = atom14_to_atom37(x14, aatype);
  ASSERT_EQ(x37.sizes(), (std::vector<int64_t>{3, 17, 37, 3}));
  EXPECT_EQ(max_abs(atom37_to_atom14(x37, aatype) - x14), 0.0);
  EXPECT_EQ(max_abs(x37 * (1 - m37).unsqueeze(-1)), 0.0);
  // Named atoms land in their atom37 slots.
  for (int64_t i = 0; i < 17; ++i) {
    const int64_t r = aatype[0][i].item<int64_t>();
    const auto& names = rc::restype_name_to_atom14_names()[r];
    for (int a = 0; a < 14; ++a) {
      if (names[a].empty()) continue;
      EXPECT_EQ(max_abs(x37[0][i][rc::atom_order(names[a])] - x14[0][i][a]), 0.0);
    }
  }
  // Per-atom features without a trailing dim too.
  EXPECT_EQ(max_abs(atom14_to_atom37(m14, aatype) - m37), 0.0);
}

// Torsions -> atoms -> torsions: atom37_to_torsion_angles inverts Algorithm 24 for every
// angle a residue defines on its own atoms (psi and its chis; pre-omega and phi need
// the previous residue). Random torsions, random backbone frames, float64.
TEST(AllAtom, TorsionsFromAtomsInvertAlgorithm24) {
  torch::manual_seed(21);
  const torch::Tensor aatype = all_restypes();
  const int64_t n = aatype.size(0);
  const torch::Tensor angles = (torch::rand({n, 7}, torch::kDouble) * 2 - 1) * M_PI;
  const Rigid backbone(Rotation(random_rotations(n, torch::kDouble)), 10 * torch::randn({n, 3}, torch::kDouble));
  const Rigid groups = torsion_angles_to_frames(backbone, sin_cos(angles), aatype);
  const torch::Tensor atom14 = frames_and_literature_positions_to_atom14_pos(groups, aatype);
  const torch::Tensor atom37 = atom14_to_atom37(atom14, aatype);
  const TorsionAngles t = atom37_to_torsion_angles(aatype, atom37, atom37_mask(aatype).to(torch::kDouble));
  ASSERT_EQ(t.sin_cos.sizes(), (std::vector<int64_t>{n, 7, 2}));
  ASSERT_EQ(t.mask.sizes(), (std::vector<int64_t>{n, 7}));
  const torch::Tensor chi_mask =
      torch::from_blob(const_cast<float*>(&rc::chi_angles_mask()[0][0]), {rc::kNumRestypesWithX, 4}).narrow(0, 0, n);
  // No previous residue before the first; the others are not bonded here but observed.
  EXPECT_EQ(t.mask[0][0].item<double>(), 0.0);
  EXPECT_EQ(t.mask[0][1].item<double>(), 0.0);
  EXPECT_TRUE(torch::equal(t.mask.narrow(1, 2, 1).squeeze(1), torch::ones({n}, torch::kDouble)));
  EXPECT_TRUE(torch::equal(t.mask.narrow(1, 3, 4), chi_mask.to(torch::kDouble)));
  const torch::Tensor want = sin_cos(angles).narrow(1, 2, 5), got = t.sin_cos.narrow(1, 2, 5);
  const torch::Tensor defined = t.mask.narrow(1, 2, 5).unsqueeze(-1);
  // Only the eps (1e-8) inside the norms of the frames and of (sin, cos) separates them.
  EXPECT_LT(max_abs((got - want) * defined), 1e-7);
  EXPECT_EQ(max_abs(t.sin_cos * (1 - t.mask).unsqueeze(-1)), 0.0);  // undefined: (0, 0)
  // The alternative flips exactly the pi-periodic chis.
  const torch::Tensor periodic =
      torch::from_blob(const_cast<float*>(&rc::chi_pi_periodic()[0][0]), {rc::kNumRestypesWithX, 4}).narrow(0, 0, n);
  const torch::Tensor sign = torch::cat({torch::ones({n, 3}), 1 - 2 * periodic}, 1).to(torch::kDouble);
  EXPECT_TRUE(torch::allclose(t.alt_sin_cos, t.sin_cos * sign.unsqueeze(-1)));
  EXPECT_GT(periodic.sum().item<double>(), 0.0);
}

// On a real structure (2Q2K chain A) every observed torsion equals the textbook
// dihedral of its four atoms (psi through O, so half a turn off), and unobserved atoms
// or undefined chis are masked.
TEST(AllAtom, TorsionsOfARealStructureEqualNaiveDihedrals) {
  const fs::path cif = source_dir() / ".." / "shared" / "data" / "mmcif" / "2q2k.cif";
  if (!fs::exists(cif))
    GTEST_SKIP() << "test data not present: " << cif.string() << " (../shared/data is read in place)";
  const data::Protein p = data::read_protein(cif.string(), {"A"});
  const int64_t n = static_cast<int64_t>(p.num_residues());
  const torch::Tensor pos =
      torch::from_blob(const_cast<float*>(p.atom_positions.data()), {n, 37, 3}).to(torch::kDouble);
  const torch::Tensor mask = torch::from_blob(const_cast<float*>(p.atom_mask.data()), {n, 37}).clone();
  std::vector<int64_t> types(p.aatype.begin(), p.aatype.end());
  const torch::Tensor aatype = torch::tensor(types, torch::kLong);
  const TorsionAngles t = atom37_to_torsion_angles(aatype, pos.to(torch::kFloat), mask);
  const auto at = [&](int64_t r, const char* atom) { return pos[r][rc::atom_order(atom)]; };
  const auto seen = [&](int64_t r, const char* atom) { return mask[r][rc::atom_order(atom)].item<float>() > 0; };
  int checked = 0, chis = 0;
  const auto expect_angle = [&](int64_t r, int k, bool observed, double angle) {
    ASSERT_EQ(t.mask[r][k].item<float>(), observed ? 1.0f : 0.0f) << "residue " << r << " torsion " << k;
    EXPECT_NEAR(t.sin_cos[r][k][0].item<double>(), observed ? std::sin(angle) : 0.0, 2e-5)
        << "residue " << r << " torsion " << k;
    EXPECT_NEAR(t.sin_cos[r][k][1].item<double>(), observed ? std::cos(angle) : 0.0, 2e-5)
        << "residue " << r << " torsion " << k;
    checked += observed;
  };
  for (int64_t r = 1; r < n; ++r) {
    expect_angle(r, 0, seen(r - 1, "CA") && seen(r - 1, "C") && seen(r, "N") && seen(r, "CA"),
                 dihedral(at(r - 1, "CA"), at(r - 1, "C"), at(r, "N"), at(r, "CA")));
    expect_angle(r, 1, seen(r - 1, "C") && seen(r, "N") && seen(r, "CA") && seen(r, "C"),
                 dihedral(at(r - 1, "C"), at(r, "N"), at(r, "CA"), at(r, "C")));
    expect_angle(r, 2, seen(r, "N") && seen(r, "CA") && seen(r, "C") && seen(r, "O"),
                 dihedral(at(r, "N"), at(r, "CA"), at(r, "C"), at(r, "O")) + M_PI);
    for (int c = 0; c < 4; ++c) {
      const auto& names = rc::chi_angles_atoms()[types[r]][c];
      const bool defined = !names[0].empty();
      bool observed = defined;
      for (int k = 0; k < 4 && defined; ++k) observed = observed && seen(r, std::string(names[k]).c_str());
      const double angle = defined ? dihedral(at(r, std::string(names[0]).c_str()), at(r, std::string(names[1]).c_str()),
                                              at(r, std::string(names[2]).c_str()), at(r, std::string(names[3]).c_str()))
                                   : 0.0;
      expect_angle(r, 3 + c, observed, angle);
      chis += observed;
    }
  }
  EXPECT_GT(checked, 150);
  EXPECT_GT(chis, 30);
}

// A real chain's torsion angles, turned into frames and atoms by Algorithm 24, give an
// idealised copy of the chain; recomputing torsions from that copy and building it again
// reproduces every atom to 1e-3 A, and atom37_to_frames of the copy equals Algorithm 24's
// group frames (the alternative frames mapping each symmetric atom onto its partner).
TEST(AllAtom, TorsionsOfARealStructureRecomputedIntoFramesReproduceItsAtoms) {
  const fs::path cif = source_dir() / ".." / "shared" / "data" / "mmcif" / "2q2k.cif";
  if (!fs::exists(cif))
    GTEST_SKIP() << "test data not present: " << cif.string() << " (../shared/data is read in place)";
  const data::Protein p = data::read_protein(cif.string(), {"A"});
  const int64_t n = static_cast<int64_t>(p.num_residues());
  const torch::Tensor pos = torch::from_blob(const_cast<float*>(p.atom_positions.data()), {n, 37, 3}).clone();
  const torch::Tensor mask = torch::from_blob(const_cast<float*>(p.atom_mask.data()), {n, 37}).clone();
  const torch::Tensor all_types = torch::tensor(std::vector<int64_t>(p.aatype.begin(), p.aatype.end()), torch::kLong);
  const TorsionAngles real = atom37_to_torsion_angles(all_types, pos, mask);
  // Residues with every heavy atom observed (their torsions all defined).
  const torch::Tensor complete =
      ((mask - atom37_mask(all_types)).abs().amax(-1) == 0).logical_and(all_types < 20).nonzero().squeeze(-1);
  ASSERT_GT(complete.size(0), 30);
  const torch::Tensor aatype = all_types.index_select(0, complete);
  const auto atom = [](const torch::Tensor& x, const char* name) { return x.select(-2, rc::atom_order(name)); };
  const auto build = [&](const torch::Tensor& positions, const torch::Tensor& sin_cos) {
    const Rigid backbone = Rigid::from_backbone(atom(positions, "N"), atom(positions, "CA"), atom(positions, "C"));
    const Rigid frames = torsion_angles_to_frames(backbone, sin_cos, aatype);
    return std::make_pair(frames, atom14_to_atom37(frames_and_literature_positions_to_atom14_pos(frames, aatype), aatype));
  };
  const auto [frames1, ideal] = build(pos.index_select(0, complete), real.sin_cos.index_select(0, complete));
  const torch::Tensor exists = atom37_mask(aatype);
  // The idealised copy stays close to the real chain (crystal geometry is near-ideal).
  const torch::Tensor dev = ((ideal - pos.index_select(0, complete)).norm(2, -1) * exists);
  const double rmsd = std::sqrt((dev.square().sum() / exists.sum()).item<double>());
  std::cout << "idealised vs real: RMSD " << rmsd << " A, max " << dev.max().item<double>() << " A over "
            << complete.size(0) << " residues\n";
  EXPECT_LT(rmsd, 0.5);

  const TorsionAngles again = atom37_to_torsion_angles(aatype, ideal, exists);
  const auto [frames2, rebuilt] = build(ideal, again.sin_cos);
  EXPECT_LT(((rebuilt - ideal).norm(2, -1) * exists).max().item<double>(), 1e-3);

  const RigidGroupFrames gt = atom37_to_frames(aatype, ideal, exists);
  const torch::Tensor defined = gt.gt_exists.unsqueeze(-1).unsqueeze(-1);
  EXPECT_TRUE(torch::equal(gt.gt_exists, gt.group_exists));
  EXPECT_LT(((gt.frames.to_tensor_4x4() - frames1.to_tensor_4x4()).abs() * defined).max().item<double>(), 1e-4);
  // Group existence follows the residue type: backbone and psi always, pre-omega and phi
  // never, one chi group per chi angle.
  const torch::Tensor chis = torch::tensor(std::vector<float>(rc::chi_angles_mask()[rc::restype_order('F')].begin(),
                                                              rc::chi_angles_mask()[rc::restype_order('F')].end()));
  const torch::Tensor phe = (aatype == rc::restype_order('F')).nonzero().squeeze(-1);
  ASSERT_GT(phe.size(0), 0);
  EXPECT_TRUE(torch::equal(gt.group_exists[phe[0].item<int64_t>()],
                           torch::cat({torch::tensor({1.0f, 0.0f, 0.0f, 1.0f}), chis})));
  // PHE's ring is symmetric under a half turn about chi2's axis: the alternative chi2
  // frame puts CD1's literature position where the chain has CD2.
  const int64_t chi2 = 5;
  EXPECT_EQ(gt.group_is_ambiguous.index({phe, chi2}).min().item<float>(), 1.0f);
  const auto lit = rc::restype_atom37_rigid_group_positions()[rc::restype_order('F')][rc::atom_order("CD1")];
  const torch::Tensor cd1_local = torch::tensor({lit[0], lit[1], lit[2]});
  for (int64_t k = 0; k < phe.size(0); ++k) {
    const int64_t r = phe[k].item<int64_t>();
    const Rigid alt(Rotation(gt.alt_frames.rots().rot_mats()[r][chi2]), gt.alt_frames.trans()[r][chi2]);
    EXPECT_LT((alt.apply(cd1_local) - atom(ideal, "CD2")[r]).norm().item<double>(), 1e-2) << "residue " << r;
  }
  // On the real chain a group exists only where its three atoms were observed.
  const RigidGroupFrames real_gt = atom37_to_frames(all_types, pos, mask);
  EXPECT_LE(real_gt.gt_exists.sum().item<double>(), real_gt.group_exists.sum().item<double>());
  EXPECT_LT(real_gt.gt_exists.sum().item<double>(), real_gt.group_exists.sum().item<double>())
      << "2q2k chain A has residues with unobserved atoms";
}

// ---------------------------------------------------------------------------------------
// Structure module (Algorithm 20)

constexpr const char* kSm = "structure_module";

StructureModule build_structure_module(const Ref& r) {
  const auto h = [&](const char* key) { return r.hyper().at(key); };
  StructureModule m(StructureModuleOptions()
                        .c_s(h("c_s").get<int64_t>())
                        .c_z(h("c_z").get<int64_t>())
                        .c_ipa(h("c_ipa").get<int64_t>())
                        .c_resnet(h("c_resnet").get<int64_t>())
                        .no_heads_ipa(h("no_heads_ipa").get<int64_t>())
                        .no_qk_points(h("no_qk_points").get<int64_t>())
                        .no_v_points(h("no_v_points").get<int64_t>())
                        .no_blocks(h("no_blocks").get<int64_t>())
                        .no_transition_layers(h("no_transition_layers").get<int64_t>())
                        .no_resnet_blocks(h("no_resnet_blocks").get<int64_t>())
                        .no_angles(h("no_angles").get<int64_t>())
                        .trans_scale_factor(h("trans_scale_factor").get<double>())
                        .epsilon(h("epsilon").get<double>())
                        .inf(h("inf").get<double>()));
  af2::load_module_params(*m, r.arrays, r.meta.at("af2_scope").get<std::string>(),
                          af2::param_table(af2::ModuleKind::kStructureModule));
  m->eval();
  return m;
}

Tensors sm_outputs(const StructureModuleOutput& o) {
  return {{"frames", o.frames},   {"sidechain_frames", o.sidechain_frames}, {"unnormalized_angles", o.unnormalized_angles},
          {"angles", o.angles},   {"positions", o.positions},               {"states", o.states},
          {"single", o.single}};
}

TEST(StructureModule, MatchesOpenFold) {
  FOLD_LOAD_REF(ref, kSm);
  StructureModule m = build_structure_module(*ref);
  torch::Tensor single = ref->get("in/single").clone().requires_grad_(true);
  torch::Tensor pair = ref->get("in/pair").clone().requires_grad_(true);
  const Tensors out = sm_outputs(m(single, pair, ref->get("in/aatype"), ref->get("in/mask")));
  torch::Tensor loss = torch::zeros({}, torch::kDouble);
  for (const auto& [key, value] : out) {
    ASSERT_EQ(value.sizes(), ref->get("out/" + key).sizes()) << key;
    loss = loss + (value * ref->get("cot/" + key)).sum().to(torch::kDouble);
  }
  loss.backward();
  for (const auto& [key, value] : out) {
    const torch::Tensor valid = ref->get("valid/" + key);
    const double err = rel_err(value, ref->get("out/" + key), valid);
    std::cout << "[ structure_module ] out/" << key << " rel err " << err << " (vs float64 "
              << rel_err(value, ref->get("out64/" + key), valid) << ", tol " << ref->tolerance("out/" + key) << ")\n";
    EXPECT_LT(err, ref->tolerance("out/" + key)) << key;
  }
  const Tensors grads = {{"single", single.grad()}, {"pair", pair.grad()}};
  for (const std::string& x : ref->grad_inputs()) {
    const std::string key = "grad/" + x;
    ASSERT_TRUE(grads.at(x).defined()) << key;
    const double err = rel_err(grads.at(x), ref->get(key));
    std::cout << "[ structure_module ] " << key << " rel err " << err << " (vs float64 "
              << rel_err(grads.at(x), ref->get("grad64/" + x)) << ", tol " << ref->tolerance(key) << ")\n";
    EXPECT_LT(err, ref->tolerance(key)) << key;
  }
}

// A leading batch dim gives each element's result.
TEST(StructureModule, Batched) {
  FOLD_LOAD_REF(ref, kSm);
  StructureModule m = build_structure_module(*ref);
  torch::NoGradGuard no_grad;
  const torch::Tensor s = ref->get("in/single"), z = ref->get("in/pair"), aa = ref->get("in/aatype"),
                      mask = ref->get("in/mask");
  const StructureModuleOutput both = m(torch::stack({s, s.flip(0)}), torch::stack({z, z.flip({0, 1})}),
                                       torch::stack({aa, aa.flip(0)}), torch::stack({mask, torch::ones_like(mask)}));
  const StructureModuleOutput one = m(s.flip(0), z.flip({0, 1}), aa.flip(0), torch::ones_like(mask));
  const Tensors b = sm_outputs(both), o = sm_outputs(one);
  for (const auto& [key, value] : o) {
    const int64_t batch_dim = key == "single" ? 0 : 1;
    // The per-iteration angle normalisation amplifies summation-order differences as
    // float32 vs float64 does: the reference's tolerance for the output.
    EXPECT_LT(rel_err(b.at(key).select(batch_dim, 1), value), ref->tolerance("out/" + key)) << key;
  }
}

// Without autograd and chunked, IPA reads the normalised pair row by row (never whole):
// the same outputs, and a bf16 pair is normalised from its fp32 conversion row by row.
TEST(StructureModule, RowByRowPairEqualsWholePair) {
  FOLD_LOAD_REF(ref, kSm);
  StructureModule m = build_structure_module(*ref);
  torch::NoGradGuard no_grad;
  const torch::Tensor s = ref->get("in/single"), z = ref->get("in/pair"), aa = ref->get("in/aatype"),
                      mask = ref->get("in/mask");
  // In fp64, so that only a difference in what is computed could show: rows of a
  // product sum in another order, which the per-iteration angle normalisation amplifies
  // to ~3e-5 in fp32.
  m->to(torch::kDouble);
  const torch::Tensor s64 = s.to(torch::kDouble), z64 = z.to(torch::kDouble), mask64 = mask.to(torch::kDouble);
  const Tensors whole = sm_outputs(m(s64, z64, aa, mask64));
  for (const int64_t chunk : {1, 3, 1000}) {
    const Tensors rows = sm_outputs(m(s64, z64, aa, mask64, chunk));
    for (const auto& [key, value] : whole) EXPECT_LT(rel_err(rows.at(key), value), 1e-9) << key << ", chunk " << chunk;
  }
  // A bf16 pair: each chunk of rows is converted before it is normalised, as the whole is.
  m->to(torch::kFloat);
  const Tensors bf16_whole = sm_outputs(m(s, z.to(torch::kBFloat16), aa, mask));
  const Tensors bf16_rows = sm_outputs(m(s, z.to(torch::kBFloat16), aa, mask, 1000));
  for (const auto& [key, value] : bf16_whole) EXPECT_LE(rel_err(bf16_rows.at(key), value), 1e-6) << key;
}

TEST(StructureModule, OpenFoldNamesAndInit) {
  StructureModule m(StructureModuleOptions().c_s(16).c_z(8).c_ipa(4).c_resnet(8).no_heads_ipa(2).no_qk_points(2)
                        .no_v_points(2).no_blocks(3));
  // Every table entry names a parameter, and every parameter is in the table.
  std::set<std::string> table_names;
  for (const auto& e : af2::param_table(af2::ModuleKind::kStructureModule)) table_names.insert(e.name);
  std::set<std::string> names;
  for (const auto& item : m->named_parameters()) names.insert(item.key());
  EXPECT_EQ(names, table_names);
  for (const char* name : {"layer_norm_s.weight", "linear_in.weight", "ipa.linear_q.weight", "layer_norm_ipa.bias",
                           "transition.layers.0.linear_3.weight", "transition.layer_norm.weight",
                           "bb_update.linear.weight", "angle_resnet.linear_initial.bias",
                           "angle_resnet.layers.1.linear_2.weight", "angle_resnet.linear_out.weight"})
    EXPECT_EQ(names.count(name), 1u) << name;
  // Freshly initialised: the backbone update is 0, so the frames stay the identity and
  // the backbone atoms sit at their literature positions.
  m->eval();
  torch::NoGradGuard no_grad;
  const torch::Tensor aatype = torch::randint(0, 20, {5}, torch::kLong);
  const StructureModuleOutput out = m(torch::randn({5, 16}), torch::randn({5, 5, 8}), aatype);
  EXPECT_EQ(out.frames.sizes(), (std::vector<int64_t>{3, 5, 7}));
  EXPECT_EQ(out.sidechain_frames.sizes(), (std::vector<int64_t>{3, 5, 8, 4, 4}));
  EXPECT_EQ(out.positions.sizes(), (std::vector<int64_t>{3, 5, 14, 3}));
  EXPECT_EQ(out.states.sizes(), (std::vector<int64_t>{3, 5, 16}));
  EXPECT_EQ(max_abs(out.frames - torch::tensor({1.f, 0.f, 0.f, 0.f, 0.f, 0.f, 0.f})), 0.0);
  for (int64_t i = 0; i < 5; ++i) {
    const int64_t r = aatype[i].item<int64_t>();
    for (int a = 0; a < 3; ++a) {  // N, CA, C
      const auto& lit = rc::restype_atom14_rigid_group_positions()[r][a];
      EXPECT_LT(max_abs(out.positions[2][i][a] - torch::tensor({lit[0], lit[1], lit[2]})), 1e-6);
    }
  }
  // Angles are unit (sin, cos) pairs.
  EXPECT_LT(max_abs(out.angles.norm(2, -1) - 1), 1e-5);
}

}  // namespace
}  // namespace fold::structure
