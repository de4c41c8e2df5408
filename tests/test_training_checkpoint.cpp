// The native training checkpoint (data/training_checkpoint): round trip of every part,
// keep-last-K, kill safety, and ZeRO's sharded optimizer state.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <algorithm>
#include <filesystem>
#include <fstream>

#include "data/training_checkpoint.h"
#include "tests/test_paths.h"

namespace fold::data {
namespace {

namespace fs = std::filesystem;
using fold::test::remove_tree;
using fold::test::temp_path;

std::map<std::string, torch::Tensor> some_tensors(float v) {
  return {{"a", torch::full({2, 3}, v)}, {"b", torch::arange(4).to(torch::kFloat) * v}};
}

// Round trip of every part, keep-last-K, and kill safety: a leftover .partial
// directory (what a process killed mid-write leaves) is never taken for a checkpoint.
TEST(TrainingCheckpoint, RoundTripKeepsLastKAndIgnoresPartialWrites) {
  const fs::path root = temp_path("ckpt");
  TrainingCheckpoint c;
  c.model = some_tensors(1);
  c.optimizer = some_tensors(2);
  c.ema = some_tensors(3);
  c.state.epoch = 2;
  c.state.position = 7;
  c.state.loss_scale = 4096;
  c.state.loss_scale_clean_steps = 12;
  c.state.precision = "fp16";
  c.state.config_toml = "[train]\nmax_steps = 9\n";
  torch::manual_seed(5);
  c.state.cpu_rng = cpu_rng_state();
  for (int64_t step = 1; step <= 4; ++step) {
    c.state.step = step;
    save_training_checkpoint(root.string(), c, 2);
  }
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(root)) names.push_back(e.path().filename().string());
  std::sort(names.begin(), names.end());
  EXPECT_EQ(names, (std::vector<std::string>{"step-00000003", "step-00000004"}));
  fs::create_directories(root / "step-00000009.partial");
  std::ofstream(root / "step-00000009.partial" / "model.safetensors") << "trunc";
  fs::create_directories(root / "step-00000008");  // a directory without its files
  EXPECT_EQ(latest_checkpoint(root.string()), (root / "step-00000004").string());
  const TrainingCheckpoint back = load_training_checkpoint(latest_checkpoint(root.string()));
  EXPECT_EQ(back.state.step, 4);
  EXPECT_EQ(back.state.epoch, 2);
  EXPECT_EQ(back.state.position, 7);
  EXPECT_EQ(back.state.loss_scale, 4096);
  EXPECT_EQ(back.state.loss_scale_clean_steps, 12);
  EXPECT_EQ(back.state.precision, "fp16");
  EXPECT_EQ(back.state.config_toml, c.state.config_toml);
  for (const auto& [name, t] : c.ema) EXPECT_TRUE(torch::equal(back.ema.at(name), t)) << name;
  for (const auto& [name, t] : c.optimizer) EXPECT_TRUE(torch::equal(back.optimizer.at(name), t)) << name;
  // The RNG state restores the stream.
  const torch::Tensor expected = torch::rand({3});
  set_cpu_rng_state(back.state.cpu_rng);
  EXPECT_TRUE(torch::equal(torch::rand({3}), expected));
  EXPECT_THROW(load_training_checkpoint((root / "step-00000008").string()), std::runtime_error);
  remove_tree(root);
}

// ZeRO's sharded optimizer state: one file per shard, loaded as their union; until every
// shard is written the checkpoint cannot be finished, and a shard set with a file
// missing is not a checkpoint.
TEST(TrainingCheckpoint, ShardedOptimizerStateRoundTripsAsTheUnionOfItsShards) {
  const fs::path root = temp_path("ckpt-sharded");
  TrainingCheckpoint c;
  c.model = some_tensors(1);
  c.ema = some_tensors(3);
  c.state.step = 6;
  c.state.cpu_rng = cpu_rng_state();
  const std::map<std::string, torch::Tensor> shard0{{"step", torch::full({}, 6, torch::kLong)},
                                                    {"exp_avg/a", torch::ones({2})}},
      shard1{{"step", torch::full({}, 6, torch::kLong)}, {"exp_avg/b", torch::zeros({3})}};
  begin_training_checkpoint(root.string(), 6);
  write_optimizer_shard(root.string(), 6, 0, 2, shard0);
  EXPECT_THROW(finish_training_checkpoint(root.string(), c, 2, 0), std::runtime_error) << "shard 1 is missing";
  EXPECT_THROW(write_optimizer_shard(root.string(), 6, 2, 2, shard1), std::invalid_argument);
  write_optimizer_shard(root.string(), 6, 1, 2, shard1);
  const std::string dir = finish_training_checkpoint(root.string(), c, 2, 0);
  EXPECT_TRUE(fs::is_regular_file(fs::path(dir) / "optimizer-00001-of-00002.safetensors"));
  const TrainingCheckpoint back = load_training_checkpoint(dir);
  EXPECT_EQ(back.optimizer.size(), 3u);
  EXPECT_TRUE(torch::equal(back.optimizer.at("exp_avg/a"), shard0.at("exp_avg/a")));
  EXPECT_TRUE(torch::equal(back.optimizer.at("exp_avg/b"), shard1.at("exp_avg/b")));
  fs::remove(fs::path(dir) / "optimizer-00001-of-00002.safetensors");
  EXPECT_FALSE(is_training_checkpoint(dir));
  remove_tree(root);
}

}  // namespace
}  // namespace fold::data
