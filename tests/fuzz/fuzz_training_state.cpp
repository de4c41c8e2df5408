// The training checkpoint's state.json.
#include <stdexcept>

#include "data/training_checkpoint.h"
#include "tests/fuzz/fuzz_target.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  // What fold train --resume does with state.json: parse it, then restore the RNG.
  fold::fuzz::value_or_error<std::runtime_error>([&] {
    const auto state = fold::data::parse_training_state(std::string(fold::fuzz::as_text(data, size)), "state.json");
    fold::fuzz::value_or_error<std::invalid_argument>([&] { fold::data::set_cpu_rng_state(state.cpu_rng); });
  });
  return 0;
}
