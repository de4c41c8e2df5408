// Fused LayerNorm (kernels/layer_norm): CPU path against ATen's layer_norm, values and
// gradients in x, weight and bias.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "kernels/layer_norm.h"

namespace fold::kernels {
namespace {

using OptTensor = std::optional<at::Tensor>;

at::Tensor reference(const at::Tensor& x, const OptTensor& w, const OptTensor& b, double eps = 1e-5) {
  return at::layer_norm(x, {x.size(-1)}, w, b, eps);
}

double max_abs_diff(const at::Tensor& a, const at::Tensor& b) {
  return (a.to(torch::kDouble) - b.to(torch::kDouble)).abs().max().item<double>();
}

// Every combination of weight/bias present or absent, on AF2-like and odd shapes.
struct Case {
  std::vector<int64_t> shape;
  bool weight, bias;
};
std::vector<Case> cases() {
  std::vector<Case> out;
  for (auto shape : {std::vector<int64_t>{7}, {3, 37}, {2, 5, 11, 128}}) {
    for (bool w : {false, true}) {
      for (bool b : {false, true}) out.push_back({shape, w, b});
    }
  }
  return out;
}

TEST(LayerNorm, EqualsAtenFp32) {
  torch::manual_seed(0);
  for (const Case& c : cases()) {
    const int64_t cols = c.shape.back();
    const auto x = torch::randn(c.shape) * 3 + 1;
    const OptTensor w = c.weight ? OptTensor(torch::randn({cols})) : std::nullopt;
    const OptTensor b = c.bias ? OptTensor(torch::randn({cols})) : std::nullopt;
    const auto got = layer_norm(x, w, b);
    const auto want = reference(x, w, b);
    EXPECT_EQ(got.sizes(), x.sizes());
    EXPECT_TRUE(torch::allclose(got, want, 1e-5, 1e-6))
        << x.sizes() << " w=" << c.weight << " b=" << c.bias << " max diff " << max_abs_diff(got, want);
  }
}

TEST(LayerNorm, GradientsEqualAtenFp32) {
  torch::manual_seed(1);
  for (const Case& c : cases()) {
    const int64_t cols = c.shape.back();
    const auto x0 = torch::randn(c.shape) * 2 - 1;
    const auto w0 = torch::randn({cols});
    const auto b0 = torch::randn({cols});
    const auto cot = torch::randn(c.shape);
    auto grads = [&](bool ours) {
      auto x = x0.clone().requires_grad_(true);
      auto w = w0.clone().requires_grad_(true);
      auto b = b0.clone().requires_grad_(true);
      const OptTensor ow = c.weight ? OptTensor(w) : std::nullopt;
      const OptTensor ob = c.bias ? OptTensor(b) : std::nullopt;
      const auto y = ours ? layer_norm(x, ow, ob) : reference(x, ow, ob);
      std::vector<at::Tensor> inputs{x};
      if (c.weight) inputs.push_back(w);
      if (c.bias) inputs.push_back(b);
      return torch::autograd::grad({(y * cot).sum()}, inputs);
    };
    const auto got = grads(true);
    const auto want = grads(false);
    ASSERT_EQ(got.size(), want.size());
    for (size_t i = 0; i < got.size(); ++i) {
      // Weight/bias gradients sum over up to 110 rows in a different order than ATen.
      EXPECT_TRUE(torch::allclose(got[i], want[i], 1e-5, 1e-5))
          << x0.sizes() << " w=" << c.weight << " b=" << c.bias << " grad " << i << " max diff "
          << max_abs_diff(got[i], want[i]);
    }
  }
}

TEST(LayerNorm, OnlyRequestedGradientsAreComputed) {
  torch::manual_seed(2);
  const auto x = torch::randn({4, 16});
  const auto w = torch::randn({16}).requires_grad_(true);
  const auto b = torch::randn({16});  // does not require grad
  const auto y = layer_norm(x, w, b);
  const auto gw = torch::autograd::grad({y.square().sum()}, {w})[0];
  const auto wr = w.detach().clone().requires_grad_(true);
  const auto gw_ref = torch::autograd::grad({reference(x, wr, b).square().sum()}, {wr})[0];
  EXPECT_TRUE(torch::allclose(gw, gw_ref, 1e-5, 1e-5));
}

TEST(LayerNorm, ConstantRowHasZeroVarianceAndFiniteGradients) {
  // A row of equal values has variance 0: rstd = 1/sqrt(eps), y = bias. 3.25 * cols is
  // exact in fp32, so the mean is exact and the row normalises to exactly 0.
  torch::manual_seed(3);
  auto x = torch::randn({4, 37});
  x[2].fill_(3.25);
  const auto w = torch::randn({37});
  const auto b = torch::randn({37});
  const auto xg = x.clone().requires_grad_(true);
  const auto y = layer_norm(xg, w, b);
  EXPECT_TRUE(torch::equal(y[2], b));
  EXPECT_TRUE(torch::allclose(y, reference(x, w, b), 1e-5, 1e-6));
  const auto cot = torch::randn({4, 37});
  const auto g = torch::autograd::grad({(y * cot).sum()}, {xg})[0];
  EXPECT_TRUE(torch::isfinite(g).all().item<bool>());
  const auto xr = x.clone().requires_grad_(true);
  const auto g_ref = torch::autograd::grad({(reference(xr, w, b) * cot).sum()}, {xr})[0];
  // rstd = 316 amplifies the row-2 gradient; compare relative to its scale.
  EXPECT_TRUE(torch::allclose(g, g_ref, 1e-5, 1e-3)) << max_abs_diff(g, g_ref);
}

TEST(LayerNorm, EpsIsHonoured) {
  torch::manual_seed(4);
  const auto x = torch::randn({5, 24}) * 1e-2;  // variance ~1e-4: eps matters
  for (double eps : {1e-5, 1e-3, 0.1}) {
    EXPECT_TRUE(torch::allclose(layer_norm(x, std::nullopt, std::nullopt, eps),
                                reference(x, std::nullopt, std::nullopt, eps), 1e-5, 1e-6))
        << eps;
  }
}

TEST(LayerNorm, Bf16WithinDocumentedBound) {
  // Inputs, weight and bias are bf16; statistics and the affine map run in fp32 and the
  // result is rounded once to bf16 (8 significant bits, unit roundoff 2^-8), so it is
  // within 2^-8 relative of the fp32 LayerNorm of the same bf16 values, plus fp32 noise.
  // Gradients likewise: fp32 from bf16 dy, rounded once (dweight/dbias sum in fp32).
  torch::manual_seed(5);
  const auto x = (torch::randn({16, 256}) * 2).to(torch::kBFloat16);
  const auto w = torch::randn({256}).to(torch::kBFloat16);
  const auto b = torch::randn({256}).to(torch::kBFloat16);
  const auto cot = torch::randn({16, 256}).to(torch::kBFloat16);
  const auto xg = x.clone().requires_grad_(true);
  const auto wg = w.clone().requires_grad_(true);
  const auto bg = b.clone().requires_grad_(true);
  const auto y = layer_norm(xg, wg, bg);
  EXPECT_EQ(y.scalar_type(), torch::kBFloat16);
  const auto gs = torch::autograd::grad({(y * cot).sum()}, {xg, wg, bg});

  const auto xf = x.to(torch::kFloat).requires_grad_(true);
  const auto wf = w.to(torch::kFloat).requires_grad_(true);
  const auto bf = b.to(torch::kFloat).requires_grad_(true);
  const auto yf = reference(xf, wf, bf);
  EXPECT_TRUE(torch::allclose(y.to(torch::kFloat), yf, 1.0 / 256, 1e-5)) << max_abs_diff(y, yf);
  // The reference backward sees the bf16-rounded cotangent, as ours does.
  const auto gf = torch::autograd::grad({(yf * cot.to(torch::kFloat)).sum()}, {xf, wf, bf});
  for (size_t i = 0; i < gs.size(); ++i) {
    EXPECT_EQ(gs[i].scalar_type(), torch::kBFloat16);
    EXPECT_TRUE(torch::allclose(gs[i].to(torch::kFloat), gf[i], 1.0 / 256, 1e-4))
        << i << " max diff " << max_abs_diff(gs[i], gf[i]);
  }
}

TEST(LayerNorm, Fp16AndMixedParameterDtypes) {
  // fp16 activations with fp32 parameters (mixed precision): output in x's dtype,
  // parameter gradients in the parameters' dtype.
  torch::manual_seed(6);
  const auto x = torch::randn({6, 64}).to(torch::kHalf);
  const auto w = torch::randn({64}).requires_grad_(true);
  const auto b = torch::randn({64}).requires_grad_(true);
  const auto y = layer_norm(x, w, b);
  EXPECT_EQ(y.scalar_type(), torch::kHalf);
  EXPECT_TRUE(torch::allclose(y.to(torch::kFloat), reference(x.to(torch::kFloat), w, b), 1.0 / 1024, 1e-4));
  const auto g = torch::autograd::grad({y.to(torch::kFloat).sum()}, {w, b});
  EXPECT_EQ(g[0].scalar_type(), torch::kFloat);
  EXPECT_EQ(g[1].scalar_type(), torch::kFloat);
}

TEST(LayerNorm, GradientMatchesFiniteDifferencesFp64) {
  // fp64 input is computed in fp64, so central differences with h = 1e-6 agree to ~1e-9.
  torch::manual_seed(7);
  const auto x = torch::randn({3, 9}, torch::kFloat64);
  const auto w = torch::randn({9}, torch::kFloat64);
  const auto b = torch::randn({9}, torch::kFloat64);
  const auto cot = torch::randn({3, 9}, torch::kFloat64);
  auto f = [&](const at::Tensor& xx, const at::Tensor& ww, const at::Tensor& bb) {
    return (layer_norm(xx, ww, bb) * cot).sum().item<double>();
  };
  const auto xg = x.clone().requires_grad_(true);
  const auto wg = w.clone().requires_grad_(true);
  const auto bg = b.clone().requires_grad_(true);
  const auto g = torch::autograd::grad({(layer_norm(xg, wg, bg) * cot).sum()}, {xg, wg, bg});
  const double h = 1e-6;
  for (int which = 0; which < 3; ++which) {
    const at::Tensor& base = which == 0 ? x : which == 1 ? w : b;
    for (int64_t i = 0; i < base.numel(); ++i) {
      auto p = base.clone(), m = base.clone();
      p.view(-1)[i] += h;
      m.view(-1)[i] -= h;
      const double fd = which == 0   ? (f(p, w, b) - f(m, w, b)) / (2 * h)
                        : which == 1 ? (f(x, p, b) - f(x, m, b)) / (2 * h)
                                     : (f(x, w, p) - f(x, w, m)) / (2 * h);
      EXPECT_NEAR(g[which].view(-1)[i].item<double>(), fd, 1e-7) << which << " " << i;
    }
  }
}

TEST(LayerNorm, ForwardReturnsStatistics) {
  torch::manual_seed(8);
  const auto x = torch::randn({2, 3, 40});
  const auto [y, mean, rstd] = layer_norm_forward(x, std::nullopt, std::nullopt, 1e-5);
  EXPECT_EQ(mean.sizes(), at::IntArrayRef({6}));
  EXPECT_EQ(mean.scalar_type(), torch::kFloat);
  const auto x2 = x.reshape({6, 40});
  EXPECT_TRUE(torch::allclose(mean, x2.mean(-1), 1e-5, 1e-6));
  EXPECT_TRUE(torch::allclose(rstd, (x2.var(-1, /*unbiased=*/false) + 1e-5).rsqrt(), 1e-5, 1e-6));
}

TEST(LayerNorm, EmptyBatchGivesZeroParameterGradients) {
  const auto x = torch::randn({0, 16}).requires_grad_(true);
  const auto w = torch::randn({16}).requires_grad_(true);
  const auto b = torch::randn({16}).requires_grad_(true);
  const auto y = layer_norm(x, w, b);
  EXPECT_EQ(y.sizes(), x.sizes());
  const auto g = torch::autograd::grad({y.sum()}, {w, b});
  EXPECT_TRUE(torch::equal(g[0], torch::zeros({16})));
  EXPECT_TRUE(torch::equal(g[1], torch::zeros({16})));
}

TEST(LayerNorm, RejectsBadInputs) {
  const auto x = torch::randn({3, 8});
  EXPECT_THROW(layer_norm(x, torch::ones({9}), std::nullopt), c10::Error);
  EXPECT_THROW(layer_norm(x, torch::ones({1, 8}), std::nullopt), c10::Error);
  EXPECT_THROW(layer_norm(x, std::nullopt, torch::ones({7})), c10::Error);
  EXPECT_THROW(layer_norm(x, torch::ones({8}, torch::kInt64), std::nullopt), c10::Error);
  EXPECT_THROW(layer_norm(torch::ones({3, 8}, torch::kInt64), std::nullopt, std::nullopt), c10::Error);
  EXPECT_THROW(layer_norm(torch::ones({}), std::nullopt, std::nullopt), c10::Error);
  try {
    layer_norm(x, torch::ones({9}), std::nullopt);
    ADD_FAILURE() << "no exception";
  } catch (const c10::Error& e) {
    EXPECT_NE(std::string(e.what_without_backtrace()).find("weight has shape [9], expected [8]"),
              std::string::npos)
        << e.what_without_backtrace();
  }
}

}  // namespace
}  // namespace fold::kernels
