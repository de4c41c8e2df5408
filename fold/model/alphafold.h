// AF2 Supplement Algorithm 2: the AlphaFold2 (monomer) model with its recycling loop,
// assembled from the modules of fold/, evoformer/ and structure_module/, as OpenFold's
// AlphaFold (openfold/model/model.py) with its state_dict names: input_embedder,
// recycling_embedder, template_embedder, extra_msa_embedder, extra_msa_stack,
// evoformer, structure_module, aux_heads.
//
// One iteration (Algorithm 2 lines 5-21): embed the inputs, add the recycled first MSA
// row, pair and pseudo-beta distogram, add the template pair embedding and template
// rows, run the extra-MSA stack, the Evoformer, the structure module. The batch carries
// a trailing recycling axis: slice r feeds iteration r. Earlier iterations run without
// gradients and their outputs enter the next only as stopped (detached) values; the
// heads see the last iteration.
#pragma once

#include <torch/nn/cloneable.h>
#include <torch/nn/pimpl.h>
#include <torch/types.h>

#include <functional>
#include <map>
#include <string>

#include "dap/process_group.h"
#include "data/feature_dict.h"
#include "evoformer/evoformer_block.h"
#include "evoformer/memory_policy.h"
#include "evoformer/primitives.h"
#include "fold/config.h"
#include "fold/model/extra_msa_features.h"
#include "fold/model/heads.h"
#include "fold/model/input_embedder.h"
#include "fold/model/recycling_embedder.h"
#include "fold/model/template_embedder.h"
#include "fold/model/template_embedder_multimer.h"
#include "kernels/attention.h"
#include "structure_module/structure_module.h"

namespace fold {

struct AlphaFoldOptions {
  InputEmbedderOptions input_embedder{256, 128};
  RecyclingEmbedderOptions recycling_embedder{256, 128};
  bool templates_enabled = true;  // model.template.enabled
  TemplateEmbedderOptions template_embedder;
  TemplateEmbedderMultimerOptions template_embedder_multimer;  // with is_multimer
  bool extra_msa_enabled = true;  // model.extra_msa.enabled
  int64_t extra_msa_c_in = 25;    // model.extra_msa.extra_msa_embedder.c_in
  evoformer::ExtraMsaStackOptions extra_msa_stack{evoformer::EvoformerBlockOptions(64, 128), 4};
  evoformer::EvoformerStackOptions evoformer{evoformer::EvoformerBlockOptions(256, 128), 48, 384};
  structure::StructureModuleOptions structure_module;
  AuxiliaryHeadsOptions heads;
  double tm_max_bin = 31.0;  // loss.tm.max_bin
  // globals.is_multimer (the structure module's own flag is set from it).
  bool is_multimer = false;
  // AF-Multimer's ranking confidence (weighted_ptm_score) = iptm_weight * ipTM +
  // ptm_weight * pTM, reported with is_multimer.
  double iptm_weight = 0.8, ptm_weight = 0.2;  // model.heads.tm
  // AF-Multimer's early recycling stop (model.recycle_early_stop_tolerance, < 0: off):
  // once the CA-CA distances move by at most this RMS (Angstrom) between two iterations,
  // the next iteration is the last (OpenFold's tolerance_reached). num_recycles reports
  // the iterations run.
  double recycle_early_stop_tolerance = -1.0;

  // Every model.* key of `config` (OpenFold's names) mapped onto the modules.
  static AlphaFoldOptions from_config(const Config& config);
};

// How to run (none of it changes the numbers beyond floating point).
struct RunOptions {
  // Chunking, checkpointing (grad mode only), in-place inference (no grad mode), host
  // offload of the recycled tensors (GPU only); the attention options are set on the
  // model (set_kernel_options) and auto_chunk is resolved by the caller.
  evoformer::MemoryPolicy memory;
  // The DAP group the Evoformer, extra-MSA and template pair stacks split their
  // activations over (size 1: none). Every rank runs the whole model on the same batch;
  // afterwards the gradients of axially_split_parameters() are partial per rank.
  dist::Group dap;
  int64_t iterations = 0;                     // 0: one per slice of the recycling axis
  // Called after each stage of each iteration ("input_embedder", "templates",
  // "extra_msa_stack", "evoformer", "structure_module", "heads") with its wall time.
  std::function<void(int iteration, const std::string& stage, double seconds)> on_stage;
};

// The memory policy a config asks for; the one reader of globals.chunk_size ("auto" sets
// auto_chunk), globals.low_memory_attention, globals.offload_inference,
// kernels.attention, train.checkpoint and dist.dap. `fold predict`, `fold train`,
// `fold ablate` and `fold plan` start from it.
evoformer::MemoryPolicy memory_policy_from_config(const Config& config);

class AlphaFoldImpl : public torch::nn::Cloneable<AlphaFoldImpl> {
 public:
  explicit AlphaFoldImpl(const AlphaFoldOptions& options = {});
  void reset() override;
  // kernels.* / globals.low_memory_attention: the attention path of every module.
  void set_kernel_options(const kernels::AttentionOptions& kernel);
  // Low-precision runs (ARCHITECTURE.md, Precision): the trunk (embedders, template, extra-MSA and
  // Evoformer stacks) in `dtype`; the structure module and the heads stay fp32.
  void set_trunk_dtype(c10::ScalarType dtype);

