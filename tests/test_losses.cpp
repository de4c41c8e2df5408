// The AlphaFold2 training losses (fold/loss/, Supplement 1.9) one suite per module: each
// term on a small case computed by hand, finite-difference gradients in fp64, FAPE's
// invariance under global rigid motions, FAPE and the torsion-angle loss against
// OpenFold's values and gradients (../shared/ref-modules), and the weighted sum
// (names, weights, crop-size scaling, missing features) on a synthetic structure.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <filesystem>
#include <functional>
#include <limits>
#include <stdexcept>
#include <map>
#include <string>
#include <vector>

#include "data/npz.h"
#include "data/residue_constants.h"
#include "fold/config.h"
#include "fold/features/training_sample.h"
#include "fold/loss/alphafold_loss.h"
#include "fold/loss/chain_center_of_mass_loss.h"
#include "fold/loss/chain_permutation.h"
#include "fold/loss/distogram_loss.h"
#include "fold/loss/experimentally_resolved_loss.h"
#include "fold/loss/fape.h"
#include "fold/loss/masked_msa_loss.h"
#include "fold/loss/plddt_loss.h"
#include "fold/loss/structural_violations.h"
#include "fold/loss/tm_loss.h"
#include "fold/loss/torsion_angle_loss.h"
#include "fold/loss/validation_metrics.h"
#include "structure_module/all_atom.h"
#include "structure_module/rigid.h"
#include "tests/gradient_check.h"
#include "tests/ref_modules.h"
#include "tests/test_paths.h"

