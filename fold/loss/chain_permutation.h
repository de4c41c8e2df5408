// AF-Multimer's multi-chain permutation alignment (Evans et al. 2021, Supplement 7.3,
// Algorithm 4; OpenFold's multi_chain_permutation_align): the chains of one entity are
// interchangeable, so before the loss the ground-truth chains are reassigned to the
// predicted ones. An anchor chain of the least repeated entity (the longest on a tie)
// fixes a superposition of the truth onto the prediction; every predicted chain then
// takes, greedily in order, the unused true chain of its entity with the lowest C-alpha
// RMSD; of the alignments from each candidate anchor the one with the lowest overall
// RMSD wins.
//
// Two choices differ from OpenFold ce0029e, on purpose:
// - OpenFold draws the ground-truth anchor (and an entity on a full tie) at random; here
//   it is the first (lowest asym_id / entity_id), so a loss is reproducible. Every
//   predicted chain of the anchor entity is still tried as the anchor.
// - OpenFold applies the prediction-to-truth superposition to the true coordinates
//   (aligned = truth @ R + x with R, x fitted to map the prediction onto the truth),
//   which moves the truth further away rather than onto the prediction; here the
//   transform is fitted truth-to-prediction, as the supplement and Uni-Fold have it.
#pragma once

#include <ATen/core/Tensor.h>

#include <vector>

#include "data/feature_dict.h"

namespace fold::loss {

// The ground-truth features that follow their chain (per residue, sequence-independent
// labels); the rest of the batch depends on the sequence alone, which the chains of an
// entity share.
const std::vector<std::string>& chain_label_features();

// For each chain, in ascending asym_id order, the index (asym_id - 1) of the true chain
// assigned to it. `outputs` needs final_atom_positions [(1,) N, 37, 3] and
// final_atom_mask [(1,) N, 37]; `batch` asym_id, entity_id, residue_index [(1,) N] and
// all_atom_positions / all_atom_mask, its chains numbered 1..K (0: padding). A training
// crop carries the whole complex's truth beside it as gt_asym_id, gt_entity_id,
// gt_residue_index, gt_all_atom_positions, gt_all_atom_mask and gt_<label> for every
// chain_label_features() name (as OpenFold's gt_features): the predicted chains present
// in the crop are then matched against the whole true chains, and chains the crop left
// out keep their own index. A residue of a predicted chain is matched to the residue
// with the same residue_index in the true chain. Throws std::invalid_argument on a batch
// of several samples, true chains not numbered 1..K, or a chain whose entity has no
// true chain left.
std::vector<int64_t> chain_permutation(const data::FeatureDict& outputs, const data::FeatureDict& batch);

// The batch with chain_label_features() rearranged by chain_permutation (padding rows
// zero), taken from the gt_ labels when the batch has them. A batch of one chain (or
// without asym_id), or whose chains keep their own truth, comes back unchanged.
data::FeatureDict permute_ground_truth_chains(const data::FeatureDict& outputs, const data::FeatureDict& batch);

}  // namespace fold::loss
