// PDB-format structures through the gemmi layer.
#include "data/parse_error.h"
#include "data/protein.h"
#include "tests/fuzz/fuzz_target.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  // What fold inspect and fold prepare/predict do with a structure file.
  const std::string path = fold::fuzz::as_file(data, size, "input.pdb");
  fold::fuzz::value_or_error<fold::data::ParseError>([&] { fold::data::summarize_structure(path); });
  fold::fuzz::value_or_error<fold::data::ParseError>([&] { fold::data::read_protein(path); });
  return 0;
}
