#include "fold/loss/alphafold_loss.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <iostream>
#include <stdexcept>
#include <utility>
#include <vector>

#include "fold/loss/chain_permutation.h"
#include "fold/loss/common.h"

namespace fold::loss {

LossOptions LossOptions::from_config(const Config& c) {
  LossOptions o;
  o.distogram = DistogramLossOptions::from_config(c);
  o.experimentally_resolved = ExperimentallyResolvedLossOptions::from_config(c);
  o.fape = FapeOptions::from_config(c);
  o.plddt = PlddtLossOptions::from_config(c);
  o.masked_msa = MaskedMsaLossOptions::from_config(c);
  o.supervised_chi = SupervisedChiLossOptions::from_config(c);
  o.violation = ViolationOptions::from_config(c);
  o.tm = TmLossOptions::from_config(c);
  o.chain_center_of_mass = ChainCenterOfMassLossOptions::from_config(c);
  o.multimer = c.get_bool("globals.is_multimer");
  return o;
}

namespace {

// The weighted sum of the terms named in `weights`. A non-finite term is left out of the
// total, as OpenFold does ("loss is NaN. Skipping..."); it stays in `terms` for the log
// to show. One host sync for all.
at::Tensor weighted_sum_of_finite(const std::map<std::string, at::Tensor>& terms,
                                  const std::vector<std::pair<std::string, double>>& weights) {
  std::vector<at::Tensor> values;
  for (const auto& [name, w] : weights) values.push_back(terms.at(name).reshape({}));
  const at::Tensor finite = at::isfinite(at::stack(values)).cpu();
  at::Tensor total;
  for (size_t k = 0; k < weights.size(); ++k) {
    const auto& [name, weight] = weights[k];
    if (!finite[static_cast<int64_t>(k)].item<bool>()) {
      std::cerr << "warning: " << name << " loss is not finite; left out of the total\n";
      continue;
    }
    if (weight == 0.0) continue;
    const at::Tensor term = weight * values[k];
    total = total.defined() ? total + term : term;
  }
  return total.defined() ? total : at::zeros({}, values.front().options());
}

}  // namespace

LossBreakdown alphafold_loss(const data::FeatureDict& outputs, const data::FeatureDict& batch_in, const LossOptions& o) {
  const std::string who = "alphafold_loss";
  if (o.multimer) check_loss_features(batch_in, true);
  // A complex's interchangeable chains are matched to the prediction before any term
  // reads the truth (OpenFold permutes the batch before its AlphaFoldLoss).
  const data::FeatureDict batch = o.multimer ? permute_ground_truth_chains(outputs, batch_in) : batch_in;
  const auto in = [&](const char* name) { return feature(batch, name, who); };
  const auto out = [&](const char* name) { return feature(outputs, name, who); };
  // Every term sees the truth the same way: the renamed side chains that best fit the
  // final layer's atoms (Algorithm 26), the violations of those atoms.
  const at::Tensor final_atom14 = out("sm/positions").select(0, -1);
  const std::map<std::string, at::Tensor> violations = find_structural_violations(batch, final_atom14, o.violation);
  const RenamedGroundTruth renamed = compute_renamed_ground_truth(batch, final_atom14);

  // The table of terms, in OpenFold's order and with its names: whether the term is on,
  // its weight, and its value from the outputs, the batch and its own options.
  struct Term {
    const char* name;
    bool enabled;
    double weight;
    std::function<at::Tensor()> value;
  };
  const std::vector<Term> table = {
      {"distogram", true, o.distogram.weight,
       [&] { return distogram_loss(out("distogram_logits"), in("pseudo_beta"), in("pseudo_beta_mask"), o.distogram); }},
      {"experimentally_resolved", true, o.experimentally_resolved.weight,
       [&] {
         return experimentally_resolved_loss(out("experimentally_resolved_logits"), in("atom37_atom_exists"),
                                             in("all_atom_mask"), in("resolution"), o.experimentally_resolved);
       }},
      {"fape", true, o.fape.weight, [&] { return fape_loss(outputs, batch, renamed, o.fape); }},
      {"plddt_loss", true, o.plddt.weight,
       [&] {
         return plddt_loss(out("lddt_logits"), out("final_atom_positions"), in("all_atom_positions"),
                           in("all_atom_mask"), in("resolution"), o.plddt);
       }},
      {"masked_msa", true, o.masked_msa.weight,
       [&] { return masked_msa_loss(out("masked_msa_logits"), in("true_msa"), in("bert_mask"), o.masked_msa); }},
      {"supervised_chi", true, o.supervised_chi.weight,
       [&] {
         return supervised_chi_loss(out("sm/angles"), out("sm/unnormalized_angles"), in("aatype"), in("seq_mask"),
                                    in("chi_mask"), in("chi_angles_sin_cos"), o.supervised_chi);
       }},
      {"violation", true, o.violation.weight,
       [&] { return violation_loss(violations, in("atom14_atom_exists"), o.violation); }},
      {"tm", o.tm.enabled, o.tm.weight,
       [&] {
         return tm_loss(out("tm_logits"), out("final_affine_tensor"), in("backbone_rigid_tensor"),
                        in("backbone_rigid_mask"), in("resolution"), o.tm);
       }},
      {"chain_center_of_mass", o.chain_center_of_mass.enabled, o.chain_center_of_mass.weight,
       [&] {
         return chain_center_of_mass_loss(out("final_atom_positions"), in("all_atom_positions"), in("all_atom_mask"),
                                          data::require_feature(batch, "asym_id", who), o.chain_center_of_mass)
             .mean();
       }},
  };
  LossBreakdown r;
  std::vector<std::pair<std::string, double>> weights;
  for (const Term& term : table) {
    if (!term.enabled) continue;
    r.terms[term.name] = term.value();
    weights.emplace_back(term.name, term.weight);
  }

  const at::Tensor total = weighted_sum_of_finite(r.terms, weights);

  // Supplement 1.9: scaled by the square root of the crop size, or of the (mean)
  // sequence length when the chain is shorter than the crop.
  const double seq_length = in("seq_length").to(at::kDouble).mean().item<double>();
  const double crop_length = static_cast<double>(in("aatype").size(-1));
  r.unscaled_total = total.detach();
  r.total = total * std::sqrt(std::min(seq_length, crop_length));

  for (const auto& [name, t] : violations) r.violation[name] = t.detach();
  return r;
}

void check_loss_features(const data::FeatureDict& batch, bool multimer) {
  // Every term reads its features whatever its weight (weight-0 terms are still logged).
  std::vector<std::string> names = {
      "aatype", "seq_mask", "residue_index", "seq_length", "resolution", "true_msa", "bert_mask",
      "all_atom_positions", "all_atom_mask", "atom37_atom_exists", "atom14_atom_exists", "residx_atom14_to_atom37",
      "atom14_gt_positions", "atom14_gt_exists", "atom14_alt_gt_positions", "atom14_alt_gt_exists",
      "atom14_atom_is_ambiguous", "rigidgroups_gt_frames", "rigidgroups_alt_gt_frames", "rigidgroups_gt_exists",
      "backbone_rigid_tensor", "backbone_rigid_mask", "chi_angles_sin_cos", "chi_mask", "pseudo_beta",
      "pseudo_beta_mask"};
  if (multimer) names.insert(names.end(), {"asym_id", "entity_id"});
  std::string missing;
  for (const auto& name : names)
    if (!batch.count(name)) missing += (missing.empty() ? "" : ", ") + name;
  if (!missing.empty())
    throw std::invalid_argument("the loss needs ground-truth features the batch lacks: " + missing +
                                " (a training / eval batch: OpenFold's supervised features)");
}

data::FeatureDict loss_arrays(const LossBreakdown& r) {
  data::FeatureDict out;
  for (const auto& [name, t] : r.terms) out["loss/" + name] = t.detach();
  out["loss/loss"] = r.total.detach();
  out["loss/unscaled_loss"] = r.unscaled_total;
  for (const auto& [name, t] : r.violation) out["violation/" + name] = t;
  return out;
}

}  // namespace fold::loss
