// CUDA flash attention (kernels/cuda/attention.cu, the `fused` path on CUDA) against the
// ATen reference computed on CPU in fp32, values and gradients, on the shapes of the four
// Evoformer attentions (gpu label).
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <algorithm>
#include <limits>
#include <optional>
#include <string>
#include <vector>

#include "kernels/attention.h"

namespace fold::kernels {
namespace {

class AttentionGpu : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device visible: GPU tests skipped";
  }
};

// q is [B, N, H, Q, C] (C filled in per test); the mask bias is [B, N, 1, 1, K]; the pair
// bias [B, 1, H, Q, K] (empty: none).
struct Variant {
  std::string name;
  std::vector<int64_t> q;
  int64_t k_len;
  std::vector<int64_t> mask;
  std::vector<int64_t> pair;
};

std::vector<Variant> evoformer_variants() {
  return {
      {"msa_row", {1, 8, 8, 37, 0}, 37, {1, 8, 1, 1, 37}, {1, 1, 8, 37, 37}},
      {"msa_column", {1, 37, 8, 8, 0}, 8, {1, 37, 1, 1, 8}, {}},
      {"triangle_start", {1, 37, 4, 37, 0}, 37, {1, 37, 1, 1, 37}, {1, 1, 4, 37, 37}},
      {"triangle_end", {1, 37, 4, 37, 0}, 37, {1, 37, 1, 1, 37}, {1, 1, 4, 37, 37}},
  };
}

// fp32 CPU tensors holding values exactly representable in the dtype under test, so the
// reference and the kernel see the same inputs.
struct Inputs {
  torch::Tensor q, k, v, gate, mask, pair, cot;
};

Inputs make_inputs(const Variant& var, int64_t c, torch::Dtype dtype, bool gated, uint64_t seed) {
  torch::manual_seed(seed);
  const auto round = [&](const torch::Tensor& t) { return t.to(dtype).to(torch::kFloat); };
  std::vector<int64_t> qs = var.q;
  qs[4] = c;
  std::vector<int64_t> ks = qs;
  ks[3] = var.k_len;
  Inputs in;
  in.q = round(torch::randn(qs));
  in.k = round(torch::randn(ks));
  in.v = round(torch::randn(ks));
  if (gated) in.gate = round(torch::randn(qs));
  // ~15% of keys masked with AF2's finite -1e9 (-inf once rounded to fp16); key 0 stays
  // visible so no row is fully masked here.
  auto masked = torch::rand(var.mask) < 0.15;
  masked.select(-1, 0).fill_(false);
  in.mask = round(masked.to(torch::kFloat) * -1e9);
  if (!var.pair.empty()) in.pair = round(torch::randn(var.pair));
  in.cot = round(torch::randn(qs));
  return in;
}

// Output and gradients (q, k, v, then gate and pair bias when present), as fp32 on CPU.
struct Result {
  torch::Tensor out;
  std::vector<torch::Tensor> grads;
};

Result run(const Inputs& in, bool fused_cuda, torch::Dtype dtype) {
  const torch::Device dev = fused_cuda ? torch::Device(torch::kCUDA) : torch::Device(torch::kCPU);
  const torch::Dtype ty = fused_cuda ? dtype : torch::kFloat;
  const auto leaf = [&](const torch::Tensor& t) { return t.to(dev, ty).detach().requires_grad_(true); };
  const auto q = leaf(in.q), k = leaf(in.k), v = leaf(in.v);
  std::vector<torch::Tensor> inputs{q, k, v};
  std::optional<torch::Tensor> gate;
  if (in.gate.defined()) {
    gate = leaf(in.gate);
    inputs.push_back(*gate);
  }
  std::vector<torch::Tensor> biases{in.mask.to(dev, ty)};  // the mask bias needs no gradient
  if (in.pair.defined()) {
    biases.push_back(leaf(in.pair));
    inputs.push_back(biases.back());
  }
  torch::Tensor out;
  if (fused_cuda) {
    AttentionOptions opts;
    opts.path = AttentionPath::kFused;
    EXPECT_EQ(attention_implementation(q, opts), "cuda-flash");
    out = attention(q, k, v, biases, gate, opts);
  } else {
    out = attention_reference(q, k, v, biases, gate);
  }
  Result r;
  for (auto& g : torch::autograd::grad({out}, inputs, {in.cot.to(dev, ty)})) r.grads.push_back(g.cpu().to(torch::kFloat));
  r.out = out.detach().cpu().to(torch::kFloat);
  return r;
}

// Error relative to the largest reference magnitude: element-wise relative error is
// meaningless for gradient entries that are close to zero.
void expect_close(const torch::Tensor& got, const torch::Tensor& want, double tol, const std::string& what) {
  ASSERT_EQ(got.sizes(), want.sizes()) << what;
  EXPECT_TRUE(torch::isfinite(got).all().item<bool>()) << what << ": non-finite values";
  const double scale = std::max(want.abs().max().item<double>(), 1e-3);
  const double err = (got - want).abs().max().item<double>();
  EXPECT_LE(err, tol * scale) << what << ": max abs error " << err << ", max |reference| " << scale;
}

const char* grad_name(size_t i, const Inputs& in) {
  static const char* fixed[] = {"dq", "dk", "dv"};
  if (i < 3) return fixed[i];
  if (i == 3 && in.gate.defined()) return "dgate";
  return "dpair_bias";
}

