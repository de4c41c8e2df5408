#include "evoformer/primitives.h"

#include <torch/csrc/autograd/grad_mode.h>

#include <algorithm>
#include <cmath>
#include <vector>

namespace fold::evoformer {

torch::Tensor mask_bias(const torch::Tensor& mask, double inf, torch::ScalarType dtype) {
  return (mask.to(dtype) - 1.0) * inf;
}

torch::Tensor chunked(int64_t n, int64_t chunk_size, int64_t dim,
                      const std::function<torch::Tensor(int64_t, int64_t)>& fn) {
  if (chunk_size <= 0 || chunk_size >= n) return fn(0, n);
  if (!torch::GradMode::is_enabled()) {
    // Without autograd each chunk goes straight into the output, which so exists once.
    torch::Tensor out;
    for_each_chunk(n, chunk_size, [&](int64_t start, int64_t length) {
      const torch::Tensor part = fn(start, length);
      if (!out.defined()) {
        std::vector<int64_t> shape = part.sizes().vec();
        shape.at(dim < 0 ? dim + part.dim() : dim) = n;
        out = torch::empty(shape, part.options());
      }
      out.narrow(dim, start, length).copy_(part);
    });
    return out;
  }
  std::vector<torch::Tensor> parts;
  parts.reserve((n + chunk_size - 1) / chunk_size);
  for (int64_t start = 0; start < n; start += chunk_size) parts.push_back(fn(start, std::min(chunk_size, n - start)));
  return torch::cat(parts, dim);
}

void for_each_chunk(int64_t n, int64_t chunk_size, const std::function<void(int64_t, int64_t)>& fn) {
  if (chunk_size <= 0 || chunk_size >= n) {
    fn(0, n);
    return;
  }
  for (int64_t start = 0; start < n; start += chunk_size) fn(start, std::min(chunk_size, n - start));
}

void check_inference_mode(const char* who) {
  TORCH_CHECK(!torch::GradMode::is_enabled(), who,
              ": the in-place path runs without autograd (use the differentiable forward, or a NoGradGuard)");
}

torch::Tensor writable(torch::Tensor t) {
  // Two references to the impl or the storage: a caller's variable or a view of it.
  if (t.use_count() == 1 && t.storage().use_count() == 1 && t.is_contiguous()) return t;
  return t.clone(at::MemoryFormat::Contiguous);
}

torch::Tensor pair_bias(const torch::Tensor& z, LayerNormImpl& norm, torch::nn::LinearImpl& linear,
                        int64_t chunk_size) {
  const int64_t rows = z.size(-3);
  if (torch::GradMode::is_enabled() || chunk_size <= 0 || chunk_size >= rows)
    return linear.forward(norm.forward(z)).movedim(-1, -3);
  std::vector<int64_t> shape(z.sizes().begin(), z.sizes().end() - 3);
  shape.insert(shape.end(), {linear.options.out_features(), rows, z.size(-2)});
  torch::Tensor out = torch::empty(shape, z.options());
  for_each_chunk(rows, chunk_size, [&](int64_t start, int64_t length) {
    out.narrow(-2, start, length).copy_(linear.forward(norm.forward(z.narrow(-3, start, length))).movedim(-1, -3));
  });
  return out;
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
