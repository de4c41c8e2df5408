// FASTA (query sequences of fold predict and fold msa).
#include "data/fasta.h"
#include "data/parse_error.h"
#include "tests/fuzz/fuzz_target.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  fold::fuzz::value_or_error<fold::data::ParseError>(
      [&] { fold::data::parse_fasta(fold::fuzz::as_text(data, size), "input.fasta"); });
  return 0;
}
