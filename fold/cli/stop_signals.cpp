#include "fold/cli/stop_signals.h"

#include <unistd.h>

#include <cstring>

namespace fold::cli {

namespace {

std::atomic<bool> g_requested{false};
const char* g_message = "";

extern "C" void on_stop_signal(int) {
  g_requested.store(true);
  [[maybe_unused]] const ssize_t n = ::write(2, g_message, std::strlen(g_message));
}

void install(int sig, struct sigaction& old) {
  sigaction(sig, nullptr, &old);
  if (old.sa_handler == SIG_IGN) return;
  struct sigaction sa {};
  sa.sa_handler = on_stop_signal;
  sigemptyset(&sa.sa_mask);
  // SA_RESTART: a signal during a system call (a collective's socket read) resumes it.
  sa.sa_flags = SA_RESETHAND | SA_RESTART;
  sigaction(sig, &sa, nullptr);
}

}  // namespace

StopSignals::StopSignals(const char* message) {
  g_message = message;
  g_requested.store(false);
  install(SIGINT, old_[0]);
  install(SIGTERM, old_[1]);
}

StopSignals::~StopSignals() {
  sigaction(SIGINT, &old_[0], nullptr);
  sigaction(SIGTERM, &old_[1], nullptr);
}

const std::atomic<bool>* StopSignals::flag() const { return &g_requested; }

}  // namespace fold::cli
