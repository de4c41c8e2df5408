#include "fold/train/training_options.h"

namespace fold {

features::TrainingOptions training_options(const Config& c) {
  features::TrainingOptions o;
  o.crop_size = c.get_bool("data.train.crop") ? c.get_int("data.train.crop_size") : 0;
  o.spatial_crop_prob = c.get_float("data.train.spatial_crop_prob");
  o.sampling = features::SamplingOptions::from_config(c, "train");
  o.max_template_hits = c.get_int("data.train.shuffle_top_k_prefiltered");
  o.subsample_templates = c.get_bool("data.train.subsample_templates");
  o.block_delete_msa = c.get_bool("data.train.block_delete_msa");
  o.msa_fraction_per_block = c.get_float("data.common.block_delete_msa.msa_fraction_per_block");
  o.num_blocks = c.get_int("data.common.block_delete_msa.num_blocks");
  o.randomize_num_blocks = c.get_bool("data.common.block_delete_msa.randomize_num_blocks");
  o.max_recycling_iters = c.get_int("data.common.max_recycling_iters");
  o.uniform_recycling = c.get_bool("data.train.uniform_recycling");
  o.clamp_prob = c.get_float("data.train.clamp_prob");
  o.max_resolution = static_cast<float>(c.get_float("data.train.max_resolution"));
  o.complexes = c.get_bool("globals.is_multimer");
  o.interface_threshold = c.get_float("data.train.interface_threshold");
  return o;
}

}  // namespace fold
