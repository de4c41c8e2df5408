// LayerNorm over the last dimension, differentiable in x, weight and bias, with one
// kernel per device: kernels/cuda/layer_norm.cu on CUDA; on the CPU ATen's vectorised
// forward and our own deterministic backward (fixed row partition, partials summed in
// order). AF2 normalises before nearly every Evoformer and structure module block;
// FastFold fuses it on the GPU, and so do we. Statistics are fp32 for fp32/fp16/bf16 storage (fp64 inputs
// on the CPU are computed in fp64, so finite-difference checks of whole modules stay
// meaningful). The output has x's dtype; weight/bias may be of any floating dtype and
// their gradients come back in it.
#pragma once

#include <ATen/core/Tensor.h>

#include <optional>
#include <tuple>

namespace fold::kernels {

// y = (x - mean) * rstd * weight + bias along the last dim, rstd = 1 / sqrt(var + eps)
// with the biased variance, as torch.nn.functional.layer_norm(x, [x.size(-1)], ...).
at::Tensor layer_norm(const at::Tensor& x, const std::optional<at::Tensor>& weight,
                      const std::optional<at::Tensor>& bias, double eps = 1e-5);

// The two halves of the autograd function, exposed for fused callers and for tests.
// Forward returns (y, mean, rstd); mean and rstd are [rows] (rows = x.numel() / cols),
// fp32, or fp64 for fp64 input. Backward returns (dx, dweight, dbias): dx in x's dtype,
// dweight/dbias in mean's dtype (layer_norm casts them to the parameters' dtypes); one
// not asked for, or dweight without a weight, comes back undefined.
std::tuple<at::Tensor, at::Tensor, at::Tensor> layer_norm_forward(const at::Tensor& x,
                                                                  const std::optional<at::Tensor>& weight,
                                                                  const std::optional<at::Tensor>& bias,
                                                                  double eps);
std::tuple<at::Tensor, at::Tensor, at::Tensor> layer_norm_backward(
    const at::Tensor& dy, const at::Tensor& x, const std::optional<at::Tensor>& weight,
    const at::Tensor& mean, const at::Tensor& rstd, bool need_dx, bool need_dweight, bool need_dbias);

}  // namespace fold::kernels
