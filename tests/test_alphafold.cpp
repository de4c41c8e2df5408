// The assembled model (Algorithm 2) and the modules only it uses: template pair stack
// (Algorithm 16), template pointwise attention (17), template features, heads and
// confidence. Properties: equal to a naive recomputation, equal across memory
// strategies (chunking, low-memory attention), stop-gradient between recycling
// iterations.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "fold/config.h"
#include "fold/model/alphafold.h"
#include "fold/model/confidence.h"
#include "fold/model/input_batch.h"
#include "fold/model/template_embedder.h"
#include "fold/model/template_embedder_multimer.h"
#include "tests/ref_modules.h"

namespace fold {
namespace {

double rel_err(const torch::Tensor& a, const torch::Tensor& b) {
  return (a - b).abs().max().item<double>() / std::max(b.abs().max().item<double>(), 1e-30);
}

// Every parameter drawn at random (AF2 zero-initialises final layers, which would make
// most comparisons trivial).
void randomize(torch::nn::Module& m, double scale = 0.2) {
  torch::NoGradGuard g;
  for (auto& p : m.parameters()) p.normal_(0.0, scale);
}

AlphaFoldOptions tiny_options() {
  return AlphaFoldOptions::from_config(Config::load("tiny", {"model.template.enabled=true", "model.heads.tm.enabled=true"}));
}

// A random batch for N residues, S clusters, E extra rows, T templates, R recycling slices.
data::FeatureDict random_batch(int64_t n, int64_t s, int64_t e, int64_t t, int64_t r) {
  torch::manual_seed(7);
  data::FeatureDict b;
  const auto aatype = torch::randint(0, 20, {n, 1}).expand({n, r}).contiguous();
  b["aatype"] = aatype;
  b["target_feat"] = torch::cat({torch::zeros({n, 1, r}), torch::one_hot(aatype, 21).to(torch::kFloat).permute({0, 2, 1})}, 1);
  b["residue_index"] = torch::arange(n).unsqueeze(-1).expand({n, r}).contiguous();
  b["msa_feat"] = torch::rand({s, n, 49, r});
  auto seq_mask = torch::ones({n, r});
  seq_mask[n - 1] = 0;  // one padded residue
  b["seq_mask"] = seq_mask;
  auto msa_mask = torch::ones({s, n, r});
  msa_mask[s - 1] = 0;
  b["msa_mask"] = msa_mask;
  b["extra_msa"] = torch::randint(0, 23, {e, n, r});
  b["extra_has_deletion"] = torch::randint(0, 2, {e, n, r}).to(torch::kFloat);
  b["extra_deletion_value"] = torch::rand({e, n, r});
  b["extra_msa_mask"] = torch::ones({e, n, r});
  b["template_aatype"] = torch::randint(0, 22, {t, n, r});
  b["template_all_atom_positions"] = torch::randn({t, n, 37, 3, r}) * 8;
  b["template_all_atom_mask"] = torch::randint(0, 2, {t, n, 37, r}).to(torch::kFloat);
  b["template_pseudo_beta"] = torch::randn({t, n, 3, r}) * 8;
  b["template_pseudo_beta_mask"] = torch::randint(0, 2, {t, n, r}).to(torch::kFloat);
  auto templ_mask = torch::ones({t, r});
  templ_mask[t - 1] = 0;
  b["template_mask"] = templ_mask;
  b["template_torsion_angles_sin_cos"] = torch::randn({t, n, 7, 2, r});
  b["template_alt_torsion_angles_sin_cos"] = torch::randn({t, n, 7, 2, r});
  b["template_torsion_angles_mask"] = torch::randint(0, 2, {t, n, 7, r}).to(torch::kFloat);
  return b;
}

void expect_same_outputs(const data::FeatureDict& a, const data::FeatureDict& b, double tol) {
  ASSERT_EQ(a.size(), b.size());
  for (const auto& [name, t] : a) {
    if (!t.is_floating_point()) continue;
    EXPECT_LE(rel_err(t, b.at(name)), tol) << name;
  }
}

TEST(AlphaFold, ChunkedEqualsUnchunked) {
  torch::manual_seed(0);
  AlphaFold model(tiny_options());
  randomize(*model);
  model->eval();
  torch::NoGradGuard g;
  const auto batch = random_batch(11, 5, 7, 2, 2);
  const auto full = model(batch);
  RunOptions chunked;
  chunked.memory.chunk_size = 3;
  expect_same_outputs(model(batch, chunked), full, 1e-5);
}

// Without autograd the trunk runs in place (memory_policy.h); the copying forward the
// training path uses ("copy") gives the same outputs, chunked or not, and so does a
// second run on the same batch (the in-place path never writes into the features).
// Each memory policy gives the copying forward's outputs ("copy"); returns those.
data::FeatureDict expect_policies_agree(AlphaFold& model, const data::FeatureDict& batch,
                                        const std::vector<const char*>& policies) {
  RunOptions copy;
  copy.memory = evoformer::MemoryPolicy::parse("copy");
  const auto reference = model(batch, copy);
  for (const char* policy : policies) {
    SCOPED_TRACE(policy);
    RunOptions run;
    run.memory = evoformer::MemoryPolicy::parse(policy);
    if (run.memory.attention.low_memory) model->set_kernel_options(run.memory.attention);
    expect_same_outputs(model(batch, run), reference, 1e-5);
    model->set_kernel_options({});
  }
  return reference;
}

TEST(AlphaFold, InPlaceInferenceEqualsCopyingForward) {
  torch::manual_seed(3);
  AlphaFold model(tiny_options());
  randomize(*model);
  model->eval();
  torch::NoGradGuard g;
  const auto batch = random_batch(11, 5, 7, 2, 2);
  const auto reference = expect_policies_agree(model, batch, {"none", "chunk3", "chunk1", "chunk4+lowmem"});
  expect_same_outputs(model(batch), reference, 1e-5);
}

TEST(AlphaFold, LowMemoryAttentionEqualsDefault) {
  torch::manual_seed(1);
  AlphaFold model(tiny_options());
  randomize(*model);
  model->eval();
  torch::NoGradGuard g;
  const auto batch = random_batch(11, 5, 7, 2, 2);
  const auto reference = model(batch);
  kernels::AttentionOptions low;
  low.low_memory = true;
  low.query_chunk = 4;
  low.key_chunk = 3;  // several key tiles: the online softmax is exercised
  model->set_kernel_options(low);
  RunOptions run;
  run.memory.chunk_size = 4;
  expect_same_outputs(model(batch, run), reference, 1e-5);
}

// The tiny model as AF-Multimer v3, with its template embedder (configs/tiny_multimer.toml).
AlphaFoldOptions tiny_multimer_options() { return AlphaFoldOptions::from_config(Config::load("tiny_multimer")); }

// random_batch as AF-Multimer's features: two chains (residue numbers restarting),
// target_feat without AF2's first channel, extra MSA deletions as counts, two templates.
data::FeatureDict random_multimer_batch(int64_t n, int64_t s, int64_t e, int64_t r) {
  data::FeatureDict b = random_batch(n, s, e, 2, r);
  // AF-Multimer's model reads the templates' residue types and atoms only.
  for (auto it = b.begin(); it != b.end();) {
    const std::string& name = it->first;
    const bool kept = name == "template_aatype" || name == "template_all_atom_positions" ||
                      name == "template_all_atom_mask" ||
                      (name.rfind("template_", 0) != 0 && name.rfind("extra_has", 0) != 0 &&
                       name != "extra_deletion_value");
    it = kept ? std::next(it) : b.erase(it);
  }
  b["target_feat"] = b.at("target_feat").narrow(1, 1, 21).contiguous();
  const int64_t first = n / 2;
  const auto chain = torch::cat({torch::ones({first}), torch::full({n - first}, 2)}).to(torch::kLong);
  const auto per_residue = [r](const torch::Tensor& x) { return x.unsqueeze(-1).expand({x.size(0), r}).contiguous(); };
  b["residue_index"] = per_residue(torch::cat({torch::arange(first), torch::arange(n - first)}));
  b["asym_id"] = per_residue(chain);
  b["entity_id"] = per_residue(chain);
  b["sym_id"] = per_residue(torch::ones({n}, torch::kLong));
  b["extra_deletion_matrix"] = torch::randint(0, 6, {e, n, r}).to(torch::kFloat);
  return b;
}

// A multimer model's memory paths agree as the monomer's do, its batch passes the input
// contract (and fails it without its chains), and it ranks by 0.8 ipTM + 0.2 pTM.
TEST(AlphaFold, MultimerPathsAgreeAndRankByInterfaceTm) {
  torch::manual_seed(4);
  AlphaFold model(tiny_multimer_options());
  randomize(*model);
  model->eval();
  torch::NoGradGuard g;
  const auto batch = random_multimer_batch(11, 5, 7, 2);
  EXPECT_NO_THROW(check_input_batch(batch, 21, true));
  data::FeatureDict without_chains = batch;
  without_chains.erase("asym_id");
  EXPECT_THROW(check_input_batch(without_chains, 21, true), std::invalid_argument);
  EXPECT_THROW(check_input_batch(batch), std::invalid_argument);  // a monomer's contract
  const auto reference = expect_policies_agree(model, batch, {"none", "chunk3", "chunk4+lowmem"});
  const double iptm = reference.at("iptm_score").item<double>(), ptm = reference.at("ptm_score").item<double>();
  EXPECT_NEAR(reference.at("weighted_ptm_score").item<double>(), 0.8 * iptm + 0.2 * ptm, 1e-6);
  EXPECT_GT(std::abs(iptm - ptm), 1e-5);
}

// AF-Multimer's early recycling stop: with a tolerance every change meets, the iteration
// after the first is the last (the first is measured from the origin, as OpenFold's zero
// positions), and the outputs are those of a two-iteration run; with one no change meets
// (0), every iteration runs.
TEST(AlphaFold, MultimerEarlyRecyclingStopEndsAfterTheIterationThatSettles) {
  torch::manual_seed(6);
  AlphaFoldOptions options = tiny_multimer_options();
  const auto batch = random_multimer_batch(11, 5, 7, 4);
  const auto run_with = [&](double tolerance, int64_t iterations) {
    options.recycle_early_stop_tolerance = tolerance;
    AlphaFold model(options);
    torch::manual_seed(8);
    randomize(*model);
    model->eval();
    torch::NoGradGuard g;
    RunOptions run;
    run.iterations = iterations;
    return model(batch, run);
  };
  const auto stopped = run_with(1e6, 0), two = run_with(-1.0, 2), all = run_with(0.0, 0);
  EXPECT_EQ(stopped.at("num_recycles").item<int64_t>(), 2);
  EXPECT_EQ(all.at("num_recycles").item<int64_t>(), 4);
  expect_same_outputs(stopped, two, 1e-6);
}

TEST(AlphaFold, OutputsHaveOpenFoldNamesAndShapes) {
  torch::manual_seed(2);
  AlphaFold model(tiny_options());
  model->eval();
  torch::NoGradGuard g;
  const auto out = model(random_batch(9, 4, 6, 2, 1));
  const auto& o = model->options;
  EXPECT_EQ(out.at("final_atom_positions").sizes(), (std::vector<int64_t>{9, 37, 3}));
  EXPECT_EQ(out.at("plddt").sizes(), (std::vector<int64_t>{9}));
  EXPECT_EQ(out.at("lddt_logits").sizes(), (std::vector<int64_t>{9, 50}));
  EXPECT_EQ(out.at("msa").sizes(), (std::vector<int64_t>{4, 9, o.evoformer.block().c_m()}));  // no template rows
  EXPECT_EQ(out.at("sm/frames").sizes(), (std::vector<int64_t>{o.structure_module.no_blocks(), 9, 7}));
  EXPECT_EQ(out.at("sm/sidechain_frames").sizes(), (std::vector<int64_t>{o.structure_module.no_blocks(), 9, 8, 4, 4}));
  EXPECT_EQ(out.at("predicted_aligned_error").sizes(), (std::vector<int64_t>{9, 9}));
  EXPECT_EQ(out.at("ptm_score").dim(), 0);
  // The distogram is symmetric in (i, j).
  EXPECT_LE(rel_err(out.at("distogram_logits"), out.at("distogram_logits").transpose(0, 1)), 1e-6);
}

TEST(AlphaFold, RecyclingStopsGradients) {
  torch::manual_seed(3);
  AlphaFold model(tiny_options());
  randomize(*model);
  auto batch = random_batch(8, 4, 5, 2, 3);
  const auto msa_feat = batch["msa_feat"].clone().requires_grad_(true);
  batch["msa_feat"] = msa_feat;
  model->eval();  // no dropout; gradients still flow
  const auto out = model(batch);
  out.at("final_atom_positions").sum().backward();
  const auto grad = msa_feat.grad();
  ASSERT_TRUE(grad.defined());
  // Only the last iteration's slice receives gradient; earlier ones feed it detached.
  EXPECT_GT(grad.select(-1, 2).abs().sum().item<double>(), 0.0);
  EXPECT_EQ(grad.select(-1, 0).abs().sum().item<double>(), 0.0);
  EXPECT_EQ(grad.select(-1, 1).abs().sum().item<double>(), 0.0);
}

TEST(AlphaFold, RejectsBatchWithoutRecyclingAxis) {
  AlphaFold model(tiny_options());
  auto batch = random_batch(6, 3, 4, 1, 2);
  batch["seq_mask"] = batch["seq_mask"].select(-1, 0);
  try {
    model(batch);
    FAIL() << "expected an error";
  } catch (const c10::Error& e) {
    EXPECT_NE(std::string(e.what()).find("seq_mask"), std::string::npos) << e.what();
  }
}

TEST(TemplateFeatures, DistogramEqualsNaiveBinning) {
  const auto x = torch::randn({6, 3}) * 10;
  const auto d = dgram_from_positions(x, 3.25, 50.75, 39, 1e5);
  const auto lower = torch::linspace(3.25, 50.75, 39);
  for (int64_t i = 0; i < 6; ++i)
    for (int64_t j = 0; j < 6; ++j) {
      const double d2 = (x[i] - x[j]).square().sum().item<double>();
      for (int64_t b = 0; b < 39; ++b) {
        const double lo = std::pow(lower[b].item<double>(), 2);
        const double hi = b + 1 < 39 ? std::pow(lower[b + 1].item<double>(), 2) : 1e5;
        EXPECT_EQ(d[i][j][b].item<float>(), (d2 > lo && d2 < hi) ? 1.0f : 0.0f);
      }
    }
}

TEST(TemplateFeatures, PairFeaturesHaveAf2Layout) {
  auto b = random_batch(5, 2, 2, 1, 1);
  data::FeatureDict one;
  for (const char* k : {"template_aatype", "template_all_atom_positions", "template_all_atom_mask",
                        "template_pseudo_beta", "template_pseudo_beta_mask"})
    one[k] = b[k].select(-1, 0).select(0, 0);
  one["template_all_atom_mask"].fill_(1);  // backbone present everywhere
  const auto f = build_template_pair_feat(one, TemplateEmbedderOptions());
  ASSERT_EQ(f.sizes(), (std::vector<int64_t>{5, 5, 88}));
  const auto aa = one["template_aatype"];
  for (int64_t i = 0; i < 5; ++i)
    for (int64_t j = 0; j < 5; ++j) {
      EXPECT_EQ(f[i][j].slice(0, 40, 62).argmax().item<int64_t>(), aa[j].item<int64_t>());  // along j
      EXPECT_EQ(f[i][j].slice(0, 62, 84).argmax().item<int64_t>(), aa[i].item<int64_t>());  // along i
      EXPECT_EQ(f[i][j][87].item<float>(), 1.0f);                                             // backbone mask
      EXPECT_EQ(f[i][j].slice(0, 84, 87).abs().sum().item<float>(), 0.0f);                    // no unit vector
    }
}

TEST(TemplatePointwiseAttention, EqualsNaiveSoftmaxOverTemplates) {
  torch::manual_seed(4);
  evoformer::TemplatePointwiseAttention att(
      evoformer::TemplatePointwiseAttentionOptions().c_t(6).c_z(5).c_hidden(3).no_heads(2));
  randomize(*att, 0.5);
  const int64_t n = 4, t = 3;
  const auto tt = torch::randn({t, n, n, 6}), z = torch::randn({n, n, 5});
  const auto mask = torch::tensor({1.0f, 0.0f, 1.0f});
  const auto out = att(tt, z, mask, 0);
  auto& m = *att->mha;
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < n; ++j) {
      const auto q = torch::mv(m.linear_q->weight, z[i][j]).view({2, 3}) / std::sqrt(3.0);
      const auto k = torch::matmul(tt.select(1, i).select(1, j), m.linear_k->weight.t()).view({t, 2, 3});
      const auto v = torch::matmul(tt.select(1, i).select(1, j), m.linear_v->weight.t()).view({t, 2, 3});
      auto logits = (q.unsqueeze(0) * k).sum(-1) + ((mask - 1) * 1e5).unsqueeze(-1);  // [t, h]
      const auto a = torch::softmax(logits, 0);
      const auto o = (a.unsqueeze(-1) * v).sum(0).reshape({6});
      const auto expected = torch::mv(m.linear_o->weight, o) + m.linear_o->bias;
      EXPECT_LE(rel_err(out[i][j], expected), 1e-5);
    }
  EXPECT_LE(rel_err(att(tt, z, mask, 1), out), 1e-6);  // chunked over rows
}

TEST(TemplatePairStack, ChunkedAndLowMemoryEqualDefault) {
  torch::manual_seed(5);
  evoformer::TemplatePairStack stack(
      evoformer::TemplatePairStackOptions().c_t(8).c_hidden_tri_att(4).c_hidden_tri_mul(6).no_blocks(2).no_heads(2));
  randomize(*stack);
  stack->eval();
  torch::NoGradGuard g;
  const auto t = torch::randn({2, 7, 7, 8});
  auto mask = torch::ones({7, 7});
  mask[6] = 0;
  const auto policy = [](const char* text) { return evoformer::MemoryPolicy::parse(text); };
  const auto full = stack(t, mask, policy("copy"));
  EXPECT_LE(rel_err(stack(t, mask, policy("chunk2+copy")), full), 1e-5);
  // In place (the default without autograd), chunked or not.
  EXPECT_LE(rel_err(stack(t, mask), full), 1e-5);
  EXPECT_LE(rel_err(stack(t, mask, policy("chunk2")), full), 1e-5);
  kernels::AttentionOptions low;
  low.low_memory = true;
  low.key_chunk = 3;
  stack->set_kernel_options(low);
  EXPECT_LE(rel_err(stack(t, mask), full), 1e-5);
  // Templates are independent: one template alone gives its slice.
  EXPECT_LE(rel_err(stack(t.slice(0, 1, 2), mask)[0], full[1]), 1e-5);
}

// OpenFold's TemplatePairStack as AF-Multimer v3 has it (tri_mul_first, fused
// projections), two blocks on two templates: the output and the gradient of t.
TEST(TemplatePairStack, MultimerMatchesOpenFold) {
  using namespace test::ref_modules;
  FOLD_LOAD_OPENFOLD_MULTIMER_REF(ref, "template_pair_stack_multimer");
  const auto& h = ref->hyper();
  const auto i = [&h](const char* key) { return h.at(key).get<int64_t>(); };
  evoformer::TemplatePairStack stack(evoformer::TemplatePairStackOptions()
                                         .c_t(i("c_t"))
                                         .c_hidden_tri_att(i("c_hidden_tri_att"))
                                         .c_hidden_tri_mul(i("c_hidden_tri_mul"))
                                         .no_blocks(i("no_blocks"))
                                         .no_heads(i("no_heads"))
                                         .pair_transition_n(i("pair_transition_n"))
                                         .inf(h.at("inf").get<double>())
                                         .tri_mul_first(true)
                                         .fuse_projection_weights(true));
  load_openfold_params(*stack, *ref);
  stack->eval();
  const Tensors in = ref->inputs();
  const torch::Tensor t = in.at("t").clone().requires_grad_(true);
  const torch::Tensor out = stack(t, in.at("pair_mask"));
  (out * ref->get("cot/t")).sum().backward();
  expect_matches_ref(*ref, {{"t", out.detach()}}, {{"t", t.grad()}});
}

// OpenFold's TemplateEmbedderMultimer (model_1_multimer_v3's template config) on two
// templates of three chains: the pair update, the single rows and their mask, and the
// gradient of z.
TEST(TemplateEmbedderMultimer, MatchesOpenFold) {
  using namespace test::ref_modules;
  FOLD_LOAD_OPENFOLD_MULTIMER_REF(ref, "template_embedder_multimer");
  const auto& h = ref->hyper();
  const auto i = [&h](const char* key) { return h.at(key).get<int64_t>(); };
  const auto f = [&h](const char* key) { return h.at(key).get<double>(); };
  TemplateEmbedderMultimer embedder(TemplateEmbedderMultimerOptions()
                                        .c_z(i("c_z"))
                                        .c_m(i("c_m"))
                                        .single_c_in(i("c_in"))
                                        .distogram_min_bin(f("min_bin"))
                                        .distogram_max_bin(f("max_bin"))
                                        .distogram_no_bins(i("no_bins"))
                                        .inf(f("inf"))
                                        .pair_stack(evoformer::TemplatePairStackOptions()
                                                        .c_t(i("c_t"))
                                                        .c_hidden_tri_att(i("c_hidden_tri_att"))
                                                        .c_hidden_tri_mul(i("c_hidden_tri_mul"))
                                                        .no_blocks(i("no_blocks"))
                                                        .no_heads(i("no_heads"))
                                                        .pair_transition_n(i("pair_transition_n"))
                                                        .tri_mul_first(true)
                                                        .fuse_projection_weights(true)));
  load_openfold_params(*embedder, *ref);
  embedder->eval();
  const Tensors in = ref->inputs();
  data::FeatureDict features;
  for (const char* name : {"template_aatype", "template_all_atom_positions", "template_all_atom_mask", "asym_id"})
    features[name] = in.at(name);
  const torch::Tensor z = in.at("z").clone().requires_grad_(true);
  const TemplateEmbedding e = embedder(features, z, in.at("pair_mask"));
  ((e.pair * ref->get("cot/pair")).sum() + (e.single * ref->get("cot/single")).sum()).backward();
  expect_matches_ref(*ref, {{"pair", e.pair.detach()}, {"single", e.single.detach()}, {"single_mask", e.single_mask}},
                     {{"z", z.grad()}});
}

TEST(Confidence, PlddtIsExpectedBinCentre) {
  const auto logits = torch::randn({3, 50});
  const auto p = torch::softmax(logits, -1);
  const auto centres = (torch::arange(50).to(torch::kFloat) + 0.5) / 50;
  EXPECT_LE(rel_err(compute_plddt(logits), (p * centres).sum(-1) * 100), 1e-6);
  // All mass in the top bin: 99.
  auto peaked = torch::full({1, 50}, -1e4);
  peaked[0][49] = 0;
  EXPECT_NEAR(compute_plddt(peaked).item<double>(), 99.0, 1e-3);
}

// Supplement eq. 40 term by term; with chains, AF-Multimer's ipTM: the mean over j runs
// over residues of other chains only, d0 still from every residue.
double naive_tm(const torch::Tensor& logits, const std::vector<int64_t>& asym_id = {}) {
  const int64_t n = logits.size(0), bins = logits.size(-1);
  const auto edges = torch::linspace(0, 31, bins - 1);
  const double step = (edges[1] - edges[0]).item<double>();
  const double d0 = 1.24 * std::cbrt(std::max<double>(n, 19) - 15.0) - 1.8;
  const auto p = torch::softmax(logits, -1);
  double best = -1;
  for (int64_t i = 0; i < n; ++i) {
    double sum = 0;
    int64_t count = 0;
    for (int64_t j = 0; j < n; ++j) {
      if (!asym_id.empty() && asym_id[i] == asym_id[j]) continue;
      ++count;
      for (int64_t b = 0; b < bins; ++b) {
        const double centre = (b < bins - 1 ? edges[b].item<double>() : edges[bins - 2].item<double>() + step) + step / 2;
        sum += p[i][j][b].item<double>() / (1 + centre * centre / (d0 * d0));
      }
    }
    best = std::max(best, count ? sum / count : 0.0);
  }
  return best;
}

TEST(Confidence, TmScoreEqualsNaiveFormula) {
  const int64_t n = 25, bins = 64;
  const auto logits = torch::randn({n, n, bins});
  EXPECT_NEAR(compute_tm(logits).item<double>(), naive_tm(logits), 1e-5);
  const auto edges = torch::linspace(0, 31, bins - 1);
  const double step = (edges[1] - edges[0]).item<double>();
  const auto pae = compute_predicted_aligned_error(logits);
  EXPECT_NEAR(pae.max_predicted_aligned_error.item<double>(), 31.0 + 1.5 * step, 1e-4);  // one step past the last edge
}

TEST(Confidence, InterfaceTmScoreEqualsNaiveFormula) {
  torch::manual_seed(5);
  const std::vector<int64_t> chains = {1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3, 3};
  const int64_t n = static_cast<int64_t>(chains.size());
  const auto logits = torch::randn({n, n, 64}) * 3;
  const auto asym_id = torch::tensor(chains);
  const double iptm = compute_tm(logits, {}, 31.0, 1e-8, asym_id).item<double>();
  EXPECT_NEAR(iptm, naive_tm(logits, chains), 1e-5);
  EXPECT_GT(std::abs(iptm - compute_tm(logits).item<double>()), 1e-4);  // not the pTM
  // One chain has no interface: every pair is masked out.
  EXPECT_EQ(compute_tm(logits, {}, 31.0, 1e-8, torch::ones({n}, torch::kLong)).item<double>(), 0.0);
  EXPECT_THROW(compute_tm(logits, {}, 31.0, 1e-8, torch::ones({n - 1}, torch::kLong)), c10::Error);
}

// OpenFold's compute_tm(interface=True) and pTM on three chains.
TEST(Confidence, InterfaceTmMatchesOpenFold) {
  using namespace test::ref_modules;
  FOLD_LOAD_OPENFOLD_MULTIMER_REF(ref, "interface_tm");
  const Tensors in = ref->inputs();
  expect_matches_ref(*ref, {{"iptm", compute_tm(in.at("tm_logits"), {}, 31.0, 1e-8, in.at("asym_id"))},
                            {"ptm", compute_tm(in.at("tm_logits"))}});
}

}  // namespace
}  // namespace fold
