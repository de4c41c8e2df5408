// Autograd-aware collectives along a tensor dimension (ARCHITECTURE.md, Distribution), for Dynamic Axial
// Parallelism: every rank of a group holds one equal slice of an axis. Convention (as in
// Megatron-LM and FastFold): a *replicated* tensor has the same value and the same
// gradient on every rank; a *split* tensor holds this rank's slice and its gradient.
// Each backward is the adjoint of its forward under that convention:
//
//   scatter     replicated -> split (this rank's slice)    backward: all-gather
//   gather      split -> replicated                          backward: this rank's slice
//   all_gather  split -> whole, consumed by this rank only   backward: reduce-scatter
//   all_to_all  split along one axis -> split along another  backward: the inverse all-to-all
//
// The split axis must divide by the group size; callers with uneven extents pad to
// padded_extent() and mask the padding (evoformer/axial_parallel.h does).
#pragma once

#include <ATen/core/Tensor.h>

#include "dap/process_group.h"

namespace fold::dap {

at::Tensor scatter(const at::Tensor& x, int64_t dim, const dist::Group& group);
at::Tensor gather(const at::Tensor& x, int64_t dim, const dist::Group& group);
at::Tensor all_gather(const at::Tensor& x, int64_t dim, const dist::Group& group);
// x is whole along split_dim and split along concat_dim; the result is split along
// split_dim and whole along concat_dim.
at::Tensor all_to_all(const at::Tensor& x, int64_t split_dim, int64_t concat_dim, const dist::Group& group);

// An all_to_all issued now and finished by wait(), so independent work can run while
// the data moves (FastFold's duality async operation). Differentiable like all_to_all.
class PendingAllToAll {
 public:
  PendingAllToAll(const at::Tensor& x, int64_t split_dim, int64_t concat_dim, const dist::Group& group);
  at::Tensor wait();

 private:
  at::Tensor x_, received_;
  int64_t split_dim_, concat_dim_;
  dist::Group group_;
  dist::Pending pending_;
};

// The smallest multiple of `parts` >= n.
int64_t padded_extent(int64_t n, int64_t parts);
// x zero-padded along dim to `extent` (>= its size).
at::Tensor pad_to(const at::Tensor& x, int64_t dim, int64_t extent);

// Sums the gradients of `params` over the group in one flattened all-reduce (the
// gradients of parameters used on split activations are partial on each rank).
void all_reduce_gradients(const std::vector<at::Tensor>& params, const dist::Group& group);

}  // namespace fold::dap
