// CUDA flash attention (kernels/cuda/attention.cu, the `fused` path on CUDA) against the
// tiled path on the CPU in fp32 (itself checked against the naive ATen reference in
// tests/test_attention.cpp), values and gradients: the shapes of the four Evoformer
// attentions, the layouts the model hands over, mixed dtypes, streams and devices (gpu label).
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <ATen/cuda/CUDAContext.h>
#include <ATen/cuda/Sleep.h>
#include <c10/cuda/CUDAGuard.h>

#include <algorithm>
#include <array>
#include <functional>
#include <limits>
#include <map>
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

constexpr float kMinusInf = -std::numeric_limits<float>::infinity();

// The arguments of one attention call.
struct Call {
  torch::Tensor q, k, v;
  std::vector<torch::Tensor> biases;
  std::optional<torch::Tensor> gate;
};

// One test case: leaf tensors, each held on the CPU in the storage type it has on the GPU
// (the CPU reference reads the same values in fp32), and how the call is built from the
// leaves, so that views (transposes, narrows) reach the kernel as the model makes them.
struct Leaf {
  std::string name;
  torch::Tensor value;
  bool grad;
};
using Leaves = std::map<std::string, torch::Tensor>;

struct Case {
  std::vector<Leaf> leaves;
  std::function<Call(const Leaves&)> build;
  torch::Tensor cot;  // the output's cotangent, in q's storage type
  double scale = 0.0;
};

// q, k, v, the biases in leaf order (mask, then pair) and the gate, as plain tensors.
Call plain_call(const Leaves& l) {
  Call c{l.at("q"), l.at("k"), l.at("v"), {}, std::nullopt};
  for (const char* b : {"mask", "pair"})
    if (l.count(b)) c.biases.push_back(l.at(b));
  if (l.count("gate")) c.gate = l.at("gate");
  return c;
}

// Output and the gradient of every leaf that requires one, as fp32 on the CPU.
struct Result {
  torch::Tensor out;
  std::vector<torch::Tensor> grads;
};

// On a CUDA device: the flash kernel with the leaves in their own types; on the CPU: the
// tiled path in fp32. With `stream`, the leaves are written on that stream behind a
// spinning kernel, so a kernel issued on any other stream would read them unwritten.
Result run(const Case& c, const torch::Device& device, const std::optional<c10::cuda::CUDAStream>& stream = {}) {
  std::vector<torch::Tensor> staged, inputs;
  for (const Leaf& l : c.leaves)
    staged.push_back(device.is_cuda() ? l.value.to(device) : l.value.to(torch::kFloat).clone());
  std::optional<c10::cuda::CUDAStreamGuard> on_stream;
  if (stream) {
    torch::cuda::synchronize();
    on_stream.emplace(*stream);
    at::cuda::sleep(int64_t{1} << 26);  // tens of milliseconds
    // staged lives to the end, past the copies queued behind the sleep.
    for (const torch::Tensor& t : staged) inputs.push_back(torch::empty_like(t).copy_(t));
  } else {
    inputs = staged;
  }
  Leaves leaves;
  std::vector<torch::Tensor> wrt;
  for (size_t i = 0; i < c.leaves.size(); ++i) {
    if (c.leaves[i].grad) wrt.push_back(inputs[i].requires_grad_(true));
    leaves[c.leaves[i].name] = inputs[i];
  }
  const Call call = c.build(leaves);
  AttentionOptions opts;
  opts.path = AttentionPath::kFused;
  opts.scale = c.scale;
  EXPECT_EQ(attention_implementation(call.q, opts), device.is_cuda() ? "cuda-flash" : "tiled");
  const torch::Tensor out = attention(call.q, call.k, call.v, call.biases, call.gate, opts);
  // A bare "cuda" names the current device, which is where the output must be.
  EXPECT_EQ(out.device().type(), device.type());
  if (device.is_cuda()) {
    EXPECT_EQ(out.device().index(), device.has_index() ? device.index() : c10::cuda::current_device());
  }
  Result r;
  r.out = out.detach().cpu().to(torch::kFloat);
  if (wrt.empty()) return r;
  const auto grads = torch::autograd::grad({out}, wrt, {c.cot.to(device, out.scalar_type())});
  for (size_t i = 0; i < grads.size(); ++i) {
    EXPECT_EQ(grads[i].scalar_type(), wrt[i].scalar_type()) << "a gradient comes back in its input's type";
    r.grads.push_back(grads[i].cpu().to(torch::kFloat));
  }
  return r;
}

