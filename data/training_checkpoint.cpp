#include "data/training_checkpoint.h"

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <nlohmann/json.hpp>
#include <sstream>
#include <stdexcept>
#include <vector>

#include "data/safetensors.h"
#include "data/text_file.h"

namespace fold::data {

namespace fs = std::filesystem;

namespace {

constexpr const char* kPrefix = "step-";
constexpr const char* kPartial = ".partial";

// Survives a power cut too, not only a killed process (for which the rename suffices).
void sync_path(const fs::path& path) {
  const int fd = ::open(path.c_str(), O_RDONLY);
  if (fd < 0) throw std::runtime_error("cannot open " + path.string() + " to sync it");
  ::fsync(fd);
  ::close(fd);
}

std::string step_name(int64_t step) {
  char buffer[32];
  std::snprintf(buffer, sizeof(buffer), "%s%08lld", kPrefix, static_cast<long long>(step));
  return buffer;
}

std::string shard_name(int shard, int shards) {
  if (shards == 1) return "optimizer.safetensors";
  char buffer[64];
  std::snprintf(buffer, sizeof(buffer), "optimizer-%05d-of-%05d.safetensors", shard, shards);
  return buffer;
}

fs::path partial_dir(const std::string& root, int64_t step) {
  return fs::path(root) / (step_name(step) + kPartial);
}

// The optimizer files of checkpoint `dir`: optimizer.safetensors, or every shard named
// by the first one's "-of-<n>"; empty when one is missing.
std::vector<fs::path> optimizer_files(const fs::path& dir) {
  if (fs::is_regular_file(dir / shard_name(0, 1))) return {dir / shard_name(0, 1)};
  int shards = 0;
  if (fs::is_directory(dir))
    for (const auto& entry : fs::directory_iterator(dir))
      if (std::sscanf(entry.path().filename().c_str(), "optimizer-00000-of-%d.safetensors", &shards) == 1) break;
  std::vector<fs::path> files;
  for (int r = 0; r < shards; ++r) {
    files.push_back(dir / shard_name(r, shards));
    if (!fs::is_regular_file(files.back())) return {};
  }
  return files;
}

// Complete checkpoints under `root`, oldest first.
std::vector<fs::path> checkpoints_in(const fs::path& root) {
  std::vector<fs::path> found;
  if (!fs::is_directory(root)) return found;
  for (const auto& entry : fs::directory_iterator(root)) {
    const std::string name = entry.path().filename().string();
    if (entry.is_directory() && name.rfind(kPrefix, 0) == 0 && name.find(kPartial) == std::string::npos &&
        is_training_checkpoint(entry.path().string()))
      found.push_back(entry.path());
  }
  std::sort(found.begin(), found.end());
  return found;
}

nlohmann::json state_json(const TrainingState& s) {
  return {{"format", "fold-training-checkpoint"},
          {"format_version", 1},
          {"step", s.step},
          {"data_cursor", {{"epoch", s.epoch}, {"position", s.position}}},
          {"rng", {{"cpu", s.cpu_rng}}},
          {"loss_scale", s.loss_scale},
          {"loss_scale_clean_steps", s.loss_scale_clean_steps},
          {"precision", s.precision},
          {"config", s.config_toml}};
}

}  // namespace

bool is_training_checkpoint(const std::string& dir) {
  for (const char* file : {"model.safetensors", "ema.safetensors", "state.json"})
    if (!fs::is_regular_file(fs::path(dir) / file)) return false;
  return !optimizer_files(dir).empty();
}

void begin_training_checkpoint(const std::string& root, int64_t step) {
  const fs::path partial = partial_dir(root, step);
  data::remove_tree(partial.string());
  fs::create_directories(partial);
}

void write_optimizer_shard(const std::string& root, int64_t step, int shard, int shards,
                           const std::map<std::string, at::Tensor>& state) {
  if (shard < 0 || shard >= shards)
    throw std::invalid_argument("optimizer shard " + std::to_string(shard) + " of " + std::to_string(shards));
  data::write_safetensors((partial_dir(root, step) / shard_name(shard, shards)).string(), state);
}

std::string save_training_checkpoint(const std::string& root, const TrainingCheckpoint& c, int64_t keep) {
  begin_training_checkpoint(root, c.state.step);
  write_optimizer_shard(root, c.state.step, 0, 1, c.optimizer);
  return finish_training_checkpoint(root, c, 1, keep);
}

std::string finish_training_checkpoint(const std::string& root, const TrainingCheckpoint& c, int shards, int64_t keep) {
  const fs::path final_dir = fs::path(root) / step_name(c.state.step);
  const fs::path partial = partial_dir(root, c.state.step);
  for (int r = 0; r < shards; ++r)
    if (!fs::is_regular_file(partial / shard_name(r, shards)))
      throw std::runtime_error((partial / shard_name(r, shards)).string() + ": optimizer shard not written");
  data::write_safetensors((partial / "model.safetensors").string(), c.model, {{"format", "pt"}});
  data::write_safetensors((partial / "ema.safetensors").string(), c.ema, {{"format", "pt"}});
  {
    std::ofstream out(partial / "state.json");
    out << state_json(c.state).dump(2) << "\n";
    if (!out) throw std::runtime_error("cannot write " + (partial / "state.json").string());
  }
  for (const auto& entry : fs::directory_iterator(partial)) sync_path(entry.path());
  sync_path(partial);
  // A checkpoint of the same step (a rerun) is replaced as a whole.
  if (fs::exists(final_dir)) data::remove_tree(final_dir.string());
  fs::rename(partial, final_dir);
  sync_path(root);

  std::vector<fs::path> all = checkpoints_in(root);
  for (size_t i = 0; keep > 0 && i + static_cast<size_t>(keep) < all.size(); ++i) data::remove_tree(all[i].string());
  for (const auto& entry : fs::directory_iterator(root))
    if (entry.path().filename().string().find(kPartial) != std::string::npos) data::remove_tree(entry.path().string());
  return final_dir.string();
}

std::string latest_checkpoint(const std::string& path) {
  if (is_training_checkpoint(path)) return path;
  for (const fs::path& root : {fs::path(path) / "checkpoints", fs::path(path)}) {
    const auto all = checkpoints_in(root);
    if (!all.empty()) return all.back().string();
  }
  return "";
}

std::string previous_checkpoint(const std::string& dir) {
  const fs::path d = fs::path(dir).lexically_normal();
  const fs::path self = d.has_filename() ? d : d.parent_path();
  std::string previous;
  // Names sort by step (zero-padded), so the last one before `dir` is the newest older one.
  for (const fs::path& c : checkpoints_in(self.parent_path()))
    if (c.filename().string() < self.filename().string()) previous = c.string();
  return previous;
}

TrainingState parse_training_state(const std::string& text, const std::string& source) {
  try {
    const nlohmann::json j = nlohmann::json::parse(text);
    if (j.at("format") != "fold-training-checkpoint" || j.at("format_version") != 1)
      throw std::runtime_error("unknown format or version");
    // nlohmann converts a float to an integer with a plain cast (undefined past the
    // range), so the kinds are checked before the values are taken.
    const auto count = [](const nlohmann::json& v, const char* key) {
      if (!v.is_number_integer() || v.get<int64_t>() < 0)
        throw std::runtime_error(std::string("'") + key + "' is not a non-negative integer");
      return v.get<int64_t>();
    };
    const auto text_of = [](const nlohmann::json& v, const char* key) {
      if (!v.is_string()) throw std::runtime_error(std::string("'") + key + "' is not a string");
      return v.get<std::string>();
    };
    TrainingState s;
    s.step = count(j.at("step"), "step");
    s.epoch = count(j.at("data_cursor").at("epoch"), "epoch");
    s.position = count(j.at("data_cursor").at("position"), "position");
    s.cpu_rng = text_of(j.at("rng").at("cpu"), "rng.cpu");
    if (!j.at("loss_scale").is_number()) throw std::runtime_error("'loss_scale' is not a number");
    s.loss_scale = j.at("loss_scale").get<double>();
    s.loss_scale_clean_steps = count(j.at("loss_scale_clean_steps"), "loss_scale_clean_steps");
    s.precision = text_of(j.at("precision"), "precision");
    s.config_toml = text_of(j.at("config"), "config");
    return s;
  } catch (const std::exception& e) {
    throw std::runtime_error(source + ": " + e.what());
  }
}

TrainingCheckpoint load_training_checkpoint(const std::string& dir) {
  if (!is_training_checkpoint(dir))
    throw std::runtime_error(dir + ": not a training checkpoint (needs model.safetensors, optimizer.safetensors "
                             "or all its shards, ema.safetensors and state.json)");
  TrainingCheckpoint c;
  const fs::path d(dir);
  c.model = data::read_safetensors((d / "model.safetensors").string()).tensors;
  for (const fs::path& file : optimizer_files(d))
    for (auto& [name, t] : data::read_safetensors(file.string()).tensors) c.optimizer[name] = std::move(t);
  c.ema = data::read_safetensors((d / "ema.safetensors").string()).tensors;
  c.state = parse_training_state(read_text_file((d / "state.json").string()), (d / "state.json").string());
  return c;
}

std::string cpu_rng_state() {
  auto gen = at::detail::getDefaultCPUGenerator();
  std::lock_guard<std::mutex> lock(gen.mutex());
  const at::Tensor state = gen.get_state();
  static const char* kHex = "0123456789abcdef";
  std::string hex;
  const auto* bytes = state.data_ptr<uint8_t>();
  for (int64_t i = 0; i < state.numel(); ++i) {
    hex.push_back(kHex[bytes[i] >> 4]);
    hex.push_back(kHex[bytes[i] & 15]);
  }
  return hex;
}

void set_cpu_rng_state(const std::string& hex) {
  auto gen = at::detail::getDefaultCPUGenerator();
  std::lock_guard<std::mutex> lock(gen.mutex());
  // The generator's state has one fixed size; anything else is a corrupt checkpoint,
  // said here rather than as LibTorch's internal check.
  const auto expected = static_cast<size_t>(gen.get_state().numel()) * 2;
  if (hex.size() != expected)
    throw std::invalid_argument("RNG state: " + std::to_string(hex.size()) + " hex digits, the CPU generator's has " +
                                std::to_string(expected));
  const auto nibble = [](char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    throw std::invalid_argument(std::string("RNG state: '") + c + "' is not a hex digit");
  };
  at::Tensor state = at::empty({static_cast<int64_t>(hex.size() / 2)}, at::kByte);
  auto* bytes = state.data_ptr<uint8_t>();
  for (size_t i = 0; i < hex.size(); i += 2) bytes[i / 2] = static_cast<uint8_t>(nibble(hex[i]) * 16 + nibble(hex[i + 1]));
  // LibTorch validates the content too (found by fuzz_training_state: "Invalid mt19937
  // state"); its error becomes this function's.
  try {
    gen.set_state(state);
  } catch (const c10::Error& e) {
    throw std::invalid_argument("RNG state: " + e.msg());
  }
}

}  // namespace fold::data
