// The pLDDT loss (AF2 Supplement 1.9.6, OpenFold's lddt_loss): cross entropy of the
// pLDDT head's logits against the binned per-residue lDDT-Ca of the final predicted
// structure (fold::lddt, detached: a target, not a path for gradients), for structures
// whose resolution is in range.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>

#include "fold/config.h"

namespace fold::loss {

// OpenFold's config section loss.plddt_loss: the term's settings and its weight in the total.
struct PlddtLossOptions {
  double cutoff = 15.0;
  int64_t no_bins = 50;
  double min_resolution = 0.1;
  double max_resolution = 3.0;
  double eps = 1e-8;
  double weight = 0.01;

  static PlddtLossOptions from_config(const Config& config);
};

// logits [*, N, no_bins]; all_atom_pred_pos / all_atom_positions [*, N, 37, 3] (the
// final atom37 prediction and the truth), all_atom_mask [*, N, 37], resolution [*].
// Mean over residues with an observed C-alpha, zero outside [min_resolution,
// max_resolution], then the batch mean: [].
at::Tensor plddt_loss(const at::Tensor& logits, const at::Tensor& all_atom_pred_pos,
                      const at::Tensor& all_atom_positions, const at::Tensor& all_atom_mask,
                      const at::Tensor& resolution, const PlddtLossOptions& options = {});

}  // namespace fold::loss
