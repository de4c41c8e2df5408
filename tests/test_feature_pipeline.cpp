// The inference feature pipeline (data/feature_pipeline) on real alignments.
// Properties: seeded (same seed, same batch), AF2's layouts (msa_feat channels, target
// feature, the query as the first cluster centre), cluster profiles are distributions,
// rejects an MSA of another sequence.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "data/fasta.h"
#include "data/feature_pipeline.h"
#include "data/msa.h"
#include "test_paths.h"

namespace fold::data {
namespace {

struct Inputs {
  std::string fasta = test::shared_data("fasta/6kwc.fasta");
  std::string a3m = test::shared_data("alignments/6KWC_1/bfd_uniref_hits.a3m");
};

PipelineOptions small_options() {
  PipelineOptions o;
  o.max_msa_clusters = 16;
  o.max_extra_msa = 40;
  o.max_templates = 4;
  o.num_recycles = 2;
  return o;
}

TEST(FeaturePipeline, SeededAndShapedAsAf2) {
  const Inputs in;
  FOLD_REQUIRE_FILE(in.fasta);
  FOLD_REQUIRE_FILE(in.a3m);
  const std::string seq = read_fasta(in.fasta).at(0).sequence;
  const auto o = small_options();
  const auto batch = build_inference_features({seq, {in.a3m}, "", ""}, o);
  const auto n = static_cast<int64_t>(seq.size());
  const int64_t clusters = o.max_msa_clusters - o.max_templates;  // reduced for template rows
  EXPECT_EQ(batch.at("msa_feat").sizes(), (std::vector<int64_t>{clusters, n, 49, 3}));
  EXPECT_EQ(batch.at("target_feat").sizes(), (std::vector<int64_t>{n, 22, 3}));
  EXPECT_EQ(batch.at("extra_msa").sizes(), (std::vector<int64_t>{o.max_extra_msa, n, 3}));
  const auto again = build_inference_features({seq, {in.a3m}, "", ""}, o);
  for (const auto& [name, t] : batch) EXPECT_TRUE(torch::equal(t, again.at(name))) << name;
  // Resampled per recycling iteration.
  EXPECT_FALSE(torch::equal(batch.at("extra_msa").select(-1, 0), batch.at("extra_msa").select(-1, 1)));
  auto other = o;
  other.seed = 1;
  EXPECT_FALSE(torch::equal(build_inference_features({seq, {in.a3m}, "", ""}, other).at("msa_feat"),
                            batch.at("msa_feat")));

  const auto f = batch.at("msa_feat").select(-1, 0);
  const auto aatype = batch.at("aatype").select(-1, 0);
  // target_feat: break flag, then the residue one-hot.
  EXPECT_TRUE(torch::equal(batch.at("target_feat").select(-1, 0).slice(1, 1).argmax(-1), aatype));
  // The query is the first centre: its true (unmasked) row is the sequence.
  EXPECT_TRUE(torch::equal(batch.at("true_msa").select(-1, 0)[0], aatype));
  // Channels 25..47: the cluster profile, a distribution over 23 classes.
  EXPECT_LT((f.slice(-1, 25, 48).sum(-1) - 1).abs().max().item<double>(), 1e-4);
  // One-hot residue channels, deletion features in [0, 1].
  EXPECT_TRUE(f.slice(-1, 0, 23).sum(-1).eq(1).all().item<bool>());
  EXPECT_GE(f.slice(-1, 23, 25).min().item<double>(), 0.0);
  EXPECT_LE(f.slice(-1, 23, 25).max().item<double>(), 1.0);
  // About 15% of the centres' residues are masked-MSA replaced.
  const double masked = batch.at("bert_mask").mean().item<double>();
  EXPECT_GT(masked, 0.10);
  EXPECT_LT(masked, 0.20);
}

TEST(FeaturePipeline, MergesMsasWithoutDuplicates) {
  const Inputs in;
  FOLD_REQUIRE_FILE(in.fasta);
  FOLD_REQUIRE_FILE(in.a3m);
  const std::string seq = read_fasta(in.fasta).at(0).sequence;
  const Msa msa = read_msa(in.a3m);
  // The same file twice: the merge keeps one copy of every row.
  const auto base = make_sequence_and_msa_features(seq, merge_msas({msa, msa}));
  EXPECT_EQ(base.at("msa").size(0), make_sequence_and_msa_features(seq, merge_msas({msa})).at("msa").size(0));
}

TEST(FeaturePipeline, RejectsMsaOfAnotherSequence) {
  const Inputs in;
  FOLD_REQUIRE_FILE(in.a3m);
  const Msa msa = read_msa(in.a3m);
  try {
    make_sequence_and_msa_features("ACDEFGHIK", msa);
    FAIL() << "expected an error";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("not the FASTA sequence"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace fold::data
