// AF2 Supplement Algorithm 24 (computeAllAtomCoordinates) with Algorithm 25 (makeRotX),
// as OpenFold's openfold/utils/feats.py torsion_angles_to_frames and
// frames_and_literature_positions_to_atom14_pos, plus the atom14 <-> atom37 maps
// (OpenFold's atom14_to_atom37). The idealised geometry comes from data/'s residue
// constants (Supplement Table 2), turned into tensors once.
//
// Torsion angles are (sin, cos) pairs [*, N, 7, 2] in the order pre-omega, phi, psi,
// chi1..chi4; aatype [*, N] (int64, 0..20). The 8 rigid groups are backbone, pre-omega,
// phi, psi, chi1..chi4.
#pragma once

#include <ATen/core/Tensor.h>

#include <utility>

#include "structure_module/rigid.h"

namespace fold::structure {

// Algorithm 24 lines 1-10: backbone frames (batch shape [*, N]) and torsions ->
// the 8 rigid-group frames to global, batch shape [*, N, 8]. Each torsion rotates its
// group's default frame (relative to the parent) about x by makeRotX(alpha) (alpha
// used as given, not re-normalised); chi2..chi4 chain onto chi1..chi3.
Rigid torsion_angles_to_frames(const Rigid& backbone, const at::Tensor& angles, const at::Tensor& aatype);

// Algorithm 24 line 11: every atom14 slot's literature position (in its rigid group's
// frame) mapped by that group's frame; slots a residue lacks are 0. frames batch shape
// [*, N, 8] -> [*, N, 14, 3].
at::Tensor frames_and_literature_positions_to_atom14_pos(const Rigid& group_frames, const at::Tensor& aatype);

// atom14 [*, N, 14, ...] -> atom37 [*, N, 37, ...] (atom37 slots the residue lacks are 0)
// and back (atom14 slots the residue lacks are 0).
at::Tensor atom14_to_atom37(const at::Tensor& atom14, const at::Tensor& aatype);
at::Tensor atom37_to_atom14(const at::Tensor& atom37, const at::Tensor& aatype);

// Residue-constant tables as tensors on `aatype`'s device, indexed by aatype [*, N]:
// atom14 / atom37 existence masks [*, N, 14] / [*, N, 37] (float).
at::Tensor atom14_mask(const at::Tensor& aatype);
at::Tensor atom37_mask(const at::Tensor& aatype);

// Torsion angles of an atom37 structure: the template angle features and the targets
// of the torsion-angle loss (Algorithm 27), as OpenFold's
// data_transforms.atom37_to_torsion_angles. All [*, N, 7, ...] in the order of
// torsion_angles_to_frames: sin_cos [*, N, 7, 2] (psi is measured through O, half a
// turn from the psi group's frame, so its sin and cos are negated), alt_sin_cos with the
// pi-periodic chis flipped (ASP chi2, GLU chi3, PHE chi2, TYR chi2), mask [*, N, 7] (all four atoms observed, the chi defined for the
// residue type; pre-omega and phi need the previous residue); masked torsions are
// (0, 0). Gap residues (aatype 21) are unknowns. Positions [*, N, 37, 3], mask [*, N, 37].
struct TorsionAngles {
  at::Tensor sin_cos, alt_sin_cos, mask;
};
TorsionAngles atom37_to_torsion_angles(const at::Tensor& aatype, const at::Tensor& positions, const at::Tensor& mask);

// The atom14 ground truth of an atom37 structure, as OpenFold's make_atom14_masks and
// make_atom14_positions: the per-residue slot maps, the atoms each residue type has,
// the observed atoms in atom14 (positions zero where unobserved), and the same under
// the other naming of 180-degree-symmetric side chains (ASP OD1/OD2, GLU OE1/OE2,
// PHE and TYR CD1/CD2, CE1/CE2 swapped), with the slots that take part in a swap.
// aatype [*, N], positions [*, N, 37, 3], mask [*, N, 37].
struct Atom14GroundTruth {
  at::Tensor residx_atom14_to_atom37, residx_atom37_to_atom14;  // [*, N, 14] / [*, N, 37] int64
  at::Tensor atom14_atom_exists, atom37_atom_exists;            // [*, N, 14] / [*, N, 37]
  at::Tensor gt_positions, gt_exists;                           // [*, N, 14, 3] / [*, N, 14]
  at::Tensor alt_gt_positions, alt_gt_exists, atom_is_ambiguous;
};
Atom14GroundTruth atom14_ground_truth(const at::Tensor& aatype, const at::Tensor& positions, const at::Tensor& mask);

// Ground-truth rigid-group frames of an atom37 structure (the targets of FAPE over all
// atoms, Algorithm 28, and of the side-chain loss), as OpenFold's
// data_transforms.atom37_to_frames: each group's frame from three of its atoms
// (backbone N-CA-C with Algorithm 21's axes, psi C with CA on -x and O in the xy plane,
// chi k at its third atom); for an idealised structure these are Algorithm 24's frames.
// Batch shape [*, N, 8]. gt_exists: the group is defined and its three atoms observed;
// alt_frames turn the last chi group of ASP, GLU, PHE, TYR a half turn about x (its
// symmetric end named the other way round); pre-omega and phi never exist.
struct RigidGroupFrames {
  Rigid frames, alt_frames;
  at::Tensor gt_exists, group_exists, group_is_ambiguous;  // [*, N, 8]
};
RigidGroupFrames atom37_to_frames(const at::Tensor& aatype, const at::Tensor& positions, const at::Tensor& mask);

// AF-Multimer's chi angles (all_atom_multimer.compute_chi_angles): the dihedral of each
// chi's four atoms by atan2 (not through frames as above), [*, N, 4] radians, and the chi
// mask [*, N, 4]. aatype [*, N] (gaps read as unknown), positions [*, N, 37, 3], mask
// [*, N, 37].
std::pair<at::Tensor, at::Tensor> multimer_chi_angles(const at::Tensor& aatype, const at::Tensor& positions,
                                                      const at::Tensor& mask);

// AF2's pseudo-beta atom: CB, or CA for glycine. atom37 positions [*, N, 37, 3] ->
// [*, N, 3]; with an atom37 mask [*, N, 37] also that atom's mask [*, N].
at::Tensor pseudo_beta(const at::Tensor& aatype, const at::Tensor& atom37_positions);
at::Tensor pseudo_beta_mask(const at::Tensor& aatype, const at::Tensor& atom37_mask);

}  // namespace fold::structure
