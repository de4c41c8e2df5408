#include "fold/loss/experimentally_resolved_loss.h"

#include <ATen/ATen.h>

#include "fold/config_section.h"
#include "fold/loss/common.h"

namespace fold::loss {

ExperimentallyResolvedLossOptions ExperimentallyResolvedLossOptions::from_config(const Config& c) {
  ExperimentallyResolvedLossOptions o;
  read_section(c, "loss.experimentally_resolved", {{"min_resolution", &o.min_resolution},
                                                   {"max_resolution", &o.max_resolution}, {"eps", &o.eps},
                                                   {"weight", &o.weight}});
  return o;
}

at::Tensor experimentally_resolved_loss(const at::Tensor& logits_in, const at::Tensor& atom37_atom_exists,
                                        const at::Tensor& all_atom_mask, const at::Tensor& resolution,
                                        const ExperimentallyResolvedLossOptions& o) {
  const at::Tensor logits = loss_precision(logits_in);
  const at::Tensor exists = loss_precision(atom37_atom_exists).to(logits.scalar_type());
  const at::Tensor errors = sigmoid_cross_entropy(logits, loss_precision(all_atom_mask));
  const at::Tensor per_residue = (errors * exists).sum(-1) / (o.eps + exists.sum({-1, -2})).unsqueeze(-1);
  const at::Tensor loss = per_residue.sum(-1);
  return (loss * resolution_filter(loss_precision(resolution), o.min_resolution, o.max_resolution, loss)).mean();
}

}  // namespace fold::loss
