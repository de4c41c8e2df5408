#include "fold/loss/fape.h"

#include <ATen/ATen.h>

#include <initializer_list>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "fold/config_section.h"
#include "fold/loss/common.h"

namespace fold::loss {

namespace {

using structure::Rigid;

// sqrt(|local error|^2 + eps) for every (frame, point): [*, F, P].
at::Tensor fape_errors(const Rigid& pred_frames, const Rigid& target_frames, const at::Tensor& pred_positions,
                       const at::Tensor& target_positions, double eps) {
  const at::Tensor d = points_in_frames(pred_frames, pred_positions) - points_in_frames(target_frames, target_positions);
  return at::sqrt(d.pow(2).sum(-1) + eps);
}

// The masked mean over frames and points of the (clamped) errors / length_scale, in
// OpenFold's order (points summed first, each sum over frames normalised separately).
// With a pair_mask [*, F, P] (AF-Multimer's intra-chain / interface split) the mean is
// over the (frame, point) pairs it keeps, normalised once, as OpenFold's compute_fape.
at::Tensor fape_mean(const at::Tensor& errors, const at::Tensor& frames_mask, const at::Tensor& positions_mask,
                     double length_scale, std::optional<double> clamp, double eps,
                     const at::Tensor& pair_mask = at::Tensor()) {
  const at::Tensor e = clamp ? at::clamp(errors, 0.0, *clamp) : errors;
  const at::Tensor masks = frames_mask.unsqueeze(-1) * positions_mask.unsqueeze(-2);
  at::Tensor normed = e / length_scale * masks;
  if (pair_mask.defined()) return (normed * pair_mask).sum({-1, -2}) / (eps + (masks * pair_mask).sum({-1, -2}));
  normed = normed.sum(-1) / (eps + frames_mask.sum(-1)).unsqueeze(-1);
  return normed.sum(-1) / (eps + positions_mask.sum(-1));
}

// t.sizes()[0:dim() - trailing] + tail.
std::vector<int64_t> batch_shape_with(const at::Tensor& t, int64_t trailing, std::initializer_list<int64_t> tail) {
  std::vector<int64_t> shape(t.sizes().begin(), t.sizes().end() - trailing);
  shape.insert(shape.end(), tail);
  return shape;
}

}  // namespace

// R^T (x - t) as one contraction over the [*, F, P, 3] offsets (never the rotations
// broadcast to [*, F, P, 3, 3]). Subtracting first keeps a frame's own origin exactly at
// zero, which the TM loss's first bin edge (0 A) relies on (OpenFold gets the exact zero
// by cancelling R^T t against itself).
at::Tensor points_in_frames(const Rigid& frames, const at::Tensor& points) {
  const at::Tensor offsets = points.unsqueeze(-3) - frames.trans().unsqueeze(-2);
  return at::einsum("...fki,...fpk->...fpi", {frames.rots().rot_mats(), offsets});
}

Rigid frames_from_tensor(const at::Tensor& t, const char* who) {
  if (t.dim() >= 1 && t.size(-1) == 7) return Rigid::from_tensor_7(t);
  if (t.dim() >= 2 && t.size(-1) == 4 && t.size(-2) == 4) return Rigid::from_tensor_4x4(t);
  throw std::invalid_argument(std::string(who) + ": expected frames [..., 7] or [..., 4, 4], got " +
                              c10::str(t.sizes()));
}

at::Tensor compute_fape(const Rigid& pred_frames, const Rigid& target_frames, const at::Tensor& frames_mask,
                        const at::Tensor& pred_positions, const at::Tensor& target_positions,
                        const at::Tensor& positions_mask, double length_scale, std::optional<double> l1_clamp_distance,
                        double eps) {
  const at::Tensor errors = fape_errors(pred_frames, target_frames, pred_positions, target_positions, eps);
  return fape_mean(errors, frames_mask, positions_mask, length_scale, l1_clamp_distance, eps);
}

at::Tensor backbone_loss(const at::Tensor& backbone_rigid_tensor, const at::Tensor& backbone_rigid_mask,
                         const at::Tensor& traj, const at::Tensor& use_clamped_fape, double clamp_distance,
                         double loss_unit_distance, double eps, const at::Tensor& pair_mask) {
  const Rigid pred = frames_from_tensor(loss_precision(traj), "backbone_loss (sm/frames)");
  const Rigid truth = Rigid::from_tensor_4x4(loss_precision(backbone_rigid_tensor));
  const at::Tensor mask = loss_precision(backbone_rigid_mask);
  // The frames' origins are the C-alpha atoms: frames and points are the same rigids.
  const at::Tensor errors = fape_errors(pred, truth, pred.trans(), truth.trans(), eps);  // [L, *, N, N]
  const at::Tensor pairs = loss_precision(pair_mask);
  at::Tensor loss = fape_mean(errors, mask, mask, loss_unit_distance, clamp_distance, eps, pairs);
  if (use_clamped_fape.defined()) {
    const at::Tensor unclamped = fape_mean(errors, mask, mask, loss_unit_distance, std::nullopt, eps, pairs);
    const at::Tensor u = loss_precision(use_clamped_fape);
    loss = loss * u + unclamped * (1 - u);
  }
  return loss.mean();
}

at::Tensor sidechain_loss(const at::Tensor& sidechain_frames, const at::Tensor& sidechain_atom_pos,
                          const at::Tensor& rigidgroups_gt_frames, const at::Tensor& rigidgroups_alt_gt_frames,
                          const at::Tensor& rigidgroups_gt_exists, const at::Tensor& renamed_atom14_gt_positions,
                          const at::Tensor& renamed_atom14_gt_exists, const at::Tensor& alt_naming_is_better,
                          double clamp_distance, double length_scale, double eps) {
  if (sidechain_frames.dim() < 5 || sidechain_atom_pos.dim() < 4)
    throw std::invalid_argument("sidechain_loss: expected sm/sidechain_frames [L, *, N, 8, 4, 4] and sm/positions "
                                "[L, *, N, 14, 3]");
  const at::Tensor alt = loss_precision(alt_naming_is_better).unsqueeze(-1).unsqueeze(-1).unsqueeze(-1);
  const at::Tensor renamed_frames =
      (1.0 - alt) * loss_precision(rigidgroups_gt_frames) + alt * loss_precision(rigidgroups_alt_gt_frames);
  // Only the last layer; every group frame of the crop against every atom of the crop.
  const at::Tensor frames = loss_precision(sidechain_frames).select(0, -1);  // [*, N, 8, 4, 4]
  const at::Tensor atoms = loss_precision(sidechain_atom_pos).select(0, -1);  // [*, N, 14, 3]
  const Rigid pred = Rigid::from_tensor_4x4(frames.reshape(batch_shape_with(frames, 4, {-1, 4, 4})));
  const Rigid truth = Rigid::from_tensor_4x4(renamed_frames.reshape(batch_shape_with(frames, 4, {-1, 4, 4})));
  const at::Tensor frames_mask = loss_precision(rigidgroups_gt_exists).reshape(batch_shape_with(frames, 4, {-1}));
  const at::Tensor pred_atoms = atoms.reshape(batch_shape_with(atoms, 3, {-1, 3}));
  const at::Tensor true_atoms = loss_precision(renamed_atom14_gt_positions).reshape(batch_shape_with(atoms, 3, {-1, 3}));
  const at::Tensor atoms_mask = loss_precision(renamed_atom14_gt_exists).reshape(batch_shape_with(atoms, 3, {-1}));
  return compute_fape(pred, truth, frames_mask, pred_atoms, true_atoms, atoms_mask, length_scale, clamp_distance, eps);
}

RenamedGroundTruth compute_renamed_ground_truth(const data::FeatureDict& batch, const at::Tensor& atom14_pred_positions,
                                                double eps) {
  const std::string who = "compute_renamed_ground_truth";
  at::NoGradGuard no_grad;
  const at::Tensor pred = loss_precision(atom14_pred_positions).detach();
  const auto get = [&](const char* name) { return feature(batch, name, who).to(pred.scalar_type()); };
  const at::Tensor gt = get("atom14_gt_positions"), alt_gt = get("atom14_alt_gt_positions");
  const at::Tensor ambiguous = get("atom14_atom_is_ambiguous"), exists = get("atom14_gt_exists");
  const at::Tensor alt_exists = get("atom14_alt_gt_exists");

  // Only the atom slots ambiguous in some residue start a scored pair (4 of the 14:
  // ASP, GLU, PHE, TYR ends); the other atoms of the crop are the pairs' other ends.
  const at::Tensor slots = (ambiguous.reshape({-1, ambiguous.size(-1)}).amax(0) > 0).nonzero().squeeze(-1);
  // Distances from the slot atoms of residue i to atom b of residue j: [*, N, A, N, 14].
  const auto pair_distances = [&](const at::Tensor& x) {
    const at::Tensor from = x.index_select(-2, slots).unsqueeze(-2).unsqueeze(-2);  // [*, N, A, 1, 1, 3]
    const at::Tensor to = x.unsqueeze(-4).unsqueeze(-4);                            // [*, 1, 1, N, 14, 3]
    return at::sqrt(eps + (from - to).pow(2).sum(-1));
  };
  const at::Tensor pred_d = pair_distances(pred);
  const at::Tensor from_mask = (exists * ambiguous).index_select(-1, slots).unsqueeze(-1).unsqueeze(-1);
  const at::Tensor to_mask = (exists * (1.0 - ambiguous)).unsqueeze(-3).unsqueeze(-3);
  const at::Tensor mask = from_mask * to_mask;
  const auto misfit = [&](const at::Tensor& truth) {
    return (mask * at::sqrt(eps + (pred_d - pair_distances(truth)).pow(2))).sum({-1, -2, -3});
  };
  RenamedGroundTruth r;
  r.alt_naming_is_better = (misfit(alt_gt) < misfit(gt)).to(pred.scalar_type());
  const at::Tensor alt1 = r.alt_naming_is_better.unsqueeze(-1);
  r.renamed_atom14_gt_positions = (1.0 - alt1.unsqueeze(-1)) * gt + alt1.unsqueeze(-1) * alt_gt;
  r.renamed_atom14_gt_exists = (1.0 - alt1) * exists + alt1 * alt_exists;
  return r;
}

FapeOptions FapeOptions::from_config(const Config& c) {
  FapeOptions o;
  read_section(c, "loss.fape", {{"backbone.clamp_distance", &o.backbone_clamp_distance},
                                {"backbone.loss_unit_distance", &o.backbone_loss_unit_distance},
                                {"backbone.weight", &o.backbone_weight},
                                {"sidechain.clamp_distance", &o.sidechain_clamp_distance},
                                {"sidechain.length_scale", &o.sidechain_length_scale},
                                {"sidechain.weight", &o.sidechain_weight}, {"eps", &o.eps}, {"weight", &o.weight}});
  o.multimer = c.get_bool("globals.is_multimer");
  read_section(c, "loss.fape", {{"intra_chain_backbone.clamp_distance", &o.intra_chain.clamp_distance},
                                {"intra_chain_backbone.loss_unit_distance", &o.intra_chain.loss_unit_distance},
                                {"intra_chain_backbone.weight", &o.intra_chain.weight},
                                {"interface_backbone.clamp_distance", &o.interface.clamp_distance},
                                {"interface_backbone.loss_unit_distance", &o.interface.loss_unit_distance},
                                {"interface_backbone.weight", &o.interface.weight}});
  return o;
}

at::Tensor fape_loss(const data::FeatureDict& outputs, const data::FeatureDict& batch, const RenamedGroundTruth& renamed,
                     const FapeOptions& o) {
  const std::string who = "fape_loss";
  const auto it = batch.find("use_clamped_fape");
  const at::Tensor use_clamped = it == batch.end() ? at::Tensor() : it->second;
  const auto backbone_part = [&](double clamp, double unit, const at::Tensor& pair_mask) {
    return backbone_loss(feature(batch, "backbone_rigid_tensor", who), feature(batch, "backbone_rigid_mask", who),
                         data::require_feature(outputs, "sm/frames", who), use_clamped, clamp, unit, o.eps, pair_mask);
  };
  at::Tensor backbone;
  if (o.multimer) {
    // AF-Multimer (Supplement 2.5): frames against points of their own chain clamped
    // as the monomer, against the other chains' points with a wider clamp and scale.
    const at::Tensor asym = data::require_feature(batch, "asym_id", who);
    const at::Tensor same_chain = (asym.unsqueeze(-1) == asym.unsqueeze(-2)).to(at::kFloat);
    backbone = backbone_part(o.intra_chain.clamp_distance, o.intra_chain.loss_unit_distance, same_chain) *
                   o.intra_chain.weight +
               backbone_part(o.interface.clamp_distance, o.interface.loss_unit_distance, 1.0 - same_chain) *
                   o.interface.weight;
  } else {
    backbone = backbone_part(o.backbone_clamp_distance, o.backbone_loss_unit_distance, at::Tensor()) * o.backbone_weight;
  }
  const at::Tensor sidechain = sidechain_loss(
      data::require_feature(outputs, "sm/sidechain_frames", who), data::require_feature(outputs, "sm/positions", who),
      feature(batch, "rigidgroups_gt_frames", who), feature(batch, "rigidgroups_alt_gt_frames", who),
      feature(batch, "rigidgroups_gt_exists", who), renamed.renamed_atom14_gt_positions,
      renamed.renamed_atom14_gt_exists, renamed.alt_naming_is_better, o.sidechain_clamp_distance,
      o.sidechain_length_scale, o.eps);
  return (backbone + sidechain * o.sidechain_weight).mean();
}

}  // namespace fold::loss
