// Finite-difference gradient checks in fp64 of every model module's backward
// (tests/gradient_check.h): each module is built with tiny sizes, converted to fp64, its
// parameters redrawn (AF2's init zeroes output projections and gates), and the autograd
// gradient of L = sum(out * cot) with respect to its inputs and parameters is compared
// with central differences on a seeded sample of entries. Where a module has memory
// strategies (chunk_size, low-memory / reference attention, checkpointing), the fp64
// gradients must also be the same under each.
//
// The kernels' own finite-difference checks live with them and are not repeated here:
// kernels::attention low_memory with pair bias and gate (test_attention.cpp),
// kernels::layer_norm in x, weight and bias (test_layer_norm.cpp).
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <functional>
#include <string>
#include <vector>

#include "evoformer/checkpoint.h"
#include "evoformer/evoformer_block.h"
#include "evoformer/memory_policy.h"
#include "evoformer/msa_attention.h"
#include "evoformer/outer_product_mean.h"
#include "evoformer/primitives.h"
#include "evoformer/template_pair_stack.h"
#include "evoformer/template_pointwise_attention.h"
#include "evoformer/transition.h"
#include "evoformer/triangle_attention.h"
#include "evoformer/triangle_multiplication.h"
#include "fold/model/heads.h"
#include "fold/model/input_embedder.h"
#include "fold/model/recycling_embedder.h"
#include "fold/model/template_embedder.h"
#include "fold/model/template_embedder_multimer.h"
#include "kernels/attention.h"
#include "structure_module/all_atom.h"
#include "structure_module/angle_resnet.h"
#include "structure_module/backbone_update.h"
#include "structure_module/invariant_point_attention.h"
#include "structure_module/rigid.h"
#include "structure_module/structure_module.h"
#include "structure_module/structure_module_transition.h"
#include "tests/gradient_check.h"

