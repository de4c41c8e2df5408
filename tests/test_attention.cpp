// kernels::attention on the CPU: the tiled (fused) path against the naive ATen
// reference for the shapes of the four Evoformer variants, values and gradients.
#include <gtest/gtest.h>
#include <c10/core/InferenceMode.h>
#include <torch/torch.h>

#include <cmath>
#include <limits>

#include "kernels/attention.h"
#include "kernels/cuda/attention_row_stats.h"
#include "kernels/device_memory.h"

namespace fold::kernels {
namespace {

struct Case {
  const char* name;
  std::vector<int64_t> q;          // [*, H, Q, C]
  int64_t keys;                    // K
  std::vector<int64_t> mask_bias;  // [*, 1, 1, K]
  std::vector<int64_t> pair_bias;  // empty = none
  bool gate;
};

void PrintTo(const Case& c, std::ostream* os) { *os << c.name; }

// AF2 sizes reduced, with odd residue counts (37) and every head dim in use.
const std::vector<Case> kCases = {
    {"msa_row_pair_bias", {1, 6, 8, 37, 8}, 37, {1, 6, 1, 1, 37}, {1, 1, 8, 37, 37}, true},
    {"msa_column", {1, 37, 8, 6, 8}, 6, {1, 37, 1, 1, 6}, {}, true},
    {"triangle_start", {1, 37, 4, 37, 16}, 37, {1, 37, 1, 1, 37}, {1, 1, 4, 37, 37}, true},
    {"triangle_end", {1, 37, 4, 37, 32}, 37, {1, 37, 1, 1, 37}, {1, 1, 4, 37, 37}, true},
    {"one_head_no_gate", {2, 1, 37, 32}, 37, {2, 1, 1, 37}, {1, 37, 37}, false},
    {"template_pointwise", {1, 37, 37, 4, 1, 16}, 4, {4}, {}, false},
};

double rel_err(const torch::Tensor& a, const torch::Tensor& b) {
  const double scale = b.abs().max().item<double>();
  return (a - b).abs().max().item<double>() / std::max(scale, 1e-30);
}

struct Inputs {
  torch::Tensor q, k, v, mask, pair, gate;
  std::vector<torch::Tensor> biases() const {
    std::vector<torch::Tensor> b{mask};
    if (pair.defined()) b.push_back(pair);
    return b;
  }
  std::optional<torch::Tensor> gate_opt() const { return gate.defined() ? std::optional(gate) : std::nullopt; }
  std::vector<torch::Tensor> grad_targets() const {
    std::vector<torch::Tensor> t{q, k, v};
    if (pair.defined()) t.push_back(pair);
    if (gate.defined()) t.push_back(gate);
    return t;
  }
};

// mask_value: the bias of masked keys (AF2 uses -1e9; -inf must work too).
Inputs make_inputs(const Case& c, torch::ScalarType dtype, double mask_value, bool mask_whole_row = false) {
  torch::manual_seed(42);
  auto opts = torch::TensorOptions().dtype(dtype);
  std::vector<int64_t> kshape = c.q;
  kshape[kshape.size() - 2] = c.keys;
  Inputs in;
  in.q = torch::randn(c.q, opts).requires_grad_(true);
  in.k = torch::randn(kshape, opts).requires_grad_(true);
  in.v = torch::randn(kshape, opts).requires_grad_(true);
  auto keep = torch::rand(c.mask_bias) > 0.2;
  if (mask_whole_row) keep.view(-1).narrow(0, 0, c.keys).fill_(false);  // first row: every key masked
  in.mask = torch::where(keep, torch::zeros(c.mask_bias), torch::full(c.mask_bias, mask_value)).to(dtype);
  if (!c.pair_bias.empty()) in.pair = torch::randn(c.pair_bias, opts).requires_grad_(true);
  if (c.gate) in.gate = torch::randn(c.q, opts).requires_grad_(true);
  return in;
}

std::vector<torch::Tensor> value_and_grads(const Inputs& in, const torch::Tensor& out, const torch::Tensor& cot) {
  std::vector<torch::Tensor> r{out.detach()};
  auto g = torch::autograd::grad({(out * cot).sum()}, in.grad_targets());
  r.insert(r.end(), g.begin(), g.end());
  return r;
}

class AttentionCpu : public ::testing::TestWithParam<Case> {};

// One row has every key masked with AF2's finite -1e9: its attention is uniform and its
// gradients are defined, and they must match too (see the row statistics in attention.cpp).
TEST_P(AttentionCpu, EqualsNaiveReferenceFp32) {
  const Case& c = GetParam();
  const Inputs in = make_inputs(c, torch::kFloat, -1e9, true);
  const auto cot = torch::randn(c.q);
  const auto want = value_and_grads(in, attention_reference(in.q, in.k, in.v, in.biases(), in.gate_opt()), cot);
  for (bool low_memory : {false, true}) {
    AttentionOptions o;
    o.path = AttentionPath::kFused;
    o.low_memory = low_memory;
    o.query_chunk = low_memory ? 5 : 0;  // uneven tiles: 37 = 7 * 5 + 2
    o.key_chunk = low_memory ? 8 : 0;
    const auto got = value_and_grads(in, attention(in.q, in.k, in.v, in.biases(), in.gate_opt(), o), cot);
    const char* names[] = {"out", "dq", "dk", "dv", "d_pair_or_gate", "d_gate"};
    for (size_t i = 0; i < want.size(); ++i)
      EXPECT_LE(rel_err(got[i], want[i]), 1e-5) << c.name << " low_memory=" << low_memory << " " << names[i];
  }
}

TEST_P(AttentionCpu, LowMemoryEqualsDefault) {
  const Case& c = GetParam();
  const Inputs in = make_inputs(c, torch::kFloat, -1e9);
  const auto cot = torch::randn(c.q);
  AttentionOptions full, tiled;
  tiled.low_memory = true;
  tiled.query_chunk = 3;
  tiled.key_chunk = 4;
  const auto a = value_and_grads(in, attention(in.q, in.k, in.v, in.biases(), in.gate_opt(), full), cot);
  const auto b = value_and_grads(in, attention(in.q, in.k, in.v, in.biases(), in.gate_opt(), tiled), cot);
  for (size_t i = 0; i < a.size(); ++i) EXPECT_LE(rel_err(b[i], a[i]), 1e-5) << c.name << " #" << i;
}

// bf16 keeps 8 significant bits: inputs, the output and the gradients are each
// rounded once to bf16 (relative 2^-9) while every sum runs in fp32, so the result
// lies within a few bf16 ulps of the fp32 reference on the same (rounded) inputs:
// documented bound 2e-2 of the largest magnitude.
TEST_P(AttentionCpu, Bf16WithinDocumentedBound) {
  const Case& c = GetParam();
  const Inputs in = make_inputs(c, torch::kBFloat16, -1e9);
  const auto cot = torch::randn(c.q).to(torch::kBFloat16);
  Inputs ref;  // the same bf16 values, in fp32
  for (auto [dst, src] : {std::pair{&ref.q, &in.q}, {&ref.k, &in.k}, {&ref.v, &in.v}, {&ref.pair, &in.pair},
                          {&ref.gate, &in.gate}, {&ref.mask, &in.mask}})
    if (src->defined()) *dst = src->detach().to(torch::kFloat).requires_grad_(src->requires_grad());
  const auto want = value_and_grads(ref, attention_reference(ref.q, ref.k, ref.v, ref.biases(), ref.gate_opt()),
                                    cot.to(torch::kFloat));
  AttentionOptions o;
  o.low_memory = true;
  const auto got = value_and_grads(in, attention(in.q, in.k, in.v, in.biases(), in.gate_opt(), o), cot);
  for (size_t i = 0; i < want.size(); ++i) {
    EXPECT_EQ(got[i].scalar_type(), torch::kBFloat16);
    EXPECT_LE(rel_err(got[i].to(torch::kFloat), want[i]), 2e-2) << c.name << " #" << i;
  }
}

TEST_P(AttentionCpu, FullyMaskedRowGivesZerosAndFiniteGradients) {
  const Case& c = GetParam();
  const Inputs in = make_inputs(c, torch::kFloat, -std::numeric_limits<float>::infinity(), true);
  for (bool low_memory : {false, true}) {
    AttentionOptions o;
    o.low_memory = low_memory;
    const auto out = attention(in.q, in.k, in.v, in.biases(), in.gate_opt(), o);
    const auto grads = torch::autograd::grad({out.sum()}, in.grad_targets());
    EXPECT_TRUE(torch::isfinite(out).all().item<bool>()) << c.name;
    for (const auto& g : grads) EXPECT_TRUE(torch::isfinite(g).all().item<bool>()) << c.name;
    // The mask's first row is the first leading index: all of its queries see no key.
    EXPECT_EQ(out.reshape({-1}).narrow(0, 0, c.q.back()).abs().max().item<float>(), 0.0f) << c.name;
    // Elsewhere the reference (which is NaN on the masked row) agrees.
    const auto ref = attention_reference(in.q, in.k, in.v, in.biases(), in.gate_opt());
    const auto valid = torch::isfinite(ref);
    if (valid.any().item<bool>()) {  // a mask of shape [K] masks every row at once
      EXPECT_LE(rel_err(out.masked_select(valid), ref.masked_select(valid)), 1e-5) << c.name;
    }
  }
}

// Under c10::InferenceMode the fp32 CPU path is ATen's flash kernel with the biases
// summed into one (or the zero key mask dropped): equal to the reference, with a fully
// masked row uniform under -1e9 and 0 under -inf, whether or not low_memory sends two
// nonzero biases back to the tiled kernel.
TEST_P(AttentionCpu, InferenceModeFlashEqualsReference) {
  const Case& c = GetParam();
  for (const double mask_value : {-1e9, -std::numeric_limits<double>::infinity(), 0.0}) {
    const Inputs in = make_inputs(c, torch::kFloat, mask_value, mask_value != 0.0);
    torch::Tensor want;
    {
      torch::NoGradGuard no_grad;
      want = attention_reference(in.q, in.k, in.v, in.biases(), in.gate_opt());
    }
    for (bool low_memory : {false, true}) {
      AttentionOptions o;
      o.low_memory = low_memory;
      c10::InferenceMode inference;
      EXPECT_EQ(attention_implementation(in.q, o), "cpu-flash");
      const auto got = attention(in.q, in.k, in.v, in.biases(), in.gate_opt(), o);
      ASSERT_EQ(got.sizes(), want.sizes());
      const auto valid = torch::isfinite(want);
      EXPECT_TRUE(torch::isfinite(got).all().item<bool>()) << c.name << " mask " << mask_value;
      if (valid.any().item<bool>()) {
        EXPECT_LE(rel_err(got.masked_select(valid), want.masked_select(valid)), 1e-5)
            << c.name << " mask " << mask_value << " low_memory=" << low_memory;
      }
      if (std::isinf(mask_value)) {
        EXPECT_EQ(got.reshape({-1}).narrow(0, 0, c.q.back()).abs().max().item<float>(), 0.0f) << c.name;
      }
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Variants, AttentionCpu, ::testing::ValuesIn(kCases),
                         [](const auto& info) { return std::string(info.param.name); });

TEST(Attention, GradientMatchesFiniteDifferencesFp64) {
  torch::manual_seed(7);
  auto d = torch::TensorOptions().dtype(torch::kDouble);
  const auto q = torch::randn({1, 2, 3, 5, 4}, d), k = torch::randn({1, 2, 3, 6, 4}, d),
             v = torch::randn({1, 2, 3, 6, 4}, d), pair = torch::randn({1, 1, 3, 5, 6}, d),
             gate = torch::randn({1, 2, 3, 5, 4}, d), cot = torch::randn({1, 2, 3, 5, 4}, d);
  AttentionOptions o;
  o.low_memory = true;
  o.query_chunk = 2;
  o.key_chunk = 4;
  std::vector<torch::Tensor> xs{q, k, v, pair, gate};
  auto loss = [&](const std::vector<torch::Tensor>& x) {
    return (attention(x[0], x[1], x[2], {x[3]}, x[4], o) * cot).sum();
  };
  std::vector<torch::Tensor> vars;
  for (const auto& x : xs) vars.push_back(x.clone().requires_grad_(true));
  const auto grads = torch::autograd::grad({loss(vars)}, vars);
  const double h = 1e-6;
  for (size_t i = 0; i < xs.size(); ++i) {
    for (int64_t j = 0; j < xs[i].numel(); j += 7) {
      auto plus = xs, minus = xs;
      plus[i] = xs[i].clone();
      minus[i] = xs[i].clone();
      plus[i].view(-1)[j] += h;
      minus[i].view(-1)[j] -= h;
      const double fd = (loss(plus) - loss(minus)).item<double>() / (2 * h);
      EXPECT_NEAR(grads[i].view(-1)[j].item<double>(), fd, 1e-7 + 1e-6 * std::abs(fd)) << "input " << i << " #" << j;
    }
  }
}

TEST(Attention, LowMemoryNeverHoldsTheLogits) {
  enable_cpu_memory_tracking();
  const c10::Device cpu(c10::DeviceType::CPU);
  torch::manual_seed(0);
  // 8 x 4 heads x 512 x 512 fp32 logits = 32 MiB; the output itself is 1 MiB.
  const auto q = torch::randn({8, 4, 512, 16}), k = torch::randn({8, 4, 512, 16}), v = torch::randn({8, 4, 512, 16});
  const auto mask = torch::zeros({8, 1, 1, 512});
  const int64_t logits_bytes = int64_t{8} * 4 * 512 * 512 * 4;
  auto extra_peak = [&](const std::function<torch::Tensor()>& f) {
    reset_peak_memory(cpu);
    const int64_t base = memory_stats(cpu).current_bytes;
    auto out = f();
    return memory_stats(cpu).peak_bytes - base;
  };
  const int64_t naive = extra_peak([&] { return attention_reference(q, k, v, {mask}, std::nullopt); });
  AttentionOptions o;
  o.low_memory = true;
  o.query_chunk = 32;
  o.key_chunk = 32;
  const int64_t low = extra_peak([&] { return attention(q, k, v, {mask}, std::nullopt, o); });
  EXPECT_GE(naive, logits_bytes);
  EXPECT_LE(low * 8, logits_bytes) << "low_memory peak " << low << " B";
  EXPECT_LE(low * 10, naive) << "low_memory peak " << low << " B vs naive " << naive << " B";
}

TEST(Attention, ReferencePathSelected) {
  AttentionOptions o;
  o.path = AttentionPath::kReference;
  EXPECT_EQ(attention_implementation(torch::zeros({1, 2, 3, 4}), o), "reference");
  EXPECT_EQ(parse_attention_path("fused"), AttentionPath::kFused);
  EXPECT_THROW(parse_attention_path("fast"), std::invalid_argument);
}

TEST(Attention, RejectsBadInput) {
  const auto q = torch::randn({2, 4, 5, 8}), k = torch::randn({2, 4, 6, 8});
  EXPECT_THROW(attention(q, k, torch::randn({2, 4, 7, 8}), {}, std::nullopt), c10::Error);        // v != k
  EXPECT_THROW(attention(q, torch::randn({2, 4, 6, 4}), torch::randn({2, 4, 6, 4}), {}, std::nullopt),
               c10::Error);                                                                         // head dims
  EXPECT_THROW(attention(q, k, k, {torch::zeros({2, 1, 5, 7})}, std::nullopt), c10::Error);       // bias
  EXPECT_THROW(attention(q, k, k, {torch::zeros({6}), torch::zeros({6}), torch::zeros({6})}, std::nullopt),
               c10::Error);                                                                         // 3 biases
  EXPECT_THROW(attention(q, k, k, {}, torch::zeros({2, 4, 5, 7})), c10::Error);                   // gate
  EXPECT_THROW(attention(torch::ones({2, 4, 5, 8}, torch::kLong), k, k, {}, std::nullopt), c10::Error);
}

// Any input off q's device is refused with an error naming it (the CUDA kernel would
// otherwise dereference another device's pointer). The meta device stands in for a GPU.
TEST(Attention, RejectsInputsOnAnotherDeviceNamingThem) {
  const auto q = torch::randn({2, 4, 5, 8}), k = torch::randn({2, 4, 6, 8});
  const auto elsewhere = [](const torch::Tensor& t) { return torch::empty(t.sizes(), torch::kMeta); };
  const auto expect_error = [](const std::function<void()>& call, const std::string& want) {
    try {
      call();
      ADD_FAILURE() << "no error, expected one saying '" << want << "'";
    } catch (const c10::Error& e) {
      const std::string got = e.what_without_backtrace();
      EXPECT_NE(got.find(want), std::string::npos) << got;
    }
  };
  const auto mask = torch::zeros({2, 1, 1, 6});
  expect_error([&] { attention(q, elsewhere(k), k, {}, std::nullopt); }, "k is on meta");
  expect_error([&] { attention(q, k, elsewhere(k), {}, std::nullopt); }, "v is on meta");
  expect_error([&] { attention(q, k, k, {mask, elsewhere(mask)}, std::nullopt); }, "bias 1 is on meta");
  expect_error([&] { attention(q, k, k, {}, elsewhere(q)); }, "gate is on meta");
}

// The CUDA kernels' row statistics (kernels/cuda/attention_row_stats.h), run here on the
// host: a row masked on every key with AF2's finite -1e9 has all logits within fp32's
// rounding of -1e9, and backward must still recompute the uniform 1/K, not 1 (what one
// saved log-sum-exp m + log(l) gives, since it rounds to m).
TEST(Attention, CudaRowStatisticsRecomputeUniformProbabilitiesOfFiniteMaskedRow) {
  torch::manual_seed(3);
  for (int64_t keys : {1, 37, 300}) {
    const auto logits = (torch::randn({keys}) + -1e9f).contiguous();
    const float* x = logits.data_ptr<float>();
    const float m = logits.max().item<float>();
    float l = 0.0f;
    for (int64_t j = 0; j < keys; ++j) l += std::exp(x[j] - m);
    const cuda::RowStats stats = cuda::finish_row_stats(m, l);
    float total = 0.0f;
    for (int64_t j = 0; j < keys; ++j) {
      const float p = cuda::recomputed_probability(x[j], stats);
      EXPECT_NEAR(p, 1.0f / keys, 1e-6) << "K=" << keys << " key " << j;
      total += p;
    }
    EXPECT_NEAR(total, 1.0f, 1e-5) << "K=" << keys;
    if (keys > 1) {
      EXPECT_EQ(std::exp(x[0] - (m + std::log(l))), 1.0f) << "one fp32 log-sum-exp loses log(K) at -1e9";
    }
  }
}

// Visible keys give softmax probabilities; a row masked with -inf everywhere gives 0.
TEST(Attention, CudaRowStatisticsGiveSoftmaxAndZeroForInfMaskedRow) {
  torch::manual_seed(4);
  const auto logits = torch::randn({50}) * 4;
  const float* x = logits.data_ptr<float>();
  const float m = logits.max().item<float>();
  float l = 0.0f;
  for (int64_t j = 0; j < 50; ++j) l += std::exp(x[j] - m);
  const auto want = torch::softmax(logits, 0);
  for (int64_t j = 0; j < 50; ++j)
    EXPECT_NEAR(cuda::recomputed_probability(x[j], cuda::finish_row_stats(m, l)), want[j].item<float>(), 1e-6);
  const cuda::RowStats masked = cuda::finish_row_stats(-std::numeric_limits<float>::infinity(), 0.0f);
  EXPECT_EQ(cuda::recomputed_probability(-std::numeric_limits<float>::infinity(), masked), 0.0f);
}

}  // namespace
}  // namespace fold::kernels
