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

}  // namespace fold::data