namespace fold::loss {
namespace {

using structure::Rigid;
using structure::Rotation;
using test::expect_gradients_match_finite_differences;
using test::GradCheckOptions;
using test::NamedTensors;

const auto kF64 = torch::dtype(torch::kFloat64);

double value(const torch::Tensor& t) { return t.item<double>(); }

// A term's options at their defaults (OpenFold's config) but for eps, as a case states it.
template <typename Options>
Options with_eps(double eps) {
  Options o;
  o.eps = eps;
  return o;
}

// Rotation by `degrees` about z, [3, 3].
torch::Tensor rot_z(double degrees, torch::TensorOptions options = kF64) {
  const double a = degrees * M_PI / 180.0, c = std::cos(a), s = std::sin(a);
  return torch::tensor({c, -s, 0.0, s, c, 0.0, 0.0, 0.0, 1.0}, options).reshape({3, 3});
}

Rigid rigid(const torch::Tensor& rots, const torch::Tensor& trans) { return Rigid(Rotation(rots), trans); }

// Random proper rotations [shape..., 3, 3].
torch::Tensor random_rotations(std::vector<int64_t> shape, torch::TensorOptions options = kF64) {
  shape.push_back(4);
  return structure::quat_to_rot(torch::randn(shape, options));
}

// logsumexp of 0, 1, ..., n-1 times `slope` (the cross entropy of a ramp of logits is
// this minus slope * label).
double ramp_lse(int64_t n, double slope) {
  double s = 0.0;
  for (int64_t b = 0; b < n; ++b) s += std::exp(slope * static_cast<double>(b));
  return std::log(s);
}

GradCheckOptions fd_options() {
  GradCheckOptions o;
  o.step = 1e-6;
  o.tol = 1e-6;
  o.entries = 24;
  return o;
}

// ---------------------------------------------------------------------------------------
// FAPE (Algorithm 28), backbone / side-chain terms, renaming (Algorithm 26)

TEST(Fape, OneFrameOnePointByHand) {
  const double eps = 1e-4;
  const Rigid id = Rigid::identity({1}, kF64);
  const auto mask = torch::ones({1}, kF64);
  const auto truth = torch::zeros({1, 3}, kF64);
  // |(3, 4, 0)| = 5 A in the identity frame: 5 / 10, the masks' sums each 1 + eps.
  const auto near = torch::tensor({{3.0, 4.0, 0.0}}, kF64);
  const double norm = (1 + eps) * (1 + eps);
  EXPECT_NEAR(value(compute_fape(id, id, mask, near, truth, mask, 10.0, 10.0, eps)),
              std::sqrt(25 + eps) / 10 / norm, 1e-12);
  // 50 A: clamped at 10 A -> 1, unclamped 5.
  const auto far = torch::tensor({{30.0, 40.0, 0.0}}, kF64);
  EXPECT_NEAR(value(compute_fape(id, id, mask, far, truth, mask, 10.0, 10.0, eps)), 1.0 / norm, 1e-12);
  EXPECT_NEAR(value(compute_fape(id, id, mask, far, truth, mask, 10.0, std::nullopt, eps)),
              std::sqrt(2500 + eps) / 10 / norm, 1e-12);
}

TEST(Fape, ErrorsAreMeasuredInTheFramesAndMasked) {
  const double eps = 1e-8;
  // Predicted frame: 90 degrees about z at (1, 0, 0); the point (1, 2, 0) is (2, 0, 0) in
  // it, exactly where the true point sits in the identity frame: no error.
  const Rigid pred = rigid(rot_z(90).unsqueeze(0), torch::tensor({{1.0, 0.0, 0.0}}, kF64));
  const Rigid truth = Rigid::identity({1}, kF64);
  const auto one = torch::ones({1}, kF64);
  EXPECT_NEAR(value(compute_fape(pred, truth, one, torch::tensor({{1.0, 2.0, 0.0}}, kF64),
                                 torch::tensor({{2.0, 0.0, 0.0}}, kF64), one, 10.0, 10.0, eps)),
              std::sqrt(eps) / 10, 1e-9);
  // The point 3 A further along global y (the predicted frame's x) and a second, masked
  // point far off: the mean is over the unmasked point only.
  const auto pred_points = torch::tensor({{1.0, 5.0, 0.0}, {100.0, 0.0, 0.0}}, kF64);
  const auto true_points = torch::tensor({{2.0, 0.0, 0.0}, {0.0, 0.0, 0.0}}, kF64);
  const auto point_mask = torch::tensor({1.0, 0.0}, kF64);
  EXPECT_NEAR(value(compute_fape(pred, truth, one, pred_points, true_points, point_mask, 10.0, 10.0, eps)),
              std::sqrt(9 + eps) / 10, 1e-7);
  // Two frames, the second masked out: the same number.
  const Rigid pred2 = rigid(torch::stack({rot_z(90), rot_z(10)}), torch::tensor({{1.0, 0.0, 0.0}, {5.0, 5.0, 5.0}}, kF64));
  const Rigid truth2 = Rigid::identity({2}, kF64);
  EXPECT_NEAR(value(compute_fape(pred2, truth2, torch::tensor({1.0, 0.0}, kF64), pred_points, true_points, point_mask,
                                 10.0, 10.0, eps)),
              std::sqrt(9 + eps) / 10, 1e-7);
}

TEST(Fape, BackboneLossByHandOverLayersAndClampMix) {
  const double eps = 1e-4;
  // Truth: identity rotations at (0,0,0) and (3,0,0). Layer 0 exact, layer 1 with the
  // second residue at (3, 4, 0): errors 0, 4, 4, 0 (frame i, point j).
  const auto truth = Rigid(Rotation::identity({2}, kF64), torch::tensor({{0.0, 0.0, 0.0}, {3.0, 0.0, 0.0}}, kF64))
                         .to_tensor_4x4();
  const auto quat = torch::tensor({1.0, 0.0, 0.0, 0.0}, kF64).expand({2, 2, 4});
  auto trans = torch::tensor({{{0.0, 0.0, 0.0}, {3.0, 0.0, 0.0}}, {{0.0, 0.0, 0.0}, {3.0, 4.0, 0.0}}}, kF64);
  const auto traj = torch::cat({quat, trans}, -1);  // [L=2, N=2, 7]
  const auto mask = torch::ones({2}, kF64);
  const double z = std::sqrt(eps), d4 = std::sqrt(16 + eps), n = 2 + eps;
  const double layer0 = 4 * z / 10 / (n * n), layer1 = (2 * z + 2 * d4) / 10 / (n * n);
  EXPECT_NEAR(value(backbone_loss(truth, mask, traj, {}, 10.0, 10.0, eps)), (layer0 + layer1) / 2, 1e-12);
  // 40 A instead of 4: clamped at 10; use_clamped_fape = 0.25 mixes 1/4 clamped.
  trans = torch::tensor({{{0.0, 0.0, 0.0}, {3.0, 0.0, 0.0}}, {{0.0, 0.0, 0.0}, {3.0, 40.0, 0.0}}}, kF64);
  const auto traj_far = torch::cat({quat, trans}, -1);
  const double clamped = (2 * z + 2 * 10.0) / 10 / (n * n), unclamped = (2 * z + 2 * std::sqrt(1600 + eps)) / 10 / (n * n);
  EXPECT_NEAR(value(backbone_loss(truth, mask, traj_far, torch::tensor(1.0, kF64), 10.0, 10.0, eps)),
              (layer0 + clamped) / 2, 1e-12);
  EXPECT_NEAR(value(backbone_loss(truth, mask, traj_far, torch::tensor(0.25, kF64), 10.0, 10.0, eps)),
              (layer0 + 0.25 * clamped + 0.75 * unclamped) / 2, 1e-12);
  // The same trajectory as 4x4 matrices.
  const auto traj4 = Rigid::from_tensor_7(traj_far).to_tensor_4x4();
  EXPECT_NEAR(value(backbone_loss(truth, mask, traj4, torch::tensor(0.0, kF64), 10.0, 10.0, eps)),
              (layer0 + unclamped) / 2, 1e-12);
}

TEST(Fape, SidechainLossUsesTheBetterNamingAndTheLastLayer) {
  const double eps = 1e-4;
  torch::manual_seed(3);
  // One residue, 8 group frames, 14 atoms. The truth under the alternative naming equals
  // the prediction; under the given naming it is shifted.
  const auto frames = Rigid(Rotation(random_rotations({1, 8})), torch::randn({1, 8, 3}, kF64) * 3).to_tensor_4x4();
  const auto atoms = torch::randn({1, 14, 3}, kF64) * 3;
  const auto garbage = frames + 0.5;
  const auto exists8 = torch::ones({1, 8}, kF64), exists14 = torch::ones({1, 14}, kF64);
  // Layer 0 is garbage too: only the last layer counts.
  const auto traj_frames = torch::stack({garbage, frames}), traj_atoms = torch::stack({atoms + 1.0, atoms});
  const double exact = std::sqrt(eps) / 10 * (8.0 / (8 + eps)) * (14.0 / (14 + eps));
  EXPECT_NEAR(value(sidechain_loss(traj_frames, traj_atoms, garbage, frames, exists8, atoms, exists14,
                                   torch::ones({1}, kF64), 10.0, 10.0, eps)),
              exact, 1e-12);
  EXPECT_GT(value(sidechain_loss(traj_frames, traj_atoms, garbage, frames, exists8, atoms, exists14,
                                 torch::zeros({1}, kF64), 10.0, 10.0, eps)),
            0.05);
}

// A two-residue atom14 batch: residue 0 has ambiguous atoms in slots 6 and 7 (A, B)
// and an unambiguous atom in slot 0; residue 1 one unambiguous atom in slot 0.
data::FeatureDict renaming_batch() {
  auto gt = torch::zeros({2, 14, 3}, kF64), alt = torch::zeros({2, 14, 3}, kF64);
  auto exists = torch::zeros({2, 14}, kF64), ambiguous = torch::zeros({2, 14}, kF64);
  const auto a = torch::tensor({1.0, 1.5, 0.0}, kF64), b = torch::tensor({1.0, -1.5, 0.0}, kF64);
  gt[0][6] = a, gt[0][7] = b, alt[0][6] = b, alt[0][7] = a;
  gt[0][0] = alt[0][0] = torch::tensor({0.0, 0.0, 0.0}, kF64);
  gt[1][0] = alt[1][0] = torch::tensor({3.8, 2.0, 0.0}, kF64);  // nearer A than B
  exists[0][0] = exists[0][6] = exists[0][7] = exists[1][0] = 1;
  ambiguous[0][6] = ambiguous[0][7] = 1;
  return {{"atom14_gt_positions", gt},     {"atom14_alt_gt_positions", alt}, {"atom14_gt_exists", exists},
          {"atom14_alt_gt_exists", exists}, {"atom14_atom_is_ambiguous", ambiguous}};
}

TEST(Fape, RenamedGroundTruthPicksTheNamingCloserToThePrediction) {
  const data::FeatureDict batch = renaming_batch();
  // A prediction with A and B swapped (and slightly off): the alternative naming fits.
  auto pred = batch.at("atom14_alt_gt_positions").clone() + 0.1;
  RenamedGroundTruth r = compute_renamed_ground_truth(batch, pred);
  EXPECT_TRUE(torch::equal(r.alt_naming_is_better, torch::tensor({1.0, 0.0}, kF64)));
  EXPECT_TRUE(torch::allclose(r.renamed_atom14_gt_positions, batch.at("atom14_alt_gt_positions")));
  EXPECT_TRUE(torch::allclose(r.renamed_atom14_gt_exists, batch.at("atom14_gt_exists")));
  // A prediction in the given naming keeps it.
  pred = batch.at("atom14_gt_positions").clone() + 0.1;
  r = compute_renamed_ground_truth(batch, pred);
  EXPECT_TRUE(torch::equal(r.alt_naming_is_better, torch::tensor({0.0, 0.0}, kF64)));
  EXPECT_TRUE(torch::allclose(r.renamed_atom14_gt_positions, batch.at("atom14_gt_positions")));
}

TEST(Fape, InvariantUnderGlobalRigidMotions) {
  torch::manual_seed(5);
  const int64_t nf = 6, np = 9;
  const Rigid pred(Rotation(random_rotations({nf})), torch::randn({nf, 3}, kF64) * 5);
  const Rigid truth(Rotation(random_rotations({nf})), torch::randn({nf, 3}, kF64) * 5);
  const auto xp = torch::randn({np, 3}, kF64) * 5, xt = torch::randn({np, 3}, kF64) * 5;
  const auto fm = torch::tensor({1.0, 1.0, 0.0, 1.0, 1.0, 1.0}, kF64), pm = torch::ones({np}, kF64);
  pm[4] = 0;
  for (const auto clamp : {std::optional<double>(10.0), std::optional<double>()}) {
    const double base = value(compute_fape(pred, truth, fm, xp, xt, pm, 10.0, clamp, 1e-4));
    const Rigid g1(Rotation(random_rotations({})), torch::randn({3}, kF64) * 20);
    const Rigid g2(Rotation(random_rotations({})), torch::randn({3}, kF64) * 20);
    const auto move = [](const Rigid& g, const Rigid& t) { return g.unsqueeze(0).compose(t); };
    // The same motion of prediction and truth, and a different one for each.
    EXPECT_NEAR(value(compute_fape(move(g1, pred), move(g1, truth), fm, g1.apply(xp), g1.apply(xt), pm, 10.0, clamp,
                                   1e-4)),
                base, 1e-12);
    EXPECT_NEAR(value(compute_fape(move(g1, pred), move(g2, truth), fm, g1.apply(xp), g2.apply(xt), pm, 10.0, clamp,
                                   1e-4)),
                base, 1e-12);
    // Not a constant: moving only the prediction's points changes it.
    EXPECT_GT(std::abs(value(compute_fape(pred, truth, fm, g1.apply(xp), xt, pm, 10.0, clamp, 1e-4)) - base), 1e-3);
  }
}

TEST(Fape, GradientMatchesFiniteDifferencesFp64) {
  torch::manual_seed(7);
  const int64_t nf = 5, np = 7;
  const auto rot_t = random_rotations({nf}), trans_t = torch::randn({nf, 3}, kF64) * 3;
  const auto xt = torch::randn({np, 3}, kF64) * 3;
  const auto fm = torch::tensor({1.0, 1.0, 1.0, 0.0, 1.0}, kF64), pm = torch::ones({np}, kF64);
  // Predictions near the truth, so that some errors sit below the 10 A clamp and some
  // (scaled points) above: both sides of the clamp, away from its hinge.
  NamedTensors inputs = {{"rot", random_rotations({nf})},
                         {"trans", (trans_t + torch::randn({nf, 3}, kF64)).contiguous()},
                         {"points", (xt * 2.5 + torch::randn({np, 3}, kF64)).contiguous()}};
  for (const auto clamp : {std::optional<double>(10.0), std::optional<double>()}) {
    expect_gradients_match_finite_differences(
        [&](const std::vector<torch::Tensor>& x) {
          return std::vector<torch::Tensor>{compute_fape(rigid(x[0], x[1]), rigid(rot_t, trans_t), fm, x[2], xt, pm,
                                                         10.0, clamp, 1e-4)};
        },
        inputs, nullptr, fd_options());
  }
}

TEST(Fape, BackboneAndSidechainGradientsMatchFiniteDifferencesFp64) {
  torch::manual_seed(8);
  const int64_t n = 3, layers = 2;
  const auto truth = Rigid(Rotation(random_rotations({n})), torch::randn({n, 3}, kF64) * 4).to_tensor_4x4();
  const auto mask = torch::tensor({1.0, 1.0, 0.0}, kF64);
  NamedTensors bb = {{"traj", torch::cat({torch::randn({layers, n, 4}, kF64), torch::randn({layers, n, 3}, kF64) * 8}, -1)}};
  expect_gradients_match_finite_differences(
      [&](const std::vector<torch::Tensor>& x) {
        return std::vector<torch::Tensor>{backbone_loss(truth, mask, x[0], torch::tensor(0.5, kF64), 10.0, 10.0, 1e-4)};
      },
      bb, nullptr, fd_options());

  const auto gt_frames = Rigid(Rotation(random_rotations({n, 8})), torch::randn({n, 8, 3}, kF64) * 4).to_tensor_4x4();
  const auto alt_frames = Rigid(Rotation(random_rotations({n, 8})), torch::randn({n, 8, 3}, kF64) * 4).to_tensor_4x4();
  const auto exists8 = (torch::rand({n, 8}, kF64) > 0.3).to(torch::kFloat64);
  const auto gt_atoms = torch::randn({n, 14, 3}, kF64) * 4;
  const auto exists14 = (torch::rand({n, 14}, kF64) > 0.3).to(torch::kFloat64);
  const auto alt = torch::tensor({0.0, 1.0, 0.0}, kF64);
  NamedTensors sc = {
      {"frames", Rigid(Rotation(random_rotations({layers, n, 8})), torch::randn({layers, n, 8, 3}, kF64) * 4)
                     .to_tensor_4x4()
                     .contiguous()},
      {"atoms", (torch::randn({layers, n, 14, 3}, kF64) * 4).contiguous()}};
  expect_gradients_match_finite_differences(
      [&](const std::vector<torch::Tensor>& x) {
        return std::vector<torch::Tensor>{
            sidechain_loss(x[0], x[1], gt_frames, alt_frames, exists8, gt_atoms, exists14, alt, 10.0, 10.0, 1e-4)};
      },
      sc, nullptr, fd_options());
}

TEST(Fape, AgreesWithOpenFold) {
  using namespace test::ref_modules;
  FOLD_LOAD_REF(ref, "fape_loss");
  const auto& h = ref->hyper();
  const double scale = h.at("length_scale").get<double>(), clamp = h.at("l1_clamp_distance").get<double>();
  const double eps = h.at("eps").get<double>();
  for (const auto dtype : {torch::kFloat32, torch::kFloat64}) {
    const bool f64 = dtype == torch::kFloat64;
    const auto in = [&](const char* name) { return ref->get(std::string("in/") + name).to(dtype); };
    const auto rot = in("pred_rot").clone().requires_grad_(true);
    const auto trans = in("pred_trans").clone().requires_grad_(true);
    const auto pos = in("pred_positions").clone().requires_grad_(true);
    const Rigid truth = rigid(in("target_rot"), in("target_trans"));
    const auto fape = [&](std::optional<double> c) {
      return compute_fape(rigid(rot, trans), truth, in("frames_mask"), pos, in("target_positions"),
                          in("positions_mask"), scale, c, eps);
    };
    const auto clamped = fape(clamp), unclamped = fape(std::nullopt);
    const std::string out = f64 ? "out64/" : "out/", grad = f64 ? "grad64/" : "grad/";
    // Within OpenFold's own fp32 vs fp64 spread, in both precisions: the stored inputs are
    // fp32 roundings of the ones OpenFold's fp64 run saw (its out64 differs by ~1e-8).
    const auto tol = [&](const std::string& key) { return ref->tolerance(key); };
    EXPECT_LE(rel_err(clamped, ref->get(out + "fape_clamped")), tol("out/fape_clamped"));
    EXPECT_LE(rel_err(unclamped, ref->get(out + "fape_unclamped")), tol("out/fape_unclamped"));
    const auto l = clamped * ref->get("cot/fape_clamped").to(dtype) + unclamped * ref->get("cot/fape_unclamped").to(dtype);
    l.backward();
    EXPECT_LE(rel_err(rot.grad(), ref->get(grad + "pred_rot")), tol("grad/pred_rot")) << (f64 ? "fp64" : "fp32");
    EXPECT_LE(rel_err(trans.grad(), ref->get(grad + "pred_trans")), tol("grad/pred_trans"));
    EXPECT_LE(rel_err(pos.grad(), ref->get(grad + "pred_positions")), tol("grad/pred_positions"));
  }
}

// ---------------------------------------------------------------------------------------
// Torsion angles (Algorithm 27)

int aatype_of(char one_letter) { return data::rc::restype_order(one_letter); }

TEST(TorsionAngleLoss, ChiErrorsPiPeriodicityAndAngleNormByHand) {
  const double eps = 1e-8, mm = 1e-4;  // masked_mean's eps is OpenFold's 1e-4
  // One ASP (chi2 pi-periodic) and one LEU (not): chi1 off by 90 degrees (chord^2 = 2),
  // chi2 predicted half a turn away (chord^2 = 4, or 0 for the periodic chi).
  const auto aatype = torch::tensor({aatype_of('D'), aatype_of('L')}, torch::kLong);
  auto angles = torch::zeros({1, 2, 7, 2}, kF64);
  angles.select(-1, 1).fill_(1.0);  // (sin, cos) = (0, 1) everywhere
  auto truth = torch::zeros({2, 4, 2}, kF64);
  truth.select(-1, 1).fill_(1.0);
  truth[0][0] = truth[1][0] = torch::tensor({1.0, 0.0}, kF64);  // chi1 = 90 degrees
  angles[0][0][4] = angles[0][1][4] = torch::tensor({0.0, -1.0}, kF64);  // chi2 predicted 180
  const auto chi_mask = torch::tensor({{1.0, 1.0, 0.0, 0.0}, {1.0, 1.0, 0.0, 0.0}}, kF64);
  const auto seq_mask = torch::ones({2}, kF64);
  // Unnormalised angles of norm 2 for every torsion of residue 0, 1 for residue 1.
  auto u = angles.clone();
  u[0][0] = u[0][0] * 2;
  const double chi = (2 + 0 + 2 + 4) / (4 + mm);
  const double norm = 7 * (std::sqrt(4 + eps) - 1 + std::sqrt(1 + eps) - 1) / (14 + mm);
  EXPECT_NEAR(value(supervised_chi_loss(angles, u, aatype, seq_mask, chi_mask, truth, with_eps<SupervisedChiLossOptions>(eps))),
              0.5 * chi + 0.01 * norm, 1e-12);
  // Two layers: the second perfect. The masked mean runs over both layers.
  auto perfect = angles.clone();
  perfect[0][0][3] = perfect[0][1][3] = torch::tensor({1.0, 0.0}, kF64);
  perfect[0][1][4] = torch::tensor({0.0, 1.0}, kF64);
  const auto two = torch::cat({angles, perfect}, 0);
  EXPECT_NEAR(value(supervised_chi_loss(two, torch::cat({u, perfect}, 0), aatype, seq_mask, chi_mask, truth,
                                        with_eps<SupervisedChiLossOptions>(eps))),
              0.5 * 8 / (8 + mm) + 0.01 * 7 * (std::sqrt(4 + eps) - 1 + 3 * (std::sqrt(1 + eps) - 1)) / (28 + mm),
              1e-12);
}

TEST(TorsionAngleLoss, GradientMatchesFiniteDifferencesFp64) {
  torch::manual_seed(11);
  const int64_t n = 4;
  const auto aatype = torch::tensor({aatype_of('D'), aatype_of('F'), aatype_of('K'), aatype_of('G')}, torch::kLong);
  const auto truth_angles = torch::randn({n, 4, 2}, kF64);
  const auto truth = truth_angles / truth_angles.norm(2, -1, true);
  const auto chi_mask = torch::tensor({{1.0, 1.0, 0.0, 0.0}, {1.0, 1.0, 0.0, 0.0}, {1.0, 1.0, 1.0, 1.0},
                                       {0.0, 0.0, 0.0, 0.0}}, kF64);
  const auto seq_mask = torch::tensor({1.0, 1.0, 1.0, 0.0}, kF64);
  NamedTensors inputs = {{"u", torch::randn({3, n, 7, 2}, kF64)}};
  expect_gradients_match_finite_differences(
      [&](const std::vector<torch::Tensor>& x) {
        const auto a = x[0] / x[0].norm(2, -1, true);
        return std::vector<torch::Tensor>{supervised_chi_loss(a, x[0], aatype, seq_mask, chi_mask, truth)};
      },
      inputs, nullptr, fd_options());
}

TEST(TorsionAngleLoss, AgreesWithOpenFold) {
  using namespace test::ref_modules;
  FOLD_LOAD_REF(ref, "torsion_angle_loss");
  const auto& h = ref->hyper();
  for (const auto dtype : {torch::kFloat32, torch::kFloat64}) {
    const bool f64 = dtype == torch::kFloat64;
    const auto in = [&](const char* name) { return ref->get(std::string("in/") + name); };
    const auto u = in("unnormalized_angles_sin_cos").to(dtype).clone().requires_grad_(true);
    // The structure module's normalisation, as the reference call does it.
    const auto angles = u / torch::sqrt(torch::clamp_min(u.pow(2).sum(-1, true), 1e-12));
    SupervisedChiLossOptions chi_options;
    chi_options.chi_weight = h.at("chi_weight").get<double>();
    chi_options.angle_norm_weight = h.at("angle_norm_weight").get<double>();
    chi_options.eps = h.at("eps").get<double>();
    const auto loss = supervised_chi_loss(angles, u, in("aatype"), in("seq_mask").to(dtype), in("chi_mask").to(dtype),
                                          in("chi_angles_sin_cos").to(dtype), chi_options);
    const std::string out = f64 ? "out64/" : "out/", grad = f64 ? "grad64/" : "grad/";
    const auto tol = [&](const std::string& key) { return ref->tolerance(key); };  // as for FAPE
    EXPECT_LE(rel_err(loss, ref->get(out + "loss")), tol("out/loss")) << (f64 ? "fp64" : "fp32");
    const auto l = loss * ref->get("cot/loss").to(dtype) + (angles * ref->get("cot/angles_sin_cos").to(dtype)).sum();
    l.backward();
    EXPECT_LE(rel_err(u.grad(), ref->get(grad + "unnormalized_angles_sin_cos")),
              tol("grad/unnormalized_angles_sin_cos"))
        << (f64 ? "fp64" : "fp32");
  }
}

// ---------------------------------------------------------------------------------------
// Distogram, masked MSA, pLDDT, experimentally resolved, TM

TEST(DistogramLoss, BinsAndMaskByHand) {
  // Pseudo-beta atoms 5 A apart (the edges are 2.3125 + 0.3125 k: 9 lie below 5 A, so
  // bin 9; a self-pair is bin 0); a third residue unobserved.
  const auto x = torch::tensor({{0.0, 0.0, 0.0}, {3.0, 4.0, 0.0}, {50.0, 0.0, 0.0}}, kF64);
  const auto mask = torch::tensor({1.0, 1.0, 0.0}, kF64);
  auto logits = torch::zeros({3, 3, 64}, kF64);
  logits[0][1][9] = logits[1][0][9] = 2.0;
  const double eps = 1e-6;
  const double self = std::log(64.0), pair = std::log(std::exp(2.0) + 63) - 2.0;
  EXPECT_NEAR(value(distogram_loss(logits, x, mask, with_eps<DistogramLossOptions>(eps))), (2 * self + 2 * pair) / (4 + eps),
              1e-12);
  // 3 A apart: 3 edges below 3 A (2.3125, 2.625, 2.9375) -> bin 3, whose logit is 0.
  const auto y = torch::tensor({{0.0, 0.0, 0.0}, {3.0, 0.0, 0.0}, {50.0, 0.0, 0.0}}, kF64);
  logits[0][1][3] = logits[1][0][3] = 1.0;
  EXPECT_NEAR(value(distogram_loss(logits, y, mask, with_eps<DistogramLossOptions>(eps))),
              (2 * self + 2 * (std::log(std::exp(2.0) + std::exp(1.0) + 62) - 1.0)) / (4 + eps), 1e-12);
}

TEST(MaskedMsaLoss, CrossEntropyOverCorruptedPositionsByHand) {
  // The true class's logit log 3 against 22 zeros: p = 3 / 25 at every position; two
  // positions corrupted, one of them with the true class's logit raised to log 28.
  auto logits = torch::zeros({2, 2, 23}, kF64);
  const auto true_msa = torch::tensor({{0, 5}, {22, 7}}, torch::kLong);
  for (int s = 0; s < 2; ++s)
    for (int i = 0; i < 2; ++i) logits[s][i][true_msa[s][i].item<int64_t>()] = std::log(3.0);
  logits[1][0][22] = std::log(28.0);
  const auto bert = torch::tensor({{0.0, 1.0}, {1.0, 0.0}}, kF64);
  const double eps = 1e-8;
  EXPECT_NEAR(value(masked_msa_loss(logits, true_msa, bert, with_eps<MaskedMsaLossOptions>(eps))),
              (std::log(25.0 / 3.0) + std::log(50.0 / 28.0)) / (2 + 2 * eps), 1e-12);
}

TEST(PlddtLoss, BinnedLddtTargetsByHand) {
  // C-alpha atoms on a line 3.8 A apart; the third predicted 0.7 A off (lDDT of that pair
  // 0.75: within 1, 2, 4 A but not 0.5 A); the fourth residue has no C-alpha.
  auto truth = torch::zeros({4, 37, 3}, kF64), pred = torch::zeros({4, 37, 3}, kF64);
  auto mask = torch::zeros({4, 37}, kF64);
  for (int i = 0; i < 4; ++i) {
    truth[i][1][0] = 3.8 * i;
    pred[i][1][0] = 3.8 * i + (i == 2 ? 0.7 : 0.0);
    mask[i][1] = i < 3 ? 1.0 : 0.0;
  }
  pred[3][1][0] = 100.0;
  // Per-residue lDDT: 0.875, 0.875, 0.75 -> bins 43, 43, 37 of 50. Logits ramp 0.1 b.
  const auto logits = (torch::arange(50, kF64) * 0.1).expand({4, 50}).contiguous();
  const double lse = ramp_lse(50, 0.1);
  const double expected = (3 * lse - 0.1 * (43 + 43 + 37)) / (3 + 1e-10);
  EXPECT_NEAR(value(plddt_loss(logits, pred, truth, mask, torch::tensor(2.0, kF64), with_eps<PlddtLossOptions>(1e-10))),
              expected, 1e-9);
  // Outside the resolution range: zero.
  EXPECT_EQ(value(plddt_loss(logits, pred, truth, mask, torch::tensor(3.5, kF64), with_eps<PlddtLossOptions>(1e-10))), 0.0);
}

// Interface lDDT-Ca (validation of complexes) equals a loop over the C-alpha pairs of
// different chains, observed in both and closer than 15 A in the truth, each scored by
// the fraction of 0.5/1/2/4 A its distance error stays under.
TEST(InterfaceLddtCa, EqualsTheNaiveLoopOverInterChainPairs) {
  torch::manual_seed(5);
  const int64_t n = 12;
  const auto truth = torch::rand({n, 37, 3}, kF64) * 12.0;
  const auto pred = truth + torch::randn({n, 37, 3}, kF64) * 1.5;
  auto mask = torch::ones({n, 37}, kF64);
  mask[3][1] = 0.0;
  mask[9][1] = 0.0;
  const auto asym = torch::tensor({1, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3}, torch::kLong);
  double total = 0.0;
  int64_t pairs = 0;
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < n; ++j) {
      if (asym[i].item<int64_t>() == asym[j].item<int64_t>() || mask[i][1].item<double>() == 0.0 ||
          mask[j][1].item<double>() == 0.0)
        continue;
      const double d_true = value((truth[i][1] - truth[j][1]).norm());
      if (d_true >= 15.0) continue;
      const double error = std::abs(d_true - value((pred[i][1] - pred[j][1]).norm()));
      total += 0.25 * ((error < 0.5) + (error < 1.0) + (error < 2.0) + (error < 4.0));
      ++pairs;
    }
  ASSERT_GT(pairs, 20);
  EXPECT_NEAR(value(interface_lddt_ca(pred, truth, mask, asym)), total / static_cast<double>(pairs), 1e-9);
}

// It scores how the chains sit against each other, not their folds: chains exact but one
// moved 50 A away scores 0 while each chain's own lDDT-Ca stays 1; the truth scores 1; a
// structure of one chain has no interface (NaN); asym_id must cover the residues.
TEST(InterfaceLddtCa, ScoresThePlacementOfTheChainsAndRejectsBadInput) {
  torch::manual_seed(6);
  const int64_t n = 10;
  const auto truth = torch::rand({n, 37, 3}, kF64) * 8.0;
  const auto mask = torch::ones({n, 37}, kF64);
  const auto asym = torch::tensor({1, 1, 1, 1, 1, 2, 2, 2, 2, 2}, torch::kLong);
  auto moved = truth.clone();
  moved.narrow(0, 5, 5).select(-1, 0).add_(50.0);
  EXPECT_NEAR(value(interface_lddt_ca(moved, truth, mask, asym)), 0.0, 1e-9);
  for (const int64_t start : {0, 5})
    EXPECT_NEAR(value(lddt_ca(moved.narrow(0, start, 5), truth.narrow(0, start, 5), mask.narrow(0, start, 5), 15.0,
                              1e-10, /*per_residue=*/false)),
                1.0, 1e-9);
  EXPECT_NEAR(value(interface_lddt_ca(truth, truth, mask, asym)), 1.0, 1e-9);
  EXPECT_TRUE(std::isnan(value(interface_lddt_ca(truth, truth, mask, torch::ones({n}, torch::kLong)))));
  EXPECT_THROW(interface_lddt_ca(truth, truth, mask, torch::ones({n - 1}, torch::kLong)), std::invalid_argument);
}

TEST(ExperimentallyResolvedLoss, SigmoidCrossEntropyOverExistingAtomsByHand) {
  // Two residues; existing atoms: 2 and 1. Logit 0 on a resolved atom costs log 2; logit
  // 2 on an unresolved one log(1 + e^2); logit -1 on a resolved one log(1 + e).
  auto logits = torch::zeros({2, 37}, kF64), exists = torch::zeros({2, 37}, kF64), resolved = torch::zeros({2, 37}, kF64);
  exists[0][0] = exists[0][1] = exists[1][1] = 1;
  logits[0][1] = 2.0, logits[1][1] = -1.0, logits[1][5] = 9.0;  // the last does not exist
  resolved[0][0] = resolved[1][1] = 1;
  const double expected = (std::log(2.0) + std::log1p(std::exp(2.0)) + std::log1p(std::exp(1.0))) / (3 + 1e-8);
  EXPECT_NEAR(value(experimentally_resolved_loss(logits, exists, resolved, torch::tensor(1.5, kF64))),
              expected, 1e-12);
  EXPECT_EQ(value(experimentally_resolved_loss(logits, exists, resolved, torch::tensor(0.05, kF64))),
            0.0);
}

TEST(TmLoss, AlignedErrorBinsByHand) {
  // Identity rotations; predicted C-alphas (0,0,0), (0,5,0), truth (0,0,0), (3,0,0): the
  // aligned error of the off-diagonal pairs is sqrt(34) = 5.83 A, bin 12 of the 0.5 A
  // edges 0..31 (12 edges below it); the diagonal is bin 0.
  const auto pred = torch::tensor({{1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0}, {1.0, 0.0, 0.0, 0.0, 0.0, 5.0, 0.0}}, kF64);
  const auto truth = Rigid(Rotation::identity({2}, kF64), torch::tensor({{0.0, 0.0, 0.0}, {3.0, 0.0, 0.0}}, kF64))
                         .to_tensor_4x4();
  const auto mask = torch::ones({2}, kF64);
  const auto logits = (torch::arange(64, kF64) * 0.1).expand({2, 2, 64}).contiguous();
  const double lse = ramp_lse(64, 0.1);
  EXPECT_NEAR(value(tm_loss(logits, pred, truth, mask, torch::tensor(1.0, kF64))),
              (2 * lse + 2 * (lse - 1.2)) / (4 + 2e-8), 1e-12);
  // A masked frame leaves one pair.
  EXPECT_NEAR(value(tm_loss(logits, pred, truth, torch::tensor({1.0, 0.0}, kF64), torch::tensor(1.0, kF64))),
              lse / (1 + 2e-8), 1e-12);
}

TEST(TmLoss, OwnFrameIsTheFirstBinWhateverTheFrame) {
  // The first edge is 0 A: a residue's error in its own frame must be exactly 0 (bin 0),
  // not rounding noise above it, for any rotation and a far-off origin.
  torch::manual_seed(37);
  for (const auto dtype : {torch::kFloat32, torch::kFloat64}) {
    const auto o = torch::dtype(dtype);
    const auto pred = torch::cat({torch::randn({5, 4}, o), torch::randn({5, 3}, o) * 40}, -1);
    const auto truth = Rigid(Rotation(random_rotations({5}, o)), torch::randn({5, 3}, o) * 40).to_tensor_4x4();
    const auto logits = (torch::arange(64, o) * 0.1).expand({5, 5, 64}).contiguous();
    auto mask = torch::zeros({5}, o);
    mask[2] = 1;  // only the pair (2, 2)
    EXPECT_NEAR(value(tm_loss(logits, pred, truth, mask, torch::tensor(1.0, o))),
                ramp_lse(64, 0.1), 1e-5);
  }
}

TEST(HeadLosses, GradientsMatchFiniteDifferencesFp64) {
  torch::manual_seed(13);
  const int64_t n = 4;
  const auto x = torch::randn({n, 3}, kF64) * 6;
  const auto mask = torch::tensor({1.0, 1.0, 0.0, 1.0}, kF64);
  const auto resolution = torch::tensor(2.0, kF64);
  const auto check = [](const char* what, const torch::Tensor& logits, const std::function<torch::Tensor(torch::Tensor)>& f) {
    SCOPED_TRACE(what);
    expect_gradients_match_finite_differences([&](const std::vector<torch::Tensor>& in) { return std::vector<torch::Tensor>{f(in[0])}; },
                                              {{"logits", logits}}, nullptr, fd_options());
  };
  check("distogram", torch::randn({n, n, 64}, kF64),
        [&](const torch::Tensor& l) { return distogram_loss(l, x, mask, with_eps<DistogramLossOptions>(1e-6)); });
  const auto true_msa = torch::randint(0, 23, {3, n}, torch::kLong);
  const auto bert = (torch::rand({3, n}, kF64) > 0.5).to(torch::kFloat64);
  bert[0][0] = 1;
  check("masked_msa", torch::randn({3, n, 23}, kF64),
        [&](const torch::Tensor& l) { return masked_msa_loss(l, true_msa, bert); });
  const auto truth37 = torch::randn({n, 37, 3}, kF64) * 4, pred37 = truth37 + torch::randn({n, 37, 3}, kF64);
  const auto mask37 = (torch::rand({n, 37}, kF64) > 0.2).to(torch::kFloat64);
  check("plddt", torch::randn({n, 50}, kF64), [&](const torch::Tensor& l) {
    return plddt_loss(l, pred37, truth37, mask37, resolution, with_eps<PlddtLossOptions>(1e-10));
  });
  const auto exists37 = (torch::rand({n, 37}, kF64) > 0.5).to(torch::kFloat64);
  check("experimentally_resolved", torch::randn({n, 37}, kF64), [&](const torch::Tensor& l) {
    return experimentally_resolved_loss(l, exists37, mask37, resolution);
  });
  const auto affine = torch::cat({torch::randn({n, 4}, kF64), torch::randn({n, 3}, kF64) * 5}, -1);
  const auto frames = Rigid(Rotation(random_rotations({n})), torch::randn({n, 3}, kF64) * 5).to_tensor_4x4();
  check("tm", torch::randn({n, n, 64}, kF64), [&](const torch::Tensor& l) {
    return tm_loss(l, affine, frames, mask, resolution);
  });
}

// ---------------------------------------------------------------------------------------
// The weighted sum

// A synthetic chain of `n` residues built by Algorithm 24 from random torsions (so every
// atom sits at idealised geometry), its ground-truth features, and a model's outputs
// that are the truth perturbed: L structure-module layers, logits of every head.
struct Synthetic {
  data::FeatureDict batch, outputs;
};

// `ca_trace` [n, 3], where given, places the C-alpha atoms (else a straight line along x).
Synthetic synthetic_case(torch::Dtype dtype, int64_t n = 5, int64_t layers = 2, int64_t msa_rows = 3,
                         const torch::Tensor& ca_trace = {}) {
  const auto f = torch::dtype(dtype);
  const auto aatype = torch::tensor({aatype_of('D'), aatype_of('F'), aatype_of('G'), aatype_of('K'), aatype_of('E'),
                                     aatype_of('Y'), aatype_of('A')}, torch::kLong)
                          .narrow(0, 0, n);
  const auto build = [&](const Rigid& backbone, const torch::Tensor& angles) {
    const Rigid groups = structure::torsion_angles_to_frames(backbone, angles, aatype);
    return std::make_pair(groups, structure::frames_and_literature_positions_to_atom14_pos(groups, aatype));
  };
  auto trans = torch::zeros({n, 3}, f);
  trans.select(1, 0).copy_(torch::arange(n, f) * 3.8);
  if (ca_trace.defined()) trans = ca_trace.to(dtype);
  const Rigid backbone(Rotation(random_rotations({n}, f)), trans);
  const auto truth_angles = torch::randn({n, 7, 2}, f);
  const auto [groups, atom14] = build(backbone, truth_angles / truth_angles.norm(2, -1, true));
  const auto atom37 = structure::atom14_to_atom37(atom14, aatype);
  auto mask37 = structure::atom37_mask(aatype).to(dtype);
  mask37[n - 1][5] = 0;  // an unresolved atom
  Synthetic s;
  s.batch = features::make_ground_truth_features(aatype, atom37.to(torch::kFloat), mask37.to(torch::kFloat));
  for (auto& [k, v] : s.batch)
    if (v.is_floating_point()) v = v.to(dtype);
  s.batch["aatype"] = aatype;
  s.batch["residue_index"] = torch::arange(n, torch::kLong);
  s.batch["seq_mask"] = torch::ones({n}, f);
  s.batch["true_msa"] = torch::randint(0, 21, {msa_rows, n}, torch::kLong);
  auto bert = (torch::rand({msa_rows, n}, f) > 0.6).to(dtype);
  bert[0][0] = 1;
  s.batch["bert_mask"] = bert;
  s.batch["resolution"] = torch::tensor(1.8, f);
  s.batch["use_clamped_fape"] = torch::tensor(0.9, f);
  s.batch["seq_length"] = torch::tensor(n, torch::kLong);

  // Each layer: the backbone moved a little and the torsions perturbed.
  std::vector<torch::Tensor> frames7, sidechain, positions, angles, unnormalized;
  for (int64_t l = 0; l < layers; ++l) {
    const Rigid bb(Rotation(structure::quat_to_rot(backbone.rots().to_quat() + 0.2 * torch::randn({n, 4}, f))),
                   backbone.trans() + torch::randn({n, 3}, f));
    const auto u = truth_angles + 0.3 * torch::randn({n, 7, 2}, f);
    const auto a = u / u.norm(2, -1, true);
    const auto [g, x14] = build(bb, a);
    frames7.push_back(bb.to_tensor_7());
    sidechain.push_back(g.to_tensor_4x4());
    positions.push_back(x14);
    angles.push_back(a);
    unnormalized.push_back(u);
  }
  s.outputs["sm/frames"] = torch::stack(frames7);
  s.outputs["sm/sidechain_frames"] = torch::stack(sidechain);
  s.outputs["sm/positions"] = torch::stack(positions);
  s.outputs["sm/angles"] = torch::stack(angles);
  s.outputs["sm/unnormalized_angles"] = torch::stack(unnormalized);
  s.outputs["final_atom_positions"] = structure::atom14_to_atom37(positions.back(), aatype);
  s.outputs["final_affine_tensor"] = frames7.back();
  s.outputs["distogram_logits"] = torch::randn({n, n, 64}, f);
  s.outputs["masked_msa_logits"] = torch::randn({msa_rows, n, 23}, f);
  s.outputs["lddt_logits"] = torch::randn({n, 50}, f);
  s.outputs["experimentally_resolved_logits"] = torch::randn({n, 37}, f);
  s.outputs["tm_logits"] = torch::randn({n, n, 64}, f);
  return s;
}

LossOptions all_terms_options() {
  LossOptions o = LossOptions::from_config(Config::load("af2_model_1_ptm"));
  o.violation.weight = 1.0;
  o.experimentally_resolved.weight = 0.01;
  return o;
}

TEST(AlphaFoldLoss, FromConfigReadsTheLossSection) {
  const LossOptions base = LossOptions::from_config(Config());
  EXPECT_EQ(base.distogram.weight, 0.3);
  EXPECT_EQ(base.fape.eps, 1e-4);
  EXPECT_EQ(base.masked_msa.weight, 2.0);
  EXPECT_EQ(base.plddt.no_bins, 50);
  EXPECT_EQ(base.violation.weight, 0.0);
  EXPECT_FALSE(base.tm.enabled);
  const LossOptions ptm = LossOptions::from_config(Config::load("af2_model_1_ptm"));
  EXPECT_TRUE(ptm.tm.enabled);
  EXPECT_EQ(ptm.tm.weight, 0.1);
  const LossOptions fine = LossOptions::from_config(Config::load("finetuning"));
  EXPECT_EQ(fine.violation.weight, 1.0);
  EXPECT_EQ(fine.experimentally_resolved.weight, 0.01);
  const LossOptions set = LossOptions::from_config(Config::load("", {"loss.fape.sidechain.length_scale=7.5"}));
  EXPECT_EQ(set.fape.sidechain_length_scale, 7.5);
}

TEST(AlphaFoldLoss, WeightedSumOfTheTermsScaledByCropSize) {
  torch::manual_seed(17);
  Synthetic s = synthetic_case(torch::kFloat64);
  const LossOptions o = all_terms_options();
  const LossBreakdown r = alphafold_loss(s.outputs, s.batch, o);
  std::vector<std::string> names;
  for (const auto& [k, v] : r.terms) names.push_back(k);
  EXPECT_EQ(names, (std::vector<std::string>{"distogram", "experimentally_resolved", "fape", "masked_msa",
                                             "plddt_loss", "supervised_chi", "tm", "violation"}));
  // Each term is its module's function on the same inputs.
  const RenamedGroundTruth renamed = compute_renamed_ground_truth(s.batch, s.outputs.at("sm/positions")[-1]);
  FapeOptions fo;
  EXPECT_NEAR(value(r.terms.at("fape")), value(fape_loss(s.outputs, s.batch, renamed, fo)), 1e-12);
  EXPECT_NEAR(value(r.terms.at("distogram")),
              value(distogram_loss(s.outputs.at("distogram_logits"), s.batch.at("pseudo_beta"),
                                   s.batch.at("pseudo_beta_mask"))),
              1e-12);
  ViolationOptions vo;
  vo.violation_tolerance_factor = o.violation.violation_tolerance_factor;
  const auto violations = find_structural_violations(s.batch, s.outputs.at("sm/positions")[-1], vo);
  EXPECT_NEAR(value(r.terms.at("violation")), value(violation_loss(violations, s.batch.at("atom14_atom_exists"), vo)),
              1e-12);
  EXPECT_TRUE(r.violation.count("total_per_residue_violations_mask"));
  for (const auto& [k, v] : r.terms) EXPECT_TRUE(std::isfinite(value(v))) << k;

  double sum = 0.0;
  const std::map<std::string, double> w = {{"distogram", 0.3}, {"experimentally_resolved", 0.01}, {"fape", 1.0},
                                           {"masked_msa", 2.0}, {"plddt_loss", 0.01},            {"supervised_chi", 1.0},
                                           {"tm", 0.1},         {"violation", 1.0}};
  for (const auto& [k, v] : r.terms) sum += w.at(k) * value(v);
  EXPECT_NEAR(value(r.unscaled_total), sum, 1e-12);
  EXPECT_NEAR(value(r.total), sum * std::sqrt(5.0), 1e-12);
  // A chain shorter than the crop (padding): the scale follows seq_length.
  s.batch["seq_length"] = torch::tensor(3, torch::kLong);
  EXPECT_NEAR(value(alphafold_loss(s.outputs, s.batch, o).total), sum * std::sqrt(3.0), 1e-12);
  // tm disabled: no tm term, and weight-0 terms stay reported but out of the total.
  LossOptions no_tm = o;
  no_tm.tm.enabled = false;
  no_tm.violation.weight = 0.0;
  const LossBreakdown r2 = alphafold_loss(s.outputs, s.batch, no_tm);
  EXPECT_FALSE(r2.terms.count("tm"));
  EXPECT_TRUE(r2.terms.count("violation"));
  EXPECT_NEAR(value(r2.unscaled_total), sum - 0.1 * value(r.terms.at("tm")) - value(r.terms.at("violation")), 1e-12);
}

TEST(AlphaFoldLoss, NonFiniteTermLeftOutOfTheTotal) {
  torch::manual_seed(19);
  Synthetic s = synthetic_case(torch::kFloat32);
  const LossOptions o = all_terms_options();
  const double before = value(alphafold_loss(s.outputs, s.batch, o).unscaled_total);
  const double msa = value(alphafold_loss(s.outputs, s.batch, o).terms.at("masked_msa"));
  s.outputs["masked_msa_logits"][0][0][0] = std::numeric_limits<float>::quiet_NaN();
  const LossBreakdown r = alphafold_loss(s.outputs, s.batch, o);
  EXPECT_TRUE(std::isnan(value(r.terms.at("masked_msa"))));
  EXPECT_NEAR(value(r.unscaled_total), before - 2.0 * msa, 1e-4 * before);
}

TEST(AlphaFoldLoss, LowPrecisionOutputsAreComputedInFp32) {
  torch::manual_seed(23);
  Synthetic s = synthetic_case(torch::kFloat32);
  data::FeatureDict half = s.outputs;
  for (const char* k : {"distogram_logits", "masked_msa_logits", "lddt_logits", "experimentally_resolved_logits",
                        "tm_logits"})
    half[k] = s.outputs.at(k).to(torch::kBFloat16);
  const LossBreakdown r = alphafold_loss(half, s.batch, all_terms_options());
  for (const auto& [k, v] : r.terms) EXPECT_EQ(v.scalar_type(), torch::kFloat32) << k;
  EXPECT_EQ(r.total.scalar_type(), torch::kFloat32);
}

TEST(AlphaFoldLoss, MissingFeatureIsNamed) {
  torch::manual_seed(29);
  Synthetic s = synthetic_case(torch::kFloat32);
  s.batch.erase("pseudo_beta");
  try {
    alphafold_loss(s.outputs, s.batch, all_terms_options());
    FAIL() << "expected std::invalid_argument";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("pseudo_beta"), std::string::npos) << e.what();
  }
}

