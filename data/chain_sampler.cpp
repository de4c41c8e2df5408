#include "data/chain_sampler.h"

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>

#include <algorithm>
#include <fstream>
#include <map>
#include <sstream>
#include <stdexcept>

#include "data/parse_error.h"

namespace fold::data {

uint64_t sample_seed(uint64_t run_seed, int64_t epoch, int64_t index) {
  // splitmix64 over the three values in turn.
  uint64_t x = run_seed;
  for (uint64_t v : {static_cast<uint64_t>(epoch), static_cast<uint64_t>(index)}) {
    x += 0x9e3779b97f4a7c15ULL + v;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    x ^= x >> 31;
  }
  return x;
}

namespace {

// chain id -> its cluster's size, from an OpenFold-style cluster file.
std::map<std::string, size_t> cluster_sizes(const std::string& path) {
  std::map<std::string, size_t> sizes;
  if (path.empty()) return sizes;
  std::ifstream in(path);
  if (!in) throw ParseError(path, 0, "cannot read the cluster file");
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream words(line);
    std::vector<std::string> ids;
    for (std::string id; words >> id;) ids.push_back(id);
    for (const auto& id : ids) sizes[id] = ids.size();
  }
  return sizes;
}

}  // namespace

ChainSampler::ChainSampler(const std::vector<ChainEntry>& entries, float max_resolution,
                           const std::string& cluster_file) {
  const auto clusters = cluster_sizes(cluster_file);
  for (const auto& e : entries) {
    if (max_resolution > 0 && e.resolution > max_resolution) {
      excluded_.emplace_back(e.id, "resolution " + std::to_string(e.resolution) + " A");
      continue;
    }
    if (e.observed_residues == 0) {
      excluded_.emplace_back(e.id, "no resolved residues");
      continue;
    }
    const auto it = clusters.find(e.id);
    const double cluster = it == clusters.end() ? 1.0 : static_cast<double>(it->second);
    chains_.push_back(e.id);
    weights_.push_back(static_cast<double>(std::clamp<int64_t>(e.length, 256, 512)) / 512.0 / cluster);
  }
}

std::vector<SampleRef> ChainSampler::epoch(uint64_t run_seed, int64_t epoch, int64_t samples) const {
  if (chains_.empty()) throw std::invalid_argument("chain sampler: no chain passes the training filters");
  at::Generator gen = at::make_generator<at::CPUGeneratorImpl>(sample_seed(run_seed, epoch, -1));
  const at::Tensor w = at::tensor(weights_, at::kDouble);
  const at::Tensor picks = at::multinomial(w, samples, /*replacement=*/true, gen);
  std::vector<SampleRef> refs;
  for (int64_t i = 0; i < samples; ++i) refs.push_back({epoch, i, chains_[picks[i].item<int64_t>()]});
  return refs;
}

}  // namespace fold::data
