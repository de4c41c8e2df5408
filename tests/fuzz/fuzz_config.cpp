// The TOML configuration (user config files over configs/base.toml).
#include "fold/config.h"
#include "tests/fuzz/fuzz_target.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  // A user config file overlaid on the schema, as fold --config FILE does.
  fold::fuzz::value_or_error<fold::ConfigError>([&] {
    fold::Config config;
    config.merge(std::string(fold::fuzz::as_text(data, size)), "input.toml");
  });
  return 0;
}
