#include "evoformer/evoformer_block.h"

#include <ATen/record_function.h>
#include <torch/csrc/autograd/grad_mode.h>

#include <algorithm>
#include <functional>
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

// The pair half's order: the Evoformer multiplies before it attends, AF2's template
// pair stack the other way round (EvoformerBlockOptions::tri_mul_first).
void in_pair_order(const EvoformerBlockOptions& o, const std::function<void()>& multiplications,
                   const std::function<void()>& attentions) {
  if (o.tri_mul_first()) {
    multiplications();
    attentions();
  } else {
    attentions();
    multiplications();
  }
}

// One module of the in-place path as a user-scope range (LibTorch's RecordFunction)
// named as OpenFold names the module, so an observer (fold_bench_predict --modules, or
// any LibTorch profiler) attributes time per AF2 module; free when nothing observes.
void profiled(const char* name, const std::function<void()>& run) {
  RECORD_USER_SCOPE(name);
  run();
}

}  // namespace

// ---------------------------------------------------------------------------------------

PairStackImpl::PairStackImpl(const EvoformerBlockOptions& options_) : options(options_) { reset(); }

void PairStackImpl::reset() {
  const EvoformerBlockOptions& o = options;
  const auto tri_mul = [&o](bool outgoing) {
    return TriangleMultiplication(TriangleMultiplicationOptions(o.c_z(), o.c_hidden_mul(), outgoing)
                                      .fuse_projection_weights(o.fuse_projection_weights()));
  };
  tri_mul_out = register_module("tri_mul_out", tri_mul(true));
  tri_mul_in = register_module("tri_mul_in", tri_mul(false));
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

torch::Tensor PairStackImpl::forward(const torch::Tensor& z_in, const torch::Tensor& pair_mask, int64_t chunk_size,
                                     const AxialParallel* dap) {
  const double p = options.pair_dropout();
  const bool train = is_training();
  torch::Tensor z = z_in;
  // Under DAP z holds this rank's rows; the masks of its rows and of its columns.
  const torch::Tensor rows_mask = dap ? dap->local(pair_mask, -2) : pair_mask;
  const torch::Tensor cols_mask = dap ? dap->local(pair_mask, -1) : pair_mask;
  const auto dropout = [&](const torch::Tensor& update, int64_t shared_dim) {
    return dap ? dap->shared_dropout(update, p, shared_dim, train, -3, dap->n_res(), dap->n_res())
               : shared_dropout(update, p, shared_dim, train);
  };
  const auto multiplications = [&] {
    z = z + dropout(tri_mul_out(z, rows_mask, chunk_size, dap), kRowwise);
    z = z + dropout(tri_mul_in(z, rows_mask, chunk_size, dap), kRowwise);
  };
  const auto attentions = [&] {
    z = z + dropout(tri_att_start(z, rows_mask, chunk_size, dap), kRowwise);
    // Columnwise: OpenFold's rowwise dropout on the transposed pair. Under DAP the
    // ending node attends within columns, so the pair moves to a column split and back.
    if (dap) {
      const dist::Group& g = dap->group();
      const torch::Tensor columns = dap::all_to_all(z, -2, -3, g);
      z = z + dropout(dap::all_to_all(tri_att_end(columns, cols_mask, chunk_size, dap), -3, -2, g), kColumnwise);
    } else {
      z = z + dropout(tri_att_end(z, pair_mask, chunk_size), kColumnwise);
    }
  };
  in_pair_order(options, multiplications, attentions);
  z = z + pair_transition(z, transition_mask(options, rows_mask), chunk_size);
  return z;
}

BlockRows block_rows(const EvoformerBlockOptions& o, const MemoryPolicy& policy, int64_t n_res, int64_t n_msa,
                     at::ScalarType storage, c10::DeviceType device) {
  const int64_t n = n_res, m = n_msa, s = static_cast<int64_t>(c10::elementSize(storage));
  const auto rows = [&](int64_t extent, std::initializer_list<int64_t> row_bytes) {
    return policy.rows(std::max(row_bytes), extent, device);
  };
  // One row of an attention over `len` positions: one head group of the kernel's
  // workspace beside the normalised row and a projection.
  const auto attention = [&](int64_t len, int64_t c_in, int64_t heads, int64_t c, int biases) {
    return std::max({len * c_in * s, len * heads * c * s,
                     kernels::attention_workspace_bytes(heads, len, len, c, storage, device, true, biases,
                                                        policy.attention)});
  };
  // A transition's rows are independent positions, so its block is free: --low-memory
  // takes kMinChunkBytes blocks whatever the chunk size (32 rows of a 1024-residue MSA
  // in the transition are 0.6 bf16 pair tensors).
  const auto positionwise = [&](int64_t extent, int64_t row_bytes) {
    const int64_t r = rows(extent, {row_bytes});
    return policy.attention.low_memory ? std::min(r, std::max<int64_t>(1, kMinChunkBytes / row_bytes)) : r;
  };
  const int64_t c_m = o.c_m(), c_z = o.c_z(), h_m = o.no_heads_msa(), c_a = o.c_hidden_msa_att();
  BlockRows r{};
  r.msa_row = rows(m, {attention(n, c_m, h_m, c_a, 2)});
  r.msa_column = rows(n, {o.column() == MsaColumnKind::kAttention ? attention(m, c_m, h_m, c_a, 1) : m * c_m * s});
  r.msa_transition = positionwise(m, n * c_m * o.transition_n() * s);
  r.outer_product_mean = rows(n, {n * o.c_hidden_opm() * o.c_hidden_opm() * s});
  r.triangle_multiplication = rows(n, {n * o.c_hidden_mul() * s});
  r.triangle_multiplication_tile =
      policy.attention.low_memory ? TriangleMultiplicationImpl::tile_rows(n, r.triangle_multiplication) : 0;
  r.triangle_attention = rows(n, {attention(n, c_z, o.no_heads_pair(), o.c_hidden_pair_att(), 2)});
  r.pair_transition = positionwise(n, n * c_z * o.transition_n() * s);
  return r;
}

void PairStackImpl::forward_inplace(const torch::Tensor& z, const torch::Tensor& pair_mask, const MemoryPolicy& policy) {
  TORCH_CHECK(!is_training(), "PairStack: the in-place path has no dropout; call eval() first");
  const BlockRows rows = block_rows(options, policy, z.size(-2), 0, z.scalar_type(), z.device().type());
  const auto multiplications = [&] {
    const int64_t r = rows.triangle_multiplication, tile = rows.triangle_multiplication_tile;
    profiled("tri_mul_out", [&] { tri_mul_out->add_update_(z, pair_mask, r, tile); });
    profiled("tri_mul_in", [&] { tri_mul_in->add_update_(z, pair_mask, r, tile); });
  };
  const auto attentions = [&] {
    profiled("tri_att_start", [&] { tri_att_start->add_update_(z, pair_mask, rows.triangle_attention); });
    profiled("tri_att_end", [&] { tri_att_end->add_update_(z, pair_mask, rows.triangle_attention); });
  };
  in_pair_order(options, multiplications, attentions);
  profiled("pair_transition", [&] {
    pair_transition->add_update_(z, transition_mask(options, pair_mask), rows.pair_transition);
  });
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
                                                                     int64_t chunk_size, const AxialParallel* dap) {
  TORCH_CHECK(m_in.dim() >= 3 && m_in.size(-1) == options.c_m(), "EvoformerBlock: m must be [*, S, N, ",
              options.c_m(), "], got ", m_in.sizes());
  const int64_t split = dap ? dap->group().size() : 1;
  TORCH_CHECK(z_in.dim() == m_in.dim() && z_in.size(-1) == options.c_z() && z_in.size(-2) == m_in.size(-2) &&
                  z_in.size(-3) * split == m_in.size(-2),
              "EvoformerBlock: z must be [*, N, N, ", options.c_z(), "] with N = ", m_in.size(-2), ", got ",
              z_in.sizes());
  if (dap) return forward_split(m_in, z_in, msa_mask, pair_mask, chunk_size, *dap);
  torch::Tensor m = m_in, z = z_in;
  if (options.opm_first()) z = z + outer_product_mean(m, msa_mask, chunk_size);
  m = m + shared_dropout(msa_att_row(m, z, msa_mask, chunk_size), options.msa_dropout(), kRowwise, is_training());
  m = columns_and_transition(m, msa_mask, chunk_size);
  if (!options.opm_first()) z = z + outer_product_mean(m, msa_mask, chunk_size);
  z = pair_stack(z, pair_mask, chunk_size);
  return {m, z};
}

void EvoformerBlockImpl::forward_inplace(const torch::Tensor& m, const torch::Tensor& z,
                                         const torch::Tensor& msa_mask, const torch::Tensor& pair_mask,
                                         const MemoryPolicy& policy) {
  msa_inplace(m, z, msa_mask, policy);
  pair_stack->forward_inplace(z, pair_mask, policy);
}

void EvoformerBlockImpl::msa_inplace(const torch::Tensor& m, const torch::Tensor& z, const torch::Tensor& msa_mask,
                                     const MemoryPolicy& policy) {
  TORCH_CHECK(!is_training(), "EvoformerBlock: the in-place path has no dropout; call eval() first");
  const BlockRows rows = block_rows(options, policy, z.size(-2), m.size(-3), m.scalar_type(), m.device().type());
  const auto opm = [&] {
    profiled("outer_product_mean", [&] { outer_product_mean->add_update_(z, m, msa_mask, rows.outer_product_mean); });
  };
  if (options.opm_first()) opm();
  profiled("msa_att_row", [&] { msa_att_row->add_update_(m, z, msa_mask, rows.msa_row); });
  profiled("msa_att_col", [&] {
    if (msa_att_col) msa_att_col->add_update_(m, msa_mask, rows.msa_column);
    else msa_att_col_global->add_update_(m, msa_mask, rows.msa_column);
  });
  profiled("msa_transition",
           [&] { msa_transition->add_update_(m, transition_mask(options, msa_mask), rows.msa_transition); });
  if (!options.opm_first()) opm();
}

torch::Tensor EvoformerBlockImpl::columns_and_transition(const torch::Tensor& m_in, const torch::Tensor& msa_mask,
                                                         int64_t chunk_size) {
  torch::Tensor m =
      m_in + (msa_att_col ? msa_att_col(m_in, msa_mask, chunk_size) : msa_att_col_global(m_in, msa_mask, chunk_size));
  return m + msa_transition(m, transition_mask(options, msa_mask), chunk_size);
}

std::tuple<torch::Tensor, torch::Tensor> EvoformerBlockImpl::forward_split(const torch::Tensor& m_rows,
                                                                           const torch::Tensor& z_in,
                                                                           const torch::Tensor& msa_mask,
                                                                           const torch::Tensor& pair_mask,
                                                                           int64_t chunk_size, const AxialParallel& dap) {
  const dist::Group& g = dap.group();
  const torch::Tensor res_mask = dap.local(msa_mask, -1);
  torch::Tensor z = z_in;
  // The outer product mean reads the MSA split by residue; with opm_first, the block's
  // input goes there and back for it (one all-to-all more than AF2's order).
  if (options.opm_first()) z = z + outer_product_mean(dap::all_to_all(m_rows, -2, -3, g), res_mask, chunk_size, &dap);
  // Row attention on this rank's sequences.
  const torch::Tensor seq_mask = dap.local(msa_mask, -2);
  torch::Tensor m = m_rows + dap.shared_dropout(msa_att_row(m_rows, z, seq_mask, chunk_size, &dap),
                                                options.msa_dropout(), kRowwise, is_training(), -3, dap.n_seq(),
                                                dap.n_res());
  // Column attention and transition on this rank's residues.
  m = dap::all_to_all(m, -2, -3, g);
  m = columns_and_transition(m, res_mask, chunk_size);
  // Back to the sequence split for the next block while the pair stack runs.
  dap::PendingAllToAll to_rows(m, -3, -2, g);
  if (!options.opm_first()) z = z + outer_product_mean(m, res_mask, chunk_size, &dap);
  z = pair_stack(z, pair_mask, chunk_size, &dap);
  return {to_rows.wait(), z};
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
    torch::Tensor m, torch::Tensor z, const torch::Tensor& msa_mask, const torch::Tensor& pair_mask,
    const MemoryPolicy& policy, const dist::Group& dap) {
  auto [m_out, z_out] =
      run_stack(evoformer_blocks(blocks), std::move(m), std::move(z), msa_mask, pair_mask, policy, dap);
  // The single representation from the first MSA row (the target sequence).
  torch::Tensor s = linear(m_out.select(-3, 0));
  return {m_out, z_out, s};
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

torch::Tensor ExtraMsaStackImpl::forward(torch::Tensor a, torch::Tensor z, const torch::Tensor& msa_mask,
                                         const torch::Tensor& pair_mask, const MemoryPolicy& policy,
                                         const dist::Group& dap) {
  StackBlocks b = evoformer_blocks(blocks);
  b.returns_msa = false;
  return run_stack(b, std::move(a), std::move(z), msa_mask, pair_mask, policy, dap).second;
}

// ---------------------------------------------------------------------------------------

StackBlocks evoformer_blocks(torch::nn::ModuleList blocks) {
  StackBlocks b;
  b.count = static_cast<int64_t>(blocks->size());
  b.training = blocks->is_training();
  // The holder by value: a checkpoint's recompute may outlive the stack's call.
  b.forward = [blocks](int64_t i, const torch::Tensor& m, const torch::Tensor& z, const torch::Tensor& msa_mask,
                       const torch::Tensor& pair_mask, int64_t chunk_size, const AxialParallel* dap) mutable {
    auto [m_out, z_out] = blocks->at<EvoformerBlockImpl>(i).forward(m, z, msa_mask, pair_mask, chunk_size, dap);
    return std::make_pair(m_out, z_out);
  };
  b.msa_inplace = [blocks](int64_t i, const torch::Tensor& m, const torch::Tensor& z, const torch::Tensor& msa_mask,
                           const MemoryPolicy& policy) mutable {
    blocks->at<EvoformerBlockImpl>(i).msa_inplace(m, z, msa_mask, policy);
  };
  b.pair_inplace = [blocks](int64_t i, const torch::Tensor& z, const torch::Tensor& pair_mask,
                            const MemoryPolicy& policy) mutable {
    blocks->at<EvoformerBlockImpl>(i).pair_stack->forward_inplace(z, pair_mask, policy);
  };
  return b;
}

StackBlocks pair_stack_blocks(torch::nn::ModuleList blocks) {
  StackBlocks b;
  b.count = static_cast<int64_t>(blocks->size());
  b.training = blocks->is_training();
  b.forward = [blocks](int64_t i, const torch::Tensor& m, const torch::Tensor& z, const torch::Tensor&,
                       const torch::Tensor& pair_mask, int64_t chunk_size, const AxialParallel* dap) mutable {
    return std::make_pair(m, blocks->at<PairStackImpl>(i).forward(z, pair_mask, chunk_size, dap));
  };
  b.pair_inplace = [blocks](int64_t i, const torch::Tensor& z, const torch::Tensor& pair_mask,
                            const MemoryPolicy& policy) mutable {
    blocks->at<PairStackImpl>(i).forward_inplace(z, pair_mask, policy);
  };
  return b;
}

}  // namespace fold::evoformer
