// The Evoformer and extra-MSA stacks, AF2 Supplement:
//   Algorithm 6   EvoformerStack (one block: MSA row attention with pair bias, MSA
//                 column attention, MSA transition, outer product mean, triangle
//                 multiplications outgoing and incoming, triangle attention around the
//                 starting and ending node, pair transition; residual adds and AF2's
//                 shared dropout)
//   Algorithm 18  ExtraMsaStack (the same block on the extra MSA, c_e channels, with
//                 MSA column GLOBAL attention, Algorithm 19)
// as OpenFold's openfold/model/evoformer.py (EvoformerBlock / ExtraMSABlock sharing
// MSABlock, PairStack, EvoformerStack, ExtraMSAStack) with its state_dict names:
//   msa_att_row, msa_att_col, msa_transition, outer_product_mean,
//   pair_stack.{tri_mul_out, tri_mul_in, tri_att_start, tri_att_end, pair_transition}
// and for the stacks blocks.{i} (+ linear for the Evoformer's single representation).
// One block class serves both stacks, parameterised by the column-attention kind.
//
// Memory knobs (ARCHITECTURE.md, Memory policy), none of which changes the numbers: the stacks take one
// MemoryPolicy (memory_policy.h: chunk size, checkpointing, in-place inference) and run
// through the one stack runner (stack_runner.h); the attention kernel options
// (low_memory) are set on the modules.
#pragma once

#include <torch/nn/cloneable.h>
#include <torch/nn/modules/container/modulelist.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/pimpl.h>
#include <torch/types.h>

#include <tuple>

#include "dap/process_group.h"
#include "evoformer/axial_parallel.h"
#include "evoformer/checkpoint.h"
#include "evoformer/memory_policy.h"
#include "evoformer/msa_attention.h"
#include "evoformer/outer_product_mean.h"
#include "evoformer/stack_runner.h"
#include "evoformer/transition.h"
#include "evoformer/triangle_attention.h"
#include "evoformer/triangle_multiplication.h"
#include "kernels/attention.h"

namespace fold::evoformer {

// Algorithm 6 column attention (Evoformer) or Algorithm 19 global column attention
// (extra-MSA stack).
enum class MsaColumnKind { kAttention, kGlobal };

// Hyperparameters as OpenFold's EvoformerBlock / ExtraMSABlock arguments
// (model.evoformer_stack / model.extra_msa.extra_msa_stack); defaults: the Evoformer's.
struct EvoformerBlockOptions {
  EvoformerBlockOptions(int64_t c_m, int64_t c_z) : c_m_(c_m), c_z_(c_z) {}
  TORCH_ARG(int64_t, c_m);  // c_e for the extra-MSA stack
  TORCH_ARG(int64_t, c_z);
  TORCH_ARG(int64_t, c_hidden_msa_att) = 32;  // extra-MSA: 8
  TORCH_ARG(int64_t, c_hidden_opm) = 32;
  TORCH_ARG(int64_t, c_hidden_mul) = 128;
  TORCH_ARG(int64_t, c_hidden_pair_att) = 32;
  TORCH_ARG(int64_t, no_heads_msa) = 8;
  TORCH_ARG(int64_t, no_heads_pair) = 4;
  TORCH_ARG(int64_t, transition_n) = 4;
  // Rowwise on the MSA row attention (Algorithm 6 line 1).
  TORCH_ARG(double, msa_dropout) = 0.15;
  // Rowwise on both triangle multiplications and the starting-node attention,
  // columnwise on the ending-node attention (lines 6-9).
  TORCH_ARG(double, pair_dropout) = 0.25;
  TORCH_ARG(MsaColumnKind, column) = MsaColumnKind::kAttention;
  TORCH_ARG(double, inf) = 1e9;
  // Global column attention's mask-count epsilon (OpenFold passes the config's eps).
  TORCH_ARG(double, eps) = 1e-8;
  // Mask the transitions' updates (OpenFold's _mask_trans). AF2 does not, so neither do
  // we by default: only padded positions differ.
  TORCH_ARG(bool, mask_transitions) = false;
  // Pair-stack order: the Evoformer runs the triangle multiplications before the
  // triangle attentions; AF2's (monomer) template pair stack runs them after
  // (OpenFold's TemplatePairStackBlock tri_mul_first = false).
  TORCH_ARG(bool, tri_mul_first) = true;
  // AF-Multimer moves the outer product mean to the start of the block: z gets the block
  // input's MSA before the row attention reads it (OpenFold's opm_first).
  TORCH_ARG(bool, opm_first) = false;
  // AF-Multimer v3's fused triangle projections (TriangleMultiplicationOptions).
  TORCH_ARG(bool, fuse_projection_weights) = false;
  TORCH_ARG(kernels::AttentionOptions, kernel) = {};
};

// Rows (sequences or residues) each module of a block evaluates at once on the in-place
// path: MemoryPolicy::rows of the module's largest per-row buffer (its normalised input,
// a projection, the attention kernel's workspace, the transition's hidden layer, a row
// of outer products). `fold plan` sizes the block's transients with the same rows.
struct BlockRows {
  int64_t msa_row, msa_column, msa_transition, outer_product_mean;
  int64_t triangle_multiplication, triangle_attention, pair_transition;
  // The low-memory policy's tiles of the triangle multiplication (0: it holds a projection).
  int64_t triangle_multiplication_tile;
};
BlockRows block_rows(const EvoformerBlockOptions& options, const MemoryPolicy& policy, int64_t n_res,
                     int64_t n_msa, at::ScalarType storage, c10::DeviceType device);

// OpenFold's PairStack: the pair half of the block (Algorithm 6 lines 6-10); with
// tri_mul_first = false, one block of the template pair stack (Algorithm 16).
// Parameters: tri_mul_out, tri_mul_in, tri_att_start, tri_att_end, pair_transition.
class PairStackImpl : public torch::nn::Cloneable<PairStackImpl> {
 public:
  explicit PairStackImpl(const EvoformerBlockOptions& options);
  void reset() override;
  void set_kernel_options(const kernels::AttentionOptions& kernel);
  // z [*, N, N, c_z], pair_mask [*, N, N] -> the updated z. Under DAP: z holds this
  // rank's rows, pair_mask is whole (padded).
  torch::Tensor forward(const torch::Tensor& z, const torch::Tensor& pair_mask, int64_t chunk_size = 0,
                        const AxialParallel* dap = nullptr);
  // Inference (eval mode, no autograd): the same block on z in place (each module's
  // add_update_, chunked by block_rows).
  void forward_inplace(const torch::Tensor& z, const torch::Tensor& pair_mask, const MemoryPolicy& policy = {});

