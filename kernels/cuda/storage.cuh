// Conversions between the storage types of the CUDA kernels (fp32, fp16, bf16) and the
// fp32 they compute in; shared by every kernel in kernels/cuda/.
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>

namespace fold::kernels::cuda {

template <typename T> __device__ __forceinline__ float to_float(T v) { return static_cast<float>(v); }
template <> __device__ __forceinline__ float to_float(__half v) { return __half2float(v); }
template <> __device__ __forceinline__ float to_float(__nv_bfloat16 v) { return __bfloat162float(v); }

template <typename T> __device__ __forceinline__ T from_float(float v) { return static_cast<T>(v); }
template <> __device__ __forceinline__ __half from_float(float v) { return __float2half(v); }
template <> __device__ __forceinline__ __nv_bfloat16 from_float(float v) { return __float2bfloat16(v); }

template <typename T> __device__ __forceinline__ float load(const T* p) { return to_float(*p); }
template <typename T> __device__ __forceinline__ void store(T* p, float v) { *p = from_float<T>(v); }

}  // namespace fold::kernels::cuda
