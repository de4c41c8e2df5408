// The contract every reader keeps, checked by each fuzz target: any input becomes a value
// or one clear error, an exception of the reader's documented type with a message.
// Anything else is a finding: another exception type (it escapes and aborts), a crash,
// a hang (libFuzzer's -timeout), an allocation past -malloc_limit_mb, or a sanitizer
// report.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>

#include "data/subprocess.h"

namespace fold::fuzz {

inline std::string_view as_text(const uint8_t* data, size_t size) {
  return {reinterpret_cast<const char*>(data), size};
}

// Runs `read`; an exception of type Error must carry a message.
template <class Error, class Read>
void value_or_error(Read&& read) {
  try {
    read();
  } catch (const Error& e) {
    if (e.what() == nullptr || *e.what() == '\0') {
      std::fprintf(stderr, "reader threw an error without a message\n");
      std::abort();
    }
  }
}

// A per-process scratch folder, in shared memory when there is some; removed at exit.
inline const data::WorkDir& scratch_dir() {
  static const data::WorkDir dir(std::filesystem::exists("/dev/shm") ? "/dev/shm" : "", "fold_fuzz");
  return dir;
}

// For readers that take a path (the format is told by the extension): the input as the
// file `name` in the scratch folder.
inline std::string as_file(const uint8_t* data, size_t size, const std::string& name) {
  const std::string path = scratch_dir().file(name);
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
  if (!out.flush()) {
    std::fprintf(stderr, "cannot write the fuzz input to %s\n", path.c_str());
    std::abort();
  }
  return path;
}

}  // namespace fold::fuzz
