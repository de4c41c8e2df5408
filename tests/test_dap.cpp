// Multiprocess suite (label multiproc): runs as every rank of `fold launch --nproc P --
// test_dap` (Gloo on the CPU). Every rank computes the single-process reference itself
// (same seeds, same weights) and compares its distributed result with it.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <chrono>
#include <thread>

#include "dap/collectives.h"
#include "dap/process_group.h"
#include "evoformer/evoformer_block.h"
#include "evoformer/template_pair_stack.h"

namespace fold::dap {
namespace {

using evoformer::CheckpointPolicy;

const dist::ProcessGrid& grid() {
  static const dist::ProcessGrid g = [] {
    // The ranks share this machine's cores: one thread each avoids oversubscription.
    at::set_num_threads(1);
    const dist::DistEnvironment env = dist::read_dist_environment();
    return dist::ProcessGrid::create(env, env.world_size, dist::Backend::kGloo, std::chrono::seconds(60));
  }();
  return g;
}

double rel_err(const torch::Tensor& a, const torch::Tensor& b) {
  return (a - b).abs().max().item<double>() / std::max(b.abs().max().item<double>(), 1e-30);
}

// The same random tensor on every rank (and in the reference).
torch::Tensor shared_randn(std::vector<int64_t> shape, int64_t seed) {
  torch::manual_seed(seed);
  return torch::randn(shape, torch::kDouble);
}

TEST(Collectives, RanksFormTheGrid) {
  const dist::Group& g = grid().dap();
  ASSERT_GT(g.size(), 1) << "run under fold launch --nproc >= 2";
  EXPECT_EQ(grid().world().size(), grid().dp().size() * g.size());
}

TEST(Collectives, BarrierReturnsOnlyOnceTheLastRankArrives) {
  const dist::Group& w = grid().world();
  w.barrier().wait();  // a common start
  const auto t0 = std::chrono::steady_clock::now();
  if (w.rank() == 0) std::this_thread::sleep_for(std::chrono::milliseconds(400));
  w.barrier().wait();
  const double waited = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_GE(waited, 0.3) << "rank " << w.rank() << " passed the barrier before rank 0 reached it";
}

TEST(Collectives, ScatterThenGatherIsIdentityAndItsGradientIsTheWholeCotangent) {
  const dist::Group& g = grid().dap();
  const int64_t k = g.size();
  torch::Tensor x = shared_randn({3, 2 * k, 5}, 1).requires_grad_();
  const torch::Tensor w = shared_randn({3, 2 * k, 5}, 2);
  const torch::Tensor local = scatter(x, 1, g);
  EXPECT_TRUE(torch::equal(local, x.detach().narrow(1, 2 * g.rank(), 2)));
  const torch::Tensor whole = gather(local, 1, g);
  EXPECT_TRUE(torch::equal(whole, x.detach()));
  (whole * w).sum().backward();
  EXPECT_TRUE(torch::equal(x.grad(), w)) << "replicated input: the whole cotangent on every rank";
}

TEST(Collectives, AllGatherBackwardIsReduceScatterOfEveryRanksCotangent) {
  const dist::Group& g = grid().dap();
  const int64_t k = g.size();
  const torch::Tensor whole = shared_randn({4, 3 * k}, 3);
  torch::Tensor mine = whole.narrow(1, 3 * g.rank(), 3).clone().requires_grad_();
  const torch::Tensor y = all_gather(mine, 1, g);
  EXPECT_TRUE(torch::equal(y, whole));
  // Each rank consumes the gathered tensor with its own weights: the total loss is the
  // sum over ranks, so x_r's gradient is the sum of every rank's weights, slice r.
  torch::Tensor weight_sum = torch::zeros_like(whole);
  for (int r = 0; r < k; ++r) weight_sum += shared_randn({4, 3 * k}, 100 + r);
  const torch::Tensor my_weight = shared_randn({4, 3 * k}, 100 + g.rank());
  (y * my_weight).sum().backward();
  EXPECT_LE(rel_err(mine.grad(), weight_sum.narrow(1, 3 * g.rank(), 3)), 1e-15);
}

TEST(Collectives, AllToAllMovesTheSplitAndItsBackwardMovesItBack) {
  const dist::Group& g = grid().dap();
  const int64_t k = g.size();
  const torch::Tensor whole = shared_randn({2 * k, 3, 3 * k}, 4);
  const torch::Tensor w = shared_randn({2 * k, 3, 3 * k}, 5);
  for (const bool async : {false, true}) {
    // Split along dim 2 -> split along dim 0.
    torch::Tensor mine = whole.narrow(2, 3 * g.rank(), 3).clone().requires_grad_();
    const torch::Tensor y = async ? PendingAllToAll(mine, 0, 2, g).wait() : all_to_all(mine, 0, 2, g);
    EXPECT_TRUE(torch::equal(y, whole.narrow(0, 2 * g.rank(), 2))) << "async " << async;
    (y * w.narrow(0, 2 * g.rank(), 2)).sum().backward();
    EXPECT_TRUE(torch::equal(mine.grad(), w.narrow(2, 3 * g.rank(), 3))) << "async " << async;
  }
}

TEST(Collectives, RejectsAnExtentThatDoesNotDivide) {
  const dist::Group& g = grid().dap();
  const torch::Tensor x = torch::zeros({2, g.size() * 3 + 1});
  EXPECT_THROW(scatter(x, 1, g), c10::Error);
  EXPECT_EQ(padded_extent(g.size() * 3 + 1, g.size()), g.size() * 4);
  EXPECT_EQ(pad_to(x, 1, g.size() * 4).size(1), g.size() * 4);
}

// --- the stacks -------------------------------------------------------------------------

evoformer::EvoformerBlockOptions block_options() {
  return evoformer::EvoformerBlockOptions(16, 8)
      .c_hidden_msa_att(4)
      .no_heads_msa(2)
      .c_hidden_opm(4)
      .c_hidden_mul(8)
      .c_hidden_pair_att(4)
      .no_heads_pair(2);
}

template <typename Module>
void randomize(Module& module, int64_t seed) {
  torch::manual_seed(seed);
  torch::NoGradGuard no_grad;
  // AF2's init zeroes the output projections: every update would start at 0.
  for (auto& p : module->parameters()) p.normal_(0.0, 0.1);
}

struct Inputs {
  torch::Tensor m, z, msa_mask, pair_mask, cot_m, cot_z;
};

// Masks with scattered zeros, but no row or column masked throughout: a position with no
// unmasked key attends uniformly over whatever keys exist (AF2's -inf bias), so its own
// value depends on the padding DAP adds (see CropPaddingLeavesTheLossAndGradientsUnchanged).
Inputs make_inputs(int64_t s, int64_t n, int64_t c_m, int64_t c_z) {
  torch::manual_seed(11);
  Inputs in{torch::randn({s, n, c_m}), torch::randn({n, n, c_z}), torch::ones({s, n}), torch::ones({n, n}),
            torch::randn({s, n, c_m}), torch::randn({n, n, c_z})};
  in.msa_mask = (torch::rand({s, n}) > 0.15).to(torch::kFloat);
  in.pair_mask = (torch::rand({n, n}) > 0.15).to(torch::kFloat);
  in.msa_mask.select(1, 0).fill_(1);  // no column of the MSA masked throughout
  in.msa_mask.select(0, 0).fill_(1);  // nor a sequence
  in.pair_mask.diagonal().fill_(1);   // nor a pair row or column
  return in;
}

struct Result {
  std::vector<torch::Tensor> outputs;
  std::map<std::string, torch::Tensor> grads;
};

// Relative to the largest parameter gradient: some gradients are zero up to rounding
// (the pair-bias LayerNorm's bias: a softmax's logit gradients sum to zero).
void expect_same(const Result& dap, const Result& one, const std::string& what) {
  ASSERT_EQ(dap.outputs.size(), one.outputs.size());
  double scale = 0;
  for (const auto& [name, g] : one.grads) scale = std::max(scale, g.abs().max().item<double>());
  for (size_t i = 0; i < one.outputs.size(); ++i)
    EXPECT_LE(rel_err(dap.outputs[i], one.outputs[i]), 1e-5) << what << ": output/input-gradient " << i;
  double worst = 0;
  for (const auto& [name, g] : one.grads) {
    ASSERT_TRUE(dap.grads.at(name).defined()) << what << ": no gradient for " << name;
    const double e = (dap.grads.at(name) - g).abs().max().item<double>() / scale;
    worst = std::max(worst, e);
    EXPECT_LE(e, 1e-5) << what << ": parameter gradient " << name;
  }
  if (grid().world().rank() == 0) std::cout << "[dap] " << what << ": worst parameter-gradient error " << worst << "\n";
}

template <typename Stack>
Result grads_of(Stack& stack, const std::vector<torch::Tensor>& outputs, const std::vector<torch::Tensor>& cotangents,
                const std::vector<torch::Tensor>& inputs, const dist::Group& group) {
  torch::Tensor loss = torch::zeros({});
  for (size_t i = 0; i < outputs.size(); ++i) loss = loss + (outputs[i] * cotangents[i]).sum();
  loss.backward();
  all_reduce_gradients(stack->blocks->parameters(), group);
  Result r;
  for (const auto& o : outputs) r.outputs.push_back(o.detach());
  for (const auto& x : inputs) r.outputs.push_back(x.grad().clone());
  for (const auto& p : stack->named_parameters()) {
    r.grads[p.key()] = p.value().grad().clone();
    p.value().mutable_grad() = torch::Tensor();
  }
  return r;
}

struct StackCase {
  int64_t s, n;
  const char* checkpoint;
  bool train;
};

std::string describe(const StackCase& c) {
  return "S " + std::to_string(c.s) + " N " + std::to_string(c.n) + " checkpoint " + c.checkpoint +
         (c.train ? " dropout on" : " eval");
}

const StackCase kCases[] = {{8, 12, "none", false}, {5, 11, "none", false}, {6, 13, "block", false},
                            {6, 10, "every:2", true}};

evoformer::MemoryPolicy policy_of(const StackCase& c, int64_t chunk_size = 0) {
  evoformer::MemoryPolicy p;
  p.checkpoint = CheckpointPolicy::parse(c.checkpoint);
  p.chunk_size = chunk_size;
  return p;
}

Result run_evoformer(evoformer::EvoformerStack& stack, const Inputs& in, const StackCase& c, const dist::Group& g) {
  torch::Tensor m = in.m.clone().requires_grad_(), z = in.z.clone().requires_grad_();
  torch::manual_seed(99);  // the dropout draws
  auto [mo, zo, so] = stack(m, z, in.msa_mask, in.pair_mask, policy_of(c, /*chunk_size=*/c.n > 12 ? 5 : 0), g);
  torch::manual_seed(12);
  const torch::Tensor cot_s = torch::randn(so.sizes());
  return grads_of(stack, {mo, zo, so}, {in.cot_m, in.cot_z, cot_s}, {m, z}, g);
}

TEST(DapStacks, EvoformerStackEqualsOneProcess) {
  const dist::Group& g = grid().dap();
  for (const StackCase& c : kCases) {
    evoformer::EvoformerStack stack(evoformer::EvoformerStackOptions(block_options(), 3, 12));
    randomize(stack, 21);
    c.train ? stack->train() : stack->eval();
    const Inputs in = make_inputs(c.s, c.n, 16, 8);
    const Result one = run_evoformer(stack, in, c, dist::Group());
    const Result split = run_evoformer(stack, in, c, g);
    expect_same(split, one, "Evoformer DAP " + std::to_string(g.size()) + ", " + describe(c));
  }
}

// AF-Multimer's block order (opm_first) sends the block's input MSA to the residue split
// for the outer product mean before the row attention.
TEST(DapStacks, OpmFirstEvoformerStackEqualsOneProcess) {
  const dist::Group& g = grid().dap();
  for (const StackCase& c : {kCases[1], kCases[3]}) {
    evoformer::EvoformerStack stack(evoformer::EvoformerStackOptions(block_options().opm_first(true), 2, 12));
    randomize(stack, 23);
    c.train ? stack->train() : stack->eval();
    const Inputs in = make_inputs(c.s, c.n, 16, 8);
    expect_same(run_evoformer(stack, in, c, g), run_evoformer(stack, in, c, dist::Group()),
                "opm_first Evoformer DAP " + std::to_string(g.size()) + ", " + describe(c));
  }
}

Result run_extra(evoformer::ExtraMsaStack& stack, const Inputs& in, const StackCase& c, const dist::Group& g) {
  torch::Tensor m = in.m.clone().requires_grad_(), z = in.z.clone().requires_grad_();
  torch::manual_seed(99);
  const torch::Tensor zo = stack(m, z, in.msa_mask, in.pair_mask, policy_of(c), g);
  return grads_of(stack, {zo}, {in.cot_z}, {m, z}, g);
}

TEST(DapStacks, ExtraMsaStackEqualsOneProcess) {
  const dist::Group& g = grid().dap();
  for (const StackCase& c : kCases) {
    evoformer::ExtraMsaStack stack(evoformer::ExtraMsaStackOptions(block_options().c_hidden_msa_att(4), 2));
    randomize(stack, 22);
    c.train ? stack->train() : stack->eval();
    const Inputs in = make_inputs(c.s * 3, c.n, 16, 8);
    expect_same(run_extra(stack, in, c, g), run_extra(stack, in, c, dist::Group()),
                "extra-MSA DAP " + std::to_string(g.size()) + ", " + describe(c));
  }
}

Result run_template(evoformer::TemplatePairStack& stack, const torch::Tensor& t_in, const torch::Tensor& mask,
                    const torch::Tensor& cot, const StackCase& c, const dist::Group& g) {
  torch::Tensor t = t_in.clone().requires_grad_();
  torch::manual_seed(99);
  const torch::Tensor out = stack(t, mask, policy_of(c), g);
  return grads_of(stack, {out}, {cot}, {t}, g);
}

TEST(DapStacks, TemplatePairStackEqualsOneProcess) {
  const dist::Group& g = grid().dap();
  for (const StackCase& c : kCases) {
    evoformer::TemplatePairStack stack(evoformer::TemplatePairStackOptions()
                                           .c_t(8)
                                           .c_hidden_tri_att(4)
                                           .c_hidden_tri_mul(8)
                                           .no_heads(2)
                                           .no_blocks(2));
    randomize(stack, 23);
    c.train ? stack->train() : stack->eval();
    const Inputs in = make_inputs(2, c.n, 8, 8);
    torch::manual_seed(13);
    const torch::Tensor t = torch::randn({2, c.n, c.n, 8}), cot = torch::randn({2, c.n, c.n, 8});
    expect_same(run_template(stack, t, in.pair_mask, cot, c, g), run_template(stack, t, in.pair_mask, cot, c, dist::Group()),
                "template pair stack DAP " + std::to_string(g.size()) + ", " + describe(c));
  }
}

}  // namespace
}  // namespace fold::dap
