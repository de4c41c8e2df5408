// Data parallelism with ZeRO (Rajbhandari et al. 2020, stages 0-2; ARCHITECTURE.md, Distribution) over the
// data-parallel group: every rank trains on its own samples with the same weights, and
// the gradients are summed over the group before the update.
//
//   stage 0  gradients all-reduced; every rank steps every parameter (plain DP)
//   stage 1  gradients all-reduced; each rank steps only the parameters it owns, so the
//            optimizer state is sharded; the updated parameters are all-gathered
//   stage 2  as 1, but the gradients are reduce-scattered: a rank receives (and keeps)
//            only its owned parameters' summed gradients
//
// Ownership is per whole parameter (largest first, to the least-loaded rank), so a
// shard of the optimizer state is a subset of its named tensors: checkpoints store one
// file per shard under the same names, and a run resumed with another dp size picks the
// names it now owns. Communication is one flat buffer per collective: rank r's segment
// holds its owned parameters, padded to the largest segment so reduce-scatter and
// all-gather see equal parts.
#pragma once

#include <ATen/core/Tensor.h>

#include <string>
#include <utility>
#include <vector>

#include "dap/process_group.h"

namespace fold::zero {

class ZeroSharding {
 public:
  // `params`: the fp32 master parameters, in the same order and shapes on every rank.
  ZeroSharding(std::vector<std::pair<std::string, at::Tensor>> params, const dist::Group& dp, int stage);

  int stage() const { return stage_; }
  // Whether ranks own parts (stage >= 1 with more than one rank).
  bool sharded() const { return stage_ > 0 && group_.size() > 1; }
  // The parameters this rank steps: all of them unless sharded.
  std::vector<std::pair<std::string, at::Tensor>> owned() const;
  bool owns(const std::string& name) const;

  // The gradients summed over the group, times `factor`. Afterwards a parameter has a
  // gradient exactly when this rank steps it and some rank had one.
  void reduce_gradients(double factor);
  // The L2 norm of every parameter's summed gradient (over the owners when sharded).
  double gradient_norm() const;
  // Multiplies the gradients this rank holds (gradient clipping).
  void scale_gradients(double factor);
  // After the owners' update: every rank holds every updated parameter.
  void gather_parameters();

 private:
  struct Slot {
    std::string name;
    at::Tensor param;
    int owner = 0;
    int64_t offset = 0;  // in the owner's segment of the flat buffer
  };
  std::vector<Slot> slots_;
  dist::Group group_;
  int stage_;
  int64_t segment_ = 0;  // elements per rank in the flat buffer
};

}  // namespace fold::zero
