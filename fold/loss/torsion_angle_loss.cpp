#include "fold/loss/torsion_angle_loss.h"

#include <ATen/ATen.h>

#include "data/residue_constants.h"
#include "fold/config_section.h"
#include "fold/loss/common.h"

namespace fold::loss {

namespace {

namespace rc = fold::data::rc;

// 1 for the chis whose atoms are symmetric under a half turn (ASP chi2, GLU chi3, PHE
// chi2, TYR chi2), per residue type, with a zero row for the gap token: [22, 4].
at::Tensor chi_pi_periodic_table(const at::TensorOptions& options) {
  at::Tensor t = at::zeros({rc::kNumRestypesWithX + 1, rc::kNumChi}, at::kFloat);
  const auto& table = rc::chi_pi_periodic();
  for (int r = 0; r < rc::kNumRestypesWithX; ++r)
    for (int c = 0; c < rc::kNumChi; ++c) t[r][c] = table[r][c];
  return t.to(options);
}

}  // namespace

SupervisedChiLossOptions SupervisedChiLossOptions::from_config(const Config& c) {
  SupervisedChiLossOptions o;
  read_section(c, "loss.supervised_chi", {{"chi_weight", &o.chi_weight}, {"angle_norm_weight", &o.angle_norm_weight},
                                          {"eps", &o.eps}, {"weight", &o.weight}});
  return o;
}

at::Tensor supervised_chi_loss(const at::Tensor& angles_sin_cos, const at::Tensor& unnormalized_angles_sin_cos,
                               const at::Tensor& aatype, const at::Tensor& seq_mask, const at::Tensor& chi_mask,
                               const at::Tensor& chi_angles_sin_cos, const SupervisedChiLossOptions& o) {
  const at::Tensor angles = loss_precision(angles_sin_cos);
  const at::Tensor pred_chi = angles.narrow(-2, 3, rc::kNumChi);  // [L, *, N, 4, 2]
  const at::Tensor periodic =
      chi_pi_periodic_table(angles.options()).index_select(0, aatype.reshape({-1}).to(at::kLong))
          .reshape(chi_mask.sizes());  // [*, N, 4]
  const at::Tensor true_chi = loss_precision(chi_angles_sin_cos).to(angles.scalar_type());
  const at::Tensor true_chi_shifted = (1.0 - 2.0 * periodic).unsqueeze(-1) * true_chi;
  const at::Tensor sq_error = at::minimum((true_chi - pred_chi).pow(2).sum(-1),
                                          (true_chi_shifted - pred_chi).pow(2).sum(-1));  // [L, *, N, 4]
  // Layers next to residues, so that one masked mean covers (layers, residues, chis).
  const at::Tensor chi_loss =
      masked_mean(loss_precision(chi_mask).unsqueeze(-3), sq_error.movedim(0, -3), {-1, -2, -3});

  const at::Tensor u = loss_precision(unnormalized_angles_sin_cos);
  const at::Tensor norm_error = (at::sqrt(u.pow(2).sum(-1) + o.eps) - 1.0).abs();  // [L, *, N, 7]
  const at::Tensor norm_loss = masked_mean(loss_precision(seq_mask).unsqueeze(-2).unsqueeze(-1),
                                           norm_error.movedim(0, -3), {-1, -2, -3});
  return (o.chi_weight * chi_loss + o.angle_norm_weight * norm_loss).mean();
}

}  // namespace fold::loss
