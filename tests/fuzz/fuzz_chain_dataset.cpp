// The HDF5 chain dataset of fold prepare and fold train, from a file image in memory.
#include "data/chain_dataset.h"
#include "data/parse_error.h"
#include "tests/fuzz/fuzz_target.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  // The whole file image through HDF5's in-memory driver; every chain it lists is read, as
  // the training loader would.
  fold::fuzz::value_or_error<fold::data::ParseError>([&] {
    const fold::data::ChainDataset dataset("input.h5", fold::fuzz::as_text(data, size));
    for (const auto& entry : dataset.entries())
      fold::fuzz::value_or_error<fold::data::ParseError>([&] { dataset.read(entry.id); });
  });
  return 0;
}
