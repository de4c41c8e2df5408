// AF-Multimer's chain centre-of-mass loss (Evans et al. 2021, Supplement 2.5, eq. 1; OpenFold's
// chain_center_of_mass_loss): for every pair of chains, the distance between their
// predicted C-alpha centres is penalised where it falls more than |clamp_distance| below
// the true one. Chains pulled apart are free; chains collapsed onto each other are not.
#pragma once

#include <ATen/core/Tensor.h>

#include "fold/config.h"

namespace fold::loss {

// OpenFold's config section loss.chain_center_of_mass. `weight` is used twice, as
// OpenFold does: inside the square (scaling the distance error) and in the total.
struct ChainCenterOfMassLossOptions {
  bool enabled = false;
  double clamp_distance = -4.0;
  double weight = 0.0;
  double eps = 1e-8;

  static ChainCenterOfMassLossOptions from_config(const Config& config);
};

// all_atom_pred_pos, all_atom_positions [*, N, 37, 3]; all_atom_mask [*, N, 37]; asym_id
// [*, N] (chain numbers >= 0). Centres are means over the chain's resolved C-alpha atoms;
// the loss is the mean over pairs of chains with a resolved C-alpha of
// min(0, weight * (|c_i - c_j|_pred - |c_i - c_j|_true - clamp_distance))^2, per batch
// element: [*].
at::Tensor chain_center_of_mass_loss(const at::Tensor& all_atom_pred_pos, const at::Tensor& all_atom_positions,
                                     const at::Tensor& all_atom_mask, const at::Tensor& asym_id,
                                     const ChainCenterOfMassLossOptions& options);

}  // namespace fold::loss