  // `batch`: OpenFold's processed features, each with its trailing recycling axis
  // (aatype [N, R], target_feat [N, 22, R], residue_index, msa_feat [S, N, 49, R],
  // seq_mask, msa_mask, extra_msa, extra_has_deletion, extra_deletion_value,
  // extra_msa_mask, template_* when templates are enabled). Returns OpenFold's output
  // dict names: msa, msa_first_row, pair, single, sm/{frames, sidechain_frames,
  // unnormalized_angles, angles, positions, states, single}, final_atom_positions,
  // final_atom_mask, final_affine_tensor, lddt_logits, plddt, distogram_logits,
  // masked_msa_logits, experimentally_resolved_logits, num_recycles and, when the TM
  // head is on, tm_logits, ptm_score, predicted_aligned_error,
  // aligned_confidence_probs, max_predicted_aligned_error.
  data::FeatureDict forward(const data::FeatureDict& batch, const RunOptions& run = {});
  // The parameters used on DAP-split activations: the blocks of the three stacks.
  std::vector<torch::Tensor> axially_split_parameters();

  AlphaFoldOptions options;
  InputEmbedder input_embedder{nullptr};
  RecyclingEmbedder recycling_embedder{nullptr};
  // AF2's or (is_multimer) AF-Multimer's, registered as template_embedder either way.
  TemplateEmbedder template_embedder{nullptr};
  TemplateEmbedderMultimer template_embedder_multimer{nullptr};
  evoformer::LinearModule extra_msa_embedder{nullptr};
  evoformer::ExtraMsaStack extra_msa_stack{nullptr};
  evoformer::EvoformerStack evoformer{nullptr};
  structure::StructureModule structure_module{nullptr};
  AuxiliaryHeads aux_heads{nullptr};

 private:
  struct Recycled {
    torch::Tensor m_first_row, z, x;  // undefined before the first iteration
  };
  struct Trunk;  // one iteration's device, type and memory settings (alphafold.cpp)
  // One pass of Algorithm 2 on one slice of the batch; updates `recycled`.
  data::FeatureDict iteration(const data::FeatureDict& features, Recycled& recycled, int index, const RunOptions& run);
  // Its stages, in order. The pair embedding with the recycled pair and positions added
  // (lines 5-6, 14-15); `m_first_row_update` gets the recycled first MSA row's update.
  torch::Tensor embed_pair(const data::FeatureDict& features, const Recycled& recycled, const torch::Tensor& aatype,
                           const Trunk& trunk, torch::Tensor& m_first_row_update);
  // The template pair stack's update added to `z` (lines 7-13); the template rows of the
  // MSA in `single` and `single_mask`.
  torch::Tensor add_templates(const data::FeatureDict& features, torch::Tensor z, const torch::Tensor& pair_mask,
                              const Trunk& trunk, torch::Tensor& single, torch::Tensor& single_mask);
  // The extra-MSA stack's update of `z` (lines 16-17).
  torch::Tensor add_extra_msa(const data::FeatureDict& features, torch::Tensor z, const torch::Tensor& pair_mask,
                              const Trunk& trunk);
  // The structure module on the Evoformer's outputs (lines 18-21), with the output dict.
  data::FeatureDict structure_outputs(const torch::Tensor& m, const torch::Tensor& z, const torch::Tensor& s,
                                      const torch::Tensor& aatype, const torch::Tensor& seq_mask, int64_t n_seq,
                                      const Trunk& trunk);
};
TORCH_MODULE(AlphaFold);

}  // namespace fold
