// AF2's Amber relaxation (fold/predict/amber_relax) through `fold relax`: clashes planted
// in a real structure (ubiquitin, 1UBQ, standing in for a prediction: the tests have no
// trained weights) are gone afterwards, with the structure kept; and a missing OpenMM is
// reported with how to get it.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <cmath>
#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <set>
#include <string>

#include "data/protein.h"
#include "data/residue_constants.h"
#include "fold/predict/amber_relax.h"
#include "test_paths.h"

namespace fold {
namespace {

namespace fs = std::filesystem;
namespace rc = data::rc;
using fold::test::Outcome;
using fold::test::run_fold;

bool python_has_openmm() {
  for (const char* python : {"python3", "/usr/bin/python3"}) {
    const std::string cmd = std::string(python) + " -c 'import pdbfixer' >/dev/null 2>&1";
    if (std::system(cmd.c_str()) == 0) return true;
  }
  return false;
}

const float* atom(const data::Protein& p, size_t residue, int a) {
  return &p.atom_positions[3 * (residue * rc::kAtom37 + a)];
}
float* atom(data::Protein& p, size_t residue, int a) { return &p.atom_positions[3 * (residue * rc::kAtom37 + a)]; }

double distance(const float* x, const float* y) {
  return std::sqrt((x[0] - y[0]) * (x[0] - y[0]) + (x[1] - y[1]) * (x[1] - y[1]) + (x[2] - y[2]) * (x[2] - y[2]));
}

// Moves a side-chain atom (beyond CB) of `count` residues to 1.2 A from an atom of a
// residue at least four positions away that it already faces within 5 A: clashes
// (heavy atoms overlap past the 1.5 A tolerance) and stretched side-chain bonds.
data::Protein with_planted_clashes(data::Protein p, int count) {
  const int first_side_chain_atom = rc::atom_order("CG");
  std::set<size_t> used;
  for (size_t i = 0; i < p.num_residues() && count > 0; ++i)
    for (int a = first_side_chain_atom; a < rc::kAtom37 && count > 0 && !used.count(i); ++a) {
      if (p.atom_mask[i * rc::kAtom37 + a] == 0) continue;
      for (size_t j = 0; j < p.num_residues() && !used.count(i); ++j) {
        if ((i > j ? i - j : j - i) < 4 || used.count(j)) continue;
        for (int b = 0; b < rc::kAtom37; ++b) {
          if (p.atom_mask[j * rc::kAtom37 + b] == 0) continue;
          const double d = distance(atom(p, i, a), atom(p, j, b));
          if (d > 5.0) continue;
          float* x = atom(p, i, a);
          const float* y = atom(p, j, b);
          for (int k = 0; k < 3; ++k) x[k] = y[k] + static_cast<float>((x[k] - y[k]) * 1.2 / d);
          used.insert(i);
          used.insert(j);
          --count;
          break;
        }
      }
    }
  EXPECT_EQ(count, 0) << "not enough facing side chains";
  return p;
}

double heavy_atom_rmsd(const data::Protein& a, const data::Protein& b) {
  double sum = 0;
  size_t n = 0;
  for (size_t r = 0; r < a.num_residues(); ++r)
    for (int k = 0; k < rc::kAtom37; ++k)
      if (a.atom_mask[r * rc::kAtom37 + k] > 0 && b.atom_mask[r * rc::kAtom37 + k] > 0) {
        const double d = distance(atom(a, r, k), atom(b, r, k));
        sum += d * d;
        ++n;
      }
  return std::sqrt(sum / static_cast<double>(n));
}

TEST(AmberRelax, PlantedClashesAreRemovedWithTheStructureKept) {
  const std::string ubiquitin = test::example_cache("freesasa/usr/share/freesasa/test-data/1ubq.pdb");
  FOLD_REQUIRE_FILE(ubiquitin);
  if (!python_has_openmm())
    GTEST_SKIP() << "no Python with OpenMM and PDBFixer (tools/setup.sh installs Debian's python3-pdbfixer)";
  const data::Protein planted = with_planted_clashes(data::read_protein(ubiquitin), 3);
  const StructureViolations before = count_violations(planted);
  EXPECT_GE(before.clashing_atoms, 3);
  EXPECT_GE(before.residues, 6);

  const fs::path dir = test::temp_path("relax");
  fs::create_directories(dir);
  data::write_protein(planted, (dir / "planted.pdb").string());
  const Outcome r = run_fold("relax '" + (dir / "planted.pdb").string() + "' --out '" + dir.string() + "'");
  ASSERT_EQ(r.code, 0) << r.err;
  const data::Protein relaxed = data::read_protein((dir / "planted_relaxed.pdb").string());
  ASSERT_EQ(relaxed.num_residues(), planted.num_residues());
  const StructureViolations after = count_violations(relaxed);
  EXPECT_EQ(after.clashing_atoms, 0);
  EXPECT_EQ(after.residues, 0);
  const double rmsd = heavy_atom_rmsd(relaxed, planted);
  EXPECT_LT(rmsd, 0.5);
  std::cout << "planted: " << before.residues << " violating residues, " << before.clashing_atoms
            << " clashing atoms; relaxed: " << after.residues << ", " << after.clashing_atoms
            << "; heavy-atom RMSD " << rmsd << " A\n";
  // The report holds the same counts, and the relaxed file has the hydrogens AF2's has.
  const auto report = nlohmann::json::parse(test::slurp(dir / "planted_relax.json"));
  EXPECT_EQ(report.at("violations_before").at("clashing_atoms"), before.clashing_atoms);
  EXPECT_EQ(report.at("violations_after").at("residues"), 0);
  EXPECT_NE(test::slurp(dir / "planted_relaxed.pdb").find(" HA "), std::string::npos);
  test::remove_tree(dir);
}

TEST(AmberRelax, CollapsedStructureIsRefusedBeforeOpenMmRuns) {
  const std::string ubiquitin = test::example_cache("freesasa/usr/share/freesasa/test-data/1ubq.pdb");
  FOLD_REQUIRE_FILE(ubiquitin);
  data::Protein collapsed = data::read_protein(ubiquitin);
  std::fill(collapsed.atom_positions.begin(), collapsed.atom_positions.end(), 0.0f);
  try {
    relax(collapsed);
    FAIL() << "expected std::invalid_argument";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("collapsed"), std::string::npos) << e.what();
  }
}

TEST(AmberRelax, PythonWithoutOpenMmIsRefusedWithHowToGetIt) {
  const std::string ubiquitin = test::example_cache("freesasa/usr/share/freesasa/test-data/1ubq.pdb");
  FOLD_REQUIRE_FILE(ubiquitin);
  const fs::path dir = test::temp_path("relax");
  const Outcome r = run_fold("relax '" + ubiquitin + "' --python /bin/false --out '" + dir.string() + "'");
  EXPECT_NE(r.code, 0);
  EXPECT_NE(r.err.find("python3-pdbfixer"), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(dir / "1ubq_relaxed.pdb"));
  test::remove_tree(dir);
}

}  // namespace
}  // namespace fold
