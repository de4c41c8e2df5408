#include "fold/loss/distogram_loss.h"

#include <ATen/ATen.h>

#include "fold/config_section.h"
#include "fold/loss/common.h"

namespace fold::loss {

DistogramLossOptions DistogramLossOptions::from_config(const Config& c) {
  DistogramLossOptions o;
  read_section(c, "loss.distogram", {{"min_bin", &o.min_bin}, {"max_bin", &o.max_bin}, {"no_bins", &o.no_bins},
                                     {"eps", &o.eps}, {"weight", &o.weight}});
  return o;
}

at::Tensor distogram_loss(const at::Tensor& logits_in, const at::Tensor& pseudo_beta,
                          const at::Tensor& pseudo_beta_mask, const DistogramLossOptions& o) {
  const at::Tensor logits = loss_precision(logits_in);
  const at::Tensor x = loss_precision(pseudo_beta).to(logits.scalar_type());
  // Squared distances against squared edges, so no square root is taken.
  const at::Tensor edges = at::linspace(o.min_bin, o.max_bin, o.no_bins - 1, logits.options()).pow(2);
  const at::Tensor d2 = (x.unsqueeze(-2) - x.unsqueeze(-3)).pow(2).sum(-1, true);  // [*, N, N, 1]
  const at::Tensor true_bins = (d2 > edges).sum(-1);
  const at::Tensor errors = softmax_cross_entropy(logits, true_bins);
  const at::Tensor m = loss_precision(pseudo_beta_mask).to(logits.scalar_type());
  const at::Tensor square_mask = m.unsqueeze(-1) * m.unsqueeze(-2);
  // Row sums first, each divided by the total, as OpenFold (fp16-friendly partial sums).
  const at::Tensor denom = o.eps + square_mask.sum({-1, -2});
  return ((errors * square_mask).sum(-1) / denom.unsqueeze(-1)).sum(-1).mean();
}

}  // namespace fold::loss