std::vector<std::string> grad_names(const Case& c) {
  std::vector<std::string> names;
  for (const Leaf& l : c.leaves)
    if (l.grad) names.push_back("d" + l.name);
  return names;
}

// Error relative to the largest reference magnitude (at least `floor`): element-wise
// relative error is meaningless for gradient entries that are close to zero.
void expect_close(const torch::Tensor& got, const torch::Tensor& want, double tol, const std::string& what,
                  double floor = 1e-3) {
  ASSERT_EQ(got.sizes(), want.sizes()) << what;
  EXPECT_TRUE(torch::isfinite(got).all().item<bool>()) << what << ": non-finite values";
  const double scale = std::max(want.abs().max().item<double>(), floor);
  const double err = (got - want).abs().max().item<double>();
  EXPECT_LE(err, tol * scale) << what << ": max abs error " << err << ", max |reference| " << scale;
}

void expect_results_close(const Result& got, const Result& want, const Case& c, double tol, const std::string& label) {
  expect_close(got.out, want.out, tol, label + " out");
  const auto names = grad_names(c);
  ASSERT_EQ(got.grads.size(), want.grads.size()) << label;
  // A gradient can vanish exactly (one visible key: the softmax is constant, so dq, dk and
  // the bias gradients are 0); the kernel's value is then the rounding of terms of the
  // backward pass's own size, so that size is its scale.
  double backward_scale = 1e-3;
  for (const torch::Tensor& g : want.grads) backward_scale = std::max(backward_scale, g.abs().max().item<double>());
  for (size_t i = 0; i < got.grads.size(); ++i)
    expect_close(got.grads[i], want.grads[i], tol, label + " " + names[i], backward_scale);
}

// The CUDA kernel against the tiled CPU path.
void compare(const Case& c, double tol, const std::string& label) {
  expect_results_close(run(c, torch::kCUDA), run(c, torch::kCPU), c, tol, label);
}

double tol_of(torch::Dtype dtype) { return dtype == torch::kFloat ? 1e-4 : 2e-2; }

// q [*, H, Q, C] with k and v [*, H, K, C]; a mask bias of shape `mask` (~15% of keys
// masked with AF2's finite -1e9, key 0 always visible) and a pair bias of shape `pair`,
// each left out when its shape is empty. Everything is stored in `dtype`.
struct Shape {
  std::vector<int64_t> q;
  int64_t k_len;
  std::vector<int64_t> mask;
  std::vector<int64_t> pair;
};

Case random_case(const Shape& s, torch::Dtype dtype, bool gated, uint64_t seed, bool mask_grad = false) {
  torch::manual_seed(seed);
  std::vector<int64_t> ks = s.q;
  ks[ks.size() - 2] = s.k_len;
  Case c;
  c.leaves.push_back({"q", torch::randn(s.q).to(dtype), true});
  c.leaves.push_back({"k", torch::randn(ks).to(dtype), true});
  c.leaves.push_back({"v", torch::randn(ks).to(dtype), true});
  if (gated) c.leaves.push_back({"gate", torch::randn(s.q).to(dtype), true});
  if (!s.mask.empty()) {
    auto masked = torch::rand(s.mask) < 0.15;
    masked.select(-1, 0).fill_(false);
    c.leaves.push_back({"mask", (masked.to(torch::kFloat) * -1e9).to(dtype), mask_grad});
  }
  if (!s.pair.empty()) c.leaves.push_back({"pair", torch::randn(s.pair).to(dtype), true});
  c.build = plain_call;
  c.cot = torch::randn(s.q).to(dtype);
  return c;
}

torch::Tensor& leaf(Case& c, const std::string& name) {
  for (Leaf& l : c.leaves)
    if (l.name == name) return l.value;
  throw std::invalid_argument("no leaf " + name);
}

std::string label_of(const std::string& name, int64_t c, torch::Dtype dtype) {
  return name + " C=" + std::to_string(c) + " " + std::string(c10::toString(dtype));
}

