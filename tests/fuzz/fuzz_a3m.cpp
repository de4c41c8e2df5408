// A3M and A2M alignments (HHblits, ColabFold, OpenFold precomputed alignments).
#include "data/msa.h"
#include "data/parse_error.h"
#include "tests/fuzz/fuzz_target.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  fold::fuzz::value_or_error<fold::data::ParseError>(
      [&] { fold::data::parse_a3m(fold::fuzz::as_text(data, size), "input.a3m"); });
  return 0;
}
