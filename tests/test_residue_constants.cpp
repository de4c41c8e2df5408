// Tests for data/residue_constants: each test name states the property it
// checks; expected numbers are AlphaFold2's own values, not re-derivations.
#include "data/residue_constants.h"

#include <gtest/gtest.h>

#include <cmath>
#include <set>
#include <string>
#include <utility>

namespace rc = fold::data::rc;

namespace {

constexpr double kDegPerRad = 180.0 / 3.14159265358979323846;

int res(char one_letter) { return rc::restype_order(one_letter); }

int slot14(int restype, std::string_view name) {
  const auto& names = rc::restype_name_to_atom14_names()[restype];
  for (int i = 0; i < rc::kAtom14; ++i) {
    if (names[i] == name) return i;
  }
  return -1;
}

}  // namespace

// The 20 amino acids are in AF2's order, the unknown type is index 20, and
// 1<->3 letter conversions cover all 20 names plus UNK.
TEST(ResidueConstants, TwentyAminoAcidsPlusUnknownInAf2Order) {
  EXPECT_EQ(std::string(rc::restypes.begin(), rc::restypes.end()), "ARNDCQEGHILKMFPSTWYV");
  EXPECT_EQ(rc::kNumRestypes, 20);
  EXPECT_EQ(rc::kNumRestypesWithX, 21);
  EXPECT_EQ(rc::restype_order('A'), 0);
  EXPECT_EQ(rc::restype_order('V'), 19);
  EXPECT_EQ(rc::restype_order('X'), 20);
  EXPECT_EQ(rc::restype_order('B'), 20);  // non-standard letters fall to unknown
  EXPECT_EQ(rc::restype_order('a'), 20);  // lookup is case-sensitive like AF2
  const char* three[] = {"ALA", "ARG", "ASN", "ASP", "CYS", "GLN", "GLU", "GLY", "HIS", "ILE",
                         "LEU", "LYS", "MET", "PHE", "PRO", "SER", "THR", "TRP", "TYR", "VAL"};
  for (int r = 0; r < 20; ++r) {
    EXPECT_EQ(rc::restype_3to1(three[r]), rc::restypes[r]) << three[r];
    EXPECT_EQ(rc::restype_1to3(rc::restypes[r]), three[r]);
    EXPECT_EQ(rc::resnames[r], three[r]);
  }
  EXPECT_EQ(rc::restype_3to1("UNK"), 'X');
  EXPECT_EQ(rc::restype_3to1("MSE"), 'X');  // strict 1:1 map, no modified residues
  EXPECT_EQ(rc::restype_1to3('X'), "UNK");
  EXPECT_EQ(rc::resnames[20], "UNK");
}

// The unknown restype has no atoms in any encoding.
TEST(ResidueConstants, UnknownRestypeHasNoAtoms) {
  for (int i = 0; i < rc::kAtom14; ++i) {
    EXPECT_TRUE(rc::restype_name_to_atom14_names()[20][i].empty());
    EXPECT_EQ(rc::restype_atom14_mask()[20][i], 0.f);
  }
  for (int a = 0; a < rc::kAtom37; ++a) EXPECT_EQ(rc::restype_atom37_mask()[20][a], 0.f);
  EXPECT_TRUE(rc::rigid_group_atom_positions(20).empty());
}

// atom37 names are AF2's 37 distinct names in AF2 order.
TEST(ResidueConstants, Atom37OrderMatchesAf2) {
  std::set<std::string_view> distinct(rc::atom_types.begin(), rc::atom_types.end());
  EXPECT_EQ(distinct.size(), 37u);
  EXPECT_EQ(rc::atom_order("N"), 0);
  EXPECT_EQ(rc::atom_order("CA"), 1);
  EXPECT_EQ(rc::atom_order("C"), 2);
  EXPECT_EQ(rc::atom_order("CB"), 3);
  EXPECT_EQ(rc::atom_order("O"), 4);
  EXPECT_EQ(rc::atom_order("SG"), 10);
  EXPECT_EQ(rc::atom_order("CH2"), 28);
  EXPECT_EQ(rc::atom_order("NZ"), 35);
  EXPECT_EQ(rc::atom_order("OXT"), 36);
  EXPECT_EQ(rc::atom_order("HA"), -1);
  EXPECT_EQ(rc::atom_order(""), -1);
}

