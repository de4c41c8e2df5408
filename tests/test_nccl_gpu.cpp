// One NCCL process group of a single process (dist::Group::connect) through every
// collective the DAP and ZeRO code uses, on the GPU (gpu label): with one rank each
// collective is the identity, so any difference is the backend or our wrapper moving
// the wrong bytes. The multi-rank semantics are test_dap's, over Gloo.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "dap/dist_environment.h"
#include "dap/process_group.h"

namespace fold::dist {
namespace {

// The group is released before the test program exits, as fold's main does; left to
// static destruction, ProcessGroupNCCL's destructor would run after CUDA shut down.
class ReleaseGroups : public ::testing::Environment {
 public:
  void TearDown() override { release_process_groups(); }
};
const auto* const release_groups = ::testing::AddGlobalTestEnvironment(new ReleaseGroups);

const Group& nccl_group() {
  static const Group g = [] {
    DistEnvironment env;  // one process; a port of its own so a parallel ctest run cannot collide
    env.master_port = 29731;
    return Group::connect(env, Backend::kNccl, std::chrono::seconds(60));
  }();
  return g;
}

class NcclSingleRank : public ::testing::TestWithParam<at::ScalarType> {
 protected:
  void SetUp() override {
    if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device visible: GPU tests skipped";
  }
  at::Tensor random(std::vector<int64_t> shape) const {
    return torch::randn(shape, torch::TensorOptions().device(torch::kCUDA).dtype(GetParam()));
  }
};

TEST_P(NcclSingleRank, EveryCollectiveIsTheIdentityOnOneRank) {
  const Group& g = nccl_group();
  ASSERT_EQ(g.size(), 1);
  torch::manual_seed(3);
  const at::Tensor in = random({6, 5, 7});

  at::Tensor gathered = torch::full_like(in, 7.0);
  g.all_gather(gathered, in).wait();
  EXPECT_TRUE(torch::equal(gathered, in)) << "all_gather";

  at::Tensor scattered = torch::full_like(in, 7.0);
  g.reduce_scatter(scattered, in).wait();
  EXPECT_TRUE(torch::equal(scattered, in)) << "reduce_scatter";

  at::Tensor exchanged = torch::full_like(in, 7.0);
  g.all_to_all(exchanged, in).wait();
  EXPECT_TRUE(torch::equal(exchanged, in)) << "all_to_all";

  at::Tensor reduced = in.clone();
  g.all_reduce(reduced).wait();
  EXPECT_TRUE(torch::equal(reduced, in)) << "all_reduce";
}

TEST_P(NcclSingleRank, CollectivesAreOrderedWithTheCurrentStream) {
  // A kernel queued right after wait() must see the collective's result without a sync.
  const Group& g = nccl_group();
  const at::Tensor in = random({1 << 20});
  at::Tensor out = torch::zeros_like(in);
  g.all_gather(out, in).wait();
  EXPECT_EQ((out - in).abs().max().item<double>(), 0.0);
}

INSTANTIATE_TEST_SUITE_P(Dtypes, NcclSingleRank, ::testing::Values(at::kFloat, at::kBFloat16),
                         [](const auto& info) { return std::string(c10::toString(info.param)); });

TEST(NcclGroup, IsAnErrorWithoutAGpu) {
  // Without a GPU the group cannot even be created: NCCL needs a device.
  if (torch::cuda::is_available()) GTEST_SKIP() << "a GPU is visible: covered by NcclSingleRank";
  DistEnvironment env;
  env.master_port = 29732;
  EXPECT_ANY_THROW({
    const Group g = Group::connect(env, Backend::kNccl, std::chrono::seconds(5));
    at::Tensor t = torch::ones({4});
    g.all_reduce(t).wait();
  });
}

}  // namespace
}  // namespace fold::dist
