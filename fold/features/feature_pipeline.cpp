#include "fold/features/feature_pipeline.h"

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>

#include <cmath>
#include <stdexcept>

#include "data/hhr.h"
#include "data/msa_ids.h"
#include "data/residue_constants.h"
#include "structure_module/all_atom.h"

namespace fold::features {

using namespace data;

namespace {

constexpr int64_t kMsaClasses = 23;  // 20 residues, X, gap, mask token
constexpr int64_t kMaskToken = 22;

at::Tensor one_hot_f(const at::Tensor& ids, int64_t classes) { return at::one_hot(ids, classes).to(at::kFloat); }

// atan(d / 3) * 2 / pi: AF2's squashing of deletion counts into [0, 1).
at::Tensor squash_deletions(const at::Tensor& d) { return at::atan(d / 3.0) * (2.0 / M_PI); }

at::Tensor take_rows(const at::Tensor& t, const at::Tensor& rows) { return t.index_select(0, rows); }

}  // namespace

FeatureDict make_sequence_and_msa_features(const std::string& sequence, const Msa& msa) {
  check_msa_query(sequence, msa);
  const auto n = static_cast<int64_t>(sequence.size());
  at::Tensor aatype = at::empty({n}, at::kLong);
  for (int64_t i = 0; i < n; ++i) {
    const int id = rc::restype_order(sequence[i]);
    aatype[i] = id < 0 ? rc::kUnkRestype : id;
  }
  const MsaIds m = msa_ids(msa);
  return sequence_and_msa_features(aatype, m.ids, m.deletions);
}

FeatureDict sequence_and_msa_features(const at::Tensor& aatype, const at::Tensor& msa, const at::Tensor& deletions) {
  const int64_t n = aatype.size(0);
  FeatureDict f;
  f["aatype"] = aatype.to(at::kLong);
  f["residue_index"] = at::arange(n, at::kLong);
  f["seq_mask"] = at::ones({n}, at::kFloat);
  f["between_segment_residues"] = at::zeros({n}, at::kLong);
  f["msa"] = msa.to(at::kLong);
  f["deletion_matrix"] = deletions.to(at::kFloat);
  f["msa_mask"] = at::ones(msa.sizes(), at::kFloat);
  // Residue frequencies per column over 22 classes (make_hhblits_profile).
  f["hhblits_profile"] = one_hot_f(f["msa"], 22).mean(0);
  return f;
}

at::Tensor nearest_cluster_assignment(const at::Tensor& centres, const at::Tensor& centre_mask, const at::Tensor& extra,
                                      const at::Tensor& extra_mask) {
  // Agreement counts matching residues (and X), not gaps or mask tokens.
  const at::Tensor weights = at::cat({at::ones({21}), at::zeros({2})});
  const int64_t n_res = centres.size(1);
  const at::Tensor centre_hot = centre_mask.unsqueeze(-1) * one_hot_f(centres, kMsaClasses);
  const at::Tensor extra_hot = extra_mask.unsqueeze(-1) * one_hot_f(extra, kMsaClasses);
  const at::Tensor agreement =
      // Explicit widths: the extra MSA may be empty (every row is a centre).
      at::matmul(extra_hot.reshape({extra.size(0), n_res * kMsaClasses}),
                 (centre_hot * weights).reshape({centres.size(0), n_res * kMsaClasses}).t());
  return agreement.argmax(1);
}

at::Tensor make_msa_feat(const at::Tensor& centres, const at::Tensor& deletions, const at::Tensor& cluster_profile,
                         const at::Tensor& cluster_deletion_mean) {
  return at::cat({one_hot_f(centres, kMsaClasses), deletions.clamp(0, 1).unsqueeze(-1),
                  squash_deletions(deletions).unsqueeze(-1), cluster_profile,
                  squash_deletions(cluster_deletion_mean).unsqueeze(-1)},
                 -1);
}

SamplingOptions SamplingOptions::from_config(const Config& c, const std::string& mode) {
  SamplingOptions o;
  const std::string section = "data." + mode + ".";
  o.max_msa_clusters = c.get_int(section + "max_msa_clusters");
  o.max_extra_msa = c.get_int(section + "max_extra_msa");
  o.max_templates = c.get_int(section + "max_templates");
  o.masked_msa_replace_fraction = c.get_float(section + "masked_msa_replace_fraction");
  o.reduce_msa_clusters_by_max_templates = c.get_bool("data.common.reduce_msa_clusters_by_max_templates");
  o.use_templates = c.get_bool("data.common.use_templates");
  o.profile_prob = c.get_float("data.common.masked_msa.profile_prob");
  o.same_prob = c.get_float("data.common.masked_msa.same_prob");
  o.uniform_prob = c.get_float("data.common.masked_msa.uniform_prob");
  return o;
}

FeatureDict sample_msa_features(const FeatureDict& base, const SamplingOptions& o, uint64_t seed) {
  at::Generator gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  const at::Tensor& msa = base.at("msa");
  const at::Tensor& deletions = base.at("deletion_matrix");
  const at::Tensor& msa_mask = base.at("msa_mask");
  const int64_t depth = msa.size(0);

  // Cluster centres: the query, then a random sample of the other rows.
  const int64_t max_clusters =
      o.reduce_msa_clusters_by_max_templates && o.use_templates ? o.max_msa_clusters - o.max_templates
                                                                 : o.max_msa_clusters;
  if (max_clusters < 1) throw std::invalid_argument("feature pipeline: max_msa_clusters leaves no cluster centre");
  const at::Tensor order = at::cat({at::zeros({1}, at::kLong), at::randperm(depth - 1, gen, at::kLong) + 1});
  const int64_t selected = std::min(max_clusters, depth);
  const at::Tensor centre_rows = order.slice(0, 0, selected), extra_rows = order.slice(0, selected);
  at::Tensor centres = take_rows(msa, centre_rows);
  const at::Tensor centre_deletions = take_rows(deletions, centre_rows);
  const at::Tensor centre_mask = take_rows(msa_mask, centre_rows);
  at::Tensor extra = take_rows(msa, extra_rows);
  at::Tensor extra_deletions = take_rows(deletions, extra_rows);
  at::Tensor extra_mask = take_rows(msa_mask, extra_rows);

  // Masked MSA (Supplement 1.2.7): replace a fraction of the centres' residues by a
  // draw from uniform / profile / same / mask-token mixture.
  const at::Tensor uniform = at::cat({at::full({20}, 0.05, at::kFloat), at::zeros({2}, at::kFloat)});
  at::Tensor probs = o.uniform_prob * uniform + o.profile_prob * base.at("hhblits_profile") +
                     o.same_prob * one_hot_f(centres, 22);
  const double mask_prob = 1.0 - o.profile_prob - o.same_prob - o.uniform_prob;
  probs = at::cat({probs.expand({centres.size(0), -1, -1}),
                   at::full({centres.size(0), centres.size(1), 1}, mask_prob, at::kFloat)},
                  -1);
  const at::Tensor replace = at::rand(centres.sizes(), gen, at::kFloat) < o.masked_msa_replace_fraction;
  const at::Tensor draws =
      at::multinomial((probs + 1e-10).reshape({-1, kMsaClasses}), 1, false, gen).reshape(centres.sizes());
  FeatureDict f;
  f["bert_mask"] = replace.to(at::kFloat);
  f["true_msa"] = centres;
  centres = at::where(replace, draws, centres);

  // Nearest centre of every extra sequence, then the cluster summaries.
  const at::Tensor assignment = nearest_cluster_assignment(centres, centre_mask, extra, extra_mask);
  // Sum of the extra rows' x per assigned centre.
  const auto segment_sum = [&](const at::Tensor& x) {
    std::vector<int64_t> shape = x.sizes().vec();
    shape[0] = centres.size(0);
    return at::zeros(shape, x.options()).index_add_(0, assignment, x);
  };
  const at::Tensor counts = 1e-6 + centre_mask + segment_sum(extra_mask);
  const at::Tensor profile =
      (segment_sum(extra_mask.unsqueeze(-1) * one_hot_f(extra, kMsaClasses)) + one_hot_f(centres, kMsaClasses)) /
      counts.unsqueeze(-1);
  const at::Tensor deletion_mean = (segment_sum(extra_mask * extra_deletions) + centre_deletions) / counts;

  // The extra MSA the model sees: a random subset of max_extra_msa sequences.
  const int64_t keep = std::min(o.max_extra_msa, extra.size(0));
  const at::Tensor extra_keep = at::randperm(extra.size(0), gen, at::kLong).slice(0, 0, keep);
  extra = take_rows(extra, extra_keep);
  extra_deletions = take_rows(extra_deletions, extra_keep);
  extra_mask = take_rows(extra_mask, extra_keep);

  const at::Tensor& aatype = base.at("aatype");
  f["aatype"] = aatype;
  f["residue_index"] = base.at("residue_index");
  f["seq_mask"] = base.at("seq_mask");
  f["target_feat"] = at::cat(
      {base.at("between_segment_residues").clamp(0, 1).to(at::kFloat).unsqueeze(-1), one_hot_f(aatype, 21)}, -1);
  f["msa_feat"] = make_msa_feat(centres, centre_deletions, profile, deletion_mean);
  f["msa_mask"] = centre_mask;
  f["extra_msa"] = extra;
  f["extra_msa_mask"] = extra_mask;
  f["extra_has_deletion"] = extra_deletions.clamp(0, 1);
  f["extra_deletion_value"] = squash_deletions(extra_deletions);
  return f;
}

FeatureDict make_template_features(int64_t n_res, const std::vector<TemplateFeatures>& templates) {
  const auto t = static_cast<int64_t>(templates.size());
  at::Tensor aatype = at::empty({t, n_res}, at::kLong);
  at::Tensor positions = at::empty({t, n_res, rc::kAtom37, 3}, at::kFloat);
  at::Tensor mask = at::empty({t, n_res, rc::kAtom37}, at::kFloat);
  at::Tensor sum_probs = at::empty({t, 1}, at::kFloat);
  for (int64_t i = 0; i < t; ++i) {
    const TemplateFeatures& tf = templates[i];
    TORCH_CHECK(static_cast<int64_t>(tf.sequence.size()) == n_res &&
                    static_cast<int64_t>(tf.atom_mask.size()) == n_res * rc::kAtom37 &&
                    tf.atom_positions.size() == tf.atom_mask.size() * 3,
                "make_template_features: template ", tf.domain_name, " does not have ", n_res, " residues");
    for (int64_t r = 0; r < n_res; ++r) {
      const int id = rc::msa_char_to_id(tf.sequence[r]);
      aatype[i][r] = id < 0 ? rc::kUnkRestype : id;
    }
    std::copy(tf.atom_positions.begin(), tf.atom_positions.end(), positions[i].data_ptr<float>());
    std::copy(tf.atom_mask.begin(), tf.atom_mask.end(), mask[i].data_ptr<float>());
    sum_probs[i][0] = tf.sum_probs;
  }
  FeatureDict f;
  f["template_aatype"] = aatype;
  f["template_all_atom_positions"] = positions;
  f["template_all_atom_mask"] = mask;
  f["template_sum_probs"] = sum_probs;
  f["template_mask"] = at::ones({t}, at::kFloat);
  f["template_pseudo_beta"] = structure::pseudo_beta(aatype, positions);
  f["template_pseudo_beta_mask"] = structure::pseudo_beta_mask(aatype, mask);
  const structure::TorsionAngles torsions = structure::atom37_to_torsion_angles(aatype, positions, mask);
  f["template_torsion_angles_sin_cos"] = torsions.sin_cos;
  f["template_alt_torsion_angles_sin_cos"] = torsions.alt_sin_cos;
  f["template_torsion_angles_mask"] = torsions.mask;
  return f;
}

Msa read_query_msas(const std::string& sequence, const std::vector<std::string>& paths,
                    const std::vector<size_t>& max_rows) {
  if (paths.empty()) throw std::invalid_argument("feature pipeline: give at least one MSA");
  std::vector<Msa> msas;
  for (size_t i = 0; i < paths.size(); ++i) {
    const std::string& p = paths[i];
    msas.push_back(read_msa(p));
    // A database's depth limit keeps its first rows, the best hits (AF2's truncate()).
    if (const size_t keep = i < max_rows.size() ? max_rows[i] : 0; keep > 0 && msas.back().depth() > keep) {
      Msa& m = msas.back();
      m.sequences.resize(keep);
      m.deletion_matrix.resize(keep);
      m.descriptions.resize(std::min(keep, m.descriptions.size()));
    }
    try {
      check_msa_query(sequence, msas.back());
    } catch (const std::invalid_argument& e) {
      throw std::invalid_argument(p + ": " + e.what());
    }
  }
  return merge_msas(msas);
}

FeatureDict find_templates(const std::string& sequence, const std::string& template_hits,
                           const std::string& mmcif_dir, const std::string& max_template_date, int64_t max_templates,
                           PipelineReport* report) {
  TemplateSearchOptions search;
  search.mmcif_dir = mmcif_dir;
  search.max_template_date = max_template_date;
  search.max_hits = max_templates;
  const TemplateSearchResult found = find_template_features(sequence, read_hhr(template_hits), search);
  if (report) {
    for (const auto& t : found.templates) report->templates.push_back(t.domain_name);
    report->skipped_templates.insert(report->skipped_templates.end(), found.skipped.begin(), found.skipped.end());
  }
  return make_template_features(static_cast<int64_t>(sequence.size()), found.templates);
}

FeatureDict build_inference_features(const InferenceInputs& inputs, const PipelineOptions& o,
                                     PipelineReport* report) {
  const FeatureDict base = make_sequence_and_msa_features(
      inputs.sequence, read_query_msas(inputs.sequence, inputs.msa_paths, inputs.msa_max_rows));
  FeatureDict templates;
  if (o.sampling.use_templates && !inputs.template_hits.empty())
    templates = find_templates(inputs.sequence, inputs.template_hits, inputs.template_mmcif_dir,
                               inputs.max_template_date, o.sampling.max_templates, report);
  std::vector<FeatureDict> slices;
  for (int64_t r = 0; r <= o.num_recycles; ++r) {
    const uint64_t seed = static_cast<uint64_t>(o.seed) * 1000003u + (o.resample_msa_in_recycling ? r : 0);
    slices.push_back(sample_msa_features(base, o.sampling, seed));
  }
  // Templates are not resampled: the same slice in every iteration.
  return stack_recycling_slices(slices, templates);
}

FeatureDict stack_recycling_slices(const std::vector<FeatureDict>& slices, const FeatureDict& fixed) {
  FeatureDict batch;
  for (const auto& [name, t] : slices.at(0)) {
    std::vector<at::Tensor> per_slice;
    for (const auto& s : slices) per_slice.push_back(s.at(name));
    batch[name] = at::stack(per_slice, -1);
  }
  for (const auto& [name, t] : fixed) {
    auto shape = t.sizes().vec();
    shape.push_back(static_cast<int64_t>(slices.size()));
    batch[name] = t.unsqueeze(-1).expand(shape).contiguous();
  }
  return batch;
}

}  // namespace fold::features
