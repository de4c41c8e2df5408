// AlphaFold2 residue constants: amino-acid alphabets, the atom37 / atom14 atom
// encodings, side-chain torsion (chi) definitions, the idealised rigid-group
// geometry and the stereo-chemical reference values.
//
// Source of the facts: AlphaFold's alphafold/common/residue_constants.py and
// alphafold/common/stereo_chemical_props.txt (Engh & Huber literature values).
// In the AF2 Supplementary Information these back
//   * Table 1 / section 1.2.9 (aatype, MSA and atom features),
//   * section 1.8 (Table 2: the 8 rigid groups and their default frames built
//     with Algorithm 21 "rigidFrom3Points"; Table 3: side chains with 180-degree
//     symmetric atom names, used for chi pi-periodicity and atom renaming),
//   * section 1.9.11 (structural violation loss: bond lengths/angles and
//     van der Waals clash bounds).
//
// This module is deliberately torch-free (C++17 standard library only): it is
// pure data plus a few lookups, it is needed by the data pipeline and by tools
// that never touch a tensor, and keeping it free of heavy headers keeps its
// compile time negligible. Callers that want tensors copy these tables once.
//
// Conventions (all as in AF2):
//   * restype indices follow `restypes` (ARNDCQEGHILKMFPSTWYV); index 20 is the
//     unknown residue 'X' / "UNK", whose rows in every table are empty/zero.
//   * Padding entries of the index tables are 0 (not -1), exactly like AF2, so
//     always combine them with the corresponding mask.
//   * Computed tables are float (AF2 stores them as float32 arrays); they are
//     evaluated in double and rounded once, as numpy does.
#pragma once

#include <array>
#include <string_view>
#include <vector>

