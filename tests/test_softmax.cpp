// Fused softmax (kernels/softmax): CPU path against ATen's softmax, values and gradients.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "kernels/softmax.h"

namespace fold::kernels {
namespace {

TEST(Softmax, EqualsNaiveReferenceFp32) {
  torch::manual_seed(0);
  for (auto shape : {std::vector<int64_t>{7}, {3, 37}, {2, 4, 5, 129}, {1, 8, 64, 300}}) {
    const auto x = torch::randn(shape) * 4;
    const auto got = softmax(x);
    const auto want = torch::softmax(x, -1);
    EXPECT_TRUE(torch::allclose(got, want, 1e-5, 1e-7)) << x.sizes();
  }
}

TEST(Softmax, GradientEqualsNaiveReferenceFp32) {
  torch::manual_seed(1);
  const auto x = (torch::randn({2, 4, 37, 37}) * 3).requires_grad_(true);
  const auto cot = torch::randn({2, 4, 37, 37});
  const auto gx = torch::autograd::grad({(softmax(x) * cot).sum()}, {x})[0];
  const auto gref = torch::autograd::grad({(torch::softmax(x, -1) * cot).sum()}, {x})[0];
  EXPECT_TRUE(torch::allclose(gx, gref, 1e-5, 1e-6)) << (gx - gref).abs().max().item<float>();
}

TEST(Softmax, GradientMatchesFiniteDifferencesFp64) {
  torch::manual_seed(2);
  const auto x = torch::randn({3, 9}, torch::kFloat64);
  const auto cot = torch::randn({3, 9}, torch::kFloat64);
  // Statistics are fp32 by design; finite differences in fp64 inputs with h=1e-3.
  const auto xg = x.clone().requires_grad_(true);
  const auto g = torch::autograd::grad({(softmax(xg) * cot).sum()}, {xg})[0];
  const double h = 1e-3;
  for (int64_t i = 0; i < x.numel(); ++i) {
    auto xp = x.clone(), xm = x.clone();
    xp.view(-1)[i] += h;
    xm.view(-1)[i] -= h;
    const double fd = ((softmax(xp) * cot).sum() - (softmax(xm) * cot).sum()).item<double>() / (2 * h);
    EXPECT_NEAR(g.view(-1)[i].item<double>(), fd, 2e-4) << i;
  }
}

TEST(Softmax, FullyMaskedRowGivesZerosNotNan) {
  auto x = torch::randn({4, 6});
  x[2].fill_(-std::numeric_limits<float>::infinity());
  const auto y = softmax(x.requires_grad_(true));
  EXPECT_TRUE(torch::isfinite(y).all().item<bool>());
  EXPECT_EQ(y[2].abs().sum().item<float>(), 0.0f);
  EXPECT_NEAR(y[1].sum().item<float>(), 1.0f, 1e-6);
  const auto g = torch::autograd::grad({y.sum()}, {x})[0];
  EXPECT_TRUE(torch::isfinite(g).all().item<bool>());
}

TEST(Softmax, Bf16WithinDocumentedBound) {
  // bf16 storage has 8 mantissa bits: the result is the fp32 softmax rounded once,
  // so the error is at most half an ulp of bf16 (2^-8 relative) plus fp32 noise.
  torch::manual_seed(3);
  const auto x = torch::randn({16, 200}).to(torch::kBFloat16);
  const auto got = softmax(x).to(torch::kFloat);
  const auto want = torch::softmax(x.to(torch::kFloat), -1);
  EXPECT_EQ(softmax(x).scalar_type(), torch::kBFloat16);
  EXPECT_TRUE(torch::allclose(got, want, 1.0 / 256, 1e-6));
}

TEST(Softmax, RejectsIntegerInput) {
  EXPECT_THROW(softmax(torch::ones({3}, torch::kInt64)), c10::Error);
}

}  // namespace
}  // namespace fold::kernels
