// CUDA LayerNorm kernels against the CPU path, values and gradients (gpu label).
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <c10/cuda/CUDAGuard.h>

#include "kernels/layer_norm.h"

namespace fold::kernels {
namespace {

using OptTensor = std::optional<at::Tensor>;

class LayerNormGpu : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device visible: GPU tests skipped";
  }
};

double max_abs_diff(const at::Tensor& a, const at::Tensor& b) {
  return (a.cpu().to(torch::kDouble) - b.cpu().to(torch::kDouble)).abs().max().item<double>();
}

// Both paths compute in fp32 from the same stored values and round once, so fp16/bf16
// results differ by at most one ulp of the storage type where the fp32 values straddle
// a rounding boundary.
double rtol_of(at::ScalarType t) { return t == torch::kFloat ? 1e-5 : 1.0 / 128; }

// Runs forward and backward on `device`; returns {y, dx, dweight, dbias} on the CPU
// (parameter gradients only where the parameter is present).
std::vector<at::Tensor> run(const at::Tensor& x, const OptTensor& w, const OptTensor& b, const at::Tensor& cot,
                            const c10::Device& device) {
  // clone(): fresh leaves, so the caller's tensors are never marked as requiring grad.
  auto leaf = [&](const at::Tensor& t) { return t.to(device).clone().requires_grad_(true); };
  const auto xd = leaf(x);
  std::vector<at::Tensor> inputs{xd};
  OptTensor wd, bd;
  if (w) inputs.push_back(*(wd = leaf(*w)));
  if (b) inputs.push_back(*(bd = leaf(*b)));
  const auto y = layer_norm(xd, wd, bd);
  EXPECT_EQ(y.device(), device);
  EXPECT_EQ(y.scalar_type(), x.scalar_type());
  auto grads = torch::autograd::grad({(y.to(torch::kFloat) * cot.to(device)).sum()}, inputs);
  std::vector<at::Tensor> out{y.detach().cpu()};
  for (const auto& g : grads) out.push_back(g.cpu());
  return out;
}

TEST_F(LayerNormGpu, EqualsCpuPathAllDtypes) {
  torch::manual_seed(0);
  const c10::Device cuda(c10::DeviceType::CUDA, 0);
  for (auto dtype : {torch::kFloat, torch::kHalf, torch::kBFloat16}) {
    for (auto shape : {std::vector<int64_t>{7}, {3, 37}, {2, 5, 11, 128}, {1001, 384}, {5, 2000}}) {
      for (bool affine : {false, true}) {
        const int64_t cols = shape.back();
        const auto x = (torch::randn(shape) * 3 + 1).to(dtype);
        const OptTensor w = affine ? OptTensor(torch::randn({cols}).to(dtype)) : std::nullopt;
        const OptTensor b = affine ? OptTensor(torch::randn({cols}).to(dtype)) : std::nullopt;
        const auto cot = torch::randn(shape);
        const auto cpu = run(x, w, b, cot, torch::kCPU);
        const auto gpu = run(x, w, b, cot, cuda);
        ASSERT_EQ(cpu.size(), gpu.size());
        const double rtol = rtol_of(dtype);
        for (size_t i = 0; i < cpu.size(); ++i) {
          // Outputs and dx are O(1); parameter gradients are sums over up to 1001 rows.
          const double atol = (i <= 1 ? 1e-5 : 1e-4) * (dtype == torch::kFloat ? 1 : 100);
          EXPECT_EQ(gpu[i].scalar_type(), cpu[i].scalar_type());
          EXPECT_TRUE(torch::allclose(gpu[i].to(torch::kFloat), cpu[i].to(torch::kFloat), rtol, atol))
              << dtype << " " << x.sizes() << " affine=" << affine << " output " << i << " max diff "
              << max_abs_diff(gpu[i], cpu[i]);
        }
      }
    }
  }
}

