// Chain-id lists on the command line: "1abc_A,2def_B" or "@FILE" (one id per line,
// '#' comments), as `fold prepare --chains` and `fold train --chains` take them.
#pragma once

#include <string>
#include <vector>

namespace fold::cli {

// Throws std::invalid_argument when the @FILE cannot be read.
std::vector<std::string> parse_id_list(const std::string& spec);

}  // namespace fold::cli
