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
void check_input_batch(const data::FeatureDict& batch);

}  // namespace fold
