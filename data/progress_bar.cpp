#include "data/progress_bar.h"

#include <algorithm>
#include <iomanip>
#include <ostream>
#include <sstream>

namespace fold::data {

namespace {

std::string format_duration(double seconds) {
  const auto s = static_cast<int64_t>(std::max(0.0, seconds));
  std::ostringstream out;
  if (s >= 3600) out << s / 3600 << "h";
  if (s >= 60) out << std::setw(s >= 3600 ? 2 : 1) << std::setfill('0') << (s / 60) % 60 << "m";
  out << std::setw(s >= 60 ? 2 : 1) << std::setfill('0') << s % 60 << "s";
  return out.str();
}

}  // namespace

ProgressBar::ProgressBar(std::ostream& out, int64_t total, bool enabled)
    : out_(out), total_(total), enabled_(enabled), start_(std::chrono::steady_clock::now()) {}

void ProgressBar::advance(const std::string& detail) {
  std::lock_guard<std::mutex> lock(m_);
  ++done_;
  if (!enabled_) return;
  constexpr int64_t kWidth = 30;
  const int64_t filled = total_ > 0 ? std::min(kWidth, done_ * kWidth / total_) : kWidth;
  const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  const double eta = done_ > 0 ? elapsed / static_cast<double>(done_) * static_cast<double>(total_ - done_) : 0.0;
  out_ << "\r[" << std::string(filled, '#') << std::string(kWidth - filled, '.') << "] " << done_ << "/" << total_ << " "
       << detail << " | " << format_duration(elapsed) << " elapsed, ETA " << format_duration(eta) << "   "
       << (done_ >= total_ ? "\n" : "") << std::flush;
}

}  // namespace fold::data