void compare(const Inputs& in, torch::Dtype dtype, double tol, const std::string& label) {
  const Result got = run(in, /*fused_cuda=*/true, dtype);
  const Result want = run(in, /*fused_cuda=*/false, dtype);
  expect_close(got.out, want.out, tol, label + " out");
  ASSERT_EQ(got.grads.size(), want.grads.size()) << label;
  for (size_t i = 0; i < got.grads.size(); ++i) expect_close(got.grads[i], want.grads[i], tol, label + " " + grad_name(i, in));
}

std::string label_of(const Variant& var, int64_t c, torch::Dtype dtype) {
  return var.name + " C=" + std::to_string(c) + " " + std::string(c10::toString(dtype));
}

void evoformer_sweep(torch::Dtype dtype, double tol) {
  uint64_t seed = 0;
  for (const Variant& var : evoformer_variants()) {
    for (int64_t c : {8, 16, 32, 64}) {
      const Inputs in = make_inputs(var, c, dtype, /*gated=*/true, seed++);
      compare(in, dtype, tol, label_of(var, c, dtype));
    }
  }
}

TEST_F(AttentionGpu, Fp32MatchesReferenceOnEvoformerShapes) { evoformer_sweep(torch::kFloat, 1e-4); }

TEST_F(AttentionGpu, Bf16MatchesReferenceOnEvoformerShapes) { evoformer_sweep(torch::kBFloat16, 2e-2); }

TEST_F(AttentionGpu, Fp16MatchesReferenceOnEvoformerShapes) { evoformer_sweep(torch::kHalf, 2e-2); }

// Head dims that are not multiples of 16 are zero-padded inside the kernel; no gate and
// no pair bias exercise the optional inputs.
TEST_F(AttentionGpu, UngatedAndOddHeadDims) {
  const Variant column = evoformer_variants()[1];
  uint64_t seed = 100;
  for (auto dtype : {torch::kFloat, torch::kBFloat16, torch::kHalf}) {
    const double tol = dtype == torch::kFloat ? 1e-4 : 2e-2;
    for (int64_t c : {1, 12, 24, 40, 64}) {
      const Inputs in = make_inputs(column, c, dtype, /*gated=*/false, seed++);
      compare(in, dtype, tol, label_of(column, c, dtype) + " ungated");
    }
  }
}

// Several query and key tiles, none of them full (300 = 4 * 64 + 44).
TEST_F(AttentionGpu, LongSequences) {
  const Variant big{"long", {1, 2, 4, 300, 0}, 300, {1, 2, 1, 1, 300}, {1, 1, 4, 300, 300}};
  uint64_t seed = 200;
  for (auto dtype : {torch::kFloat, torch::kBFloat16, torch::kHalf}) {
    const double tol = dtype == torch::kFloat ? 1e-4 : 2e-2;
    const Inputs in = make_inputs(big, 32, dtype, /*gated=*/true, seed++);
    compare(in, dtype, tol, label_of(big, 32, dtype));
  }
}

// MSA row attention where sequence 3 is masked with -inf on every key: its queries give
// exactly 0 and contribute no gradient (the reference's softmax would be NaN there, so it
// is compared on the other sequences). Sequence 5 is masked with AF2's finite -1e9 on
// every key: a uniform softmax, as in the reference; like AF2's padding it gets a zero
// output gradient, since fp32 cannot hold log(sum) next to |lse| ~ 1e9 for backward.
TEST_F(AttentionGpu, FullyMaskedRowsGiveZerosAndFiniteGradients) {
  const Variant row = evoformer_variants()[0];
  constexpr int64_t kInf = 3, kBig = 5;
  const auto keep = torch::tensor({0, 1, 2, 4, 5, 6, 7}, torch::kLong);
  uint64_t seed = 300;
  for (auto dtype : {torch::kFloat, torch::kBFloat16}) {
    const double tol = dtype == torch::kFloat ? 1e-4 : 2e-2;
    const std::string label = label_of(row, 32, dtype) + " fully masked";
    Inputs in = make_inputs(row, 32, dtype, /*gated=*/true, seed++);
    in.mask.select(1, kInf).fill_(-std::numeric_limits<float>::infinity());
    in.mask.select(1, kBig).fill_(-1e9);
    in.mask = in.mask.to(dtype).to(torch::kFloat);
    in.cot.select(1, kBig).zero_();

    const Result got = run(in, /*fused_cuda=*/true, dtype);
    EXPECT_TRUE(torch::isfinite(got.out).all().item<bool>()) << label;
    EXPECT_EQ(got.out.select(1, kInf).abs().max().item<float>(), 0.0f) << label;
    for (size_t i = 0; i < got.grads.size(); ++i) {
      EXPECT_TRUE(torch::isfinite(got.grads[i]).all().item<bool>()) << label << " " << grad_name(i, in);
      if (i < 4) {  // per-sequence gradients (q, k, v, gate; not the shared pair bias)
        EXPECT_EQ(got.grads[i].select(1, kInf).abs().max().item<float>(), 0.0f) << label << " " << grad_name(i, in);
      }
    }

    Inputs sub = in;
    for (torch::Tensor* t : {&sub.q, &sub.k, &sub.v, &sub.gate, &sub.mask, &sub.cot}) *t = t->index_select(1, keep);
    const Result want = run(sub, /*fused_cuda=*/false, dtype);
    expect_close(got.out.index_select(1, keep), want.out, tol, label + " out");
    ASSERT_EQ(got.grads.size(), want.grads.size());
    for (size_t i = 0; i < 4; ++i)
      expect_close(got.grads[i].index_select(1, keep), want.grads[i], tol, label + " " + grad_name(i, in));
    // The pair bias is shared by all sequences: the -inf one adds nothing to its gradient.
    expect_close(got.grads[4], want.grads[4], tol, label + " dpair_bias");
  }
}

}  // namespace
}  // namespace fold::kernels
