// What the test suites share: where they find real data (../shared/data beside the
// checkout, read in place, and the Debian example packages that tools/setup.sh unpacks
// into examples/.cache), skipping with a printed reason when it is absent, and the
// ParseError expectation of the parser suites.
#pragma once

#include <unistd.h>

#include <gtest/gtest.h>

#include <filesystem>
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

}  // namespace fold::test
