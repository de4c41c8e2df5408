// The Evoformer block and stacks (AF2 Algorithms 6 and 18) against AlphaFold2 as
// computed by OpenFold (../shared/ref-modules/evoformer_block.npz, weights loaded under
// AF2's names through the composed block table), then the memory knobs: chunking and
// low-memory attention give the same block, and gradient checkpointing (none, block,
// every:2) gives the same stack outputs and gradients for less peak memory.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <algorithm>
#include <iostream>
#include <map>
#include <string>
#include <vector>

#include "data/af2_module_params.h"
#include "evoformer/checkpoint.h"
#include "evoformer/evoformer_block.h"
#include "evoformer/memory_policy.h"
#include "evoformer/primitives.h"
#include "kernels/device_memory.h"
#include "tests/ref_modules.h"

namespace fold::evoformer {
namespace {

using namespace fold::test::ref_modules;

constexpr const char* kBlock = "evoformer_block";
const c10::Device kCpu(c10::DeviceType::CPU);

// A reference's block sizes (its hyperparameters under OpenFold's argument names).
EvoformerBlockOptions block_options_of(const Ref& ref) {
  const auto& h = ref.hyper();
  const auto i = [&h](const char* key) { return h.at(key).get<int64_t>(); };
  return EvoformerBlockOptions(i("c_m"), i("c_z"))
      .c_hidden_msa_att(i("c_hidden_msa_att"))
      .c_hidden_opm(i("c_hidden_opm"))
      .c_hidden_mul(i("c_hidden_mul"))
      .c_hidden_pair_att(i("c_hidden_pair_att"))
      .no_heads_msa(i("no_heads_msa"))
      .no_heads_pair(i("no_heads_pair"))
      .transition_n(i("transition_n"))
      .inf(h.at("inf").get<double>())
      .eps(h.at("eps").get<double>());
}

// The reference block: OpenFold's EvoformerBlock(..., _mask_trans=False) in eval mode.
EvoformerBlock build_block(const Ref& ref, const kernels::AttentionOptions& kernel = {}) {
  EvoformerBlock block(block_options_of(ref).kernel(kernel));
  af2::load_module_params(*block, ref.arrays, ref.meta.at("af2_scope").get<std::string>(),
                          af2::param_table(af2::ModuleKind::kEvoformerBlock));
  block->eval();
  return block;
}

struct BlockResult {
  Tensors out, grads;  // keyed m, z
};

// Forward on the reference inputs, then backward of sum(m * cot_m) + sum(z * cot_z).
BlockResult run_block(EvoformerBlock& block, const Ref& ref, int64_t chunk_size = 0) {
  const Tensors in = ref.inputs();
  torch::Tensor m = in.at("m").clone().requires_grad_(true), z = in.at("z").clone().requires_grad_(true);
  auto [mo, zo] = block(m, z, in.at("msa_mask"), in.at("pair_mask"), chunk_size);
  ((mo * ref.get("cot/m")).sum() + (zo * ref.get("cot/z")).sum()).backward();
  return {{{"m", mo.detach()}, {"z", zo.detach()}}, {{"m", m.grad()}, {"z", z.grad()}}};
}

void expect_same(const Ref& ref, const BlockResult& a, const BlockResult& b, const std::string& what) {
  std::cout << "[ errors   ] " << what << ":";
  for (const char* key : {"m", "z"}) {
    const double e = rel_err(b.out.at(key), a.out.at(key), ref.get(std::string("valid/") + key));
    const double g = rel_err(b.grads.at(key), a.grads.at(key));
    std::cout << " out/" << key << " " << e << ", grad/" << key << " " << g << ";";
    EXPECT_LE(e, kTol) << what << " out/" << key;
    EXPECT_LE(g, kTol) << what << " grad/" << key;
  }
  std::cout << "\n";
}

TEST(EvoformerBlock, MatchesOpenFold) {
  FOLD_LOAD_REF(ref, kBlock);
  EvoformerBlock block = build_block(*ref);
  const BlockResult r = run_block(block, *ref);
  std::cout << "[ errors   ] " << kBlock << ":";
  for (const char* key : {"m", "z"}) {
    const std::string k = key;
    const torch::Tensor& valid = ref->get("valid/" + k);
    const double e = rel_err(r.out.at(k), ref->get("out/" + k), valid);
    const double e64 = rel_err(r.out.at(k), ref->get("out64/" + k), valid);
    const double g = rel_err(r.grads.at(k), ref->get("grad/" + k));
    const double g64 = rel_err(r.grads.at(k), ref->get("grad64/" + k));
    std::cout << " out/" << k << " " << e << " (vs float64 " << e64 << "), grad/" << k << " " << g
              << " (vs float64 " << g64 << ");";
    EXPECT_LE(e, ref->tolerance("out/" + k)) << "out/" << k;
    EXPECT_LE(g, ref->tolerance("grad/" + k)) << "grad/" << k;
  }
  std::cout << "\n";
}

TEST(EvoformerBlock, ChunkedMatchesUnchunked) {
  FOLD_LOAD_REF(ref, kBlock);
  EvoformerBlock block = build_block(*ref);
  expect_same(*ref, run_block(block, *ref), run_block(block, *ref, 4), "evoformer_block chunk_size 4");
}

TEST(EvoformerBlock, LowMemoryAttentionMatchesDefault) {
  FOLD_LOAD_REF(ref, kBlock);
  kernels::AttentionOptions low;
  low.low_memory = true;
  // Several query and key tiles even at N = 11, so the online softmax really streams.
  low.query_chunk = 4;
  low.key_chunk = 4;
  EvoformerBlock plain = build_block(*ref), streamed = build_block(*ref, low);
  expect_same(*ref, run_block(plain, *ref), run_block(streamed, *ref), "evoformer_block low_memory on vs off");
}

// A leading batch dim of 2 (the reference inputs, and m, z scaled by 0.5 with the masks
// unchanged) gives each element's unbatched output.
TEST(EvoformerBlock, BatchedMatchesUnbatched) {
  FOLD_LOAD_REF(ref, kBlock);
  EvoformerBlock block = build_block(*ref);
  torch::NoGradGuard no_grad;
  const Tensors in = ref->inputs();
  const auto& mm = in.at("msa_mask");
  const auto& pm = in.at("pair_mask");
  const auto [m0, z0] = block(in.at("m"), in.at("z"), mm, pm);
  const auto [m1, z1] = block(in.at("m") * 0.5, in.at("z") * 0.5, mm, pm);
  const auto [mb, zb] = block(torch::stack({in.at("m"), in.at("m") * 0.5}),
                              torch::stack({in.at("z"), in.at("z") * 0.5}), torch::stack({mm, mm}),
                              torch::stack({pm, pm}));
  const auto& vm = ref->get("valid/m");
  const auto& vz = ref->get("valid/z");
  const double e = std::max({rel_err(mb[0], m0, vm), rel_err(mb[1], m1, vm), rel_err(zb[0], z0, vz),
                             rel_err(zb[1], z1, vz)});
  std::cout << "[ errors   ] evoformer_block batched vs unbatched: " << e << "\n";
  EXPECT_LE(e, kTol);
}

// A small block: c_m 16, c_z 8, two heads.
EvoformerBlockOptions small_block() {
  return EvoformerBlockOptions(16, 8)
      .c_hidden_msa_att(4)
      .no_heads_msa(2)
      .c_hidden_opm(4)
      .c_hidden_mul(8)
      .c_hidden_pair_att(4)
      .no_heads_pair(2);
}

TEST(EvoformerBlock, DropoutOnlyInTraining) {
  torch::manual_seed(11);
  EvoformerBlock block(small_block());
  {
    torch::NoGradGuard no_grad;
    for (auto& p : block->parameters()) p.normal_(0.0, 0.2);
  }
  const auto m = torch::randn({3, 6, 16}), z = torch::randn({6, 6, 8});
  const auto msa_mask = torch::ones({3, 6}), pair_mask = torch::ones({6, 6});
  block->eval();
  const auto [m1, z1] = block(m, z, msa_mask, pair_mask);
  const auto [m2, z2] = block(m, z, msa_mask, pair_mask);
  EXPECT_TRUE(torch::equal(m1, m2) && torch::equal(z1, z2)) << "eval mode must be deterministic";
  block->train();
  const auto [m3, z3] = block(m, z, msa_mask, pair_mask);
  EXPECT_GT((m3 - m1).abs().max().item<double>(), 1e-3) << "training mode must drop out";
  EXPECT_GT((z3 - z1).abs().max().item<double>(), 1e-3) << "training mode must drop out";
}

// AF2's shared dropout: rowwise = one mask for every row (dim -3), columnwise = dim -2.
// AF-Multimer's block (opm_first): z gets the outer product mean of the block's input
// MSA first, and the row attention reads that z; then the column attention, the MSA
// transition and the pair stack as in AF2. Composed here from the block's own modules,
// and the in-place inference path and chunking give the same.
TEST(EvoformerBlock, OpmFirstIsTheOuterProductMeanBeforeTheRowAttention) {
  torch::manual_seed(4);
  EvoformerBlock block(small_block().opm_first(true));
  {
    torch::NoGradGuard no_grad;
    for (auto& p : block->parameters()) p.normal_(0.0, 0.2);
  }
  block->eval();
  constexpr int64_t S = 5, N = 11;
  const auto m = torch::randn({S, N, 16}), z = torch::randn({N, N, 8});
  const auto msa_mask = (torch::rand({S, N}) > 0.2).to(torch::kFloat), pair_mask = torch::ones({N, N});
  torch::NoGradGuard no_grad;
  const torch::Tensor z1 = z + block->outer_product_mean(m, msa_mask);
  torch::Tensor m1 = m + block->msa_att_row(m, z1, msa_mask);
  m1 = m1 + block->msa_att_col(m1, msa_mask);
  m1 = m1 + block->msa_transition(m1);
  const torch::Tensor z2 = block->pair_stack(z1, pair_mask);
  const auto [mo, zo] = block(m, z, msa_mask, pair_mask);
  EXPECT_LE(rel_err(mo, m1), 1e-6);
  EXPECT_LE(rel_err(zo, z2), 1e-6);
  const auto [mc, zc] = block(m, z, msa_mask, pair_mask, /*chunk_size=*/3);
  EXPECT_LE(rel_err(mc, m1), 1e-5);
  EXPECT_LE(rel_err(zc, z2), 1e-5);
  torch::Tensor mi = m.clone(), zi = z.clone();
  block->forward_inplace(mi, zi, msa_mask, pair_mask, MemoryPolicy::parse("chunk4+exactchunk"));
  EXPECT_LE(rel_err(mi, m1), 1e-5);
  EXPECT_LE(rel_err(zi, z2), 1e-5);
  // The order matters: AF2's block on the same weights gives another MSA.
  block->options.opm_first(false);
  EXPECT_GT(rel_err(std::get<0>(block(m, z, msa_mask, pair_mask)), m1), 1e-4);
}

// OpenFold's EvoformerBlock as AF-Multimer v3 has it (opm_first, fused triangle
// projections) under its own state_dict names: both outputs and the gradients of m and z.
TEST(EvoformerBlock, MultimerMatchesOpenFold) {
  FOLD_LOAD_OPENFOLD_MULTIMER_REF(ref, "evoformer_block_multimer");
  EvoformerBlock block(block_options_of(*ref).opm_first(true).fuse_projection_weights(true));
  load_openfold_params(*block, *ref);
  block->eval();
  const Tensors in = ref->inputs();
  const torch::Tensor m = in.at("m").clone().requires_grad_(true), z = in.at("z").clone().requires_grad_(true);
  const auto [mo, zo] = block(m, z, in.at("msa_mask"), in.at("pair_mask"));
  ((mo * ref->get("cot/m")).sum() + (zo * ref->get("cot/z")).sum()).backward();
  expect_matches_ref(*ref, {{"m", mo.detach()}, {"z", zo.detach()}}, {{"m", m.grad()}, {"z", z.grad()}});
}

TEST(SharedDropout, SharesTheMaskAlongTheAxis) {
  torch::manual_seed(2);
  const auto x = torch::ones({2, 5, 7, 6});
  const auto row = shared_dropout(x, 0.25, -3, true), col = shared_dropout(x, 0.25, -2, true);
  for (int64_t i = 1; i < 5; ++i) EXPECT_TRUE(torch::equal(row.select(-3, i), row.select(-3, 0)));
  for (int64_t j = 1; j < 7; ++j) EXPECT_TRUE(torch::equal(col.select(-2, j), col.select(-2, 0)));
  // Kept entries are scaled by 1 / (1 - p); some are dropped.
  EXPECT_NEAR(row.max().item<double>(), 1.0 / 0.75, 1e-6);
  EXPECT_EQ(row.min().item<double>(), 0.0);
  EXPECT_TRUE(torch::equal(shared_dropout(x, 0.25, -3, false), x));
}

// ---------------------------------------------------------------------------------------
// Gradient checkpointing.

TEST(CheckpointPolicy, ParsesAndRejects) {
  EXPECT_EQ(CheckpointPolicy::parse("none").blocks_per_checkpoint, 0);
  EXPECT_FALSE(CheckpointPolicy::parse("none").enabled());
  EXPECT_EQ(CheckpointPolicy::parse("block").blocks_per_checkpoint, 1);
  EXPECT_EQ(CheckpointPolicy::parse("every:1").blocks_per_checkpoint, 1);
  EXPECT_EQ(CheckpointPolicy::parse("every:12").blocks_per_checkpoint, 12);
  for (const char* s : {"none", "block", "every:3"}) EXPECT_EQ(CheckpointPolicy::parse(s).to_string(), s);
  for (const char* bad : {"", "None", "blocks", "every", "every:", "every:0", "every:-2", "every:+2", "every: 2",
                          "every:2x", "every:1.5", "every:99999999999999999999", "all"}) {
    EXPECT_THROW(CheckpointPolicy::parse(bad), std::invalid_argument) << "'" << bad << "'";
  }
  try {
    CheckpointPolicy::parse("every:0");
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("'every:0'"), std::string::npos) << e.what();
  }
}

// The recompute replays the forward's dropout masks (recorded generator state), feeds the
// parameters fn captures even when no input requires grad, and leaves the live random
// stream as it would be without checkpointing.
TEST(Checkpoint, ReplaysDropoutAndFeedsParameters) {
  torch::manual_seed(7);
  torch::nn::Linear lin(8, 8);
  const auto x = torch::randn({4, 8});
  const auto fn = [&lin](const torch::Tensor& in) { return torch::dropout(lin(in), 0.5, /*train=*/true); };
  torch::manual_seed(1);
  const auto y_ref = fn(x);
  y_ref.sum().backward();
  const auto g_ref = lin->weight.grad().clone();
  const auto after_ref = torch::rand({3});
  lin->zero_grad();
  torch::manual_seed(1);
  const auto y = checkpoint(fn, x);
  EXPECT_TRUE(torch::equal(y, y_ref));
  const auto after = torch::rand({3});
  y.sum().backward();
  // The live stream continues from where it was before backward, not from the recompute.
  const auto next = torch::rand({3});
  EXPECT_TRUE(torch::equal(after, after_ref));
  ASSERT_TRUE(lin->weight.grad().defined());
  EXPECT_TRUE(torch::equal(lin->weight.grad(), g_ref));
  torch::manual_seed(1);
  (void)fn(x);
  (void)torch::rand({3});
  EXPECT_TRUE(torch::equal(next, torch::rand({3})));
}

TEST(Checkpoint, InPlaceModifiedInputIsAnError) {
  auto w = torch::randn({4}, torch::requires_grad());
  auto x = torch::randn({4});
  const auto y = checkpoint([&w](const torch::Tensor& in) { return in * w; }, x);
  x.add_(1.0);
  EXPECT_THROW(y.sum().backward(), c10::Error);
}

TEST(MemoryPolicy, ParsesJoinedPartsAndRoundTrips) {
  const MemoryPolicy p = MemoryPolicy::parse("dap2+checkpoint+chunk4+lowmem");
  EXPECT_EQ(p.dap, 2);
  EXPECT_EQ(p.checkpoint.blocks_per_checkpoint, 1);
  EXPECT_EQ(p.chunk_size, 4);
  EXPECT_TRUE(p.attention.low_memory);
  EXPECT_TRUE(p.inplace);
  EXPECT_FALSE(p.offload);
  EXPECT_EQ(MemoryPolicy::parse("none"), MemoryPolicy{});
  EXPECT_EQ(MemoryPolicy{}.to_string(), "none");
  // Any order in, one canonical order out.
  EXPECT_EQ(MemoryPolicy::parse("lowmem+chunk4+checkpoint+dap2").to_string(), "dap2+checkpoint+chunk4+lowmem");
  for (const char* text : {"none", "checkpoint3", "dap4+chunkauto+offload+bf16", "chunk1+copy", "lowmem",
                           "chunk2+exactchunk"}) {
    const MemoryPolicy q = MemoryPolicy::parse(text);
    EXPECT_EQ(MemoryPolicy::parse(q.to_string()), q) << text;
    EXPECT_EQ(q.to_string(), text);
  }
  EXPECT_TRUE(MemoryPolicy::parse("chunkauto").auto_chunk);
  EXPECT_EQ(MemoryPolicy::parse("bf16").storage, c10::ScalarType::BFloat16);
  EXPECT_FALSE(MemoryPolicy::parse("copy").inplace);
  EXPECT_TRUE(MemoryPolicy::parse("chunk2+exactchunk").exact_chunks);
}

TEST(MemoryPolicy, RowsRaiseSmallChunksToTheFloorAndBlockTheCpuUnlessExact) {
  const MemoryPolicy none = MemoryPolicy::parse("none"), chunk4 = MemoryPolicy::parse("chunk4"),
                     exact = MemoryPolicy::parse("chunk4+exactchunk"), chunk64 = MemoryPolicy::parse("chunk64"),
                     whole = MemoryPolicy::parse("exactchunk");
  constexpr auto cpu = c10::DeviceType::CPU, cuda = c10::DeviceType::CUDA;
  // N_res 256 x 128 channels fp32: 128 KiB a row, 64 rows for 8 MiB.
  EXPECT_EQ(chunk4.rows(128 << 10, 256, cpu), 64);
  EXPECT_EQ(chunk4.rows(128 << 10, 256, cuda), 64);
  EXPECT_EQ(exact.rows(128 << 10, 256, cpu), 4);
  // Unchunked: 8 MiB blocks on the CPU, every row on a GPU or when asked exactly.
  EXPECT_EQ(none.rows(128 << 10, 256, cpu), 64);
  EXPECT_EQ(none.rows(128 << 10, 256, cuda), 256);
  EXPECT_EQ(whole.rows(128 << 10, 256, cpu), 256);
  // Rows of 512 KiB (N_res 1024): 16 reach the floor, so a chunk of 64 stays 64.
  EXPECT_EQ(chunk64.rows(512 << 10, 1024, cpu), 64);
  // A row larger than the floor: one row per block.
  EXPECT_EQ(none.rows(32 << 20, 1024, cpu), 1);
  // Never more rows than there are.
  EXPECT_EQ(chunk4.rows(1 << 10, 48, cpu), 48);
  EXPECT_EQ(none.rows(1 << 10, 48, cpu), 48);
}

TEST(MemoryPolicy, RejectsUnknownRepeatedOrDegenerateParts) {
  for (const char* bad : {"", "+", "chunk4+", "+chunk4", "chunk0", "dap0", "checkpoint0", "chunk", "dap", "chunk-4",
                          "fast", "chunk4+chunk8", "chunk4+chunkauto", "lowmem+lowmem", "none+chunk4", "Chunk4"}) {
    try {
      MemoryPolicy::parse(bad);
      ADD_FAILURE() << "'" << bad << "' was accepted";
    } catch (const std::invalid_argument& e) {
      EXPECT_NE(std::string(e.what()).find(std::string("'") + bad + "'"), std::string::npos) << e.what();
    }
  }
}

// The in-place inference path (no autograd) equals the copying forward, and holds less:
// the extra-MSA stack at N = 48 in place, chunked, peaks below the copying path, which
// keeps every module's output (and the concatenated chunks) beside z.
TEST(ExtraMsaStack, InPlaceInferenceEqualsCopyingAndHoldsLess) {
  kernels::enable_cpu_memory_tracking();
  torch::manual_seed(11);
  ExtraMsaStack stack(ExtraMsaStackOptions(EvoformerBlockOptions(16, 32)
                                               .c_hidden_msa_att(8)
                                               .no_heads_msa(4)
                                               .c_hidden_opm(8)
                                               .c_hidden_mul(32)
                                               .c_hidden_pair_att(8)
                                               .no_heads_pair(4),
                                           /*no_blocks=*/2));
  {
    torch::NoGradGuard no_grad;
    for (auto& p : stack->parameters()) p.normal_(0.0, 0.1);
  }
  stack->eval();
  constexpr int64_t S = 12, N = 48;
  const auto a = torch::randn({S, N, 16}), z0 = torch::randn({N, N, 32});
  auto msa_mask = torch::ones({S, N}), pair_mask = torch::ones({N, N});
  msa_mask[S - 1] = 0;
  pair_mask[N - 1] = 0;
  pair_mask.select(1, N - 1).zero_();
  torch::NoGradGuard no_grad;
  const auto run = [&](const char* policy, int64_t& peak) {
    // Moved in, as the model does: the stack may then overwrite them.
    torch::Tensor a_in = a.clone(), z_in = z0.clone();
    kernels::reset_peak_memory(kCpu);
    const int64_t base = kernels::memory_stats(kCpu).current_bytes;
    torch::Tensor out = stack(std::move(a_in), std::move(z_in), msa_mask, pair_mask, MemoryPolicy::parse(policy));
    peak = kernels::memory_stats(kCpu).peak_bytes - base;
    return out;
  };
  int64_t copy_peak = 0, inplace_peak = 0, chunked_peak = 0;
  const torch::Tensor reference = run("copy", copy_peak);
  const torch::Tensor inplace = run("none", inplace_peak);
  // Exact chunks: at these sizes the default 8 MiB floor (MemoryPolicy::rows) would take
  // every row of the triangle multiplication at once.
  const torch::Tensor chunked = run("chunk8+exactchunk", chunked_peak);
  EXPECT_LE(rel_err(inplace, reference), 1e-6);
  EXPECT_LE(rel_err(chunked, reference), 1e-6);
  const double pair = N * N * 32 * 4.0;
  std::cout << "[ memory   ] peak above the inputs, in pair tensors: copy " << copy_peak / pair << ", in place "
            << inplace_peak / pair << ", in place chunk 8 " << chunked_peak / pair << "\n";
  EXPECT_LT(inplace_peak, copy_peak);
  EXPECT_LT(chunked_peak, inplace_peak);
  // Chunked in place: the held triangle projection (one pair tensor at c_hidden_mul =
  // c_z) plus transients of 8 of the 48 rows (measured: 2.97 pair tensors; the copying
  // path 20.3).
  EXPECT_LT(chunked_peak, 0.2 * copy_peak);
  EXPECT_LT(chunked_peak, 3.5 * pair);
  // A tensor the caller still holds is never overwritten: the stack copies it first.
  torch::Tensor z_kept = z0.clone();
  const torch::Tensor again = stack(a, z_kept, msa_mask, pair_mask, MemoryPolicy::parse("chunk8"));
  EXPECT_TRUE(torch::equal(z_kept, z0));
  EXPECT_LE(rel_err(again, reference), 1e-6);
}

struct StackRun {
  torch::Tensor m, z, s;
  std::map<std::string, torch::Tensor> grads;  // parameters, and in/m, in/z
  int64_t peak_bytes = 0;                      // above the memory in use before the forward
};

// Forward and backward of a synthetic stack (dropout off) under a checkpoint policy.
StackRun run_with_gradients(EvoformerStack& stack, const Tensors& in, const CheckpointPolicy& checkpoint) {
  MemoryPolicy policy;
  policy.checkpoint = checkpoint;
  stack->zero_grad();
  StackRun r;
  {
    torch::Tensor m = in.at("m").clone().requires_grad_(true), z = in.at("z").clone().requires_grad_(true);
    kernels::reset_peak_memory(kCpu);
    const int64_t base = kernels::memory_stats(kCpu).current_bytes;
    auto [mo, zo, so] = stack(m, z, in.at("msa_mask"), in.at("pair_mask"), policy);
    ((mo * in.at("cot_m")).sum() + (zo * in.at("cot_z")).sum() + (so * in.at("cot_s")).sum()).backward();
    r.peak_bytes = kernels::memory_stats(kCpu).peak_bytes - base;
    r.m = mo.detach();
    r.z = zo.detach();
    r.s = so.detach();
    r.grads["in/m"] = m.grad();
    r.grads["in/z"] = z.grad();
  }
  for (const auto& p : stack->named_parameters()) r.grads[p.key()] = p.value().grad().clone();
  return r;
}

TEST(EvoformerStack, CheckpointingKeepsNumbersAndSavesMemory) {
  kernels::enable_cpu_memory_tracking();
  torch::manual_seed(5);
  constexpr int64_t S = 6, N = 16, c_m = 32, c_z = 16;
  EvoformerStack stack(EvoformerStackOptions(EvoformerBlockOptions(c_m, c_z)
                                                 .c_hidden_msa_att(8)
                                                 .no_heads_msa(4)
                                                 .c_hidden_opm(8)
                                                 .c_hidden_mul(16)
                                                 .c_hidden_pair_att(8)
                                                 .no_heads_pair(2),
                                             /*no_blocks=*/3, /*c_s=*/24));
  {
    // AF2's init zeroes the output projections (every update would start at 0).
    torch::NoGradGuard no_grad;
    for (auto& p : stack->parameters()) p.normal_(0.0, 0.1);
  }
  stack->eval();  // dropout off: the policies must agree exactly up to rounding
  auto msa_mask = torch::ones({S, N}), pair_mask = torch::ones({N, N});
  msa_mask[S - 1] = 0;  // a padded sequence and residue, as the reference data
  msa_mask.select(1, N - 1).zero_();
  pair_mask[N - 1] = 0;
  pair_mask.select(1, N - 1).zero_();
  const Tensors in = {{"m", torch::randn({S, N, c_m})},   {"z", torch::randn({N, N, c_z})},
                      {"msa_mask", msa_mask},             {"pair_mask", pair_mask},
                      {"cot_m", torch::randn({S, N, c_m})}, {"cot_z", torch::randn({N, N, c_z})},
                      {"cot_s", torch::randn({N, 24})}};
  const StackRun none = run_with_gradients(stack, in, CheckpointPolicy::none());
  for (const char* policy : {"block", "every:2"}) {
    const StackRun r = run_with_gradients(stack, in, CheckpointPolicy::parse(policy));
    double worst = 0.0;
    std::string worst_name = "all exact";
    for (const auto& [name, g] : none.grads) {
      ASSERT_TRUE(r.grads.at(name).defined()) << policy << ": no gradient for " << name;
      const double e = rel_err(r.grads.at(name), g);
      if (e > worst) {
        worst = e;
        worst_name = name;
      }
      EXPECT_LE(e, 1e-6) << policy << " grad " << name;
    }
    const double em = rel_err(r.m, none.m), ez = rel_err(r.z, none.z), es = rel_err(r.s, none.s);
    EXPECT_LE(em, 1e-6) << policy;
    EXPECT_LE(ez, 1e-6) << policy;
    EXPECT_LE(es, 1e-6) << policy;
    std::cout << "[ errors   ] checkpoint " << policy << " vs none: m " << em << ", z " << ez << ", s " << es
              << ", worst of " << none.grads.size() << " gradients " << worst << " (" << worst_name << ")\n";
    std::cout << "[ memory   ] peak above baseline: none " << none.peak_bytes << " B, " << policy << " "
              << r.peak_bytes << " B (" << 100.0 * r.peak_bytes / none.peak_bytes << "%)\n";
    EXPECT_LT(r.peak_bytes, none.peak_bytes) << policy;
  }
}

// ---------------------------------------------------------------------------------------
// Extra-MSA stack (Algorithm 18): the same block with global column attention.

ExtraMsaStack small_extra_msa_stack() {
  torch::manual_seed(9);
  ExtraMsaStack stack(ExtraMsaStackOptions(EvoformerBlockOptions(16, 8)
                                               .c_hidden_msa_att(4)
                                               .no_heads_msa(4)
                                               .c_hidden_opm(4)
                                               .c_hidden_mul(8)
                                               .c_hidden_pair_att(4)
                                               .no_heads_pair(2),
                                           /*no_blocks=*/2));
  torch::NoGradGuard no_grad;
  for (auto& p : stack->parameters()) p.normal_(0.0, 0.2);
  stack->eval();
  return stack;
}

TEST(ExtraMsaStack, ChunkingAndCheckpointingKeepNumbers) {
  ExtraMsaStack stack = small_extra_msa_stack();
  const auto a = torch::randn({7, 9, 16}), z0 = torch::randn({9, 9, 8}), cot = torch::randn({9, 9, 8});
  auto msa_mask = torch::ones({7, 9});
  msa_mask[6] = 0;
  const auto pair_mask = torch::ones({9, 9});
  const auto run = [&](int64_t chunk, const CheckpointPolicy& checkpoint) {
    stack->zero_grad();
    auto z = z0.clone().requires_grad_(true);
    MemoryPolicy policy;
    policy.chunk_size = chunk;
    policy.checkpoint = checkpoint;
    const auto out = stack(a, z, msa_mask, pair_mask, policy);
    (out * cot).sum().backward();
    return std::make_pair(out.detach(), z.grad());
  };
  const auto [ref, gref] = run(0, CheckpointPolicy::none());
  const auto [chunked_out, gchunked] = run(3, CheckpointPolicy::none());
  const auto [ckpt_out, gckpt] = run(0, CheckpointPolicy::parse("block"));
  EXPECT_LE(rel_err(chunked_out, ref), kTol);
  EXPECT_LE(rel_err(gchunked, gref), kTol);
  EXPECT_LE(rel_err(ckpt_out, ref), 1e-6);
  EXPECT_LE(rel_err(gckpt, gref), 1e-6);
}

// Both block tables name every parameter of the block (composed from the module tables).
TEST(Af2ModuleParams, BlockTablesCoverEveryParameter) {
  for (const auto kind : {af2::ModuleKind::kEvoformerBlock, af2::ModuleKind::kExtraMsaBlock}) {
    const bool extra = kind == af2::ModuleKind::kExtraMsaBlock;
    EvoformerBlock block(EvoformerBlockOptions(8, 6)
                             .c_hidden_msa_att(2)
                             .no_heads_msa(3)
                             .c_hidden_opm(3)
                             .c_hidden_mul(4)
                             .c_hidden_pair_att(2)
                             .no_heads_pair(2)
                             .column(extra ? MsaColumnKind::kGlobal : MsaColumnKind::kAttention));
    const auto params = block->named_parameters();
    Tensors arrays;
    for (const auto& e : af2::param_table(kind)) {
      const torch::Tensor* p = params.find(e.name);
      ASSERT_NE(p, nullptr) << e.name;
      torch::Tensor a = torch::randn(p->sizes());
      if (e.transform != af2::Transform::kFlat) a = a.t().contiguous();
      arrays["param/scope/" + e.af2_suffix] = a;
    }
    EXPECT_NO_THROW(af2::load_module_params(*block, arrays, "scope", af2::param_table(kind)));
    EXPECT_EQ(arrays.size(), params.size());
  }
}

}  // namespace
}  // namespace fold::evoformer