// For every existing atom14 slot, atom14->atom37->atom14 returns the slot, and
// the atom37 index names the same atom.
TEST(ResidueConstants, Atom14Atom37MapsAreInverseOnExistingAtoms) {
  const auto& names = rc::restype_name_to_atom14_names();
  const auto& to37 = rc::restype_atom14_to_atom37();
  const auto& to14 = rc::restype_atom37_to_atom14();
  int checked = 0;
  for (int r = 0; r < rc::kNumRestypesWithX; ++r) {
    for (int i = 0; i < rc::kAtom14; ++i) {
      if (names[r][i].empty()) continue;
      const int a37 = to37[r][i];
      EXPECT_EQ(rc::atom_types[a37], names[r][i]);
      EXPECT_EQ(to14[r][a37], i) << rc::resnames[r] << " " << names[r][i];
      EXPECT_EQ(rc::restype_atom37_mask()[r][a37], 1.f);
      ++checked;
    }
  }
  EXPECT_EQ(checked, 167);  // heavy atoms summed over the 20 residue types
  // Spot checks: TRP's last slot is CH2, TYR's OH sits in slot 11.
  EXPECT_EQ(to37[res('W')][13], rc::atom_order("CH2"));
  EXPECT_EQ(to14[res('Y')][rc::atom_order("OH")], 11);
}

// atom14 and atom37 masks count the heavy atoms of each residue (no OXT).
TEST(ResidueConstants, AtomMaskCountsEqualHeavyAtomCounts) {
  const std::pair<char, int> expected[] = {
      {'A', 5},  {'R', 11}, {'N', 8}, {'D', 8},  {'C', 6},  {'Q', 9},  {'E', 9},
      {'G', 4},  {'H', 10}, {'I', 8}, {'L', 8},  {'K', 9},  {'M', 8},  {'F', 11},
      {'P', 7},  {'S', 6},  {'T', 7}, {'W', 14}, {'Y', 12}, {'V', 7},  {'X', 0}};
  for (const auto& [letter, count] : expected) {
    const int r = res(letter);
    float n14 = 0, n37 = 0;
    int named = 0;
    for (float m : rc::restype_atom14_mask()[r]) n14 += m;
    for (float m : rc::restype_atom37_mask()[r]) n37 += m;
    for (auto name : rc::restype_name_to_atom14_names()[r]) named += name.empty() ? 0 : 1;
    EXPECT_EQ(n14, count) << letter;
    EXPECT_EQ(n37, count) << letter;
    EXPECT_EQ(named, count) << letter;
    EXPECT_EQ(rc::restype_atom37_mask()[r][rc::atom_order("OXT")], 0.f);
  }
}

// Every atom listed in rigid_group_atom_positions is in that residue's atom14
// list, and each atom14 atom is listed exactly once.
TEST(ResidueConstants, RigidGroupAtomsAreExactlyTheAtom14Atoms) {
  for (int r = 0; r < rc::kNumRestypes; ++r) {
    std::multiset<std::string_view> listed;
    for (const auto& atom : rc::rigid_group_atom_positions(r)) {
      EXPECT_GE(slot14(r, atom.atom_name), 0) << rc::resnames[r] << " " << atom.atom_name;
      EXPECT_TRUE(atom.group == 0 || atom.group >= 3) << "groups 1 and 2 hold no heavy atoms";
      EXPECT_LT(atom.group, rc::kNumRigidGroups);
      listed.insert(atom.atom_name);
    }
    for (auto name : rc::restype_name_to_atom14_names()[r]) {
      if (name.empty()) continue;
      EXPECT_EQ(listed.count(name), 1u) << rc::resnames[r] << " " << name;
    }
  }
}

