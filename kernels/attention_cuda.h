// The CUDA flash-attention path of kernels::attention (internal to kernels/).
#pragma once

#include <ATen/core/Tensor.h>

#include <optional>
#include <vector>

namespace fold::kernels {

// CUDA tensor, fp32/fp16/bf16, head dim the kernel supports, at most 2 leading dims.
bool cuda_flash_supported(const at::Tensor& q);

at::Tensor cuda_flash_attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                                const std::vector<at::Tensor>& biases, const std::optional<at::Tensor>& gate,
                                double scale);

}  // namespace fold::kernels
