// What the test suites share: where they find real data (../shared/data beside the
// checkout, read in place, and the Debian example packages that tools/setup.sh unpacks
// into examples/.cache), skipping with a printed reason when it is absent, and the
// ParseError expectation of the parser suites.
#pragma once

#include <unistd.h>

#include <gtest/gtest.h>

#include <filesystem>
#include <sys/wait.h>
#include <cstdlib>
#include <sstream>
#include <fstream>
#include <string>

#include "data/parse_error.h"

namespace fold::test {

inline std::filesystem::path source_dir() { return FOLD_SOURCE_DIR; }
inline std::filesystem::path shared_data() { return source_dir() / ".." / "shared" / "data"; }
inline std::filesystem::path examples() { return source_dir() / "examples" / ".cache"; }
inline std::string shared_data(const std::string& rel) { return (shared_data() / rel).string(); }
inline std::string example_cache(const std::string& rel) { return (examples() / rel).string(); }

// Usage: FOLD_REQUIRE_FILE(path); skips the test, saying why, when the file is absent.
#define FOLD_REQUIRE_FILE(p)                                                                     \
  do {                                                                                           \
    if (!std::filesystem::exists(p))                                                             \
      GTEST_SKIP() << "test data not present: " << std::filesystem::path(p).string()             \
                   << " (../shared/data is read in place; examples come from tools/setup.sh)";   \
  } while (0)

// A unique path in the temporary folder, removed by the caller.
inline std::filesystem::path temp_path(const std::string& name) {
  static int counter = 0;
  return std::filesystem::temp_directory_path() /
         ("fold_test_" + std::to_string(::getpid()) + "_" + std::to_string(counter++) + "_" + name);
}

// Runs f, which must throw ParseError, and returns the error for further checks.
template <class F>
fold::data::ParseError expect_parse_error(F&& f) {
  try {
    f();
  } catch (const fold::data::ParseError& e) {
    return e;
  }
  ADD_FAILURE() << "expected a ParseError";
  return fold::data::ParseError("", 0, "none");
}

// Removes a folder and its contents. Not std::filesystem::remove_all: libtorch.so
// exports its own copy of that symbol, which crashed here (torch 2.11 wheel).
inline void remove_tree(const std::filesystem::path& p) {
  const std::string cmd = "rm -rf '" + p.string() + "'";
  if (std::system(cmd.c_str()) != 0) ADD_FAILURE() << "could not remove " << p;
}

inline std::string slurp(const std::filesystem::path& p) {
  std::ifstream in(p);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

#ifdef FOLD_BINARY
struct Outcome {
  int code;
  std::string out, err;
};

// Runs the `fold` binary with `args` (shell syntax) and collects its exit code and output.
inline Outcome run_fold(const std::string& args) {
  const auto out = temp_path("out"), err = temp_path("err");
  const std::string cmd = std::string("'") + FOLD_BINARY + "' " + args + " >" + out.string() + " 2>" + err.string();
  const int status = std::system(cmd.c_str());
  Outcome r{WIFEXITED(status) ? WEXITSTATUS(status) : -1, slurp(out), slurp(err)};
  std::filesystem::remove(out);
  std::filesystem::remove(err);
  return r;
}
#endif

}  // namespace fold::test