// q is [B, N, H, Q, C] (C filled in per test); the mask bias is [B, N, 1, 1, K]; the pair
// bias [B, 1, H, Q, K] (empty: none).
struct Variant {
  std::string name;
  Shape shape;
};

std::vector<Variant> evoformer_variants() {
  return {
      {"msa_row", {{1, 8, 8, 37, 0}, 37, {1, 8, 1, 1, 37}, {1, 1, 8, 37, 37}}},
      {"msa_column", {{1, 37, 8, 8, 0}, 8, {1, 37, 1, 1, 8}, {}}},
      {"triangle_start", {{1, 37, 4, 37, 0}, 37, {1, 37, 1, 1, 37}, {1, 1, 4, 37, 37}}},
      {"triangle_end", {{1, 37, 4, 37, 0}, 37, {1, 37, 1, 1, 37}, {1, 1, 4, 37, 37}}},
  };
}

Shape with_head_dim(Shape s, int64_t c) {
  s.q.back() = c;
  return s;
}

void evoformer_sweep(torch::Dtype dtype) {
  uint64_t seed = 0;
  for (const Variant& var : evoformer_variants()) {
    for (int64_t c : {8, 16, 32, 64})
      compare(random_case(with_head_dim(var.shape, c), dtype, /*gated=*/true, seed++), tol_of(dtype),
              label_of(var.name, c, dtype));
  }
}

TEST_F(AttentionGpu, Fp32MatchesReferenceOnEvoformerShapes) { evoformer_sweep(torch::kFloat); }

TEST_F(AttentionGpu, Bf16MatchesReferenceOnEvoformerShapes) { evoformer_sweep(torch::kBFloat16); }

TEST_F(AttentionGpu, Fp16MatchesReferenceOnEvoformerShapes) { evoformer_sweep(torch::kHalf); }

// Head dims that are not multiples of 16 are zero-padded inside the kernel; no gate and
// no pair bias exercise the optional inputs.
TEST_F(AttentionGpu, UngatedAndOddHeadDims) {
  const Variant column = evoformer_variants()[1];
  uint64_t seed = 100;
  for (auto dtype : {torch::kFloat, torch::kBFloat16, torch::kHalf}) {
    for (int64_t c : {1, 12, 24, 40, 64})
      compare(random_case(with_head_dim(column.shape, c), dtype, /*gated=*/false, seed++), tol_of(dtype),
              label_of(column.name, c, dtype) + " ungated");
  }
}

// Several query and key tiles, none of them full (300 = 4 * 64 + 44).
TEST_F(AttentionGpu, LongSequences) {
  const Shape big{{1, 2, 4, 300, 32}, 300, {1, 2, 1, 1, 300}, {1, 1, 4, 300, 300}};
  uint64_t seed = 200;
  for (auto dtype : {torch::kFloat, torch::kBFloat16, torch::kHalf})
    compare(random_case(big, dtype, /*gated=*/true, seed++), tol_of(dtype), label_of("long", 32, dtype));
}

// Q != K, and lengths on both sides of the forward's 32-key and 64-query tiles and the
// backward's 32-key (fp32) and 64-key (bf16) tiles.
TEST_F(AttentionGpu, QueryAndKeyLengthsDifferAcrossTileBoundaries) {
  std::vector<std::pair<int64_t, int64_t>> lengths{{1, 4}, {70, 33}, {5, 300}};
  for (int64_t q : {1, 16, 32, 33, 64, 65})
    for (int64_t k : {1, 16, 32, 33, 64, 65}) lengths.emplace_back(q, k);
  uint64_t seed = 400;
  for (auto dtype : {torch::kFloat, torch::kBFloat16}) {
    for (const auto& [q, k] : lengths) {
      const Shape s{{1, 2, 2, q, 32}, k, {1, 2, 1, 1, k}, {1, 1, 2, q, k}};
      compare(random_case(s, dtype, /*gated=*/true, seed++), tol_of(dtype),
              label_of("Q=" + std::to_string(q) + " K=" + std::to_string(k), 32, dtype));
    }
  }
}