// The total loss's gradient with respect to the output arrays `keys` against fp64 finite
// differences.
void expect_loss_gradients_match(const data::FeatureDict& outputs, const data::FeatureDict& batch,
                                 const LossOptions& o, const std::vector<std::string>& keys) {
  NamedTensors inputs;
  for (const auto& k : keys) inputs.push_back({k, outputs.at(k).contiguous()});
  GradCheckOptions fo = fd_options();
  fo.entries = 12;
  // The total is ~20 while the small-weight terms' gradients are ~1e-3: a wider step keeps
  // the fp64 rounding of the difference quotient (~1e-16 * 20 / step) well below them.
  fo.step = 1e-4;
  expect_gradients_match_finite_differences(
      [&](const std::vector<torch::Tensor>& x) {
        data::FeatureDict out = outputs;
        for (size_t i = 0; i < keys.size(); ++i) out[keys[i]] = x[i];
        return std::vector<torch::Tensor>{alphafold_loss(out, batch, o).total};
      },
      inputs, nullptr, fo);
}

TEST(AlphaFoldLoss, GradientMatchesFiniteDifferencesFp64) {
  torch::manual_seed(31);
  const Synthetic s = synthetic_case(torch::kFloat64, 4);
  expect_loss_gradients_match(s.outputs, s.batch, all_terms_options(),
                              {"sm/frames", "sm/sidechain_frames", "sm/positions", "sm/angles",
                               "sm/unnormalized_angles", "distogram_logits", "masked_msa_logits", "lddt_logits",
                               "experimentally_resolved_logits", "tm_logits"});
}

