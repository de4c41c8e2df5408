// The inference feature pipeline (data/feature_pipeline) on real alignments.
// Properties: seeded (same seed, same batch), AF2's layouts (msa_feat channels, target
// feature, the query as the first cluster centre), cluster profiles are distributions,
// template features of real hits (equal in every iteration, gaps as 21, pseudo-beta
// and torsions of the template atoms), rejects an MSA of another sequence. The
// multimer pipeline: homomer copies side by side, templates per chain in padded slots,
// soft cluster profiles equal to a row-by-row reference, heteromers need UniProt hits.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <set>

#include "data/fasta.h"
#include "data/msa.h"
#include "data/precomputed_alignments.h"
#include "data/residue_constants.h"
#include "fold/features/feature_pipeline.h"
#include "fold/features/multimer_feature_pipeline.h"
#include "structure_module/all_atom.h"
#include "test_paths.h"
#include "tests/hhr_text.h"

namespace fold::features {
namespace {

using namespace data;

struct Inputs {
  std::string fasta = test::shared_data("fasta/6kwc.fasta");
  std::string a3m = test::shared_data("alignments/6KWC_1/bfd_uniref_hits.a3m");
};

InferenceInputs msa_only(const std::string& sequence, const std::string& msa) {
  InferenceInputs in;
  in.sequence = sequence;
  in.msa_paths = {msa};
  return in;
}

PipelineOptions small_options() {
  PipelineOptions o;
  o.sampling.max_msa_clusters = 16;
  o.sampling.max_extra_msa = 40;
  o.sampling.max_templates = 4;
  o.num_recycles = 2;
  return o;
}

TEST(FeaturePipeline, SeededAndShapedAsAf2) {
  const Inputs in;
  FOLD_REQUIRE_FILE(in.fasta);
  FOLD_REQUIRE_FILE(in.a3m);
  const std::string seq = read_fasta(in.fasta).at(0).sequence;
  const auto o = small_options();
  const auto batch = build_inference_features(msa_only(seq, in.a3m), o);
  const auto n = static_cast<int64_t>(seq.size());
  const int64_t clusters = o.sampling.max_msa_clusters - o.sampling.max_templates;  // reduced for template rows
  EXPECT_EQ(batch.at("msa_feat").sizes(), (std::vector<int64_t>{clusters, n, 49, 3}));
  EXPECT_EQ(batch.at("target_feat").sizes(), (std::vector<int64_t>{n, 22, 3}));
  EXPECT_EQ(batch.at("extra_msa").sizes(), (std::vector<int64_t>{o.sampling.max_extra_msa, n, 3}));
  const auto again = build_inference_features(msa_only(seq, in.a3m), o);
  for (const auto& [name, t] : batch) EXPECT_TRUE(torch::equal(t, again.at(name))) << name;
  // Resampled per recycling iteration.
  EXPECT_FALSE(torch::equal(batch.at("extra_msa").select(-1, 0), batch.at("extra_msa").select(-1, 1)));
  auto other = o;
  other.seed = 1;
  EXPECT_FALSE(torch::equal(build_inference_features(msa_only(seq, in.a3m), other).at("msa_feat"),
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

TEST(FeaturePipeline, TemplateFeaturesOfRealHits) {
  const std::string a3m = test::shared_data("alignments/2q2k_A/bfd_uniclust_hits.a3m");
  const std::string mmcif = test::shared_data("mmcif");
  FOLD_REQUIRE_FILE(a3m);
  FOLD_REQUIRE_FILE(mmcif + "/2q2k.cif");
  const Msa msa = read_msa(a3m);
  std::string seq;
  for (char c : msa.sequences.at(0))
    if (c != '-') seq += c;
  const auto n = static_cast<int64_t>(seq.size());
  const auto hhr = test::temp_path("hits.hhr");
  std::ofstream(hhr) << test::hhr_text(seq, {{"2Q2K_B", 60, 20, seq.substr(20), seq.substr(20), 20},
                                             {"2Q2K_A", 80, 0, seq.substr(0, 40), seq.substr(10, 40), 10}});
  InferenceInputs in = msa_only(seq, a3m);
  in.template_hits = hhr.string();
  in.template_mmcif_dir = mmcif;
  PipelineReport report;
  const auto o = small_options();
  const auto batch = build_inference_features(in, o, &report);
  EXPECT_EQ(report.templates, (std::vector<std::string>{"2q2k_A", "2q2k_B"}));
  EXPECT_TRUE(report.skipped_templates.empty());
  const int64_t slices = o.num_recycles + 1;
  EXPECT_EQ(batch.at("template_aatype").sizes(), (std::vector<int64_t>{2, n, slices}));
  EXPECT_EQ(batch.at("template_all_atom_positions").sizes(), (std::vector<int64_t>{2, n, 37, 3, slices}));
  EXPECT_EQ(batch.at("template_torsion_angles_sin_cos").sizes(), (std::vector<int64_t>{2, n, 7, 2, slices}));
  EXPECT_EQ(batch.at("template_sum_probs").sizes(), (std::vector<int64_t>{2, 1, slices}));
  for (const auto& [name, t] : batch) {
    if (name.rfind("template_", 0) != 0) continue;
    EXPECT_TRUE(torch::equal(t.select(-1, 0), t.select(-1, slices - 1))) << name << " differs across iterations";
  }

  const auto aatype = batch.at("template_aatype").select(-1, 0);
  const auto pos = batch.at("template_all_atom_positions").select(-1, 0);
  const auto mask = batch.at("template_all_atom_mask").select(-1, 0);
  // Template 0 (best sum_probs) holds residues 10..49 of 2Q2K:A on query 0..39.
  for (int64_t q = 0; q < n; ++q) {
    const int64_t want = q < 40 ? rc::restype_order(seq[q + 10]) : 21;
    ASSERT_EQ(aatype[0][q].item<int64_t>(), want) << q;
  }
  EXPECT_EQ(mask[0].slice(0, 40).sum().item<double>(), 0.0);
  EXPECT_GT(mask[0].slice(0, 0, 40).sum().item<double>(), 100.0);
  EXPECT_TRUE(torch::equal(batch.at("template_mask").select(-1, 0), torch::ones({2})));
  EXPECT_TRUE(torch::equal(batch.at("template_pseudo_beta").select(-1, 0), structure::pseudo_beta(aatype, pos)));
  const auto torsions = structure::atom37_to_torsion_angles(aatype, pos, mask);
  EXPECT_TRUE(torch::equal(batch.at("template_torsion_angles_sin_cos").select(-1, 0), torsions.sin_cos));
  EXPECT_TRUE(torch::equal(batch.at("template_torsion_angles_mask").select(-1, 0), torsions.mask));

  // Templates off in the config: no template features at all.
  auto off = o;
  off.sampling.use_templates = false;
  EXPECT_EQ(build_inference_features(in, off).count("template_aatype"), 0u);
  std::filesystem::remove(hhr);
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

// A database's depth limit keeps its first rows: with 5 rows the batch has 5 clusters,
// not as many as the whole MSA gives.
TEST(FeaturePipeline, DepthLimitKeepsTheFirstRows) {
  const Inputs in;
  FOLD_REQUIRE_FILE(in.fasta);
  FOLD_REQUIRE_FILE(in.a3m);
  const std::string seq = read_fasta(in.fasta).at(0).sequence;
  InferenceInputs limited = msa_only(seq, in.a3m);
  limited.msa_max_rows = {5};
  const auto o = small_options();
  EXPECT_EQ(build_inference_features(limited, o).at("msa_feat").size(0), 5);
  EXPECT_GT(build_inference_features(msa_only(seq, in.a3m), o).at("msa_feat").size(0), 5);
}

// OpenFold's alignment folders as ../shared/data holds them: the MSAs in AF2's order with
// AF2's depth limits, the hhr as template hits; uniprot_hits.sto (multimer pairing) apart.
TEST(PrecomputedAlignments, ReadsOpenFoldLayoutInAf2Order) {
  const std::string two = test::shared_data("alignments/2q2k_A"), six = test::shared_data("alignments/6KWC_1");
  FOLD_REQUIRE_FILE(two + "/uniref90_hits.sto");
  FOLD_REQUIRE_FILE(six + "/hhsearch_output.hhr");
  const PrecomputedAlignments a = read_precomputed_alignments(two);
  ASSERT_EQ(a.msa_paths.size(), 3u);
  EXPECT_EQ(std::filesystem::path(a.msa_paths[0]).filename(), "uniref90_hits.sto");
  EXPECT_EQ(std::filesystem::path(a.msa_paths[1]).filename(), "bfd_uniclust_hits.a3m");
  EXPECT_EQ(std::filesystem::path(a.msa_paths[2]).filename(), "mgnify_hits.sto");
  EXPECT_EQ(a.max_rows, (std::vector<size_t>{10000, 0, 501}));
  EXPECT_TRUE(a.template_hits.empty());
  EXPECT_EQ(std::filesystem::path(a.pairing_msa).filename(), "uniprot_hits.sto");
  const PrecomputedAlignments b = read_precomputed_alignments(six);
  EXPECT_TRUE(b.pairing_msa.empty());
  ASSERT_EQ(b.msa_paths.size(), 2u);
  EXPECT_EQ(std::filesystem::path(b.msa_paths[0]).filename(), "bfd_uniref_hits.a3m");
  EXPECT_EQ(std::filesystem::path(b.template_hits).filename(), "hhsearch_output.hhr");
  const auto empty = test::temp_path("no_alignments");
  std::filesystem::create_directories(empty);
  try {
    read_precomputed_alignments(empty.string());
    FAIL() << "a folder without MSAs was accepted";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("holds no MSA"), std::string::npos) << e.what();
  }
  std::filesystem::remove(empty);
}

TEST(FeaturePipeline, RejectsMsaOfAnotherSequence) {
  const Inputs in;
  FOLD_REQUIRE_FILE(in.a3m);
  const Msa msa = read_msa(in.a3m);
  try {
    make_sequence_and_msa_features("ACDEFGHIK", msa);
    FAIL() << "expected an error";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("not the target sequence"), std::string::npos) << e.what();
  }
}

// AF-Multimer's pipeline on two copies of 2Q2K's chain with its real alignments: the
// copies share entity 1 (sym_id 1, 2), their MSA rows sit side by side (no pairing),
// the query row is the first cluster centre in every iteration, four empty template
// slots per chain, cluster profiles are distributions, and a seed gives one batch.
TEST(MultimerFeaturePipeline, HomomerCopiesShareOneMsaSideBySide) {
  const std::string dir = test::shared_data("alignments/2q2k_A");
  FOLD_REQUIRE_FILE(dir + "/uniref90_hits.sto");
  const PrecomputedAlignments found = read_precomputed_alignments(dir);
  const std::string seq = read_msa(found.msa_paths[0]).sequences.at(0);
  ComplexInputs in;
  for (const char* name : {"A", "B"})
    in.chains.push_back({name, seq, found.msa_paths, found.max_rows, found.pairing_msa, ""});
  in.chains[1].msa_paths.clear();  // a repeated sequence takes the first chain's alignments
  PipelineOptions o = small_options();
  PipelineReport report;
  const FeatureDict merged = merge_complex_features(in, o.sampling, &report);
  const auto n = static_cast<int64_t>(seq.size());
  EXPECT_EQ(report.chains, (std::vector<std::string>{"A", "B"}));
  EXPECT_TRUE(merged.at("asym_id").equal(torch::cat({torch::full({n}, 1), torch::full({n}, 2)}).to(torch::kLong)));
  EXPECT_TRUE(merged.at("entity_id").eq(1).all().item<bool>());
  EXPECT_TRUE(merged.at("sym_id").equal(torch::cat({torch::full({n}, 1), torch::full({n}, 2)}).to(torch::kLong)));
  EXPECT_TRUE(merged.at("residue_index").equal(torch::cat({torch::arange(n), torch::arange(n)})));
  const FeatureDict single =
      make_sequence_and_msa_features(seq, read_query_msas(seq, found.msa_paths, found.max_rows));
  const int64_t depth = single.at("msa").size(0);
  EXPECT_TRUE(merged.at("msa").slice(0, 0, depth).equal(torch::cat({single.at("msa"), single.at("msa")}, 1)));
  EXPECT_EQ(merged.at("msa").size(0), std::max<int64_t>(depth, 512));  // AF2 pads to 512 masked rows
  EXPECT_EQ(merged.at("msa_mask").sum().item<double>(), static_cast<double>(depth * 2 * n));
  EXPECT_EQ(merged.at("cluster_bias_mask").sum().item<double>(), 1.0);
  EXPECT_EQ(merged.at("template_aatype").sizes(), (torch::IntArrayRef{4, 2 * n}));
  EXPECT_EQ(merged.at("template_all_atom_mask").sum().item<double>(), 0.0);

  const FeatureDict f = build_complex_features(in, o);
  EXPECT_EQ(f.at("msa_feat").sizes(), (torch::IntArrayRef{16, 2 * n, 49, 3}));
  EXPECT_EQ(f.at("target_feat").sizes(), (torch::IntArrayRef{2 * n, 21, 3}));
  EXPECT_EQ(f.at("extra_msa").size(0), 40);
  EXPECT_TRUE(f.at("true_msa").select(0, 0).equal(f.at("aatype").select(-1, 0).unsqueeze(-1).expand({2 * n, 3})));
  const auto profile = f.at("msa_feat").slice(2, 25, 48);  // cluster profile, 23 classes
  EXPECT_TRUE(torch::allclose(profile.sum(2), f.at("msa_mask"), 1e-5, 1e-5));
  EXPECT_TRUE(build_complex_features(in, o).at("msa_feat").equal(f.at("msa_feat")));
  o.seed = 1;
  EXPECT_FALSE(build_complex_features(in, o).at("msa_feat").equal(f.at("msa_feat")));
}

// A complex's templates: each entity's hits (as the monomer pipeline finds them) in its
// chains' columns, padded to max_templates slots per chain with masked slots, the same
// in every iteration.
TEST(MultimerFeaturePipeline, TemplatesFillEachChainsColumnsAndPadTheSlots) {
  const std::string a3m = test::shared_data("alignments/2q2k_A/bfd_uniclust_hits.a3m");
  const std::string mmcif = test::shared_data("mmcif");
  FOLD_REQUIRE_FILE(a3m);
  FOLD_REQUIRE_FILE(mmcif + "/2q2k.cif");
  const std::string seq = read_msa(a3m).sequences.at(0);
  const auto n = static_cast<int64_t>(seq.size());
  const auto hhr = test::temp_path("complex_hits.hhr");
  std::ofstream(hhr) << test::hhr_text(seq, {{"2Q2K_A", 80, 0, seq.substr(0, 40), seq.substr(10, 40), 10}});
  ComplexInputs in;
  in.template_mmcif_dir = mmcif;
  for (const char* name : {"A", "B"}) in.chains.push_back({name, seq, {a3m}, {}, "", hhr.string()});
  PipelineOptions o = small_options();
  PipelineReport report;
  const FeatureDict f = build_complex_features(in, o, &report);
  EXPECT_EQ(report.templates, (std::vector<std::string>{"2q2k_A"}));  // found once, for the entity
  const int64_t slices = o.num_recycles + 1;
  ASSERT_EQ(f.at("template_aatype").sizes(), (torch::IntArrayRef{4, 2 * n, slices}));
  const auto aatype = f.at("template_aatype").select(-1, 0), mask = f.at("template_all_atom_mask").select(-1, 0);
  for (int64_t chain = 0; chain < 2; ++chain)
    for (int64_t q = 0; q < n; ++q)
      ASSERT_EQ(aatype[0][chain * n + q].item<int64_t>(), q < 40 ? rc::restype_order(seq[q + 10]) : 21)
          << "chain " << chain << " residue " << q;
  EXPECT_TRUE(torch::equal(mask[0].slice(0, 0, n), mask[0].slice(0, n)));
  EXPECT_GT(mask[0].sum().item<double>(), 200.0);
  EXPECT_EQ(mask.slice(0, 1).sum().item<double>(), 0.0) << "slots 1-3 are padding";
  EXPECT_TRUE(torch::equal(f.at("template_all_atom_positions").select(-1, 0),
                           f.at("template_all_atom_positions").select(-1, slices - 1)));
  std::filesystem::remove(hhr);
}

// The multimer sampler on a hand-made MSA, without masking: the rows of
// cluster_bias_mask lead the centres, all-masked rows come last, and every centre's
// profile and deletion mean equal AF2's soft assignment computed row by row: each extra
// row shares itself among the centres by softmax(1000 x agreement) (residues and X
// agree, gaps do not), weighted by the positions both have unmasked, plus the centre.
TEST(MultimerFeaturePipeline, SoftClusterProfilesEqualTheRowByRowReference) {
  const int64_t n = 5;
  FeatureDict merged;
  merged["msa"] = torch::tensor(std::vector<int64_t>{0, 1, 2, 3, 4,   0, 1, 2, 3, 21,  0, 1, 21, 21, 21,
                                                     5, 6, 7, 8, 9,   5, 6, 7, 8, 20,  9, 9, 9, 9, 9,
                                                     0, 0, 0, 0, 0})
                      .reshape({7, n});
  merged["deletion_matrix"] = torch::arange(35, torch::kFloat).reshape({7, n}).remainder(4);
  merged["msa_mask"] = torch::ones({7, n});
  merged["msa_mask"][6] = 0;  // padding
  merged["msa_mask"][4][3] = 0;
  merged["bert_mask"] = torch::ones({7, n});
  merged["cluster_bias_mask"] = torch::tensor({1., 0., 0., 1., 0., 0., 0.});
  merged["aatype"] = torch::tensor(std::vector<int64_t>{0, 1, 2, 3, 4});
  for (const char* name : {"residue_index", "asym_id", "entity_id", "sym_id"}) merged[name] = torch::ones({n}, torch::kLong);
  merged["seq_mask"] = torch::ones({n});
  SamplingOptions o;
  o.max_msa_clusters = 3;
  o.max_extra_msa = 10;
  o.masked_msa_replace_fraction = 0;
  for (uint64_t seed : {0, 1, 2}) {
    const FeatureDict f = sample_complex_msa_features(merged, o, seed);
    const auto centres = f.at("true_msa"), extra = f.at("extra_msa");
    ASSERT_EQ(centres.size(0), 3);
    ASSERT_EQ(extra.size(0), 4);
    std::set<int64_t> first_two;
    for (int64_t c = 0; c < 2; ++c)
      for (int64_t r = 0; r < 7; ++r)
        if (torch::equal(centres[c], merged["msa"][r])) first_two.insert(r);
    EXPECT_EQ(first_two, (std::set<int64_t>{0, 3})) << "seed " << seed;
    EXPECT_EQ(f.at("extra_msa_mask")[3].sum().item<double>(), 0.0) << "the padding row is drawn last";
    // As AF2, masked positions of the centres read as residue 0.
    const auto seen = centres * f.at("msa_mask").to(torch::kLong);
    EXPECT_TRUE(torch::equal(f.at("msa_feat").slice(2, 0, 23), torch::one_hot(seen, 23).to(torch::kFloat)));
    const auto cm = f.at("msa_mask").to(torch::kDouble), em = f.at("extra_msa_mask").to(torch::kDouble);
    const auto cd = f.at("deletion_matrix").to(torch::kDouble), ed = f.at("extra_deletion_matrix").to(torch::kDouble);
    for (int64_t c = 0; c < 3; ++c) {
      std::vector<double> weight(4);
      for (int64_t e = 0; e < 4; ++e) {
        double own = 0, norm = 0, both = 0;
        const auto agree = [&](int64_t cc) {
          double a = 0;
          for (int64_t r = 0; r < n; ++r)
            a += cm[cc][r].item<double>() * em[e][r].item<double>() *
                 (centres[cc][r].item<int64_t>() == extra[e][r].item<int64_t>() && extra[e][r].item<int64_t>() < 21);
          return a;
        };
        double top = -1;
        for (int64_t cc = 0; cc < 3; ++cc) top = std::max(top, agree(cc));
        for (int64_t cc = 0; cc < 3; ++cc) norm += std::exp(1000 * (agree(cc) - top));
        own = std::exp(1000 * (agree(c) - top)) / norm;
        for (int64_t r = 0; r < n; ++r) both += cm[c][r].item<double>() * em[e][r].item<double>();
        weight[e] = own * both;
      }
      double count = 1;
      for (double w : weight) count += w;
      for (int64_t r = 0; r < n; ++r) {
        std::vector<double> profile(23, 0.0);
        double deletions = cd[c][r].item<double>();
        profile[centres[c][r].item<int64_t>()] += cm[c][r].item<double>();
        for (int64_t e = 0; e < 4; ++e) {
          profile[extra[e][r].item<int64_t>()] += weight[e] * em[e][r].item<double>();
          deletions += weight[e] * em[e][r].item<double>() * ed[e][r].item<double>();
        }
        for (int64_t k = 0; k < 23; ++k)
          ASSERT_NEAR(f.at("msa_feat")[c][r][25 + k].item<double>(), profile[k] / count, 1e-5)
              << "seed " << seed << " centre " << c << " residue " << r << " class " << k;
        ASSERT_NEAR(f.at("msa_feat")[c][r][48].item<double>(), std::atan(deletions / count / 3) * 2 / M_PI, 1e-5);
      }
    }
  }
}

// Different chains are paired by species, which needs each chain's UniProt hits.
TEST(MultimerFeaturePipeline, HeteromerWithoutUniprotHitsIsRefused) {
  const std::string two = test::shared_data("alignments/2q2k_A"), six = test::shared_data("alignments/6KWC_1");
  const Inputs kwc;
  FOLD_REQUIRE_FILE(two + "/uniref90_hits.sto");
  FOLD_REQUIRE_FILE(kwc.fasta);
  const PrecomputedAlignments a = read_precomputed_alignments(two), b = read_precomputed_alignments(six);
  ComplexInputs in;
  in.chains.push_back({"2q2k", read_msa(a.msa_paths[0]).sequences.at(0), a.msa_paths, a.max_rows, a.pairing_msa, ""});
  in.chains.push_back({"6kwc", read_fasta(kwc.fasta).at(0).sequence, b.msa_paths, b.max_rows, b.pairing_msa, ""});
  try {
    merge_complex_features(in, small_options().sampling);
    FAIL() << "a heteromer without uniprot_hits.sto was accepted";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("chain 6kwc: no uniprot_hits.sto"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace fold::features
