// What the loss terms of fold/loss/ share (OpenFold's openfold/utils/loss.py helpers):
// the fp32 floor of the loss arithmetic (ARCHITECTURE.md, Precision: bf16/fp16 activations enter the
// losses as fp32, fp64 stays fp64 for gradient checks), the cross entropies against
// class indices or probabilities, OpenFold's masked_mean and the resolution filter of
// the confidence and experimentally-resolved terms.
#pragma once

#include <ATen/ATen.h>

#include <string>

#include "data/feature_dict.h"

namespace fold::loss {

// Floating tensors narrower than fp32 -> fp32; everything else as it is.
inline at::Tensor loss_precision(const at::Tensor& t) {
  if (t.defined() && at::isFloatingType(t.scalar_type()) && t.element_size() < 4) return t.to(at::kFloat);
  return t;
}

// A feature as the losses read it (fp32 or wider); names the missing feature and `who`.
inline at::Tensor feature(const data::FeatureDict& features, const std::string& name, const std::string& who) {
  return loss_precision(data::require_feature(features, name, who));
}

// -sum_c onehot(label)_c log softmax(logits)_c, as OpenFold's softmax_cross_entropy with
// one-hot labels: logits [*, C], labels [*] (integer classes) -> [*].
inline at::Tensor softmax_cross_entropy(const at::Tensor& logits, const at::Tensor& labels) {
  return -at::log_softmax(logits, -1).gather(-1, labels.to(at::kLong).unsqueeze(-1)).squeeze(-1);
}

// Elementwise binary cross entropy of sigmoid(logits) against `labels` in [0, 1]. In
// fp64 and cast back, as OpenFold's sigmoid_cross_entropy (log sigmoid saturates early
// in fp32).
inline at::Tensor sigmoid_cross_entropy(const at::Tensor& logits, const at::Tensor& labels) {
  const at::Tensor x = logits.to(at::kDouble), y = labels.to(at::kDouble);
  return (-y * at::log_sigmoid(x) - (1.0 - y) * at::log_sigmoid(-x)).to(logits.scalar_type());
}

// OpenFold's tensor_utils.masked_mean: sum(mask * value) / (eps + sum(mask)) over `dims`,
// the mask broadcast to value's shape first (so a broadcast dim counts in the
// denominator). Its eps is 1e-4, not the config's.
inline at::Tensor masked_mean(const at::Tensor& mask, const at::Tensor& value, at::IntArrayRef dims,
                              double eps = 1e-4) {
  const at::Tensor m = mask.expand(value.sizes());
  return (m * value).sum(dims) / (eps + m.sum(dims));
}

// 1 where min_resolution <= resolution <= max_resolution (the structures whose confidence
// targets are trusted), else 0; `resolution` [*] -> [*] in `like`'s dtype.
inline at::Tensor resolution_filter(const at::Tensor& resolution, double min_resolution, double max_resolution,
                                    const at::Tensor& like) {
  return at::logical_and(resolution >= min_resolution, resolution <= max_resolution).to(like.scalar_type());
}

}  // namespace fold::loss
