// Structural violations and the violation loss (AF2 Supplement 1.9.11, eq. 44-47;
// fold/loss/structural_violations): hand-computed peptide-bond, clash and within-residue
// cases, a real structure (2Q2K chain A from ../shared/data) that has almost no
// violations, the same structure perturbed against numbers from OpenFold's
// find_structural_violations / violation_loss, invariance under rigid motions, batching,
// fp64 finite-difference gradients, and bad input.
//
// FOLD_VIOLATIONS_DUMP=<folder> makes the real-structure tests write their inputs and
// outputs there as JSON (<test name>.json), for the OpenFold harness that produced the
// expected numbers (the harness itself is not part of the project).
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include <array>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <map>
#include <string>
#include <vector>

#include "data/protein.h"
#include "data/residue_constants.h"
#include "fold/features/training_sample.h"
#include "fold/loss/structural_violations.h"
#include "tests/test_paths.h"

namespace fold::loss {
namespace {

namespace rc = fold::data::rc;
using data::FeatureDict;
using Violations = std::map<std::string, torch::Tensor>;
using nlohmann::json;

constexpr double kPi = 3.14159265358979323846;
const int kAla = rc::restype_order('A'), kPro = rc::restype_order('P'), kCys = rc::restype_order('C');

double item(const torch::Tensor& t) { return t.item<double>(); }

// A batch for residues `aatype` at `residue_index` where only the atom14 slots listed in
// `present[i]` exist (so a hand-made case needs to place only those).
FeatureDict make_batch(const std::vector<int>& aatype, const std::vector<int>& residue_index,
                       const std::vector<std::vector<int>>& present) {
  const auto n = static_cast<int64_t>(aatype.size());
  FeatureDict b;
  b["aatype"] = torch::tensor(std::vector<int64_t>(aatype.begin(), aatype.end()), torch::kLong);
  b["residue_index"] = torch::tensor(std::vector<int64_t>(residue_index.begin(), residue_index.end()), torch::kLong);
  b["atom14_atom_exists"] = torch::zeros({n, 14});
  b["residx_atom14_to_atom37"] = torch::zeros({n, 14}, torch::kLong);
  b["seq_mask"] = torch::ones({n});
  for (int64_t i = 0; i < n; ++i) {
    for (int slot : present[i]) b["atom14_atom_exists"][i][slot] = 1.0f;
    for (int slot = 0; slot < 14; ++slot) b["residx_atom14_to_atom37"][i][slot] = rc::restype_atom14_to_atom37()[aatype[i]][slot];
  }
  return b;
}

using Vec = std::array<double, 3>;
Vec add(Vec a, Vec b, double s = 1.0) { return {a[0] + s * b[0], a[1] + s * b[1], a[2] + s * b[2]}; }
Vec unit(Vec a) {
  const double n = std::sqrt(a[0] * a[0] + a[1] * a[1] + a[2] * a[2]);
  return {a[0] / n, a[1] / n, a[2] / n};
}

// Two residues N-CA-C / N-CA-C in ideal geometry: C(0)-N(1) = c_n, CA-C-N and C-N-CA at
// the AF2 means (cos = -0.4473, -0.5203), N-CA 1.459, CA-C 1.525, N-CA-C 111 degrees.
// The second residue is moved by `stretch` along the C-N bond (angles unchanged).
torch::Tensor dipeptide(double stretch) {
  const double c_n = 1.329 + stretch;
  const double t1 = std::acos(-0.4473), t2 = std::acos(-0.5203), nca_c = 111.0 / 180.0 * kPi;
  const Vec z{0, 0, 1};
  const Vec c0{0, 0, 0}, n1{c_n, 0, 0};
  const Vec ca0{1.525 * std::cos(t1), 1.525 * std::sin(t1), 0};
  const Vec ca1 = add(n1, Vec{-std::cos(t2), -std::sin(t2), 0}, 1.459);
  const Vec u0 = unit(add(c0, ca0, -1)), u1 = unit(add(n1, ca1, -1));
  // N(0) and C(1): at 111 degrees from the in-plane bond, tilted out of the plane (z).
  const auto tilted = [&](const Vec& u) { return add(Vec{u[0] * std::cos(nca_c), u[1] * std::cos(nca_c), 0}, z, std::sin(nca_c)); };
  const Vec n0 = add(ca0, tilted(u0), 1.459);
  const Vec c1 = add(ca1, tilted(u1), 1.525);
  torch::Tensor pos = torch::zeros({2, 14, 3}, torch::kDouble);
  const Vec atoms[2][3] = {{n0, ca0, c0}, {n1, ca1, c1}};
  for (int r = 0; r < 2; ++r)
    for (int a = 0; a < 3; ++a)
      for (int k = 0; k < 3; ++k) pos[r][a][k] = atoms[r][a][k];
  return pos.to(torch::kFloat);
}

// ---------------------------------------------------------------------------------------
// Hand-computed cases

TEST(StructuralViolations, IdealPeptideBondHasNoBondAngleOrClashLoss) {
  const FeatureDict b = make_batch({kAla, kAla}, {0, 1}, {{0, 1, 2}, {0, 1, 2}});
  const torch::Tensor pos = dipeptide(0.0);
  const Violations v = find_structural_violations(b, pos, {});
  EXPECT_EQ(item(v.at("between_residues/bonds_c_n_loss_mean")), 0.0);
  EXPECT_EQ(item(v.at("between_residues/angles_ca_c_n_loss_mean")), 0.0);
  EXPECT_EQ(item(v.at("between_residues/angles_c_n_ca_loss_mean")), 0.0);
  EXPECT_EQ(item(v.at("between_residues/connections_per_residue_loss_sum").abs().sum()), 0.0);
  EXPECT_EQ(item(v.at("between_residues/clashes_mean_loss")), 0.0);
  EXPECT_EQ(item(v.at("within_residues/per_atom_loss_sum").abs().sum()), 0.0);
  EXPECT_EQ(item(v.at("total_per_residue_violations_mask").sum()), 0.0);
  EXPECT_EQ(item(violation_loss(v, b.at("atom14_atom_exists"), {})), 0.0);
}

TEST(StructuralViolations, StretchedPeptideBondGivesFlatBottomLoss) {
  // |C-N| = 1.329 + 0.5: loss = sqrt(1e-6 + (|C-N|_eps - 1.329)^2) - 12 * 0.014 over one
  // connection (mean denominator 1 + 1e-6), split half to each residue, both flagged.
  for (const int next : {kAla, kPro}) {
    const FeatureDict b = make_batch({kAla, next}, {0, 1}, {{0, 1, 2}, {0, 1, 2}});
    const Violations v = find_structural_violations(b, dipeptide(0.5), {});
    const double ideal = next == kPro ? 1.341 : 1.329, stddev = next == kPro ? 0.016 : 0.014;
    const double length = std::sqrt(1e-6 + 1.829 * 1.829);
    const double expected = (std::sqrt(1e-6 + std::pow(length - ideal, 2)) - 12 * stddev) / (1 + 1e-6);
    EXPECT_NEAR(item(v.at("between_residues/bonds_c_n_loss_mean")), expected, 1e-5 * expected) << "next " << next;
    EXPECT_EQ(item(v.at("between_residues/angles_ca_c_n_loss_mean")), 0.0);
    EXPECT_EQ(item(v.at("between_residues/angles_c_n_ca_loss_mean")), 0.0);
    const torch::Tensor per_residue = v.at("between_residues/connections_per_residue_loss_sum");
    EXPECT_NEAR(item(per_residue[0]), 0.5 * expected, 1e-5);
    EXPECT_NEAR(item(per_residue[1]), 0.5 * expected, 1e-5);
    EXPECT_TRUE(torch::equal(v.at("between_residues/connections_per_residue_violation_mask"), torch::ones({2})));
    EXPECT_TRUE(torch::equal(v.at("total_per_residue_violations_mask"), torch::ones({2})));
    // Eq. 47: the bond term plus no clash.
    EXPECT_NEAR(item(violation_loss(v, b.at("atom14_atom_exists"), {})), expected, 1e-5 * expected);
  }
  // A residue_index gap: no connection, no loss.
  const FeatureDict gap = make_batch({kAla, kAla}, {0, 2}, {{0, 1, 2}, {0, 1, 2}});
  const Violations v = find_structural_violations(gap, dipeptide(0.5), {});
  EXPECT_EQ(item(v.at("between_residues/bonds_c_n_loss_mean")), 0.0);
  EXPECT_EQ(item(v.at("between_residues/connections_per_residue_violation_mask").sum()), 0.0);
}

TEST(StructuralViolations, BentPeptideAngleGivesFlatBottomLoss) {
  // Rotate residue 1 about the C(0) atom (z axis) by 20 degrees: the CA-C-N cosine moves
  // from -0.4473 to cos(acos(-0.4473) - 20 deg); C-N length and C-N-CA stay ideal.
  const FeatureDict b = make_batch({kAla, kAla}, {0, 1}, {{0, 1, 2}, {0, 1, 2}});
  torch::Tensor pos = dipeptide(0.0).to(torch::kDouble);
  const double a = 20.0 / 180.0 * kPi;
  const torch::Tensor rot = torch::tensor({std::cos(a), -std::sin(a), 0.0, std::sin(a), std::cos(a), 0.0, 0.0, 0.0, 1.0},
                                          torch::kDouble).view({3, 3});
  pos[1] = torch::matmul(pos[1], rot.t());
  const Violations v = find_structural_violations(b, pos.to(torch::kFloat), {});
  const double cos_new = std::cos(std::acos(-0.4473) - a);
  const double expected = (std::sqrt(1e-6 + std::pow(cos_new + 0.4473, 2)) - 12 * 0.014) / (1 + 1e-6);
  EXPECT_NEAR(item(v.at("between_residues/angles_ca_c_n_loss_mean")), expected, 2e-5 * expected);
  EXPECT_EQ(item(v.at("between_residues/bonds_c_n_loss_mean")), 0.0);
  EXPECT_EQ(item(v.at("between_residues/angles_c_n_ca_loss_mean")), 0.0);
}

TEST(StructuralViolations, ClashBetweenResiduesGivesVdwOverlapLoss) {
  // CA of residue 0 (carbon, r = 1.7) and O of residue 5 (oxygen, r = 1.52) 1.2 A apart:
  // lower bound 1.7 + 1.52 - 1.5 = 1.72, error 0.52 charged to both atoms.
  const FeatureDict b = make_batch({kAla, kAla}, {0, 5}, {{1}, {3}});
  torch::Tensor pos = torch::zeros({2, 14, 3});
  pos[1][3][0] = 1.2f;
  const Violations v = find_structural_violations(b, pos, {});
  const double error = 1.72 - 1.2;
  EXPECT_NEAR(item(v.at("between_residues/clashes_mean_loss")), error / (1 + 1e-6), 1e-5);
  const torch::Tensor per_atom = v.at("between_residues/clashes_per_atom_loss_sum");
  EXPECT_NEAR(item(per_atom[0][1]), error, 1e-5);
  EXPECT_NEAR(item(per_atom[1][3]), error, 1e-5);
  EXPECT_NEAR(item(per_atom.sum()), 2 * error, 1e-5);
  EXPECT_EQ(item(v.at("between_residues/clashes_per_atom_clash_mask")[0][1]), 1.0);
  EXPECT_EQ(item(v.at("between_residues/clashes_per_atom_clash_mask")[1][3]), 1.0);
  EXPECT_EQ(item(v.at("between_residues/clashes_per_atom_clash_mask").sum()), 2.0);
  EXPECT_TRUE(torch::equal(v.at("total_per_residue_violations_mask"), torch::ones({2})));
  // Eq. 47: (0.52 + 0.52) / (2 atoms + 1e-8), no connection (residue_index gap).
  EXPECT_NEAR(item(violation_loss(v, b.at("atom14_atom_exists"), {})), error, 1e-5);
  // average_clashes divides each atom's loss by its (single) clash: the same here.
  ViolationOptions averaged;
  averaged.average_clashes = true;
  EXPECT_NEAR(item(violation_loss(v, b.at("atom14_atom_exists"), averaged)), error, 1e-5);

  // Just outside the bound: nothing.
  pos[1][3][0] = 1.73f;
  EXPECT_EQ(item(find_structural_violations(b, pos, {}).at("between_residues/clashes_mean_loss")), 0.0);
}

TEST(StructuralViolations, PeptideBondAndDisulfideAreNoClash) {
  // C(0)-N(1) of consecutive residues 1.0 A apart: a (bad) bond, not a clash.
  {
    const FeatureDict b = make_batch({kAla, kAla}, {0, 1}, {{2}, {0}});
    torch::Tensor pos = torch::zeros({2, 14, 3});
    pos[1][0][0] = 1.0f;
    const Violations v = find_structural_violations(b, pos, {});
    EXPECT_EQ(item(v.at("between_residues/clashes_per_atom_loss_sum").sum()), 0.0);
    EXPECT_GT(item(v.at("between_residues/bonds_c_n_loss_mean")), 0.0);
  }
  // SG-SG of two cysteines 1.9 A apart (lower bound 1.8 + 1.8 - 1.5 = 2.1): a disulfide.
  // SG (S, 1.8) against CB (C, 1.7) at 1.9 A clashes by 2.0 - 1.9 = 0.1.
  {
    const FeatureDict b = make_batch({kCys, kCys}, {0, 5}, {{5}, {4, 5}});
    torch::Tensor pos = torch::zeros({2, 14, 3});
    pos[1][5][0] = 1.9f;
    pos[1][4][1] = 1.9f;
    const Violations v = find_structural_violations(b, pos, {});
    const torch::Tensor per_atom = v.at("between_residues/clashes_per_atom_loss_sum");
    EXPECT_NEAR(item(per_atom[0][5]), 0.1, 1e-5);
    EXPECT_NEAR(item(per_atom[1][4]), 0.1, 1e-5);
    EXPECT_EQ(item(per_atom[1][5]), 0.0);
  }
}

TEST(StructuralViolations, WithinResidueBondOutsideBoundsIsFlagged) {
  // ALA N-CA: 1.459 +- 12 * 0.020 A. At 1.959 A the bond is 0.26 A too long; each pair
  // is charged to both atoms, and counted from both sides (OpenFold sums the symmetric
  // [14, 14] loss over rows and columns): 2 * 0.26 per atom.
  const FeatureDict b = make_batch({kAla}, {0}, {{0, 1}});
  torch::Tensor pos = torch::zeros({1, 14, 3});
  pos[0][1][0] = 1.959f;
  Violations v = find_structural_violations(b, pos, {});
  torch::Tensor per_atom = v.at("within_residues/per_atom_loss_sum");
  EXPECT_NEAR(item(per_atom[0][0]), 2 * 0.26, 1e-5);
  EXPECT_NEAR(item(per_atom[0][1]), 2 * 0.26, 1e-5);
  EXPECT_NEAR(item(per_atom.sum()), 4 * 0.26, 1e-5);
  EXPECT_EQ(item(v.at("within_residues/per_atom_violations")[0][0]), 1.0);
  EXPECT_EQ(item(v.at("within_residues/per_atom_violations")[0][1]), 1.0);
  EXPECT_EQ(item(v.at("within_residues/per_atom_violations").sum()), 2.0);
  EXPECT_EQ(item(v.at("total_per_residue_violations_mask")[0]), 1.0);
  // Eq. 47: (2 * 0.52) / 2 atoms.
  EXPECT_NEAR(item(violation_loss(v, b.at("atom14_atom_exists"), {})), 0.52, 1e-5);

  // Too short (1.1 A < 1.459 - 0.24): 0.119 per pair.
  pos[0][1][0] = 1.1f;
  v = find_structural_violations(b, pos, {});
  EXPECT_NEAR(item(v.at("within_residues/per_atom_loss_sum")[0][0]), 2 * 0.119, 1e-5);
  // Inside the bounds: nothing.
  pos[0][1][0] = 1.6f;
  v = find_structural_violations(b, pos, {});
  EXPECT_EQ(item(v.at("within_residues/per_atom_loss_sum").sum()), 0.0);
  EXPECT_EQ(item(v.at("total_per_residue_violations_mask").sum()), 0.0);

  // Non-bonded atoms of one residue (ALA O and CB: no bond, no angle) clash below
  // 1.52 + 1.7 - 1.5 = 1.72 A: at 1.5 A, 0.22 per pair.
  const FeatureDict ob = make_batch({kAla}, {0}, {{3, 4}});
  torch::Tensor opos = torch::zeros({1, 14, 3});
  opos[0][4][2] = 1.5f;
  v = find_structural_violations(ob, opos, {});
  EXPECT_NEAR(item(v.at("within_residues/per_atom_loss_sum")[0][3]), 2 * 0.22, 1e-5);
  EXPECT_EQ(item(v.at("within_residues/per_atom_violations").sum()), 2.0);
}

// ---------------------------------------------------------------------------------------
// A real structure: 2Q2K chain A, the residues with every atom resolved, residue_index =
// position in the SEQRES (so unresolved stretches are gaps).

struct RealStructure {
  FeatureDict batch;
  torch::Tensor positions;  // [N, 14, 3] float, ground truth
};

RealStructure real_2q2k() {
  const data::Protein p = data::read_protein(test::shared_data("mmcif/2q2k.cif"), {"A"});
  const auto l = static_cast<int64_t>(p.num_residues());
  const torch::Tensor aatype = torch::tensor(std::vector<int64_t>(p.aatype.begin(), p.aatype.end()), torch::kLong);
  const torch::Tensor positions = torch::tensor(p.atom_positions).view({l, 37, 3});
  const torch::Tensor mask = torch::tensor(p.atom_mask).view({l, 37});
  const FeatureDict g = features::make_ground_truth_features(aatype, positions, mask);
  const torch::Tensor exists = g.at("atom14_atom_exists");
  const torch::Tensor complete =
      (g.at("atom14_gt_exists") == exists).all(-1).logical_and(exists.sum(-1) > 0).nonzero().squeeze(-1);
  RealStructure s;
  s.batch["aatype"] = aatype.index_select(0, complete);
  s.batch["residue_index"] = complete.clone();
  s.batch["atom14_atom_exists"] = exists.index_select(0, complete);
  s.batch["residx_atom14_to_atom37"] = g.at("residx_atom14_to_atom37").index_select(0, complete);
  s.batch["seq_mask"] = torch::ones({complete.size(0)});
  s.positions = g.at("atom14_gt_positions").index_select(0, complete).to(torch::kFloat);
  return s;
}

// A deterministic perturbation: every coordinate k (flat index over [N, 14, 3]) moves by
// amplitude * sin(1 + 2.3999632 k) (golden-angle steps, so neighbouring coordinates
// decorrelate), computed in double and rounded to float.
torch::Tensor perturbed(const torch::Tensor& positions, double amplitude) {
  const torch::Tensor k = torch::arange(positions.numel(), torch::kDouble).view(positions.sizes());
  return (positions.to(torch::kDouble) + amplitude * torch::sin(1.0 + 2.3999632 * k)).to(torch::kFloat);
}

#define REQUIRE_2Q2K_CIF() FOLD_REQUIRE_FILE(fold::test::shared_data("mmcif/2q2k.cif"))

void print_summary(const std::string& what, const Violations& v, const torch::Tensor& loss) {
  std::cout << what << ": loss " << item(loss) << ", c_n " << item(v.at("between_residues/bonds_c_n_loss_mean"))
            << ", ca_c_n " << item(v.at("between_residues/angles_ca_c_n_loss_mean")) << ", c_n_ca "
            << item(v.at("between_residues/angles_c_n_ca_loss_mean")) << ", clash mean "
            << item(v.at("between_residues/clashes_mean_loss")) << ", clash atoms "
            << item(v.at("between_residues/clashes_per_atom_clash_mask").sum()) << ", within atoms "
            << item(v.at("within_residues/per_atom_violations").sum()) << ", violating residues "
            << item(v.at("total_per_residue_violations_mask").sum()) << " / "
            << v.at("total_per_residue_violations_mask").size(-1) << "\n";
}

json tensor_json(const torch::Tensor& t) {
  const torch::Tensor c = t.detach().to(torch::kDouble).contiguous();
  return {{"shape", c.sizes().vec()}, {"data", std::vector<double>(c.data_ptr<double>(), c.data_ptr<double>() + c.numel())}};
}

// Writes the inputs and our outputs for the OpenFold harness to
// $FOLD_VIOLATIONS_DUMP/<name>.json when that variable is set.
void maybe_dump(const std::string& name, const FeatureDict& batch, const torch::Tensor& positions, const Violations& v,
                const torch::Tensor& loss, const std::map<std::string, torch::Tensor>& metrics) {
  const char* dir = std::getenv("FOLD_VIOLATIONS_DUMP");
  if (dir == nullptr) return;
  const std::string path = std::string(dir) + "/" + name + ".json";
  json j;
  for (const auto& [k, t] : batch) j["batch"][k] = tensor_json(t);
  j["atom14_pred_positions"] = tensor_json(positions);
  for (const auto& [k, t] : v) j["violations"][k] = tensor_json(t);
  for (const auto& [k, t] : metrics) j["metrics"][k] = tensor_json(t);
  j["loss"] = item(loss);
  std::ofstream(path) << j.dump();
  if (!std::ifstream(path)) ADD_FAILURE() << "could not write " << path;
  std::cout << "wrote " << path << "\n";
}

// A refined crystal structure satisfies AF2's bounds almost everywhere. (2Q2K A, 45
// complete residues: no violation at all, in OpenFold too.)
TEST(StructuralViolations, RealStructureHasAlmostNoViolations) {
  REQUIRE_2Q2K_CIF();
  const RealStructure s = real_2q2k();
  const Violations v = find_structural_violations(s.batch, s.positions, {});
  const torch::Tensor loss = violation_loss(v, s.batch.at("atom14_atom_exists"), {});
  print_summary("2q2k A (" + std::to_string(s.positions.size(0)) + " complete residues)", v, loss);
  maybe_dump("real_2q2k_A", s.batch, s.positions, v, loss, compute_violation_metrics(s.batch, s.positions, v));
  ASSERT_GE(s.positions.size(0), 40);
  EXPECT_LE(item(v.at("total_per_residue_violations_mask").mean()), 0.05);
  EXPECT_LT(item(loss), 1e-3);
  EXPECT_LT(item(v.at("between_residues/bonds_c_n_loss_mean")), 1e-3);
  EXPECT_EQ(item(v.at("between_residues/clashes_per_atom_clash_mask").sum()), 0.0);
}

// The structure OpenFoldReference scores: perturbed() with amplitude 0.1 A, then residue
// 10 moved 2.0 A and residue 30 moved 1.5 A towards the CA centroid, so that there are
// peptide-bond, angle, within-residue and between-residue violations at once.
torch::Tensor distorted(const torch::Tensor& positions) {
  torch::Tensor p = perturbed(positions, 0.1).to(torch::kDouble);
  const torch::Tensor centre = p.select(1, 1).mean(0);
  for (const auto& [residue, shift] : std::vector<std::pair<int64_t, double>>{{10, 2.0}, {30, 1.5}}) {
    const torch::Tensor dir = centre - p[residue][1];
    p[residue] += shift * dir / dir.norm();
  }
  return p.to(torch::kFloat);
}

void expect_rel(double ours, double reference, double rel, const std::string& what) {
  EXPECT_NEAR(ours, reference, rel * std::abs(reference)) << what;
}

// Every output against OpenFold's find_structural_violations / violation_loss /
// compute_violation_metrics on the same coordinates (commit ce0029e1, fp32, CPU; the
// commands are in the project's notes): scalars, sums and position-weighted sums of the
// per-atom and per-residue tensors (weights (flat index % 97) + 1, so a misplaced entry
// shows), the violating residues. Elementwise, OpenFold and this file agreed to 1.7e-7.
TEST(StructuralViolations, MatchesOpenFoldOnPerturbedRealStructure) {
  REQUIRE_2Q2K_CIF();
  const RealStructure s = real_2q2k();
  ASSERT_EQ(s.positions.size(0), 45);
  const torch::Tensor pos = distorted(s.positions);
  const Violations v = find_structural_violations(s.batch, pos, {});
  const torch::Tensor exists = s.batch.at("atom14_atom_exists");
  const torch::Tensor loss = violation_loss(v, exists, {});
  const auto metrics = compute_violation_metrics(s.batch, pos, v);
  print_summary("2q2k A perturbed", v, loss);
  maybe_dump("distorted_2q2k_A", s.batch, pos, v, loss, metrics);

  constexpr double kRel = 1e-5;
  expect_rel(item(loss), 0.0841812789, kRel, "violation_loss");
  ViolationOptions averaged;
  averaged.average_clashes = true;
  expect_rel(item(violation_loss(v, exists, averaged)), 0.081211336, kRel, "violation_loss, average_clashes");
  expect_rel(item(v.at("between_residues/bonds_c_n_loss_mean")), 0.0436178558, kRel, "bonds_c_n_loss_mean");
  expect_rel(item(v.at("between_residues/angles_ca_c_n_loss_mean")), 0.0210793, kRel, "angles_ca_c_n_loss_mean");
  expect_rel(item(v.at("between_residues/angles_c_n_ca_loss_mean")), 0.0109985229, kRel, "angles_c_n_ca_loss_mean");
  expect_rel(item(v.at("between_residues/clashes_mean_loss")), 1.61534572e-05, kRel, "clashes_mean_loss");

  const int64_t n = pos.size(0);
  const torch::Tensor w_atom = (torch::arange(n * 14, torch::kDouble).view({n, 14}).remainder(97) + 1);
  const torch::Tensor w_res = (torch::arange(n, torch::kDouble).remainder(97) + 1);
  struct Sums {
    const char* key;
    double sum, weighted;
  };
  for (const Sums& e : std::vector<Sums>{
           {"between_residues/clashes_per_atom_loss_sum", 2.28652191, 98.7110152},
           {"within_residues/per_atom_loss_sum", 0.96346283, 58.996594},
           {"between_residues/clashes_per_atom_clash_mask", 12, 493},
           {"within_residues/per_atom_violations", 14, 762},
           {"between_residues/clashes_per_atom_num_clash", 16, 674},
           {"within_residues/per_atom_num_clash", 28, 1524},
           {"between_residues/connections_per_residue_loss_sum", 3.33060981, 56.282453},
           {"between_residues/connections_per_residue_violation_mask", 6, 126},
           {"total_per_residue_violations_mask", 13, 292},
       }) {
    const torch::Tensor t = v.at(e.key).to(torch::kDouble);
    const torch::Tensor& w = t.dim() == 2 ? w_atom : w_res;
    expect_rel(item(t.sum()), e.sum, kRel, std::string(e.key) + " sum");
    expect_rel(item((t * w).sum()), e.weighted, kRel, std::string(e.key) + " weighted sum");
  }
  const torch::Tensor violating = v.at("total_per_residue_violations_mask").nonzero().flatten();
  EXPECT_TRUE(torch::equal(violating, torch::tensor({1, 9, 10, 11, 13, 15, 17, 29, 30, 31, 34, 37, 42}, torch::kLong)));

  expect_rel(item(metrics.at("violations_between_residue_bond")), 0.133333042, kRel, "metric bond");
  expect_rel(item(metrics.at("violations_between_residue_clash")), 0.111110866, kRel, "metric clash");
  expect_rel(item(metrics.at("violations_within_residue")), 0.133333042, kRel, "metric within");
  expect_rel(item(metrics.at("violations_per_residue")), 0.288888246, kRel, "metric per residue");
  EXPECT_EQ(item(metrics.at("violations_extreme_ca_ca_distance")), 0.0);
}

// ---------------------------------------------------------------------------------------
// Properties

torch::Tensor rotation(double w, double x, double y, double z) {
  const double n = std::sqrt(w * w + x * x + y * y + z * z);
  w /= n, x /= n, y /= n, z /= n;
  return torch::tensor({1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y),  //
                        2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x),  //
                        2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)},
                       torch::kDouble)
      .view({3, 3});
}

