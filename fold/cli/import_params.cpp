// `fold import-params IN OUT_DIR`: AlphaFold2's released .npz parameters (or an
// OpenFold .pt state dict) -> our native checkpoint, checked key by key against the
// model the config builds; `fold export-params` the other way, to AF2's .npz; `fold
// init-params` a freshly initialised checkpoint.
#include <CLI/CLI.hpp>
#include <torch/torch.h>

#include <filesystem>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "data/npz.h"
#include "fold/cli/commands.h"
#include "fold/config.h"
#include "fold/model/af2_params.h"
#include "fold/model/alphafold.h"
#include "fold/model/params_io.h"

namespace fold::cli {

namespace {

// What import-params and export-params share: the weights IN, the output, and the
// config (preset or file, with --set overrides) the weights belong to.
struct ConversionArgs {
  std::string in, out, config = "af2_model_1";
  std::vector<std::string> overrides;
};

std::shared_ptr<ConversionArgs> add_conversion_options(CLI::App* cmd, const std::string& in_help,
                                                       const std::string& out_name, const std::string& out_help) {
  auto args = std::make_shared<ConversionArgs>();
  cmd->add_option("IN", args->in, in_help)->required()->check(CLI::ExistingFile);
  cmd->add_option(out_name, args->out, out_help)->required();
  cmd->add_option("--config", args->config, "Preset or TOML file the weights belong to (default af2_model_1)");
  cmd->add_option("--set", args->overrides, "Override one key: a.b.c=value (repeatable)");
  return args;
}

}  // namespace

void add_import_params_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("import-params",
                                 "Convert AlphaFold2 .npz parameters (or an OpenFold .pt) to a native checkpoint");
  auto args = add_conversion_options(cmd, "params_model_N[_ptm|_multimer_v3].npz, or an OpenFold state dict (.pt)",
                                     "OUT_DIR", "Directory for <stem>.safetensors");
  cmd->callback([args] {
    const Config config = Config::load(args->config, args->overrides);
    AlphaFold model(AlphaFoldOptions::from_config(config));
    // Every key, shape and block count checked against the model the config builds.
    load_params(*model, args->in);
    std::filesystem::create_directories(args->out);
    const std::string out =
        (std::filesystem::path(args->out) / std::filesystem::path(args->in).stem()).string() + ".safetensors";
    save_native_params(*model, out, {{"source", std::filesystem::path(args->in).filename().string()},
                                     {"config", config.to_toml()}});
    int64_t count = 0;
    for (const auto& p : model->parameters()) count += p.numel();
    std::cout << "wrote " << out << " (" << model->parameters().size() << " tensors, " << count << " values)\n";
  });
}

void add_export_params_command(CLI::App& app) {
  auto* cmd = app.add_subcommand(
      "export-params", "Write a checkpoint's weights as AlphaFold2's .npz (AF2's names and layouts, for AF2 or OpenFold)");
  auto args = add_conversion_options(cmd, "A checkpoint this system reads (.safetensors, AF2 .npz, OpenFold .pt)",
                                     "OUT", "Output .npz");
  cmd->callback([args] {
    const Config config = Config::load(args->config, args->overrides);
    AlphaFold model(AlphaFoldOptions::from_config(config));
    load_params(*model, args->in);
    const auto arrays = af2::export_af2_params(*model);
    data::write_npz(args->out, arrays);
    std::cout << "wrote " << args->out << " (" << arrays.size() << " AF2 arrays)\n";
  });
}

void add_init_params_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("init-params",
                                 "Write a native checkpoint of a freshly initialised model (AF2's initialisers)");
  struct Args {
    std::string out, config = "af2_model_1";
    std::vector<std::string> overrides;
    uint64_t seed = 0;
  };
  auto args = std::make_shared<Args>();
  cmd->add_option("OUT", args->out, "Output .safetensors")->required();
  cmd->add_option("--config", args->config, "Preset or TOML file (default af2_model_1)");
  cmd->add_option("--set", args->overrides, "Override one key: a.b.c=value (repeatable)");
  cmd->add_option("--seed", args->seed, "Seed of the initialisation");
  cmd->callback([args] {
    const Config config = Config::load(args->config, args->overrides);
    torch::manual_seed(args->seed);
    AlphaFold model(AlphaFoldOptions::from_config(config));
    save_native_params(*model, args->out, {{"source", "init-params seed " + std::to_string(args->seed)},
                                           {"config", config.to_toml()}});
    std::cout << "wrote " << args->out << " (" << model->parameters().size() << " tensors)\n";
  });
}

}  // namespace fold::cli
