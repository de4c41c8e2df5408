#include "fold/cli/id_list.h"

#include <fstream>
#include <sstream>
#include <stdexcept>

namespace fold::cli {

std::vector<std::string> parse_id_list(const std::string& spec) {
  std::vector<std::string> ids;
  if (spec.empty()) return ids;
  std::string text = spec;
  char separator = ',';
  if (spec[0] == '@') {
    std::ifstream in(spec.substr(1));
    if (!in) throw std::invalid_argument("cannot read the chain list " + spec.substr(1));
    std::stringstream buffer;
    buffer << in.rdbuf();
    text = buffer.str();
    separator = '\n';
  }
  std::stringstream ss(text);
  for (std::string id; std::getline(ss, id, separator);) {
    const size_t hash = id.find('#');
    if (hash != std::string::npos) id.resize(hash);
    const size_t b = id.find_first_not_of(" \t\r"), e = id.find_last_not_of(" \t\r");
    if (b != std::string::npos) ids.push_back(id.substr(b, e - b + 1));
  }
  return ids;
}

}  // namespace fold::cli
