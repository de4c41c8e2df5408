#include "fold/loss/alphafold_loss.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <cmath>
#include <iostream>
#include <stdexcept>
#include <utility>
#include <vector>

#include "fold/loss/common.h"
#include "fold/loss/distogram_loss.h"
#include "fold/loss/experimentally_resolved_loss.h"
#include "fold/loss/fape.h"
#include "fold/loss/masked_msa_loss.h"
#include "fold/loss/plddt_loss.h"
#include "fold/loss/structural_violations.h"
#include "fold/loss/tm_loss.h"
#include "fold/loss/torsion_angle_loss.h"

namespace fold::loss {

LossOptions LossOptions::from_config(const Config& c) {
  LossOptions o;
  o.distogram_min_bin = c.get_float("loss.distogram.min_bin");
  o.distogram_max_bin = c.get_float("loss.distogram.max_bin");
  o.distogram_no_bins = c.get_int("loss.distogram.no_bins");
  o.distogram_eps = c.get_float("loss.distogram.eps");
  o.distogram_weight = c.get_float("loss.distogram.weight");
  o.experimentally_resolved_eps = c.get_float("loss.experimentally_resolved.eps");
  o.experimentally_resolved_min_resolution = c.get_float("loss.experimentally_resolved.min_resolution");
  o.experimentally_resolved_max_resolution = c.get_float("loss.experimentally_resolved.max_resolution");
  o.experimentally_resolved_weight = c.get_float("loss.experimentally_resolved.weight");
  o.fape_eps = c.get_float("loss.fape.eps");
  o.fape_weight = c.get_float("loss.fape.weight");
  o.backbone_clamp_distance = c.get_float("loss.fape.backbone.clamp_distance");
  o.backbone_loss_unit_distance = c.get_float("loss.fape.backbone.loss_unit_distance");
  o.backbone_weight = c.get_float("loss.fape.backbone.weight");
  o.sidechain_clamp_distance = c.get_float("loss.fape.sidechain.clamp_distance");
  o.sidechain_length_scale = c.get_float("loss.fape.sidechain.length_scale");
  o.sidechain_weight = c.get_float("loss.fape.sidechain.weight");
  o.plddt_min_resolution = c.get_float("loss.plddt_loss.min_resolution");
  o.plddt_max_resolution = c.get_float("loss.plddt_loss.max_resolution");
  o.plddt_cutoff = c.get_float("loss.plddt_loss.cutoff");
  o.plddt_no_bins = c.get_int("loss.plddt_loss.no_bins");
  o.plddt_eps = c.get_float("loss.plddt_loss.eps");
  o.plddt_weight = c.get_float("loss.plddt_loss.weight");
  o.masked_msa_num_classes = c.get_int("loss.masked_msa.num_classes");
  o.masked_msa_eps = c.get_float("loss.masked_msa.eps");
  o.masked_msa_weight = c.get_float("loss.masked_msa.weight");
  o.chi_weight = c.get_float("loss.supervised_chi.chi_weight");
  o.angle_norm_weight = c.get_float("loss.supervised_chi.angle_norm_weight");
  o.supervised_chi_eps = c.get_float("loss.supervised_chi.eps");
  o.supervised_chi_weight = c.get_float("loss.supervised_chi.weight");
  o.violation_tolerance_factor = c.get_float("loss.violation.violation_tolerance_factor");
  o.clash_overlap_tolerance = c.get_float("loss.violation.clash_overlap_tolerance");
  o.average_clashes = c.get_bool("loss.violation.average_clashes");
  o.violation_eps = c.get_float("loss.violation.eps");
  o.violation_weight = c.get_float("loss.violation.weight");
  o.tm_enabled = c.get_bool("loss.tm.enabled");
  o.tm_max_bin = c.get_float("loss.tm.max_bin");
  o.tm_no_bins = c.get_int("loss.tm.no_bins");
  o.tm_min_resolution = c.get_float("loss.tm.min_resolution");
  o.tm_max_resolution = c.get_float("loss.tm.max_resolution");
  o.tm_eps = c.get_float("loss.tm.eps");
  o.tm_weight = c.get_float("loss.tm.weight");
  return o;
}

LossBreakdown alphafold_loss(const data::FeatureDict& outputs, const data::FeatureDict& batch, const LossOptions& o) {
  const std::string who = "alphafold_loss";
  const auto in = [&](const char* name) { return feature(batch, name, who); };
  const auto out = [&](const char* name) { return feature(outputs, name, who); };
  // Every term sees the truth the same way: the renamed side chains that best fit the
  // final layer's atoms (Algorithm 26), the violations of those atoms.
  const at::Tensor final_atom14 = out("sm/positions").select(0, -1);
  ViolationOptions violation_options;
  violation_options.violation_tolerance_factor = o.violation_tolerance_factor;
  violation_options.clash_overlap_tolerance = o.clash_overlap_tolerance;
  violation_options.eps = o.violation_eps;
  violation_options.average_clashes = o.average_clashes;
  const std::map<std::string, at::Tensor> violations =
      find_structural_violations(batch, final_atom14, violation_options);
  const RenamedGroundTruth renamed = compute_renamed_ground_truth(batch, final_atom14);

  FapeOptions fape;
  fape.backbone_clamp_distance = o.backbone_clamp_distance;
  fape.backbone_loss_unit_distance = o.backbone_loss_unit_distance;
  fape.backbone_weight = o.backbone_weight;
  fape.sidechain_clamp_distance = o.sidechain_clamp_distance;
  fape.sidechain_length_scale = o.sidechain_length_scale;
  fape.sidechain_weight = o.sidechain_weight;
  fape.eps = o.fape_eps;

  // OpenFold's order and names, each with its weight.
  std::vector<std::pair<std::string, double>> weights;
  LossBreakdown r;
  const auto add = [&](const std::string& name, double weight, const at::Tensor& value) {
    r.terms[name] = value;
    weights.emplace_back(name, weight);
  };
  add("distogram", o.distogram_weight,
      distogram_loss(out("distogram_logits"), in("pseudo_beta"), in("pseudo_beta_mask"), o.distogram_min_bin,
                     o.distogram_max_bin, o.distogram_no_bins, o.distogram_eps));
  add("experimentally_resolved", o.experimentally_resolved_weight,
      experimentally_resolved_loss(out("experimentally_resolved_logits"), in("atom37_atom_exists"),
                                   in("all_atom_mask"), in("resolution"), o.experimentally_resolved_min_resolution,
                                   o.experimentally_resolved_max_resolution, o.experimentally_resolved_eps));
  add("fape", o.fape_weight, fape_loss(outputs, batch, renamed, fape));
  add("plddt_loss", o.plddt_weight,
      plddt_loss(out("lddt_logits"), out("final_atom_positions"), in("all_atom_positions"), in("all_atom_mask"),
                 in("resolution"), o.plddt_cutoff, o.plddt_no_bins, o.plddt_min_resolution, o.plddt_max_resolution,
                 o.plddt_eps));
  add("masked_msa", o.masked_msa_weight,
      masked_msa_loss(out("masked_msa_logits"), in("true_msa"), in("bert_mask"), o.masked_msa_num_classes,
                      o.masked_msa_eps));
  add("supervised_chi", o.supervised_chi_weight,
      supervised_chi_loss(out("sm/angles"), out("sm/unnormalized_angles"), in("aatype"), in("seq_mask"),
                          in("chi_mask"), in("chi_angles_sin_cos"), o.chi_weight, o.angle_norm_weight,
                          o.supervised_chi_eps));
  add("violation", o.violation_weight, violation_loss(violations, in("atom14_atom_exists"), violation_options));
  if (o.tm_enabled)
    add("tm", o.tm_weight,
        tm_loss(out("tm_logits"), out("final_affine_tensor"), in("backbone_rigid_tensor"), in("backbone_rigid_mask"),
                in("resolution"), o.tm_max_bin, o.tm_no_bins, o.tm_min_resolution, o.tm_max_resolution, o.tm_eps));

  // A non-finite term is left out of the total, as OpenFold does ("loss is NaN.
  // Skipping..."); it stays in `terms` for the log to show. One host sync for all.
  std::vector<at::Tensor> values;
  for (const auto& [name, w] : weights) values.push_back(r.terms.at(name).reshape({}));
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
  if (!total.defined()) total = at::zeros({}, values.front().options());

  // Supplement 1.9: scaled by the square root of the crop size, or of the (mean)
  // sequence length when the chain is shorter than the crop.
  const double seq_length = in("seq_length").to(at::kDouble).mean().item<double>();
  const double crop_length = static_cast<double>(in("aatype").size(-1));
  r.unscaled_total = total.detach();
  r.total = total * std::sqrt(std::min(seq_length, crop_length));

  for (const auto& [name, t] : violations) r.violation[name] = t.detach();
  return r;
}

void check_loss_features(const data::FeatureDict& batch) {
  // Every term reads its features whatever its weight (weight-0 terms are still logged).
  const std::vector<std::string> names = {
      "aatype", "seq_mask", "residue_index", "seq_length", "resolution", "true_msa", "bert_mask",
      "all_atom_positions", "all_atom_mask", "atom37_atom_exists", "atom14_atom_exists", "residx_atom14_to_atom37",
      "atom14_gt_positions", "atom14_gt_exists", "atom14_alt_gt_positions", "atom14_alt_gt_exists",
      "atom14_atom_is_ambiguous", "rigidgroups_gt_frames", "rigidgroups_alt_gt_frames", "rigidgroups_gt_exists",
      "backbone_rigid_tensor", "backbone_rigid_mask", "chi_angles_sin_cos", "chi_mask", "pseudo_beta",
      "pseudo_beta_mask"};
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
