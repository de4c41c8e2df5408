// Softmax over the last dimension, differentiable, with one kernel per device: ATen's
// thread pool on the CPU, kernels/cuda/softmax.cu on CUDA. Statistics are fp32 for
// every storage type. A row whose entries are all -inf (every key masked) gives zeros
// rather than NaN, so fully masked query rows stay finite in forward and backward.
#pragma once

#include <ATen/core/Tensor.h>

namespace fold::kernels {

at::Tensor softmax(const at::Tensor& x);

// The two halves of the autograd function, exposed for the fused attention path and
// for tests: y = softmax(x); dx = y * (dy - sum(dy * y)).
at::Tensor softmax_forward(const at::Tensor& x);
at::Tensor softmax_backward(const at::Tensor& y, const at::Tensor& dy);

}  // namespace fold::kernels