// AF2's literal positions survive: ALA CB at (-0.529, -0.774, -1.205) in the
// backbone group, O always in the psi group, ARG NH1 in chi4.
TEST(ResidueConstants, RigidGroupPositionsMatchAf2Table) {
  const int ala = res('A');
  const int cb = slot14(ala, "CB");
  ASSERT_EQ(cb, 4);
  EXPECT_EQ(rc::restype_atom14_to_rigid_group()[ala][cb], 0);
  EXPECT_FLOAT_EQ(rc::restype_atom14_rigid_group_positions()[ala][cb][0], -0.529f);
  EXPECT_FLOAT_EQ(rc::restype_atom14_rigid_group_positions()[ala][cb][1], -0.774f);
  EXPECT_FLOAT_EQ(rc::restype_atom14_rigid_group_positions()[ala][cb][2], -1.205f);
  const int cb37 = rc::atom_order("CB");
  EXPECT_FLOAT_EQ(rc::restype_atom37_rigid_group_positions()[ala][cb37][2], -1.205f);

  for (int r = 0; r < rc::kNumRestypes; ++r) {
    EXPECT_EQ(rc::restype_atom37_to_rigid_group()[r][rc::atom_order("O")], 3) << rc::resnames[r];
    EXPECT_EQ(rc::restype_atom37_to_rigid_group()[r][rc::atom_order("N")], 0);
  }
  const int arg = res('R');
  EXPECT_EQ(rc::restype_atom14_to_rigid_group()[arg][slot14(arg, "NH1")], 7);
  EXPECT_FLOAT_EQ(rc::restype_atom14_rigid_group_positions()[arg][slot14(arg, "NH1")][1], 2.301f);
  // PRO CD uses AF2's hand-adjusted value.
  const int pro = res('P');
  EXPECT_FLOAT_EQ(rc::restype_atom14_rigid_group_positions()[pro][slot14(pro, "CD")][0], 0.477f);
  EXPECT_FLOAT_EQ(rc::restype_atom14_rigid_group_positions()[pro][slot14(pro, "CD")][1], 1.424f);

  size_t total = 0;
  for (int r = 0; r < rc::kNumRestypesWithX; ++r) total += rc::rigid_group_atom_positions(r).size();
  EXPECT_EQ(total, 167u);
}

// Each chi angle's fourth (torsion-defining) atom lives in that chi's group,
// in the group's xy plane with positive y, as the rigid-group convention says.
TEST(ResidueConstants, ChiDefiningAtomLiesInItsGroupXyPlane) {
  for (int r = 0; r < rc::kNumRestypes; ++r) {
    for (int chi = 0; chi < rc::kNumChi; ++chi) {
      if (rc::chi_angles_mask()[r][chi] == 0.f) continue;
      const int s = slot14(r, rc::chi_angles_atoms()[r][chi][3]);
      ASSERT_GE(s, 0);
      EXPECT_EQ(rc::restype_atom14_to_rigid_group()[r][s], 4 + chi) << rc::resnames[r] << chi;
      EXPECT_EQ(rc::restype_atom14_rigid_group_positions()[r][s][2], 0.f);
      EXPECT_GT(rc::restype_atom14_rigid_group_positions()[r][s][1], 0.f);
    }
  }
}

