// The AlphaFold2 training loss (Supplement 1.9, eq. 7 and 1.11.5): the weighted sum of
// backbone + side-chain FAPE, torsion angles, distogram, masked MSA, pLDDT,
// experimentally resolved, structural violations, (the _ptm and multimer presets) TM and
// (multimer) the chain centre-of-mass term, with the weights of the config's [loss]
// section, as OpenFold's AlphaFoldLoss
// (openfold/utils/loss.py). Each term lives in its own file of fold/loss/, with the
// options struct of its config section; alphafold_loss is the table of terms.
#pragma once

#include <ATen/core/Tensor.h>

#include <map>
#include <string>

#include "data/feature_dict.h"
#include "fold/config.h"
#include "fold/loss/chain_center_of_mass_loss.h"
#include "fold/loss/distogram_loss.h"
#include "fold/loss/experimentally_resolved_loss.h"
#include "fold/loss/fape.h"
#include "fold/loss/masked_msa_loss.h"
#include "fold/loss/plddt_loss.h"
#include "fold/loss/structural_violations.h"
#include "fold/loss/tm_loss.h"
#include "fold/loss/torsion_angle_loss.h"

namespace fold::loss {

// The [loss] section of the config: one options struct per term, each read from its
// own subsection (OpenFold's names and defaults) and holding the term's weight.
struct LossOptions {
  DistogramLossOptions distogram;
  ExperimentallyResolvedLossOptions experimentally_resolved;
  FapeOptions fape;
  PlddtLossOptions plddt;  // loss.plddt_loss
  MaskedMsaLossOptions masked_msa;
  SupervisedChiLossOptions supervised_chi;
  ViolationOptions violation;
  TmLossOptions tm;  // a term only when tm.enabled (the _ptm presets)
  ChainCenterOfMassLossOptions chain_center_of_mass;  // a term only when enabled (multimer)
  // globals.is_multimer: the ground-truth chains are first permuted onto the predicted
  // ones (chain_permutation.h), and FAPE splits its backbone pairs by chain.
  bool multimer = false;

  static LossOptions from_config(const Config& config);
};

struct LossBreakdown {
  // [] OpenFold's "loss": the weighted sum of the finite terms times
  // sqrt(min(mean seq_length, crop size)) (Supplement 1.9); what training minimises.
  at::Tensor total;
  at::Tensor unscaled_total;  // [] the weighted sum before that scaling ("unscaled_loss"), detached
  // Unweighted terms, OpenFold's names: fape, supervised_chi, distogram, masked_msa,
  // plddt_loss, experimentally_resolved, violation, tm and chain_center_of_mass when
  // enabled. Each [] (the
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
// bert_mask, resolution, use_clamped_fape (optional: clamped when absent), seq_length;
// for multimer options also asym_id and entity_id (the chains), the ground truth of the
// whole complex at the batch's residues.
// Terms with weight 0 are still computed and reported (they are cheap and logged) but do
// not enter the total. Throws std::invalid_argument naming a missing feature.
LossBreakdown alphafold_loss(const data::FeatureDict& outputs, const data::FeatureDict& batch,
                             const LossOptions& options);

// Throws std::invalid_argument naming the ground-truth or input features alphafold_loss
// needs that `batch` lacks (checked before a model runs, so a batch without ground
// truth fails at once); with `multimer`, the chain features too.
void check_loss_features(const data::FeatureDict& batch, bool multimer = false);

// The breakdown as named arrays: loss/<term> (unweighted), loss/loss (the total),
// loss/unscaled_loss, violation/<name>; detached.
data::FeatureDict loss_arrays(const LossBreakdown& breakdown);

}  // namespace fold::loss
