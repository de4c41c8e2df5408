// The external programs the pipeline runs (HMMER, MMseqs2, HH-suite; OpenMM's Python for
// relaxation): found as a shell finds them, run without a shell, their output kept in a
// log whose end becomes the error message when they fail.
#pragma once

#include <atomic>
#include <stdexcept>
#include <string>
#include <vector>

namespace fold::data {

class SubprocessError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// The program's full path: a name with a '/' as given, otherwise the first executable
// file of that name on PATH. Empty when there is none.
std::string find_program(const std::string& binary);

// Runs argv (argv[0] a path) with stdout and stderr in `log` and stdin from /dev/null;
// throws SubprocessError naming `what`, with the command and the end of its log,
// unless it exits with 0. With a cancel flag, the program gets its own process group,
// all of which is terminated when the flag becomes true (SubprocessError "interrupted");
// without one it stays in ours, so a Ctrl-C that ends this process ends it too.
void run_program(const std::vector<std::string>& argv, const std::string& log, const std::string& what,
                 const std::atomic<bool>* cancel = nullptr);

// A scratch folder for a program's work files: created under `parent` (empty: $TMPDIR
// or /tmp) as <prefix>-XXXXXX, removed with everything in it when this goes. Throws
// SubprocessError naming the parent when it cannot be created.
class WorkDir {
 public:
  WorkDir(const std::string& parent, const std::string& prefix);
  ~WorkDir();
  WorkDir(const WorkDir&) = delete;
  WorkDir& operator=(const WorkDir&) = delete;
  const std::string& path() const { return path_; }
  std::string file(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

// The last lines of a log (where HMMER, MMseqs2 and HH-suite print why they failed).
std::string log_tail(const std::string& path, size_t max_lines = 15, size_t max_chars = 2000);

}  // namespace fold::data
