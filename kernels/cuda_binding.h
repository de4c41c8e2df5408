// What every ATen binding of a kernels/cuda launcher needs: the storage-type code of a
// tensor and the check of a launcher's return value. Include under FOLD_WITH_CUDA only.
#pragma once

#include <c10/core/ScalarType.h>
#include <c10/util/Exception.h>
#include <cuda_runtime_api.h>

#include "kernels/cuda/dtype.h"

namespace fold::kernels {

inline cuda::DType kernel_dtype(at::ScalarType t, const char* op) {
  switch (t) {
    case at::kFloat: return cuda::DType::kFloat32;
    case at::kHalf: return cuda::DType::kFloat16;
    case at::kBFloat16: return cuda::DType::kBFloat16;
    default: TORCH_CHECK(false, "fold ", op, ": unsupported CUDA dtype ", t);
  }
}

inline void check_kernel(int err, const char* op, const char* what) {
  TORCH_CHECK(err == 0, "fold ", op, ": ", what, " failed: ", cudaGetErrorString(static_cast<cudaError_t>(err)));
}

}  // namespace fold::kernels
