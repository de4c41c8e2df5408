// `fold launch --nproc N [--nnodes M --node-rank R --master ADDR:PORT] -- COMMAND...`:
// runs COMMAND as the N ranks of this node (dap/launcher.h), e.g.
// `fold launch --nproc 2 -- fold train ... --set dist.dap=2`.
#include <CLI/CLI.hpp>

#include <cstdlib>

#include "dap/launcher.h"
#include "fold/cli/commands.h"

namespace fold::cli {

void add_launch_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("launch", "Run a command as the ranks of a distributed job (torchrun-compatible)");
  auto o = std::make_shared<launcher::LaunchOptions>();
  auto master = std::make_shared<std::string>();
  cmd->add_option("--nproc", o->nproc, "Ranks on this node")->required()->check(CLI::PositiveNumber);
  cmd->add_option("--nnodes", o->nnodes, "Nodes of the job")->check(CLI::PositiveNumber);
  cmd->add_option("--node-rank", o->node_rank, "This node's index")->check(CLI::NonNegativeNumber);
  cmd->add_option("--master", *master, "ADDR:PORT of rank 0's rendezvous (needed with several nodes)");
  cmd->add_option("--grace", o->grace_seconds, "Seconds between SIGTERM and SIGKILL when stopping ranks");
  cmd->add_option("command", o->command, "The command every rank runs (after --)")->required();
  cmd->callback([o, master] {
    if (!master->empty()) {
      const auto colon = master->rfind(':');
      if (colon == std::string::npos) throw CLI::ValidationError("--master", "expected ADDR:PORT, got " + *master);
      o->master_addr = master->substr(0, colon);
      o->master_port = std::atoi(master->substr(colon + 1).c_str());
    }
    const int code = launcher::launch(*o);
    if (code != 0) std::exit(code);
  });
}

}  // namespace fold::cli
