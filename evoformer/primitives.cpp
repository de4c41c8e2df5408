#include "evoformer/primitives.h"

#include <torch/csrc/autograd/grad_mode.h>
#include <torch/nn/init.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "kernels/layer_norm.h"

namespace fold::evoformer {

namespace {

// Standard deviation of a unit normal truncated to [-2, 2]
// (scipy.stats.truncnorm.std(a=-2, b=2)), as OpenFold's trunc_normal_init_.
constexpr double kTruncNormStd = 0.87962566103423978;

// Truncated normal on [-2 std, 2 std] with std = sqrt(scale / fan_in) / kTruncNormStd,
// drawn by inverting the normal CDF of a uniform sample.
void trunc_normal_(torch::Tensor& w, double scale) {
  const double fan_in = static_cast<double>(std::max<int64_t>(1, w.size(1)));
  const double std = std::sqrt(scale / fan_in) / kTruncNormStd;
  const double lo = 0.5 * (1.0 + std::erf(-2.0 / std::sqrt(2.0)));
  const double hi = 0.5 * (1.0 + std::erf(2.0 / std::sqrt(2.0)));
  w.uniform_(2.0 * lo - 1.0, 2.0 * hi - 1.0).erfinv_().mul_(std * std::sqrt(2.0)).clamp_(-2.0 * std, 2.0 * std);
}

}  // namespace

void init_linear(torch::nn::LinearImpl& linear, LinearInit init) {
  torch::NoGradGuard no_grad;
  torch::Tensor& w = linear.weight;
  switch (init) {
    case LinearInit::kDefault: trunc_normal_(w, 1.0); break;
    case LinearInit::kRelu: trunc_normal_(w, 2.0); break;
    case LinearInit::kGlorot: torch::nn::init::xavier_uniform_(w, 1.0); break;
    case LinearInit::kNormal: torch::nn::init::kaiming_normal_(w, 0.0, torch::kFanIn, torch::kLinear); break;
    case LinearInit::kGating:
    case LinearInit::kFinal: w.zero_(); break;
  }
  if (linear.bias.defined()) linear.bias.fill_(init == LinearInit::kGating ? 1.0 : 0.0);
}

torch::nn::Linear make_linear(int64_t in, int64_t out, bool bias, LinearInit init) {
  torch::nn::Linear linear(torch::nn::LinearOptions(in, out).bias(bias));
  init_linear(*linear, init);
  return linear;
}

LayerNormImpl::LayerNormImpl(const LayerNormOptions& options_) : options(options_) { reset(); }

void LayerNormImpl::reset() {
  weight = register_parameter("weight", torch::ones({options.c()}));
  bias = register_parameter("bias", torch::zeros({options.c()}));
}

torch::Tensor LayerNormImpl::forward(const torch::Tensor& x) {
  TORCH_CHECK(x.size(-1) == options.c(), "LayerNorm: expected ", options.c(), " channels, got ", x.sizes());
  return kernels::layer_norm(x, weight, bias, options.eps());
}

LinearModuleImpl::LinearModuleImpl(int64_t c_in_, int64_t c_out_, LinearInit init_)
    : c_in(c_in_), c_out(c_out_), init(init_) {
  reset();
}

void LinearModuleImpl::reset() { linear = register_module("linear", make_linear(c_in, c_out, true, init)); }


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
