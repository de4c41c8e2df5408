// The one-line progress bar of long jobs (ARCHITECTURE.md, Outputs: `fold prepare`, `fold train`):
//   [########......] 12/40 <detail> | 1m05s elapsed, ETA 2m31s
// redrawn in place on a terminal stream; silent when disabled. Thread-safe.
#pragma once

#include <chrono>
#include <cstdint>
#include <iosfwd>
#include <mutex>
#include <string>

namespace fold::data {

class ProgressBar {
 public:
  ProgressBar(std::ostream& out, int64_t total, bool enabled);
  // One more unit done; `detail` follows the count (e.g. "files, 7 chains").
  void advance(const std::string& detail);

 private:
  std::ostream& out_;
  int64_t total_, done_ = 0;
  bool enabled_;
  std::chrono::steady_clock::time_point start_;
  std::mutex m_;
};

}  // namespace fold::data
