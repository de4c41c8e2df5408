// A model input batch or output set: named tensors, as OpenFold's feature and output
// dicts (the names are OpenFold's: `target_feat`, `msa_feat`, `template_aatype`, ...).
#pragma once

#include <ATen/core/Tensor.h>

#include <map>
#include <stdexcept>
#include <string>

namespace fold::data {

using FeatureDict = std::map<std::string, at::Tensor>;

// The feature `name`; a missing feature is an error that names it and `who` needs it.
inline const at::Tensor& require_feature(const FeatureDict& features, const std::string& name,
                                         const std::string& who) {
  const auto it = features.find(name);
  if (it == features.end()) throw std::invalid_argument(who + ": missing input feature '" + name + "'");
  return it->second;
}

// OpenFold's batch[..., -1]: every feature's last slice along its trailing recycling
// axis (what the loss of the final iteration sees).
inline FeatureDict last_recycling_slice(const FeatureDict& batch) {
  FeatureDict last;
  for (const auto& [name, t] : batch) {
    if (t.dim() == 0) throw std::invalid_argument("feature '" + name + "' has no recycling axis (a scalar)");
    last[name] = t.select(-1, -1);
  }
  return last;
}

}  // namespace fold::data
