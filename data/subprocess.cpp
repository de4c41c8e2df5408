#include "data/subprocess.h"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "data/text_file.h"

extern char** environ;

namespace fold::data {

namespace {

bool is_executable_file(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode) && ::access(path.c_str(), X_OK) == 0;
}

std::string shell_quote_join(const std::vector<std::string>& argv) {
  std::string s;
  for (const auto& a : argv) {
    if (!s.empty()) s += ' ';
    const bool plain = !a.empty() && a.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                                         "0123456789_-./=:,+") == std::string::npos;
    s += plain ? a : "'" + a + "'";
  }
  return s;
}

bool cancelled(const std::atomic<bool>* cancel) { return cancel != nullptr && cancel->load(); }

}  // namespace

WorkDir::WorkDir(const std::string& parent, const std::string& prefix) {
  const std::string base = parent.empty() ? std::filesystem::temp_directory_path().string() : parent;
  std::error_code ec;
  std::filesystem::create_directories(base, ec);
  std::string templ = base + "/" + prefix + "-XXXXXX";
  if (::mkdtemp(templ.data()) == nullptr)
    throw SubprocessError("cannot create a work folder in " + base + ": " + std::strerror(errno));
  path_ = templ;
}

WorkDir::~WorkDir() { remove_tree(path_); }

std::string find_program(const std::string& binary) {
  if (binary.empty()) return "";
  if (binary.find('/') != std::string::npos) return is_executable_file(binary) ? binary : "";
  const char* path_env = std::getenv("PATH");
  const std::string path = path_env != nullptr ? path_env : "/usr/local/bin:/usr/bin:/bin";
  size_t start = 0;
  while (start <= path.size()) {
    size_t end = path.find(':', start);
    if (end == std::string::npos) end = path.size();
    const std::string dir = end > start ? path.substr(start, end - start) : ".";
    const std::string candidate = dir + "/" + binary;
    if (is_executable_file(candidate)) return candidate;
    start = end + 1;
  }
  return "";
}

// posix_spawn rather than system(): no shell quoting of user paths, and safe to call
// from worker threads. With a cancel flag, waiting polls so a cancel is seen while the
// program runs.
void run_program(const std::vector<std::string>& argv, const std::string& log, const std::string& what,
                 const std::atomic<bool>* cancel) {
  if (cancelled(cancel)) throw SubprocessError(what + ": interrupted");
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&actions, 1, log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_adddup2(&actions, 1, 2);
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  if (cancel != nullptr) {
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP);
    posix_spawnattr_setpgroup(&attr, 0);
  }
  pid_t pid = 0;
  const int rc = ::posix_spawn(&pid, argv[0].c_str(), &actions, &attr, args.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  if (rc != 0) {
    throw SubprocessError(what + ": cannot start " + argv[0] + ": " + std::strerror(rc));
  }
  int status = 0;
  bool terminated = false;
  for (;;) {
    const pid_t done = ::waitpid(pid, &status, cancel != nullptr ? WNOHANG : 0);
    if (done == pid) break;
    if (done < 0 && errno != EINTR) throw SubprocessError(what + ": waitpid failed: " + std::strerror(errno));
    if (done == 0) {
      if (!terminated && cancelled(cancel)) {
        ::kill(-pid, SIGTERM);
        terminated = true;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  }
  if (terminated) throw SubprocessError(what + ": interrupted");
  if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return;
  const std::string how = WIFEXITED(status) ? "exit status " + std::to_string(WEXITSTATUS(status))
                                            : "killed by signal " + std::to_string(WTERMSIG(status));
  throw SubprocessError(what + " failed (" + how + ")\n  command: " + shell_quote_join(argv) + "\n  output:\n" +
                       log_tail(log));
}

std::string log_tail(const std::string& path, size_t max_lines, size_t max_chars) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  std::string text = ss.str();
  while (!text.empty() && is_space(text.back())) text.pop_back();
  size_t pos = text.size();
  for (size_t lines = 0; pos > 0 && lines < max_lines; ++lines) {
    const size_t nl = text.rfind('\n', pos - 1);
    pos = nl == std::string::npos ? 0 : nl;
  }
  std::string tail = text.substr(pos);
  if (tail.size() > max_chars) tail = "..." + tail.substr(tail.size() - max_chars);
  while (!tail.empty() && is_space(tail.front())) tail.erase(tail.begin());
  return tail.empty() ? "(no output)" : tail;
}

}  // namespace fold::data
