#include "fold/features/training_sample.h"

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>

#include <algorithm>
#include <limits>
#include <set>
#include <string>

#include "data/residue_constants.h"
#include "data/template_hit_features.h"
#include "fold/features/feature_pipeline.h"
#include "structure_module/all_atom.h"

namespace fold::features {

using namespace data;

int64_t uniform_int(at::Generator& gen, int64_t low, int64_t high) {
  return at::randint(low, high + 1, {1}, gen, at::kLong).item<int64_t>();
}

double uniform01(at::Generator& gen) { return at::rand({1}, gen, at::kDouble).item<double>(); }

uint64_t draw_seed(at::Generator& gen) {
  return static_cast<uint64_t>(at::randint(std::numeric_limits<int64_t>::max(), {1}, gen, at::kLong).item<int64_t>());
}

void crop_residues(FeatureDict& f, const at::Tensor& keep) {
  // Per residue, and MSA-shaped (residues on dim 1); a complex's chain features too.
  for (const char* name : {"aatype", "residue_index", "seq_mask", "target_feat", "asym_id", "entity_id", "sym_id"})
    if (f.count(name)) f[name] = f[name].index_select(0, keep);
  for (const char* name : {"msa_feat", "msa_mask", "bert_mask", "true_msa", "deletion_matrix", "extra_msa",
                           "extra_msa_mask", "extra_has_deletion", "extra_deletion_value", "extra_deletion_matrix"})
    if (f.count(name)) f[name] = f[name].index_select(1, keep);
}

at::Tensor block_delete_msa_rows(int64_t depth, const TrainingOptions& o, at::Generator& gen) {
  const auto block = static_cast<int64_t>(std::floor(depth * o.msa_fraction_per_block));
  if (!o.block_delete_msa || block == 0 || depth < 2) return at::arange(depth, at::kLong);
  const int64_t blocks = o.randomize_num_blocks ? uniform_int(gen, 0, o.num_blocks) : o.num_blocks;
  at::Tensor deleted = at::zeros({depth}, at::kBool);
  const at::Tensor starts = at::randint(1, depth, {blocks}, gen, at::kLong);
  for (int64_t b = 0; b < blocks; ++b) {
    const int64_t s = starts[b].item<int64_t>();
    deleted.slice(0, s, std::min(depth, s + block)).fill_(true);
  }
  return deleted.logical_not().nonzero().squeeze(-1);
}

at::Tensor crop_indices(const ChainRecord& r, const TrainingOptions& o, bool clamped, at::Generator& gen) {
  const int64_t l = r.length();
  const int64_t n = std::max<int64_t>(0, l - o.crop_size);
  // Every draw happens whatever the branch, so the draws after it do not depend on it.
  const bool spatial = uniform01(gen) < o.spatial_crop_prob;
  const int64_t x = uniform_int(gen, 0, n);
  const double u = uniform01(gen), v = uniform01(gen);
  if (o.crop_size <= 0 || l <= o.crop_size) return at::arange(l, at::kLong);
  if (!spatial) {
    // OpenFold's random_crop_to_size: a right anchor (the chain's end for clamped-FAPE
    // samples), then a start at or left of it, which favours crops near the N terminus.
    const int64_t right_anchor = clamped ? n : n - x;
    const auto start = std::min(right_anchor, static_cast<int64_t>(v * (right_anchor + 1)));
    return at::arange(start, start + o.crop_size, at::kLong);
  }
  // Spatial (AF-Multimer's crop without interfaces): the crop_size residues whose CA is
  // nearest the CA of a random resolved residue, ties and unresolved residues taken in
  // chain order.
  const int64_t ca = rc::atom_order("CA");
  const at::Tensor resolved = r.atom_mask.select(1, ca) > 0;
  const at::Tensor candidates = resolved.nonzero().squeeze(-1);
  const int64_t centre = candidates[std::min<int64_t>(candidates.size(0) - 1, u * candidates.size(0))].item<int64_t>();
  const at::Tensor ca_pos = r.atom_positions.select(1, ca).to(at::kDouble);
  at::Tensor distance = (ca_pos - ca_pos[centre]).norm(2, -1);
  distance = at::where(resolved, distance, at::full_like(distance, 1e6)) + at::arange(l, at::kDouble) * 1e-3;
  return std::get<0>(at::sort(std::get<1>(at::topk(distance, o.crop_size, 0, /*largest=*/false))));
}

FeatureDict make_ground_truth_features(const at::Tensor& aatype_in, const at::Tensor& positions, const at::Tensor& mask_in) {
  namespace st = fold::structure;
  const at::Tensor aatype = aatype_in.to(at::kLong);
  const at::Tensor mask = mask_in.to(at::kFloat);
  FeatureDict f;
  f["all_atom_positions"] = positions;
  f["all_atom_mask"] = mask;
  const st::Atom14GroundTruth atoms = st::atom14_ground_truth(aatype, positions, mask);
  f["residx_atom14_to_atom37"] = atoms.residx_atom14_to_atom37;
  f["residx_atom37_to_atom14"] = atoms.residx_atom37_to_atom14;
  f["atom14_atom_exists"] = atoms.atom14_atom_exists;
  f["atom37_atom_exists"] = atoms.atom37_atom_exists;
  f["atom14_gt_exists"] = atoms.gt_exists;
  f["atom14_gt_positions"] = atoms.gt_positions;
  f["atom14_alt_gt_positions"] = atoms.alt_gt_positions;
  f["atom14_alt_gt_exists"] = atoms.alt_gt_exists;
  f["atom14_atom_is_ambiguous"] = atoms.atom_is_ambiguous;

  const st::RigidGroupFrames groups = st::atom37_to_frames(aatype, positions, mask);
  f["rigidgroups_gt_frames"] = groups.frames.to_tensor_4x4();
  f["rigidgroups_alt_gt_frames"] = groups.alt_frames.to_tensor_4x4();
  f["rigidgroups_gt_exists"] = groups.gt_exists;
  f["rigidgroups_group_exists"] = groups.group_exists;
  f["rigidgroups_group_is_ambiguous"] = groups.group_is_ambiguous;
  f["backbone_rigid_tensor"] = f["rigidgroups_gt_frames"].select(1, 0);
  f["backbone_rigid_mask"] = groups.gt_exists.select(1, 0);

  const st::TorsionAngles torsions = st::atom37_to_torsion_angles(aatype, positions, mask);
  f["torsion_angles_sin_cos"] = torsions.sin_cos;
  f["alt_torsion_angles_sin_cos"] = torsions.alt_sin_cos;
  f["torsion_angles_mask"] = torsions.mask;
  f["chi_angles_sin_cos"] = torsions.sin_cos.slice(1, 3);
  f["chi_mask"] = torsions.mask.slice(1, 3);
  f["pseudo_beta"] = st::pseudo_beta(aatype, positions);
  f["pseudo_beta_mask"] = st::pseudo_beta_mask(aatype, mask);
  return f;
}

FeatureDict chain_template_features(const ChainRecord& r, const TrainingOptions& o, at::Generator& gen) {
  std::vector<TemplateFeatures> chosen;
  if (o.sampling.use_templates && !o.template_mmcif_dir.empty() && !r.template_hits.empty() && o.sampling.max_templates > 0) {
    TemplateSearchOptions search;
    search.mmcif_dir = o.template_mmcif_dir;
    // A template may not postdate the chain it helps to predict.
    search.max_template_date = r.release_date;
    search.max_hits = o.max_template_hits;
    const TemplateSearchResult found = find_template_features(r.sequence, r.template_hits, search);
    const auto available = static_cast<int64_t>(found.templates.size());
    const int64_t count = o.subsample_templates ? uniform_int(gen, 0, std::min(available, o.sampling.max_templates))
                                                : std::min(available, o.sampling.max_templates);
    const at::Tensor order = o.subsample_templates ? at::randperm(available, gen, at::kLong)
                                                   : at::arange(available, at::kLong);
    for (int64_t i = 0; i < count; ++i) chosen.push_back(found.templates[order[i].item<int64_t>()]);
  }
  return make_template_features(r.length(), chosen);
}

FeatureDict make_training_sample(const ChainRecord& r, const TrainingOptions& o, uint64_t seed) {
  if (o.max_resolution > 0 && r.resolution > o.max_resolution)
    throw SampleError("chain " + r.id + ": resolution " + std::to_string(r.resolution) + " A is worse than " +
                      std::to_string(o.max_resolution) + " A");
  if (!(r.atom_mask.select(1, rc::atom_order("CA")) > 0).any().item<bool>())
    throw SampleError("chain " + r.id + ": no resolved residues");
  at::Generator gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  const int64_t slices = o.uniform_recycling ? uniform_int(gen, 1, o.max_recycling_iters + 1) : o.max_recycling_iters + 1;
  const bool clamped = uniform01(gen) < o.clamp_prob;

  FeatureDict base = sequence_and_msa_features(r.aatype, r.msa, r.deletion_matrix);
  const at::Tensor rows = block_delete_msa_rows(r.msa_depth(), o, gen);
  for (const char* name : {"msa", "deletion_matrix", "msa_mask"}) base[name] = base[name].index_select(0, rows);
  const FeatureDict templates = chain_template_features(r, o, gen);
  const at::Tensor keep = crop_indices(r, o, clamped, gen);

  std::vector<FeatureDict> per_slice;
  for (int64_t s = 0; s < slices; ++s) {
    per_slice.push_back(sample_msa_features(base, o.sampling, draw_seed(gen)));
    crop_residues(per_slice.back(), keep);
  }
  FeatureDict cropped_templates;
  for (const auto& [name, t] : templates)
    cropped_templates[name] = name == "template_mask" || name == "template_sum_probs" ? t : t.index_select(1, keep);
  FeatureDict sample = stack_recycling_slices(per_slice, cropped_templates);
  const FeatureDict truth = make_ground_truth_features(
      r.aatype.index_select(0, keep), r.atom_positions.index_select(0, keep), r.atom_mask.index_select(0, keep));
  sample.insert(truth.begin(), truth.end());
  sample["resolution"] = at::full({1}, r.resolution, at::kFloat);
  sample["use_clamped_fape"] = at::full({1}, clamped ? 1.0f : 0.0f, at::kFloat);
  sample["is_distillation"] = at::zeros({1}, at::kFloat);
  sample["seq_length"] = at::full({1}, keep.size(0), at::kLong);
  sample["num_recycling_iters"] = at::full({1}, slices - 1, at::kLong);
  return sample;
}

SampleParts split_training_sample(const FeatureDict& sample) {
  static const std::set<std::string> kGroundTruth = {
      "all_atom_mask", "all_atom_positions", "alt_torsion_angles_sin_cos", "atom14_alt_gt_exists",
      "atom14_alt_gt_positions", "atom14_atom_exists", "atom14_atom_is_ambiguous", "atom14_gt_exists",
      "atom14_gt_positions", "atom37_atom_exists", "backbone_rigid_mask", "backbone_rigid_tensor",
      "chi_angles_sin_cos", "chi_mask", "pseudo_beta", "pseudo_beta_mask", "residx_atom14_to_atom37",
      "residx_atom37_to_atom14", "rigidgroups_alt_gt_frames", "rigidgroups_group_exists",
      "rigidgroups_group_is_ambiguous", "rigidgroups_gt_exists", "rigidgroups_gt_frames", "torsion_angles_mask",
      "torsion_angles_sin_cos", "resolution", "use_clamped_fape", "is_distillation", "seq_length",
      "num_recycling_iters"};
  SampleParts parts;
  for (const auto& [name, t] : sample)
    (kGroundTruth.count(name) || name.rfind("gt_", 0) == 0 ? parts.ground_truth : parts.inputs)[name] = t;
  return parts;
}

FeatureDict last_iteration_batch(const SampleParts& parts) {
  FeatureDict batch = last_recycling_slice(parts.inputs);
  batch.insert(parts.ground_truth.begin(), parts.ground_truth.end());
  return batch;
}

}  // namespace fold::features
