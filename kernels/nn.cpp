#include "kernels/nn.h"

#include <torch/nn/init.h>

#include <cmath>

#include "kernels/layer_norm.h"

namespace fold::kernels {

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
  return layer_norm(x, weight, bias, options.eps());
}

LinearModuleImpl::LinearModuleImpl(int64_t c_in_, int64_t c_out_, LinearInit init_)
    : c_in(c_in_), c_out(c_out_), init(init_) {
  reset();
}

void LinearModuleImpl::reset() { linear = register_module("linear", make_linear(c_in, c_out, true, init)); }

}  // namespace fold::kernels
