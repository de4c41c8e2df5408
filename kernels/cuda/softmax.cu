// One thread block per row; CUB block reductions for the row max and sums. Rows of the
// Evoformer attention are short (N_res <= a few thousand), so a block-per-row layout
// keeps every row in registers/L1 for the second pass without shared-memory staging.
#include "kernels/cuda/softmax.h"

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <cub/block/block_reduce.cuh>

#include "kernels/cuda/storage.cuh"

namespace fold::kernels::cuda {

namespace {

constexpr int kThreads = 256;


struct MaxOp {
  __device__ __forceinline__ float operator()(float a, float b) const { return a > b ? a : b; }
};

template <typename T>
__global__ void __launch_bounds__(kThreads) softmax_forward_kernel(const T* x, T* y, int64_t cols) {
  using Reduce = cub::BlockReduce<float, kThreads>;
  __shared__ typename Reduce::TempStorage tmp;
  __shared__ float row_max, row_sum;
  const T* xr = x + blockIdx.x * cols;
  T* yr = y + blockIdx.x * cols;

  float m = -INFINITY;
  for (int64_t j = threadIdx.x; j < cols; j += kThreads) m = fmaxf(m, load(xr + j));
  m = Reduce(tmp).Reduce(m, MaxOp());
  if (threadIdx.x == 0) row_max = m;
  __syncthreads();

  // A row whose entries are all -inf (every key masked) gives zeros, not NaN.
  const float shift = row_max == -INFINITY ? 0.0f : row_max;
  float s = 0.0f;
  for (int64_t j = threadIdx.x; j < cols; j += kThreads) s += __expf(load(xr + j) - shift);
  s = Reduce(tmp).Sum(s);
  if (threadIdx.x == 0) row_sum = s;
  __syncthreads();

  const float inv = row_sum > 0.0f ? 1.0f / row_sum : 0.0f;
  for (int64_t j = threadIdx.x; j < cols; j += kThreads) store(yr + j, __expf(load(xr + j) - shift) * inv);
}

template <typename T>
__global__ void __launch_bounds__(kThreads) softmax_backward_kernel(const T* __restrict__ y, const T* dy, T* dx, int64_t cols) {
  using Reduce = cub::BlockReduce<float, kThreads>;
  __shared__ typename Reduce::TempStorage tmp;
  __shared__ float row_dot;
  const T* yr = y + blockIdx.x * cols;
  const T* dyr = dy + blockIdx.x * cols;
  T* dxr = dx + blockIdx.x * cols;

  float d = 0.0f;
  for (int64_t j = threadIdx.x; j < cols; j += kThreads) d += load(yr + j) * load(dyr + j);
  d = Reduce(tmp).Sum(d);
  if (threadIdx.x == 0) row_dot = d;
  __syncthreads();

  for (int64_t j = threadIdx.x; j < cols; j += kThreads) {
    const float yv = load(yr + j);
    store(dxr + j, yv * (load(dyr + j) - row_dot));
  }
}

template <typename T>
int launch_forward(const void* x, void* y, int64_t rows, int64_t cols, cudaStream_t s) {
  if (rows == 0 || cols == 0) return cudaSuccess;
  softmax_forward_kernel<T><<<static_cast<unsigned>(rows), kThreads, 0, s>>>(
      static_cast<const T*>(x), static_cast<T*>(y), cols);
  return cudaGetLastError();
}

template <typename T>
int launch_backward(const void* y, const void* dy, void* dx, int64_t rows, int64_t cols, cudaStream_t s) {
  if (rows == 0 || cols == 0) return cudaSuccess;
  softmax_backward_kernel<T><<<static_cast<unsigned>(rows), kThreads, 0, s>>>(
      static_cast<const T*>(y), static_cast<const T*>(dy), static_cast<T*>(dx), cols);
  return cudaGetLastError();
}

}  // namespace

int softmax_forward(const void* x, void* y, int64_t rows, int64_t cols, DType dtype, CUstream_st* stream) {
  if (rows > 0x7fffffff) return cudaErrorInvalidConfiguration;
  switch (dtype) {
    case DType::kFloat32: return launch_forward<float>(x, y, rows, cols, stream);
    case DType::kFloat16: return launch_forward<__half>(x, y, rows, cols, stream);
    case DType::kBFloat16: return launch_forward<__nv_bfloat16>(x, y, rows, cols, stream);
  }
  return cudaErrorInvalidValue;
}

int softmax_backward(const void* y, const void* dy, void* dx, int64_t rows, int64_t cols, DType dtype,
                     CUstream_st* stream) {
  if (rows > 0x7fffffff) return cudaErrorInvalidConfiguration;
  switch (dtype) {
    case DType::kFloat32: return launch_backward<float>(y, dy, dx, rows, cols, stream);
    case DType::kFloat16: return launch_backward<__half>(y, dy, dx, rows, cols, stream);
    case DType::kBFloat16: return launch_backward<__nv_bfloat16>(y, dy, dx, rows, cols, stream);
  }
  return cudaErrorInvalidValue;
}

}  // namespace fold::kernels::cuda