// ---------------------------------------------------------------------------------------
// AF-Multimer's losses: chains, interfaces and the permutation of the true chains.

// Two synthetic chains side by side (12 A apart in y, each a curve, so that superposing
// one chain fixes the rotation) as one complex: `n_b == n_a` gives a homomer (the same
// sequence, entity 1 twice), else a heteromer (entities 1 and 2). Per-residue features
// are joined along the residue axis, the MSA ones along theirs, and the pair logits
// drawn afresh for the joined length.
Synthetic synthetic_complex(torch::Dtype dtype, int64_t n_a = 5, int64_t n_b = 5) {
  const int64_t layers = 2, rows = 3, n = n_a + n_b;
  const auto trace = [](int64_t len, double y) {
    const auto i = torch::arange(len, kF64);
    return torch::stack({3.0 * i, y + 2.0 * torch::sin(i), 2.0 * torch::cos(i)}, 1);
  };
  const Synthetic a = synthetic_case(dtype, n_a, layers, rows, trace(n_a, 0.0)),
                  b = synthetic_case(dtype, n_b, layers, rows, trace(n_b, 12.0));
  Synthetic s;
  for (const auto& [k, v] : a.batch) {
    const int64_t axis = (k == "true_msa" || k == "bert_mask") ? 1 : 0;
    s.batch[k] = v.dim() == 0 ? v : torch::cat({v, b.batch.at(k)}, axis);
  }
  s.batch["seq_length"] = torch::tensor(n, torch::kLong);
  s.batch["asym_id"] = torch::cat({torch::full({n_a}, 1, torch::kLong), torch::full({n_b}, 2, torch::kLong)});
  s.batch["entity_id"] =
      torch::cat({torch::full({n_a}, 1, torch::kLong), torch::full({n_b}, n_a == n_b ? 1 : 2, torch::kLong)});
  s.batch["true_msa"] = s.batch["true_msa"].clamp_max(21);
  for (const auto& [k, v] : a.outputs)
    if (k.find("_logits") == std::string::npos || k == "lddt_logits" || k == "experimentally_resolved_logits")
      s.outputs[k] = torch::cat({v, b.outputs.at(k)}, k.rfind("sm/", 0) == 0 ? 1 : 0);
  const auto f = torch::dtype(dtype);
  s.outputs["final_atom_mask"] = torch::cat({structure::atom37_mask(a.batch.at("aatype")),
                                             structure::atom37_mask(b.batch.at("aatype"))}).to(dtype);
  s.outputs["distogram_logits"] = torch::randn({n, n, 64}, f);
  s.outputs["tm_logits"] = torch::randn({n, n, 64}, f);
  s.outputs["masked_msa_logits"] = torch::randn({rows, n, 22}, f);
  return s;
}

