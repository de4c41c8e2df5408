#include "dap/launcher.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <iostream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace fold::launcher {

namespace {

volatile sig_atomic_t interrupted = 0;
void on_signal(int sig) { interrupted = sig; }

int free_port() {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) throw std::runtime_error(std::string("fold launch: socket: ") + std::strerror(errno));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof(addr);
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
      getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    close(fd);
    throw std::runtime_error(std::string("fold launch: no free port: ") + std::strerror(errno));
  }
  close(fd);
  return ntohs(addr.sin_port);
}

std::string self_executable() {
  char buf[4096];
  const ssize_t n = readlink("/proc/self/exe", buf, sizeof(buf) - 1);
  if (n <= 0) return "fold";
  buf[n] = '\0';
  return buf;
}

struct Rank {
  int rank = 0;
  pid_t pid = -1;
  int out = -1, err = -1;           // pipe read ends, -1 once closed
  std::string out_line, err_line;   // partial lines
  bool running = true;
  int code = 0;
};

// Writes the complete lines of `chunk` (after `pending`) with the rank prefix.
void emit(std::string& pending, const char* chunk, size_t n, int rank, std::ostream& os, bool flush_all) {
  pending.append(chunk, n);
  size_t start = 0;
  for (size_t nl; (nl = pending.find('\n', start)) != std::string::npos; start = nl + 1)
    os << "[rank " << rank << "] " << pending.substr(start, nl - start + 1);
  pending.erase(0, start);
  if (flush_all && !pending.empty()) {
    os << "[rank " << rank << "] " << pending << "\n";
    pending.clear();
  }
  os.flush();
}

// The stream hit its end (or failed): its last partial line, then close it.
void finish(int& fd, std::string& pending, int rank, std::ostream& os) {
  emit(pending, "", 0, rank, os, true);
  close(fd);
  fd = -1;
}

using steady = std::chrono::steady_clock;

void check_options(const LaunchOptions& o) {
  if (o.nproc < 1) throw std::invalid_argument("fold launch: --nproc must be >= 1");
  if (o.nnodes < 1 || o.node_rank < 0 || o.node_rank >= o.nnodes)
    throw std::invalid_argument("fold launch: --node-rank " + std::to_string(o.node_rank) + " is outside --nnodes " +
                                std::to_string(o.nnodes));
  if (o.command.empty()) throw std::invalid_argument("fold launch: no command after --");
  if (o.nnodes > 1 && (o.master_addr.empty() || o.master_port == 0))
    throw std::invalid_argument("fold launch: several nodes need --master ADDR:PORT (rank 0's node)");
}

// Where the ranks meet (rank 0's TCPStore) and how many there are, as torchrun tells them.
struct Rendezvous {
  std::string addr;
  int port = 0;
  int world = 0;
  std::string program;
};

// Forks local rank `local` running `o.command` with torchrun's environment variables,
// its stdout and stderr on pipes.
Rank start_rank(const LaunchOptions& o, int local, const Rendezvous& rv) {
  int out[2], err[2];
  if (pipe(out) != 0 || pipe(err) != 0) throw std::runtime_error(std::string("fold launch: pipe: ") + std::strerror(errno));
  Rank r;
  r.rank = o.node_rank * o.nproc + local;
  const pid_t pid = fork();
  if (pid < 0) throw std::runtime_error(std::string("fold launch: fork: ") + std::strerror(errno));
  if (pid == 0) {
    // Its own process group, so stopping a rank also stops what it started (a shell's
    // children would otherwise live on and hold the output pipes open).
    setpgid(0, 0);
    dup2(out[1], STDOUT_FILENO);
    dup2(err[1], STDERR_FILENO);
    close(out[0]), close(out[1]), close(err[0]), close(err[1]);
    setenv("RANK", std::to_string(r.rank).c_str(), 1);
    setenv("WORLD_SIZE", std::to_string(rv.world).c_str(), 1);
    setenv("LOCAL_RANK", std::to_string(local).c_str(), 1);
    setenv("LOCAL_WORLD_SIZE", std::to_string(o.nproc).c_str(), 1);
    setenv("GROUP_RANK", std::to_string(o.node_rank).c_str(), 1);
    setenv("MASTER_ADDR", rv.addr.c_str(), 1);
    setenv("MASTER_PORT", std::to_string(rv.port).c_str(), 1);
    std::vector<char*> argv;
    argv.push_back(const_cast<char*>(rv.program.c_str()));
    for (size_t i = 1; i < o.command.size(); ++i) argv.push_back(const_cast<char*>(o.command[i].c_str()));
    argv.push_back(nullptr);
    execvp(argv[0], argv.data());
    std::fprintf(stderr, "fold launch: cannot run %s: %s\n", argv[0], std::strerror(errno));
    _exit(127);
  }
  close(out[1]);
  close(err[1]);
  setpgid(pid, pid);  // also here: no race with the first kill
  r.pid = pid;
  r.out = out[0];
  r.err = err[0];
  return r;
}