// Eq. 44-47 depend on distances and angles only: a global rotation + translation changes
// no mask and the loss only by rounding (fp64).
TEST(StructuralViolations, LossIsInvariantUnderRigidMotions) {
  REQUIRE_2Q2K_CIF();
  const RealStructure s = real_2q2k();
  const torch::Tensor pos = distorted(s.positions).to(torch::kDouble);
  const torch::Tensor moved =
      torch::matmul(pos, rotation(0.3, -0.5, 0.7, 0.4).t()) + torch::tensor({12.5, -7.25, 3.0}, torch::kDouble);
  const Violations a = find_structural_violations(s.batch, pos, {});
  const Violations b = find_structural_violations(s.batch, moved, {});
  const torch::Tensor exists = s.batch.at("atom14_atom_exists");
  const double la = item(violation_loss(a, exists, {})), lb = item(violation_loss(b, exists, {}));
  EXPECT_GT(la, 0.01);
  EXPECT_NEAR(lb, la, 1e-10 * la);
  for (const auto& [key, t] : a) {
    ASSERT_EQ(b.count(key), 1u) << key;
    EXPECT_EQ(t.scalar_type(), torch::kDouble) << key;
    if (key.find("mask") != std::string::npos || key.find("violations") != std::string::npos ||
        key.find("num_clash") != std::string::npos)
      EXPECT_TRUE(torch::equal(t, b.at(key))) << key;
    else
      EXPECT_LT(item((t - b.at(key)).abs().max()), 1e-10) << key;
  }
}

