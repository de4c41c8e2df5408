// Where this process sits in a distributed run (ARCHITECTURE.md, Distribution), read from the variables
// a launcher exports: torchrun's (RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR,
// MASTER_PORT, which `fold launch` also sets), or SLURM's (SLURM_PROCID, SLURM_NTASKS,
// SLURM_LOCALID) or Open MPI's (OMPI_COMM_WORLD_RANK, _SIZE, _LOCAL_RANK) for the rank
// and size, with MASTER_ADDR / MASTER_PORT for the rendezvous (under SLURM, MASTER_ADDR
// defaults to SLURM_LAUNCH_NODE_IPADDR).
#pragma once

#include <functional>
#include <string>

namespace fold::dist {

struct DistEnvironment {
  int rank = 0, world_size = 1, local_rank = 0;
  std::string master_addr = "127.0.0.1";
  int master_port = 29500;
  std::string source = "none";  // "torchrun" | "slurm" | "openmpi" | "none" (one process)
  bool distributed() const { return world_size > 1; }
};

// A malformed or inconsistent value (rank outside [0, world), a non-numeric size, a
// multi-process run without MASTER_ADDR) is a std::invalid_argument naming the variable.
DistEnvironment read_dist_environment(const std::function<const char*(const char*)>& getenv_fn = {});

}  // namespace fold::dist