// The complex's ground truth with its two chains' labels exchanged (a homomer's truth as
// another deposition might number its chains).
data::FeatureDict swap_true_chains(const data::FeatureDict& batch, int64_t n_a) {
  data::FeatureDict swapped = batch;
  const int64_t n = batch.at("aatype").size(0);
  const auto order = torch::cat({torch::arange(n_a, n), torch::arange(0, n_a)});
  for (const std::string& k : chain_label_features()) swapped[k] = batch.at(k).index_select(0, order);
  return swapped;
}

LossOptions multimer_options() {
  LossOptions o = LossOptions::from_config(Config::load("tiny_multimer"));
  o.violation.weight = 1.0;
  return o;
}

TEST(AlphaFoldLoss, MultimerPresetsReadOpenFoldsMultimerLossSection) {
  const LossOptions m = LossOptions::from_config(Config::load("af2_model_1_multimer_v3"));
  EXPECT_TRUE(m.multimer);
  EXPECT_TRUE(m.fape.multimer);
  EXPECT_EQ(m.fape.intra_chain.clamp_distance, 10.0);
  EXPECT_EQ(m.fape.interface.clamp_distance, 30.0);
  EXPECT_EQ(m.fape.interface.loss_unit_distance, 20.0);
  EXPECT_TRUE(m.violation.average_clashes);
  EXPECT_EQ(m.violation.weight, 0.03);
  EXPECT_TRUE(m.chain_center_of_mass.enabled);
  EXPECT_EQ(m.chain_center_of_mass.weight, 0.05);
  EXPECT_EQ(m.chain_center_of_mass.clamp_distance, -4.0);
  EXPECT_EQ(m.masked_msa.num_classes, 22);
  EXPECT_EQ(m.tm.weight, 0.1);
  const LossOptions mono = LossOptions::from_config(Config::load("af2_model_1_ptm"));
  EXPECT_FALSE(mono.multimer);
  EXPECT_FALSE(mono.fape.multimer);
  EXPECT_FALSE(mono.chain_center_of_mass.enabled);
}

