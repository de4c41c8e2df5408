// Process groups (ARCHITECTURE.md, Distribution): LibTorch's c10d backends behind one small interface,
// Gloo for CPU tensors and NCCL for CUDA tensors, and the process grid
// world = dp x dap of the trainer. A Group of size 1 (the default) is one process: every
// collective is then a local copy, so single-process code runs the same calls.
//
// The raw collectives here work on dim 0 of contiguous tensors of equal size on every
// rank; dap/collectives.h builds the autograd-aware, any-dimension ones on top.
#pragma once

#include <ATen/core/Tensor.h>

#include <chrono>
#include <functional>
#include <memory>
#include <string>

#include "dap/dist_environment.h"

namespace fold::dist {

// An issued collective; wait() blocks until its output may be read (and rethrows its
// error, e.g. a timeout). A default Pending is already complete.
class Pending {
 public:
  Pending() = default;
  explicit Pending(std::function<void()> wait) : wait_(std::move(wait)) {}
  void wait();

 private:
  std::function<void()> wait_;
};

// Seconds this process has spent waiting for collectives to finish: the communication
// that computation did not hide. (NCCL's waits order CUDA streams instead of blocking
// the host, so on GPUs this counts the host-side blocking only.)
double communication_seconds();

enum class Backend { kGloo, kNccl };

// Shuts down and drops every process group's backend. Call it before the process exits
// (fold's main does): an NCCL group left to static destruction is destroyed after CUDA
// has shut down, and its destructor then aborts the process. A group of several ranks
// is unusable afterwards (its collectives throw); a one-process group copies locally.
void release_process_groups();

class Group {
 public:
  Group();  // one process
  int rank() const;
  int size() const;
  // A process-unique id, so autograd nodes can refer to the group (collectives.cpp).
  int id() const;
  static Group from_id(int id);
  // One group of all of env's ranks that always has a real backend, even for one process
  // (where ProcessGrid skips it): the GPU kit drives NCCL through every collective on one
  // GPU this way. Rendezvous as in ProcessGrid::create.
  static Group connect(const DistEnvironment& env, Backend backend,
                       std::chrono::milliseconds timeout = std::chrono::minutes(5));

  // out[r * n : (r + 1) * n] = rank r's `in` (n = in.size(0)).
  Pending all_gather(const at::Tensor& out, const at::Tensor& in) const;
  // out = the sum over ranks of in[rank * n : (rank + 1) * n] (n = out.size(0)).
  Pending reduce_scatter(const at::Tensor& out, const at::Tensor& in) const;
  // out[r * n : (r + 1) * n] = rank r's in[rank * n : (rank + 1) * n].
  Pending all_to_all(const at::Tensor& out, const at::Tensor& in) const;
  // In place, summed over ranks.
  Pending all_reduce(const at::Tensor& t) const;
  // Done once every rank of the group has reached it.
  Pending barrier() const;

  struct Impl;

 private:
  explicit Group(std::shared_ptr<Impl> impl);
  std::shared_ptr<Impl> impl_;
  friend class ProcessGrid;
};

// world = dp x dap: rank = dp_rank * dap + dap_rank, so a DAP group is `dap` consecutive
// ranks (one node's GPUs, where DAP's frequent all-to-alls belong) and a data-parallel
// group takes one rank from each DAP group.
class ProcessGrid {
 public:
  ProcessGrid() = default;  // one process
  // Connects to the rendezvous store of `env` and creates the groups. world_size must be
  // a multiple of dap_size. A peer that does not arrive or answer within `timeout` is an
  // error naming the group, never a hang.
  static ProcessGrid create(const DistEnvironment& env, int dap_size, Backend backend,
                            std::chrono::milliseconds timeout = std::chrono::minutes(5));

  const Group& world() const { return world_; }
  const Group& dp() const { return dp_; }
  const Group& dap() const { return dap_; }

 private:
  Group world_, dp_, dap_;
};

}  // namespace fold::dist
