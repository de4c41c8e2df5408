// Input embedder (Algorithms 3, 4) and recycling embedder (Algorithm 32): hand-checked
// cases and a naive per-element recomputation of the algorithm with the module's weights.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "fold/model/heads.h"
#include "fold/model/input_embedder.h"
#include "fold/model/recycling_embedder.h"
#include "tests/ref_modules.h"

namespace fold {
namespace {

double rel_err(const torch::Tensor& a, const torch::Tensor& b) {
  return (a - b).abs().max().item<double>() / std::max(b.abs().max().item<double>(), 1e-30);
}

TEST(InputEmbedder, RelposIsOneHotOfClippedOffset) {
  InputEmbedder e(InputEmbedderOptions(8, 4));  // k = 32, 65 bins
  const auto oh = e->relpos_one_hot(torch::tensor({0, 1, 2, 50}));
  ASSERT_EQ(oh.sizes(), (std::vector<int64_t>{4, 4, 65}));
  EXPECT_TRUE(oh.sum(-1).eq(1).all().item<bool>());
  EXPECT_EQ(oh[0][3].argmax().item<int64_t>(), 0);   // 0 - 50 = -50, clipped to -32
  EXPECT_EQ(oh[3][0].argmax().item<int64_t>(), 64);  // +50 clipped to +32
  EXPECT_EQ(oh[1][0].argmax().item<int64_t>(), 33);  // +1
  EXPECT_EQ(oh[2][2].argmax().item<int64_t>(), 32);  // 0
}

TEST(InputEmbedder, EqualsNaiveAlgorithm3) {
  torch::manual_seed(0);
  InputEmbedder e(InputEmbedderOptions(6, 5).relpos_k(3));
  for (auto& p : e->parameters()) p.data().normal_();  // non-zero biases too
  const int64_t n = 5, s = 3;
  const auto tf = torch::randn({n, 22}), msa = torch::randn({s, n, 49});
  const auto ri = torch::tensor({0, 1, 2, 7, 8});
  const auto [m, z] = e(tf, ri, msa);
  auto lin = [](const torch::nn::Linear& l, const torch::Tensor& x) { return torch::mv(l->weight, x) + l->bias; };
  for (int64_t i = 0; i < n; ++i) {
    for (int64_t j = 0; j < n; ++j) {
      const int64_t d = std::clamp<int64_t>(ri[i].item<int64_t>() - ri[j].item<int64_t>(), -3, 3) + 3;
      auto oh = torch::zeros({7});
      oh[d] = 1;
      const auto want = lin(e->linear_tf_z_i, tf[i]) + lin(e->linear_tf_z_j, tf[j]) + lin(e->linear_relpos, oh);
      EXPECT_LE(rel_err(z[i][j], want), 1e-5) << i << "," << j;
    }
    for (int64_t k = 0; k < s; ++k) {
      const auto want = lin(e->linear_msa_m, msa[k][i]) + lin(e->linear_tf_m, tf[i]);
      EXPECT_LE(rel_err(m[k][i], want), 1e-5) << k << "," << i;
    }
  }
}

TEST(InputEmbedder, RejectsWrongChannels) {
  InputEmbedder e(InputEmbedderOptions(6, 5));
  EXPECT_THROW(e(torch::randn({4, 21}), torch::arange(4), torch::randn({2, 4, 49})), c10::Error);
  EXPECT_THROW(e(torch::randn({4, 22}), torch::arange(4), torch::randn({2, 4, 48})), c10::Error);
  EXPECT_THROW(e(torch::randn({4, 22}), torch::arange(5), torch::randn({2, 4, 49})), c10::Error);
}

// Two chains of entity 1 (copies 1 and 2) and one of entity 2, residue_index restarting
// per chain as AF-Multimer's features have it.
ResiduePositions three_chains() {
  return {torch::tensor({0, 1, 2, 0, 1, 2, 40, 0, 1}), torch::tensor({1, 1, 1, 2, 2, 2, 2, 3, 3}),
          torch::tensor({1, 1, 1, 1, 1, 1, 1, 2, 2}), torch::tensor({1, 1, 1, 2, 2, 2, 2, 1, 1})};
}

// AF-Multimer's relpos (OpenFold's InputEmbedderMultimer.relpos) element by element:
// 2k + 2 position bins, the last for another chain; one "same entity" channel; 2c + 2
// copy bins, the last for another entity.
TEST(InputEmbedder, MultimerRelposEqualsItsDefinition) {
  const int64_t k = 3, c = 1;
  InputEmbedder e(InputEmbedderOptions(6, 5).relpos_k(k).use_chain_relative(true).max_relative_chain(c));
  EXPECT_EQ(e->linear_relpos->weight.size(1), (2 * k + 2) + 1 + (2 * c + 2));
  const ResiduePositions p = three_chains();
  const auto oh = e->relpos_one_hot(p);
  const int64_t n = p.residue_index.size(0);
  ASSERT_EQ(oh.sizes(), (std::vector<int64_t>{n, n, 2 * k + 2 + 1 + 2 * c + 2}));
  const auto at = [](const torch::Tensor& t, int64_t i) { return t[i].item<int64_t>(); };
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < n; ++j) {
      auto want = torch::zeros({2 * k + 2 + 1 + 2 * c + 2}, torch::kLong);
      const bool same_chain = at(p.asym_id, i) == at(p.asym_id, j);
      const bool same_entity = at(p.entity_id, i) == at(p.entity_id, j);
      want[same_chain ? std::clamp<int64_t>(at(p.residue_index, i) - at(p.residue_index, j), -k, k) + k : 2 * k + 1] = 1;
      want[2 * k + 2] = same_entity ? 1 : 0;
      want[2 * k + 3 + (same_entity ? std::clamp<int64_t>(at(p.sym_id, i) - at(p.sym_id, j), -c, c) + c : 2 * c + 1)] = 1;
      EXPECT_TRUE(torch::equal(oh[i][j].to(torch::kLong), want)) << i << "," << j << ": " << oh[i][j];
    }
}

// The pair built a few rows at a time (the chunked low-memory path) is the whole one.
TEST(InputEmbedder, MultimerPairChunkedEqualsWhole) {
  torch::manual_seed(3);
  InputEmbedder e(InputEmbedderOptions(6, 5).tf_dim(21).use_chain_relative(true));
  for (auto& p : e->parameters()) p.data().normal_();
  const ResiduePositions p = three_chains();
  const auto tf = torch::randn({9, 21});
  const auto whole = e->pair(tf, p), chunked = e->pair(tf, p, 2);
  EXPECT_LE(rel_err(chunked, whole), 1e-6);
  // Chains matter: the same residues read as one chain give another pair.
  EXPECT_GT(rel_err(e->pair(tf, ResiduePositions(p.residue_index, torch::ones({9}), torch::ones({9}), torch::ones({9}))),
                    whole),
            1e-3);
}

TEST(InputEmbedder, MultimerRejectsMissingOrMisshapenChainIds) {
  InputEmbedder e(InputEmbedderOptions(6, 5).tf_dim(21).use_chain_relative(true));
  EXPECT_THROW(e->pair(torch::randn({4, 21}), torch::arange(4)), c10::Error);
  EXPECT_THROW(ResiduePositions(torch::arange(4), torch::ones({3}), torch::ones({4}), torch::ones({4})), c10::Error);
}

// OpenFold's InputEmbedderMultimer on three chains (two copies of one sequence and
// another): both embeddings and the gradients of target_feat and msa_feat.
TEST(InputEmbedder, MultimerMatchesOpenFold) {
  using namespace test::ref_modules;
  FOLD_LOAD_OPENFOLD_MULTIMER_REF(ref, "input_embedder_multimer");
  const auto i = [&](const char* key) { return ref->hyper().at(key).get<int64_t>(); };
  InputEmbedder e(InputEmbedderOptions(i("c_m"), i("c_z"))
                      .tf_dim(i("tf_dim"))
                      .msa_dim(i("msa_dim"))
                      .relpos_k(i("max_relative_idx"))
                      .use_chain_relative(true)
                      .max_relative_chain(i("max_relative_chain")));
  load_openfold_params(*e, *ref);
  const Tensors in = ref->inputs();
  const auto tf = in.at("target_feat").clone().requires_grad_(true), msa = in.at("msa_feat").clone().requires_grad_(true);
  const auto [m, z] = e(tf, ResiduePositions(in.at("residue_index"), in.at("asym_id"), in.at("entity_id"), in.at("sym_id")),
                        msa);
  ((m * ref->get("cot/msa")).sum() + (z * ref->get("cot/pair")).sum()).backward();
  expect_matches_ref(*ref, {{"msa", m.detach()}, {"pair", z.detach()}}, {{"target_feat", tf.grad()}, {"msa_feat", msa.grad()}});
}

// Bin edges 3.25, 4.5, ..., 20.75 (step 1.25); bin b covers (edge_b, edge_{b+1}).
TEST(RecyclingEmbedder, DistogramBinsHandChecked) {
  RecyclingEmbedder e(RecyclingEmbedderOptions(4, 3));
  const auto x = torch::tensor({{0.0f, 0.0f, 0.0f}, {5.0f, 0.0f, 0.0f}, {0.0f, 2.0f, 0.0f}, {0.0f, 0.0f, 30.0f}});
  const auto d = e->distogram_one_hot(x);
  ASSERT_EQ(d.sizes(), (std::vector<int64_t>{4, 4, 15}));
  EXPECT_EQ(d[0][1].argmax().item<int64_t>(), 1);   // 5 A in (4.5, 5.75)
  EXPECT_EQ(d[0][3].argmax().item<int64_t>(), 14);  // 30 A beyond the last edge: last bin
  EXPECT_EQ(d[0][2].sum().item<float>(), 0.0f);     // 2 A below the first edge: no bin
  EXPECT_EQ(d[1][1].sum().item<float>(), 0.0f);     // self
  EXPECT_TRUE(torch::equal(d, d.transpose(0, 1)));
}

// fp16 positions (fp16 training) bin as fp32 ones do, also beyond 256 A where their squared
// distance overflows fp16, and the open last edge (1e8) is no fp16 value at all.
TEST(RecyclingEmbedder, Fp16PositionsBinAsFp32) {
  RecyclingEmbedder e(RecyclingEmbedderOptions(4, 3));
  torch::manual_seed(2);
  const auto x = (torch::rand({9, 3}) * 400).to(torch::kHalf);
  const auto d = e->distogram_one_hot(x);
  EXPECT_EQ(d.scalar_type(), torch::kHalf);
  EXPECT_TRUE(torch::equal(d.to(torch::kFloat), e->distogram_one_hot(x.to(torch::kFloat))));
}

TEST(RecyclingEmbedder, EqualsNaiveAlgorithm32) {
  torch::manual_seed(1);
  RecyclingEmbedder e(RecyclingEmbedderOptions(6, 5));
  for (auto& p : e->parameters()) p.data().normal_();
  const auto m = torch::randn({7, 6}), z = torch::randn({7, 7, 5}), x = torch::randn({7, 3}) * 8;
  const auto [dm, dz] = e(m, z, x);
  EXPECT_LE(rel_err(dm, torch::layer_norm(m, {6}, e->layer_norm_m->weight, e->layer_norm_m->bias, 1e-5)), 1e-5);
  const auto want = torch::layer_norm(z, {5}, e->layer_norm_z->weight, e->layer_norm_z->bias, 1e-5) +
                    torch::nn::functional::linear(e->distogram_one_hot(x), e->linear->weight, e->linear->bias);
  EXPECT_LE(rel_err(dz, want), 1e-5);
  EXPECT_THROW(e(m, z, torch::randn({6, 3})), c10::Error);
}

// Without autograd the distogram is symmetrised in place, block by block (70 rows: a
// partial block), and a bf16 pair is converted row block by row block: the same logits
// as d + d^T on the fp32 pair, stored in bf16 (within its rounding); a bf16 MSA gives
// the fp32 masked-MSA logits of its fp32 values.
TEST(AuxiliaryHeads, InPlaceDistogramEqualsSymmetricSum) {
  torch::manual_seed(4);
  AuxiliaryHeads heads(AuxiliaryHeadsOptions().c_s(8).c_z(6).c_m(5).lddt_c_hidden(4).lddt_no_bins(5)
                           .distogram_no_bins(7).masked_msa_c_out(3).experimentally_resolved_c_out(4));
  {
    torch::NoGradGuard no_grad;
    for (auto& p : heads->parameters()) p.normal_();
  }
  const int64_t n = 70;
  const auto s = torch::randn({n, 8}), pair = torch::randn({n, n, 6}), msa = torch::randn({2, n, 5});
  const auto linear = [&](const torch::Tensor& z) {
    const auto d = torch::nn::functional::linear(z, heads->distogram->linear->weight, heads->distogram->linear->bias);
    return d + d.transpose(0, 1);
  };
  torch::NoGradGuard no_grad;
  EXPECT_LE(rel_err(heads(s, s, pair, msa).distogram_logits, linear(pair)), 1e-6);
  const auto bf16 = pair.to(torch::kBFloat16);
  const AuxiliaryLogits low = heads(s, s, bf16, msa.to(torch::kBFloat16));
  EXPECT_EQ(low.distogram_logits.scalar_type(), torch::kBFloat16);
  EXPECT_LE(rel_err(low.distogram_logits.to(torch::kFloat), linear(bf16.to(torch::kFloat))), 8e-3);
  EXPECT_EQ(low.masked_msa_logits.scalar_type(), torch::kFloat);
  const auto masked = torch::nn::functional::linear(msa.to(torch::kBFloat16).to(torch::kFloat),
                                                    heads->masked_msa->linear->weight, heads->masked_msa->linear->bias);
  EXPECT_LE(rel_err(low.masked_msa_logits, masked), 1e-6);
}

}  // namespace
}  // namespace fold