// The pair-masked backbone FAPE is the mean over the kept (frame, point) pairs, computed
// here pair by pair; the multimer split weights the intra-chain and the interface means.
TEST(Fape, MultimerBackboneSplitsPairsByChainEqualToThePairwiseMean) {
  torch::manual_seed(41);
  const Synthetic s = synthetic_complex(torch::kFloat64, 3, 2);
  const int64_t n = 5;
  const torch::Tensor traj = s.outputs.at("sm/frames").narrow(0, 1, 1);  // one layer
  const Rigid pred = Rigid::from_tensor_7(traj[0]), truth = Rigid::from_tensor_4x4(s.batch.at("backbone_rigid_tensor"));
  const auto mask = s.batch.at("backbone_rigid_mask");
  const auto asym = s.batch.at("asym_id");
  const auto naive = [&](bool same_chain, double clamp, double unit) {
    double sum = 0.0, count = 0.0;
    for (int64_t i = 0; i < n; ++i)
      for (int64_t j = 0; j < n; ++j) {
        if ((asym[i].item<int64_t>() == asym[j].item<int64_t>()) != same_chain) continue;
        const double m = mask[i].item<double>() * mask[j].item<double>();
        const auto local = [&](const Rigid& r) {
          return torch::matmul(r.rots().rot_mats()[i].t(), r.trans()[j] - r.trans()[i]);
        };
        const double e = std::sqrt((local(pred) - local(truth)).pow(2).sum().item<double>() + 1e-4);
        sum += m * std::min(e, clamp) / unit;
        count += m;
      }
    return sum / (1e-4 + count);
  };
  const auto same = (asym.unsqueeze(-1) == asym.unsqueeze(-2)).to(torch::kFloat64);
  const auto bb = [&](const torch::Tensor& pairs, double clamp, double unit) {
    return value(backbone_loss(s.batch.at("backbone_rigid_tensor"), mask, traj, torch::Tensor(), clamp, unit, 1e-4,
                               pairs));
  };
  EXPECT_NEAR(bb(same, 10.0, 10.0), naive(true, 10.0, 10.0), 1e-12);
  EXPECT_NEAR(bb(1.0 - same, 30.0, 20.0), naive(false, 30.0, 20.0), 1e-12);
  // All pairs kept: the monomer's mean (up to where eps enters the normalisation).
  EXPECT_NEAR(bb(torch::ones({n, n}, kF64), 10.0, 10.0),
              value(backbone_loss(s.batch.at("backbone_rigid_tensor"), mask, traj, torch::Tensor())), 1e-4);

  // fape_loss with multimer options: the weighted split plus the side chains.
  FapeOptions mo = multimer_options().fape, monomer = mo;
  monomer.multimer = false;
  const RenamedGroundTruth renamed = compute_renamed_ground_truth(s.batch, s.outputs.at("sm/positions")[-1]);
  const auto full_traj = s.outputs.at("sm/frames");
  const auto split = [&](const torch::Tensor& pairs, double clamp, double unit) {
    return value(backbone_loss(s.batch.at("backbone_rigid_tensor"), mask, full_traj, s.batch.at("use_clamped_fape"),
                               clamp, unit, 1e-4, pairs));
  };
  const double expected = value(fape_loss(s.outputs, s.batch, renamed, monomer)) -
                          0.5 * value(backbone_loss(s.batch.at("backbone_rigid_tensor"), mask, full_traj,
                                                    s.batch.at("use_clamped_fape"))) +
                          0.5 * split(same, 10.0, 10.0) + 0.5 * split(1.0 - same, 30.0, 20.0);
  EXPECT_NEAR(value(fape_loss(s.outputs, s.batch, renamed, mo)), expected, 1e-12);
  data::FeatureDict no_chains = s.batch;
  no_chains.erase("asym_id");
  EXPECT_THROW(fape_loss(s.outputs, no_chains, renamed, mo), std::invalid_argument);
}