// Copies what the ranks wrote since the last call to our stdout / stderr, whole lines
// with the rank's prefix; waits at most 200 ms for output.
void relay_output(std::vector<Rank>& ranks) {
  std::vector<pollfd> fds;
  std::vector<std::pair<Rank*, bool>> who;  // (rank, is stderr)
  for (Rank& r : ranks) {
    if (r.out >= 0) fds.push_back({r.out, POLLIN, 0}), who.push_back({&r, false});
    if (r.err >= 0) fds.push_back({r.err, POLLIN, 0}), who.push_back({&r, true});
  }
  if (fds.empty()) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    return;
  }
  if (poll(fds.data(), fds.size(), 200) <= 0) return;
  for (size_t i = 0; i < fds.size(); ++i) {
    if (!(fds[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
    Rank& r = *who[i].first;
    char buf[8192];
    int& fd = who[i].second ? r.err : r.out;
    const ssize_t n = read(fd, buf, sizeof(buf));
    std::string& pending = who[i].second ? r.err_line : r.out_line;
    std::ostream& os = who[i].second ? std::cerr : std::cout;
    if (n > 0) {
      emit(pending, buf, static_cast<size_t>(n), r.rank, os, false);
    } else if (n == 0 || errno != EINTR) {
      finish(fd, pending, r.rank, os);
    }
  }
}

// Stopping every rank once one failed or we were signalled: SIGTERM to each rank's
// process group, SIGKILL after the grace period.
class Shutdown {
 public:
  explicit Shutdown(int grace_seconds) : grace_(grace_seconds) {}
  bool started() const { return started_; }
  int code() const { return code_; }
  void start(int code, std::vector<Rank>& ranks) {
    started_ = true;
    code_ = code;
    deadline_ = steady::now() + std::chrono::seconds(grace_);
    signal_running(ranks, SIGTERM);
  }
  void kill_when_overdue(std::vector<Rank>& ranks) {
    if (!started_ || steady::now() <= deadline_) return;
    signal_running(ranks, SIGKILL);
    deadline_ = steady::time_point::max();
  }

 private:
  static void signal_running(std::vector<Rank>& ranks, int sig) {
    for (const Rank& r : ranks)
      if (r.running) kill(-r.pid, sig);
  }
  int grace_;
  bool started_ = false;
  int code_ = 0;
  steady::time_point deadline_ = steady::time_point::max();
};

// Collects the ranks that exited; the first that failed stops the others. Returns
// whether a rank still runs.
bool reap(std::vector<Rank>& ranks, Shutdown& shutdown) {
  bool any_running = false;
  for (Rank& r : ranks) {
    if (!r.running) continue;
    int status = 0;
    if (waitpid(r.pid, &status, WNOHANG) != r.pid) {
      any_running = true;
      continue;
    }
    r.running = false;
    r.code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    if (r.code != 0 && !shutdown.started()) {
      std::cerr << "[launch] rank " << r.rank << " exited with code " << r.code << "; stopping the other ranks\n";
      shutdown.start(r.code, ranks);
    }
  }
  return any_running;
}

}  // namespace

int launch(const LaunchOptions& o) {
  check_options(o);
  Rendezvous rv;
  rv.addr = o.master_addr.empty() ? "127.0.0.1" : o.master_addr;
  rv.port = o.master_port > 0 ? o.master_port : free_port();
  rv.world = o.nproc * o.nnodes;
  rv.program = o.command[0] == "fold" ? self_executable() : o.command[0];

  struct sigaction sa{};
  sa.sa_handler = on_signal;
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);

  std::vector<Rank> ranks;
  for (int l = 0; l < o.nproc; ++l) ranks.push_back(start_rank(o, l, rv));

  Shutdown shutdown(o.grace_seconds);
  auto all_exited_at = steady::time_point::max();
  for (;;) {
    relay_output(ranks);
    const bool any_running = reap(ranks, shutdown);
    if (interrupted && !shutdown.started()) {
      std::cerr << "[launch] signal " << interrupted << ": stopping the ranks\n";
      shutdown.start(128 + interrupted, ranks);
    }
    shutdown.kill_when_overdue(ranks);
    const bool any_pipe = std::any_of(ranks.begin(), ranks.end(), [](const Rank& r) { return r.out >= 0 || r.err >= 0; });
    if (!any_running && all_exited_at == steady::time_point::max()) all_exited_at = steady::now();
    // A daemon a rank left behind may hold a pipe open: its output is not waited for.
    if (!any_running && (!any_pipe || steady::now() - all_exited_at > std::chrono::seconds(2))) break;
  }
  // Signalled, and every rank stopped cleanly (fold train checkpoints and exits 0 on
  // SIGTERM): the job ended as asked.
  if (interrupted && std::all_of(ranks.begin(), ranks.end(), [](const Rank& r) { return r.code == 0; })) {
    std::cerr << "[launch] every rank stopped cleanly after the signal\n";
    return 0;
  }
  return shutdown.code();
}

}  // namespace fold::launcher
