// The chain sampler and the non-blocking loader (data/training_loader).
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <fstream>
#include <map>
#include <sstream>

#include "fold/features/training_loader.h"
#include "tests/train_data_fixtures.h"

namespace fold::features {
namespace {

using namespace data;

namespace fs = std::filesystem;
using fold::test::real_record;
using fold::test::remove_tree;
using fold::test::temp_path;

std::shared_ptr<const ChainDataset> two_chain_dataset(const fs::path& path) {
  ChainDatasetWriter w(path.string());
  w.add(real_record("A"));
  w.add(real_record("B"));
  w.commit();
  return std::make_shared<const ChainDataset>(path.string());
}

TrainingOptions options() {
  TrainingOptions o;
  o.crop_size = 40;
  o.spatial_crop_prob = 0.5;
  o.sampling.max_msa_clusters = 8;
  o.sampling.max_extra_msa = 16;
  return o;
}

std::map<int64_t, FeatureDict> load_all(std::shared_ptr<const ChainDataset> d, const std::vector<SampleRef>& schedule,
                                        int workers) {
  LoaderOptions l;
  l.workers = workers;
  l.queue_depth = 2;
  l.run_seed = 11;
  TrainingLoader loader(d, schedule, options(), l);
  std::map<int64_t, FeatureDict> out;
  while (auto s = loader.next()) out[s->ref.position] = std::move(s->features);
  EXPECT_EQ(loader.stats().delivered, static_cast<int64_t>(schedule.size()));
  return out;
}

// The same run seed gives the same sample at every schedule position whether one
// worker or four make them (and whatever order they finish in).
TEST(TrainingLoader, SameSeedGivesIdenticalSamplesAcrossOneAndFourWorkers) {
  REQUIRE_2Q2K();
  const fs::path path = temp_path("loader.h5");
  const auto d = two_chain_dataset(path);
  const ChainSampler sampler(d->entries(), options().max_resolution);
  const auto schedule = sampler.epoch(11, 0, 12);
  const auto one = load_all(d, schedule, 1), four = load_all(d, schedule, 4);
  ASSERT_EQ(one.size(), 12u);
  ASSERT_EQ(four.size(), 12u);
  for (const auto& [position, features] : one) {
    ASSERT_EQ(features.size(), four.at(position).size());
    for (const auto& [name, t] : features)
      EXPECT_TRUE(torch::equal(t, four.at(position).at(name))) << "position " << position << " " << name;
  }
  remove_tree(path);
}

// A chain missing from the file and a group with NaN coordinates are logged with their
// position and reason and skipped; the other samples arrive.
TEST(TrainingLoader, FailingSamplesAreLoggedAndSkipped) {
  REQUIRE_2Q2K();
  const fs::path path = temp_path("loader_skip.h5");
  two_chain_dataset(path);
  const ChainRecord b = real_record("B");
  std::vector<float> pos(b.atom_positions.data_ptr<float>(), b.atom_positions.data_ptr<float>() + b.atom_positions.numel());
  const int64_t observed = b.atom_mask.select(1, 1).nonzero()[0][0].item<int64_t>();
  pos[(observed * 37 + 1) * 3 + 2] = std::nanf("");
  fold::test::overwrite_dataset(path, "chains/2q2k_B/atom_positions", {static_cast<hsize_t>(b.length()), 37, 3}, pos);
  const auto d = std::make_shared<const ChainDataset>(path.string());
  const std::vector<SampleRef> schedule = {{0, 0, "2q2k_A"}, {0, 1, "9xyz_Q"}, {0, 2, "2q2k_B"}, {0, 3, "2q2k_A"}};
  std::ostringstream log;
  LoaderOptions l;
  l.workers = 2;
  TrainingLoader loader(d, schedule, options(), l, &log);
  std::vector<int64_t> got;
  while (auto s = loader.next()) got.push_back(s->ref.position);
  std::sort(got.begin(), got.end());
  EXPECT_EQ(got, (std::vector<int64_t>{0, 3}));
  EXPECT_EQ(loader.skipped().size(), 2u);
  EXPECT_NE(log.str().find("skipped sample 0/1 (chain 9xyz_Q)"), std::string::npos) << log.str();
  EXPECT_NE(log.str().find("skipped sample 0/2 (chain 2q2k_B)"), std::string::npos) << log.str();
  EXPECT_NE(log.str().find("non-finite coordinates"), std::string::npos) << log.str();
  EXPECT_EQ(loader.stats().skipped, 2);
  remove_tree(path);
}

// Ordered delivery: with three workers, a queue of one and failing samples in between,
// next() still hands out the good samples in schedule order (what resuming a run
// exactly relies on) and never deadlocks on a full queue of later samples.
TEST(TrainingLoader, OrderedModeDeliversInScheduleOrderPastSkippedSamples) {
  REQUIRE_2Q2K();
  const fs::path path = temp_path("loader_ordered.h5");
  const auto d = two_chain_dataset(path);
  std::vector<SampleRef> schedule;
  for (int64_t i = 0; i < 10; ++i) schedule.push_back({0, i, i % 4 == 1 ? "9xyz_Q" : (i % 2 ? "2q2k_B" : "2q2k_A")});
  LoaderOptions l;
  l.workers = 3;
  l.queue_depth = 1;
  l.ordered = true;
  TrainingLoader loader(d, schedule, options(), l);
  std::vector<int64_t> got;
  while (auto s = loader.next()) got.push_back(s->ref.position);
  EXPECT_EQ(got, (std::vector<int64_t>{0, 2, 3, 4, 6, 7, 8}));
  remove_tree(path);
}

TEST(TrainingLoader, RefusesAGpuDeviceWhereNoneIsVisible) {
  if (torch::cuda::is_available()) GTEST_SKIP() << "a GPU is visible: the refusal cannot happen here";
  REQUIRE_2Q2K();
  const fs::path path = temp_path("loader_gpu.h5");
  const auto d = two_chain_dataset(path);
  LoaderOptions l;
  l.device = torch::Device(torch::kCUDA, 0);
  EXPECT_THROW(TrainingLoader(d, {{0, 0, "2q2k_A"}}, options(), l), std::invalid_argument);
  remove_tree(path);
}

// AF2's sampling weights: max(min(L, 512), 256) / 512 over the cluster size; chains
// failing the resolution filter are left out; an epoch's draw depends on its seed only.
TEST(ChainSampler, WeightsFollowLengthAndClusterSize) {
  std::vector<ChainEntry> entries(4);
  const int64_t lengths[] = {100, 384, 700, 300};
  const float resolutions[] = {2.0f, 0.0f, 3.0f, 12.0f};
  for (int i = 0; i < 4; ++i) {
    entries[i].id = "c" + std::to_string(i);
    entries[i].length = lengths[i];
    entries[i].resolution = resolutions[i];
    entries[i].observed_residues = lengths[i];
  }
  const fs::path clusters = temp_path("clusters.txt");
  std::ofstream(clusters) << "c1 c2\nc0\n";
  const ChainSampler s(entries, TrainingOptions{}.max_resolution, clusters.string());
  EXPECT_EQ(s.chains(), (std::vector<std::string>{"c0", "c1", "c2"}));
  ASSERT_EQ(s.excluded().size(), 1u);
  EXPECT_EQ(s.excluded()[0].first, "c3");
  EXPECT_DOUBLE_EQ(s.weights()[0], 256.0 / 512.0);
  EXPECT_DOUBLE_EQ(s.weights()[1], 384.0 / 512.0 / 2.0);
  EXPECT_DOUBLE_EQ(s.weights()[2], 512.0 / 512.0 / 2.0);
  const auto a = s.epoch(5, 3, 50), b = s.epoch(5, 3, 50), c = s.epoch(5, 4, 50);
  std::vector<std::string> ca, cb, cc;
  for (size_t i = 0; i < 50; ++i) ca.push_back(a[i].chain), cb.push_back(b[i].chain), cc.push_back(c[i].chain);
  EXPECT_EQ(ca, cb);
  EXPECT_NE(ca, cc);
  remove_tree(clusters);
}

}  // namespace
}  // namespace fold::features
