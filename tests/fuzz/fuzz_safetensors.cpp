// safetensors files (weights, training checkpoints).
#include "data/parse_error.h"
#include "data/safetensors.h"
#include "tests/fuzz/fuzz_target.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = fold::fuzz::as_file(data, size, "input.safetensors");
  fold::fuzz::value_or_error<fold::data::ParseError>([&] { fold::data::read_safetensors(path); });
  return 0;
}
