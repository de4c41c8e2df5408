// AF2 Supplement Algorithm 2 line 15: the extra MSA features (1.2.9: residue one-hot
// over 23 classes, has-deletion, deletion value) and their embedding, as OpenFold's
// build_extra_msa_feat and ExtraMSAEmbedder (state_dict name: linear).
#pragma once

#include <torch/nn/cloneable.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/pimpl.h>
#include <torch/types.h>

#include "data/feature_dict.h"

namespace fold {

// extra_msa [*, S_e, N] (int), extra_has_deletion, extra_deletion_value [*, S_e, N]
// -> [*, S_e, N, 25].
at::Tensor build_extra_msa_feat(const data::FeatureDict& features);

class ExtraMsaEmbedderImpl : public torch::nn::Cloneable<ExtraMsaEmbedderImpl> {
 public:
  ExtraMsaEmbedderImpl(int64_t c_in, int64_t c_out);
  void reset() override;
  torch::Tensor forward(const torch::Tensor& x) { return linear(x); }
  int64_t c_in, c_out;
  torch::nn::Linear linear{nullptr};
};
TORCH_MODULE(ExtraMsaEmbedder);

}  // namespace fold