// Defined default frames are proper rigid transforms: orthonormal rotation,
// det +1, bottom row (0,0,0,1). Undefined ones (missing chis, UNK) are zero.
TEST(ResidueConstants, DefaultFramesAreProperRigidTransforms) {
  const auto& frames = rc::restype_rigid_group_default_frame();
  int proper = 0;
  for (int r = 0; r < rc::kNumRestypesWithX; ++r) {
    for (int g = 0; g < rc::kNumRigidGroups; ++g) {
      const auto& m = frames[r][g];
      const bool defined = r < rc::kNumRestypes && (g < 4 || rc::chi_angles_mask()[r][g - 4] != 0.f);
      if (!defined) {
        for (int i = 0; i < 4; ++i)
          for (int j = 0; j < 4; ++j) EXPECT_EQ(m[i][j], 0.f);
        continue;
      }
      ++proper;
      for (int i = 0; i < 3; ++i) {
        for (int j = 0; j < 3; ++j) {
          double d = 0;
          for (int k = 0; k < 3; ++k) d += double(m[k][i]) * m[k][j];
          EXPECT_NEAR(d, i == j ? 1.0 : 0.0, 1e-6) << rc::resnames[r] << " group " << g;
        }
      }
      const double det = m[0][0] * (double(m[1][1]) * m[2][2] - double(m[1][2]) * m[2][1]) -
                         m[0][1] * (double(m[1][0]) * m[2][2] - double(m[1][2]) * m[2][0]) +
                         m[0][2] * (double(m[1][0]) * m[2][1] - double(m[1][1]) * m[2][0]);
      EXPECT_NEAR(det, 1.0, 1e-6);
      EXPECT_EQ(m[3][0], 0.f);
      EXPECT_EQ(m[3][1], 0.f);
      EXPECT_EQ(m[3][2], 0.f);
      EXPECT_EQ(m[3][3], 1.f);
    }
  }
  // 20 * 4 backbone-side groups plus one per chi angle (39 chis in AF2).
  EXPECT_EQ(proper, 80 + 39);
}

// Backbone (group 0) and pre-omega (group 1) frames are the identity.
TEST(ResidueConstants, BackboneFrameIsIdentity) {
  for (int r = 0; r < rc::kNumRestypes; ++r) {
    for (int g = 0; g < 2; ++g) {
      for (int i = 0; i < 4; ++i)
        for (int j = 0; j < 4; ++j)
          EXPECT_EQ(rc::restype_rigid_group_default_frame()[r][g][i][j], i == j ? 1.f : 0.f);
    }
  }
}

// Concrete frames from AF2: ALA psi frame sits at C with rotation
// diag(1,-1,-1); the phi frame sits at N with x along CA->N.
TEST(ResidueConstants, AlaPhiPsiFramesMatchAf2) {
  const auto& f = rc::restype_rigid_group_default_frame()[res('A')];
  EXPECT_NEAR(f[3][0][3], 1.526f, 1e-6);
  EXPECT_NEAR(f[3][0][0], 1.f, 1e-6);
  EXPECT_NEAR(f[3][1][1], -1.f, 1e-6);
  EXPECT_NEAR(f[3][2][2], -1.f, 1e-6);
  EXPECT_NEAR(f[2][0][3], -0.525f, 1e-6);
  EXPECT_NEAR(f[2][1][3], 1.363f, 1e-6);
  EXPECT_NEAR(f[2][0][0], -0.35943782f, 1e-6);
  EXPECT_NEAR(f[2][1][0], 0.93316907f, 1e-6);
  EXPECT_NEAR(f[2][2][2], -1.f, 1e-6);
}

// chi_angles_mask agrees with the number of chi atom lists per residue.
TEST(ResidueConstants, ChiMaskMatchesChiAtomLists) {
  const std::pair<char, int> expected[] = {{'A', 0}, {'R', 4}, {'N', 2}, {'D', 2}, {'C', 1}, {'Q', 3},
                                           {'E', 3}, {'G', 0}, {'H', 2}, {'I', 2}, {'L', 2}, {'K', 4},
                                           {'M', 3}, {'F', 2}, {'P', 2}, {'S', 1}, {'T', 1}, {'W', 2},
                                           {'Y', 2}, {'V', 1}, {'X', 0}};
  for (const auto& [letter, count] : expected) {
    const int r = res(letter);
    int lists = 0;
    float mask = 0;
    for (int chi = 0; chi < rc::kNumChi; ++chi) {
      const auto& atoms = rc::chi_angles_atoms()[r][chi];
      const bool present = !atoms[0].empty();
      lists += present ? 1 : 0;
      mask += rc::chi_angles_mask()[r][chi];
      EXPECT_EQ(present, rc::chi_angles_mask()[r][chi] == 1.f) << letter << chi;
    }
    EXPECT_EQ(lists, count) << letter;
    EXPECT_EQ(mask, count) << letter;
  }
  // SER chi1 = N-CA-CB-OG as atom37 indices.
  const auto& ser = rc::chi_angles_atom_indices()[res('S')][0];
  EXPECT_EQ(ser[0], 0);
  EXPECT_EQ(ser[1], 1);
  EXPECT_EQ(ser[2], 3);
  EXPECT_EQ(ser[3], 8);
  EXPECT_EQ(rc::chi_angles_atoms()[res('M')][2][3], "CE");
}

