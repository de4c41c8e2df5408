#include "data/sample_loader.h"

#include <ATen/ATen.h>
#include <ATen/Context.h>

#include <algorithm>
#include <stdexcept>

namespace fold::data {

namespace {

double seconds_since(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}

}  // namespace

SampleLoader::SampleLoader(std::vector<SampleRef> schedule, MakeSample make, LoaderOptions loader, std::ostream* log)
    : schedule_(std::move(schedule)),
      make_(std::move(make)),
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

SampleLoader::~SampleLoader() {
  {
    std::lock_guard<std::mutex> lock(m_);
    stopping_ = true;
  }
  space_.notify_all();
  ready_.notify_all();
  for (auto& t : threads_) t.join();
}

void SampleLoader::work() {
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
      sample.features = make_(ref, sample_seed(loader_.run_seed, ref.epoch, ref.position));
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

std::optional<LoadedSample> SampleLoader::next() {
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
  return sample;
}

size_t SampleLoader::expected_index() {
  while (deliver_next_ < schedule_.size() && failed_[deliver_next_]) ++deliver_next_;
  return deliver_next_;
}

LoaderStats SampleLoader::stats() const {
  std::lock_guard<std::mutex> lock(m_);
  LoaderStats s = stats_;
  s.elapsed_seconds = seconds_since(start_);
  return s;
}

std::vector<std::pair<SampleRef, std::string>> SampleLoader::skipped() const {
  std::lock_guard<std::mutex> lock(m_);
  return skipped_;
}

}  // namespace fold::data
