// One runner for the three block stacks (Evoformer, Algorithm 6; extra-MSA,
// Algorithm 18; template pair stack, Algorithm 16): the blocks in order under a memory
// policy (memory_policy.h).
//   - without autograd, in eval mode and with policy.inplace on one process: each block
//     updates (m, z) in place (its modules chunked end to end);
//   - otherwise the differentiable forward: one checkpoint per K blocks in grad mode
//     (checkpoint.h), on one process or axially split over a DAP group (the stack's
//     entry and exit, axial_parallel.h).
#pragma once

#include <torch/types.h>

#include <functional>
#include <utility>

#include "dap/process_group.h"
#include "evoformer/axial_parallel.h"
#include "evoformer/memory_policy.h"

namespace fold::evoformer {

// A stack's blocks as the runner calls them. m is undefined in a pair-only stack (the
// template pair stack), and so is msa_mask.
struct StackBlocks {
  int64_t count = 0;
  // Training mode: dropout draws masks, which only the differentiable forward does (so
  // AF2's recycling iterations without autograd still drop out in training).
  bool training = false;
  // Block i, differentiable: (m, z) -> the updated (m, z). Under DAP the tensors are this
  // rank's slices and the masks whole (padded).
  std::function<std::pair<torch::Tensor, torch::Tensor>(int64_t i, const torch::Tensor& m, const torch::Tensor& z,
                                                        const torch::Tensor& msa_mask, const torch::Tensor& pair_mask,
                                                        int64_t chunk_size, const AxialParallel* dap)>
      forward;
  // Block i in place, without autograd: its MSA half (the MSA updates and the outer
  // product mean into z; unset in a pair-only stack), then its pair half.
  std::function<void(int64_t i, const torch::Tensor& m, const torch::Tensor& z, const torch::Tensor& msa_mask,
                     const MemoryPolicy& policy)>
      msa_inplace;
  std::function<void(int64_t i, const torch::Tensor& z, const torch::Tensor& pair_mask, const MemoryPolicy& policy)>
      pair_inplace;
  // False where the caller takes only z (the extra-MSA stack): in place, the runner then
  // frees m after the last block's MSA half, so that the last pair half, which is where a
  // long protein peaks, holds z alone.
  bool returns_msa = true;
};

// Runs every block on (m, z) -> the final (m, z), whole on every rank (m undefined in
// place when !returns_msa). In place, m and z are overwritten when the caller gave them
// up (std::move), else copied first (primitives.h writable()), so a tensor the caller
// still holds never changes.
std::pair<torch::Tensor, torch::Tensor> run_stack(const StackBlocks& blocks, torch::Tensor m, torch::Tensor z,
                                                  const torch::Tensor& msa_mask, const torch::Tensor& pair_mask,
                                                  const MemoryPolicy& policy, const dist::Group& group);

}  // namespace fold::evoformer
