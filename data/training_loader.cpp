#include "data/training_loader.h"

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <ATen/Context.h>

#include <algorithm>
#include <fstream>
#include <map>
#include <sstream>

#include "data/parse_error.h"
#include "kernels/device_copy.h"

namespace fold::data {

namespace {

double seconds_since(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}

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

ChainSampler::ChainSampler(const std::vector<ChainEntry>& entries, const TrainingOptions& o,
                           const std::string& cluster_file) {
  const auto clusters = cluster_sizes(cluster_file);
  for (const auto& e : entries) {
    if (o.max_resolution > 0 && e.resolution > o.max_resolution) {
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

TrainingLoader::TrainingLoader(std::shared_ptr<const ChainDataset> dataset, std::vector<SampleRef> schedule,
                               TrainingOptions options, LoaderOptions loader, std::ostream* log)
    : dataset_(std::move(dataset)),
      schedule_(std::move(schedule)),
      options_(std::move(options)),
      loader_(loader),
      log_(log),
      start_(std::chrono::steady_clock::now()) {
  failed_.assign(schedule_.size(), 0);
  if (loader_.workers < 1) throw std::invalid_argument("loader: at least one worker");
  if (loader_.queue_depth < 1) throw std::invalid_argument("loader: queue depth must be at least 1");
  if (loader_.device.is_cuda() && !at::hasCUDA())
    throw std::invalid_argument("loader: samples asked for on " + loader_.device.str() + ", but no GPU is visible");
  for (int i = 0; i < loader_.workers; ++i) threads_.emplace_back([this] { work(); });
}

TrainingLoader::~TrainingLoader() {
  {
    std::lock_guard<std::mutex> lock(m_);
    stopping_ = true;
  }
  space_.notify_all();
  ready_.notify_all();
  for (auto& t : threads_) t.join();
}

void TrainingLoader::work() {
  for (;;) {
    size_t position;
    {
      std::lock_guard<std::mutex> lock(m_);
      if (stopping_ || next_position_ >= schedule_.size()) return;
      position = next_position_++;
    }
    const SampleRef& ref = schedule_[position];
    const auto t0 = std::chrono::steady_clock::now();
    LoadedSample sample{ref, {}, 0};
    std::string failure;
    try {
      const ChainRecord record = dataset_->read(ref.chain);
      sample.features =
          make_training_sample(record, options_, sample_seed(loader_.run_seed, ref.epoch, ref.position));
      if (loader_.device.is_cuda())
        for (auto& [name, t] : sample.features) t = t.pin_memory();
    } catch (const std::exception& e) {
      failure = e.what();
    }
    sample.seconds = seconds_since(t0);
    std::unique_lock<std::mutex> lock(m_);
    if (!failure.empty()) {
      ++stats_.skipped;
      skipped_.emplace_back(ref, failure);
      failed_[position] = 1;
      if (log_)
        *log_ << "[loader] skipped sample " << ref.epoch << "/" << ref.position << " (chain " << ref.chain
              << "): " << failure << "\n";
      ++finished_;
      ready_.notify_all();
      space_.notify_all();
      continue;
    }
    // In ordered mode the sample next() waits for always gets in, or a full queue of
    // later samples would deadlock.
    space_.wait(lock, [&] {
      return stopping_ || queue_.size() < loader_.queue_depth || (loader_.ordered && position == expected_index());
    });
    if (stopping_) return;
    queue_.emplace_back(position, std::move(sample));
    ++finished_;
    ready_.notify_all();
  }
}

std::optional<LoadedSample> TrainingLoader::next() {
  const auto t0 = std::chrono::steady_clock::now();
  std::unique_lock<std::mutex> lock(m_);
  auto deliverable = queue_.end();
  ready_.wait(lock, [&] {
    if (loader_.ordered) {
      const size_t want = expected_index();
      deliverable = std::find_if(queue_.begin(), queue_.end(), [&](const auto& q) { return q.first == want; });
      return deliverable != queue_.end() || want == schedule_.size();
    }
    deliverable = queue_.begin();
    return !queue_.empty() || finished_ == schedule_.size();
  });
  stats_.last_wait_seconds = seconds_since(t0);
  stats_.wait_seconds += stats_.last_wait_seconds;
  if (deliverable == queue_.end()) return std::nullopt;
  LoadedSample sample = std::move(deliverable->second);
  queue_.erase(deliverable);
  if (loader_.ordered) ++deliver_next_;
  ++stats_.delivered;
  space_.notify_all();
  lock.unlock();
  if (loader_.device.is_cuda()) {
    std::vector<at::Tensor> host;
    for (const auto& [name, t] : sample.features) host.push_back(t);
    const auto on_device = kernels::copy_to_device_on_side_stream(host, loader_.device);
    size_t i = 0;
    for (auto& [name, t] : sample.features) t = on_device[i++];
  }
  return sample;
}

size_t TrainingLoader::expected_index() {
  while (deliver_next_ < schedule_.size() && failed_[deliver_next_]) ++deliver_next_;
  return deliver_next_;
}

LoaderStats TrainingLoader::stats() const {
  std::lock_guard<std::mutex> lock(m_);
  LoaderStats s = stats_;
  s.elapsed_seconds = seconds_since(start_);
  return s;
}

std::vector<std::pair<SampleRef, std::string>> TrainingLoader::skipped() const {
  std::lock_guard<std::mutex> lock(m_);
  return skipped_;
}

}  // namespace fold::data
