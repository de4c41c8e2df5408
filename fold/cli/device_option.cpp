#include "fold/cli/device_option.h"

#include <CLI/CLI.hpp>

#include <regex>

#include "kernels/devices.h"

namespace fold::cli {

std::string device_error(const std::string& text, bool present) {
  static const std::regex form("cpu|cuda(:[0-9]{1,3})?");
  if (!std::regex_match(text, form)) return "expected cpu, cuda or cuda:N, got '" + text + "'";
  if (!present || text == "cpu") return "";
  const size_t count = kernels::cuda_devices().size();
  if (count == 0)
    return "'" + text + "': no CUDA device is visible to this process (`fold info` lists the devices it sees)";
  const size_t index = text == "cuda" ? 0 : std::stoul(text.substr(5));
  if (index >= count)
    return "'" + text + "': this machine has " + std::to_string(count) + " CUDA device" + (count == 1 ? "" : "s") +
           " (cuda:0" + (count == 1 ? "" : " to cuda:" + std::to_string(count - 1)) + ")";
  return "";
}

CLI::Option* add_device_option(CLI::App* cmd, std::string& device, const std::string& help, bool present) {
  return cmd->add_option("--device", device, help)->check(CLI::Validator(
      [present](std::string& text) { return device_error(text, present); }, "cpu|cuda|cuda:N", "device"));
}

}  // namespace fold::cli
