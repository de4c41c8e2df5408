// AlphaFold2's inference feature pipeline (Supplement 1.2; OpenFold's data_pipeline +
// feature_pipeline in predict mode): query sequence + MSAs -> the model's input batch,
// with one slice per recycling iteration on a trailing axis.
//
// Per sequence: aatype, residue_index, seq_mask, the merged and deduplicated MSA (AF2's
// make_msa_features order: files as given, first occurrence wins). Per recycling
// iteration (resampled, seeded): MSA cluster centres sampled at random (the query
// always first), the rest as the extra MSA; masked-MSA (BERT) corruption of the
// centres; every extra sequence assigned to its nearest centre (Hamming agreement,
// gaps ignored) and the cluster profiles / deletion means; the extra MSA cropped to
// max_extra_msa at random; msa_feat (49 channels), target_feat (22),
// extra_has_deletion / extra_deletion_value. Templates (the same in every iteration):
// the hits found by find_template_features, as OpenFold's template transforms make
// them: template_aatype (restype order, gap 21), atom37 positions and mask,
// pseudo-beta and its mask, torsion angles (sin/cos, alternative, mask), template_mask,
// template_sum_probs. No padding (OpenFold's fixed_size pads with masked rows and
// masked templates, which change nothing).
//
// This file is the fold_features target: it needs structure_module's geometry
// (torsion angles) on top of fold_data's parsers.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "data/feature_dict.h"
#include "data/msa.h"
#include "data/template_hit_features.h"
#include "fold/config.h"

namespace fold::features {

// What one mode of the data pipeline samples (OpenFold's data.predict, data.train and
// data.eval sections, with data.common): the MSA cluster centres, extra-MSA rows and
// templates kept, and the BERT-style masking of the MSA. Defaults: data.predict's.
struct SamplingOptions {
  int64_t max_msa_clusters = 512;
  int64_t max_extra_msa = 5120;
  int64_t max_templates = 4;
  bool reduce_msa_clusters_by_max_templates = true;
  bool use_templates = true;
  double masked_msa_replace_fraction = 0.15;
  double profile_prob = 0.1, same_prob = 0.1, uniform_prob = 0.1;

  // `mode`: "predict", "train" or "eval".
  static SamplingOptions from_config(const Config& config, const std::string& mode);
};

struct PipelineOptions {
  SamplingOptions sampling;  // data.predict
  bool resample_msa_in_recycling = true;
  int64_t num_recycles = 3;  // data.common.max_recycling_iters: slices = num_recycles + 1
  int64_t seed = 0;
};

struct InferenceInputs {
  std::string sequence;
  std::vector<std::string> msa_paths;  // a3m / Stockholm, merged in this order
  std::vector<size_t> msa_max_rows;    // per msa_paths entry, the rows kept (0 or absent: all)
  std::string template_hits;           // .hhr; empty = no templates
  std::string template_mmcif_dir;
  std::string max_template_date;       // YYYY-MM-DD; empty = no cutoff
};

struct PipelineReport {
  std::vector<std::string> templates;          // domain names of the templates used
  std::vector<std::string> skipped_templates;  // hits dropped, with the reason
  std::vector<std::string> chains;             // a complex: each chain's FASTA record, in asym_id order
};

// The query's MSAs read, each cut to its depth limit (max_rows[i], 0 or absent: all),
// checked against the query and merged (AF2's make_msa_features order).
data::Msa read_query_msas(const std::string& sequence, const std::vector<std::string>& paths,
                          const std::vector<size_t>& max_rows);

// The templates found for `sequence` in the .hhr `template_hits` (at most
// max_templates), as make_template_features gives them; the used and skipped hits are
// added to `report`.
data::FeatureDict find_templates(const std::string& sequence, const std::string& template_hits,
                                 const std::string& mmcif_dir, const std::string& max_template_date,
                                 int64_t max_templates, PipelineReport* report);

// The sequence features and merged MSA, before sampling (checks the query first).
data::FeatureDict make_sequence_and_msa_features(const std::string& sequence, const data::Msa& msa);

// The same from residue ids: aatype [L] and msa [N, L] (AF2 ids, any integer dtype),
// deletions [N, L] (any numeric dtype); the training path starts here.
data::FeatureDict sequence_and_msa_features(const at::Tensor& aatype, const at::Tensor& msa, const at::Tensor& deletions);

// AF2's nearest_neighbor_clusters: for every extra row [E, L] the index of the centre
// [C, L] it agrees with at the most positions (residues and X count, gaps and mask
// tokens do not; masked-out positions never agree); ties go to the first centre. [E].
at::Tensor nearest_cluster_assignment(const at::Tensor& centres, const at::Tensor& centre_mask, const at::Tensor& extra,
                                      const at::Tensor& extra_mask);

// AF2's msa_feat [C, L, 49] of cluster centres (ids [C, L], 23 classes with the mask
// token), their deletion counts, the cluster profiles [C, L, 23] and deletion means:
// one-hot residues, has-deletion, squashed deletions, profile, squashed deletion mean.
at::Tensor make_msa_feat(const at::Tensor& centres, const at::Tensor& deletions, const at::Tensor& cluster_profile,
                         const at::Tensor& cluster_deletion_mean);

// One recycling iteration's sampled MSA features from make_sequence_and_msa_features.
data::FeatureDict sample_msa_features(const data::FeatureDict& base, const SamplingOptions& options, uint64_t seed);

// The model's template_* features of the found templates ([T, ...], no recycling
// axis; T = 0 gives empty tensors).
data::FeatureDict make_template_features(int64_t n_res, const std::vector<data::TemplateFeatures>& templates);

// Per-iteration features [*] of each slice -> [*, slices]; `fixed` features (the same in
// every iteration) repeated along the new trailing axis.
data::FeatureDict stack_recycling_slices(const std::vector<data::FeatureDict>& slices, const data::FeatureDict& fixed);

// The whole batch: every feature with its trailing recycling axis. Templates are
// searched when inputs.template_hits is set and options.use_templates.
data::FeatureDict build_inference_features(const InferenceInputs& inputs, const PipelineOptions& options,
                                     PipelineReport* report = nullptr);

}  // namespace fold::features
