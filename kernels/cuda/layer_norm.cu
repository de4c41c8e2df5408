// One warp per row for the row passes: AF2's normalised widths are short (c_z = 128,
// c_m = 256, c_s = 384) and the rows many (N_res^2 pair rows), so a block per row would
// leave most threads idle and pay a block-wide barrier per reduction. A warp's row
// (<= 1.5 KiB) stays in L1 between the passes, so re-reading it costs no DRAM traffic.
// The weight/bias gradients are column sums over all rows: per-(column tile, row chunk)
// partials, then a second kernel adds the chunks in a fixed order, so results are
// deterministic.
#include "kernels/cuda/layer_norm.h"

#include "kernels/cuda/storage.cuh"

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <algorithm>

namespace fold::kernels::cuda {

namespace {

constexpr int kThreads = 256;
constexpr int kWarp = 32;
constexpr int kRowsPerBlock = kThreads / kWarp;
// Column-sum partials: a block covers kColTile columns (one warp-wide, coalesced) and
// kThreads / kColTile rows at a time within its chunk of rows.
constexpr int kColTile = 32;
constexpr int kRowLanes = kThreads / kColTile;
// Enough chunks to fill an H100 (132 SMs) for the 4-12 column tiles of AF2 widths,
// few enough that the second pass over the partials is negligible.
constexpr int64_t kMaxChunks = 256;
constexpr int64_t kMinRowsPerChunk = 64;


// Butterfly sum: every lane ends with the total, so no shared-memory broadcast.
__device__ __forceinline__ float warp_sum(float v) {
  for (int offset = kWarp / 2; offset > 0; offset /= 2) v += __shfl_xor_sync(0xffffffffu, v, offset);
  return v;
}

int64_t column_chunks(int64_t rows) {
  return std::min(kMaxChunks, (rows + kMinRowsPerChunk - 1) / kMinRowsPerChunk);
}

// Two-pass statistics (mean, then the centred sum of squares): as cheap as Welford
// here because the row is L1-resident, and exact for constant rows (variance 0).
template <typename T>
__global__ void __launch_bounds__(kThreads)
    layer_norm_forward_kernel(const T* x, const float* __restrict__ w, const float* __restrict__ b, T* y,
                              float* mean, float* rstd, int64_t rows, int64_t cols, float eps) {
  const int64_t row = static_cast<int64_t>(blockIdx.x) * kRowsPerBlock + threadIdx.x / kWarp;
  if (row >= rows) return;  // whole warps leave together, so the shuffles below stay full
  const int lane = threadIdx.x % kWarp;
  const T* xr = x + row * cols;
  T* yr = y + row * cols;
  const float inv_cols = 1.0f / static_cast<float>(cols);

  float s = 0.0f;
  for (int64_t j = lane; j < cols; j += kWarp) s += load(xr + j);
  const float mu = warp_sum(s) * inv_cols;
  float v = 0.0f;
  for (int64_t j = lane; j < cols; j += kWarp) {
    const float d = load(xr + j) - mu;
    v += d * d;
  }
  const float rs = rsqrtf(warp_sum(v) * inv_cols + eps);
  if (lane == 0) {
    mean[row] = mu;
    rstd[row] = rs;
  }
  for (int64_t j = lane; j < cols; j += kWarp) {
    float o = (load(xr + j) - mu) * rs;
    if (w != nullptr) o *= w[j];
    if (b != nullptr) o += b[j];
    store(yr + j, o);
  }
}

template <typename T>
__global__ void __launch_bounds__(kThreads)
    layer_norm_backward_dx_kernel(const T* dy, const T* x, const float* __restrict__ w,
                                  const float* __restrict__ mean, const float* __restrict__ rstd, T* dx,
                                  int64_t rows, int64_t cols) {
  const int64_t row = static_cast<int64_t>(blockIdx.x) * kRowsPerBlock + threadIdx.x / kWarp;
  if (row >= rows) return;
  const int lane = threadIdx.x % kWarp;
  const T* dyr = dy + row * cols;
  const T* xr = x + row * cols;
  T* dxr = dx + row * cols;
  const float mu = mean[row], rs = rstd[row];
  const float inv_cols = 1.0f / static_cast<float>(cols);

  float sg = 0.0f, sgx = 0.0f;
  for (int64_t j = lane; j < cols; j += kWarp) {
    const float g = load(dyr + j) * (w != nullptr ? w[j] : 1.0f);
    sg += g;
    sgx += g * (load(xr + j) - mu) * rs;
  }
  const float mg = warp_sum(sg) * inv_cols;
  const float mgx = warp_sum(sgx) * inv_cols;
  for (int64_t j = lane; j < cols; j += kWarp) {
    const float g = load(dyr + j) * (w != nullptr ? w[j] : 1.0f);
    const float xhat = (load(xr + j) - mu) * rs;
    store(dxr + j, rs * (g - mg - xhat * mgx));
  }
}

// partial_w/partial_b: [chunks, cols]; either may be null.
template <typename T>
__global__ void __launch_bounds__(kThreads)
    column_partials_kernel(const T* dy, const T* x, const float* __restrict__ mean,
                           const float* __restrict__ rstd, float* partial_w, float* partial_b, int64_t rows,
                           int64_t cols, int64_t rows_per_chunk) {
  __shared__ float sw[kRowLanes][kColTile + 1];  // +1: no bank conflicts on the column read
  __shared__ float sb[kRowLanes][kColTile + 1];
  const int tx = threadIdx.x % kColTile, ty = threadIdx.x / kColTile;
  const int64_t col = static_cast<int64_t>(blockIdx.x) * kColTile + tx;
  const int64_t begin = static_cast<int64_t>(blockIdx.y) * rows_per_chunk;
  const int64_t end = begin + rows_per_chunk < rows ? begin + rows_per_chunk : rows;

  float aw = 0.0f, ab = 0.0f;
  if (col < cols) {
    for (int64_t r = begin + ty; r < end; r += kRowLanes) {
      const float g = load(dy + r * cols + col);
      ab += g;
      if (partial_w != nullptr) aw += g * (load(x + r * cols + col) - mean[r]) * rstd[r];
    }
  }
  sw[ty][tx] = aw;
  sb[ty][tx] = ab;
  __syncthreads();
  if (ty != 0 || col >= cols) return;
  for (int k = 1; k < kRowLanes; ++k) {
    aw += sw[k][tx];
    ab += sb[k][tx];
  }
  const int64_t out = static_cast<int64_t>(blockIdx.y) * cols + col;
  if (partial_w != nullptr) partial_w[out] = aw;
  if (partial_b != nullptr) partial_b[out] = ab;
}

__global__ void __launch_bounds__(kThreads)
    column_sums_kernel(const float* partial_w, const float* partial_b, float* dw, float* db, int64_t chunks,
                       int64_t cols) {
  const int64_t col = static_cast<int64_t>(blockIdx.x) * kThreads + threadIdx.x;
  if (col >= cols) return;
  float aw = 0.0f, ab = 0.0f;
  for (int64_t c = 0; c < chunks; ++c) {
    if (dw != nullptr) aw += partial_w[c * cols + col];
    if (db != nullptr) ab += partial_b[c * cols + col];
  }
  if (dw != nullptr) dw[col] = aw;
  if (db != nullptr) db[col] = ab;
}

unsigned row_blocks(int64_t rows) { return static_cast<unsigned>((rows + kRowsPerBlock - 1) / kRowsPerBlock); }

template <typename T>
int launch_forward(const void* x, const float* w, const float* b, void* y, float* mean, float* rstd,
                   int64_t rows, int64_t cols, float eps, cudaStream_t s) {
  if (rows == 0 || cols == 0) return cudaSuccess;
  layer_norm_forward_kernel<T><<<row_blocks(rows), kThreads, 0, s>>>(
      static_cast<const T*>(x), w, b, static_cast<T*>(y), mean, rstd, rows, cols, eps);
  return cudaGetLastError();
}

template <typename T>
int launch_backward(const void* dy, const void* x, const float* w, const float* mean, const float* rstd,
                    void* dx, float* dw, float* db, float* workspace, int64_t rows, int64_t cols,
                    cudaStream_t s) {
  if (cols == 0) return cudaSuccess;
  if (rows == 0) {
    // Sums over no rows are zero; the kernels below would write nothing.
    if (dw != nullptr) {
      if (int err = cudaMemsetAsync(dw, 0, cols * sizeof(float), s)) return err;
    }
    if (db != nullptr) {
      if (int err = cudaMemsetAsync(db, 0, cols * sizeof(float), s)) return err;
    }
    return cudaSuccess;
  }
  if (dx != nullptr) {
    layer_norm_backward_dx_kernel<T><<<row_blocks(rows), kThreads, 0, s>>>(
        static_cast<const T*>(dy), static_cast<const T*>(x), w, mean, rstd, static_cast<T*>(dx), rows, cols);
    if (int err = cudaGetLastError()) return err;
  }
  if (dw == nullptr && db == nullptr) return cudaSuccess;
  if (workspace == nullptr) return cudaErrorInvalidValue;
  const int64_t chunks = column_chunks(rows);
  const int64_t rows_per_chunk = (rows + chunks - 1) / chunks;
  float* partial_w = dw != nullptr ? workspace : nullptr;
  float* partial_b = db != nullptr ? workspace + chunks * cols : nullptr;
  const dim3 grid(static_cast<unsigned>((cols + kColTile - 1) / kColTile), static_cast<unsigned>(chunks));
  column_partials_kernel<T><<<grid, kThreads, 0, s>>>(static_cast<const T*>(dy), static_cast<const T*>(x),
                                                      mean, rstd, partial_w, partial_b, rows, cols,
                                                      rows_per_chunk);
  if (int err = cudaGetLastError()) return err;
  column_sums_kernel<<<static_cast<unsigned>((cols + kThreads - 1) / kThreads), kThreads, 0, s>>>(
      partial_w, partial_b, dw, db, chunks, cols);
  return cudaGetLastError();
}

bool too_large(int64_t rows, int64_t cols) {
  return (rows + kRowsPerBlock - 1) / kRowsPerBlock > 0x7fffffff || (cols + kColTile - 1) / kColTile > 0x7fffffff;
}

}  // namespace

int layer_norm_forward(const void* x, const float* weight, const float* bias, void* y, float* mean, float* rstd,
                       int64_t rows, int64_t cols, float eps, DType dtype, CUstream_st* stream) {
  if (too_large(rows, cols)) return cudaErrorInvalidConfiguration;
  switch (dtype) {
    case DType::kFloat32: return launch_forward<float>(x, weight, bias, y, mean, rstd, rows, cols, eps, stream);
    case DType::kFloat16: return launch_forward<__half>(x, weight, bias, y, mean, rstd, rows, cols, eps, stream);
    case DType::kBFloat16:
      return launch_forward<__nv_bfloat16>(x, weight, bias, y, mean, rstd, rows, cols, eps, stream);
  }
  return cudaErrorInvalidValue;
}

int64_t layer_norm_backward_workspace(int64_t rows, int64_t cols) { return 2 * column_chunks(rows) * cols; }

int layer_norm_backward(const void* dy, const void* x, const float* weight, const float* mean, const float* rstd,
                        void* dx, float* dweight, float* dbias, float* workspace, int64_t rows, int64_t cols,
                        DType dtype, CUstream_st* stream) {
  if (too_large(rows, cols)) return cudaErrorInvalidConfiguration;
  switch (dtype) {
    case DType::kFloat32:
      return launch_backward<float>(dy, x, weight, mean, rstd, dx, dweight, dbias, workspace, rows, cols, stream);
    case DType::kFloat16:
      return launch_backward<__half>(dy, x, weight, mean, rstd, dx, dweight, dbias, workspace, rows, cols, stream);
    case DType::kBFloat16:
      return launch_backward<__nv_bfloat16>(dy, x, weight, mean, rstd, dx, dweight, dbias, workspace, rows, cols,
                                            stream);
  }
  return cudaErrorInvalidValue;
}

}  // namespace fold::kernels::cuda