namespace fold::data::rc {

// ---------------------------------------------------------------------------
// Sizes.
inline constexpr int kNumRestypes = 20;       // standard amino acids
inline constexpr int kNumRestypesWithX = 21;  // + unknown
inline constexpr int kUnkRestype = 20;        // index of 'X' / "UNK"
inline constexpr int kMsaGapId = 21;          // '-' in AF2's MSA encoding
inline constexpr int kAtom37 = 37;
inline constexpr int kAtom14 = 14;
inline constexpr int kNumRigidGroups = 8;  // backbone, pre-omega, phi, psi, chi1..chi4
inline constexpr int kNumChi = 4;

// Mean CA-CA distance of consecutive residues (trans peptide, omega = 180 deg).
inline constexpr double kCaCaDistance = 3.80209737096;

// ---------------------------------------------------------------------------
// Residue alphabets.
inline constexpr std::array<char, kNumRestypes> restypes = {
    'A', 'R', 'N', 'D', 'C', 'Q', 'E', 'G', 'H', 'I',
    'L', 'K', 'M', 'F', 'P', 'S', 'T', 'W', 'Y', 'V'};

// Three-letter names in restype order; entry 20 is "UNK".
inline constexpr std::array<std::string_view, kNumRestypesWithX> resnames = {
    "ALA", "ARG", "ASN", "ASP", "CYS", "GLN", "GLU", "GLY", "HIS", "ILE", "LEU",
    "LYS", "MET", "PHE", "PRO", "SER", "THR", "TRP", "TYR", "VAL", "UNK"};

// Index of a one-letter code in `restypes`; 20 for 'X' and anything else
// (case-sensitive, like AF2's restype_order_with_x with unknowns mapped to X).
int restype_order(char one_letter);

// Three-letter name of a one-letter code; "UNK" for anything non-standard.
std::string_view restype_1to3(char one_letter);

// One-letter code of a standard three-letter name; 'X' for "UNK" and for any
// other name (AF2's restype_3to1 is a strict 1:1 map of the 20 names).
char restype_3to1(std::string_view three_letter);

// ---------------------------------------------------------------------------
// MSA alphabets.
// HHblits id (0..21): alphabetical one-letter order with the HHblits
// conventions B->D, Z->E, U->C, J/O/X->20 (unknown), '-'->21. Returns -1 for a
// character outside that alphabet (AF2 raises there).
int hhblits_aa_to_id(char c);
// MAP_HHBLITS_AATYPE_TO_OUR_AATYPE: HHblits id -> restype order (X=20, gap=21);
// -1 if `hhblits_id` is not in 0..21.
int hhblits_to_af2_aatype(int hhblits_id);
// AF2's MSA token for an alignment character, as make_msa_feature computes it
// (HHblits id, then the map above): restype order, X=20, '-'=21; -1 if invalid.
int msa_char_to_id(char c);

// ---------------------------------------------------------------------------
// Atom encodings.
inline constexpr std::array<std::string_view, kAtom37> atom_types = {
    "N",   "CA",  "C",   "CB",  "O",   "CG",  "CG1", "CG2", "OG",  "OG1",
    "SG",  "CD",  "CD1", "CD2", "ND1", "ND2", "OD1", "OD2", "SD",  "CE",
    "CE1", "CE2", "CE3", "NE",  "NE1", "NE2", "OE1", "OE2", "CH2", "NH1",
    "NH2", "OH",  "CZ",  "CZ2", "CZ3", "NZ",  "OXT"};

// atom37 index of an atom name, -1 if it is not one of `atom_types`.
int atom_order(std::string_view atom_name);

template <class T, std::size_t N, std::size_t M>
using Table2 = std::array<std::array<T, M>, N>;
template <class T, std::size_t N, std::size_t M, std::size_t K>
using Table3 = std::array<Table2<T, M, K>, N>;

// Dense 14-slot atom names per restype ("" = empty slot; the UNK row is empty).
const Table2<std::string_view, kNumRestypesWithX, kAtom14>& restype_name_to_atom14_names();

// Index maps between the two encodings (padding = 0, see conventions above).
const Table2<int, kNumRestypesWithX, kAtom14>& restype_atom14_to_atom37();
const Table2<int, kNumRestypesWithX, kAtom37>& restype_atom37_to_atom14();
// 1 where the restype has that atom (heavy atoms; OXT is never set).
const Table2<float, kNumRestypesWithX, kAtom14>& restype_atom14_mask();
const Table2<float, kNumRestypesWithX, kAtom37>& restype_atom37_mask();

// ---------------------------------------------------------------------------
// Side-chain torsions.
// Four atom names per chi angle; unused chi rows hold "" names.
const Table3<std::string_view, kNumRestypesWithX, kNumChi, 4>& chi_angles_atoms();
// Same as atom37 indices; unused chi rows are {0,0,0,0} like AF2.
const Table3<int, kNumRestypesWithX, kNumChi, 4>& chi_angles_atom_indices();
// 1 where the chi angle exists.
const Table2<float, kNumRestypesWithX, kNumChi>& chi_angles_mask();
// 1 where the chi angle is only defined modulo pi (ASP chi2, GLU chi3,
// PHE chi2, TYR chi2).
const Table2<float, kNumRestypesWithX, kNumChi>& chi_pi_periodic();

// ---------------------------------------------------------------------------
// Idealised rigid groups (Supplement Table 2).
// Group indices: 0 backbone, 1 pre-omega (empty), 2 phi (empty, hydrogens
// only), 3 psi, 4..7 chi1..chi4. Positions are in the frame of the group,
// with the rotation axis along x and the torsion-defining atom in the xy plane.
struct RigidGroupAtom {
  std::string_view atom_name;
  int group;
  std::array<double, 3> position;  // Angstrom
};
// Atoms of one restype in AF2's listing order; empty for UNK / out of range.
const std::vector<RigidGroupAtom>& rigid_group_atom_positions(int restype);

// Default frame of each group relative to its parent (group 0..4 -> backbone,
// chi k -> chi k-1) as a 4x4 homogeneous matrix [R t; 0 0 0 1]. Groups 0 and 1
// are the identity; frames of chi angles a restype lacks, and every UNK frame,
// are all-zero matrices as in AF2.
const Table3<std::array<float, 4>, kNumRestypesWithX, kNumRigidGroups, 4>&
restype_rigid_group_default_frame();
const Table2<int, kNumRestypesWithX, kAtom14>& restype_atom14_to_rigid_group();
const Table3<float, kNumRestypesWithX, kAtom14, 3>& restype_atom14_rigid_group_positions();
const Table2<int, kNumRestypesWithX, kAtom37>& restype_atom37_to_rigid_group();
const Table3<float, kNumRestypesWithX, kAtom37, 3>& restype_atom37_rigid_group_positions();

// ---------------------------------------------------------------------------
// Atoms whose names are ambiguous under a 180-degree side-chain flip
// (Supplement Table 3). Each swap is listed once (atom -> partner).
struct AtomSwap {
  std::string_view resname;
  std::string_view atom;
  std::string_view partner;
};
inline constexpr std::array<AtomSwap, 6> residue_atom_renaming_swaps = {{
    {"ASP", "OD1", "OD2"},
    {"GLU", "OE1", "OE2"},
    {"PHE", "CD1", "CD2"},
    {"PHE", "CE1", "CE2"},
    {"TYR", "CD1", "CD2"},
    {"TYR", "CE1", "CE2"},
}};
// 1 for atom14 slots that take part in a swap.
const Table2<float, kNumRestypesWithX, kAtom14>& restype_atom14_is_ambiguous();
// atom14 slot of the swap partner, or the slot itself if it has none.
const Table2<int, kNumRestypesWithX, kAtom14>& restype_atom14_ambiguous_swap();

// ---------------------------------------------------------------------------
// Van der Waals radii (Angstrom) for the element letters C, N, O, S; 0 for
// anything else.
float van_der_waals_radius(char element);
// Radius of an atom37 type (element = first letter of its name); 0 if invalid.
float atom_type_vdw_radius(int atom37);

// Peptide-bond geometry for the violation loss. Bond lengths: [0] general,
// [1] when the next residue is proline. Cosine angles: {mean, stddev}.
inline constexpr std::array<float, 2> between_res_bond_length_c_n = {1.329f, 1.341f};
inline constexpr std::array<float, 2> between_res_bond_length_stddev_c_n = {0.014f, 0.016f};
inline constexpr std::array<float, 2> between_res_cos_angles_c_n_ca = {-0.5203f, 0.0353f};  // 121.352 +- 2.315 deg
inline constexpr std::array<float, 2> between_res_cos_angles_ca_c_n = {-0.4473f, 0.0311f};  // 116.568 +- 1.995 deg

// ---------------------------------------------------------------------------
// stereo_chemical_props.txt, row for row.
struct BondLength {
  std::string_view resname;
  std::string_view atom1, atom2;
  double length, stddev;  // Angstrom
};
struct BondAngle {
  std::string_view resname;
  std::string_view atom1, atom2, atom3;  // atom2 is the vertex
  double angle_deg, stddev_deg;
};
struct NonBondedDistance {
  char element1, element2;
  double min_distance, tolerance;  // Angstrom
};
const std::vector<BondLength>& stereo_bond_lengths();
const std::vector<BondAngle>& stereo_bond_angles();
const std::vector<NonBondedDistance>& stereo_non_bonded_distances();

// Per-restype atom14 distance bounds for the violation loss, as AF2's
// make_atom14_dists_bounds: every pair of existing atoms gets
// [r1 + r2 - overlap_tolerance, 1e10]; bonded pairs and pairs bridged by a
// bond angle (length from the law of cosines, stddev by error propagation) get
// length +- bond_length_tolerance_factor * stddev. Everything else is 0.
struct Atom14DistBounds {
  Table3<float, kNumRestypesWithX, kAtom14, kAtom14> lower_bound;
  Table3<float, kNumRestypesWithX, kAtom14, kAtom14> upper_bound;
  Table3<float, kNumRestypesWithX, kAtom14, kAtom14> stddev;
};
Atom14DistBounds make_atom14_dists_bounds(double overlap_tolerance = 1.5,
                                          double bond_length_tolerance_factor = 15.0);

}  // namespace fold::data::rc
