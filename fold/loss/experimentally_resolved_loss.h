// The experimentally-resolved loss (AF2 Supplement 1.9.10, OpenFold's
// experimentally_resolved_loss): per-atom binary cross entropy of the head's logits
// against whether the atom was resolved in the structure, for structures whose
// resolution is in range.
#pragma once

#include <ATen/core/Tensor.h>

#include "fold/config.h"

namespace fold::loss {

// OpenFold's config section loss.experimentally_resolved: the term's settings and its weight in the total.
struct ExperimentallyResolvedLossOptions {
  double min_resolution = 0.1;
  double max_resolution = 3.0;
  double eps = 1e-8;
  double weight = 0.0;

  static ExperimentallyResolvedLossOptions from_config(const Config& config);
};

// logits [*, N, 37], atom37_atom_exists [*, N, 37] (the atoms the residue type has),
// all_atom_mask [*, N, 37] (resolved), resolution [*]. Sum over the existing atoms divided
// by their count, zero outside [min_resolution, max_resolution], then the batch mean: [].
at::Tensor experimentally_resolved_loss(const at::Tensor& logits, const at::Tensor& atom37_atom_exists,
                                        const at::Tensor& all_atom_mask, const at::Tensor& resolution,
                                        const ExperimentallyResolvedLossOptions& options = {});

}  // namespace fold::loss
