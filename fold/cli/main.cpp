// The `fold` command line: one binary, one subcommand per job.
#include <ATen/Parallel.h>
#include <CLI/CLI.hpp>
#include <c10/util/Exception.h>

#include <iostream>

#include "dap/process_group.h"
#include "fold/cli/commands.h"

int main(int argc, char** argv) {
  CLI::App app{"fold: AlphaFold2-class structure prediction and training (LibTorch)"};
  app.require_subcommand(1);
  // Every option's help shows its default (subcommands inherit this).
  app.option_defaults()->always_capture_default();
  // Options of `fold` itself (--threads) are also taken after the subcommand.
  app.fallthrough();
  int threads = 0;
  app.add_option("--threads", threads, "Intra-op threads (0: all cores)")->check(CLI::NonNegativeNumber);
  // Some LibTorch builds start with one thread: set the pool explicitly.
  app.parse_complete_callback([&threads] {
    if (threads > 0) at::set_num_threads(threads);
  });
  fold::cli::add_info_command(app);
  fold::cli::add_inspect_command(app);
  fold::cli::add_config_command(app);
  fold::cli::add_import_params_command(app);
  fold::cli::add_init_params_command(app);
  fold::cli::add_export_params_command(app);
  fold::cli::add_predict_command(app);
  fold::cli::add_prepare_command(app);
  fold::cli::add_msa_command(app);
  fold::cli::add_train_command(app);
  fold::cli::add_launch_command(app);
  fold::cli::add_ablate_command(app);
  fold::cli::add_plan_command(app);
  fold::cli::add_relax_command(app);
  // Before main returns, while CUDA is still up (dist::release_process_groups says why).
  struct ReleaseProcessGroups {
    ~ReleaseProcessGroups() { fold::dist::release_process_groups(); }
  } release_process_groups;
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  } catch (const c10::Error& e) {
    // LibTorch's checks: the message, not the C++ stack it carries for developers.
    std::cerr << "fold: error: " << e.what_without_backtrace() << "\n";
    return 1;
  } catch (const std::exception& e) {
    std::cerr << "fold: error: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