// Leading dimensions are batch dimensions: each element's outputs are its own, and the
// loss pools the clash term over the batch as OpenFold does.
TEST(StructuralViolations, BatchElementsAreIndependentAndClashesPool) {
  REQUIRE_2Q2K_CIF();
  const RealStructure s = real_2q2k();
  const torch::Tensor p0 = distorted(s.positions), p1 = perturbed(s.positions, 0.2);
  FeatureDict batch;
  for (const auto& [k, t] : s.batch) batch[k] = torch::stack({t, t});
  const Violations both = find_structural_violations(batch, torch::stack({p0, p1}), {});
  const Violations v0 = find_structural_violations(s.batch, p0, {});
  const Violations v1 = find_structural_violations(s.batch, p1, {});
  for (const auto& [key, t] : v0) {
    if (key == "between_residues/clashes_mean_loss") continue;  // pooled over the batch
    EXPECT_TRUE(torch::allclose(both.at(key)[0], t, 1e-5, 1e-7)) << key;
    EXPECT_TRUE(torch::allclose(both.at(key)[1], v1.at(key), 1e-5, 1e-7)) << key;
  }
  const torch::Tensor exists = s.batch.at("atom14_atom_exists");
  const auto bonds = [](const Violations& v) {
    return item(v.at("between_residues/bonds_c_n_loss_mean") + v.at("between_residues/angles_ca_c_n_loss_mean") +
                v.at("between_residues/angles_c_n_ca_loss_mean"));
  };
  const auto clash = [](const Violations& v) {
    return item(v.at("between_residues/clashes_per_atom_loss_sum").sum() + v.at("within_residues/per_atom_loss_sum").sum());
  };
  const double expected = 0.5 * (bonds(v0) + bonds(v1)) + (clash(v0) + clash(v1)) / (2 * item(exists.sum()) + 1e-8);
  EXPECT_NEAR(item(violation_loss(both, batch.at("atom14_atom_exists"), {})), expected, 1e-5 * expected);
}

