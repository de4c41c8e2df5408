#include "dap/dist_environment.h"

#include <cstdlib>
#include <optional>
#include <stdexcept>

namespace fold::dist {

namespace {

std::optional<int> read_int(const std::function<const char*(const char*)>& get, const char* name) {
  const char* v = get(name);
  if (v == nullptr || *v == '\0') return std::nullopt;
  char* end = nullptr;
  const long x = std::strtol(v, &end, 10);
  if (*end != '\0' || x < 0 || x > 1 << 24)
    throw std::invalid_argument(std::string(name) + "='" + v + "' is not a non-negative integer");
  return static_cast<int>(x);
}

}  // namespace

DistEnvironment read_dist_environment(const std::function<const char*(const char*)>& getenv_fn) {
  const auto get = getenv_fn ? getenv_fn : [](const char* n) -> const char* { return std::getenv(n); };
  struct Names {
    const char *source, *rank, *size, *local;
  };
  // torchrun first: a torchrun inside a SLURM allocation sets both.
  const Names launchers[] = {{"torchrun", "RANK", "WORLD_SIZE", "LOCAL_RANK"},
                             {"slurm", "SLURM_PROCID", "SLURM_NTASKS", "SLURM_LOCALID"},
                             {"openmpi", "OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_SIZE", "OMPI_COMM_WORLD_LOCAL_RANK"}};
  DistEnvironment env;
  for (const Names& n : launchers) {
    const auto rank = read_int(get, n.rank);
    const auto size = read_int(get, n.size);
    if (!rank && !size) continue;
    if (!rank || !size)
      throw std::invalid_argument(std::string(n.source) + " environment: " + (rank ? n.size : n.rank) +
                                  " is missing while " + (rank ? n.rank : n.size) + " is set");
    if (*size < 1 || *rank >= *size)
      throw std::invalid_argument(std::string(n.source) + " environment: " + n.rank + "=" + std::to_string(*rank) +
                                  " is outside the world of " + n.size + "=" + std::to_string(*size));
    env.source = n.source;
    env.rank = *rank;
    env.world_size = *size;
    env.local_rank = read_int(get, n.local).value_or(0);
    break;
  }
  // Under srun the node that launched the job step hosts task 0 when the step starts
  // on it (the usual `salloc` / `sbatch` case), so it is the rendezvous unless
  // MASTER_ADDR says otherwise.
  const char* addr = get("MASTER_ADDR");
  if ((addr == nullptr || *addr == '\0') && env.source == "slurm") addr = get("SLURM_LAUNCH_NODE_IPADDR");
  if (addr != nullptr && *addr != '\0') {
    env.master_addr = addr;
  } else if (env.world_size > 1) {
    throw std::invalid_argument(env.source + " environment of " + std::to_string(env.world_size) +
                                " processes: MASTER_ADDR is not set (the address of rank 0's rendezvous store" +
                                (env.source == "slurm" ? "; nor is SLURM_LAUNCH_NODE_IPADDR)" : ")"));
  }
  if (const auto port = read_int(get, "MASTER_PORT")) {
    if (*port < 1 || *port > 65535) throw std::invalid_argument("MASTER_PORT=" + std::to_string(*port) + " is not a TCP port");
    env.master_port = *port;
  }
  return env;
}

}  // namespace fold::dist