TEST(ChainCenterOfMassLoss, PenalisesChainsPulledTogetherByHand) {
  const auto f = kF64;
  // Two chains of two residues; only C-alpha atoms matter. True centres 20 A apart in x.
  auto truth = torch::zeros({4, 37, 3}, f);
  truth.select(1, 1).copy_(
      torch::tensor({0.0, 0.0, 0.0, 2.0, 0.0, 0.0, 20.0, 0.0, 0.0, 22.0, 0.0, 0.0}, f).reshape({4, 3}));
  auto mask = torch::zeros({4, 37}, f);
  mask.select(1, 1).fill_(1);
  const auto asym = torch::tensor({1, 1, 2, 2}, torch::kLong);
  ChainCenterOfMassLossOptions o;
  o.weight = 0.05;
  // Chain 2 moved 6 A closer: 2 A past the 4 A allowance, on both ordered pairs of chains.
  auto pred = truth.clone();
  pred.select(1, 1).narrow(0, 2, 2).select(1, 0).sub_(6.0);
  const double by_hand = 2 * std::pow(0.05 * -2.0, 2) / (4 + 1e-4);
  EXPECT_NEAR(value(chain_center_of_mass_loss(pred, truth, mask, asym, o)), by_hand, 1e-9);  // centres divide by count + eps
  // Moved apart, or closer by less than 4 A: free.
  auto apart = truth.clone();
  apart.select(1, 1).narrow(0, 2, 2).select(1, 0).add_(30.0);
  EXPECT_EQ(value(chain_center_of_mass_loss(apart, truth, mask, asym, o)), 0.0);
  auto near = truth.clone();
  near.select(1, 1).narrow(0, 2, 2).select(1, 0).sub_(3.0);
  EXPECT_EQ(value(chain_center_of_mass_loss(near, truth, mask, asym, o)), 0.0);
  // An unresolved C-alpha leaves its chain's centre: only residue 3 sets chain 2's.
  auto partly = mask.clone();
  partly[3][1] = 0;
  auto moved_unresolved = pred.clone();
  moved_unresolved[3][1][0] = 100.0;  // moving an unresolved atom changes nothing
  EXPECT_NEAR(value(chain_center_of_mass_loss(moved_unresolved, truth, partly, asym, o)),
              value(chain_center_of_mass_loss(pred, truth, partly, asym, o)), 1e-12);
  EXPECT_THROW(chain_center_of_mass_loss(pred, truth, mask, asym.narrow(0, 0, 3), o), std::invalid_argument);
}

TEST(ChainCenterOfMassLoss, GradientMatchesFiniteDifferencesFp64) {
  torch::manual_seed(43);
  const auto truth = torch::randn({6, 37, 3}, kF64) * 3.0;
  const auto mask = (torch::rand({6, 37}, kF64) > 0.2).to(torch::kFloat64);
  const auto asym = torch::tensor({1, 1, 2, 2, 3, 3}, torch::kLong);
  ChainCenterOfMassLossOptions o;
  o.weight = 0.05;
  o.clamp_distance = 4.0;  // a positive allowance penalises every pair: a gradient everywhere
  const auto pred = (truth + torch::randn({6, 37, 3}, kF64)).contiguous();
  expect_gradients_match_finite_differences(
      [&](const std::vector<torch::Tensor>& x) {
        return std::vector<torch::Tensor>{chain_center_of_mass_loss(x[0], truth, mask, asym, o)};
      },
      {{"all_atom_pred_pos", pred}}, nullptr, fd_options());
}

