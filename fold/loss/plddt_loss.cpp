#include "fold/loss/plddt_loss.h"

#include <ATen/ATen.h>

#include "fold/loss/common.h"
#include "fold/validation_metrics.h"

namespace fold::loss {

at::Tensor plddt_loss(const at::Tensor& logits_in, const at::Tensor& all_atom_pred_pos,
                      const at::Tensor& all_atom_positions, const at::Tensor& all_atom_mask,
                      const at::Tensor& resolution, double cutoff, int64_t no_bins, double min_resolution,
                      double max_resolution, double eps) {
  const at::Tensor logits = loss_precision(logits_in);
  const auto dtype = logits.scalar_type();
  const at::Tensor ca_mask = loss_precision(all_atom_mask).to(dtype).narrow(-1, 1, 1);  // [*, N, 1]
  at::Tensor score;
  {
    at::NoGradGuard no_grad;
    score = lddt_ca(loss_precision(all_atom_pred_pos).detach().to(dtype), loss_precision(all_atom_positions).to(dtype),
                    loss_precision(all_atom_mask).to(dtype), cutoff, eps, /*per_residue=*/true);
    // OpenFold's guard: a NaN score (no scored pair at all) takes the mean of the others.
    score = at::where(at::isnan(score), at::nanmean(score), score).clamp_min(0.0);
  }
  const at::Tensor bins = at::floor(score * static_cast<double>(no_bins)).to(at::kLong).clamp_max(no_bins - 1);
  const at::Tensor errors = softmax_cross_entropy(logits, bins);
  const at::Tensor m = ca_mask.squeeze(-1);
  const at::Tensor loss = (errors * m).sum(-1) / (eps + m.sum(-1));
  return (loss * resolution_filter(loss_precision(resolution), min_resolution, max_resolution, loss)).mean();
}

}  // namespace fold::loss
