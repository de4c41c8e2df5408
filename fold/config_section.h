// An options struct read from its own config section: each key is listed once, next to
// the member it fills, instead of one get_float/get_int line per key in every struct.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <string>
#include <variant>

#include "fold/config.h"

namespace fold {

// One key below a section and the member it fills. The member's type picks the reader
// (get_float, get_int or get_bool), so a key of another type is the config's error naming it.
struct ConfigField {
  const char* key;
  std::variant<double*, int64_t*, bool*> member;
};

// Fills every field from `section.key`.
void read_section(const Config& config, const std::string& section, std::initializer_list<ConfigField> fields);

}  // namespace fold
