// Frame aligned point error (AF2 Supplement 1.9.2-1.9.3, Algorithm 28 computeFAPE) and
// the FAPE terms of the training loss, as OpenFold's openfold/utils/loss.py
// compute_fape, backbone_loss, sidechain_loss and fape_loss; with the choice between
// the two namings of 180-degree-symmetric side chains that the side-chain terms use
// (Supplement 1.8.2, Algorithm 26 renameSymmetricGroundTruthAtoms, OpenFold's
// compute_renamed_ground_truth).
//
// Frames are structure_module/rigid.h's Rigid; the model's trajectories come as
// quaternion + translation [.., 7] (sm/frames) or 4x4 matrices (sm/sidechain_frames and
// the ground truth). Arithmetic in fp32 or wider (ARCHITECTURE.md, Precision).
#pragma once

#include <ATen/core/Tensor.h>

#include <optional>

#include "data/feature_dict.h"
#include "fold/config.h"
#include "structure_module/rigid.h"

namespace fold::loss {

// Points [*, P, 3] in the local coordinates of every frame [*, F]: T_f^-1 x_p =
// R_f^T (x_p - t_f), [*, F, P, 3] (the quantity FAPE compares; the TM loss's aligned
// errors too). A frame's own origin maps to exactly 0.
at::Tensor points_in_frames(const structure::Rigid& frames, const at::Tensor& points);

// Frames stored as [*, 7] (quaternion w,x,y,z + translation, as sm/frames and
// final_affine_tensor) or [*, 4, 4]; `who` names the caller in the shape error.
structure::Rigid frames_from_tensor(const at::Tensor& t, const char* who);

// Algorithm 28: the mean over frames i and points j (masked) of
// min(|T_i^-1 x_j - T_i^true^-1 x_j^true|, clamp) / length_scale, the distance taken as
// sqrt(|d|^2 + eps). Frames batch shape [*, N_frames], positions [*, N_pts, 3], masks
// [*, N_frames] / [*, N_pts]; the batch shapes broadcast (a [L, *] trajectory against a
// [*] truth). No clamp when l1_clamp_distance is nullopt. Returns [*].
at::Tensor compute_fape(const structure::Rigid& pred_frames, const structure::Rigid& target_frames,
                        const at::Tensor& frames_mask, const at::Tensor& pred_positions,
                        const at::Tensor& target_positions, const at::Tensor& positions_mask, double length_scale,
                        std::optional<double> l1_clamp_distance, double eps = 1e-8);

// Backbone FAPE of every structure-module layer (Supplement 1.9.2: frames and points are
// the backbone frames and their origins, the C-alpha atoms): traj [L, *, N, 7]
// (quaternion w,x,y,z + translation) or [L, *, N, 4, 4] against backbone_rigid_tensor
// [*, N, 4, 4] with backbone_rigid_mask [*, N]. With use_clamped_fape [*] defined, each
// sample mixes the clamped and the unclamped loss by it (1: clamped); else clamped.
// With pair_mask [*, N, N] defined, only the (frame, point) pairs it keeps count (the
// multimer split of intra-chain and interface pairs). Returns the mean over layers and
// batch, [].
at::Tensor backbone_loss(const at::Tensor& backbone_rigid_tensor, const at::Tensor& backbone_rigid_mask,
                         const at::Tensor& traj, const at::Tensor& use_clamped_fape, double clamp_distance = 10.0,
                         double loss_unit_distance = 10.0, double eps = 1e-4,
                         const at::Tensor& pair_mask = at::Tensor());

// The side-chain term (Supplement 1.9.3): FAPE of the final layer's atom14 positions
// [L, *, N, 14, 3] in its 8 rigid-group frames [L, *, N, 8, 4, 4] against the truth
// under the better naming: group frames rigidgroups_gt_frames or _alt_gt_frames
// [*, N, 8, 4, 4] (picked per residue by alt_naming_is_better [*, N]), existing where
// rigidgroups_gt_exists [*, N, 8]; atoms renamed_atom14_gt_positions [*, N, 14, 3] /
// _exists [*, N, 14]. All frames against all atoms of the crop, clamped. Returns [*].
at::Tensor sidechain_loss(const at::Tensor& sidechain_frames, const at::Tensor& sidechain_atom_pos,
                          const at::Tensor& rigidgroups_gt_frames, const at::Tensor& rigidgroups_alt_gt_frames,
                          const at::Tensor& rigidgroups_gt_exists, const at::Tensor& renamed_atom14_gt_positions,
                          const at::Tensor& renamed_atom14_gt_exists, const at::Tensor& alt_naming_is_better,
                          double clamp_distance = 10.0, double length_scale = 10.0, double eps = 1e-4);

// Algorithm 26: per residue, whether the swapped naming of its symmetric atoms
// (atom14_alt_gt_positions) fits the predicted atom14 positions [*, N, 14, 3] better
// than the given one, judged by the distances from the ambiguous atoms to every
// unambiguous atom of the crop. Reads atom14_gt_positions, atom14_alt_gt_positions,
// atom14_atom_is_ambiguous, atom14_gt_exists, atom14_alt_gt_exists. No gradient.
struct RenamedGroundTruth {
  at::Tensor alt_naming_is_better;         // [*, N] 1 = the alternative naming
  at::Tensor renamed_atom14_gt_positions;  // [*, N, 14, 3]
  at::Tensor renamed_atom14_gt_exists;     // [*, N, 14]
};
RenamedGroundTruth compute_renamed_ground_truth(const data::FeatureDict& batch, const at::Tensor& atom14_pred_positions,
                                                double eps = 1e-10);

// OpenFold's config section loss.fape (with its backbone and sidechain subsections, and
// the multimer's intra_chain_backbone and interface_backbone): the term's settings and
// its weight in the total.
struct FapeOptions {
  struct BackbonePart {
    double clamp_distance, loss_unit_distance, weight;
  };
  double backbone_clamp_distance = 10.0, backbone_loss_unit_distance = 10.0, backbone_weight = 0.5;
  double sidechain_clamp_distance = 10.0, sidechain_length_scale = 10.0, sidechain_weight = 0.5;
  double eps = 1e-4;
  double weight = 1.0;
  bool multimer = false;  // globals.is_multimer: the backbone term split by asym_id
  BackbonePart intra_chain{10.0, 10.0, 0.5}, interface{30.0, 20.0, 0.5};

  static FapeOptions from_config(const Config& config);
};

// OpenFold's fape_loss: backbone_weight * backbone_loss(sm/frames) + sidechain_weight *
// sidechain_loss(sm/sidechain_frames, sm/positions), averaged over the batch, []. For
// multimer options the backbone part is intra_chain.weight * (pairs within a chain) +
// interface.weight * (pairs across chains), each with its own clamp and unit distance,
// the chains read from the batch's asym_id.
at::Tensor fape_loss(const data::FeatureDict& outputs, const data::FeatureDict& batch, const RenamedGroundTruth& renamed,
                     const FapeOptions& options);

}  // namespace fold::loss