// Central differences against autograd in fp64 over every coordinate (absent atoms
// included: their gradient must be 0) of 8 residues of the distorted structure that
// carry every kind of violation (peptide bonds 9-10-11 and 29-30-31, clashes 10/17 and
// 30/29/31, within-residue 13); h = 1e-6 is far below the distance of any relu argument
// from its hinge here.
TEST(StructuralViolations, GradientMatchesFiniteDifferences) {
  REQUIRE_2Q2K_CIF();
  const RealStructure s = real_2q2k();
  const torch::Tensor keep = torch::tensor({9, 10, 11, 13, 17, 29, 30, 31}, torch::kLong);
  FeatureDict batch;
  for (const auto& [k, t] : s.batch) batch[k] = t.index_select(0, keep);
  const torch::Tensor base = distorted(s.positions).to(torch::kDouble).index_select(0, keep);
  const torch::Tensor exists = batch.at("atom14_atom_exists");
  const auto loss_of = [&](const torch::Tensor& p, const ViolationOptions& o) {
    return violation_loss(find_structural_violations(batch, p, o), exists, o);
  };
  for (const bool average : {false, true}) {
    ViolationOptions options;
    options.average_clashes = average;
    const torch::Tensor x = base.clone().requires_grad_(true);
    const torch::Tensor loss = loss_of(x, options);
    ASSERT_EQ(loss.scalar_type(), torch::kDouble);
    loss.backward();
    const torch::Tensor grad = x.grad();
    ASSERT_TRUE(torch::isfinite(grad).all().item<bool>());
    const double scale = item(grad.abs().max());
    ASSERT_GT(scale, 1e-3);
    {
      const Violations v = find_structural_violations(batch, base, options);
      ASSERT_GT(item(v.at("between_residues/clashes_per_atom_loss_sum").sum()), 0.0);
      ASSERT_GT(item(v.at("within_residues/per_atom_loss_sum").sum()), 0.0);
      ASSERT_GT(item(v.at("between_residues/angles_c_n_ca_loss_mean")), 0.0);
    }
    const double h = 1e-6;
    int checked = 0, nonzero = 0;
    torch::NoGradGuard no_grad;
    const torch::Tensor flat = base.flatten();
    for (int64_t i = 0; i < flat.numel(); ++i) {
      torch::Tensor plus = base.clone(), minus = base.clone();
      plus.view({-1})[i] += h;
      minus.view({-1})[i] -= h;
      const double fd = (item(loss_of(plus, options)) - item(loss_of(minus, options))) / (2 * h);
      const double ad = item(grad.view({-1})[i]);
      EXPECT_NEAR(ad, fd, 1e-6 * scale + 1e-10) << "average_clashes " << average << " coordinate " << i;
      if (item(exists.view({-1})[i / 3]) == 0.0) {
        EXPECT_EQ(ad, 0.0) << "absent atom, coordinate " << i;
      }
      ++checked;
      nonzero += std::abs(ad) > 1e-6 * scale;
    }
    std::cout << "average_clashes " << average << ": " << checked << " coordinates, " << nonzero
              << " with a nonzero gradient, max |grad| " << scale << "\n";
    EXPECT_GT(nonzero, 50);
  }
}

