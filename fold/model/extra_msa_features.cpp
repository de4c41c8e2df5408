#include "fold/model/extra_msa_features.h"

#include <torch/torch.h>

#include <cmath>


namespace fold {

namespace {
// AF2's MSA alphabet: 20 residues, X, gap, mask token.
constexpr int64_t kMsaClasses = 23;
}  // namespace

at::Tensor build_extra_msa_feat(const data::FeatureDict& f) {
  const char* who = "build_extra_msa_feat";
  at::Tensor has_deletion, deletion_value;
  if (f.count("extra_deletion_matrix") && !f.count("extra_has_deletion")) {
    const at::Tensor& d = f.at("extra_deletion_matrix");
    has_deletion = d.clamp(0.0, 1.0);
    deletion_value = torch::atan(d / 3.0) * (2.0 / M_PI);
  } else {
    has_deletion = data::require_feature(f, "extra_has_deletion", who);
    deletion_value = data::require_feature(f, "extra_deletion_value", who);
  }
  const auto dtype = has_deletion.scalar_type();
  return torch::cat({torch::one_hot(data::require_feature(f, "extra_msa", who).to(torch::kLong), kMsaClasses).to(dtype),
                     has_deletion.unsqueeze(-1), deletion_value.to(dtype).unsqueeze(-1)},
                    -1);
}

}  // namespace fold
