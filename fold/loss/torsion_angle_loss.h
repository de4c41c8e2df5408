// The side-chain torsion-angle loss (AF2 Supplement 1.9.1, Algorithm 27
// torsionAngleLoss, OpenFold's supervised_chi_loss): the squared chord distance between
// predicted and true (sin, cos) of chi1..chi4, the pi-periodic chis compared with the
// nearer of chi and chi + pi, plus the angle-norm term that keeps the unnormalised
// predictions near the unit circle. Averaged over the structure module's layers.
#pragma once

#include <ATen/core/Tensor.h>

#include "fold/config.h"

namespace fold::loss {

// OpenFold's config section loss.supervised_chi: the term's settings and its weight in the total.
struct SupervisedChiLossOptions {
  double chi_weight = 0.5;
  double angle_norm_weight = 0.01;
  double eps = 1e-8;
  double weight = 1.0;

  static SupervisedChiLossOptions from_config(const Config& config);
};

// angles_sin_cos / unnormalized_angles_sin_cos [L, *, N, 7, 2] (sm/angles,
// sm/unnormalized_angles; the torsion order pre-omega, phi, psi, chi1..chi4), aatype
// [*, N], seq_mask [*, N], chi_mask [*, N, 4], chi_angles_sin_cos [*, N, 4, 2].
// chi_weight * (masked mean of the chi errors) + angle_norm_weight * (masked mean of
// |sqrt(|u|^2 + eps) - 1| over all 7 torsions of the residues in seq_mask); the masked
// means over (layers, residues, angles) with OpenFold's masked_mean. Returns [].
at::Tensor supervised_chi_loss(const at::Tensor& angles_sin_cos, const at::Tensor& unnormalized_angles_sin_cos,
                               const at::Tensor& aatype, const at::Tensor& seq_mask, const at::Tensor& chi_mask,
                               const at::Tensor& chi_angles_sin_cos, const SupervisedChiLossOptions& options = {});

}  // namespace fold::loss
