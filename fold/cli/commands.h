// Subcommands of the `fold` CLI; each registers itself on the top-level app.
#pragma once

namespace CLI {
class App;
}

namespace fold::cli {

void add_info_command(CLI::App& app);
void add_inspect_command(CLI::App& app);
void add_config_command(CLI::App& app);
void add_import_params_command(CLI::App& app);
void add_init_params_command(CLI::App& app);
void add_export_params_command(CLI::App& app);
void add_predict_command(CLI::App& app);
void add_prepare_command(CLI::App& app);
void add_msa_command(CLI::App& app);
void add_train_command(CLI::App& app);
void add_launch_command(CLI::App& app);
void add_ablate_command(CLI::App& app);
void add_plan_command(CLI::App& app);
void add_relax_command(CLI::App& app);

}  // namespace fold::cli
