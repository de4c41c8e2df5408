// Device memory accounting: the CPU tracking allocator counts tensor bytes exactly.
#include <gtest/gtest.h>
#include <c10/core/CPUAllocator.h>
#include <torch/torch.h>

#include "kernels/device_memory.h"

namespace fold::kernels {
namespace {

const c10::Device kCpu(c10::DeviceType::CPU);

TEST(DeviceMemory, AllocationMovesPeakByItsSize) {
  enable_cpu_memory_tracking();
  reset_peak_memory(kCpu);
  const MemoryStats before = memory_stats(kCpu);
  constexpr int64_t n = 1 << 20;  // 4 MiB of float
  {
    auto t = torch::empty({n}, torch::kFloat);
    const MemoryStats during = memory_stats(kCpu);
    EXPECT_EQ(during.current_bytes - before.current_bytes, n * 4);
    EXPECT_EQ(during.peak_bytes - before.peak_bytes, n * 4);
  }
  const MemoryStats after = memory_stats(kCpu);
  EXPECT_EQ(after.current_bytes, before.current_bytes);  // freed
  EXPECT_EQ(after.peak_bytes - before.peak_bytes, n * 4);  // peak remembers
  reset_peak_memory(kCpu);
  EXPECT_EQ(memory_stats(kCpu).peak_bytes, after.current_bytes);
}

TEST(DeviceMemory, PeakSeesTemporariesOfAnOperation) {
  enable_cpu_memory_tracking();
  auto a = torch::randn({256, 256});
  reset_peak_memory(kCpu);
  const int64_t base = memory_stats(kCpu).current_bytes;
  // (a + 1) is a temporary of 256 KiB freed before the result is returned.
  auto b = (a + 1) * 2;
  const MemoryStats s = memory_stats(kCpu);
  EXPECT_EQ(s.current_bytes - base, 256 * 256 * 4);
  EXPECT_GE(s.peak_bytes - base, 2 * 256 * 256 * 4);
}

TEST(DeviceMemory, CountsFromSeveralThreads) {
  enable_cpu_memory_tracking();
  const int64_t base = memory_stats(kCpu).current_bytes;
  std::vector<std::thread> threads;
  for (int i = 0; i < 4; ++i)
    threads.emplace_back([] {
      for (int k = 0; k < 200; ++k) auto t = torch::empty({1000}, torch::kFloat);
    });
  for (auto& t : threads) t.join();
  EXPECT_EQ(memory_stats(kCpu).current_bytes, base);
}

// Allocator::raw_allocate (oneDNN's scratch buffers, e.g. in bf16 matmuls) works
// through the tracker and is counted, and a bf16 matmul runs with tracking on.
TEST(DeviceMemory, RawAllocationsAreCountedAndFreed) {
  enable_cpu_memory_tracking();
  c10::Allocator* cpu = c10::GetCPUAllocator();
  const int64_t base = memory_stats(kCpu).current_bytes;
  void* p = cpu->raw_allocate(1000);
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(p) % 64, 0u);
  EXPECT_EQ(memory_stats(kCpu).current_bytes - base, 1000);
  cpu->raw_deallocate(p);
  EXPECT_EQ(memory_stats(kCpu).current_bytes, base);
  EXPECT_EQ(torch::empty({0}).numel(), 0);
  const auto a = torch::randn({64, 256}).to(torch::kBFloat16), w = torch::randn({128, 256}).to(torch::kBFloat16);
  const auto y = torch::nn::functional::linear(a, w);
  EXPECT_LT((y.to(torch::kFloat) - torch::matmul(a.to(torch::kFloat), w.to(torch::kFloat).t())).abs().max().item<float>(),
            1.0f);
}

TEST(DeviceMemory, CudaStatsNeedAGpu) {
  if (torch::cuda::is_available()) GTEST_SKIP() << "a GPU is present; covered by the gpu suite";
  EXPECT_THROW(memory_stats(c10::Device(c10::DeviceType::CUDA, 0)), c10::Error);
}

}  // namespace
}  // namespace fold::kernels
