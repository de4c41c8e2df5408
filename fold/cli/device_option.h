// The --device option of the commands that run or plan a model: "cpu", "cuda" or
// "cuda:N", refused while the command line is parsed, naming what is wrong, instead of a
// LibTorch error from deep inside the run.
#pragma once

#include <string>

namespace CLI {
class App;
class Option;
}  // namespace CLI

namespace fold::cli {

// "" when `text` names a device; else why not. With `present`, the device must also be
// on this machine (a plan may be made for a GPU elsewhere; a run may not).
std::string device_error(const std::string& text, bool present);

CLI::Option* add_device_option(CLI::App* cmd, std::string& device, const std::string& help, bool present = true);

}  // namespace fold::cli
