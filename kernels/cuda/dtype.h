// The storage types the framework-free CUDA launchers accept (kernels/cuda_binding.h maps
// ATen's scalar types onto them).
#pragma once

namespace fold::kernels::cuda {

enum class DType { kFloat32, kFloat16, kBFloat16 };

}  // namespace fold::kernels::cuda
