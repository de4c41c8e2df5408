// AlphaFold2's training transforms (Supplement 1.2; OpenFold's data_transforms in
// "train" mode): one chain record of the dataset -> one training sample, every random
// choice drawn from the sample's own seed, so a sample is the same whichever worker
// makes it and in whatever order.
//
// In order: the number of recycling iterations (uniform in [1, max_recycling_iters + 1]
// when uniform_recycling), MSA block deletion (num_blocks blocks of
// msa_fraction_per_block of the rows, the query kept), per iteration the sampled MSA of
// sample_msa_features (cluster centres, BERT-style masking, nearest-cluster profiles
// and deletion means, extra-MSA selection), templates (hits found in
// template_mmcif_dir released before the chain, a random number of them up to
// max_templates), the crop (contiguous as OpenFold's random_crop_to_size, or with
// spatial_crop_prob the crop_size residues nearest a random resolved residue, in chain
// order), and the ground truth of the cropped chain: atom37 and atom14 positions and
// masks (with the alternative naming of symmetric side chains), rigid-group frames,
// backbone frames, torsion and chi angles, pseudo-beta, resolution, use_clamped_fape.
//
// Feature names are OpenFold's. Input features carry a trailing recycling axis (as the
// inference batch); ground-truth features do not.
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

#include "data/chain_dataset.h"
#include "data/feature_dict.h"
#include "fold/features/feature_pipeline.h"

namespace fold::features {

struct TrainingOptions {
  int64_t crop_size = 256;         // data.train.crop_size; 0 = no crop
  double spatial_crop_prob = 0.0;  // data.train.spatial_crop_prob
  SamplingOptions sampling{128};   // data.train: max_msa_clusters 128, the rest as data.predict
  int64_t max_template_hits = 20;  // data.train.shuffle_top_k_prefiltered: hits considered
  bool subsample_templates = true;
  std::string template_mmcif_dir;  // empty = no templates
  bool block_delete_msa = true;
  double msa_fraction_per_block = 0.3;
  int64_t num_blocks = 5;
  bool randomize_num_blocks = false;
  int64_t max_recycling_iters = 3;
  bool uniform_recycling = true;
  double clamp_prob = 0.9;
  float max_resolution = 9.0f;     // AF2 trains on chains resolved at 9 A or better; 0 = no filter
  // AF-Multimer: samples are complexes (complex_training_sample.h), and the spatial
  // crop centres on a residue with an atom within interface_threshold A of another
  // chain's (data.train.interface_threshold).
  bool complexes = false;
  double interface_threshold = 10.0;
};

// A record that cannot become a training sample (no resolved residues, resolution
// filter); the loader logs it and moves on.
class SampleError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// The residues kept by the crop, sorted chain indices [min(L, crop_size)]. A clamped-FAPE
// sample's contiguous crop may start anywhere (OpenFold).
at::Tensor crop_indices(const data::ChainRecord& record, const TrainingOptions& options, bool clamped, at::Generator& gen);

// MSA block deletion on the rows of an [N, ...] MSA: the row indices kept (row 0 always).
at::Tensor block_delete_msa_rows(int64_t depth, const TrainingOptions& options, at::Generator& gen);

// Ground-truth features of a structure (atom37 positions [L, 37, 3], mask [L, 37],
// aatype [L]), as OpenFold's make_atom14_masks, make_atom14_positions,
// atom37_to_frames, atom37_to_torsion_angles, make_pseudo_beta, get_backbone_frames,
// get_chi_angles.
data::FeatureDict make_ground_truth_features(const at::Tensor& aatype, const at::Tensor& positions, const at::Tensor& mask);

// A chain's templates at training time: its stored hits found in
// options.template_mmcif_dir (none released after the chain), a random number of them up
// to max_templates in random order with subsample_templates, else the first; as
// make_template_features gives them (no template: zero slots).
data::FeatureDict chain_template_features(const data::ChainRecord& record, const TrainingOptions& options,
                                          at::Generator& gen);

data::FeatureDict make_training_sample(const data::ChainRecord& record, const TrainingOptions& options, uint64_t seed);

// Helpers that the complex sample shares: one integer in [low, high] and a fresh seed
// from `gen`; the residue-axis features of one recycling slice cropped to `keep`.
int64_t uniform_int(at::Generator& gen, int64_t low, int64_t high);
double uniform01(at::Generator& gen);
uint64_t draw_seed(at::Generator& gen);
void crop_residues(data::FeatureDict& slice, const at::Tensor& keep);

// A training sample split into what the model reads (the input features, each with the
// trailing recycling axis) and what only the loss reads (the ground truth and the
// per-sample scalars resolution, use_clamped_fape, is_distillation, seq_length,
// num_recycling_iters, and a complex's whole truth gt_*, which have no recycling axis).
struct SampleParts {
  data::FeatureDict inputs, ground_truth;
};
SampleParts split_training_sample(const data::FeatureDict& sample);

// The loss's batch for the model's last iteration: the ground truth plus the last
// recycling slice of every input (OpenFold's batch[..., -1]).
data::FeatureDict last_iteration_batch(const SampleParts& parts);

}  // namespace fold::features
