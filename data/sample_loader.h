// A non-blocking loader of worker threads over a schedule of samples, for any sample
// function (the trainer's is AF2's training transforms, fold/features/training_loader.h).
//
// `workers` threads each take the next position of the schedule, make its sample with
// make(ref, sample_seed(run seed, epoch, position)) and put it in a queue of at most
// `queue_depth` finished samples. next() returns whichever sample is ready first, so one
// slow sample does not stall the others; each carries its (epoch, position), which the
// trainer logs, so a run can be replayed exactly. A sample whose function throws is
// logged with its chain and reason and skipped. With a CUDA `device`, workers put
// samples in pinned memory, ready for an asynchronous copy to the GPU.
#pragma once

#include <c10/core/Device.h>

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <optional>
#include <ostream>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "data/chain_sampler.h"
#include "data/feature_dict.h"

namespace fold::data {

struct LoaderOptions {
  int workers = 2;
  size_t queue_depth = 4;
  at::Device device = at::kCPU;  // where the samples are going (CUDA: pinned host memory)
  uint64_t run_seed = 0;
  // Deliver samples in schedule order (a slow sample then holds back the ones after it):
  // what an exactly reproducible or resumable run needs, since the order of samples is
  // the order of optimizer updates.
  bool ordered = false;
};

struct LoadedSample {
  SampleRef ref;
  FeatureDict features;
  double seconds = 0;  // the worker's time to make it
};

struct LoaderStats {
  int64_t delivered = 0, skipped = 0;
  double wait_seconds = 0;       // total time next() waited for a sample
  double last_wait_seconds = 0;  // that of the latest next()
  double elapsed_seconds = 0;    // since the loader started
  double samples_per_second() const { return elapsed_seconds > 0 ? delivered / elapsed_seconds : 0.0; }
};

class SampleLoader {
 public:
  // Called from the worker threads at once: must be thread-safe.
  using MakeSample = std::function<FeatureDict(const SampleRef& ref, uint64_t seed)>;

  SampleLoader(std::vector<SampleRef> schedule, MakeSample make, LoaderOptions loader, std::ostream* log = nullptr);
  ~SampleLoader();
  SampleLoader(const SampleLoader&) = delete;
  SampleLoader& operator=(const SampleLoader&) = delete;

  // The next finished sample, nullopt once the schedule is exhausted.
  std::optional<LoadedSample> next();
  LoaderStats stats() const;
  // (sample, reason) of every skipped sample so far.
  std::vector<std::pair<SampleRef, std::string>> skipped() const;

 private:
  void work();
  // Ordered mode: the schedule index next() must deliver next, past skipped samples.
  size_t expected_index();

  std::vector<SampleRef> schedule_;
  MakeSample make_;
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
