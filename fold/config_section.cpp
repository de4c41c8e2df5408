#include "fold/config_section.h"

#include <type_traits>

namespace fold {

void read_section(const Config& config, const std::string& section, std::initializer_list<ConfigField> fields) {
  for (const ConfigField& field : fields) {
    const std::string key = section + "." + field.key;
    std::visit(
        [&](auto* member) {
          using T = std::remove_pointer_t<decltype(member)>;
          if constexpr (std::is_same_v<T, bool>) {
            *member = config.get_bool(key);
          } else if constexpr (std::is_same_v<T, int64_t>) {
            *member = config.get_int(key);
          } else {
            *member = config.get_float(key);
          }
        },
        field.member);
  }
}

}  // namespace fold
