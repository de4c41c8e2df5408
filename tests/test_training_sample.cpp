// AF2's training transforms (data/training_sample) on a real chain and small hand cases.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <ATen/CPUGeneratorImpl.h>

#include <cmath>
#include <map>
#include <set>

#include "data/chain_sampler.h"
#include "data/hhr.h"
#include "data/residue_constants.h"
#include "fold/features/complex_training_sample.h"
#include "fold/features/feature_pipeline.h"
#include "fold/features/training_sample.h"
#include "structure_module/all_atom.h"
#include "structure_module/rigid.h"
#include "tests/hhr_text.h"
#include "tests/train_data_fixtures.h"

namespace fold::features {
namespace {

using namespace data;

using fold::test::real_record;

at::Generator generator(uint64_t seed) { return at::make_generator<at::CPUGeneratorImpl>(seed); }

TrainingOptions small_crop(double spatial) {
  TrainingOptions o;
  o.crop_size = 32;
  o.spatial_crop_prob = spatial;
  o.sampling.max_msa_clusters = 8;
  o.sampling.max_extra_msa = 16;
  return o;
}

// Whatever the crop, feature row i of every per-residue feature is chain residue
// residue_index[i]: positions, masks, sequence and MSA columns stay aligned.
TEST(TrainingSample, CropKeepsMasksPositionsAndMsaAligned) {
  REQUIRE_2Q2K();
  const ChainRecord r = real_record();
  int contiguous = 0, spatial = 0;
  for (uint64_t seed = 0; seed < 24; ++seed) {
    const FeatureDict s = make_training_sample(r, small_crop(0.5), seed);
    const at::Tensor idx = s.at("residue_index").select(-1, 0);
    ASSERT_EQ(idx.size(0), 32);
    EXPECT_TRUE(torch::equal(std::get<0>(idx.sort()), idx)) << "crop keeps chain order";
    const bool consecutive = (idx.slice(0, 1) - idx.slice(0, 0, -1)).eq(1).all().item<bool>();
    contiguous += consecutive;
    spatial += !consecutive;
    EXPECT_TRUE(torch::equal(s.at("all_atom_positions"), r.atom_positions.index_select(0, idx)));
    EXPECT_TRUE(torch::equal(s.at("all_atom_mask"), r.atom_mask.index_select(0, idx).to(torch::kFloat)));
    EXPECT_TRUE(torch::equal(s.at("aatype").select(-1, 0), r.aatype.index_select(0, idx).to(torch::kLong)));
    // The query row of the MSA (the first cluster centre, before masking) is the sequence.
    EXPECT_TRUE(torch::equal(s.at("true_msa").select(-1, 0)[0], r.msa[0].index_select(0, idx).to(torch::kLong)));
    EXPECT_EQ(s.at("msa_feat").size(1), 32);
    EXPECT_EQ(s.at("extra_msa").size(1), 32);
    EXPECT_EQ(s.at("rigidgroups_gt_frames").size(0), 32);
    EXPECT_EQ(s.at("atom14_gt_positions").size(0), 32);
  }
  EXPECT_GT(contiguous, 0);
  EXPECT_GT(spatial, 0);
}

// A spatial crop is a ball: some kept resolved residue has every other kept resolved
// residue at least as near as every resolved residue left out.
TEST(TrainingSample, SpatialCropTakesTheResiduesNearestItsCentre) {
  REQUIRE_2Q2K();
  const ChainRecord r = real_record();
  TrainingOptions o = small_crop(1.0);
  const int64_t ca = rc::atom_order("CA");
  const at::Tensor resolved = r.atom_mask.select(1, ca) > 0;
  const at::Tensor pos = r.atom_positions.select(1, ca);
  for (uint64_t seed = 0; seed < 10; ++seed) {
    at::Generator gen = generator(seed);
    const at::Tensor keep = crop_indices(r, o, false, gen);
    at::Tensor kept = torch::zeros({r.length()}, torch::kBool);
    kept.index_fill_(0, keep, true);
    bool found = false;
    for (int64_t k = 0; k < keep.size(0) && !found; ++k) {
      const int64_t c = keep[k].item<int64_t>();
      if (!resolved[c].item<bool>()) continue;
      const at::Tensor d = (pos - pos[c]).norm(2, -1);
      const at::Tensor in = d.masked_select(kept & resolved), out = d.masked_select(~kept & resolved);
      found = out.numel() == 0 || in.max().item<double>() <= out.min().item<double>() + 1e-4;
    }
    EXPECT_TRUE(found) << "seed " << seed;
  }
}

TEST(TrainingSample, BlockDeletionKeepsTheQueryAndRemovesWholeBlocks) {
  TrainingOptions o;  // 5 blocks of 30% of the rows
  for (uint64_t seed = 0; seed < 20; ++seed) {
    at::Generator gen = generator(seed);
    const at::Tensor kept = block_delete_msa_rows(100, o, gen);
    ASSERT_EQ(kept[0].item<int64_t>(), 0);
    at::Tensor deleted = torch::ones({100}, torch::kBool);
    deleted.index_fill_(0, kept, false);
    // Deleted rows form at most 5 runs, together at most 5 x 30 rows, and some rows go.
    const int64_t runs = (deleted.slice(0, 1) & ~deleted.slice(0, 0, -1)).sum().item<int64_t>();
    EXPECT_LE(runs, 5);
    EXPECT_GE(deleted.sum().item<int64_t>(), 30);
    EXPECT_LE(deleted.sum().item<int64_t>(), 150);
  }
  o.block_delete_msa = false;
  at::Generator gen = generator(0);
  EXPECT_EQ(block_delete_msa_rows(100, o, gen).size(0), 100);
}

// Every extra row gets one centre, the one a plain loop over positions agrees with most
// (first on ties).
TEST(TrainingSample, ClusterAssignmentCoversEveryRowAndEqualsTheNaiveLoop) {
  torch::manual_seed(3);
  const at::Tensor centres = torch::randint(0, 23, {6, 40}, torch::kLong);
  const at::Tensor extra = torch::randint(0, 23, {50, 40}, torch::kLong);
  const at::Tensor centre_mask = (torch::rand({6, 40}) > 0.1).to(torch::kFloat);
  const at::Tensor extra_mask = (torch::rand({50, 40}) > 0.1).to(torch::kFloat);
  const at::Tensor got = nearest_cluster_assignment(centres, centre_mask, extra, extra_mask);
  ASSERT_EQ(got.size(0), 50);
  for (int64_t e = 0; e < 50; ++e) {
    int64_t best = -1, best_score = -1;
    for (int64_t c = 0; c < 6; ++c) {
      int64_t score = 0;
      for (int64_t j = 0; j < 40; ++j) {
        const int64_t a = extra[e][j].item<int64_t>();
        score += a == centres[c][j].item<int64_t>() && a < 21 && extra_mask[e][j].item<float>() > 0 &&
                 centre_mask[c][j].item<float>() > 0;
      }
      if (score > best_score) best = c, best_score = score;
    }
    EXPECT_EQ(got[e].item<int64_t>(), best) << "row " << e;
  }
}

// Over many draws, 15% of the centres' positions are masked; of those, 70% become the
// mask token and the share left unchanged is what the same / uniform / profile mixture
// predicts, all within 5 standard deviations.
TEST(TrainingSample, MaskedMsaFollowsTheConfiguredFractions) {
  REQUIRE_2Q2K();
  const ChainRecord r = real_record();
  const FeatureDict base = sequence_and_msa_features(r.aatype, r.msa, r.deletion_matrix);
  SamplingOptions o;
  o.use_templates = false;
  o.max_msa_clusters = 1000;  // every row a centre
  const at::Tensor profile = base.at("hhblits_profile");
  double positions = 0, masked = 0, mask_token = 0, unchanged = 0, expected_unchanged = 0, var_unchanged = 0;
  for (uint64_t seed = 0; seed < 40; ++seed) {
    const FeatureDict f = sample_msa_features(base, o, seed);
    const at::Tensor replaced = f.at("bert_mask") > 0;
    const at::Tensor before = f.at("true_msa");
    const at::Tensor after = f.at("msa_feat").slice(-1, 0, 23).argmax(-1);
    positions += before.numel();
    masked += replaced.sum().item<double>();
    mask_token += (replaced & after.eq(22)).sum().item<double>();
    unchanged += (replaced & after.eq(before)).sum().item<double>();
    // P(unchanged | replaced) per position.
    const at::Tensor p_same = o.same_prob + o.uniform_prob * 0.05 * before.lt(20).to(torch::kDouble) +
                              o.profile_prob * profile.to(torch::kDouble).gather(1, before.t()).t();
    const at::Tensor p = p_same.masked_select(replaced);
    expected_unchanged += p.sum().item<double>();
    var_unchanged += (p * (1 - p)).sum().item<double>();
  }
  const double frac = masked / positions;
  EXPECT_NEAR(frac, 0.15, 5 * std::sqrt(0.15 * 0.85 / positions)) << masked << " of " << positions;
  EXPECT_NEAR(mask_token / masked, 0.7, 5 * std::sqrt(0.7 * 0.3 / masked));
  EXPECT_NEAR(unchanged, expected_unchanged, 5 * std::sqrt(var_unchanged));
}

// The ground truth of a real chain: atom14 holds the atom37 atoms, the alternative
// naming swaps PHE/TYR ring atoms, backbone frames are Algorithm 21's frames, chi
// angles are the torsions' chi part.
TEST(TrainingSample, GroundTruthOfARealChainAgreesWithItsAtoms) {
  REQUIRE_2Q2K();
  const ChainRecord r = real_record();
  const at::Tensor mask = r.atom_mask.to(torch::kFloat);
  const FeatureDict g = make_ground_truth_features(r.aatype, r.atom_positions, mask);
  const at::Tensor aatype = r.aatype.to(torch::kLong);
  EXPECT_TRUE(torch::equal(structure::atom14_to_atom37(g.at("atom14_gt_positions"), aatype) * mask.unsqueeze(-1),
                           r.atom_positions * mask.unsqueeze(-1)));
  EXPECT_EQ(g.at("atom14_gt_exists").sum().item<double>(), mask.sum().item<double>());
  const int64_t n = rc::atom_order("N"), ca = rc::atom_order("CA"), c = rc::atom_order("C");
  const structure::Rigid bb = structure::Rigid::from_backbone(r.atom_positions.select(1, n), r.atom_positions.select(1, ca),
                                                              r.atom_positions.select(1, c));
  const at::Tensor has_bb = g.at("backbone_rigid_mask") > 0;
  EXPECT_TRUE(torch::equal(has_bb, (mask.select(1, n) * mask.select(1, ca) * mask.select(1, c)) > 0));
  EXPECT_LT((g.at("backbone_rigid_tensor") - bb.to_tensor_4x4()).abs().index({has_bb}).max().item<double>(), 1e-4);
  EXPECT_TRUE(torch::equal(g.at("chi_angles_sin_cos"), g.at("torsion_angles_sin_cos").slice(1, 3)));
  int swapped = 0;
  for (int64_t i = 0; i < r.length(); ++i) {
    const int64_t t = aatype[i].item<int64_t>();
    if (t != rc::restype_order('F') && t != rc::restype_order('Y')) continue;
    // atom14 slots of CD1 / CD2 for PHE and TYR: 6 and 7.
    EXPECT_TRUE(torch::equal(g.at("atom14_alt_gt_positions")[i][6], g.at("atom14_gt_positions")[i][7]));
    EXPECT_TRUE(torch::equal(g.at("atom14_alt_gt_positions")[i][7], g.at("atom14_gt_positions")[i][6]));
    EXPECT_EQ(g.at("atom14_atom_is_ambiguous")[i][6].item<float>(), 1.0f);
    ++swapped;
  }
  EXPECT_GT(swapped, 0);
}

// The split the trainer relies on: every model input carries the recycling axis (the
// model refuses anything else), the ground truth is exactly what
// make_ground_truth_features makes plus the per-sample scalars, and the loss batch is
// the last slice of the inputs.
TEST(TrainingSample, SplitSeparatesRecycledInputsFromGroundTruth) {
  REQUIRE_2Q2K();
  const ChainRecord r = real_record();
  const FeatureDict sample = make_training_sample(r, small_crop(0.5), 3);
  const SampleParts parts = split_training_sample(sample);
  const int64_t slices = sample.at("num_recycling_iters").item<int64_t>() + 1;
  EXPECT_EQ(parts.inputs.size() + parts.ground_truth.size(), sample.size());
  for (const auto& [name, t] : parts.inputs) EXPECT_EQ(t.size(-1), slices) << name;
  FeatureDict truth = make_ground_truth_features(r.aatype, r.atom_positions, r.atom_mask.to(torch::kFloat));
  for (const char* name : {"resolution", "use_clamped_fape", "is_distillation", "seq_length", "num_recycling_iters"})
    truth[name] = at::Tensor();
  for (const auto& [name, t] : truth) EXPECT_EQ(parts.ground_truth.count(name), 1u) << name;
  EXPECT_EQ(parts.ground_truth.size(), truth.size());
  const FeatureDict batch = last_iteration_batch(parts);
  EXPECT_TRUE(torch::equal(batch.at("bert_mask"), sample.at("bert_mask").select(-1, slices - 1)));
  EXPECT_TRUE(torch::equal(batch.at("atom14_gt_positions"), sample.at("atom14_gt_positions")));
}

TEST(TrainingSample, SameSeedSameSampleOtherSeedOtherSample) {
  REQUIRE_2Q2K();
  const ChainRecord r = real_record();
  const FeatureDict a = make_training_sample(r, small_crop(0.5), 7), b = make_training_sample(r, small_crop(0.5), 7);
  ASSERT_EQ(a.size(), b.size());
  for (const auto& [name, t] : a) EXPECT_TRUE(torch::equal(t, b.at(name))) << name;
  const FeatureDict c = make_training_sample(r, small_crop(0.5), 8);
  EXPECT_FALSE(a.at("msa_feat").sizes() == c.at("msa_feat").sizes() && torch::equal(a.at("msa_feat"), c.at("msa_feat")));
  EXPECT_NE(sample_seed(1, 0, 5), sample_seed(1, 0, 6));
  EXPECT_NE(sample_seed(1, 0, 5), sample_seed(1, 1, 5));
  EXPECT_NE(sample_seed(1, 0, 5), sample_seed(2, 0, 5));
}

// Templates at training time: the chain's stored hits found in the mmCIF folder (2q2k
// chain B for chain A, the same sequence), a random number of them up to
// max_templates, cropped like the chain.
TEST(TrainingSample, TemplatesComeFromTheStoredHitsAndAreCroppedWithTheChain) {
  REQUIRE_2Q2K();
  ChainRecord r = real_record();
  // 60 of 70 residues: AF2 drops hits that repeat over 95% of the query, and a template
  // must be released before the chain.
  const std::string part = r.sequence.substr(0, 60);
  const std::string hhr = fold::test::hhr_text(r.sequence, {{"2Q2K_B", 50.0, 0, part, part, 0}});
  r.release_date = "2009-01-01";
  r.template_hits = parse_hhr(hhr, "test.hhr");
  TrainingOptions o = small_crop(0.0);
  o.template_mmcif_dir = fold::test::shared_data("mmcif");
  int with = 0, without = 0;
  for (uint64_t seed = 0; seed < 12; ++seed) {
    const FeatureDict s = make_training_sample(r, o, seed);
    const int64_t t = s.at("template_mask").size(0);
    ASSERT_LE(t, 1);
    (t ? with : without)++;
    if (!t) continue;
    const at::Tensor idx = s.at("residue_index").select(-1, 0);
    // Aligned residues carry the chain's residue types, the 10 unaligned ones the gap (21).
    const at::Tensor expected = torch::where(idx < 60, r.aatype.index_select(0, idx).to(torch::kLong), 21);
    EXPECT_TRUE(torch::equal(s.at("template_aatype").select(-1, 0)[0], expected));
    EXPECT_EQ(s.at("template_all_atom_positions").size(1), 32);
    EXPECT_GT(s.at("template_all_atom_mask").sum().item<double>(), 0);
  }
  EXPECT_GT(with, 0);
  EXPECT_GT(without, 0) << "subsample_templates draws 0..max templates";
  o.template_mmcif_dir.clear();
  EXPECT_EQ(make_training_sample(r, o, 0).at("template_mask").size(0), 0);
}

TEST(TrainingSample, RejectsChainsWithoutResolvedResiduesOrTooCoarse) {
  REQUIRE_2Q2K();
  ChainRecord r = real_record();
  TrainingOptions o = small_crop(0.0);
  ChainRecord empty = r;
  empty.atom_mask = torch::zeros_like(r.atom_mask);
  EXPECT_THROW(make_training_sample(empty, o, 0), SampleError);
  r.resolution = 9.5f;
  EXPECT_THROW(make_training_sample(r, o, 0), SampleError);
  o.max_resolution = 0;
  EXPECT_NO_THROW(make_training_sample(r, o, 0));
}

// AF-Multimer's interface residues: an atom within the threshold of another chain's
// atom, both resolved; equal to the loop over every pair of atoms.
TEST(ComplexTrainingSample, InterfaceResiduesEqualTheNaivePairLoop) {
  torch::manual_seed(5);
  const auto asym = torch::tensor(std::vector<int64_t>{1, 1, 1, 2, 2, 3, 3, 3, 3});
  const int64_t n = asym.size(0);
  const auto positions = torch::rand({n, 37, 3}) * 30;
  const auto mask = (torch::rand({n, 37}) > 0.7).to(torch::kFloat);
  for (double threshold : {3.0, 6.0}) {
    std::vector<int64_t> want;
    for (int64_t i = 0; i < n; ++i) {
      bool near = false;
      for (int64_t j = 0; j < n && !near; ++j) {
        if (asym[i].item<int64_t>() == asym[j].item<int64_t>()) continue;
        for (int64_t a = 0; a < 37 && !near; ++a)
          for (int64_t b = 0; b < 37 && !near; ++b)
            near = mask[i][a].item<float>() > 0 && mask[j][b].item<float>() > 0 &&
                   (positions[i][a] - positions[j][b]).norm().item<double>() < threshold;
      }
      if (near) want.push_back(i);
    }
    const auto got = interface_residues(asym, positions, mask, threshold);
    EXPECT_EQ(std::vector<int64_t>(got.data_ptr<int64_t>(), got.data_ptr<int64_t>() + got.numel()), want) << threshold;
  }
}

// OpenFold's contiguous crop of a complex: crop_size residues in all, one stretch per
// chain (or none), every chain's budget within what the others leave.
TEST(ComplexTrainingSample, ContiguousCropGivesEachChainOneStretch) {
  std::vector<int64_t> chain;
  for (int64_t c = 1; c <= 3; ++c)
    for (int64_t i = 0; i < (c == 1 ? 10 : c == 2 ? 7 : 5); ++i) chain.push_back(c);
  const auto asym = torch::tensor(chain);
  TrainingOptions o;
  o.crop_size = 12;
  std::set<int64_t> chains_seen;
  for (uint64_t seed = 0; seed < 30; ++seed) {
    at::Generator gen = generator(seed);
    const auto keep = complex_crop_indices(asym, torch::zeros({22, 37, 3}), torch::ones({22, 37}), o, gen);
    ASSERT_EQ(keep.size(0), 12) << seed;
    std::map<int64_t, std::vector<int64_t>> rows;
    for (int64_t i = 0; i < keep.size(0); ++i) rows[chain[keep[i].item<int64_t>()]].push_back(keep[i].item<int64_t>());
    for (const auto& [c, r] : rows) {
      chains_seen.insert(c);
      EXPECT_EQ(r.back() - r.front() + 1, static_cast<int64_t>(r.size())) << "seed " << seed << " chain " << c;
    }
  }
  EXPECT_EQ(chains_seen.size(), 3u);
  o.crop_size = 40;  // longer than the complex: every residue
  at::Generator gen = generator(0);
  EXPECT_TRUE(torch::equal(complex_crop_indices(asym, torch::zeros({22, 37, 3}), torch::ones({22, 37}), o, gen),
                           torch::arange(22)));
}

// Templates of a complex: each chain's max_templates slots filled from its stored hits
// as a monomer sample's (2q2k chain B for the first 60 residues), the copies of a
// sequence sharing its first chain's, concatenated along residues and cropped with the
// complex; a random number of them up to max_templates (the rest empty slots).
TEST(ComplexTrainingSample, TemplatesComeFromTheStoredHitsPerChainAndAreCroppedWithTheComplex) {
  REQUIRE_2Q2K();
  std::vector<ChainRecord> chains = {real_record("A"), real_record("B")};
  const std::string part = chains[0].sequence.substr(0, 60);
  const std::string hhr = fold::test::hhr_text(chains[0].sequence, {{"2Q2K_B", 50.0, 0, part, part, 0}});
  chains[0].release_date = "2009-01-01";
  chains[0].template_hits = parse_hhr(hhr, "test.hhr");
  TrainingOptions o = small_crop(0.0);
  o.complexes = true;
  o.crop_size = 100;
  o.sampling.max_templates = 2;
  o.template_mmcif_dir = fold::test::shared_data("mmcif");
  int with = 0, without = 0;
  for (uint64_t seed = 0; seed < 12; ++seed) {
    const FeatureDict s = make_complex_training_sample(chains, o, seed);
    const at::Tensor aatype = s.at("template_aatype"), mask = s.at("template_all_atom_mask");
    ASSERT_EQ(aatype.sizes(), (torch::IntArrayRef{2, 100, s.at("aatype").size(-1)}));
    EXPECT_EQ(mask.select(-1, 0)[1].sum().item<double>(), 0.0) << "one hit: the second slot stays empty";
    if (mask.sum().item<double>() == 0) {
      ++without;
      continue;
    }
    ++with;
    const at::Tensor asym = s.at("asym_id").select(-1, 0), residue = s.at("residue_index").select(-1, 0);
    const at::Tensor record_aatype = chains[0].aatype.to(torch::kLong).index_select(0, residue);
    // Both copies' aligned residues carry the chain's residue types, the unaligned ones the gap.
    const at::Tensor expected = torch::where(residue < 60, record_aatype, 21);
    EXPECT_TRUE(torch::equal(aatype.select(-1, 0)[0], expected));
    for (const int64_t chain : {1, 2})
      EXPECT_GT(mask.select(-1, 0)[0].index({asym == chain}).sum().item<double>(), 0) << "chain " << chain;
  }
  EXPECT_GT(with, 0);
  EXPECT_GT(without, 0) << "subsample_templates draws 0..max templates";
}

// A sample of 2Q2K's two chains (a homodimer): one entity, two copies; the crop's labels
// are the whole truth's at the kept (chain, residue) pairs; the spatial crop reaches
// across the interface; the same seed gives the same sample.
TEST(ComplexTrainingSample, RealHomodimerCropsAgainstItsWholeTruth) {
  REQUIRE_2Q2K();
  const std::vector<ChainRecord> chains = {real_record("A"), real_record("B")};
  const int64_t total = chains[0].length() + chains[1].length();
  TrainingOptions o = small_crop(0.0);
  o.complexes = true;
  o.crop_size = 60;
  o.sampling.max_templates = 2;
  o.max_recycling_iters = 1;
  for (double spatial : {0.0, 1.0}) {
    o.spatial_crop_prob = spatial;
    const FeatureDict s = make_complex_training_sample(chains, o, 3);
    const auto asym = s.at("asym_id").select(-1, 0), residue = s.at("residue_index").select(-1, 0);
    ASSERT_EQ(asym.size(0), 60);
    EXPECT_TRUE(s.at("entity_id").eq(1).all().item<bool>());
    EXPECT_TRUE(torch::equal(s.at("sym_id").select(-1, 0), asym));
    EXPECT_EQ(s.at("template_aatype").sizes(), (torch::IntArrayRef{2, 60, s.at("aatype").size(-1)}));
    ASSERT_EQ(s.at("gt_asym_id").size(0), total);
    EXPECT_TRUE(torch::equal(s.at("gt_all_atom_positions"),
                             torch::cat({chains[0].atom_positions, chains[1].atom_positions})));
    const auto gt_asym = s.at("gt_asym_id"), gt_residue = s.at("gt_residue_index");
    for (int64_t i = 0; i < 60; ++i) {
      const auto row = ((gt_asym == asym[i]) & (gt_residue == residue[i])).nonzero();
      ASSERT_EQ(row.size(0), 1);
      for (const char* k : {"all_atom_positions", "atom14_gt_positions", "backbone_rigid_tensor", "pseudo_beta"})
        ASSERT_TRUE(torch::allclose(s.at(k)[i], s.at(std::string("gt_") + k)[row[0][0]], 1e-6, 1e-6))
            << k << " row " << i;
    }
    if (spatial > 0) {
      const auto interface = interface_residues(gt_asym, s.at("gt_all_atom_positions"), s.at("gt_all_atom_mask"), 10.0);
      ASSERT_GT(interface.size(0), 0);
      EXPECT_TRUE((asym == 1).any().item<bool>() && (asym == 2).any().item<bool>()) << "both sides of the interface";
    }
    EXPECT_TRUE(torch::equal(make_complex_training_sample(chains, o, 3).at("msa_feat"), s.at("msa_feat")));
    const SampleParts parts = split_training_sample(s);
    EXPECT_TRUE(parts.ground_truth.count("gt_all_atom_positions"));
    EXPECT_TRUE(parts.inputs.count("asym_id"));
  }
  ChainRecord unresolved = chains[0];
  unresolved.atom_mask = torch::zeros_like(unresolved.atom_mask);
  EXPECT_THROW(make_complex_training_sample({unresolved}, o, 1), SampleError);
}

}  // namespace
}  // namespace fold::features
