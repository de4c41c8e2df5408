// NumPy .npz archives (AF2 parameters, feature batches): zip, zip64, deflate, .npy headers.
#include "data/npz.h"
#include "data/parse_error.h"
#include "tests/fuzz/fuzz_target.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = fold::fuzz::as_file(data, size, "input.npz");
  fold::fuzz::value_or_error<fold::data::ParseError>([&] { fold::data::read_npz(path); });
  return 0;
}
