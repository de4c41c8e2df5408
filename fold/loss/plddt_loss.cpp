#include "fold/loss/plddt_loss.h"

#include <ATen/ATen.h>

#include "fold/config_section.h"
#include "fold/loss/common.h"
#include "fold/loss/validation_metrics.h"

namespace fold::loss {

PlddtLossOptions PlddtLossOptions::from_config(const Config& c) {
  PlddtLossOptions o;
  read_section(c, "loss.plddt_loss", {{"cutoff", &o.cutoff}, {"no_bins", &o.no_bins},
                                      {"min_resolution", &o.min_resolution}, {"max_resolution", &o.max_resolution},
                                      {"eps", &o.eps}, {"weight", &o.weight}});
  return o;
}

at::Tensor plddt_loss(const at::Tensor& logits_in, const at::Tensor& all_atom_pred_pos,
                      const at::Tensor& all_atom_positions, const at::Tensor& all_atom_mask,
                      const at::Tensor& resolution, const PlddtLossOptions& o) {
  const at::Tensor logits = loss_precision(logits_in);
  const auto dtype = logits.scalar_type();
  const at::Tensor ca_mask = loss_precision(all_atom_mask).to(dtype).narrow(-1, 1, 1);  // [*, N, 1]
  at::Tensor score;
  {
    at::NoGradGuard no_grad;
    score = lddt_ca(loss_precision(all_atom_pred_pos).detach().to(dtype), loss_precision(all_atom_positions).to(dtype),
                    loss_precision(all_atom_mask).to(dtype), o.cutoff, o.eps, /*per_residue=*/true);
    // OpenFold's guard: a NaN score (no scored pair at all) takes the mean of the others.
    score = at::where(at::isnan(score), at::nanmean(score), score).clamp_min(0.0);
  }
  const at::Tensor bins = at::floor(score * static_cast<double>(o.no_bins)).to(at::kLong).clamp_max(o.no_bins - 1);
  const at::Tensor errors = softmax_cross_entropy(logits, bins);
  const at::Tensor m = ca_mask.squeeze(-1);
  const at::Tensor loss = (errors * m).sum(-1) / (o.eps + m.sum(-1));
  return (loss * resolution_filter(loss_precision(resolution), o.min_resolution, o.max_resolution, loss)).mean();
}

}  // namespace fold::loss
