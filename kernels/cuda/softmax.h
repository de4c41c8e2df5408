// Row softmax over the last dimension of a contiguous [rows, cols] array, forward and
// backward, on CUDA. Framework-free: pointers, sizes and a stream in, an error code
// out (0 = success, else a cudaError_t value); kernels/softmax.cpp binds it to ATen.
#pragma once

#include <cstdint>

struct CUstream_st;

namespace fold::kernels::cuda {

enum class DType { kFloat32, kFloat16, kBFloat16 };

// y = softmax(x) along each row; statistics in fp32 whatever the storage type.
// x == y is allowed (in place).
int softmax_forward(const void* x, void* y, int64_t rows, int64_t cols, DType dtype,
                    CUstream_st* stream);

// dx = y * (dy - sum(dy * y)) along each row. dx == dy is allowed.
int softmax_backward(const void* y, const void* dy, void* dx, int64_t rows, int64_t cols,
                     DType dtype, CUstream_st* stream);

}  // namespace fold::kernels::cuda