// Two leading dims both > 1, one, or none (3-D and 4-D q); a pair bias [H, Q, K] of fewer
// dims than q, broadcast over both batch dims, whose gradient sums over them.
TEST_F(AttentionGpu, LeadingDimsAndPairBiasBroadcastOverBothBatchDims) {
  const std::vector<std::pair<std::string, Shape>> shapes{
      {"5-D", {{2, 3, 4, 20, 16}, 24, {2, 3, 1, 1, 24}, {4, 20, 24}}},
      {"4-D", {{3, 4, 20, 16}, 24, {3, 1, 1, 24}, {4, 20, 24}}},
      {"3-D", {{4, 20, 16}, 24, {}, {4, 20, 24}}},
  };
  uint64_t seed = 500;
  for (auto dtype : {torch::kFloat, torch::kBFloat16})
    for (const auto& [name, s] : shapes)
      compare(random_case(s, dtype, /*gated=*/true, seed++), tol_of(dtype), label_of(name, 16, dtype));
}

// A mask bias that requires grad: its gradient sums over the heads and queries it
// broadcasts over, and over a batch dim it lacks ([1, N, 1, 1, K], [N, 1, 1, K]).
TEST_F(AttentionGpu, MaskBiasGradientSumsOverItsBroadcastDims) {
  uint64_t seed = 600;
  for (auto dtype : {torch::kFloat, torch::kBFloat16}) {
    for (const std::vector<int64_t>& mask : {std::vector<int64_t>{2, 3, 1, 1, 40}, {1, 3, 1, 1, 40}, {3, 1, 1, 40}}) {
      const Shape s{{2, 3, 4, 40, 32}, 40, mask, {2, 1, 4, 40, 40}};
      compare(random_case(s, dtype, /*gated=*/true, seed++, /*mask_grad=*/true), tol_of(dtype),
              label_of("mask " + std::to_string(mask.size()) + "-D", 32, dtype));
    }
  }
}

// The layouts the model hands over (evoformer/attention.cpp, triangle_attention.cpp):
// q, k, v and the gate as split_heads views [*, L, H*C] -> [*, H, L, C] (transposed), the
// pair bias as linear(z).movedim(-1, -3), and triangle attention around the ending node's
// mask bias transposed, all narrowed to a chunk of rows. They are read through their strides.
TEST_F(AttentionGpu, ModelLayoutsReadThroughTheirStrides) {
  constexpr int64_t kN = 21, kH = 4, kC = 16, kStart = 3, kLen = 11;
  uint64_t seed = 700;
  for (auto dtype : {torch::kFloat, torch::kBFloat16}) {
    torch::manual_seed(seed++);
    Case c;
    for (const char* name : {"q", "k", "v", "gate"})
      c.leaves.push_back({name, torch::randn({1, kN, kN, kH * kC}).to(dtype), true});
    auto masked = torch::rand({1, kN, kN}) < 0.15;
    masked.select(-2, 0).fill_(false);  // after the transpose: key 0 of every row
    c.leaves.push_back({"mask", (masked.to(torch::kFloat) * -1e9).to(dtype), false});
    c.leaves.push_back({"pair", torch::randn({1, kN, kN, kH}).to(dtype), true});
    c.build = [](const Leaves& l) {
      const auto split_heads = [&](const char* name) {
        return l.at(name).view({1, kN, kN, kH, kC}).transpose(-2, -3).narrow(1, kStart, kLen);
      };
      const torch::Tensor mask = l.at("mask").transpose(-1, -2).unsqueeze(-2).unsqueeze(-2).narrow(1, kStart, kLen);
      const torch::Tensor pair = l.at("pair").movedim(-1, -3).unsqueeze(-4);
      return Call{split_heads("q"), split_heads("k"), split_heads("v"), {mask, pair}, split_heads("gate")};
    };
    c.cot = torch::randn({1, kLen, kH, kN, kC}).to(dtype);
    compare(c, tol_of(dtype), label_of("model layouts", kC, dtype));
  }
}

