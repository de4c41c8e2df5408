// The predicted-aligned-error / TM loss (AF2 Supplement 1.9.7, OpenFold's tm_loss): cross
// entropy of the TM head's logits against the bin of the true aligned error e_ij, the
// distance between residue j's C-alpha in residue i's predicted frame and in its true
// frame; for structures whose resolution is in range.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>

#include "fold/config.h"

namespace fold::loss {

// OpenFold's config section loss.tm: the term's settings and its weight in the total.
struct TmLossOptions {
  bool enabled = false;
  double max_bin = 31.0;
  int64_t no_bins = 64;
  double min_resolution = 0.1;
  double max_resolution = 3.0;
  double eps = 1e-8;
  double weight = 0.0;

  static TmLossOptions from_config(const Config& config);
};

// logits [*, N, N, no_bins]; final_affine_tensor [*, N, 7] (quaternion + translation) or
// [*, N, 4, 4]; backbone_rigid_tensor [*, N, 4, 4], backbone_rigid_mask [*, N],
// resolution [*]. The bins are split at no_bins - 1 edges evenly from 0 to max_bin (A).
// The aligned errors are targets (no gradient). Mean over pairs of existing frames, zero
// outside [min_resolution, max_resolution], then the batch mean: [].
at::Tensor tm_loss(const at::Tensor& logits, const at::Tensor& final_affine_tensor,
                   const at::Tensor& backbone_rigid_tensor, const at::Tensor& backbone_rigid_mask,
                   const at::Tensor& resolution, const TmLossOptions& options = {});

}  // namespace fold::loss