// Only ASP chi2, GLU chi3, PHE chi2 and TYR chi2 are pi-periodic.
TEST(ResidueConstants, ChiPiPeriodicOnlyForSymmetricSideChains) {
  std::set<std::pair<char, int>> expected = {{'D', 1}, {'E', 2}, {'F', 1}, {'Y', 1}};
  std::set<std::pair<char, int>> found;
  for (int r = 0; r < rc::kNumRestypesWithX; ++r) {
    for (int chi = 0; chi < rc::kNumChi; ++chi) {
      if (rc::chi_pi_periodic()[r][chi] != 0.f) {
        EXPECT_EQ(rc::chi_pi_periodic()[r][chi], 1.f);
        found.insert({r < 20 ? rc::restypes[r] : 'X', chi});
      }
    }
  }
  EXPECT_EQ(found, expected);
}

// Ambiguous-atom swaps are involutions and touch exactly AF2's 6 pairs.
TEST(ResidueConstants, AmbiguousSwapsAreInvolutions) {
  const auto& swap = rc::restype_atom14_ambiguous_swap();
  int moved = 0;
  for (int r = 0; r < rc::kNumRestypesWithX; ++r) {
    for (int i = 0; i < rc::kAtom14; ++i) {
      const int j = swap[r][i];
      ASSERT_GE(j, 0);
      ASSERT_LT(j, rc::kAtom14);
      EXPECT_EQ(swap[r][j], i);
      EXPECT_EQ(rc::restype_atom14_is_ambiguous()[r][i], j != i ? 1.f : 0.f);
      if (j != i) {
        ++moved;
        // Partners are the same element.
        EXPECT_EQ(rc::restype_name_to_atom14_names()[r][i][0], rc::restype_name_to_atom14_names()[r][j][0]);
      }
    }
  }
  EXPECT_EQ(moved, 12);
  EXPECT_EQ(swap[res('D')][6], 7);  // OD1 <-> OD2
  EXPECT_EQ(swap[res('E')][7], 8);  // OE1 <-> OE2
  EXPECT_EQ(swap[res('F')][6], 7);  // CD1 <-> CD2
  EXPECT_EQ(swap[res('F')][8], 9);  // CE1 <-> CE2
  EXPECT_EQ(swap[res('Y')][9], 8);  // CE2 <-> CE1
  EXPECT_EQ(swap[res('L')][6], 6);  // LEU CD1 is not renamed
}

// The stereo-chemical table has all of AF2's rows with their values.
TEST(ResidueConstants, StereoChemicalTableIsComplete) {
  EXPECT_EQ(rc::stereo_bond_lengths().size(), 153u);
  EXPECT_EQ(rc::stereo_bond_angles().size(), 174u);
  EXPECT_EQ(rc::stereo_non_bonded_distances().size(), 10u);
  bool found_ile = false, found_pro = false;
  for (const auto& b : rc::stereo_bond_lengths()) {
    if (b.resname == "ILE" && b.atom1 == "CG1" && b.atom2 == "CD1") {
      found_ile = true;
      EXPECT_DOUBLE_EQ(b.length, 1.500);
      EXPECT_DOUBLE_EQ(b.stddev, 0.069);
    }
  }
  for (const auto& a : rc::stereo_bond_angles()) {
    if (a.resname == "PRO" && a.atom1 == "CA" && a.atom2 == "N" && a.atom3 == "CD") {
      found_pro = true;
      EXPECT_DOUBLE_EQ(a.angle_deg, 111.7);
      EXPECT_DOUBLE_EQ(a.stddev_deg, 1.4);
    }
  }
  EXPECT_TRUE(found_ile);
  EXPECT_TRUE(found_pro);
  const auto& ss = rc::stereo_non_bonded_distances().back();
  EXPECT_EQ(ss.element1, 'S');
  EXPECT_EQ(ss.element2, 'S');
  EXPECT_DOUBLE_EQ(ss.min_distance, 2.03);
  EXPECT_DOUBLE_EQ(ss.tolerance, 1.0);
}

