#include "evoformer/axial_parallel.h"

#include <ATen/ATen.h>

namespace fold::evoformer {

AxialParallel::AxialParallel(dist::Group group, int64_t n_seq, int64_t n_res)
    : group_(std::move(group)),
      n_seq_(n_seq),
      n_res_(n_res),
      n_seq_padded_(dap::padded_extent(n_seq, group_.size())),
      n_res_padded_(dap::padded_extent(n_res, group_.size())) {}

torch::Tensor AxialParallel::local(const torch::Tensor& whole, int64_t dim) const {
  const int64_t n = whole.size(dim) / group_.size();
  return whole.narrow(dim, group_.rank() * n, n);
}

torch::Tensor AxialParallel::shared_dropout(const torch::Tensor& x, double p, int64_t shared_dim, bool training,
                                            int64_t split_dim, int64_t rows, int64_t cols) const {
  TORCH_CHECK(p >= 0.0 && p < 1.0, "shared_dropout: p must be in [0, 1), got ", p);
  if (!training || p == 0.0) return x;
  const int64_t d = x.dim();
  const int64_t shared = shared_dim < 0 ? shared_dim + d : shared_dim;
  const int64_t split = split_dim < 0 ? split_dim + d : split_dim;
  // The same draw as primitives.h's shared_dropout on the whole, unpadded tensor.
  std::vector<int64_t> shape = x.sizes().vec();
  shape[d - 3] = rows;
  shape[d - 2] = cols;
  shape[shared] = 1;
  torch::Tensor keep = torch::empty(shape, x.options()).bernoulli_(1.0 - p);
  for (const int64_t dim : {d - 3, d - 2}) {
    if (dim == shared) continue;
    const int64_t whole = dim == split ? x.size(dim) * group_.size() : x.size(dim);
    keep = dap::pad_to(keep, dim, whole);
    if (dim == split) keep = local(keep, dim);
  }
  return x * keep / (1.0 - p);
}

AxialParallel::Shards AxialParallel::enter(const torch::Tensor& m, const torch::Tensor& z,
                                           const torch::Tensor& msa_mask, const torch::Tensor& pair_mask) const {
  Shards s;
  if (m.defined()) {
    s.msa_mask = dap::pad_to(dap::pad_to(msa_mask, -2, n_seq_padded_), -1, n_res_padded_);
    s.m = dap::scatter(dap::pad_to(dap::pad_to(m, -3, n_seq_padded_), -2, n_res_padded_), -3, group_);
  }
  s.pair_mask = dap::pad_to(dap::pad_to(pair_mask, -2, n_res_padded_), -1, n_res_padded_);
  s.z = dap::scatter(dap::pad_to(dap::pad_to(z, -3, n_res_padded_), -2, n_res_padded_), -3, group_);
  return s;
}

torch::Tensor AxialParallel::leave_msa(const torch::Tensor& m) const {
  return dap::gather(m, -3, group_).narrow(-3, 0, n_seq_).narrow(-2, 0, n_res_);
}

torch::Tensor AxialParallel::leave_pair(const torch::Tensor& z) const {
  return dap::gather(z, -3, group_).narrow(-3, 0, n_res_).narrow(-2, 0, n_res_);
}

}  // namespace fold::evoformer
