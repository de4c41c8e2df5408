// The extra MSA features AF2 embeds in Algorithm 2 line 15 (Supplement 1.2.9: residue
// one-hot over 23 classes, has-deletion, deletion value), as OpenFold's
// build_extra_msa_feat. The embedder itself is one Linear (evoformer::LinearModule,
// OpenFold's ExtraMSAEmbedder.linear).
#pragma once

#include <ATen/core/Tensor.h>

#include "data/feature_dict.h"

namespace fold {

// extra_msa [*, S_e, N] (int), extra_has_deletion, extra_deletion_value [*, S_e, N]
// -> [*, S_e, N, 25]. AF-Multimer's batches carry extra_deletion_matrix instead: then
// has_deletion = clamp(d, 0, 1) and deletion_value = atan(d / 3) 2 / pi are made here
// (OpenFold's data_transforms_multimer.build_extra_msa_feat).
at::Tensor build_extra_msa_feat(const data::FeatureDict& features);

}  // namespace fold
