#include "evoformer/primitives.h"

#include <cmath>
#include <vector>

namespace fold::evoformer {

torch::Tensor mask_bias(const torch::Tensor& mask, double inf, torch::ScalarType dtype) {
  return (mask.to(dtype) - 1.0) * inf;
}

torch::Tensor chunked(int64_t n, int64_t chunk_size, int64_t dim,
                      const std::function<torch::Tensor(int64_t, int64_t)>& fn) {
  if (chunk_size <= 0 || chunk_size >= n) return fn(0, n);
  std::vector<torch::Tensor> parts;
  parts.reserve((n + chunk_size - 1) / chunk_size);
  for (int64_t start = 0; start < n; start += chunk_size) parts.push_back(fn(start, std::min(chunk_size, n - start)));
  return torch::cat(parts, dim);
}

torch::Tensor shared_dropout(const torch::Tensor& x, double p, int64_t shared_dim, bool training) {
  TORCH_CHECK(p >= 0.0 && p < 1.0, "shared_dropout: p must be in [0, 1), got ", p);
  if (!training || p == 0.0) return x;
  std::vector<int64_t> shape = x.sizes().vec();
  shape.at(shared_dim < 0 ? shared_dim + x.dim() : shared_dim) = 1;
  const torch::Tensor keep = torch::empty(shape, x.options()).bernoulli_(1.0 - p);
  return x * keep / (1.0 - p);
}

}  // namespace fold::evoformer
