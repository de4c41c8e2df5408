// AF2's chain sampling (Supplement 1.2.5): each epoch draws `samples` chains with
// replacement, a chain's weight max(min(L, 512), 256) / 512 divided by the size of its
// sequence cluster (a cluster file as OpenFold's: one cluster per line, chain ids
// separated by spaces; without one every chain is its own cluster). Chains resolved
// worse than the resolution filter or without resolved residues are left out. The draw
// is seeded by (run seed, epoch).
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "data/chain_dataset.h"

namespace fold::data {

// One sample of a run's schedule: the chain drawn at `position` of `epoch`.
struct SampleRef {
  int64_t epoch = 0, position = 0;
  std::string chain;
};

// The sample's seed: a hash of (run seed, epoch, sample index), so neighbouring samples
// get unrelated random streams.
uint64_t sample_seed(uint64_t run_seed, int64_t epoch, int64_t index);

class ChainSampler {
 public:
  // max_resolution: in A, 0 = no filter. cluster_file: empty = no clusters.
  ChainSampler(const std::vector<ChainEntry>& entries, float max_resolution, const std::string& cluster_file = "");
  const std::vector<std::string>& chains() const { return chains_; }
  const std::vector<double>& weights() const { return weights_; }
  // Chains left out, with the reason.
  const std::vector<std::pair<std::string, std::string>>& excluded() const { return excluded_; }
  std::vector<SampleRef> epoch(uint64_t run_seed, int64_t epoch, int64_t samples) const;

 private:
  std::vector<std::string> chains_;
  std::vector<double> weights_;
  std::vector<std::pair<std::string, std::string>> excluded_;
};

}  // namespace fold::data
