// The distogram loss (AF2 Supplement 1.9.8, OpenFold's distogram_loss): cross entropy
// of the distogram head's logits against the bin of each true pseudo-beta distance.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>

#include "fold/config.h"

namespace fold::loss {

// OpenFold's config section loss.distogram: the term's settings and its weight in the total.
struct DistogramLossOptions {
  double min_bin = 2.3125;
  double max_bin = 21.6875;
  int64_t no_bins = 64;
  double eps = 1e-8;
  double weight = 0.3;

  static DistogramLossOptions from_config(const Config& config);
};

// logits [*, N, N, no_bins]; pseudo_beta [*, N, 3], pseudo_beta_mask [*, N]. The bins
// are split at no_bins - 1 edges evenly from min_bin to max_bin (A; the first and last
// bins open). Mean over the pairs of observed pseudo-beta atoms (self-pairs included),
// then over the batch: [].
at::Tensor distogram_loss(const at::Tensor& logits, const at::Tensor& pseudo_beta, const at::Tensor& pseudo_beta_mask,
                          const DistogramLossOptions& options = {});

}  // namespace fold::loss
