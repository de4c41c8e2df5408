// CUDA softmax kernel against the CPU path, values and gradients (gpu label).
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <c10/cuda/CUDAGuard.h>

#include "kernels/device_memory.h"
#include "kernels/softmax.h"

namespace fold::kernels {
namespace {

class SoftmaxGpu : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device visible: GPU tests skipped";
  }
};

TEST_F(SoftmaxGpu, EqualsCpuPathAllDtypes) {
  torch::manual_seed(0);
  for (auto dtype : {torch::kFloat, torch::kHalf, torch::kBFloat16}) {
    for (auto shape : {std::vector<int64_t>{3, 37}, {2, 8, 64, 256}, {1, 4, 384, 384}, {5, 2000}}) {
      const auto x = (torch::randn(shape) * 3).to(dtype);
      const auto cpu = softmax(x).to(torch::kFloat);
      const auto gpu = softmax(x.cuda()).cpu().to(torch::kFloat);
      const double tol = dtype == torch::kFloat ? 1e-5 : 1.0 / 128;
      EXPECT_TRUE(torch::allclose(gpu, cpu, tol, 1e-6)) << dtype << " " << x.sizes();
    }
  }
}

TEST_F(SoftmaxGpu, GradientEqualsCpuPath) {
  torch::manual_seed(1);
  const auto x = torch::randn({2, 4, 37, 37}) * 3;
  const auto cot = torch::randn({2, 4, 37, 37});
  auto xc = x.clone().requires_grad_(true);
  auto xg = x.cuda().requires_grad_(true);
  const auto gc = torch::autograd::grad({(softmax(xc) * cot).sum()}, {xc})[0];
  const auto gg = torch::autograd::grad({(softmax(xg) * cot.cuda()).sum()}, {xg})[0].cpu();
  EXPECT_TRUE(torch::allclose(gg, gc, 1e-5, 1e-6));
}

TEST_F(SoftmaxGpu, FullyMaskedRowGivesZeros) {
  auto x = torch::randn({4, 300}, torch::kCUDA);
  x[1].fill_(-std::numeric_limits<float>::infinity());
  const auto y = softmax(x).cpu();
  EXPECT_TRUE(torch::isfinite(y).all().item<bool>());
  EXPECT_EQ(y[1].abs().sum().item<float>(), 0.0f);
}

// A tensor on cuda:1 while device 0 is current: the kernels run on cuda:1's stream.
TEST_F(SoftmaxGpu, SecondDeviceWhileFirstIsCurrent) {
  if (torch::cuda::device_count() < 2) GTEST_SKIP() << "one CUDA device visible: the cuda:1 test needs two";
  const c10::cuda::CUDAGuard current(0);
  torch::manual_seed(2);
  const auto x = torch::randn({6, 8, 300}) * 3;
  const auto cot = torch::randn({6, 8, 300});
  auto xc = x.clone().requires_grad_(true);
  auto xg = x.to(torch::Device(torch::kCUDA, 1)).requires_grad_(true);
  const auto yg = softmax(xg);
  EXPECT_EQ(yg.device(), xg.device());
  const auto gc = torch::autograd::grad({(softmax(xc) * cot).sum()}, {xc})[0];
  const auto gg = torch::autograd::grad({(yg * cot.to(xg.device())).sum()}, {xg})[0].cpu();
  EXPECT_TRUE(torch::allclose(yg.detach().cpu(), softmax(x), 1e-5, 1e-6));
  EXPECT_TRUE(torch::allclose(gg, gc, 1e-5, 1e-6));
  EXPECT_EQ(c10::cuda::current_device(), 0);
}

TEST_F(SoftmaxGpu, CudaMemoryStatsTrackAllocations) {
  const c10::Device dev(c10::DeviceType::CUDA, 0);
  reset_peak_memory(dev);
  const MemoryStats before = memory_stats(dev);
  {
    auto t = torch::empty({1 << 20}, torch::TensorOptions().device(dev));
    EXPECT_EQ(memory_stats(dev).current_bytes - before.current_bytes, 4 << 20);
  }
  EXPECT_EQ(memory_stats(dev).peak_bytes - before.peak_bytes, 4 << 20);
}

}  // namespace
}  // namespace fold::kernels