TEST(StructuralViolations, ExtremeCaCaDistanceCountsLongGaps) {
  const FeatureDict b = make_batch({kAla, kAla, kAla}, {0, 1, 2}, {{1}, {1}, {1}});
  torch::Tensor pos = torch::zeros({3, 14, 3});
  pos[1][1][0] = 3.8f;
  pos[2][1][0] = 3.8f + 5.5f;  // 5.5 > 3.802 + 1.5
  const double frac = item(extreme_ca_ca_distance_violations(pos, b.at("atom14_atom_exists"), b.at("residue_index")));
  EXPECT_NEAR(frac, 1.0 / (2 + 1e-4), 1e-6);
}

// ---------------------------------------------------------------------------------------
// Bad input

template <class F>
void expect_invalid(F&& f, const std::string& needle) {
  try {
    f();
    ADD_FAILURE() << "expected std::invalid_argument naming " << needle;
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
  }
}

TEST(StructuralViolations, BadInputThrowsNamingTheFeature) {
  const FeatureDict good = make_batch({kAla, kAla}, {0, 1}, {{0, 1, 2}, {0, 1, 2}});
  const torch::Tensor pos = dipeptide(0.0);
  for (const char* name : {"aatype", "residue_index", "atom14_atom_exists", "residx_atom14_to_atom37"}) {
    FeatureDict b = good;
    b.erase(name);
    expect_invalid([&] { find_structural_violations(b, pos, {}); }, name);
    b = good;
    b[name] = torch::zeros({3, 14}, good.at(name).dtype());
    expect_invalid([&] { find_structural_violations(b, pos, {}); }, name);
  }
  FeatureDict b = good;
  b["atom14_atom_exists"] = torch::ones({2, 37});
  expect_invalid([&] { find_structural_violations(b, pos, {}); }, "atom14_atom_exists");
  b = good;
  b["aatype"] = torch::tensor({0, 21}, torch::kLong);
  expect_invalid([&] { find_structural_violations(b, pos, {}); }, "aatype");
  expect_invalid([&] { find_structural_violations(good, torch::zeros({2, 37, 3}), {}); }, "atom14_pred_positions");
  expect_invalid([&] { find_structural_violations(good, torch::zeros({2, 14}), {}); }, "atom14_pred_positions");

  const Violations v = find_structural_violations(good, pos, {});
  for (const char* key : {"between_residues/clashes_per_atom_loss_sum", "within_residues/per_atom_loss_sum",
                          "between_residues/bonds_c_n_loss_mean"}) {
    Violations missing = v;
    missing.erase(key);
    expect_invalid([&] { violation_loss(missing, good.at("atom14_atom_exists"), {}); }, key);
  }
  ViolationOptions averaged;
  averaged.average_clashes = true;
  Violations missing = v;
  missing.erase("within_residues/per_atom_num_clash");
  expect_invalid([&] { violation_loss(missing, good.at("atom14_atom_exists"), averaged); }, "per_atom_num_clash");
  expect_invalid([&] { violation_loss(v, torch::ones({2, 37}), {}); }, "atom14_atom_exists");
  FeatureDict no_seq_mask = good;
  no_seq_mask.erase("seq_mask");
  expect_invalid([&] { compute_violation_metrics(no_seq_mask, pos, v); }, "seq_mask");
}

}  // namespace
}  // namespace fold::loss
