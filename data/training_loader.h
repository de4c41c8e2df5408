// What the trainer draws samples from: AF2's chain sampling (Supplement 1.2.5) and a
// non-blocking loader of worker threads.
//
// Sampling: each epoch draws `samples_per_epoch` chains with replacement, a chain's
// weight max(min(L, 512), 256) / 512 divided by the size of its sequence cluster (a
// cluster file as OpenFold's: one cluster per line, chain ids separated by spaces;
// without one every chain is its own cluster). Chains failing the resolution filter or
// without resolved residues are left out. The draw is seeded by (run seed, epoch).
//
// Loading: `workers` threads each take the next position of the schedule, read the
// chain, make its sample (make_training_sample with sample_seed(run seed, epoch,
// position)) and put it in a queue of at most `queue_depth` finished samples. next()
// returns whichever sample is ready first, so one slow sample does not stall the
// others; each carries its (epoch, position), which the trainer logs, so a run can be
// replayed exactly. A sample that fails (unreadable group, no resolved atoms, ...) is
// logged with its chain and reason and skipped. With a CUDA `device`, workers put
// samples in pinned memory and next() copies them to the GPU on a side stream
// (kernels/device_copy.h), so the copy overlaps the running step.
#pragma once

#include <c10/core/Device.h>

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <ostream>
#include <string>
#include <thread>
#include <vector>

#include "data/chain_dataset.h"
#include "data/training_sample.h"

namespace fold::data {

struct SampleRef {
  int64_t epoch = 0, position = 0;
  std::string chain;
};

class ChainSampler {
 public:
  // cluster_file: empty = no clusters.
  ChainSampler(const std::vector<ChainEntry>& entries, const TrainingOptions& options,
               const std::string& cluster_file = "");
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

struct LoaderOptions {
  int workers = 2;
  size_t queue_depth = 4;
  at::Device device = at::kCPU;  // where next() delivers samples
  uint64_t run_seed = 0;
  // Deliver samples in schedule order (a slow sample then holds back the ones after it):
  // what an exactly reproducible or resumable run needs, since the order of samples is
  // the order of optimizer updates.
  bool ordered = false;
};

struct LoadedSample {
  SampleRef ref;
  FeatureDict features;
  double seconds = 0;  // the worker's time to read and transform it
};

struct LoaderStats {
  int64_t delivered = 0, skipped = 0;
  double wait_seconds = 0;       // total time next() waited for a sample
  double last_wait_seconds = 0;  // that of the latest next()
  double elapsed_seconds = 0;    // since the loader started
  double samples_per_second() const { return elapsed_seconds > 0 ? delivered / elapsed_seconds : 0.0; }
};

class TrainingLoader {
 public:
  TrainingLoader(std::shared_ptr<const ChainDataset> dataset, std::vector<SampleRef> schedule,
                 TrainingOptions options, LoaderOptions loader, std::ostream* log = nullptr);
  ~TrainingLoader();
  TrainingLoader(const TrainingLoader&) = delete;
  TrainingLoader& operator=(const TrainingLoader&) = delete;

  // The next finished sample, nullopt once the schedule is exhausted.
  std::optional<LoadedSample> next();
  LoaderStats stats() const;
  // (chain, reason) of every skipped sample so far.
  std::vector<std::pair<SampleRef, std::string>> skipped() const;

 private:
  void work();
  // Ordered mode: the schedule index next() must deliver next, past skipped samples.
  size_t expected_index();

  std::shared_ptr<const ChainDataset> dataset_;
  std::vector<SampleRef> schedule_;
  TrainingOptions options_;
  LoaderOptions loader_;
  std::ostream* log_;
  mutable std::mutex m_;
  std::condition_variable ready_, space_;
  std::deque<std::pair<size_t, LoadedSample>> queue_;  // (schedule index, sample)
  size_t next_position_ = 0, finished_ = 0, deliver_next_ = 0;
  std::vector<char> failed_;  // per schedule index
  bool stopping_ = false;
  LoaderStats stats_;
  std::vector<std::pair<SampleRef, std::string>> skipped_;
  std::chrono::steady_clock::time_point start_;
  std::vector<std::thread> threads_;
};

}  // namespace fold::data
