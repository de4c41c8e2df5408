// fold_bench_loader: throughput of the training data path (HDF5 read + AF2 training
// transforms, data/training_loader) at AF2's initial-training shapes. Not a test.
//
// usage: fold_bench_loader DATASET.h5 [--workers 1,2] [--samples 24] [--crop 256]
//        [--clusters 128] [--extra 1024] [--seed 0]
// Prints, per worker count: samples/s over the run (queue started empty), per-sample
// latency (one worker's read + transform time: median, mean, max) and the mean wait of
// a consumer that takes samples back to back (an upper bound on a step's data wait).
#include <ATen/Parallel.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <numeric>
#include <sstream>
#include <string>
#include <vector>

#include "fold/features/training_loader.h"

namespace {

std::vector<int> int_list(const std::string& s) {
  std::vector<int> v;
  std::stringstream ss(s);
  for (std::string x; std::getline(ss, x, ',');) v.push_back(std::stoi(x));
  return v;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2 || std::string(argv[1]) == "--help") {
    std::cerr << "usage: fold_bench_loader DATASET.h5 [--workers 1,2] [--samples N] [--crop N] [--clusters N] "
                 "[--extra N] [--seed S]\n";
    return 2;
  }
  const std::string path = argv[1];
  std::vector<int> workers = {1, 2};
  int64_t samples = 24, seed = 0;
  fold::features::TrainingOptions o;
  o.crop_size = 256;
  o.sampling.max_msa_clusters = 128;
  o.sampling.max_extra_msa = 1024;
  for (int i = 2; i + 1 < argc; i += 2) {
    const std::string key = argv[i], value = argv[i + 1];
    if (key == "--workers") workers = int_list(value);
    else if (key == "--samples") samples = std::stoll(value);
    else if (key == "--crop") o.crop_size = std::stoll(value);
    else if (key == "--clusters") o.sampling.max_msa_clusters = std::stoll(value);
    else if (key == "--extra") o.sampling.max_extra_msa = std::stoll(value);
    else if (key == "--seed") seed = std::stoll(value);
    else {
      std::cerr << "fold_bench_loader: unknown option " << key << "\n";
      return 2;
    }
  }
  const auto dataset = std::make_shared<const fold::data::ChainDataset>(path);
  const fold::data::ChainSampler sampler(dataset->entries(), o.max_resolution);
  const auto schedule = sampler.epoch(seed, 0, samples);
  std::printf("dataset %s: %zu chains; crop %lld, %lld clusters, %lld extra rows; %lld samples; %d intra-op threads\n\n",
              path.c_str(), dataset->size(), static_cast<long long>(o.crop_size),
              static_cast<long long>(o.sampling.max_msa_clusters), static_cast<long long>(o.sampling.max_extra_msa),
              static_cast<long long>(samples), at::get_num_threads());
  std::printf("| workers | samples/s | latency median (s) | latency mean (s) | latency max (s) | mean wait per take (s) |\n");
  std::printf("|---|---|---|---|---|---|\n");
  for (int w : workers) {
    fold::data::LoaderOptions l;
    l.workers = w;
    l.queue_depth = static_cast<size_t>(2 * w);
    l.run_seed = static_cast<uint64_t>(seed);
    fold::features::TrainingLoader loader(dataset, schedule, o, l, &std::cerr);
    std::vector<double> latency;
    while (auto s = loader.next()) latency.push_back(s->seconds);
    const auto stats = loader.stats();
    std::sort(latency.begin(), latency.end());
    const double mean = std::accumulate(latency.begin(), latency.end(), 0.0) / std::max<size_t>(1, latency.size());
    std::printf("| %d | %.2f | %.3f | %.3f | %.3f | %.3f |\n", w, stats.samples_per_second(),
                latency.empty() ? 0.0 : latency[latency.size() / 2], mean, latency.empty() ? 0.0 : latency.back(),
                stats.wait_seconds / std::max<int64_t>(1, stats.delivered));
  }
  return 0;
}