TEST_F(LayerNormGpu, StatisticsEqualCpuPath) {
  torch::manual_seed(1);
  const auto x = torch::randn({300, 256}) * 2 + 5;
  const auto [y_c, mean_c, rstd_c] = layer_norm_forward(x, std::nullopt, std::nullopt, 1e-5);
  const auto [y_g, mean_g, rstd_g] = layer_norm_forward(x.cuda(), std::nullopt, std::nullopt, 1e-5);
  EXPECT_EQ(mean_g.scalar_type(), torch::kFloat);
  EXPECT_TRUE(torch::allclose(mean_g.cpu(), mean_c, 1e-5, 1e-6));
  EXPECT_TRUE(torch::allclose(rstd_g.cpu(), rstd_c, 1e-5, 1e-6));
}

TEST_F(LayerNormGpu, ConstantRowAndFp32ParametersWithBf16Activations) {
  torch::manual_seed(2);
  auto x = torch::randn({9, 128});
  x[4].fill_(3.25);
  const auto xb = x.to(torch::kBFloat16);
  const auto w = torch::randn({128});  // fp32 master weights, bf16 activations
  const auto b = torch::randn({128});
  const auto cot = torch::randn({9, 128});
  const auto cpu = run(xb, w, b, cot, torch::kCPU);
  const auto gpu = run(xb, w, b, cot, c10::Device(c10::DeviceType::CUDA, 0));
  EXPECT_TRUE(torch::equal(gpu[0][4], b.to(torch::kBFloat16)));
  for (size_t i = 0; i < cpu.size(); ++i) {
    EXPECT_TRUE(torch::isfinite(gpu[i]).all().item<bool>()) << i;
    // Row 4's dx is scaled by rstd = 1/sqrt(eps) ~ 316.
    EXPECT_TRUE(torch::allclose(gpu[i].to(torch::kFloat), cpu[i].to(torch::kFloat), 1.0 / 128, 1e-1))
        << i << " max diff " << max_abs_diff(gpu[i], cpu[i]);
  }
  EXPECT_EQ(gpu[2].scalar_type(), torch::kFloat);  // dweight in the weight's dtype
}

// Tensors on cuda:1 while device 0 is current: the kernels run on cuda:1's stream.
TEST_F(LayerNormGpu, SecondDeviceWhileFirstIsCurrent) {
  if (torch::cuda::device_count() < 2) GTEST_SKIP() << "one CUDA device visible: the cuda:1 test needs two";
  const c10::cuda::CUDAGuard current(0);
  torch::manual_seed(3);
  const auto x = torch::randn({300, 128}) * 2 + 1;
  const OptTensor w = torch::randn({128}), b = torch::randn({128});
  const auto cot = torch::randn({300, 128});
  const auto cpu = run(x, w, b, cot, torch::kCPU);
  const auto gpu = run(x, w, b, cot, c10::Device(c10::DeviceType::CUDA, 1));
  ASSERT_EQ(cpu.size(), gpu.size());
  for (size_t i = 0; i < cpu.size(); ++i)
    EXPECT_TRUE(torch::allclose(gpu[i], cpu[i], 1e-5, 1e-4)) << "output " << i << " max diff " << max_abs_diff(gpu[i], cpu[i]);
  EXPECT_EQ(c10::cuda::current_device(), 0);
}

TEST_F(LayerNormGpu, EmptyBatchGivesZeroParameterGradients) {
  const auto x = torch::randn({0, 64}, torch::kCUDA).requires_grad_(true);
  const auto w = torch::randn({64}, torch::kCUDA).requires_grad_(true);
  const auto b = torch::randn({64}, torch::kCUDA).requires_grad_(true);
  const auto y = layer_norm(x, w, b);
  EXPECT_EQ(y.numel(), 0);
  const auto g = torch::autograd::grad({y.sum()}, {w, b});
  EXPECT_EQ(g[0].abs().sum().item<float>(), 0.0f);
  EXPECT_EQ(g[1].abs().sum().item<float>(), 0.0f);
}

}  // namespace
}  // namespace fold::kernels