  EvoformerBlockOptions options;
  TriangleMultiplication tri_mul_out{nullptr}, tri_mul_in{nullptr};
  TriangleAttention tri_att_start{nullptr}, tri_att_end{nullptr};
  PairTransition pair_transition{nullptr};
};
TORCH_MODULE(PairStack);

// One Evoformer (or extra-MSA) block. Parameters: msa_att_row, msa_att_col,
// msa_transition, outer_product_mean, pair_stack.*.
class EvoformerBlockImpl : public torch::nn::Cloneable<EvoformerBlockImpl> {
 public:
  explicit EvoformerBlockImpl(const EvoformerBlockOptions& options);
  void reset() override;
  void set_kernel_options(const kernels::AttentionOptions& kernel);
  // m [*, S, N, c_m], z [*, N, N, c_z], msa_mask [*, S, N], pair_mask [*, N, N] (float
  // {0, 1}) -> the updated (m, z). Dropout only in training mode. Under DAP: m holds this
  // rank's sequences and z its rows, the masks are whole (padded); so do the results.
  std::tuple<torch::Tensor, torch::Tensor> forward(const torch::Tensor& m, const torch::Tensor& z,
                                                   const torch::Tensor& msa_mask, const torch::Tensor& pair_mask,
                                                   int64_t chunk_size = 0, const AxialParallel* dap = nullptr);
  // Inference (eval mode, no autograd): the same block on (m, z) in place (each module's
  // add_update_, chunked by block_rows).
  void forward_inplace(const torch::Tensor& m, const torch::Tensor& z, const torch::Tensor& msa_mask,
                       const torch::Tensor& pair_mask, const MemoryPolicy& policy = {});
  // Its MSA half (lines 1-4 of Algorithm 6: the MSA updates, then the outer product mean
  // into z, or that first with opm_first); forward_inplace is this and
  // pair_stack->forward_inplace.
  void msa_inplace(const torch::Tensor& m, const torch::Tensor& z, const torch::Tensor& msa_mask,
                   const MemoryPolicy& policy = {});

