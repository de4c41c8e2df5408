// Multiprocess suite (label multiproc): runs as every rank of `fold launch --nproc P --
// test_zero_sharding` (Gloo on the CPU), all ranks one data-parallel group. Each rank
// also computes the single-process reference (one process accumulating every rank's
// batch) itself, from the same seeds, and compares its sharded result with it.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <iostream>

#include "dap/zero_sharding.h"
#include "fold/train/adam.h"

namespace fold::zero {
namespace {

const dist::ProcessGrid& grid() {
  static const dist::ProcessGrid g = [] {
    at::set_num_threads(1);  // the ranks share this machine's cores
    const dist::DistEnvironment env = dist::read_dist_environment();
    return dist::ProcessGrid::create(env, /*dap_size=*/1, dist::Backend::kGloo, std::chrono::seconds(60));
  }();
  return g;
}

// Parameters of uneven sizes, one used only on some batches (its gradient exists on
// some ranks only) and one never used (no gradient anywhere: no optimizer state).
struct Net : torch::nn::Module {
  torch::nn::Linear a{nullptr}, b{nullptr}, c{nullptr}, sometimes{nullptr}, never{nullptr};
  Net() {
    torch::manual_seed(7);
    a = register_module("a", torch::nn::Linear(6, 16));
    b = register_module("b", torch::nn::Linear(16, 5));
    c = register_module("c", torch::nn::Linear(5, 3));
    sometimes = register_module("sometimes", torch::nn::Linear(3, 3));
    never = register_module("never", torch::nn::Linear(9, 9));
    to(torch::kDouble);
  }
  torch::Tensor loss(int64_t step, int64_t batch) {
    torch::manual_seed(1000 * step + batch);
    const torch::Tensor x = torch::randn({4, 6}, torch::kDouble), y = torch::randn({4, 3}, torch::kDouble);
    torch::Tensor out = c(torch::tanh(b(torch::tanh(a(x)))));
    if (batch % 2 == 0) out = sometimes(out);
    return (out - y).pow(2).mean();
  }
  std::vector<std::pair<std::string, torch::Tensor>> named() {
    std::vector<std::pair<std::string, torch::Tensor>> out;
    for (const auto& item : named_parameters()) out.emplace_back(item.key(), item.value());
    return out;
  }
};

constexpr double kClip = 0.05;  // small enough that clipping acts
constexpr int64_t kSteps = 4;
constexpr double kLr = 1e-2;

struct Trained {
  std::shared_ptr<Net> net;
  std::unique_ptr<train::Adam> adam;
};

// One process: every rank's batch accumulated, the mean gradient clipped, Adam.
Trained reference(int64_t ranks) {
  auto net = std::make_shared<Net>();
  auto adam = std::make_unique<train::Adam>(net->named(), train::AdamOptions{});
  for (int64_t step = 0; step < kSteps; ++step) {
    net->zero_grad(/*set_to_none=*/true);
    for (int64_t r = 0; r < ranks; ++r) (net->loss(step, r) / static_cast<double>(ranks)).backward();
    std::vector<torch::Tensor> with_grad;
    for (const auto& p : net->parameters())
      if (p.grad().defined()) with_grad.push_back(p);
    torch::nn::utils::clip_grad_norm_(with_grad, kClip);
    adam->step(kLr);
  }
  return {net, std::move(adam)};
}

class ZeroStages : public ::testing::TestWithParam<int> {};

TEST_P(ZeroStages, DataParallelStepsEqualOneProcessAccumulatingEveryRanksBatch) {
  const dist::Group& dp = grid().dp();
  ASSERT_GT(dp.size(), 1) << "run under fold launch --nproc >= 2";
  auto net = std::make_shared<Net>();
  ZeroSharding sharding(net->named(), dp, GetParam());
  train::Adam adam(sharding.owned(), train::AdamOptions{});
  for (int64_t step = 0; step < kSteps; ++step) {
    net->zero_grad(/*set_to_none=*/true);
    net->loss(step, dp.rank()).backward();
    sharding.reduce_gradients(1.0 / dp.size());
    const double norm = sharding.gradient_norm();
    if (kClip / (norm + 1e-6) < 1) sharding.scale_gradients(kClip / (norm + 1e-6));
    adam.step(kLr);
    sharding.gather_parameters();
  }
  const Trained ref = reference(dp.size());
  const auto mine = net->named(), theirs = ref.net->named();
  for (size_t i = 0; i < mine.size(); ++i)
    EXPECT_LT((mine[i].second - theirs[i].second).abs().max().item<double>(), 1e-12) << mine[i].first;
  EXPECT_TRUE(torch::equal(net->never->weight, ref.net->never->weight)) << "a parameter without gradients never moves";
  // Every moment lives on exactly one rank (all ranks when not sharded), equal to the reference's.
  const auto ref_state = ref.adam->state();
  for (const auto& [name, t] : adam.state()) {
    if (name == "step") continue;
    ASSERT_TRUE(ref_state.count(name)) << name;
    EXPECT_LT((t - ref_state.at(name)).abs().max().item<double>(), 1e-12) << name;
  }
  torch::Tensor entries = torch::tensor({static_cast<double>(adam.state().size() - 1)}, torch::kDouble);
  dp.all_reduce(entries).wait();
  const double copies = sharding.sharded() ? 1 : dp.size();
  EXPECT_EQ(entries.item<double>(), copies * static_cast<double>(ref_state.size() - 1));
}

INSTANTIATE_TEST_SUITE_P(Stages, ZeroStages, ::testing::Values(0, 1, 2),
                         [](const ::testing::TestParamInfo<int>& info) { return "stage" + std::to_string(info.param); });

TEST(ZeroSharding, OptimizerStateBytesPerRankShrinkByTheDpSize) {
  const dist::Group& dp = grid().dp();
  auto net = std::make_shared<Net>();
  ZeroSharding sharding(net->named(), dp, 2);
  train::Adam adam(sharding.owned(), train::AdamOptions{});
  net->zero_grad(true);
  for (auto& p : net->parameters()) p.mutable_grad() = torch::ones_like(p);  // every parameter gets state
  sharding.reduce_gradients(1.0);
  adam.step(kLr);
  sharding.gather_parameters();
  int64_t whole = 0, largest = 0;
  for (const auto& p : net->parameters()) {
    whole += 2 * p.nbytes();
    largest = std::max<int64_t>(largest, 2 * p.nbytes());
  }
  torch::Tensor bytes = torch::zeros({dp.size()}, torch::kDouble);
  bytes[dp.rank()] = static_cast<double>(adam.state_bytes());
  dp.all_reduce(bytes).wait();
  if (dp.rank() == 0) {
    std::cout << "[zero] optimizer state bytes: one process " << whole << ", per rank with dp=" << dp.size() << ":";
    for (int r = 0; r < dp.size(); ++r) std::cout << " " << bytes[r].item<int64_t>();
    std::cout << " (ideal " << whole / dp.size() << ")\n";
  }
  EXPECT_EQ(bytes.sum().item<double>(), static_cast<double>(whole)) << "the shards partition the state";
  // Whole parameters are owned, so a rank is at most one parameter above the ideal share.
  EXPECT_LE(bytes.max().item<double>(), static_cast<double>(whole) / dp.size() + largest);
  EXPECT_LT(bytes.max().item<double>(), static_cast<double>(whole)) << "sharding must shrink the state";
}

TEST(ZeroSharding, RejectsAnUnknownStage) {
  EXPECT_THROW(ZeroSharding({}, grid().dp(), 3), std::invalid_argument);
}

}  // namespace
}  // namespace fold::zero
