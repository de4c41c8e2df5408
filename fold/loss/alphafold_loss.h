// The AlphaFold2 training loss (Supplement 1.9, eq. 7 and 1.11.5): the weighted sum of
// backbone + side-chain FAPE, torsion angles, distogram, masked MSA, pLDDT,
// experimentally resolved, structural violations and (the _ptm presets) TM, with the
// weights of the config's [loss] section, as OpenFold's AlphaFoldLoss
// (openfold/utils/loss.py). Each term lives in its own file of fold/loss/.
#pragma once

#include <ATen/core/Tensor.h>

#include <map>
#include <string>

#include "data/feature_dict.h"
#include "fold/config.h"

namespace fold::loss {

// The [loss] section of the config (OpenFold's names and defaults).
struct LossOptions {
  double distogram_min_bin = 2.3125, distogram_max_bin = 21.6875, distogram_eps = 1e-8, distogram_weight = 0.3;
  int64_t distogram_no_bins = 64;
  double experimentally_resolved_eps = 1e-8, experimentally_resolved_min_resolution = 0.1,
         experimentally_resolved_max_resolution = 3.0, experimentally_resolved_weight = 0.0;
  double fape_eps = 1e-4, fape_weight = 1.0;
  double backbone_clamp_distance = 10.0, backbone_loss_unit_distance = 10.0, backbone_weight = 0.5;
  double sidechain_clamp_distance = 10.0, sidechain_length_scale = 10.0, sidechain_weight = 0.5;
  double plddt_min_resolution = 0.1, plddt_max_resolution = 3.0, plddt_cutoff = 15.0, plddt_eps = 1e-8,
         plddt_weight = 0.01;
  int64_t plddt_no_bins = 50;
  int64_t masked_msa_num_classes = 23;
  double masked_msa_eps = 1e-8, masked_msa_weight = 2.0;
  double chi_weight = 0.5, angle_norm_weight = 0.01, supervised_chi_eps = 1e-8, supervised_chi_weight = 1.0;
  double violation_tolerance_factor = 12.0, clash_overlap_tolerance = 1.5, violation_eps = 1e-8,
         violation_weight = 0.0;
  bool average_clashes = false;
  bool tm_enabled = false;
  double tm_max_bin = 31.0, tm_min_resolution = 0.1, tm_max_resolution = 3.0, tm_eps = 1e-8, tm_weight = 0.0;
  int64_t tm_no_bins = 64;

  static LossOptions from_config(const Config& config);
};

struct LossBreakdown {
  // [] OpenFold's "loss": the weighted sum of the finite terms times
  // sqrt(min(mean seq_length, crop size)) (Supplement 1.9); what training minimises.
  at::Tensor total;
  at::Tensor unscaled_total;  // [] the weighted sum before that scaling ("unscaled_loss"), detached
  // Unweighted terms, OpenFold's names: fape, supervised_chi, distogram, masked_msa,
  // plddt_loss, experimentally_resolved, violation, and tm when enabled. Each [] (the
  // batch mean), still attached to the graph.
  std::map<std::string, at::Tensor> terms;
  // The structural-violation details: find_structural_violations' keys, OpenFold's
  // nested names joined with '/' (between_residues/bonds_c_n_loss_mean, ...,
  // within_residues/per_atom_violations, total_per_residue_violations_mask), detached.
  std::map<std::string, at::Tensor> violation;
};

// `outputs`: AlphaFoldImpl::forward's dict (sm/*, final_atom_positions, *_logits, ...).
// `batch`: the ground truth and input features of the iteration the outputs come from,
// without the recycling axis (OpenFold's batch[..., -1]): aatype, seq_mask, all_atom_*,
// atom14_*, residx_*, rigidgroups_*, backbone_rigid_*, chi_*, pseudo_beta*, true_msa,
// bert_mask, resolution, use_clamped_fape (optional: clamped when absent), seq_length.
// Terms with weight 0 are still computed and reported (they are cheap and logged) but do
// not enter the total. Throws std::invalid_argument naming a missing feature.
LossBreakdown alphafold_loss(const data::FeatureDict& outputs, const data::FeatureDict& batch,
                             const LossOptions& options);

// Throws std::invalid_argument naming the ground-truth or input features alphafold_loss
// needs that `batch` lacks (checked before a model runs, so a batch without ground
// truth fails at once).
void check_loss_features(const data::FeatureDict& batch);

// The breakdown as named arrays: loss/<term> (unweighted), loss/loss (the total),
// loss/unscaled_loss, violation/<name>; detached.
data::FeatureDict loss_arrays(const LossBreakdown& breakdown);

}  // namespace fold::loss
