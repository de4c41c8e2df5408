// The side-stream batch copy (kernels/device_copy) on a GPU: values arrive intact,
// a kernel queued on the current stream right after the call sees them, and the
// host side may be overwritten once the call's stream work is done (gpu label).
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "kernels/device_copy.h"

namespace fold::kernels {
namespace {

TEST(DeviceCopyGpu, SideStreamCopyIsVisibleToTheCurrentStream) {
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device visible: GPU tests skipped";
  torch::manual_seed(0);
  std::vector<at::Tensor> host = {torch::randn({512, 256, 23}).pin_memory(), torch::randint(0, 22, {128, 256}).pin_memory(),
                                  torch::rand({7})};
  const auto dev = copy_to_device_on_side_stream(host, torch::Device(torch::kCUDA, 0));
  ASSERT_EQ(dev.size(), host.size());
  // Queued on the current stream immediately: must wait for the copies.
  const at::Tensor sum = dev[0].sum();
  for (size_t i = 0; i < host.size(); ++i) {
    EXPECT_TRUE(dev[i].is_cuda());
    EXPECT_TRUE(torch::equal(dev[i].cpu(), host[i])) << "tensor " << i;
  }
  EXPECT_NEAR(sum.item<double>(), host[0].sum().item<double>(), 1e-2);
}

TEST(DeviceCopy, OnTheCpuItIsAPlainCopy) {
  const std::vector<at::Tensor> host = {torch::arange(5)};
  const auto out = copy_to_device_on_side_stream(host, torch::kCPU);
  EXPECT_TRUE(torch::equal(out[0], host[0]));
}

}  // namespace
}  // namespace fold::kernels
