#include "fold/extra_msa_embedder.h"

#include <torch/torch.h>

#include "kernels/nn.h"

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

ExtraMsaEmbedderImpl::ExtraMsaEmbedderImpl(int64_t c_in_, int64_t c_out_) : c_in(c_in_), c_out(c_out_) { reset(); }

void ExtraMsaEmbedderImpl::reset() {
  linear = register_module("linear", kernels::make_linear(c_in, c_out, true, kernels::LinearInit::kDefault));
}

}  // namespace fold