// Distance bounds: lower < upper for every bonded pair and for every pair
// bridged by a bond angle; values equal AF2's make_atom14_dists_bounds.
TEST(ResidueConstants, BondBoundsBracketBondedPairs) {
  const auto bounds = rc::make_atom14_dists_bounds();
  for (const auto& b : rc::stereo_bond_lengths()) {
    const int r = rc::restype_order(rc::restype_3to1(b.resname));
    const int i = slot14(r, b.atom1), j = slot14(r, b.atom2);
    ASSERT_GE(i, 0);
    ASSERT_GE(j, 0);
    EXPECT_GT(bounds.lower_bound[r][i][j], 0.f);
    EXPECT_LT(bounds.lower_bound[r][i][j], bounds.upper_bound[r][i][j]);
    EXPECT_FLOAT_EQ(bounds.lower_bound[r][i][j], float(b.length - 15 * b.stddev));
    EXPECT_FLOAT_EQ(bounds.upper_bound[r][j][i], float(b.length + 15 * b.stddev));
    EXPECT_FLOAT_EQ(bounds.stddev[r][i][j], float(b.stddev));
  }
  for (const auto& a : rc::stereo_bond_angles()) {
    const int r = rc::restype_order(rc::restype_3to1(a.resname));
    const int i = slot14(r, a.atom1), k = slot14(r, a.atom3);
    EXPECT_LT(bounds.lower_bound[r][i][k], bounds.upper_bound[r][i][k]);
    EXPECT_LT(bounds.upper_bound[r][i][k], 10.f) << "angle-bridged pairs are restrained";
  }
  const int ala = res('A');
  // N-CA bond: 1.459 +- 15 * 0.020.
  EXPECT_FLOAT_EQ(bounds.lower_bound[ala][0][1], 1.159f);
  EXPECT_FLOAT_EQ(bounds.upper_bound[ala][0][1], 1.759f);
  // N..C across the N-CA-C angle (AF2: 1.7371972 / 3.1817563).
  EXPECT_NEAR(bounds.lower_bound[ala][0][2], 1.7371972f, 1e-6);
  EXPECT_NEAR(bounds.upper_bound[ala][0][2], 3.1817563f, 1e-6);
  // O..CB is only a clash pair: 1.52 + 1.7 - 1.5, no upper limit.
  EXPECT_FLOAT_EQ(bounds.lower_bound[ala][3][4], 1.72f);
  EXPECT_FLOAT_EQ(bounds.upper_bound[ala][3][4], 1e10f);
  // Diagonal, empty slots and UNK stay zero.
  EXPECT_EQ(bounds.lower_bound[ala][1][1], 0.f);
  EXPECT_EQ(bounds.upper_bound[ala][0][5], 0.f);
  for (int i = 0; i < rc::kAtom14; ++i)
    for (int j = 0; j < rc::kAtom14; ++j) EXPECT_EQ(bounds.upper_bound[20][i][j], 0.f);
}

