// Dynamic Axial Parallelism (FastFold; ARCHITECTURE.md, Distribution) for the Evoformer, extra-MSA and
// template pair stacks. Every rank of a DAP group holds all parameters and one slice of
// the activations, split along the axis the current sub-module does not reduce over:
//
//   MSA row attention        m split along sequences   (the pair bias is all-gathered)
//   MSA column attention,
//   transition, outer
//   product mean             m split along residues    (all-to-all from the row split;
//                                                        OPM all-gathers its right side)
//   triangle multiplication  z split along rows        (outgoing all-gathers b; incoming
//                                                        all-to-alls a to columns and
//                                                        all-gathers b)
//   triangle attention       z split along rows        (the triangle bias all-gathered;
//                                                        ending node via all-to-all to
//                                                        columns and back)
//
// The MSA returns to the sequence split while the pair stack runs (an asynchronous
// all-to-all). Extents that do not divide by the group size are padded with masked
// positions, which change nothing: masked keys get a -inf bias, masked rows of the
// triangle and outer products are zeroed before the sums. Dropout masks are drawn at the
// whole, unpadded shape on every rank (DAP ranks share their RNG state), so training
// draws exactly the numbers one process would.
#pragma once

#include <torch/types.h>

#include "dap/collectives.h"

namespace fold::evoformer {

class AxialParallel {
 public:
  // group: the DAP group; n_seq, n_res: the whole, unpadded extents of the stack input.
  AxialParallel(dist::Group group, int64_t n_seq, int64_t n_res);

  const dist::Group& group() const { return group_; }
  int64_t n_seq() const { return n_seq_; }
  int64_t n_res() const { return n_res_; }

  // This rank's slice along dim of a whole (padded) tensor that every rank has, without
  // communication (the masks).
  torch::Tensor local(const torch::Tensor& whole, int64_t dim) const;

  // AF2's shared dropout (primitives.h) on x, a slice of a whole [*, R, C, c] tensor
  // split along split_dim (-3 or -2) whose unpadded extents are (rows, cols).
  torch::Tensor shared_dropout(const torch::Tensor& x, double p, int64_t shared_dim, bool training,
                               int64_t split_dim, int64_t rows, int64_t cols) const;

  // Stack entry and exit: the padded masks and this rank's slices of the MSA (split
  // along sequences) and pair (split along rows); and back to whole, unpadded tensors.
  // Without an MSA (m undefined: the template pair stack) only the pair is split.
  struct Shards {
    torch::Tensor m, z, msa_mask, pair_mask;  // masks whole and padded
  };
  Shards enter(const torch::Tensor& m, const torch::Tensor& z, const torch::Tensor& msa_mask,
               const torch::Tensor& pair_mask) const;
  torch::Tensor leave_msa(const torch::Tensor& m) const;
  torch::Tensor leave_pair(const torch::Tensor& z) const;

 private:
  dist::Group group_;
  int64_t n_seq_, n_res_, n_seq_padded_, n_res_padded_;
};

}  // namespace fold::evoformer
