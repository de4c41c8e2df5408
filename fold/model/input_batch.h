// The model's input contract (OpenFold's processed feature names, each with its trailing
// recycling axis R): which features a batch must hold, their shapes in terms of N
// residues, S MSA clusters, E extra MSA rows, T templates, and finite values. Checked
// before a run, so that a hand-made or damaged batch (`fold predict --features`) fails
// with one message naming the feature instead of deep inside a module.
#pragma once

#include "data/feature_dict.h"

namespace fold {

// Throws std::invalid_argument naming the first feature that is missing, has the wrong
// rank or a size that disagrees with the others (e.g. "feature 'msa_feat' has shape
// [4, 8, 48, 1]; the model needs [S, N=8, 49, R=1]"), or holds NaN or infinite values.
// Template features are checked where present (a model without templates ignores them).
// tf_dim: target_feat's channels (model.input_embedder.tf_dim: AF2's 22, AF-Multimer's
// 21); multimer (globals.is_multimer): asym_id, entity_id and sym_id are needed, and the
// extra MSA's deletions come as extra_deletion_matrix.
void check_input_batch(const data::FeatureDict& batch, int64_t tf_dim = 22, bool multimer = false);

}  // namespace fold
