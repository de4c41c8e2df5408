// `fold config`: prints the configuration a run would use (base -> preset/file ->
// --set overrides), so users can check their settings before a long job.
#include <CLI/CLI.hpp>

#include <iostream>

#include "fold/cli/commands.h"
#include "fold/config.h"

namespace fold::cli {

void add_config_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("config", "Print the resolved configuration (TOML or JSON)");
  struct Args {
    std::string config;
    std::vector<std::string> overrides;
    bool json = false;
    bool list = false;
  };
  auto args = std::make_shared<Args>();
  cmd->add_option("--config", args->config, "Preset name or TOML file (default: base = AF2 model_1)");
  cmd->add_option("--set", args->overrides, "Override one key: a.b.c=value (repeatable)");
  cmd->add_flag("--json", args->json, "Print JSON instead of TOML");
  cmd->add_flag("--list-presets", args->list, "List the presets built into this binary");
  cmd->callback([args] {
    if (args->list) {
      for (const std::string& p : Config::presets()) std::cout << p << "\n";
      return;
    }
    const Config c = Config::load(args->config, args->overrides);
    std::cout << (args->json ? c.to_json() : c.to_toml()) << "\n";
  });
}

}  // namespace fold::cli
