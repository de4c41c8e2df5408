// AF2 Supplement Algorithm 16: the template pair stack, as OpenFold's TemplatePairStack
// (openfold/model/template.py, monomer: tri_mul_first = false) with its state_dict
// names: blocks.{i}.{tri_att_start, tri_att_end, tri_mul_out, tri_mul_in,
// pair_transition}, layer_norm. A block is the Evoformer's PairStack in the template
// order and sizes (c_t = 64 channels, pair transition factor 2).
//
// Templates are independent through the stack, so each one is run on its own (as
// OpenFold does): peak memory is that of one template, whatever their number.
#pragma once

#include <torch/nn/cloneable.h>
#include <torch/nn/modules/container/modulelist.h>
#include <torch/nn/pimpl.h>
#include <torch/types.h>

#include "evoformer/evoformer_block.h"
#include "evoformer/memory_policy.h"
#include "evoformer/primitives.h"
#include "kernels/attention.h"

namespace fold::evoformer {

// model.template.template_pair_stack.* (defaults: AF2's code values).
struct TemplatePairStackOptions {
  // The PairStack options of one block.
  EvoformerBlockOptions block() const;

  TORCH_ARG(int64_t, c_t) = 64;
  TORCH_ARG(int64_t, c_hidden_tri_att) = 16;
  TORCH_ARG(int64_t, c_hidden_tri_mul) = 64;
  TORCH_ARG(int64_t, no_blocks) = 2;
  TORCH_ARG(int64_t, no_heads) = 4;
  TORCH_ARG(int64_t, pair_transition_n) = 2;
  TORCH_ARG(double, dropout_rate) = 0.25;
  TORCH_ARG(double, inf) = 1e9;
  // AF2's template blocks attend before they multiply; AF-Multimer's multiply first.
  TORCH_ARG(bool, tri_mul_first) = false;
  TORCH_ARG(bool, fuse_projection_weights) = false;
  TORCH_ARG(kernels::AttentionOptions, kernel) = {};
};

class TemplatePairStackImpl : public torch::nn::Cloneable<TemplatePairStackImpl> {
 public:
  explicit TemplatePairStackImpl(const TemplatePairStackOptions& options = {});
  void reset() override;
  void set_kernel_options(const kernels::AttentionOptions& kernel);
  // t [*, N_templ, N, N, c_t], pair_mask [*, N, N] (shared by the templates)
  // -> layer_norm(blocks(t)) [*, N_templ, N, N, c_t], each template through the stack
  // runner (stack_runner.h) under `policy`. With a DAP group of size > 1 the blocks run
  // on row splits (axial_parallel.h); their parameter gradients are partial.
  torch::Tensor forward(const torch::Tensor& t, const torch::Tensor& pair_mask, const MemoryPolicy& policy = {},
                        const dist::Group& dap = {});

  TemplatePairStackOptions options;
  torch::nn::ModuleList blocks{nullptr};
  LayerNorm layer_norm{nullptr};
};
TORCH_MODULE(TemplatePairStack);

}  // namespace fold::evoformer
