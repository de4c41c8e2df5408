// Structural violations of a predicted all-atom structure and the violation loss
// (AF2 Supplement 1.9.11, eq. 44-47), with the semantics of OpenFold's
// openfold/utils/loss.py (between_residue_bond_loss, between_residue_clash_loss,
// within_residue_violations, find_structural_violations, violation_loss,
// extreme_ca_ca_distance_violations, compute_violation_metrics), which are AlphaFold's
// alphafold/model/all_atom.py ported to batched torch.
//
//   eq. 44-45  peptide-bond geometry between consecutive residues (C-N length, CA-C-N
//              and C-N-CA angle cosines), flat-bottom beyond tolerance_factor stddevs;
//   eq. 46     clashes of non-bonded atoms: between residues from van der Waals radii,
//              within a residue from the bond / angle / vdW bounds of
//              rc::make_atom14_dists_bounds;
//   eq. 47     L_viol = bond + angle losses + per-atom clash losses / number of atoms.
//
// Computed in fp32 (fp64 inputs stay fp64, for gradient checks), differentiable with
// respect to the atom14 positions. Every dimension before [N] (and [N, 14]) is a batch
// dimension; like OpenFold, "between_residues/clashes_mean_loss" and the clash part of
// violation_loss are pooled over the whole batch (sum over the batch / count over the
// batch), the other means are per batch element and violation_loss averages them.
// Quirks kept from AF2/OpenFold on purpose: the CA-C-N angle tolerance uses the C-N
// *bond length* stddev (0.014), and the "disulfide" exception removes every atom14-slot-5
// pair (CYS SG) between residues whatever their types. In a complex (the batch has
// asym_id) the C-N bond exception of the clash term holds within a chain only, as
// OpenFold's multimer mode; the bond term, as OpenFold's, reads residue_index alone.
#pragma once

#include <ATen/core/Tensor.h>

#include <map>
#include <string>

#include "data/feature_dict.h"
#include "fold/config.h"

namespace fold::loss {

// OpenFold's config section loss.violation: the checks' tolerances and the term's weight
// in the total.
struct ViolationOptions {
  double violation_tolerance_factor = 12.0, clash_overlap_tolerance = 1.5, eps = 1e-8;
  bool average_clashes = false;
  double weight = 0.0;

  static ViolationOptions from_config(const Config& config);
};

// Eq. 44-45. pred_atom_positions [*, N, 14 (or 37), 3], pred_atom_mask [*, N, 14/37]
// (slots 0, 1, 2 = N, CA, C in both encodings), residue_index and aatype [*, N].
// Keys: c_n_loss_mean, ca_c_n_loss_mean, c_n_ca_loss_mean [*]; per_residue_loss_sum,
// per_residue_violation_mask [*, N].
std::map<std::string, at::Tensor> between_residue_bond_loss(const at::Tensor& pred_atom_positions,
                                                            const at::Tensor& pred_atom_mask,
                                                            const at::Tensor& residue_index, const at::Tensor& aatype,
                                                            double tolerance_factor_soft = 12.0,
                                                            double tolerance_factor_hard = 12.0, double eps = 1e-6);

// Eq. 46, pairs of atoms in different residues. atom14_atom_radius [*, N, 14] (0 where
// the atom does not exist); asym_id [*, N] where defined (a complex: the C-N bond
// exception only within a chain). Keys: mean_loss [] (pooled over the batch),
// per_atom_loss_sum, per_atom_clash_mask, per_atom_num_clash [*, N, 14].
std::map<std::string, at::Tensor> between_residue_clash_loss(const at::Tensor& atom14_pred_positions,
                                                             const at::Tensor& atom14_atom_exists,
                                                             const at::Tensor& atom14_atom_radius,
                                                             const at::Tensor& residue_index,
                                                             double overlap_tolerance_soft = 1.5,
                                                             double overlap_tolerance_hard = 1.5, double eps = 1e-10,
                                                             const at::Tensor& asym_id = at::Tensor());

// Eq. 46, pairs of atoms in the same residue. Bounds [*, N, 14, 14]. Keys:
// per_atom_loss_sum, per_atom_violations, per_atom_num_clash [*, N, 14].
std::map<std::string, at::Tensor> within_residue_violations(const at::Tensor& atom14_pred_positions,
                                                            const at::Tensor& atom14_atom_exists,
                                                            const at::Tensor& atom14_dists_lower_bound,
                                                            const at::Tensor& atom14_dists_upper_bound,
                                                            double tighten_bounds_for_loss = 0.0, double eps = 1e-10);

// All checks on atom14_pred_positions [*, N, 14, 3]. `batch` needs aatype [*, N] (0..20),
// residue_index [*, N], atom14_atom_exists [*, N, 14], residx_atom14_to_atom37 [*, N, 14],
// and reads asym_id [*, N] where present.
// Keys: OpenFold's nested names joined with '/':
//   between_residues/{bonds_c_n_loss_mean, angles_ca_c_n_loss_mean,
//     angles_c_n_ca_loss_mean} [*], between_residues/clashes_mean_loss [],
//   between_residues/{connections_per_residue_loss_sum,
//     connections_per_residue_violation_mask} [*, N],
//   between_residues/{clashes_per_atom_loss_sum, clashes_per_atom_clash_mask,
//     clashes_per_atom_num_clash} [*, N, 14],
//   within_residues/{per_atom_loss_sum, per_atom_violations, per_atom_num_clash} [*, N, 14],
//   total_per_residue_violations_mask [*, N].
// Masks are 0/1 floats. Throws std::invalid_argument naming a missing or misshapen
// feature (or the positions).
std::map<std::string, at::Tensor> find_structural_violations(const data::FeatureDict& batch,
                                                             const at::Tensor& atom14_pred_positions,
                                                             const ViolationOptions& options);

// Eq. 47: mean over the batch of the three bond/angle means plus
// sum(per-atom clash losses) / (eps + sum(atom14_atom_exists)) (the clash sums pooled
// over the batch, as OpenFold); with average_clashes each atom's clash loss is first
// divided by (its number of clashes + eps). Returns []. Throws std::invalid_argument
// naming a missing key.
at::Tensor violation_loss(const std::map<std::string, at::Tensor>& violations, const at::Tensor& atom14_atom_exists,
                          const ViolationOptions& options);

// Fraction [*] of consecutive CA-CA pairs (both present, no residue_index gap) longer
// than rc::kCaCaDistance + max_angstrom_tolerance.
at::Tensor extreme_ca_ca_distance_violations(const at::Tensor& pred_atom_positions, const at::Tensor& pred_atom_mask,
                                             const at::Tensor& residue_index, double max_angstrom_tolerance = 1.5,
                                             double eps = 1e-6);

// Logging metrics [*], no gradient: violations_extreme_ca_ca_distance,
// violations_between_residue_bond, violations_between_residue_clash,
// violations_within_residue, violations_per_residue (fractions of residues in seq_mask).
// `batch` needs seq_mask [*, N] besides find_structural_violations' features.
std::map<std::string, at::Tensor> compute_violation_metrics(const data::FeatureDict& batch,
                                                            const at::Tensor& atom14_pred_positions,
                                                            const std::map<std::string, at::Tensor>& violations);

}  // namespace fold::loss
