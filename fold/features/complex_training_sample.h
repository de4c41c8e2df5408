// AF-Multimer's training sample of a complex (OpenFold's multimer data pipeline and
// input pipeline in "train" mode): the chain records of one entry -> one sample, every
// random choice drawn from the sample's seed.
//
// The chains are grouped into entities and their MSAs paired and merged as at inference
// (data/msa_pairing.h; a chain stored without UniProt hits pairs nothing but its query),
// then per recycling iteration sampled as multimer_feature_pipeline.h samples them. The
// crop (the same in every iteration) is OpenFold's random_crop_to_size for complexes:
// with spatial_crop_prob, the crop_size residues whose CA is nearest a random interface
// residue (one with an atom within interface_threshold A of another chain's; without
// any, the contiguous crop); otherwise the contiguous crop, which visits the chains in
// random order and gives each a random stretch within the budget the others leave.
// Templates: max_templates slots per chain, the first filled from the chain's stored
// template hits as a monomer sample's (chain_template_features; copies of a sequence
// share its first chain's), concatenated along residues and cropped with the complex.
// The ground truth is that of the crop, plus the whole complex's under gt_* names
// (gt_asym_id, gt_entity_id, gt_residue_index, gt_<label>) for the loss's chain
// permutation (fold/loss/chain_permutation.h).
#pragma once

#include <cstdint>
#include <vector>

#include "data/chain_dataset.h"
#include "data/feature_dict.h"
#include "fold/features/training_sample.h"

namespace fold::features {

// The residues kept of a complex of asym_id [N] with atom37 positions [N, 37, 3] and
// mask [N, 37]: sorted indices [min(N, crop_size)].
at::Tensor complex_crop_indices(const at::Tensor& asym_id, const at::Tensor& positions, const at::Tensor& mask,
                                const TrainingOptions& options, at::Generator& gen);

// Residues of a complex with an atom within `threshold` A of an atom of another chain
// (both atoms resolved), ascending.
at::Tensor interface_residues(const at::Tensor& asym_id, const at::Tensor& positions, const at::Tensor& mask,
                              double threshold);

// Throws SampleError for a complex it cannot train on (no chains, no resolved residue,
// resolution worse than max_resolution).
data::FeatureDict make_complex_training_sample(const std::vector<data::ChainRecord>& chains,
                                               const TrainingOptions& options, uint64_t seed);

}  // namespace fold::features