  EvoformerBlockOptions options;
  MsaRowAttentionWithPairBias msa_att_row{nullptr};
  // Exactly one is set, registered as msa_att_col (options.column).
  MsaColumnAttention msa_att_col{nullptr};
  MsaColumnGlobalAttention msa_att_col_global{nullptr};
  MsaTransition msa_transition{nullptr};
  OuterProductMean outer_product_mean{nullptr};
  PairStack pair_stack{nullptr};

 private:
  // Column attention and MSA transition (lines 2-3): per residue, so the same code runs
  // on a DAP residue split.
  torch::Tensor columns_and_transition(const torch::Tensor& m, const torch::Tensor& msa_mask, int64_t chunk_size);
  // The block under DAP (axial_parallel.h).
  std::tuple<torch::Tensor, torch::Tensor> forward_split(const torch::Tensor& m, const torch::Tensor& z,
                                                         const torch::Tensor& msa_mask, const torch::Tensor& pair_mask,
                                                         int64_t chunk_size, const AxialParallel& dap);
};
TORCH_MODULE(EvoformerBlock);

struct EvoformerStackOptions {
  EvoformerStackOptions(EvoformerBlockOptions block, int64_t no_blocks, int64_t c_s)
      : block_(std::move(block)), no_blocks_(no_blocks), c_s_(c_s) {}
  TORCH_ARG(EvoformerBlockOptions, block);
  TORCH_ARG(int64_t, no_blocks);  // 48
  TORCH_ARG(int64_t, c_s);        // 384
};

// Algorithm 6 over no_blocks blocks, then the single representation s = Linear(m[0])
// (line 12; OpenFold's `linear`). Parameters: blocks.{i}.*, linear.
class EvoformerStackImpl : public torch::nn::Cloneable<EvoformerStackImpl> {
 public:
  explicit EvoformerStackImpl(const EvoformerStackOptions& options);
  void reset() override;
  void set_kernel_options(const kernels::AttentionOptions& kernel);
  // -> (m [*, S, N, c_m], z [*, N, N, c_z], s [*, N, c_s]), run by run_stack
  // (stack_runner.h): in place without autograd (m and z overwritten when moved in),
  // checkpointed in grad mode as the policy says, and with a DAP group of size > 1
  // axially split (axial_parallel.h); inputs and results are whole on every rank, and
  // the blocks' parameter gradients are partial per rank (sum them over the group:
  // dap::all_reduce_gradients).
  std::tuple<torch::Tensor, torch::Tensor, torch::Tensor> forward(torch::Tensor m, torch::Tensor z,
                                                                  const torch::Tensor& msa_mask,
                                                                  const torch::Tensor& pair_mask,
                                                                  const MemoryPolicy& policy = {},
                                                                  const dist::Group& dap = {});

  EvoformerStackOptions options;
  torch::nn::ModuleList blocks{nullptr};
  torch::nn::Linear linear{nullptr};
};
TORCH_MODULE(EvoformerStack);

struct ExtraMsaStackOptions {
  // `block` gets column(MsaColumnKind::kGlobal).
  ExtraMsaStackOptions(EvoformerBlockOptions block, int64_t no_blocks)
      : block_(std::move(block.column(MsaColumnKind::kGlobal))), no_blocks_(no_blocks) {}
  TORCH_ARG(EvoformerBlockOptions, block);
  TORCH_ARG(int64_t, no_blocks);  // 4
};

// Algorithm 18: the extra MSA updates the pair representation. Parameters: blocks.{i}.*.
class ExtraMsaStackImpl : public torch::nn::Cloneable<ExtraMsaStackImpl> {
 public:
  explicit ExtraMsaStackImpl(const ExtraMsaStackOptions& options);
  void reset() override;
  void set_kernel_options(const kernels::AttentionOptions& kernel);
  // a [*, S_extra, N, c_e], z, masks, policy as the Evoformer -> the updated z.
  torch::Tensor forward(torch::Tensor a, torch::Tensor z, const torch::Tensor& msa_mask,
                        const torch::Tensor& pair_mask, const MemoryPolicy& policy = {},
                        const dist::Group& dap = {});

  ExtraMsaStackOptions options;
  torch::nn::ModuleList blocks{nullptr};
};
TORCH_MODULE(ExtraMsaStack);

// The blocks of an Evoformer or extra-MSA stack (EvoformerBlock) and of a template pair
// stack (PairStack) as the stack runner calls them.
StackBlocks evoformer_blocks(torch::nn::ModuleList blocks);
StackBlocks pair_stack_blocks(torch::nn::ModuleList blocks);

}  // namespace fold::evoformer
