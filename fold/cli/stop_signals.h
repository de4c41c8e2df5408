// Ctrl-C and SIGTERM (what SLURM sends a job before it kills it) as a request to stop
// cleanly: the first sets a flag the command polls and prints the command's message;
// a second kills as usual (SA_RESETHAND). A signal that is ignored (a background job
// started by a shell without job control ignores SIGINT) stays ignored. One instance
// at a time; the previous handlers come back when it ends.
#pragma once

#include <signal.h>

#include <atomic>

namespace fold::cli {

class StopSignals {
 public:
  // `message` (a string literal) is written to stderr when the first signal arrives.
  explicit StopSignals(const char* message);
  ~StopSignals();
  StopSignals(const StopSignals&) = delete;
  StopSignals& operator=(const StopSignals&) = delete;

  const std::atomic<bool>* flag() const;

 private:
  struct sigaction old_[2] {};
};

}  // namespace fold::cli
