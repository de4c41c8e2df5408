// Evoformer modules against AlphaFold2 as computed by OpenFold (../shared/ref-modules):
// weights come in under AF2's names through fold/af2_params, outputs are
// compared where defined (valid/update), and the gradients of L = sum(out * cot) with
// respect to every input but the mask. Then the memory knobs: low-memory attention,
// the fused vs the reference attention path, chunking and a leading batch dim each give
// the same numbers.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include <filesystem>
#include <functional>
#include <iostream>
#include <map>
#include <memory>
#include <string>

#include "data/af2_module_params.h"
#include "evoformer/msa_attention.h"
#include "evoformer/outer_product_mean.h"
#include "evoformer/transition.h"
#include "evoformer/triangle_attention.h"
#include "evoformer/triangle_multiplication.h"
#include "tests/ref_modules.h"

namespace fold::evoformer {
namespace {

using namespace fold::test::ref_modules;

// A module under test: its holder and its forward on named inputs.
struct Built {
  std::shared_ptr<torch::nn::Module> module;
  std::function<torch::Tensor(const Tensors&, int64_t chunk_size)> forward;
};
using Builder = std::function<Built(const Ref&, const kernels::AttentionOptions&)>;

void load_af2(torch::nn::Module& module, const Ref& ref, af2::ModuleKind kind) {
  af2::load_module_params(module, ref.arrays, ref.meta.at("af2_scope").get<std::string>(), af2::param_table(kind));
}

int64_t hyper(const Ref& r, const char* key) { return r.hyper().at(key).get<int64_t>(); }

Built build_msa_row(const Ref& r, const kernels::AttentionOptions& k) {
  MsaRowAttentionWithPairBias m(MsaRowAttentionWithPairBiasOptions(hyper(r, "c_m"), hyper(r, "c_z"),
                                                                   hyper(r, "c_hidden"), hyper(r, "no_heads"))
                                    .inf(r.hyper().at("inf").get<double>())
                                    .kernel(k));
  load_af2(*m, r, af2::ModuleKind::kMsaRowAttentionWithPairBias);
  return {m.ptr(), [m](const Tensors& in, int64_t chunk) mutable {
            return m(in.at("m"), in.at("z"), in.at("mask"), chunk);
          }};
}

Built build_msa_column(const Ref& r, const kernels::AttentionOptions& k) {
  MsaColumnAttention m(MsaColumnAttentionOptions(hyper(r, "c_m"), hyper(r, "c_hidden"), hyper(r, "no_heads"))
                           .inf(r.hyper().at("inf").get<double>())
                           .kernel(k));
  load_af2(*m, r, af2::ModuleKind::kMsaColumnAttention);
  return {m.ptr(), [m](const Tensors& in, int64_t chunk) mutable { return m(in.at("m"), in.at("mask"), chunk); }};
}

Built build_msa_global(const Ref& r, const kernels::AttentionOptions&) {
  MsaColumnGlobalAttention m(
      MsaColumnGlobalAttentionOptions(hyper(r, "c_m"), hyper(r, "c_hidden"), hyper(r, "no_heads"))
          .inf(r.hyper().at("inf").get<double>())
          .eps(r.hyper().at("eps").get<double>()));
  load_af2(*m, r, af2::ModuleKind::kMsaColumnGlobalAttention);
  return {m.ptr(), [m](const Tensors& in, int64_t chunk) mutable { return m(in.at("m"), in.at("mask"), chunk); }};
}

Builder build_triangle(bool starting) {
  return [starting](const Ref& r, const kernels::AttentionOptions& k) {
    TriangleAttention m(TriangleAttentionOptions(hyper(r, "c_z"), hyper(r, "c_hidden"), hyper(r, "no_heads"))
                            .starting(starting)
                            .inf(r.hyper().at("inf").get<double>())
                            .kernel(k));
    load_af2(*m, r, af2::ModuleKind::kTriangleAttention);
    return Built{m.ptr(), [m](const Tensors& in, int64_t chunk) mutable { return m(in.at("z"), in.at("mask"), chunk); }};
  };
}

template <typename Holder>
Builder build_transition(const char* channels, const char* input) {
  return [channels, input](const Ref& r, const kernels::AttentionOptions&) {
    Holder m(TransitionOptions(hyper(r, channels), hyper(r, "n")));
    load_af2(*m, r, af2::ModuleKind::kTransition);
    const std::string x = input;
    return Built{m.ptr(), [m, x](const Tensors& in, int64_t chunk) mutable {
                   return m(in.at(x), std::nullopt, chunk);
                 }};
  };
}

Builder build_triangle_multiplication(bool outgoing) {
  return [outgoing](const Ref& r, const kernels::AttentionOptions&) {
    TriangleMultiplication m(TriangleMultiplicationOptions(hyper(r, "c_z"), hyper(r, "c_hidden"), outgoing));
    load_af2(*m, r,
             outgoing ? af2::ModuleKind::kTriangleMultiplicationOutgoing : af2::ModuleKind::kTriangleMultiplicationIncoming);
    return Built{m.ptr(), [m](const Tensors& in, int64_t chunk) mutable { return m(in.at("z"), in.at("mask"), chunk); }};
  };
}

Built build_outer_product_mean(const Ref& r, const kernels::AttentionOptions&) {
  OuterProductMean m(OuterProductMeanOptions(hyper(r, "c_m"), hyper(r, "c_z"), hyper(r, "c_hidden"))
                         .eps(r.hyper().at("eps").get<double>()));
  load_af2(*m, r, af2::ModuleKind::kOuterProductMean);
  return {m.ptr(), [m](const Tensors& in, int64_t chunk) mutable { return m(in.at("m"), in.at("mask"), chunk); }};
}

struct Result {
  torch::Tensor out;
  Tensors grads;
};

// Forward on `inputs` (grad on `grad_inputs`), then backward of sum(out * cot).
Result run(Built& built, const Tensors& inputs, const std::vector<std::string>& grad_inputs,
           const torch::Tensor& cot, int64_t chunk_size = 0) {
  Tensors in;
  for (const auto& [key, value] : inputs) in[key] = value.detach().clone();
  for (const auto& key : grad_inputs) in.at(key).requires_grad_(true);
  Result r;
  const torch::Tensor out = built.forward(in, chunk_size);
  (out * cot).sum().backward();
  r.out = out.detach();
  for (const auto& key : grad_inputs) r.grads[key] = in.at(key).grad();
  return r;
}

// Output and gradients against OpenFold's float32 values (the float64 ones reported).
void expect_matches_openfold(const Ref& ref, const Builder& build) {
  Built built = build(ref, {});
  const auto grad_inputs = ref.grad_inputs();
  for (const auto& key : grad_inputs) ASSERT_NE(key, "mask") << "the mask gets no gradient";
  const Result r = run(built, ref.inputs(), grad_inputs, ref.get("cot/update"));
  const torch::Tensor& valid = ref.get("valid/update");
  const double e = rel_err(r.out, ref.get("out/update"), valid);
  const double e64 = rel_err(r.out, ref.get("out64/update"), valid);
  std::cout << "[ errors   ] " << ref.name << ": out/update " << e << " (vs float64 " << e64 << ")";
  EXPECT_LE(e, ref.tolerance("out/update")) << ref.name << " out/update";
  for (const auto& key : grad_inputs) {
    ASSERT_TRUE(r.grads.at(key).defined()) << ref.name << ": no gradient for " << key;
    const double g = rel_err(r.grads.at(key), ref.get("grad/" + key));
    const double g64 = rel_err(r.grads.at(key), ref.get("grad64/" + key));
    std::cout << ", grad/" << key << " " << g << " (vs float64 " << g64 << ")";
    EXPECT_LE(g, ref.tolerance("grad/" + key)) << ref.name << " grad/" << key;
  }
  std::cout << "\n";
}

void expect_same(const Ref& ref, const Result& a, const Result& b, const std::string& what) {
  const double e = rel_err(b.out, a.out, ref.get("valid/update"));
  EXPECT_LE(e, kTol) << ref.name << " " << what << ": out";
  std::cout << "[ errors   ] " << ref.name << " " << what << ": out " << e;
  for (const auto& [key, g] : a.grads) {
    const double ge = rel_err(b.grads.at(key), g);
    EXPECT_LE(ge, kTol) << ref.name << " " << what << ": grad/" << key;
    std::cout << ", grad/" << key << " " << ge;
  }
  std::cout << "\n";
}

// Two kernel settings give the same outputs and gradients.
void expect_kernel_invariant(const Ref& ref, const Builder& build, const kernels::AttentionOptions& a,
                             const kernels::AttentionOptions& b, const std::string& what) {
  Built ma = build(ref, a), mb = build(ref, b);
  const auto inputs = ref.inputs();
  const auto grads = ref.grad_inputs();
  const torch::Tensor& cot = ref.get("cot/update");
  expect_same(ref, run(ma, inputs, grads, cot), run(mb, inputs, grads, cot), what);
}

void expect_chunk_invariant(const Ref& ref, const Builder& build, int64_t chunk_size) {
  Built m = build(ref, {});
  const auto inputs = ref.inputs();
  const auto grads = ref.grad_inputs();
  const torch::Tensor& cot = ref.get("cot/update");
  expect_same(ref, run(m, inputs, grads, cot), run(m, inputs, grads, cot, chunk_size),
              "chunk_size " + std::to_string(chunk_size));
}

// A leading batch dim of 2 (the reference inputs, and the same scaled by 0.5 with the
// mask unchanged) gives each element's unbatched result.
void expect_batch_invariant(const Ref& ref, const Builder& build) {
  Built m = build(ref, {});
  const Tensors in0 = ref.inputs();
  Tensors in1, batched;
  for (const auto& [key, value] : in0) {
    in1[key] = key == "mask" ? value : value * 0.5;
    batched[key] = torch::stack({value, in1[key]});
  }
  const auto grads = ref.grad_inputs();
  const torch::Tensor& cot = ref.get("cot/update");
  const Result r0 = run(m, in0, grads, cot), r1 = run(m, in1, grads, cot);
  const Result rb = run(m, batched, grads, torch::stack({cot, cot}));
  Result b0, b1;
  b0.out = rb.out[0];
  b1.out = rb.out[1];
  for (const auto& [key, g] : rb.grads) {
    b0.grads[key] = g[0];
    b1.grads[key] = g[1];
  }
  expect_same(ref, r0, b0, "batch element 0");
  expect_same(ref, r1, b1, "batch element 1");
}

kernels::AttentionOptions kernel_options(kernels::AttentionPath path, bool low_memory) {
  kernels::AttentionOptions o;
  o.path = path;
  o.low_memory = low_memory;
  if (low_memory) {
    // Several query and key tiles even at N = 11, so the online softmax really streams.
    o.query_chunk = 4;
    o.key_chunk = 4;
  }
  return o;
}

// The kernel-dependent checks shared by the four attention modules.
void expect_low_memory_invariant(const Ref& ref, const Builder& build) {
  expect_kernel_invariant(ref, build, kernel_options(kernels::AttentionPath::kAuto, false),
                          kernel_options(kernels::AttentionPath::kAuto, true), "low_memory on vs off");
}

void expect_fused_matches_reference(const Ref& ref, const Builder& build) {
  expect_kernel_invariant(ref, build, kernel_options(kernels::AttentionPath::kReference, false),
                          kernel_options(kernels::AttentionPath::kFused, false), "fused vs reference");
  expect_kernel_invariant(ref, build, kernel_options(kernels::AttentionPath::kReference, false),
                          kernel_options(kernels::AttentionPath::kFused, true), "fused low_memory vs reference");
}

constexpr const char* kMsaRow = "msa_row_attention_with_pair_bias";
constexpr const char* kMsaColumn = "msa_column_attention";
constexpr const char* kMsaGlobal = "msa_column_global_attention";
constexpr const char* kTriStart = "triangle_attention_starting_node";
constexpr const char* kTriEnd = "triangle_attention_ending_node";
constexpr const char* kMsaTransition = "msa_transition";
constexpr const char* kPairTransition = "pair_transition";
constexpr const char* kTriMulOut = "triangle_multiplication_outgoing";
constexpr const char* kTriMulIn = "triangle_multiplication_incoming";
constexpr const char* kOpm = "outer_product_mean";

// ---------------------------------------------------------------------------------------

TEST(MsaRowAttentionWithPairBias, MatchesOpenFold) {
  FOLD_LOAD_REF(ref, kMsaRow);
  expect_matches_openfold(*ref, build_msa_row);
}
TEST(MsaRowAttentionWithPairBias, LowMemoryMatchesDefault) {
  FOLD_LOAD_REF(ref, kMsaRow);
  expect_low_memory_invariant(*ref, build_msa_row);
}
TEST(MsaRowAttentionWithPairBias, FusedMatchesReference) {
  FOLD_LOAD_REF(ref, kMsaRow);
  expect_fused_matches_reference(*ref, build_msa_row);
}
TEST(MsaRowAttentionWithPairBias, ChunkedAndBatchedMatch) {
  FOLD_LOAD_REF(ref, kMsaRow);
  expect_chunk_invariant(*ref, build_msa_row, 2);
  expect_batch_invariant(*ref, build_msa_row);
}
TEST(MsaRowAttentionWithPairBias, OpenFoldNamesAndInit) {
  MsaRowAttentionWithPairBias m(MsaRowAttentionWithPairBiasOptions(8, 4, 2, 2));
  const auto names = m->named_parameters().keys();
  EXPECT_EQ(names, (std::vector<std::string>{"layer_norm_m.weight", "layer_norm_m.bias", "layer_norm_z.weight",
                                             "layer_norm_z.bias", "linear_z.weight", "mha.linear_q.weight",
                                             "mha.linear_k.weight", "mha.linear_v.weight", "mha.linear_o.weight",
                                             "mha.linear_o.bias", "mha.linear_g.weight", "mha.linear_g.bias"}));
  // OpenFold's init: gating weight 0 and bias 1, output projection 0 (update starts at 0).
  EXPECT_EQ(m->mha->linear_g->bias.min().item<float>(), 1.0f);
  EXPECT_EQ(m->mha->linear_o->weight.abs().max().item<float>(), 0.0f);
  const auto out = m(torch::randn({3, 5, 8}), torch::randn({5, 5, 4}));
  EXPECT_EQ(out.sizes(), (std::vector<int64_t>{3, 5, 8}));
  EXPECT_EQ(out.abs().max().item<float>(), 0.0f);
}

TEST(MsaColumnAttention, MatchesOpenFold) {
  FOLD_LOAD_REF(ref, kMsaColumn);
  expect_matches_openfold(*ref, build_msa_column);
}
TEST(MsaColumnAttention, LowMemoryMatchesDefault) {
  FOLD_LOAD_REF(ref, kMsaColumn);
  expect_low_memory_invariant(*ref, build_msa_column);
}
TEST(MsaColumnAttention, FusedMatchesReference) {
  FOLD_LOAD_REF(ref, kMsaColumn);
  expect_fused_matches_reference(*ref, build_msa_column);
}
TEST(MsaColumnAttention, ChunkedAndBatchedMatch) {
  FOLD_LOAD_REF(ref, kMsaColumn);
  expect_chunk_invariant(*ref, build_msa_column, 3);
  expect_batch_invariant(*ref, build_msa_column);
}

TEST(MsaColumnGlobalAttention, MatchesOpenFold) {
  FOLD_LOAD_REF(ref, kMsaGlobal);
  expect_matches_openfold(*ref, build_msa_global);
}
// Global attention computes in ATen (no kernel path, no low-memory variant): only the
// chunk and batch knobs apply.
TEST(MsaColumnGlobalAttention, ChunkedAndBatchedMatch) {
  FOLD_LOAD_REF(ref, kMsaGlobal);
  expect_chunk_invariant(*ref, build_msa_global, 3);
  expect_batch_invariant(*ref, build_msa_global);
}

TEST(TriangleAttention, StartingNodeMatchesOpenFold) {
  FOLD_LOAD_REF(ref, kTriStart);
  expect_matches_openfold(*ref, build_triangle(true));
}
// The reference data is in AF2 orientation (not transposed): the module transposes.
TEST(TriangleAttention, EndingNodeMatchesOpenFold) {
  FOLD_LOAD_REF(ref, kTriEnd);
  expect_matches_openfold(*ref, build_triangle(false));
}
TEST(TriangleAttention, LowMemoryMatchesDefault) {
  FOLD_LOAD_REF(start, kTriStart);
  FOLD_LOAD_REF(end, kTriEnd);
  expect_low_memory_invariant(*start, build_triangle(true));
  expect_low_memory_invariant(*end, build_triangle(false));
}
TEST(TriangleAttention, FusedMatchesReference) {
  FOLD_LOAD_REF(start, kTriStart);
  FOLD_LOAD_REF(end, kTriEnd);
  expect_fused_matches_reference(*start, build_triangle(true));
  expect_fused_matches_reference(*end, build_triangle(false));
}
TEST(TriangleAttention, ChunkedAndBatchedMatch) {
  FOLD_LOAD_REF(start, kTriStart);
  FOLD_LOAD_REF(end, kTriEnd);
  expect_chunk_invariant(*start, build_triangle(true), 4);
  expect_chunk_invariant(*end, build_triangle(false), 4);
  expect_batch_invariant(*start, build_triangle(true));
  expect_batch_invariant(*end, build_triangle(false));
}
// Ending node = starting node on the transposed pair, transposed back.
TEST(TriangleAttention, EndingIsTransposedStarting) {
  torch::manual_seed(3);
  TriangleAttention start(TriangleAttentionOptions(8, 4, 2));
  TriangleAttention end(TriangleAttentionOptions(8, 4, 2).starting(false));
  {
    torch::NoGradGuard no_grad;
    for (auto& p : start->parameters()) p.normal_();
    const auto src = start->named_parameters();
    for (auto& item : end->named_parameters()) item.value().copy_(src[item.key()]);
  }
  const auto z = torch::randn({2, 6, 6, 8});
  const auto mask = (torch::rand({2, 6, 6}) > 0.2).to(torch::kFloat);
  const auto expected = start(z.transpose(-2, -3), mask.transpose(-1, -2)).transpose(-2, -3);
  EXPECT_LE(rel_err(end(z, mask), expected), 1e-6);
}

TEST(Transition, MsaMatchesOpenFold) {
  FOLD_LOAD_REF(ref, kMsaTransition);
  expect_matches_openfold(*ref, build_transition<MsaTransition>("c_m", "m"));
}
TEST(Transition, PairMatchesOpenFold) {
  FOLD_LOAD_REF(ref, kPairTransition);
  expect_matches_openfold(*ref, build_transition<PairTransition>("c_z", "z"));
}
// Transitions have no attention: only the chunk and batch knobs apply.
TEST(Transition, ChunkedAndBatchedMatch) {
  FOLD_LOAD_REF(msa, kMsaTransition);
  FOLD_LOAD_REF(pair, kPairTransition);
  expect_chunk_invariant(*msa, build_transition<MsaTransition>("c_m", "m"), 7);
  expect_chunk_invariant(*pair, build_transition<PairTransition>("c_z", "z"), 7);
  expect_batch_invariant(*msa, build_transition<MsaTransition>("c_m", "m"));
  expect_batch_invariant(*pair, build_transition<PairTransition>("c_z", "z"));
}
TEST(Transition, MaskZeroesUpdate) {
  torch::manual_seed(5);
  PairTransition t(TransitionOptions(8, 2));
  {
    torch::NoGradGuard no_grad;
    for (auto& p : t->parameters()) p.normal_();
  }
  const auto z = torch::randn({4, 4, 8});
  auto mask = torch::ones({4, 4});
  mask[1][2] = 0;
  const auto masked = t(z, mask), plain = t(z);
  EXPECT_EQ(masked[1][2].abs().max().item<float>(), 0.0f);
  EXPECT_TRUE(torch::equal(masked[0], plain[0]));
}

// ---------------------------------------------------------------------------------------
// The AF2 -> module parameter tables and their loader.

// Synthetic AF2 arrays of the right shapes for a table and module (the inverse transforms).
Tensors synthetic_af2(torch::nn::Module& module, const std::string& scope, af2::ModuleKind kind) {
  Tensors arrays;
  const auto params = module.named_parameters();
  for (const auto& e : af2::param_table(kind)) {
    const torch::Tensor& p = params[e.name];
    torch::Tensor a = torch::randn(p.sizes());
    if (e.transform != af2::Transform::kFlat) a = a.t().contiguous();
    arrays["param/" + scope + "/" + e.af2_suffix] = a;
  }
  return arrays;
}

TEST(TriangleMultiplication, OutgoingMatchesOpenFold) {
  FOLD_LOAD_REF(ref, kTriMulOut);
  expect_matches_openfold(*ref, build_triangle_multiplication(true));
}
TEST(TriangleMultiplication, IncomingMatchesOpenFold) {
  FOLD_LOAD_REF(ref, kTriMulIn);
  expect_matches_openfold(*ref, build_triangle_multiplication(false));
}
TEST(TriangleMultiplication, ChunkedAndBatchedMatch) {
  for (const char* name : {kTriMulOut, kTriMulIn}) {
    FOLD_LOAD_REF(ref, name);
    const Builder b = build_triangle_multiplication(std::string(name) == kTriMulOut);
    expect_chunk_invariant(*ref, b, 3);
    expect_batch_invariant(*ref, b);
  }
}
TEST(OuterProductMean, MatchesOpenFold) {
  FOLD_LOAD_REF(ref, kOpm);
  expect_matches_openfold(*ref, build_outer_product_mean);
}
TEST(OuterProductMean, ChunkedAndBatchedMatch) {
  FOLD_LOAD_REF(ref, kOpm);
  expect_chunk_invariant(*ref, build_outer_product_mean, 4);
  expect_batch_invariant(*ref, build_outer_product_mean);
}
// A masked sequence contributes nothing: appending rows with mask 0 changes no value.
TEST(OuterProductMean, MaskedSequencesAreIgnored) {
  torch::manual_seed(4);
  OuterProductMean opm(OuterProductMeanOptions(8, 6, 4));
  for (auto& p : opm->parameters()) p.data().normal_();
  const auto m = torch::randn({5, 9, 8}), mask = torch::ones({5, 9});
  const auto padded_m = torch::cat({m, torch::randn({3, 9, 8})}), padded_mask = torch::cat({mask, torch::zeros({3, 9})});
  EXPECT_LE(rel_err(opm(padded_m, padded_mask), opm(m, mask)), 1e-6);
}

TEST(Af2ModuleParams, TablesCoverEveryParameter) {
  const std::vector<std::pair<af2::ModuleKind, std::shared_ptr<torch::nn::Module>>> modules = {
      {af2::ModuleKind::kMsaRowAttentionWithPairBias,
       MsaRowAttentionWithPairBias(MsaRowAttentionWithPairBiasOptions(8, 4, 2, 3)).ptr()},
      {af2::ModuleKind::kMsaColumnAttention, MsaColumnAttention(MsaColumnAttentionOptions(8, 2, 3)).ptr()},
      {af2::ModuleKind::kMsaColumnGlobalAttention,
       MsaColumnGlobalAttention(MsaColumnGlobalAttentionOptions(8, 2, 3)).ptr()},
      {af2::ModuleKind::kTriangleAttention, TriangleAttention(TriangleAttentionOptions(8, 2, 3)).ptr()},
      {af2::ModuleKind::kTransition, MsaTransition(TransitionOptions(8, 2)).ptr()},
      {af2::ModuleKind::kTransition, PairTransition(TransitionOptions(8, 4)).ptr()},
      {af2::ModuleKind::kTriangleMultiplicationOutgoing,
       TriangleMultiplication(TriangleMultiplicationOptions(8, 4, true)).ptr()},
      {af2::ModuleKind::kTriangleMultiplicationIncoming,
       TriangleMultiplication(TriangleMultiplicationOptions(8, 4, false)).ptr()},
      {af2::ModuleKind::kOuterProductMean, OuterProductMean(OuterProductMeanOptions(8, 6, 3)).ptr()},
  };
  for (const auto& [kind, module] : modules) {
    const Tensors arrays = synthetic_af2(*module, "scope", kind);
    EXPECT_NO_THROW(af2::load_module_params(*module, arrays, "scope", af2::param_table(kind)));
    EXPECT_EQ(arrays.size(), module->parameters().size());
  }
}

TEST(Af2ModuleParams, LinearLayouts) {
  // query_w [c=2, H=2, C=3] -> weight [H*C, c]: weight[h*C + j][i] = query_w[i][h][j].
  const auto q = torch::arange(12, torch::kFloat).view({2, 2, 3});
  const auto wq = af2::to_torch_layout(q, af2::Transform::kLinearInFirst);
  ASSERT_EQ(wq.sizes(), (std::vector<int64_t>{6, 2}));
  EXPECT_EQ(wq[1 * 3 + 2][1].item<float>(), q[1][1][2].item<float>());
  // output_w [H=2, C=3, c=4] -> weight [c, H*C]: weight[o][h*C + j] = output_w[h][j][o].
  const auto o = torch::arange(24, torch::kFloat).view({2, 3, 4});
  const auto wo = af2::to_torch_layout(o, af2::Transform::kLinearOutLast);
  ASSERT_EQ(wo.sizes(), (std::vector<int64_t>{4, 6}));
  EXPECT_EQ(wo[3][1 * 3 + 1].item<float>(), o[1][1][3].item<float>());
}

TEST(Af2ModuleParams, LoaderListsMissingUnusedAndMisshapedKeys) {
  MsaTransition m(TransitionOptions(8, 2));
  const auto before = m->linear_1->weight.clone();
  Tensors arrays = synthetic_af2(*m, "s/msa_transition", af2::ModuleKind::kTransition);
  arrays.erase("param/s/msa_transition/transition2//bias");
  arrays["param/s/msa_transition/transition3//bias"] = torch::zeros({8});
  arrays["param/s/msa_transition/transition1//weights"] = torch::zeros({16, 8});  // transposed
  arrays["param/s/other/transition1//bias"] = torch::zeros({3});                  // another scope
  try {
    af2::load_module_params(*m, arrays, "s/msa_transition", af2::param_table(af2::ModuleKind::kTransition));
    FAIL() << "expected an error";
  } catch (const std::runtime_error& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("missing AF2 keys (1):\n    param/s/msa_transition/transition2//bias"), std::string::npos)
        << msg;
    EXPECT_NE(msg.find("unused AF2 keys (1):\n    param/s/msa_transition/transition3//bias"), std::string::npos)
        << msg;
    EXPECT_NE(msg.find("mis-shaped (1):\n    param/s/msa_transition/transition1//weights [16, 8]"),
              std::string::npos)
        << msg;
    EXPECT_NE(msg.find("module parameters not set (1):\n    linear_2.bias"), std::string::npos) << msg;
    EXPECT_EQ(msg.find("param/s/other"), std::string::npos) << msg;
  }
  // Nothing was copied.
  EXPECT_TRUE(torch::equal(m->linear_1->weight, before));
}

}  // namespace
}  // namespace fold::evoformer
