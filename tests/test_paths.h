// Where tests find real data: ../shared/data beside the checkout (read in place) and
// the Debian example packages that tools/setup.sh unpacks into examples/.cache.
#pragma once

#include <unistd.h>

#include <filesystem>
#include <string>

namespace fold::test {

inline std::filesystem::path source_dir() { return FOLD_SOURCE_DIR; }
inline std::filesystem::path shared_data() { return source_dir() / ".." / "shared" / "data"; }
inline std::filesystem::path examples() { return source_dir() / "examples" / ".cache"; }

// Usage: FOLD_REQUIRE_FILE(path); skips the test, saying why, when the file is absent.
#define FOLD_REQUIRE_FILE(p)                                                                     \
  do {                                                                                           \
    if (!std::filesystem::exists(p))                                                             \
      GTEST_SKIP() << "test data not present: " << (p).string()                                  \
                   << " (../shared/data is read in place; examples come from tools/setup.sh)";   \
  } while (0)

// A unique path in the temporary folder, removed by the caller.
inline std::filesystem::path temp_path(const std::string& name) {
  static int counter = 0;
  return std::filesystem::temp_directory_path() /
         ("fold_test_" + std::to_string(::getpid()) + "_" + std::to_string(counter++) + "_" + name);
}

}  // namespace fold::test