namespace fold {
namespace {

using evoformer::MemoryPolicy;
using test::expect_gradients_match_finite_differences;
using test::GradCheckOptions;
using test::GradFn;
using test::NamedTensors;
using Ts = std::vector<torch::Tensor>;

// Tiny tensors gain nothing from intra-op threads, and on a loaded machine the thread
// pool's waiting dominates (seconds instead of milliseconds): one thread.
const bool kOneThread = [] {
  torch::set_num_threads(1);
  return true;
}();

// Tiny sizes: N_res, N_seq, channels, heads.
constexpr int64_t N = 5, S = 3, CM = 6, CZ = 4, CH = 3, H = 2;
// Same numbers up to fp64 rounding of a different evaluation order.
constexpr double kStrategyTol = 1e-10;

torch::Tensor rnd(at::IntArrayRef shape, double scale = 1.0) { return torch::randn(shape, torch::kFloat64) * scale; }

// Masks with scattered zeros, every row and column keeping unmasked entries (a query
// whose keys are all masked sits at -1e9 + O(1), below the step's resolution).
torch::Tensor msa_mask() {
  auto m = torch::ones({S, N}, torch::kFloat64);
  m[0][1] = 0;
  m[1][3] = 0;
  m[2][0] = 0;
  return m;
}
torch::Tensor pair_mask() {
  auto m = torch::ones({N, N}, torch::kFloat64);
  for (int64_t i = 0; i < N; ++i) m[i][(2 * i + 1) % N] = 0;  // a permutation: one zero per row and column
  return m;
}

// A module's forward under a memory policy.
using StrategyFn = std::function<Ts(const Ts&, const MemoryPolicy&)>;

// A memory policy (its text form, memory_policy.h) and the attention path.
struct Strategy {
  Strategy(std::string name_, const std::string& policy_text, bool reference_ = false)
      : name(std::move(name_)), policy(MemoryPolicy::parse(policy_text)), reference(reference_) {
    if (policy.attention.low_memory) {
      policy.attention.query_chunk = 2;  // several query and key tiles at N = 5
      policy.attention.key_chunk = 2;
    }
    if (reference) policy.attention.path = kernels::AttentionPath::kReference;
  }
  std::string name;
  MemoryPolicy policy;
  bool reference;
};

// Exact chunks, so that the blocks' triangle multiplications are chunked at these sizes
// too (MemoryPolicy::rows).
const std::vector<Strategy> kAttentionStrategies = {{"chunk_size 2", "chunk2+exactchunk"},
                                                    {"low_memory", "lowmem"},
                                                    {"reference path", "none", true},
                                                    {"chunked low_memory", "chunk3+lowmem+exactchunk"}};
const std::vector<Strategy> kChunkStrategies = {{"chunk_size 2", "chunk2"}, {"chunk_size 3", "chunk3"}};

// The fp64 outputs and gradients (inputs and every parameter) under each strategy equal
// those of the default (no chunking, fused attention, no checkpointing). With
// `inplace`, the in-place inference path (no autograd) under the default and under each
// strategy gives the default's outputs too.
void expect_strategies_agree(torch::nn::Module& module,
                             const std::function<void(const kernels::AttentionOptions&)>& set_kernel,
                             const StrategyFn& f, const NamedTensors& inputs, const std::vector<Strategy>& strategies,
                             const StrategyFn& inplace = nullptr) {
  const auto run = [&](const MemoryPolicy& p) {
    if (set_kernel) set_kernel(p.attention);
    return test::run_with_gradients([&](const Ts& x) { return f(x, p); }, inputs, &module);
  };
  const test::GradRun base = run(MemoryPolicy{});
  for (const auto& s : strategies) test::expect_same_run(base, run(s.policy), kStrategyTol, s.name);
  if (inplace) {
    Ts x;
    for (const auto& [name, t] : inputs) x.push_back(t);
    // The reference: the copying forward without autograd (a stack's f runs in place
    // without autograd unless told "copy"; a module's f is its copying forward).
    if (set_kernel) set_kernel({});
    Ts reference;
    {
      torch::NoGradGuard no_grad;
      reference = f(x, MemoryPolicy::parse("copy"));
    }
    std::vector<MemoryPolicy> policies{MemoryPolicy{}};
    for (const auto& s : strategies) policies.push_back(s.policy);
    for (const auto& p : policies) {
      if (set_kernel) set_kernel(p.attention);
      torch::NoGradGuard no_grad;
      const Ts out = inplace(x, p);
      ASSERT_EQ(out.size(), reference.size());
      double worst = 0.0;
      for (size_t k = 0; k < out.size(); ++k) {
        const double e = test::max_rel_diff(out[k], reference[k]);
        worst = std::max(worst, e);
        EXPECT_LE(e, kStrategyTol) << "in place, " << p.to_string() << ": output " << k;
      }
      std::cout << "[ strategy ] in place, " << p.to_string() << ": worst rel diff " << worst << "\n";
    }
  }
  if (set_kernel) set_kernel({});
}

// The update an in-place module adds to a copy of x (its in-place path, compared with
// the update its forward returns).
Ts update_of(const torch::Tensor& x, const std::function<void(const torch::Tensor&)>& add_update) {
  const torch::Tensor y = x.clone();
  add_update(y);
  return {y - x};
}

// ---------------------------------------------------------------------------------------
// evoformer/

TEST(MsaRowAttentionWithPairBias, GradientMatchesFiniteDifferencesFp64) {
  torch::manual_seed(1);
  evoformer::MsaRowAttentionWithPairBias m(evoformer::MsaRowAttentionWithPairBiasOptions(CM, CZ, CH, H));
  test::prepare_fp64(*m);
  const auto mask = msa_mask();
  const StrategyFn f = [&](const Ts& x, const MemoryPolicy& p) -> Ts {
    return {m(x[0], x[1], mask, p.chunk_size)};
  };
  const NamedTensors in = {{"m", rnd({S, N, CM})}, {"z", rnd({N, N, CZ})}};
  expect_gradients_match_finite_differences([&](const Ts& x) { return f(x, MemoryPolicy{}); }, in, m.ptr().get());
}

TEST(MsaRowAttentionWithPairBias, Fp64GradientsSameUnderEveryMemoryStrategy) {
  torch::manual_seed(2);
  evoformer::MsaRowAttentionWithPairBias m(evoformer::MsaRowAttentionWithPairBiasOptions(CM, CZ, CH, H));
  test::prepare_fp64(*m);
  const auto mask = msa_mask();
  expect_strategies_agree(
      *m, [&](const kernels::AttentionOptions& k) { m->set_kernel_options(k); },
      [&](const Ts& x, const MemoryPolicy& p) -> Ts { return {m(x[0], x[1], mask, p.chunk_size)}; },
      {{"m", rnd({S, N, CM})}, {"z", rnd({N, N, CZ})}}, kAttentionStrategies,
      [&](const Ts& x, const MemoryPolicy& p) {
        return update_of(x[0], [&](const torch::Tensor& y) { m->add_update_(y, x[1], mask, p.chunk_size); });
      });
}

TEST(MsaColumnAttention, GradientMatchesFiniteDifferencesFp64) {
  torch::manual_seed(3);
  evoformer::MsaColumnAttention m(evoformer::MsaColumnAttentionOptions(CM, CH, H));
  test::prepare_fp64(*m);
  const auto mask = msa_mask();
  expect_gradients_match_finite_differences([&](const Ts& x) -> Ts { return {m(x[0], mask)}; },
                                            {{"m", rnd({S, N, CM})}}, m.ptr().get());
}

TEST(MsaColumnAttention, Fp64GradientsSameUnderEveryMemoryStrategy) {
  torch::manual_seed(4);
  evoformer::MsaColumnAttention m(evoformer::MsaColumnAttentionOptions(CM, CH, H));
  test::prepare_fp64(*m);
  const auto mask = msa_mask();
  expect_strategies_agree(
      *m, [&](const kernels::AttentionOptions& k) { m->set_kernel_options(k); },
      [&](const Ts& x, const MemoryPolicy& p) -> Ts { return {m(x[0], mask, p.chunk_size)}; },
      {{"m", rnd({S, N, CM})}}, kAttentionStrategies, [&](const Ts& x, const MemoryPolicy& p) {
        return update_of(x[0], [&](const torch::Tensor& y) { m->add_update_(y, mask, p.chunk_size); });
      });
}

TEST(MsaColumnGlobalAttention, GradientMatchesFiniteDifferencesFp64) {
  torch::manual_seed(5);
  evoformer::MsaColumnGlobalAttention m(evoformer::MsaColumnGlobalAttentionOptions(CM, CH, H).eps(1e-8));
  test::prepare_fp64(*m);
  const auto mask = msa_mask();
  expect_gradients_match_finite_differences([&](const Ts& x) -> Ts { return {m(x[0], mask)}; },
                                            {{"m", rnd({S, N, CM})}}, m.ptr().get());
}

TEST(MsaColumnGlobalAttention, Fp64GradientsSameWhenChunked) {
  torch::manual_seed(6);
  evoformer::MsaColumnGlobalAttention m(evoformer::MsaColumnGlobalAttentionOptions(CM, CH, H).eps(1e-8));
  test::prepare_fp64(*m);
  const auto mask = msa_mask();
  expect_strategies_agree(
      *m, nullptr, [&](const Ts& x, const MemoryPolicy& p) -> Ts { return {m(x[0], mask, p.chunk_size)}; },
      {{"m", rnd({S, N, CM})}}, kChunkStrategies, [&](const Ts& x, const MemoryPolicy& p) {
        return update_of(x[0], [&](const torch::Tensor& y) { m->add_update_(y, mask, p.chunk_size); });
      });
}

evoformer::TriangleAttention triangle_attention(bool starting) {
  evoformer::TriangleAttention m(evoformer::TriangleAttentionOptions(CZ, CH, H).starting(starting));
  test::prepare_fp64(*m);
  return m;
}

TEST(TriangleAttentionStartingNode, GradientMatchesFiniteDifferencesFp64) {
  torch::manual_seed(7);
  auto m = triangle_attention(true);
  const auto mask = pair_mask();
  expect_gradients_match_finite_differences([&](const Ts& x) -> Ts { return {m(x[0], mask)}; },
                                            {{"z", rnd({N, N, CZ})}}, m.ptr().get());
}

TEST(TriangleAttentionEndingNode, GradientMatchesFiniteDifferencesFp64) {
  torch::manual_seed(8);
  auto m = triangle_attention(false);
  const auto mask = pair_mask();
  expect_gradients_match_finite_differences([&](const Ts& x) -> Ts { return {m(x[0], mask)}; },
                                            {{"z", rnd({N, N, CZ})}}, m.ptr().get());
}

TEST(TriangleAttention, Fp64GradientsSameUnderEveryMemoryStrategy) {
  for (const bool starting : {true, false}) {
    SCOPED_TRACE(starting ? "starting node" : "ending node");
    torch::manual_seed(9);
    auto m = triangle_attention(starting);
    const auto mask = pair_mask();
    expect_strategies_agree(
        *m, [&](const kernels::AttentionOptions& k) { m->set_kernel_options(k); },
        [&](const Ts& x, const MemoryPolicy& p) -> Ts { return {m(x[0], mask, p.chunk_size)}; },
        {{"z", rnd({N, N, CZ})}}, kAttentionStrategies, [&](const Ts& x, const MemoryPolicy& p) {
          return update_of(x[0], [&](const torch::Tensor& y) { m->add_update_(y, mask, p.chunk_size); });
        });
  }
}

evoformer::TriangleMultiplication triangle_multiplication(bool outgoing) {
  evoformer::TriangleMultiplication m(evoformer::TriangleMultiplicationOptions(CZ, 3, outgoing));
  test::prepare_fp64(*m);
  return m;
}

TEST(TriangleMultiplicationOutgoing, GradientMatchesFiniteDifferencesFp64) {
  torch::manual_seed(10);
  auto m = triangle_multiplication(true);
  const auto mask = pair_mask();
  expect_gradients_match_finite_differences([&](const Ts& x) -> Ts { return {m(x[0], mask)}; },
                                            {{"z", rnd({N, N, CZ})}}, m.ptr().get());
}

TEST(TriangleMultiplicationIncoming, GradientMatchesFiniteDifferencesFp64) {
  torch::manual_seed(11);
  auto m = triangle_multiplication(false);
  const auto mask = pair_mask();
  expect_gradients_match_finite_differences([&](const Ts& x) -> Ts { return {m(x[0], mask)}; },
                                            {{"z", rnd({N, N, CZ})}}, m.ptr().get());
}

TEST(TriangleMultiplication, Fp64GradientsSameWhenChunked) {
  for (const bool outgoing : {true, false}) {
    SCOPED_TRACE(outgoing ? "outgoing" : "incoming");
    torch::manual_seed(12);
    auto m = triangle_multiplication(outgoing);
    const auto mask = pair_mask();
    expect_strategies_agree(
        *m, nullptr, [&](const Ts& x, const MemoryPolicy& p) -> Ts { return {m(x[0], mask, p.chunk_size)}; },
        {{"z", rnd({N, N, CZ})}}, kChunkStrategies, [&](const Ts& x, const MemoryPolicy& p) {
          return update_of(x[0], [&](const torch::Tensor& y) { m->add_update_(y, mask, p.chunk_size); });
        });
  }
}

// AF-Multimer v3's fused layout (linear_ab_p, linear_ab_g) holding the separate
// projections' weights, a's rows then b's, gives the same update on every path, and its
// weight gradients are theirs, concatenated.
TEST(TriangleMultiplication, FusedProjectionsEqualSeparateOnes) {
  for (const bool outgoing : {true, false}) {
    SCOPED_TRACE(outgoing ? "outgoing" : "incoming");
    torch::manual_seed(13);
    auto separate = triangle_multiplication(outgoing);
    evoformer::TriangleMultiplication fused(
        evoformer::TriangleMultiplicationOptions(CZ, 3, outgoing).fuse_projection_weights(true));
    test::prepare_fp64(*fused);
    {
      torch::NoGradGuard no_grad;
      auto fp = fused->named_parameters();
      for (const auto& p : separate->named_parameters()) {
        const std::string& key = p.key();
        const bool projection = key.rfind("linear_a_", 0) == 0 || key.rfind("linear_b_", 0) == 0;
        if (!projection) {
          fp[key].copy_(p.value());
        } else if (key[7] == 'a') {  // linear_a_<kind>.<what>: b's rows follow a's
          const std::string b = "linear_b_" + key.substr(9);
          fp["linear_ab_" + key.substr(9)].copy_(torch::cat({p.value(), separate->named_parameters()[b]}));
        }
      }
    }
    EXPECT_EQ(fused->named_parameters().size(), separate->named_parameters().size() - 4);
    const auto mask = pair_mask();
    const auto z = rnd({N, N, CZ}).requires_grad_(true);
    const auto want = separate(z, mask), got = fused(z, mask);
    EXPECT_LE(test::max_rel_diff(got, want), 1e-12);
    (want.sum() + got.sum()).backward();
    const auto sp = separate->named_parameters(), fp = fused->named_parameters();
    for (const char* kind : {"p", "g"})
      EXPECT_LE(test::max_rel_diff(fp[std::string("linear_ab_") + kind + ".weight"].grad(),
                        torch::cat({sp[std::string("linear_a_") + kind + ".weight"].grad(),
                                    sp[std::string("linear_b_") + kind + ".weight"].grad()})),
                1e-12);
    torch::NoGradGuard no_grad;
    const auto in_place = [&](auto& m, int64_t tile_rows) {
      return update_of(z.detach(), [&](const torch::Tensor& y) {
        m->add_update_(y, mask, 0, tile_rows);
      })[0];
    };
    EXPECT_LE(test::max_rel_diff(in_place(fused, 0), in_place(separate, 0)), 1e-12);
    EXPECT_LE(test::max_rel_diff(in_place(fused, 2), in_place(separate, 0)), 1e-12);
  }
}

// The low-memory policy's tiles (no held projection) give the forward's update: tiles
// of 1, 2 (a short last tile) and 3 rows, outgoing and incoming, with and without a
// batch dimension.
TEST(TriangleMultiplication, InPlaceTilesEqualTheForward) {
  for (const bool outgoing : {true, false}) {
    for (const bool batched : {false, true}) {
      torch::manual_seed(15);
      auto m = triangle_multiplication(outgoing);
      const torch::Tensor mask = batched ? torch::stack({pair_mask(), pair_mask().flip(0)}) : pair_mask();
      const torch::Tensor z = batched ? rnd({2, N, N, CZ}) : rnd({N, N, CZ});
      torch::NoGradGuard no_grad;
      const torch::Tensor want = m(z, mask);
      for (const int64_t tile : {1, 2, 3}) {
        const Ts got = update_of(z, [&](const torch::Tensor& y) { m->add_update_(y, mask, 0, tile); });
        EXPECT_LE(test::max_rel_diff(got[0], want), kStrategyTol)
            << (outgoing ? "outgoing" : "incoming") << (batched ? ", batched" : "") << ", tiles of " << tile;
      }
    }
  }
}

// Tiles of at least N/16 rows, and none (the held projection) below 8 tiles.
TEST(TriangleMultiplication, TileRowsFollowTheChunkWithinEightToSixteenTiles) {
  using evoformer::TriangleMultiplicationImpl;
  EXPECT_EQ(TriangleMultiplicationImpl::tile_rows(1024, 32), 64);
  EXPECT_EQ(TriangleMultiplicationImpl::tile_rows(1024, 128), 128);
  EXPECT_EQ(TriangleMultiplicationImpl::tile_rows(1024, 256), 0);
  EXPECT_EQ(TriangleMultiplicationImpl::tile_rows(512, 32), 32);
  EXPECT_EQ(TriangleMultiplicationImpl::tile_rows(100, 0), 0);
}

TEST(OuterProductMean, GradientMatchesFiniteDifferencesFp64) {
  torch::manual_seed(13);
  evoformer::OuterProductMean m(evoformer::OuterProductMeanOptions(CM, CZ, 3));
  test::prepare_fp64(*m);
  const auto mask = msa_mask();
  expect_gradients_match_finite_differences([&](const Ts& x) -> Ts { return {m(x[0], mask)}; },
                                            {{"m", rnd({S, N, CM})}}, m.ptr().get());
}

TEST(OuterProductMean, Fp64GradientsSameWhenChunked) {
  torch::manual_seed(14);
  evoformer::OuterProductMean m(evoformer::OuterProductMeanOptions(CM, CZ, 3));
  test::prepare_fp64(*m);
  const auto mask = msa_mask();
  expect_strategies_agree(
      *m, nullptr, [&](const Ts& x, const MemoryPolicy& p) -> Ts { return {m(x[0], mask, p.chunk_size)}; },
      {{"m", rnd({S, N, CM})}}, kChunkStrategies, [&](const Ts& x, const MemoryPolicy& p) {
        return update_of(torch::zeros({N, N, CZ}, torch::kFloat64),
                         [&](const torch::Tensor& z) { m->add_update_(z, x[0], mask, p.chunk_size); });
      });
}

TEST(MsaTransition, GradientMatchesFiniteDifferencesFp64) {
  torch::manual_seed(15);
  evoformer::MsaTransition m(evoformer::TransitionOptions(CM, 2));
  test::prepare_fp64(*m);
  const auto mask = msa_mask();
  expect_gradients_match_finite_differences([&](const Ts& x) -> Ts { return {m(x[0], mask)}; },
                                            {{"m", rnd({S, N, CM})}}, m.ptr().get());
}

TEST(PairTransition, GradientMatchesFiniteDifferencesFp64) {
  torch::manual_seed(16);
  evoformer::PairTransition m(evoformer::TransitionOptions(CZ, 2));
  test::prepare_fp64(*m);
  expect_gradients_match_finite_differences([&](const Ts& x) -> Ts { return {m(x[0])}; }, {{"z", rnd({N, N, CZ})}},
                                            m.ptr().get());
}

TEST(PairTransition, Fp64GradientsSameWhenChunked) {
  torch::manual_seed(17);
  evoformer::PairTransition m(evoformer::TransitionOptions(CZ, 2));
  test::prepare_fp64(*m);
  const auto mask = pair_mask();
  expect_strategies_agree(
      *m, nullptr, [&](const Ts& x, const MemoryPolicy& p) -> Ts { return {m(x[0], mask, p.chunk_size)}; },
      {{"z", rnd({N, N, CZ})}}, {{"chunk_size 7", "chunk7"}, {"chunk_size 4", "chunk4"}, {"chunk_size 2", "chunk2"}},
      [&](const Ts& x, const MemoryPolicy& p) {
        return update_of(x[0], [&](const torch::Tensor& y) { m->add_update_(y, mask, p.chunk_size); });
      });
}

evoformer::EvoformerBlockOptions tiny_block(evoformer::MsaColumnKind column) {
  return evoformer::EvoformerBlockOptions(CM, CZ)
      .c_hidden_msa_att(CH)
      .c_hidden_opm(2)
      .c_hidden_mul(3)
      .c_hidden_pair_att(CH)
      .no_heads_msa(H)
      .no_heads_pair(H)
      .transition_n(2)
      .column(column);
}

// The block has ~95 parameter tensors: every one, 10 entries each.
const GradCheckOptions kBlockCheck = [] {
  GradCheckOptions o;
  o.entries = 10;
  return o;
}();

// AF2's block, and AF-Multimer v3's: the outer product mean first, fused triangle projections.
std::vector<std::pair<const char*, evoformer::EvoformerBlockOptions>> af2_and_multimer_blocks() {
  const auto af2 = tiny_block(evoformer::MsaColumnKind::kAttention);
  return {{"AF2", af2}, {"multimer v3", evoformer::EvoformerBlockOptions(af2).opm_first(true).fuse_projection_weights(true)}};
}

TEST(EvoformerBlock, GradientMatchesFiniteDifferencesFp64) {
  for (const auto& [name, options] : af2_and_multimer_blocks()) {
    SCOPED_TRACE(name);
    torch::manual_seed(18);
    evoformer::EvoformerBlock b(options);
    test::prepare_fp64(*b);
    const auto mm = msa_mask(), pm = pair_mask();
    expect_gradients_match_finite_differences(
        [&](const Ts& x) -> Ts {
          auto [m, z] = b(x[0], x[1], mm, pm);
          return {m, z};
        },
        {{"m", rnd({S, N, CM})}, {"z", rnd({N, N, CZ})}}, b.ptr().get(), kBlockCheck);
  }
}

TEST(ExtraMsaBlock, GradientMatchesFiniteDifferencesFp64) {
  torch::manual_seed(19);
  evoformer::EvoformerBlock b(tiny_block(evoformer::MsaColumnKind::kGlobal).eps(1e-8));
  test::prepare_fp64(*b);
  const auto mm = msa_mask(), pm = pair_mask();
  expect_gradients_match_finite_differences(
      [&](const Ts& x) -> Ts {
        auto [m, z] = b(x[0], x[1], mm, pm);
        return {m, z};
      },
      {{"m", rnd({S, N, CM})}, {"z", rnd({N, N, CZ})}}, b.ptr().get(), kBlockCheck);
}

TEST(EvoformerBlock, Fp64GradientsSameUnderEveryMemoryStrategy) {
  for (const auto& [name, options] : af2_and_multimer_blocks()) {
    SCOPED_TRACE(name);
    torch::manual_seed(20);
    evoformer::EvoformerBlock b(options);
    test::prepare_fp64(*b);
    const auto mm = msa_mask(), pm = pair_mask();
    expect_strategies_agree(
        *b, [&](const kernels::AttentionOptions& k) { b->set_kernel_options(k); },
        [&](const Ts& x, const MemoryPolicy& p) -> Ts {
          auto [m, z] = b(x[0], x[1], mm, pm, p.chunk_size);
          return {m, z};
        },
        {{"m", rnd({S, N, CM})}, {"z", rnd({N, N, CZ})}}, kAttentionStrategies, [&](const Ts& x, const MemoryPolicy& p) {
          const Ts mz{x[0].clone(), x[1].clone()};
          b->forward_inplace(mz[0], mz[1], mm, pm, p);
          return mz;
        });
  }
}

TEST(EvoformerStack, Fp64GradientsSameUnderEveryCheckpointPolicy) {
  torch::manual_seed(21);
  evoformer::EvoformerStack st(evoformer::EvoformerStackOptions(tiny_block(evoformer::MsaColumnKind::kAttention),
                                                                /*no_blocks=*/3, /*c_s=*/5));
  test::prepare_fp64(*st);
  const auto mm = msa_mask(), pm = pair_mask();
  // Without autograd the same function runs the in-place path.
  const StrategyFn f = [&](const Ts& x, const MemoryPolicy& p) -> Ts {
    auto [m, z, s] = st(x[0], x[1], mm, pm, p);
    return {m, z, s};
  };
  expect_strategies_agree(*st, [&](const kernels::AttentionOptions& k) { st->set_kernel_options(k); }, f,
                          {{"m", rnd({S, N, CM})}, {"z", rnd({N, N, CZ})}},
                          {{"checkpoint block", "checkpoint"},
                           {"checkpoint every:2", "checkpoint2"},
                           {"checkpoint block, chunked low_memory", "checkpoint+chunk2+lowmem"},
                           {"chunk_size 3", "chunk3"}},
                          f);
}

TEST(ExtraMsaStack, Fp64GradientsSameUnderEveryCheckpointPolicy) {
  torch::manual_seed(22);
  evoformer::ExtraMsaStack st(evoformer::ExtraMsaStackOptions(tiny_block(evoformer::MsaColumnKind::kGlobal).eps(1e-8),
                                                              /*no_blocks=*/2));
  test::prepare_fp64(*st);
  const auto mm = msa_mask(), pm = pair_mask();
  const StrategyFn f = [&](const Ts& x, const MemoryPolicy& p) -> Ts { return {st(x[0], x[1], mm, pm, p)}; };
  expect_strategies_agree(*st, [&](const kernels::AttentionOptions& k) { st->set_kernel_options(k); }, f,
                          {{"a", rnd({S, N, CM})}, {"z", rnd({N, N, CZ})}},
                          {{"checkpoint block", "checkpoint"},
                           {"checkpoint block, chunked low_memory", "checkpoint+chunk2+lowmem"},
                           {"chunk_size 3", "chunk3"}},
                          f);
}

evoformer::TemplatePairStackOptions tiny_template_stack(int64_t no_blocks) {
  return evoformer::TemplatePairStackOptions()
      .c_t(CZ)
      .c_hidden_tri_att(CH)
      .c_hidden_tri_mul(3)
      .no_blocks(no_blocks)
      .no_heads(H)
      .pair_transition_n(2);
}

// One template pair block (the PairStack in the template order) plus the stack's final
// LayerNorm, over two templates.
// AF2's template blocks, and AF-Multimer v3's: multiplications first, fused projections.
std::vector<std::pair<const char*, evoformer::TemplatePairStackOptions>> af2_and_multimer_template_stacks(
    int64_t no_blocks) {
  return {{"AF2", tiny_template_stack(no_blocks)},
          {"multimer v3", tiny_template_stack(no_blocks).tri_mul_first(true).fuse_projection_weights(true)}};
}

TEST(TemplatePairStack, GradientMatchesFiniteDifferencesFp64) {
  for (const auto& [name, options] : af2_and_multimer_template_stacks(1)) {
    SCOPED_TRACE(name);
    torch::manual_seed(23);
    evoformer::TemplatePairStack st(options);
    test::prepare_fp64(*st);
    const auto pm = pair_mask();
    GradCheckOptions o;
    o.entries = 10;
    expect_gradients_match_finite_differences([&](const Ts& x) -> Ts { return {st(x[0], pm)}; },
                                              {{"t", rnd({2, N, N, CZ})}}, st.ptr().get(), o);
  }
}

TEST(TemplatePairStack, Fp64GradientsSameUnderEveryMemoryStrategy) {
  for (const auto& [name, options] : af2_and_multimer_template_stacks(2)) {
    SCOPED_TRACE(name);
    torch::manual_seed(24);
    evoformer::TemplatePairStack st(options);
    test::prepare_fp64(*st);
    const auto pm = pair_mask();
    auto strategies = kAttentionStrategies;
    strategies.push_back({"checkpoint block", "checkpoint"});
    const StrategyFn f = [&](const Ts& x, const MemoryPolicy& p) -> Ts { return {st(x[0], pm, p)}; };
    expect_strategies_agree(*st, [&](const kernels::AttentionOptions& k) { st->set_kernel_options(k); }, f,
                            {{"t", rnd({2, N, N, CZ})}}, strategies, f);
  }
}

evoformer::TemplatePointwiseAttention template_pointwise() {
  evoformer::TemplatePointwiseAttention m(
      evoformer::TemplatePointwiseAttentionOptions().c_t(CM).c_z(CZ).c_hidden(CH).no_heads(H));
  test::prepare_fp64(*m);
  return m;
}

const torch::Tensor& template_mask() {
  static const torch::Tensor mask = torch::tensor({1.0, 0.0, 1.0}, torch::kFloat64);  // one absent template
  return mask;
}

TEST(TemplatePointwiseAttention, GradientMatchesFiniteDifferencesFp64) {
  torch::manual_seed(25);
  auto m = template_pointwise();
  expect_gradients_match_finite_differences([&](const Ts& x) -> Ts { return {m(x[0], x[1], template_mask())}; },
                                            {{"t", rnd({3, N, N, CM})}, {"z", rnd({N, N, CZ})}}, m.ptr().get());
}

TEST(TemplatePointwiseAttention, Fp64GradientsSameUnderEveryMemoryStrategy) {
  torch::manual_seed(26);
  auto m = template_pointwise();
  expect_strategies_agree(
      *m, [&](const kernels::AttentionOptions& k) { m->set_kernel_options(k); },
      [&](const Ts& x, const MemoryPolicy& p) -> Ts {
        return {m(x[0], x[1], template_mask(), p.chunk_size)};
      },
      {{"t", rnd({3, N, N, CM})}, {"z", rnd({N, N, CZ})}}, kAttentionStrategies);
}

// ---------------------------------------------------------------------------------------
// structure_module/

// Frames from [*, 7] tensors (quaternion, not normalised: from_tensor_7 normalises it,
// so every entry is a free coordinate; translation).
torch::Tensor random_frames7(at::IntArrayRef batch) {
  auto shape = batch.vec();
  shape.push_back(7);
  return rnd(shape);
}

TEST(InvariantPointAttention, GradientMatchesFiniteDifferencesFp64) {
  torch::manual_seed(27);
  structure::InvariantPointAttention m(structure::InvariantPointAttentionOptions(CM, CZ, CH, H, 2, 3));
  test::prepare_fp64(*m);
  // Masked residues would be fully masked query rows (-1e5 + O(1) logits): all ones.
  const auto mask = torch::ones({N}, torch::kFloat64);
  expect_gradients_match_finite_differences(
      [&](const Ts& x) -> Ts { return {m(x[0], x[1], structure::Rigid::from_tensor_7(x[2]), mask)}; },
      {{"s", rnd({N, CM})}, {"z", rnd({N, N, CZ})}, {"frames7", random_frames7({N})}}, m.ptr().get());
}

TEST(InvariantPointAttention, MultimerGradientMatchesFiniteDifferencesFp64) {
  torch::manual_seed(27);
  structure::InvariantPointAttention m(structure::InvariantPointAttentionOptions(CM, CZ, CH, H, 2, 3).multimer(true));
  test::prepare_fp64(*m);
  const auto mask = torch::ones({N}, torch::kFloat64);
  expect_gradients_match_finite_differences(
      [&](const Ts& x) -> Ts { return {m(x[0], x[1], structure::Rigid::from_tensor_7(x[2]), mask)}; },
      {{"s", rnd({N, CM})}, {"z", rnd({N, N, CZ})}, {"frames7", random_frames7({N})}}, m.ptr().get());
}

TEST(BackboneUpdate, GradientMatchesFiniteDifferencesFp64) {
  torch::manual_seed(28);
  structure::BackboneUpdate m(CM);
  test::prepare_fp64(*m);
  expect_gradients_match_finite_differences([&](const Ts& x) -> Ts { return {m(x[0])}; }, {{"s", rnd({N, CM})}},
                                            m.ptr().get());
}

// The backbone update as the structure module applies it: the composed frames.
TEST(BackboneUpdate, ComposedFramesGradientMatchesFiniteDifferencesFp64) {
  torch::manual_seed(29);
  expect_gradients_match_finite_differences(
      [&](const Ts& x) -> Ts {
        const auto r = structure::Rigid::from_tensor_7(x[0]).compose_update_vec(x[1]);
        return {r.to_tensor_4x4()};
      },
      {{"frames7", random_frames7({N})}, {"update", rnd({N, 6})}}, nullptr);
}

TEST(AngleResnet, GradientMatchesFiniteDifferencesFp64) {
  torch::manual_seed(30);
  structure::AngleResnet m(structure::AngleResnetOptions(CM, 4).no_blocks(2));
  test::prepare_fp64(*m);
  expect_gradients_match_finite_differences(
      [&](const Ts& x) -> Ts {
        auto [unnormalized, normalized] = m(x[0], x[1]);
        return {unnormalized, normalized};
      },
      {{"s", rnd({N, CM})}, {"s_initial", rnd({N, CM})}}, m.ptr().get());
}

TEST(StructureModuleTransition, GradientMatchesFiniteDifferencesFp64) {
  torch::manual_seed(31);
  structure::StructureModuleTransition m(structure::StructureModuleTransitionOptions(CM).no_layers(2));
  test::prepare_fp64(*m);
  expect_gradients_match_finite_differences([&](const Ts& x) -> Ts { return {m(x[0])}; }, {{"s", rnd({N, CM})}},
                                            m.ptr().get());
}

torch::Tensor random_aatype(int64_t n) { return torch::randint(0, 20, {n}, torch::kLong); }

// One iteration: with more, AF2's stop_gradient on the rotation between iterations
// (deliberately) makes autograd differ from the finite differences of the forward.
TEST(StructureModule, GradientMatchesFiniteDifferencesFp64) {
  torch::manual_seed(32);
  structure::StructureModule m(structure::StructureModuleOptions()
                                   .c_s(CM)
                                   .c_z(CZ)
                                   .c_ipa(CH)
                                   .c_resnet(4)
                                   .no_heads_ipa(H)
                                   .no_qk_points(2)
                                   .no_v_points(2)
                                   .no_blocks(1));
  test::prepare_fp64(*m);
  const auto aatype = random_aatype(N);
  expect_gradients_match_finite_differences(
      [&](const Ts& x) -> Ts {
        const auto out = m(x[0], x[1], aatype);
        return {out.frames, out.sidechain_frames, out.unnormalized_angles, out.angles, out.positions, out.states,
                out.single};
      },
      {{"single", rnd({N, CM})}, {"pair", rnd({N, N, CZ})}}, m.ptr().get());
}

TEST(TorsionAnglesToFrames, GradientMatchesFiniteDifferencesFp64) {
  torch::manual_seed(33);
  constexpr int64_t n = 20;  // every residue type
  const auto aatype = torch::randperm(20, torch::kLong);
  GradCheckOptions o;
  o.entries = 40;
  expect_gradients_match_finite_differences(
      [&](const Ts& x) -> Ts {
        return {
            structure::torsion_angles_to_frames(structure::Rigid::from_tensor_7(x[0]), x[1], aatype).to_tensor_4x4()};
      },
      {{"backbone7", random_frames7({n})}, {"angles", rnd({n, 7, 2})}}, nullptr, o);
}

TEST(FramesAndLiteraturePositionsToAtom14Pos, GradientMatchesFiniteDifferencesFp64) {
  torch::manual_seed(34);
  constexpr int64_t n = 20;
  const auto aatype = torch::randperm(20, torch::kLong);
  GradCheckOptions o;
  o.entries = 40;
  expect_gradients_match_finite_differences(
      [&](const Ts& x) -> Ts {
        return {
            structure::frames_and_literature_positions_to_atom14_pos(structure::Rigid::from_tensor_7(x[0]), aatype)};
      },
      {{"group_frames7", random_frames7({n, 8})}}, nullptr, o);
}

// Algorithm 24 end to end: backbone frames and torsions -> atom14 positions.
TEST(AllAtomFromTorsions, GradientMatchesFiniteDifferencesFp64) {
  torch::manual_seed(35);
  constexpr int64_t n = 20;
  const auto aatype = torch::randperm(20, torch::kLong);
  GradCheckOptions o;
  o.entries = 40;
  expect_gradients_match_finite_differences(
      [&](const Ts& x) -> Ts {
        const auto groups = structure::torsion_angles_to_frames(structure::Rigid::from_tensor_7(x[0]), x[1], aatype);
        return {structure::frames_and_literature_positions_to_atom14_pos(groups, aatype)};
      },
      {{"backbone7", random_frames7({n})}, {"angles", rnd({n, 7, 2})}}, nullptr, o);
}

// ---------------------------------------------------------------------------------------
// fold/

TEST(InputEmbedder, GradientMatchesFiniteDifferencesFp64) {
  torch::manual_seed(36);
  InputEmbedder m(InputEmbedderOptions(CM, CZ).tf_dim(5).msa_dim(7).relpos_k(2));
  test::prepare_fp64(*m);
  const auto residue_index = torch::tensor({0, 1, 2, 5, 6}, torch::kLong);  // a gap: several relpos bins
  expect_gradients_match_finite_differences(
      [&](const Ts& x) -> Ts {
        auto [msa, pair] = m(x[0], residue_index, x[1]);
        return {msa, pair};
      },
      {{"target_feat", rnd({N, 5})}, {"msa_feat", rnd({S, N, 7})}}, m.ptr().get());
}

// AF-Multimer's relpos: two copies of one chain and another chain.
TEST(InputEmbedder, MultimerGradientMatchesFiniteDifferencesFp64) {
  torch::manual_seed(36);
  InputEmbedder m(InputEmbedderOptions(CM, CZ).tf_dim(5).msa_dim(7).relpos_k(2).use_chain_relative(true).max_relative_chain(1));
  test::prepare_fp64(*m);
  const ResiduePositions positions(torch::tensor({0, 1, 0, 1, 7}), torch::tensor({1, 1, 2, 2, 3}),
                                   torch::tensor({1, 1, 1, 1, 2}), torch::tensor({1, 1, 2, 2, 1}));
  ASSERT_EQ(positions.residue_index.size(0), N);
  expect_gradients_match_finite_differences(
      [&](const Ts& x) -> Ts {
        auto [msa, pair] = m(x[0], positions, x[1]);
        return {msa, pair};
      },
      {{"target_feat", rnd({N, 5})}, {"msa_feat", rnd({S, N, 7})}}, m.ptr().get());
}

TEST(RecyclingEmbedder, GradientMatchesFiniteDifferencesFp64) {
  torch::manual_seed(37);
  RecyclingEmbedder m(RecyclingEmbedderOptions(CM, CZ).no_bins(4).min_bin(3.0).max_bin(9.0));
  test::prepare_fp64(*m);
  // x only enters through the distogram's one-hot (no gradient, as AF2): the check
  // also confirms autograd gives 0 there.
  expect_gradients_match_finite_differences(
      [&](const Ts& x) -> Ts {
        auto [dm, dz] = m(x[0], x[1], x[2]);
        return {dm, dz};
      },
      {{"m_first_row", rnd({N, CM})}, {"z", rnd({N, N, CZ})}, {"x", rnd({N, 3}, 4.0)}}, m.ptr().get());
}

TEST(TemplateAngleEmbedder, GradientMatchesFiniteDifferencesFp64) {
  torch::manual_seed(38);
  TemplateAngleEmbedder m(9, CM);
  test::prepare_fp64(*m);
  expect_gradients_match_finite_differences([&](const Ts& x) -> Ts { return {m(x[0])}; },
                                            {{"angle_feat", rnd({3, N, 9})}}, m.ptr().get());
}

TemplateEmbedder tiny_template_embedder(int64_t no_blocks) {
  TemplateEmbedder m(
      TemplateEmbedderOptions()
          .c_m(CM)
          .pair_stack(tiny_template_stack(no_blocks))
          .pointwise(evoformer::TemplatePointwiseAttentionOptions().c_t(CZ).c_z(CZ).c_hidden(CH).no_heads(H)));
  test::prepare_fp64(*m);
  return m;
}

data::FeatureDict template_features() {
  constexpr int64_t t = 3;
  data::FeatureDict f;
  f["template_aatype"] = torch::randint(0, 22, {t, N}, torch::kLong);
  f["template_all_atom_positions"] = torch::randn({t, N, 37, 3}) * 8;
  f["template_all_atom_mask"] = torch::ones({t, N, 37});
  f["template_pseudo_beta"] = torch::randn({t, N, 3}) * 8;
  f["template_pseudo_beta_mask"] = torch::ones({t, N});
  f["template_mask"] = torch::tensor({1.0f, 0.0f, 1.0f});
  f["template_torsion_angles_sin_cos"] = torch::randn({t, N, 7, 2});
  f["template_alt_torsion_angles_sin_cos"] = torch::randn({t, N, 7, 2});
  f["template_torsion_angles_mask"] = torch::randint(0, 2, {t, N, 7}).to(torch::kFloat);
  return f;
}

// A template embedder's pair update and single rows in z and its parameters; the
// template features themselves are constants.
template <class Embedder>
void expect_template_embedder_gradients(Embedder& m, const data::FeatureDict& features) {
  const auto pm = pair_mask();
  GradCheckOptions o;
  o.entries = 10;
  expect_gradients_match_finite_differences(
      [&](const Ts& x) -> Ts {
        const auto e = m(features, x[0], pm);
        return {e.pair, e.single};
      },
      {{"z", rnd({N, N, CZ})}}, m.ptr().get(), o);
}

template <class Embedder>
void expect_template_embedder_strategies_agree(Embedder& m, const data::FeatureDict& features) {
  const auto pm = pair_mask();
  const StrategyFn f = [&](const Ts& x, const MemoryPolicy& p) -> Ts {
    const auto e = m(features, x[0], pm, p);
    return {e.pair, e.single};
  };
  expect_strategies_agree(*m, [&](const kernels::AttentionOptions& k) { m->set_kernel_options(k); }, f,
                          {{"z", rnd({N, N, CZ})}},
                          {{"chunked low_memory", "chunk2+lowmem"}, {"checkpoint block", "checkpoint"}}, f);
}

// AF2's template embedder: pair embedder, pair stack, pointwise attention, angle embedder.
TEST(TemplateEmbedder, GradientMatchesFiniteDifferencesFp64) {
  torch::manual_seed(39);
  auto m = tiny_template_embedder(1);
  expect_template_embedder_gradients(m, template_features());
}

TEST(TemplateEmbedder, Fp64GradientsSameUnderEveryMemoryStrategy) {
  torch::manual_seed(40);
  auto m = tiny_template_embedder(2);
  expect_template_embedder_strategies_agree(m, template_features());
}

TemplateEmbedderMultimer tiny_template_embedder_multimer(int64_t no_blocks) {
  TemplateEmbedderMultimer m(TemplateEmbedderMultimerOptions().c_z(CZ).c_m(CM).pair_stack(
      tiny_template_stack(no_blocks).tri_mul_first(true).fuse_projection_weights(true)));
  test::prepare_fp64(*m);
  return m;
}

// template_features() with two chains (the multichain mask in play), a few atoms unobserved.
data::FeatureDict multimer_template_features() {
  data::FeatureDict f = template_features();
  f["template_all_atom_mask"] = (torch::rand({3, N, 37}) > 0.2).to(torch::kFloat);
  f["asym_id"] = torch::tensor({1, 1, 1, 2, 2});
  return f;
}

// AF-Multimer's: the pair embedder reading z, the pair stack, the average, linear_t, the
// chi-angle single rows.
TEST(TemplateEmbedderMultimer, GradientMatchesFiniteDifferencesFp64) {
  torch::manual_seed(42);
  auto m = tiny_template_embedder_multimer(1);
  expect_template_embedder_gradients(m, multimer_template_features());
}

TEST(TemplateEmbedderMultimer, Fp64GradientsSameUnderEveryMemoryStrategy) {
  torch::manual_seed(43);
  auto m = tiny_template_embedder_multimer(2);
  expect_template_embedder_strategies_agree(m, multimer_template_features());
}

TEST(AuxiliaryHeads, GradientMatchesFiniteDifferencesFp64) {
  torch::manual_seed(41);
  AuxiliaryHeads m(AuxiliaryHeadsOptions()
                       .c_s(CM)
                       .c_z(CZ)
                       .c_m(CM)
                       .lddt_no_bins(5)
                       .lddt_c_hidden(4)
                       .distogram_no_bins(6)
                       .masked_msa_c_out(5)
                       .experimentally_resolved_c_out(7)
                       .tm_enabled(true)
                       .tm_no_bins(6));
  test::prepare_fp64(*m);
  expect_gradients_match_finite_differences(
      [&](const Ts& x) -> Ts {
        const auto l = m(x[0], x[1], x[2], x[3]);
        return {l.lddt_logits, l.distogram_logits, l.masked_msa_logits, l.experimentally_resolved_logits, l.tm_logits};
      },
      {{"sm_single", rnd({N, CM})}, {"single", rnd({N, CM})}, {"pair", rnd({N, N, CZ})}, {"msa", rnd({S, N, CM})}},
      m.ptr().get());
}

// ---------------------------------------------------------------------------------------
// kernels/

// kernels::attention in fp64 on the paths test_attention.cpp does not check against
// finite differences: the reference, the fused (tiled) default and the fused
// low-memory path without a gate, each with a broadcast bias that requires grad (its
// gradient is a reduction) next to a constant mask bias, and two leading dims.
TEST(AttentionKernel, GradientMatchesFiniteDifferencesFp64OnEveryPath) {
  struct Path {
    const char* name;
    kernels::AttentionOptions options;
    bool gate;
    const char* implementation;  // what kernels::attention runs for fp64 on the CPU
  };
  kernels::AttentionOptions reference, fused, low;
  reference.path = kernels::AttentionPath::kReference;
  fused.path = kernels::AttentionPath::kFused;
  low.path = kernels::AttentionPath::kFused;
  low.low_memory = true;
  low.query_chunk = 2;
  low.key_chunk = 3;
  for (const Path& p : {Path{"reference", reference, true, "reference"}, Path{"fused", fused, true, "tiled"},
                        Path{"fused low_memory, no gate", low, false, "tiled"},
                        Path{"reference, no gate", reference, false, "reference"}}) {
    SCOPED_TRACE(p.name);
    EXPECT_EQ(kernels::attention_implementation(torch::zeros({1, H, 2, 4}, torch::kFloat64), p.options),
              p.implementation);
    torch::manual_seed(42);
    // q [2, 3, H, Q, C], k/v [2, 3, H, K, C]
    const int64_t q = 5, k = 7, c = 4;
    auto mask = torch::zeros({2, 3, 1, 1, k}, torch::kFloat64);
    mask.select(-1, 2).select(1, 0).fill_(-1e9);  // some masked keys, never a whole row
    const bool gate = p.gate;
    const auto options = p.options;
    NamedTensors in = {{"q", rnd({2, 3, H, q, c})},
                       {"k", rnd({2, 3, H, k, c})},
                       {"v", rnd({2, 3, H, k, c})},
                       {"pair_bias", rnd({1, 1, H, q, k})}};
    if (gate) in.push_back({"gate", rnd({2, 3, H, q, c})});
    expect_gradients_match_finite_differences(
        [&](const Ts& x) -> Ts {
          return {kernels::attention(x[0], x[1], x[2], {mask, x[3]},
                                     gate ? std::optional<torch::Tensor>(x[4]) : std::nullopt, options)};
        },
        in, nullptr);
  }
}

// The LayerNorm module every model module normalises with (kernels::layer_norm's own
// check is in test_layer_norm.cpp), on a 3-D input.
TEST(LayerNormModule, GradientMatchesFiniteDifferencesFp64) {
  torch::manual_seed(43);
  evoformer::LayerNorm m(CM);
  test::prepare_fp64(*m);
  expect_gradients_match_finite_differences([&](const Ts& x) -> Ts { return {m(x[0])}; }, {{"x", rnd({S, N, CM})}},
                                            m.ptr().get());
}

}  // namespace
}  // namespace fold