// MSA row attention where sequence 3 is masked with -inf on every key (its queries give
// exactly 0 and no gradient) and sequence 5 with AF2's finite -1e9 on every key (a uniform
// softmax: the output is the mean of v, and backward must recompute probabilities 1/K,
// which one fp32 log-sum-exp near -1e9 cannot give). The cotangent is non-zero on every
// row. The mask is fp32 or in q's type: fp32 -1e9 must stay finite beside fp16 q.
TEST_F(AttentionGpu, FullyMaskedRowsMatchTiledPathWithNonZeroCotangent) {
  constexpr int64_t kInf = 3, kBig = 5;
  const Variant row = evoformer_variants()[0];
  uint64_t seed = 300;
  for (auto dtype : {torch::kFloat, torch::kBFloat16, torch::kHalf}) {
    for (auto mask_dtype : {torch::kFloat, dtype}) {
      const std::string label = label_of(row.name, 32, dtype) + " mask " + c10::toString(mask_dtype) + " fully masked";
      Case c = random_case(with_head_dim(row.shape, 32), dtype, /*gated=*/true, seed++);
      torch::Tensor& mask = leaf(c, "mask");
      mask = mask.to(torch::kFloat);
      mask.select(1, kInf).fill_(kMinusInf);
      mask.select(1, kBig).fill_(-1e9);
      mask = mask.to(mask_dtype);
      const Result got = run(c, torch::kCUDA);
      expect_results_close(got, run(c, torch::kCPU), c, tol_of(dtype), label);
      EXPECT_EQ(got.out.select(1, kInf).abs().max().item<float>(), 0.0f) << label;
      for (size_t i = 0; i < 4; ++i)  // q, k, v, gate: per sequence (the pair bias is shared)
        EXPECT_EQ(got.grads[i].select(1, kInf).abs().max().item<float>(), 0.0f) << label << " " << grad_names(c)[i];
    }
  }
}

// bf16 or fp16 q with fp32 k, v, gate and biases: k, v and the gate are read in q's type,
// the biases in fp32 (a pair bias near 256, where bf16's spacing is 2, keeps its fp32
// detail; an fp32 -1e9 row stays the mean of v beside fp16 q), and every gradient comes
// back in its input's type.
TEST_F(AttentionGpu, MixedDtypesKeepFp32BiasesAndReturnGradientsInInputTypes) {
  const Shape s{{1, 6, 4, 37, 32}, 37, {1, 6, 1, 1, 37}, {1, 1, 4, 37, 37}};
  uint64_t seed = 800;
  for (auto dtype : {torch::kBFloat16, torch::kHalf}) {
    Case c = random_case(s, torch::kFloat, /*gated=*/true, seed++);
    // Values q's type holds exactly, so the reference sees what the kernel reads.
    for (const char* name : {"q", "k", "v"}) leaf(c, name) = leaf(c, name).to(dtype).to(torch::kFloat);
    leaf(c, "q") = leaf(c, "q").to(dtype);
    leaf(c, "pair") = leaf(c, "pair") + 256.0f;
    leaf(c, "mask").select(1, 2).fill_(-1e9);
    c.cot = c.cot.to(dtype);
    compare(c, tol_of(dtype), std::string("mixed, q ") + c10::toString(dtype));
  }
}

// A scale other than 1/sqrt(C) reaches the logits (and the gradients of q and k).
TEST_F(AttentionGpu, NonDefaultScale) {
  const Shape s{{1, 4, 4, 45, 32}, 50, {1, 4, 1, 1, 50}, {1, 1, 4, 45, 50}};
  uint64_t seed = 900;
  for (auto dtype : {torch::kFloat, torch::kBFloat16}) {
    Case c = random_case(s, dtype, /*gated=*/true, seed++);
    c.scale = 0.37;
    compare(c, tol_of(dtype), label_of("scale 0.37", 32, dtype));
  }
}

// Forward and backward on a pool stream run on that stream: the inputs are written there
// behind a spinning kernel, so work issued on the default stream would read them unwritten.
TEST_F(AttentionGpu, NonDefaultStreamOrdersAfterItsProducers) {
  const Shape s{{1, 4, 4, 70, 32}, 70, {1, 4, 1, 1, 70}, {1, 1, 4, 70, 70}};
  uint64_t seed = 1000;
  for (auto dtype : {torch::kFloat, torch::kBFloat16}) {
    const Case c = random_case(s, dtype, /*gated=*/true, seed++);
    const Result got = run(c, torch::kCUDA, c10::cuda::getStreamFromPool());
    expect_results_close(got, run(c, torch::kCPU), c, tol_of(dtype), label_of("pool stream", 32, dtype));
  }
}

