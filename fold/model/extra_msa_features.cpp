#include "fold/model/extra_msa_features.h"

#include <torch/torch.h>


namespace fold {

namespace {
// AF2's MSA alphabet: 20 residues, X, gap, mask token.
constexpr int64_t kMsaClasses = 23;
}  // namespace

at::Tensor build_extra_msa_feat(const data::FeatureDict& f) {
  const char* who = "build_extra_msa_feat";
  const at::Tensor& has_deletion = data::require_feature(f, "extra_has_deletion", who);
  const auto dtype = has_deletion.scalar_type();
  return torch::cat({torch::one_hot(data::require_feature(f, "extra_msa", who).to(torch::kLong), kMsaClasses).to(dtype),
                     has_deletion.unsqueeze(-1),
                     data::require_feature(f, "extra_deletion_value", who).to(dtype).unsqueeze(-1)},
                    -1);
}

}  // namespace fold
