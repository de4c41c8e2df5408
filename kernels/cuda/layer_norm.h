// LayerNorm over the last dimension of a contiguous [rows, cols] array, forward and
// backward, on CUDA. AF2 applies LayerNorm before nearly every Evoformer and structure
// module block; FastFold fuses it into one kernel per pass. Framework-free: pointers,
// sizes and a stream in, an error code out (0 = success, else a cudaError_t value);
// kernels/layer_norm.cpp binds it to ATen.
#pragma once

#include <cstdint>

#include "kernels/cuda/dtype.h"

struct CUstream_st;

namespace fold::kernels::cuda {

// y = (x - mean) * rstd * weight + bias along each row, rstd = 1 / sqrt(var + eps) with
// the biased variance. x and y have storage type dtype; weight and bias are fp32 [cols]
// or null (then 1 and 0), so fp32 master weights need no rounding to bf16. mean and
// rstd (fp32 [rows]) are written for the backward. Statistics are fp32 throughout.
int layer_norm_forward(const void* x, const float* weight, const float* bias, void* y, float* mean,
                       float* rstd, int64_t rows, int64_t cols, float eps, DType dtype,
                       CUstream_st* stream);

// Floats of scratch that layer_norm_backward needs when dweight or dbias is requested.
int64_t layer_norm_backward_workspace(int64_t rows, int64_t cols);

// With xhat = (x - mean) * rstd and g = dy * weight:
//   dx = rstd * (g - mean_row(g) - xhat * mean_row(g * xhat)),
//   dweight = sum_rows(dy * xhat), dbias = sum_rows(dy)   (fp32 [cols]).
// Any of dx, dweight, dbias may be null to skip it; workspace holds
// layer_norm_backward_workspace(rows, cols) floats and may be null when dweight and
// dbias both are. The column sums are deterministic (no atomics).
int layer_norm_backward(const void* dy, const void* x, const float* weight, const float* mean,
                        const float* rstd, void* dx, float* dweight, float* dbias, float* workspace,
                        int64_t rows, int64_t cols, DType dtype, CUstream_st* stream);

}  // namespace fold::kernels::cuda