// Tensors on cuda:1 while device 0 is current: the kernels launch on cuda:1 and its stream.
TEST_F(AttentionGpu, SecondDeviceWhileFirstIsCurrent) {
  if (torch::cuda::device_count() < 2) GTEST_SKIP() << "one CUDA device visible: the cuda:1 test needs two";
  const c10::cuda::CUDAGuard current(0);
  const Shape s{{1, 4, 4, 70, 32}, 70, {1, 4, 1, 1, 70}, {1, 1, 4, 70, 70}};
  uint64_t seed = 1100;
  for (auto dtype : {torch::kFloat, torch::kBFloat16}) {
    const Case c = random_case(s, dtype, /*gated=*/true, seed++);
    expect_results_close(run(c, torch::Device(torch::kCUDA, 1)), run(c, torch::kCPU), c, tol_of(dtype),
                         label_of("cuda:1", 32, dtype));
    EXPECT_EQ(c10::cuda::current_device(), 0);
  }
}

// dq and the bias gradients are accumulated with atomics in no fixed order: two backward
// runs may differ only by fp32 rounding (pair bias shared by 8 sequences, 5 key tiles).
TEST_F(AttentionGpu, TwoBackwardRunsAgree) {
  const Shape s{{1, 8, 4, 130, 32}, 130, {1, 8, 1, 1, 130}, {1, 1, 4, 130, 130}};
  const Case c = random_case(s, torch::kFloat, /*gated=*/true, 1200);
  const Result a = run(c, torch::kCUDA), b = run(c, torch::kCUDA);
  expect_results_close(a, b, c, 1e-5, "second backward");
}

// Triangle attention over 2048 residues, 8 heads, C = 64 in bf16: q holds 2^31 elements,
// so every offset past the first 2^31 needs 64-bit arithmetic. Forward only (backward's
// atomics over a pair bias shared by 2048 rows would dominate the suite's time); rows at
// both ends and inside are checked against the reference on the CPU.
TEST_F(AttentionGpu, LargeIndexTriangleAttentionSampledRows) {
  constexpr int64_t kN = 2048, kH = 8, kC = 64;
  const torch::NoGradGuard no_grad;
  torch::manual_seed(1300);
  const auto bf16 = torch::TensorOptions().dtype(torch::kBFloat16).device(torch::kCUDA);
  const auto q = torch::randn({1, kN, kH, kN, kC}, bf16), k = torch::randn({1, kN, kH, kN, kC}, bf16),
             v = torch::randn({1, kN, kH, kN, kC}, bf16), gate = torch::randn({1, kN, kH, kN, kC}, bf16);
  const auto pair = torch::randn({1, 1, kH, kN, kN}, bf16);
  auto masked = torch::rand({1, kN, 1, 1, kN}, torch::kCUDA) < 0.15;
  masked.select(-1, 0).fill_(false);
  const auto mask = masked.to(torch::kFloat) * -1e9;
  AttentionOptions opts;
  opts.path = AttentionPath::kFused;
  ASSERT_EQ(attention_implementation(q, opts), "cuda-flash");
  const auto out = attention(q, k, v, {mask, pair}, gate, opts);
  const std::vector<std::array<int64_t, 3>> rows{{0, 0, 0},        {kN - 1, kH - 1, kN - 1}, {kN - 1, 0, 5},
                                                 {1024, 3, 1000}, {1500, kH - 1, kN - 1},   {777, 5, 1}};
  for (const auto& [i, h, j] : rows) {
    const auto cpu = [&](const torch::Tensor& t) { return t.cpu().to(torch::kFloat); };
    const auto qi = cpu(q.narrow(1, i, 1).narrow(2, h, 1).narrow(3, j, 1));
    const auto ki = cpu(k.narrow(1, i, 1).narrow(2, h, 1)), vi = cpu(v.narrow(1, i, 1).narrow(2, h, 1));
    const auto gi = cpu(gate.narrow(1, i, 1).narrow(2, h, 1).narrow(3, j, 1));
    const std::vector<torch::Tensor> bias{cpu(mask.narrow(1, i, 1)), cpu(pair.narrow(2, h, 1).narrow(3, j, 1))};
    const auto want = attention_reference(qi, ki, vi, bias, gi);
    expect_close(cpu(out.narrow(1, i, 1).narrow(2, h, 1).narrow(3, j, 1)), want, 2e-2,
                 "row " + std::to_string(i) + " head " + std::to_string(h) + " query " + std::to_string(j));
  }
}

}  // namespace
}  // namespace fold::kernels
