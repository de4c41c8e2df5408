// `fold launch` (ARCHITECTURE.md, Distribution): starts the ranks of this node as child processes with a
// torchrun-compatible environment, prefixes each output line with its rank, and
// supervises them: when one fails, the others are stopped (SIGTERM, then SIGKILL after
// a grace period) and the launcher exits with the first failure's code. SIGINT or
// SIGTERM to the launcher goes to every rank the same way; when they all then exit 0
// (fold train checkpoints and stops on SIGTERM), so does the launcher.
#pragma once

#include <string>
#include <vector>

namespace fold::launcher {

struct LaunchOptions {
  int nproc = 1;                       // ranks on this node
  int nnodes = 1, node_rank = 0;
  std::string master_addr;             // empty: 127.0.0.1 (one node only)
  int master_port = 0;                 // 0: a free port (one node only)
  std::vector<std::string> command;    // argv of every rank; "fold" means this binary
  int grace_seconds = 10;
};

// Runs the ranks to completion; returns 0 or the first failing rank's exit code (128 +
// signal for a killed rank). Bad options are std::invalid_argument.
int launch(const LaunchOptions& options);

}  // namespace fold::launcher
