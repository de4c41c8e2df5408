#include "evoformer/evoformer_block.h"

#include <torch/csrc/autograd/grad_mode.h>

#include <algorithm>
#include <optional>
#include <string>
#include <vector>

#include "evoformer/primitives.h"

namespace fold::evoformer {

namespace {

// AF2's shared dropout axes: rowwise shares the mask over dim -3 (every MSA row / pair
// row i sees the same mask), columnwise over dim -2.
constexpr int64_t kRowwise = -3;
constexpr int64_t kColumnwise = -2;

std::optional<torch::Tensor> transition_mask(const EvoformerBlockOptions& o, const torch::Tensor& mask) {
  if (!o.mask_transitions()) return std::nullopt;
  return mask;
}

// Runs blocks[i] for i in [begin, end) on (m, z).
std::vector<torch::Tensor> run_blocks(torch::nn::ModuleList& blocks, size_t begin, size_t end,
                                      std::vector<torch::Tensor> mz, const torch::Tensor& msa_mask,
                                      const torch::Tensor& pair_mask, int64_t chunk_size) {
  for (size_t i = begin; i < end; ++i) {
    auto [m, z] = blocks->at<EvoformerBlockImpl>(i).forward(mz[0], mz[1], msa_mask, pair_mask, chunk_size);
    mz = {m, z};
  }
  return mz;
}

// The blocks of a stack under a checkpoint policy: one checkpoint per K consecutive
// blocks (OpenFold's checkpoint_blocks), in grad mode only.
std::vector<torch::Tensor> run_stack(torch::nn::ModuleList& blocks, const torch::Tensor& m, const torch::Tensor& z,
                                     const torch::Tensor& msa_mask, const torch::Tensor& pair_mask,
                                     int64_t chunk_size, const CheckpointPolicy& policy) {
  const size_t n = blocks->size();
  if (!policy.enabled() || !torch::GradMode::is_enabled())
    return run_blocks(blocks, 0, n, {m, z}, msa_mask, pair_mask, chunk_size);
  std::vector<torch::Tensor> mz{m, z};
  const auto k = static_cast<size_t>(policy.blocks_per_checkpoint);
  for (size_t begin = 0; begin < n; begin += k) {
    const size_t end = std::min(n, begin + k);
    // The masks are captured (they need no gradient); the recompute sees the same ones.
    mz = checkpoint(
        // The holder by value: the recompute may outlive this call.
        [list = blocks, begin, end, msa_mask, pair_mask, chunk_size](const std::vector<torch::Tensor>& in) mutable {
          return run_blocks(list, begin, end, in, msa_mask, pair_mask, chunk_size);
        },
        mz);
  }
  return mz;
}

}  // namespace

// ---------------------------------------------------------------------------------------

PairStackImpl::PairStackImpl(const EvoformerBlockOptions& options_) : options(options_) { reset(); }

void PairStackImpl::reset() {
  const EvoformerBlockOptions& o = options;
  tri_mul_out = register_module("tri_mul_out",
                                TriangleMultiplication(TriangleMultiplicationOptions(o.c_z(), o.c_hidden_mul(), true)));
  tri_mul_in = register_module("tri_mul_in",
                               TriangleMultiplication(TriangleMultiplicationOptions(o.c_z(), o.c_hidden_mul(), false)));
  const auto tri_att = [&o](bool starting) {
    return TriangleAttention(TriangleAttentionOptions(o.c_z(), o.c_hidden_pair_att(), o.no_heads_pair())
                                 .starting(starting)
                                 .inf(o.inf())
                                 .kernel(o.kernel()));
  };
  tri_att_start = register_module("tri_att_start", tri_att(true));
  // OpenFold registers tri_att_end as a starting-node TriangleAttention and transposes z
  // around it; ours transposes inside (starting = false): same parameters, same numbers.
  tri_att_end = register_module("tri_att_end", tri_att(false));
  pair_transition = register_module("pair_transition", PairTransition(TransitionOptions(o.c_z(), o.transition_n())));
}

void PairStackImpl::set_kernel_options(const kernels::AttentionOptions& kernel) {
  options.kernel(kernel);
  tri_att_start->set_kernel_options(kernel);
  tri_att_end->set_kernel_options(kernel);
}

torch::Tensor PairStackImpl::forward(const torch::Tensor& z_in, const torch::Tensor& pair_mask, int64_t chunk_size) {
  const double p = options.pair_dropout();
  const bool train = is_training();
  torch::Tensor z = z_in;
  const auto multiplications = [&] {
    z = z + shared_dropout(tri_mul_out(z, pair_mask, chunk_size), p, kRowwise, train);
    z = z + shared_dropout(tri_mul_in(z, pair_mask, chunk_size), p, kRowwise, train);
  };
  const auto attentions = [&] {
    z = z + shared_dropout(tri_att_start(z, pair_mask, chunk_size), p, kRowwise, train);
    // Columnwise: OpenFold's rowwise dropout on the transposed pair.
    z = z + shared_dropout(tri_att_end(z, pair_mask, chunk_size), p, kColumnwise, train);
  };
  if (options.tri_mul_first()) {
    multiplications();
    attentions();
  } else {
    attentions();
    multiplications();
  }
  z = z + pair_transition(z, transition_mask(options, pair_mask), chunk_size);
  return z;
}

// ---------------------------------------------------------------------------------------

EvoformerBlockImpl::EvoformerBlockImpl(const EvoformerBlockOptions& options_) : options(options_) { reset(); }

void EvoformerBlockImpl::reset() {
  const EvoformerBlockOptions& o = options;
  msa_att_row = register_module(
      "msa_att_row",
      MsaRowAttentionWithPairBias(
          MsaRowAttentionWithPairBiasOptions(o.c_m(), o.c_z(), o.c_hidden_msa_att(), o.no_heads_msa())
              .inf(o.inf())
              .kernel(o.kernel())));
  if (o.column() == MsaColumnKind::kAttention) {
    msa_att_col = register_module(
        "msa_att_col", MsaColumnAttention(MsaColumnAttentionOptions(o.c_m(), o.c_hidden_msa_att(), o.no_heads_msa())
                                              .inf(o.inf())
                                              .kernel(o.kernel())));
  } else {
    msa_att_col_global = register_module(
        "msa_att_col",
        MsaColumnGlobalAttention(MsaColumnGlobalAttentionOptions(o.c_m(), o.c_hidden_msa_att(), o.no_heads_msa())
                                     .inf(o.inf())
                                     .eps(o.eps())));
  }
  msa_transition = register_module("msa_transition", MsaTransition(TransitionOptions(o.c_m(), o.transition_n())));
  outer_product_mean = register_module(
      "outer_product_mean", OuterProductMean(OuterProductMeanOptions(o.c_m(), o.c_z(), o.c_hidden_opm())));
  pair_stack = register_module("pair_stack", PairStack(o));
}

void EvoformerBlockImpl::set_kernel_options(const kernels::AttentionOptions& kernel) {
  options.kernel(kernel);
  msa_att_row->set_kernel_options(kernel);
  // Global column attention runs in ATen: no kernel options.
  if (msa_att_col) msa_att_col->set_kernel_options(kernel);
  pair_stack->set_kernel_options(kernel);
}

std::tuple<torch::Tensor, torch::Tensor> EvoformerBlockImpl::forward(const torch::Tensor& m_in,
                                                                     const torch::Tensor& z_in,
                                                                     const torch::Tensor& msa_mask,
                                                                     const torch::Tensor& pair_mask,
                                                                     int64_t chunk_size) {
  TORCH_CHECK(m_in.dim() >= 3 && m_in.size(-1) == options.c_m(), "EvoformerBlock: m must be [*, S, N, ",
              options.c_m(), "], got ", m_in.sizes());
  TORCH_CHECK(z_in.dim() == m_in.dim() && z_in.size(-1) == options.c_z() && z_in.size(-2) == m_in.size(-2) &&
                  z_in.size(-3) == m_in.size(-2),
              "EvoformerBlock: z must be [*, N, N, ", options.c_z(), "] with N = ", m_in.size(-2), ", got ",
              z_in.sizes());
  torch::Tensor m = m_in;
  m = m + shared_dropout(msa_att_row(m, z_in, msa_mask, chunk_size), options.msa_dropout(), kRowwise,
                         is_training());
  m = m + (msa_att_col ? msa_att_col(m, msa_mask, chunk_size) : msa_att_col_global(m, msa_mask, chunk_size));
  m = m + msa_transition(m, transition_mask(options, msa_mask), chunk_size);
  torch::Tensor z = z_in + outer_product_mean(m, msa_mask, chunk_size);
  z = pair_stack(z, pair_mask, chunk_size);
  return {m, z};
}

// ---------------------------------------------------------------------------------------

EvoformerStackImpl::EvoformerStackImpl(const EvoformerStackOptions& options_) : options(options_) { reset(); }

void EvoformerStackImpl::reset() {
  TORCH_CHECK(options.no_blocks() >= 1, "EvoformerStack: no_blocks must be >= 1, got ", options.no_blocks());
  blocks = register_module("blocks", torch::nn::ModuleList());
  for (int64_t i = 0; i < options.no_blocks(); ++i) blocks->push_back(EvoformerBlock(options.block()));
  linear = register_module("linear", make_linear(options.block().c_m(), options.c_s(), true, LinearInit::kDefault));
}

void EvoformerStackImpl::set_kernel_options(const kernels::AttentionOptions& kernel) {
  options.block().kernel(kernel);
  for (size_t i = 0; i < blocks->size(); ++i) blocks->at<EvoformerBlockImpl>(i).set_kernel_options(kernel);
}

std::tuple<torch::Tensor, torch::Tensor, torch::Tensor> EvoformerStackImpl::forward(
    const torch::Tensor& m, const torch::Tensor& z, const torch::Tensor& msa_mask, const torch::Tensor& pair_mask,
    int64_t chunk_size, const CheckpointPolicy& checkpoint) {
  const auto mz = run_stack(blocks, m, z, msa_mask, pair_mask, chunk_size, checkpoint);
  // The single representation from the first MSA row (the target sequence).
  torch::Tensor s = linear(mz[0].select(-3, 0));
  return {mz[0], mz[1], s};
}

// ---------------------------------------------------------------------------------------

ExtraMsaStackImpl::ExtraMsaStackImpl(const ExtraMsaStackOptions& options_) : options(options_) { reset(); }

void ExtraMsaStackImpl::reset() {
  TORCH_CHECK(options.block().column() == MsaColumnKind::kGlobal,
              "ExtraMsaStack: blocks must use global column attention");
  blocks = register_module("blocks", torch::nn::ModuleList());
  for (int64_t i = 0; i < options.no_blocks(); ++i) blocks->push_back(EvoformerBlock(options.block()));
}

void ExtraMsaStackImpl::set_kernel_options(const kernels::AttentionOptions& kernel) {
  options.block().kernel(kernel);
  for (size_t i = 0; i < blocks->size(); ++i) blocks->at<EvoformerBlockImpl>(i).set_kernel_options(kernel);
}

torch::Tensor ExtraMsaStackImpl::forward(const torch::Tensor& a, const torch::Tensor& z,
                                         const torch::Tensor& msa_mask, const torch::Tensor& pair_mask,
                                         int64_t chunk_size, const CheckpointPolicy& checkpoint) {
  return run_stack(blocks, a, z, msa_mask, pair_mask, chunk_size, checkpoint)[1];
}

}  // namespace fold::evoformer
