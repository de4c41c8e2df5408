#include "fold/loss/chain_center_of_mass_loss.h"

#include <ATen/ATen.h>

#include <stdexcept>

#include "data/residue_constants.h"
#include "fold/config_section.h"
#include "fold/loss/common.h"

namespace fold::loss {

ChainCenterOfMassLossOptions ChainCenterOfMassLossOptions::from_config(const Config& c) {
  ChainCenterOfMassLossOptions o;
  read_section(c, "loss.chain_center_of_mass", {{"enabled", &o.enabled}, {"clamp_distance", &o.clamp_distance},
                                                {"weight", &o.weight}, {"eps", &o.eps}});
  return o;
}

at::Tensor chain_center_of_mass_loss(const at::Tensor& all_atom_pred_pos, const at::Tensor& all_atom_positions,
                                     const at::Tensor& all_atom_mask, const at::Tensor& asym_id,
                                     const ChainCenterOfMassLossOptions& o) {
  if (all_atom_pred_pos.dim() < 3 || all_atom_pred_pos.sizes() != all_atom_positions.sizes() ||
      asym_id.sizes() != all_atom_pred_pos.sizes().slice(0, all_atom_pred_pos.dim() - 2))
    throw std::invalid_argument("chain_center_of_mass_loss: expected positions [*, N, 37, 3] (predicted and true "
                                "alike) and asym_id [*, N]");
  const int64_t ca = data::rc::atom_order("CA");
  const at::Tensor pred = loss_precision(all_atom_pred_pos).select(-2, ca);  // [*, N, 3]
  const at::Tensor truth = loss_precision(all_atom_positions).select(-2, ca).to(pred.scalar_type());
  const at::Tensor resolved = loss_precision(all_atom_mask).select(-1, ca).to(pred.scalar_type());  // [*, N]
  const at::Tensor asym = asym_id.to(at::kLong);
  if (asym.numel() && asym.min().item<int64_t>() < 0)
    throw std::invalid_argument("chain_center_of_mass_loss: asym_id holds negative chain numbers");
  const int64_t chains = asym.numel() ? asym.max().item<int64_t>() + 1 : 1;
  // [*, C, N]: which resolved C-alpha atoms belong to chain c.
  const at::Tensor members = (at::one_hot(asym, chains).to(pred.scalar_type()) * resolved.unsqueeze(-1)).transpose(-1, -2);
  const at::Tensor chain_exists = (members > 0).any(-1).to(pred.scalar_type());  // [*, C]
  const auto centres = [&](const at::Tensor& x) {  // [*, C, 3], summed in OpenFold's order
    return (members.unsqueeze(-1) * x.unsqueeze(-3)).sum(-2) / (members.sum(-1, true) + o.eps);
  };
  const auto distances = [&](const at::Tensor& c) {  // [*, C, C], floored at eps as OpenFold's
    return at::sqrt(at::clamp_min((c.unsqueeze(-2) - c.unsqueeze(-3)).pow(2).sum(-1), o.eps * o.eps));
  };
  const at::Tensor losses =
      at::clamp_max(o.weight * (distances(centres(pred)) - distances(centres(truth)) - o.clamp_distance), 0.0).pow(2);
  const at::Tensor pair_mask = chain_exists.unsqueeze(-1) * chain_exists.unsqueeze(-2);
  return masked_mean(pair_mask, losses, {-1, -2});
}

}  // namespace fold::loss