// HHblits alphabet and AF2's MSA ids: 'A'->0 in AF2 order, '-'->21, and the
// HHblits ambiguity codes fold onto D, E, C and X.
TEST(ResidueConstants, HhblitsMappingMatchesAf2) {
  EXPECT_EQ(rc::hhblits_aa_to_id('A'), 0);
  EXPECT_EQ(rc::hhblits_aa_to_id('C'), 1);
  EXPECT_EQ(rc::hhblits_aa_to_id('Y'), 19);
  EXPECT_EQ(rc::hhblits_aa_to_id('B'), 2);
  EXPECT_EQ(rc::hhblits_aa_to_id('Z'), 3);
  EXPECT_EQ(rc::hhblits_aa_to_id('U'), 1);
  EXPECT_EQ(rc::hhblits_aa_to_id('J'), 20);
  EXPECT_EQ(rc::hhblits_aa_to_id('O'), 20);
  EXPECT_EQ(rc::hhblits_aa_to_id('X'), 20);
  EXPECT_EQ(rc::hhblits_aa_to_id('-'), 21);
  EXPECT_EQ(rc::hhblits_aa_to_id('a'), -1);
  EXPECT_EQ(rc::hhblits_aa_to_id('*'), -1);

  const int af2_map[22] = {0, 4, 3, 6, 13, 7, 8, 9, 11, 10, 12, 2, 14, 5, 1, 15, 16, 19, 17, 18, 20, 21};
  for (int i = 0; i < 22; ++i) EXPECT_EQ(rc::hhblits_to_af2_aatype(i), af2_map[i]) << i;
  EXPECT_EQ(rc::hhblits_to_af2_aatype(22), -1);

  EXPECT_EQ(rc::msa_char_to_id('A'), 0);
  EXPECT_EQ(rc::msa_char_to_id('-'), 21);
  EXPECT_EQ(rc::msa_char_to_id('X'), 20);
  EXPECT_EQ(rc::msa_char_to_id('B'), res('D'));
  EXPECT_EQ(rc::msa_char_to_id('Z'), res('E'));
  EXPECT_EQ(rc::msa_char_to_id('U'), res('C'));
  EXPECT_EQ(rc::msa_char_to_id('O'), 20);
  for (int r = 0; r < 20; ++r) EXPECT_EQ(rc::msa_char_to_id(rc::restypes[r]), r);
}

// Van der Waals radii by element and by atom37 type.
TEST(ResidueConstants, VanDerWaalsRadiiMatchAf2) {
  EXPECT_FLOAT_EQ(rc::van_der_waals_radius('C'), 1.7f);
  EXPECT_FLOAT_EQ(rc::van_der_waals_radius('N'), 1.55f);
  EXPECT_FLOAT_EQ(rc::van_der_waals_radius('O'), 1.52f);
  EXPECT_FLOAT_EQ(rc::van_der_waals_radius('S'), 1.8f);
  EXPECT_FLOAT_EQ(rc::atom_type_vdw_radius(rc::atom_order("SG")), 1.8f);
  EXPECT_FLOAT_EQ(rc::atom_type_vdw_radius(rc::atom_order("NZ")), 1.55f);
  EXPECT_FLOAT_EQ(rc::atom_type_vdw_radius(rc::atom_order("OXT")), 1.52f);
  EXPECT_FLOAT_EQ(rc::atom_type_vdw_radius(rc::atom_order("CH2")), 1.7f);
  EXPECT_EQ(rc::atom_type_vdw_radius(-1), 0.f);
}

// Peptide-bond constants used by the between-residue violation terms.
TEST(ResidueConstants, BetweenResidueGeometryMatchesAf2) {
  EXPECT_FLOAT_EQ(rc::between_res_bond_length_c_n[0], 1.329f);
  EXPECT_FLOAT_EQ(rc::between_res_bond_length_c_n[1], 1.341f);
  EXPECT_FLOAT_EQ(rc::between_res_bond_length_stddev_c_n[0], 0.014f);
  EXPECT_FLOAT_EQ(rc::between_res_bond_length_stddev_c_n[1], 0.016f);
  EXPECT_FLOAT_EQ(rc::between_res_cos_angles_c_n_ca[0], -0.5203f);
  EXPECT_FLOAT_EQ(rc::between_res_cos_angles_c_n_ca[1], 0.0353f);
  EXPECT_FLOAT_EQ(rc::between_res_cos_angles_ca_c_n[0], -0.4473f);
  EXPECT_FLOAT_EQ(rc::between_res_cos_angles_ca_c_n[1], 0.0311f);
  // The cosine means correspond to the quoted angles (121.352 and 116.568 deg).
  EXPECT_NEAR(std::acos(double(rc::between_res_cos_angles_c_n_ca[0])) * kDegPerRad, 121.352, 0.01);
  EXPECT_NEAR(std::acos(double(rc::between_res_cos_angles_ca_c_n[0])) * kDegPerRad, 116.568, 0.01);
}