// Residue numbers restart in each chain, so chain B's first residue can follow chain A's
// last in numbering without being bonded to it: its N close to A's C is then a clash.
TEST(StructuralViolations, ClashAcrossChainsIgnoresResidueNumbering) {
  // Residue 0's C (slot 2) and residue 1's N (slot 0), 1.33 A apart: the only atoms.
  auto positions = torch::zeros({2, 14, 3}, kF64);
  positions[1][0][0] = 1.33;
  auto exists = torch::zeros({2, 14}, kF64);
  exists[0][2] = 1;
  exists[1][0] = 1;
  auto radius = torch::zeros({2, 14}, kF64);
  radius[0][2] = 1.7;   // C
  radius[1][0] = 1.55;  // N
  const auto residue_index = torch::tensor({4, 5}, torch::kLong);
  const auto clash = [&](const torch::Tensor& asym) {
    return value(between_residue_clash_loss(positions, exists, radius, residue_index, 1.5, 1.5, 1e-10, asym)
                     .at("mean_loss"));
  };
  EXPECT_EQ(clash(torch::Tensor()), 0.0);                            // the peptide bond
  EXPECT_EQ(clash(torch::tensor({1, 1}, torch::kLong)), 0.0);        // within a chain, still
  EXPECT_NEAR(clash(torch::tensor({1, 2}, torch::kLong)), (1.7 + 1.55 - 1.5 - 1.33) / (1 + 1e-6), 1e-9);
}

TEST(ChainPermutation, SwappedHomomerTruthIsMatchedBack) {
  torch::manual_seed(53);
  const Synthetic s = synthetic_complex(torch::kFloat64, 5, 5);
  EXPECT_EQ(chain_permutation(s.outputs, s.batch), (std::vector<int64_t>{0, 1}));
  const data::FeatureDict swapped = swap_true_chains(s.batch, 5);
  EXPECT_EQ(chain_permutation(s.outputs, swapped), (std::vector<int64_t>{1, 0}));
  const data::FeatureDict back = permute_ground_truth_chains(s.outputs, swapped);
  for (const std::string& k : chain_label_features()) EXPECT_TRUE(torch::equal(back.at(k), s.batch.at(k))) << k;
  // So every loss term is that of the truth in the prediction's chain order.
  const LossOptions o = multimer_options();
  const LossBreakdown want = alphafold_loss(s.outputs, s.batch, o), got = alphafold_loss(s.outputs, swapped, o);
  EXPECT_TRUE(got.terms.count("chain_center_of_mass"));
  for (const auto& [k, v] : want.terms) EXPECT_NEAR(value(got.terms.at(k)), value(v), 1e-12) << k;
  // Without the permutation the swapped truth is far worse: the chains sit 12 A apart.
  LossOptions unpermuted = o;
  unpermuted.multimer = false;
  unpermuted.fape.multimer = true;
  EXPECT_GT(value(alphafold_loss(s.outputs, swapped, unpermuted).terms.at("fape")),
            value(want.terms.at("fape")) + 0.3);
  // A leading sample axis of one is the same alignment.
  data::FeatureDict batched = swapped, outputs = s.outputs;
  for (const char* k : {"asym_id", "entity_id", "residue_index", "all_atom_positions", "all_atom_mask"})
    batched[k] = swapped.at(k).unsqueeze(0);
  for (const char* k : {"final_atom_positions", "final_atom_mask"}) outputs[k] = s.outputs.at(k).unsqueeze(0);
  EXPECT_EQ(chain_permutation(outputs, batched), (std::vector<int64_t>{1, 0}));
}

// A training crop carries the whole complex's truth (gt_*): the cropped chains are
// matched against the whole true chains by residue_index, whatever residues each copy
// kept, also when the crop left a chain out.
TEST(ChainPermutation, CropIsMatchedAgainstTheWholeTruth) {
  torch::manual_seed(71);
  const Synthetic s = synthetic_complex(torch::kFloat64, 5, 5);
  const data::FeatureDict swapped = swap_true_chains(s.batch, 5);
  const auto crop = [&](const std::vector<int64_t>& rows) {
    const auto keep = torch::tensor(rows, torch::kLong);
    data::FeatureDict batch, outputs = s.outputs;
    for (const char* k : {"asym_id", "entity_id", "residue_index"}) batch[k] = s.batch.at(k).index_select(0, keep);
    for (const std::string& k : chain_label_features()) batch[k] = swapped.at(k).index_select(0, keep);
    for (const char* k : {"asym_id", "entity_id", "residue_index"}) batch[std::string("gt_") + k] = swapped.at(k);
    for (const std::string& k : chain_label_features()) batch["gt_" + k] = swapped.at(k);
    for (const char* k : {"final_atom_positions", "final_atom_mask"}) outputs[k] = s.outputs.at(k).index_select(0, keep);
    return std::pair{outputs, batch};
  };
  // Chain 1 kept residues 0-2, chain 2 residues 2-4.
  const std::vector<int64_t> both = {0, 1, 2, 7, 8, 9};
  const auto [outputs, batch] = crop(both);
  EXPECT_EQ(chain_permutation(outputs, batch), (std::vector<int64_t>{1, 0}));
  const data::FeatureDict back = permute_ground_truth_chains(outputs, batch);
  const auto keep = torch::tensor(both, torch::kLong);
  for (const std::string& k : chain_label_features())
    EXPECT_TRUE(torch::equal(back.at(k), s.batch.at(k).index_select(0, keep))) << k;
  // Only chain 2 kept: it takes true chain 1; chain 1, absent, keeps its index.
  const std::vector<int64_t> second = {5, 6, 7, 8, 9};
  const auto [outputs2, batch2] = crop(second);
  EXPECT_EQ(chain_permutation(outputs2, batch2), (std::vector<int64_t>{0, 0}));
  const data::FeatureDict back2 = permute_ground_truth_chains(outputs2, batch2);
  for (const std::string& k : chain_label_features())
    EXPECT_TRUE(torch::equal(back2.at(k), s.batch.at(k).index_select(0, torch::tensor(second, torch::kLong)))) << k;
}

TEST(AlphaFoldLoss, MultimerGradientMatchesFiniteDifferencesFp64) {
  torch::manual_seed(67);
  const Synthetic s = synthetic_complex(torch::kFloat64, 3, 3);
  // The true chains swapped: the permutation is in the path.
  expect_loss_gradients_match(s.outputs, swap_true_chains(s.batch, 3), multimer_options(),
                              {"sm/frames", "sm/sidechain_frames", "sm/positions", "final_atom_positions", "tm_logits"});
}

TEST(ChainPermutation, HeteromerChainsKeepTheirTruth) {
  torch::manual_seed(59);
  const Synthetic s = synthetic_complex(torch::kFloat64, 5, 4);
  EXPECT_EQ(chain_permutation(s.outputs, s.batch), (std::vector<int64_t>{0, 1}));
  // Even with the prediction's chains placed where the other truth chain is.
  data::FeatureDict outputs = s.outputs;
  auto moved = outputs.at("final_atom_positions").clone();
  moved.select(-1, 1).narrow(0, 0, 5).add_(12.0);
  moved.select(-1, 1).narrow(0, 5, 4).sub_(12.0);
  outputs["final_atom_positions"] = moved;
  EXPECT_EQ(chain_permutation(outputs, s.batch), (std::vector<int64_t>{0, 1}));
}

TEST(ChainPermutation, RejectsChainsItCannotMatch) {
  torch::manual_seed(61);
  const Synthetic s = synthetic_complex(torch::kFloat64, 5, 5);
  data::FeatureDict gap = s.batch;
  gap["asym_id"] = torch::cat({torch::full({5}, 1, torch::kLong), torch::full({5}, 3, torch::kLong)});
  EXPECT_THROW(chain_permutation(s.outputs, gap), std::invalid_argument);
  data::FeatureDict renumbered = s.batch;  // chain 2's residues have no counterpart in chain 1
  renumbered["residue_index"] = torch::cat({torch::arange(5, torch::kLong), torch::arange(10, 15, torch::kLong)});
  EXPECT_THROW(chain_permutation(s.outputs, renumbered), std::invalid_argument);
  data::FeatureDict two_samples = s.batch;
  two_samples["asym_id"] = torch::stack({s.batch.at("asym_id"), s.batch.at("asym_id")});
  EXPECT_THROW(chain_permutation(s.outputs, two_samples), std::invalid_argument);
  data::FeatureDict no_entity = s.batch;
  no_entity.erase("entity_id");
  try {
    alphafold_loss(s.outputs, no_entity, multimer_options());
    FAIL() << "expected std::invalid_argument";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("entity_id"), std::string::npos) << e.what();
  }
}

// ---------------------------------------------------------------------------------------
// fold predict --loss (the numbers against OpenFold: /tmp/notes/losses.md)

TEST(PredictLoss, RefusedWithoutGroundTruthNamingTheMissingFeatures) {
  const auto dir = test::temp_path("predict_loss");
  std::filesystem::create_directories(dir);
  const std::string features = (dir / "inference_only.npz").string();
  data::write_npz(features, {{"aatype", torch::zeros({3, 1}, torch::kLong)}, {"seq_mask", torch::ones({3, 1})}});
  // Checked before the parameters are read, so any file stands in for them.
  const auto r = test::run_fold("predict --features '" + features + "' --params '" + features + "' --out '" +
                                (dir / "out").string() + "' --loss --quiet");
  EXPECT_EQ(r.code, 1) << r.err;
  EXPECT_NE(r.err.find("--loss"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("all_atom_positions"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("backbone_rigid_tensor"), std::string::npos) << r.err;
  const auto no_features = test::run_fold("predict --fasta '" + features + "' --msa '" + features + "' --params '" +
                                          features + "' --out '" + (dir / "out").string() + "' --loss");
  EXPECT_NE(no_features.code, 0);
  EXPECT_NE(no_features.err.find("needs --features"), std::string::npos) << no_features.err;
  test::remove_tree(dir);
}

}  // namespace
}  // namespace fold::loss
