#include "dap/launcher.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <iostream>
#include <stdexcept>
#include <algorithm>
#include <thread>

namespace fold::dap {

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

}  // namespace

int launch(const LaunchOptions& o) {
  if (o.nproc < 1) throw std::invalid_argument("fold launch: --nproc must be >= 1");
  if (o.nnodes < 1 || o.node_rank < 0 || o.node_rank >= o.nnodes)
    throw std::invalid_argument("fold launch: --node-rank " + std::to_string(o.node_rank) + " is outside --nnodes " +
                                std::to_string(o.nnodes));
  if (o.command.empty()) throw std::invalid_argument("fold launch: no command after --");
  if (o.nnodes > 1 && (o.master_addr.empty() || o.master_port == 0))
    throw std::invalid_argument("fold launch: several nodes need --master ADDR:PORT (rank 0's node)");
  const std::string addr = o.master_addr.empty() ? "127.0.0.1" : o.master_addr;
  const int port = o.master_port > 0 ? o.master_port : free_port();
  const int world = o.nproc * o.nnodes;
  const std::string program = o.command[0] == "fold" ? self_executable() : o.command[0];

  struct sigaction sa{};
  sa.sa_handler = on_signal;
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);

  std::vector<Rank> ranks(o.nproc);
  for (int l = 0; l < o.nproc; ++l) {
    int out[2], err[2];
    if (pipe(out) != 0 || pipe(err) != 0) throw std::runtime_error(std::string("fold launch: pipe: ") + std::strerror(errno));
    Rank& r = ranks[l];
    r.rank = o.node_rank * o.nproc + l;
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
      setenv("WORLD_SIZE", std::to_string(world).c_str(), 1);
      setenv("LOCAL_RANK", std::to_string(l).c_str(), 1);
      setenv("LOCAL_WORLD_SIZE", std::to_string(o.nproc).c_str(), 1);
      setenv("GROUP_RANK", std::to_string(o.node_rank).c_str(), 1);
      setenv("MASTER_ADDR", addr.c_str(), 1);
      setenv("MASTER_PORT", std::to_string(port).c_str(), 1);
      std::vector<char*> argv;
      argv.push_back(const_cast<char*>(program.c_str()));
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
  }

  int first_failure = 0;
  bool stopping = false;
  auto all_exited_at = std::chrono::steady_clock::time_point::max();
  auto stop_deadline = std::chrono::steady_clock::time_point::max();
  const auto stop_all = [&](int sig) {
    for (const Rank& r : ranks)
      if (r.running) kill(-r.pid, sig);
  };
  for (;;) {
    std::vector<pollfd> fds;
    std::vector<std::pair<Rank*, bool>> who;  // (rank, is stderr)
    for (Rank& r : ranks) {
      if (r.out >= 0) fds.push_back({r.out, POLLIN, 0}), who.push_back({&r, false});
      if (r.err >= 0) fds.push_back({r.err, POLLIN, 0}), who.push_back({&r, true});
    }
    if (!fds.empty() && poll(fds.data(), fds.size(), 200) > 0) {
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
    } else if (fds.empty()) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    bool any_running = false;
    for (Rank& r : ranks) {
      if (!r.running) continue;
      int status = 0;
      const pid_t w = waitpid(r.pid, &status, WNOHANG);
      if (w == r.pid) {
        r.running = false;
        r.code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
        if (r.code != 0 && first_failure == 0 && !stopping) {
          first_failure = r.code;
          std::cerr << "[launch] rank " << r.rank << " exited with code " << r.code << "; stopping the other ranks\n";
          stopping = true;
          stop_deadline = std::chrono::steady_clock::now() + std::chrono::seconds(o.grace_seconds);
          stop_all(SIGTERM);
        }
      } else {
        any_running = true;
      }
    }
    if (interrupted && !stopping) {
      std::cerr << "[launch] signal " << interrupted << ": stopping the ranks\n";
      first_failure = 128 + interrupted;
      stopping = true;
      stop_deadline = std::chrono::steady_clock::now() + std::chrono::seconds(o.grace_seconds);
      stop_all(SIGTERM);
    }
    if (stopping && std::chrono::steady_clock::now() > stop_deadline) {
      stop_all(SIGKILL);
      stop_deadline = std::chrono::steady_clock::time_point::max();
    }
    const bool any_pipe = std::any_of(ranks.begin(), ranks.end(), [](const Rank& r) { return r.out >= 0 || r.err >= 0; });
    if (!any_running && all_exited_at == std::chrono::steady_clock::time_point::max())
      all_exited_at = std::chrono::steady_clock::now();
    // A daemon a rank left behind may hold a pipe open: its output is not waited for.
    if (!any_running && (!any_pipe || std::chrono::steady_clock::now() - all_exited_at > std::chrono::seconds(2))) break;
  }
  return first_failure;
}

}  // namespace fold::dap
