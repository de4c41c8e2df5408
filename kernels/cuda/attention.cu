// Fused gated attention of the Evoformer (AF2 Supplement Algorithms 7, 8, 13, 14: MSA row
// attention with pair bias, MSA column attention, triangle attention around the starting
// and ending node), forward and backward:
//   logits = scale * q k^T + bias0 + bias1,  o = softmax(logits) v,  out = sigmoid(gate) * o
// following flash-attention-2 (Dao, 2023): the [Q, K] logits only ever exist one tile at a
// time in shared memory. Forward keeps a running max and sum per query (online softmax)
// and saves both (attention_row_stats.h); backward recomputes the probabilities from them.
//
// Blocks (head dim C zero-padded to D = 16, 32 or 64 for the 16-wide products):
//   forward   one block per (b1, b2, h, 64-query tile), 4 warps of 16 queries each, so a
//             row's softmax statistics never leave its warp; loop over 32-key tiles
//   backward  one block per (b1, b2, h, key tile), 16 keys per warp (each warp keeps dk, dv
//             of its keys in registers), loop over 16-query tiles; dq and the bias
//             gradients are accumulated with fp32 atomics (other key tiles add to them)
// bf16/fp16 products run on tensor cores (wmma 16x16x16, fp32 accumulators). fp32 runs the
// same algorithm through a CUDA-core implementation of the same 16x16 tile interface, so
// masking, softmax and gradient logic exist once. Shared memory stays under the 48 KB
// static limit for every instantiation (static_asserts below).
#include "kernels/cuda/attention.h"

#include "kernels/cuda/storage.cuh"

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>
#include <mma.h>

#include <climits>
#include <cstddef>
#include <cstdint>
#include <cub/warp/warp_reduce.cuh>
#include <type_traits>

namespace fold::kernels::cuda {

namespace {

namespace wmma = nvcuda::wmma;

constexpr int kWarp = 32;
constexpr unsigned kFullMask = 0xffffffffu;


// Saturates cleanly: exp(-x) = inf gives 0, never NaN.
__device__ __forceinline__ float sigmoid(float x) { return 1.0f / (1.0f + __expf(-x)); }

template <typename T>
struct Problem {
  int64_t b2, heads, q_len, k_len;
  int head_dim;
  float scale;
  const T* q;
  const T* k;
  const T* v;
  const T* gate;
  const void* bias[2];
  DType bias_dtype[2];
  int64_t stride[2][5];
  int64_t grad_stride[2][5];
};

// Element `off` of a bias in its own storage type; the type is uniform over the launch,
// so the switch never diverges.
__device__ __forceinline__ float bias_value(const void* bias, DType dtype, int64_t off) {
  switch (dtype) {
    case DType::kFloat16: return to_float(static_cast<const __half*>(bias)[off]);
    case DType::kBFloat16: return to_float(static_cast<const __nv_bfloat16*>(bias)[off]);
    default: return static_cast<const float*>(bias)[off];
  }
}

// Offset of the (b1, b2, h) slab of a bias (or its gradient) addressed by strides over
// [B1, B2, H, Q, K]; bh indexes the collapsed [B1, B2, H].
__device__ __forceinline__ int64_t slab_offset(const int64_t (&s)[5], int64_t bh, int64_t b2n, int64_t heads) {
  const int64_t h = bh % heads;
  const int64_t b2 = (bh / heads) % b2n;
  const int64_t b1 = bh / heads / b2n;
  return b1 * s[0] + b2 * s[1] + h * s[2];
}

// --- 16x16 warp tiles with fp32 accumulators -----------------------------------------
// mma<LA, LB, Depth>(c, a, lda, b, ldb): c += A[16 x Depth] B[Depth x 16], operands in
// shared memory; wmma::row_major A means A(m, k) = a[m * lda + k], col_major A(m, k) =
// a[k * lda + m] (likewise for B(k, n)). Pointers must be 32-byte aligned and pitches a
// multiple of 16 bytes (wmma's rules; the fp32 version needs only 16-byte alignment).

template <typename T, bool kTensorCores = !std::is_same<T, float>::value>
struct Tile;

template <typename T>
struct Tile<T, true> {
  using Acc = wmma::fragment<wmma::accumulator, 16, 16, 16, float>;
  static constexpr int kElems = Acc::num_elements;

  // The accumulator's element-to-row layout is unspecified, but it is fixed for the
  // fragment type (mma_sync must agree with load_matrix_sync), so measure it once: load a
  // tile whose entries are their row index. Needed to rescale rows in the online softmax.
  __device__ static void row_map(int (&rows)[kElems], float* scratch, int ld) {
    const int lane = threadIdx.x % kWarp;
    for (int idx = lane; idx < 256; idx += kWarp) scratch[(idx / 16) * ld + idx % 16] = static_cast<float>(idx / 16);
    __syncwarp();
    Acc a;
    wmma::load_matrix_sync(a, scratch, ld, wmma::mem_row_major);
#pragma unroll
    for (int e = 0; e < kElems; ++e) rows[e] = static_cast<int>(a.x[e]);
    __syncwarp();
  }

  __device__ static void zero(Acc& a) { wmma::fill_fragment(a, 0.0f); }

  __device__ static void scale_rows(Acc& a, const int (&rows)[kElems], const float* factor) {
#pragma unroll
    for (int e = 0; e < kElems; ++e) a.x[e] *= factor[rows[e]];
  }

  __device__ static void store(float* p, int ld, const Acc& a) { wmma::store_matrix_sync(p, a, ld, wmma::mem_row_major); }

  template <typename LA, typename LB, int Depth>
  __device__ static void mma(Acc& c, const T* a, int lda, const T* b, int ldb) {
    static_assert(Depth % 16 == 0, "depth must be a multiple of 16");
#pragma unroll
    for (int k = 0; k < Depth; k += 16) {
      wmma::fragment<wmma::matrix_a, 16, 16, 16, T, LA> fa;
      wmma::fragment<wmma::matrix_b, 16, 16, 16, T, LB> fb;
      wmma::load_matrix_sync(fa, a + (std::is_same<LA, wmma::row_major>::value ? k : k * lda), lda);
      wmma::load_matrix_sync(fb, b + (std::is_same<LB, wmma::row_major>::value ? k * ldb : k), ldb);
      wmma::mma_sync(c, fa, fb, c);
    }
  }
};

// CUDA-core version: lane owns row lane / 2, columns (lane % 2) * 8 + [0, 8). Operands are
// read 4-deep with float4 where they are contiguous along the depth or the columns.
template <>
struct Tile<float, false> {
  struct Acc {
    float x[8];
  };
  static constexpr int kElems = 8;

  __device__ static void row_map(int (&rows)[kElems], float*, int) {
#pragma unroll
    for (int e = 0; e < kElems; ++e) rows[e] = (threadIdx.x % kWarp) / 2;
  }

  __device__ static void zero(Acc& a) {
#pragma unroll
    for (int e = 0; e < kElems; ++e) a.x[e] = 0.0f;
  }

  __device__ static void scale_rows(Acc& a, const int (&rows)[kElems], const float* factor) {
    const float f = factor[rows[0]];
#pragma unroll
    for (int e = 0; e < kElems; ++e) a.x[e] *= f;
  }

  __device__ static void store(float* p, int ld, const Acc& a) {
    const int lane = threadIdx.x % kWarp;
    float4* q = reinterpret_cast<float4*>(p + (lane / 2) * ld + (lane % 2) * 8);
    q[0] = make_float4(a.x[0], a.x[1], a.x[2], a.x[3]);
    q[1] = make_float4(a.x[4], a.x[5], a.x[6], a.x[7]);
  }

  template <typename LA, typename LB, int Depth>
  __device__ static void mma(Acc& c, const float* a, int lda, const float* b, int ldb) {
    static_assert(Depth % 4 == 0, "depth must be a multiple of 4");
    const int lane = threadIdx.x % kWarp;
    const int row = lane / 2, col = (lane % 2) * 8;
#pragma unroll
    for (int k = 0; k < Depth; k += 4) {
      float av[4];
      if constexpr (std::is_same<LA, wmma::row_major>::value) {
        const float4 t = *reinterpret_cast<const float4*>(a + row * lda + k);
        av[0] = t.x, av[1] = t.y, av[2] = t.z, av[3] = t.w;
      } else {
#pragma unroll
        for (int t = 0; t < 4; ++t) av[t] = a[(k + t) * lda + row];
      }
      if constexpr (std::is_same<LB, wmma::row_major>::value) {
#pragma unroll
        for (int t = 0; t < 4; ++t) {
          const float4 b0 = *reinterpret_cast<const float4*>(b + (k + t) * ldb + col);
          const float4 b1 = *reinterpret_cast<const float4*>(b + (k + t) * ldb + col + 4);
          c.x[0] = fmaf(av[t], b0.x, c.x[0]);
          c.x[1] = fmaf(av[t], b0.y, c.x[1]);
          c.x[2] = fmaf(av[t], b0.z, c.x[2]);
          c.x[3] = fmaf(av[t], b0.w, c.x[3]);
          c.x[4] = fmaf(av[t], b1.x, c.x[4]);
          c.x[5] = fmaf(av[t], b1.y, c.x[5]);
          c.x[6] = fmaf(av[t], b1.z, c.x[6]);
          c.x[7] = fmaf(av[t], b1.w, c.x[7]);
        }
      } else {
#pragma unroll
        for (int e = 0; e < 8; ++e) {
          const float4 bv = *reinterpret_cast<const float4*>(b + (col + e) * ldb + k);
          c.x[e] = fmaf(av[0], bv.x, fmaf(av[1], bv.y, fmaf(av[2], bv.z, fmaf(av[3], bv.w, c.x[e]))));
        }
      }
    }
  }
};

// Copies rows [0, valid) of a row-major [rows, c] global tile into shared memory (pitch
// ld), zero-filling what the padded products read: rows >= valid and columns >= c.
template <int Rows, int D, typename T>
__device__ __forceinline__ void load_tile(T* s, int ld, const T* g, int valid, int c) {
  for (int idx = threadIdx.x; idx < Rows * D; idx += blockDim.x) {
    const int r = idx / D, d = idx % D;
    s[r * ld + d] = (r < valid && d < c) ? g[static_cast<int64_t>(r) * c + d] : from_float<T>(0.0f);
  }
}

// As load_tile, for the gradient of the ungated output: d_out * sigmoid(gate).
template <int Rows, int D, typename T>
__device__ __forceinline__ void load_grad_tile(T* s, int ld, const T* d_out, const T* gate, int valid, int c) {
  for (int idx = threadIdx.x; idx < Rows * D; idx += blockDim.x) {
    const int r = idx / D, d = idx % D;
    float x = 0.0f;
    if (r < valid && d < c) {
      const int64_t off = static_cast<int64_t>(r) * c + d;
      x = to_float(d_out[off]);
      if (gate != nullptr) x *= sigmoid(to_float(gate[off]));
    }
    s[r * ld + d] = from_float<T>(x);
  }
}

__host__ __device__ constexpr int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }
__device__ __forceinline__ int clamp_rows(int64_t remaining, int tile) {
  return remaining < tile ? static_cast<int>(remaining) : tile;
}

// The logit of query i against key j from their product: scaled, both biases added.
template <typename T>
__device__ __forceinline__ float biased_logit(const Problem<T>& p, const int64_t (&bias_base)[2], float product,
                                              int64_t i, int64_t j) {
  float x = p.scale * product;
#pragma unroll
  for (int b = 0; b < 2; ++b) {
    if (p.bias[b] != nullptr)
      x += bias_value(p.bias[b], p.bias_dtype[b], bias_base[b] + i * p.stride[b][3] + j * p.stride[b][4]);
  }
  return x;
}

// --- forward ---------------------------------------------------------------------------

template <typename T, int D>
struct FwdShape {
  static constexpr int kD = D;
  static constexpr bool kTC = !std::is_same<T, float>::value;
  static constexpr int kWarps = 4, kThreads = kWarps * kWarp;
  static constexpr int kBQ = 16 * kWarps, kBK = 32;
  // Pitches padded by 16 bytes so the 16 rows of a tile start in different banks, and
  // still multiples of 16 bytes as wmma requires.
  static constexpr int kLdX = D + (kTC ? 8 : 4);     // q, k, v tiles (T)
  static constexpr int kLdS = kBK + 4;               // logits (fp32)
  static constexpr int kLdP = kTC ? kBK + 8 : kLdS;  // probabilities (T); fp32 reuses the logits
  static constexpr int kLdO = D + 4;                 // output staging (fp32)
  static constexpr size_t kQ = 0;
  static constexpr size_t kK = kQ + sizeof(T) * kBQ * kLdX;
  static constexpr size_t kV = kK + sizeof(T) * kBK * kLdX;
  static constexpr size_t kS = kV + sizeof(T) * kBK * kLdX;
  static constexpr size_t kP = kS + sizeof(float) * kBQ * kLdS;
  static constexpr size_t kRowScale = kP + (kTC ? sizeof(T) * kBQ * kLdP : 0);
  static constexpr size_t kBytes = kRowScale + sizeof(float) * kBQ;
  static_assert(kBytes <= 48 * 1024, "forward tiles exceed static shared memory");
  // After the key loop the output is staged over the k, v, logit and probability tiles.
  static_assert(kRowScale - kK >= sizeof(float) * kBQ * kLdO, "output staging does not fit");
  static_assert(kK % 32 == 0 && kV % 32 == 0 && kS % 32 == 0 && kP % 32 == 0, "wmma needs 32-byte alignment");
};

// One warp's 16 x 16 block a b^T (a, b: 16 rows of Depth in pitch ld) stored to `dst`.
template <typename Ops, int Depth, typename T>
__device__ __forceinline__ void warp_product(const T* a, const T* b, float* dst, int ld, int ld_dst) {
  typename Ops::Acc acc;
  Ops::zero(acc);
  Ops::template mma<wmma::row_major, wmma::col_major, Depth>(acc, a, ld, b, ld);
  Ops::store(dst, ld_dst, acc);
}

// A warp's 16 query rows (`q`, from query i0) against the key tile (`k`, from key k0):
// the logits into `ws`, scaled and biased in a layout where lanes walk along keys, so
// bias reads coalesce. Keys and rows past the end get -inf: probability exactly 0.
template <typename S, typename Ops, typename T>
__device__ __forceinline__ void forward_logits(const Problem<T>& p, const int64_t (&bias_base)[2], const T* q,
                                               const T* k, float* ws, int64_t i0, int64_t k0) {
  const int lane = threadIdx.x % kWarp;
#pragma unroll
  for (int n = 0; n < S::kBK / 16; ++n)
    warp_product<Ops, S::kD>(q, k + n * 16 * S::kLdX, ws + n * 16, S::kLdX, S::kLdS);
  __syncwarp();
  for (int idx = lane; idx < 16 * S::kBK; idx += kWarp) {
    const int rr = idx / S::kBK, cc = idx % S::kBK;
    const int64_t i = i0 + rr, j = k0 + cc;
    float& x = ws[rr * S::kLdS + cc];
    x = i < p.q_len && j < p.k_len ? biased_logit(p, bias_base, x, i, j) : -INFINITY;
  }
  __syncwarp();
}

// One key tile's online-softmax step on a row of logits `srow`: the probabilities into
// `prow` (fp32: over the logits), the running max `m` and this lane's running sum `l`
// updated. Each lane covers alternate keys (`half`); one shuffle combines the pair's
// maxima (a 2-lane butterfly, cheaper than a CUB reduction plus a broadcast). Returns
// the factor on the row's earlier output.
template <int BK, typename T>
__device__ __forceinline__ float online_softmax_step(const float* srow, T* prow, int half, float& m, float& l) {
  float tile_max = -INFINITY;
#pragma unroll
  for (int t = 0; t < BK / 2; ++t) tile_max = fmaxf(tile_max, srow[2 * t + half]);
  tile_max = fmaxf(tile_max, __shfl_xor_sync(kFullMask, tile_max, 1));
  const float m_new = fmaxf(m, tile_max);
  // While every logit so far is -inf, shift by 0: exp(-inf - -inf) would be NaN, and
  // exp(-inf - 0) = 0 keeps o and l at exactly 0.
  const float shift = m_new == -INFINITY ? 0.0f : m_new;
  const float alpha = __expf(m - shift);
  float sum = 0.0f;
#pragma unroll
  for (int t = 0; t < BK / 2; ++t) {
    const int cc = 2 * t + half;
    const float pv = __expf(srow[cc] - shift);
    prow[cc] = from_float<T>(pv);  // fp32: overwrites the logit this lane just read
    sum += pv;
  }
  l = l * alpha + sum;
  m = m_new;
  return alpha;
}

// A warp's `valid` output rows from `stage` (times the row factors `scale`) to `o` at
// `base`, and to `out` gated (without a gate, an `out` buffer, optional then, simply
// receives o). The 16 rows are contiguous in memory: lanes walk them linearly.
template <int D, typename T>
__device__ __forceinline__ void write_output(const Problem<T>& p, const float* stage, int ld, const float* scale,
                                             int64_t base, int valid, T* o, T* out) {
  const int lane = threadIdx.x % kWarp, c = p.head_dim;
  for (int idx = lane; idx < 16 * D; idx += kWarp) {
    const int rr = idx / D, d = idx % D;
    if (rr < valid && d < c) {
      const float val = stage[rr * ld + d] * scale[rr];
      const int64_t off = base + static_cast<int64_t>(rr) * c + d;
      o[off] = from_float<T>(val);
      if (out != nullptr) out[off] = from_float<T>(p.gate != nullptr ? val * sigmoid(to_float(p.gate[off])) : val);
    }
  }
}

template <typename T, int D>
__global__ void __launch_bounds__(FwdShape<T, D>::kThreads)
    attention_forward_kernel(const Problem<T> p, T* __restrict__ o, T* __restrict__ out,
                             RowStats* __restrict__ stats) {
  using S = FwdShape<T, D>;
  using Ops = Tile<T>;
  using Acc = typename Ops::Acc;
  __shared__ __align__(128) unsigned char smem[S::kBytes];
  T* sq = reinterpret_cast<T*>(smem + S::kQ);
  T* sk = reinterpret_cast<T*>(smem + S::kK);
  T* sv = reinterpret_cast<T*>(smem + S::kV);
  float* ss = reinterpret_cast<float*>(smem + S::kS);
  T* sp = reinterpret_cast<T*>(smem + (S::kTC ? S::kP : S::kS));
  float* row_scale = reinterpret_cast<float*>(smem + S::kRowScale);

  const int warp = threadIdx.x / kWarp, lane = threadIdx.x % kWarp;
  const int c = p.head_dim;
  const int64_t Q = p.q_len, K = p.k_len;
  const int64_t n_tiles = ceil_div(Q, S::kBQ);
  const int64_t bh = static_cast<int64_t>(blockIdx.x) / n_tiles;
  const int64_t q0 = static_cast<int64_t>(blockIdx.x) % n_tiles * S::kBQ;
  int64_t bias_base[2];
#pragma unroll
  for (int b = 0; b < 2; ++b) bias_base[b] = slab_offset(p.stride[b], bh, p.b2, p.heads);

  load_tile<S::kBQ, D>(sq, S::kLdX, p.q + (bh * Q + q0) * c, clamp_rows(Q - q0, S::kBQ), c);

  const int wrow = warp * 16;                // this warp's first query in the tile
  const bool active = q0 + wrow < Q;         // warp-uniform
  const int r = lane / 2, half = lane % 2;   // two lanes share each query row's softmax
  float* ws = ss + wrow * S::kLdS;
  T* wp = sp + wrow * S::kLdP;
  float* wscale = row_scale + wrow;

  int rows[Ops::kElems];
  Ops::row_map(rows, ws, S::kLdS);
  Acc acc[D / 16];
#pragma unroll
  for (int n = 0; n < D / 16; ++n) Ops::zero(acc[n]);
  float m = -INFINITY;  // running max of the row (shared by both lanes)
  float l = 0.0f;       // running sum over this lane's half of the keys

  for (int64_t k0 = 0; k0 < K; k0 += S::kBK) {
    __syncthreads();  // the previous k, v tiles are consumed (and sq is complete)
    const int kvalid = clamp_rows(K - k0, S::kBK);
    load_tile<S::kBK, D>(sk, S::kLdX, p.k + (bh * K + k0) * c, kvalid, c);
    load_tile<S::kBK, D>(sv, S::kLdX, p.v + (bh * K + k0) * c, kvalid, c);
    __syncthreads();
    if (!active) continue;

    forward_logits<S, Ops>(p, bias_base, sq + wrow * S::kLdX, sk, ws, q0 + wrow, k0);
    const float alpha = online_softmax_step<S::kBK>(ws + r * S::kLdS, wp + r * S::kLdP, half, m, l);
    if (half == 0) wscale[r] = alpha;
    __syncwarp();

#pragma unroll
    for (int n = 0; n < D / 16; ++n) {
      Ops::scale_rows(acc[n], rows, wscale);
      Ops::template mma<wmma::row_major, wmma::row_major, S::kBK>(acc[n], wp, S::kLdP, sv + n * 16, S::kLdX);
    }
  }

  __syncthreads();  // the staging below overwrites every warp's k, v and logit tiles
  l += __shfl_xor_sync(kFullMask, l, 1);
  if (!active) return;
  float* stage = reinterpret_cast<float*>(smem + S::kK) + wrow * S::kLdO;
#pragma unroll
  for (int n = 0; n < D / 16; ++n) Ops::store(stage + n * 16, S::kLdO, acc[n]);
  if (half == 0) {
    wscale[r] = l > 0.0f ? 1.0f / l : 0.0f;
    if (q0 + wrow + r < Q) stats[bh * Q + q0 + wrow + r] = finish_row_stats(m, l);
  }
  __syncwarp();
  write_output<D>(p, stage, S::kLdO, wscale, (bh * Q + q0 + wrow) * c, clamp_rows(Q - q0 - wrow, 16), o, out);
}

// --- backward ----------------------------------------------------------------------------

constexpr int kPrepWarps = 8;

// delta = rowsum(d_o * o) with d_o = d_out * sigmoid(gate) (flash-2's D term), and the
// gate gradient d_out * o * sigmoid'(gate). One warp per query row.
template <typename T>
__global__ void __launch_bounds__(kPrepWarps * kWarp)
    attention_backward_prep_kernel(const T* __restrict__ o, const T* __restrict__ d_out, const T* __restrict__ gate,
                                   T* __restrict__ dgate, float* __restrict__ delta, int64_t rows, int c) {
  using Reduce = cub::WarpReduce<float>;
  __shared__ typename Reduce::TempStorage tmp[kPrepWarps];
  const int warp = threadIdx.x / kWarp, lane = threadIdx.x % kWarp;
  const int64_t row = static_cast<int64_t>(blockIdx.x) * kPrepWarps + warp;
  if (row >= rows) return;  // whole warps only: the reduction syncs just this warp
  const int64_t base = row * c;
  float acc = 0.0f;
  for (int d = lane; d < c; d += kWarp) {
    const float ov = to_float(o[base + d]);
    const float g = to_float(d_out[base + d]);
    float d_o = g;
    if (gate != nullptr) {
      const float sg = sigmoid(to_float(gate[base + d]));
      d_o = g * sg;
      if (dgate != nullptr) dgate[base + d] = from_float<T>(g * ov * sg * (1.0f - sg));
    }
    acc = fmaf(d_o, ov, acc);
  }
  acc = Reduce(tmp[warp]).Sum(acc);
  if (lane == 0) delta[row] = acc;
}

template <typename T, int D>
struct BwdShape {
  static constexpr int kD = D;
  static constexpr bool kTC = !std::is_same<T, float>::value;
  // fp32 halves the key tile: fp32 k and v tiles of 64 keys alone would take 34 KB.
  static constexpr int kWarps = kTC ? 4 : 2, kThreads = kWarps * kWarp;
  static constexpr int kBK = 16 * kWarps, kBQ = 16;
  static constexpr int kLdX = D + (kTC ? 8 : 4);     // k, v, q, d_o tiles (T)
  static constexpr int kLdS = kBK + 4;               // logits, dp (fp32)
  static constexpr int kLdP = kTC ? kBK + 8 : kLdS;  // p, ds (T); fp32 reuses logits, dp
  static constexpr int kLdO = D + 4;                 // dq, dk, dv staging (fp32)
  static constexpr size_t kK = 0;
  static constexpr size_t kV = kK + sizeof(T) * kBK * kLdX;
  static constexpr size_t kQ = kV + sizeof(T) * kBK * kLdX;
  static constexpr size_t kDO = kQ + sizeof(T) * kBQ * kLdX;
  static constexpr size_t kS = kDO + sizeof(T) * kBQ * kLdX;
  static constexpr size_t kDP = kS + sizeof(float) * kBQ * kLdS;
  static constexpr size_t kP = kDP + sizeof(float) * kBQ * kLdS;
  static constexpr size_t kDS = kP + (kTC ? sizeof(T) * kBQ * kLdP : 0);
  static constexpr size_t kDQ = kDS + (kTC ? sizeof(T) * kBQ * kLdP : 0);
  static constexpr size_t kStats = kDQ + sizeof(float) * kBQ * kLdO;
  static constexpr size_t kDelta = kStats + sizeof(RowStats) * kBQ;
  static constexpr size_t kBytes = kDelta + sizeof(float) * kBQ;
  static_assert(kBytes <= 48 * 1024, "backward tiles exceed static shared memory");
  // dk, dv are staged from offset 0 once the query loop is over.
  static_assert(kStats >= sizeof(float) * kWarps * 16 * kLdO, "dk/dv staging does not fit");
  static_assert(kV % 32 == 0 && kQ % 32 == 0 && kDO % 32 == 0 && kS % 32 == 0 && kDP % 32 == 0 && kP % 32 == 0 &&
                    kDS % 32 == 0 && kDQ % 32 == 0,
                "wmma needs 32-byte alignment");
};

template <typename Ops, int D, typename T>
__device__ __forceinline__ void write_rows(const typename Ops::Acc (&acc)[D / 16], float* stage, int ld, T* dst,
                                           int valid, int c, float factor) {
  const int lane = threadIdx.x % kWarp;
#pragma unroll
  for (int n = 0; n < D / 16; ++n) Ops::store(stage + n * 16, ld, acc[n]);
  __syncwarp();
  for (int idx = lane; idx < 16 * D; idx += kWarp) {
    const int r = idx / D, d = idx % D;
    if (r < valid && d < c) dst[static_cast<int64_t>(r) * c + d] = from_float<T>(factor * stage[r * ld + d]);
  }
  __syncwarp();
}

// The query tile of `valid` rows from global row `row0`: q, the gated output gradient
// d_o, and the rows' statistics and delta (padding rows: p = 0, delta = 0).
template <typename S, typename T>
__device__ __forceinline__ void load_query_tile(const Problem<T>& p, const T* d_out, const RowStats* stats,
                                                const float* delta, int64_t row0, int valid, T* sq, T* sdo,
                                                RowStats* sstats, float* sdelta) {
  const int c = p.head_dim;
  load_tile<S::kBQ, S::kD>(sq, S::kLdX, p.q + row0 * c, valid, c);
  load_grad_tile<S::kBQ, S::kD>(sdo, S::kLdX, d_out + row0 * c, p.gate != nullptr ? p.gate + row0 * c : nullptr,
                                valid, c);
  for (int rr = threadIdx.x; rr < S::kBQ; rr += S::kThreads) {
    sstats[rr] = rr < valid ? stats[row0 + rr] : RowStats{0.0f, -INFINITY};
    sdelta[rr] = rr < valid ? delta[row0 + rr] : 0.0f;
  }
}

// acc[n] += a^T b[:, 16n:16n+16] over the query tile: a is this warp's 16 columns of a
// [kBQ, kLdP] tile, b a [kBQ, kLdX] tile.
template <typename S, typename Ops, typename T>
__device__ __forceinline__ void accumulate_transposed(typename Ops::Acc (&acc)[S::kD / 16], const T* a, const T* b) {
#pragma unroll
  for (int n = 0; n < S::kD / 16; ++n)
    Ops::template mma<wmma::col_major, wmma::row_major, S::kBQ>(acc[n], a, S::kLdP, b + n * 16, S::kLdX);
}

// On this warp's 16 key columns (from `wkey` in the tile at key k0) of the query tile at
// q0: p recomputed from the logits `ss` and the row statistics, ds = p * (dp - delta),
// and ds added to the bias gradients. Every warp writes its p and ds columns (zeros
// outside the sequence) since dq reads all.
template <typename S, typename T>
__device__ __forceinline__ void backward_probabilities(const Problem<T>& p, const int64_t (&bias_base)[2],
                                                       const int64_t (&grad_base)[2], float* const (&dbias)[2],
                                                       const float* ss, const float* sdp, const RowStats* sstats,
                                                       const float* sdelta, T* sp, T* sds, int64_t q0, int64_t k0,
                                                       int wkey) {
  const int lane = threadIdx.x % kWarp;
  for (int idx = lane; idx < S::kBQ * 16; idx += kWarp) {
    const int rr = idx / 16, cc = wkey + idx % 16;
    const int64_t i = q0 + rr, j = k0 + cc;
    float pv = 0.0f, ds = 0.0f;
    if (i < p.q_len && j < p.k_len) {
      const RowStats row = sstats[rr];
      // A fully masked row has p = 0: skip its bias reads.
      if (row.log_sum != -INFINITY)
        pv = recomputed_probability(biased_logit(p, bias_base, ss[rr * S::kLdS + cc], i, j), row);
      ds = pv * (sdp[rr * S::kLdS + cc] - sdelta[rr]);
      if (ds != 0.0f) {
#pragma unroll
        for (int b = 0; b < 2; ++b) {
          if (dbias[b] != nullptr)
            atomicAdd(dbias[b] + grad_base[b] + i * p.grad_stride[b][3] + j * p.grad_stride[b][4], ds);
        }
      }
    }
    // fp32: p and ds overwrite the logit and dp this lane just read.
    sp[rr * S::kLdP + cc] = from_float<T>(pv);
    sds[rr * S::kLdP + cc] = from_float<T>(ds);
  }
  __syncwarp();
}

// dq (partial over this key tile) = scale * ds k, one 16-column block per warp, staged
// in `sdq` and added to the fp32 accumulator of the tile's `valid` query rows.
template <typename S, typename Ops, typename T>
__device__ __forceinline__ void accumulate_dq(const T* sds, const T* sk, float* sdq, float* dq_rows, int valid, int c,
                                              float scale) {
  const int warp = threadIdx.x / kWarp;
  for (int n = warp; n < S::kD / 16; n += S::kWarps) {
    typename Ops::Acc a;
    Ops::zero(a);
    Ops::template mma<wmma::row_major, wmma::row_major, S::kBK>(a, sds, S::kLdP, sk + n * 16, S::kLdX);
    Ops::store(sdq + n * 16, S::kLdO, a);
  }
  __syncthreads();
  for (int idx = threadIdx.x; idx < S::kBQ * S::kD; idx += S::kThreads) {
    const int rr = idx / S::kD, d = idx % S::kD;
    if (rr < valid && d < c) atomicAdd(dq_rows + static_cast<int64_t>(rr) * c + d, scale * sdq[rr * S::kLdO + d]);
  }
}

template <typename T, int D>
__global__ void __launch_bounds__(BwdShape<T, D>::kThreads)
    attention_backward_kernel(const Problem<T> p, const T* __restrict__ d_out, const RowStats* __restrict__ stats,
                              const float* __restrict__ delta, float* dq_accum, T* __restrict__ dk,
                              T* __restrict__ dv, float* dbias0, float* dbias1) {
  using S = BwdShape<T, D>;
  using Ops = Tile<T>;
  using Acc = typename Ops::Acc;
  __shared__ __align__(128) unsigned char smem[S::kBytes];
  T* sk = reinterpret_cast<T*>(smem + S::kK);
  T* sv = reinterpret_cast<T*>(smem + S::kV);
  T* sq = reinterpret_cast<T*>(smem + S::kQ);
  T* sdo = reinterpret_cast<T*>(smem + S::kDO);
  float* ss = reinterpret_cast<float*>(smem + S::kS);
  float* sdp = reinterpret_cast<float*>(smem + S::kDP);
  T* sp = reinterpret_cast<T*>(smem + (S::kTC ? S::kP : S::kS));
  T* sds = reinterpret_cast<T*>(smem + (S::kTC ? S::kDS : S::kDP));
  float* sdq = reinterpret_cast<float*>(smem + S::kDQ);
  RowStats* sstats = reinterpret_cast<RowStats*>(smem + S::kStats);
  float* sdelta = reinterpret_cast<float*>(smem + S::kDelta);

  const int warp = threadIdx.x / kWarp;
  const int c = p.head_dim;
  const int64_t Q = p.q_len, K = p.k_len;
  const int64_t n_tiles = ceil_div(K, S::kBK);
  const int64_t bh = static_cast<int64_t>(blockIdx.x) / n_tiles;
  const int64_t k0 = static_cast<int64_t>(blockIdx.x) % n_tiles * S::kBK;
  float* dbias[2] = {dbias0, dbias1};
  int64_t bias_base[2], grad_base[2];
#pragma unroll
  for (int b = 0; b < 2; ++b) {
    bias_base[b] = slab_offset(p.stride[b], bh, p.b2, p.heads);
    grad_base[b] = slab_offset(p.grad_stride[b], bh, p.b2, p.heads);
  }

  load_tile<S::kBK, D>(sk, S::kLdX, p.k + (bh * K + k0) * c, clamp_rows(K - k0, S::kBK), c);
  load_tile<S::kBK, D>(sv, S::kLdX, p.v + (bh * K + k0) * c, clamp_rows(K - k0, S::kBK), c);

  const int wkey = warp * 16;         // this warp's first key in the tile
  const bool active = k0 + wkey < K;  // warp-uniform
  Acc dk_acc[D / 16], dv_acc[D / 16];
#pragma unroll
  for (int n = 0; n < D / 16; ++n) {
    Ops::zero(dk_acc[n]);
    Ops::zero(dv_acc[n]);
  }

  for (int64_t q0 = 0; q0 < Q; q0 += S::kBQ) {
    __syncthreads();  // the previous query tile (q, d_o, ds, dq staging) is consumed
    const int qvalid = clamp_rows(Q - q0, S::kBQ);
    const int64_t row0 = bh * Q + q0;
    load_query_tile<S>(p, d_out, stats, delta, row0, qvalid, sq, sdo, sstats, sdelta);
    __syncthreads();

    if (active) {
      // This warp's 16 key columns of the logits q k^T and of dp = d_o v^T.
      warp_product<Ops, D>(sq, sk + wkey * S::kLdX, ss + wkey, S::kLdX, S::kLdS);
      warp_product<Ops, D>(sdo, sv + wkey * S::kLdX, sdp + wkey, S::kLdX, S::kLdS);
    }
    __syncwarp();

    backward_probabilities<S>(p, bias_base, grad_base, dbias, ss, sdp, sstats, sdelta, sp, sds, q0, k0, wkey);

    if (active) {
      // dv += p^T d_o, dk += ds^T q (scale applied on output)
      accumulate_transposed<S, Ops>(dv_acc, sp + wkey, sdo);
      accumulate_transposed<S, Ops>(dk_acc, sds + wkey, sq);
    }
    __syncthreads();  // ds of every warp is in place

    accumulate_dq<S, Ops>(sds, sk, sdq, dq_accum + row0 * c, qvalid, c, p.scale);
  }

  __syncthreads();  // staging below overwrites the k, v, q tiles
  if (!active) return;
  float* stage = reinterpret_cast<float*>(smem) + warp * 16 * S::kLdO;
  const int valid = clamp_rows(K - k0 - wkey, 16);
  const int64_t base = (bh * K + k0 + wkey) * c;
  write_rows<Ops, D>(dk_acc, stage, S::kLdO, dk + base, valid, c, p.scale);
  write_rows<Ops, D>(dv_acc, stage, S::kLdO, dv + base, valid, c, 1.0f);
}

template <typename T>
__global__ void dq_convert_kernel(const float* src, T* dst, int64_t n) {
  const int64_t step = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += step)
    dst[i] = from_float<T>(src[i]);
}

// --- launchers -----------------------------------------------------------------------------

int padded_dim(int64_t head_dim) { return head_dim <= 16 ? 16 : head_dim <= 32 ? 32 : 64; }

int64_t heads_total(const AttentionProblem& a) { return a.b1 * a.b2 * a.heads; }

template <typename T>
Problem<T> make_problem(const AttentionProblem& a) {
  Problem<T> p{};
  p.b2 = a.b2;
  p.heads = a.heads;
  p.q_len = a.q_len;
  p.k_len = a.k_len;
  p.head_dim = static_cast<int>(a.head_dim);
  p.scale = a.scale;
  p.q = static_cast<const T*>(a.q);
  p.k = static_cast<const T*>(a.k);
  p.v = static_cast<const T*>(a.v);
  p.gate = static_cast<const T*>(a.gate);
  for (int b = 0; b < 2; ++b) {
    p.bias[b] = a.bias[b].data;
    p.bias_dtype[b] = a.bias[b].dtype;
    for (int d = 0; d < 5; ++d) {
      p.stride[b][d] = a.bias[b].stride[d];
      p.grad_stride[b][d] = a.bias[b].grad_stride[d];
    }
  }
  return p;
}

// Blocks go in grid.x (up to 2^31 - 1), which fits any realistic b1 * b2 * h * tiles.
bool grid_fits(int64_t bh, int64_t tiles) { return tiles == 0 || bh <= INT_MAX / tiles; }

template <typename T, int D>
int launch_forward(const AttentionProblem& a, void* o, void* out, RowStats* stats, cudaStream_t s) {
  using S = FwdShape<T, D>;
  const int64_t bh = heads_total(a), tiles = ceil_div(a.q_len, S::kBQ);
  if (!grid_fits(bh, tiles)) return cudaErrorInvalidConfiguration;
  attention_forward_kernel<T, D><<<static_cast<unsigned>(bh * tiles), S::kThreads, 0, s>>>(
      make_problem<T>(a), static_cast<T*>(o), static_cast<T*>(out), stats);
  return cudaGetLastError();
}

template <typename T>
int forward_typed(const AttentionProblem& a, void* o, void* out, RowStats* stats, cudaStream_t s) {
  switch (padded_dim(a.head_dim)) {
    case 16: return launch_forward<T, 16>(a, o, out, stats, s);
    case 32: return launch_forward<T, 32>(a, o, out, stats, s);
    default: return launch_forward<T, 64>(a, o, out, stats, s);
  }
}

template <typename T, int D>
int launch_backward_main(const AttentionProblem& a, const void* d_out, const RowStats* stats, const float* delta,
                         float* dq_accum, void* dk, void* dv, float* dbias0, float* dbias1, cudaStream_t s) {
  using S = BwdShape<T, D>;
  const int64_t bh = heads_total(a), tiles = ceil_div(a.k_len, S::kBK);
  if (tiles == 0) return cudaSuccess;
  if (!grid_fits(bh, tiles)) return cudaErrorInvalidConfiguration;
  attention_backward_kernel<T, D><<<static_cast<unsigned>(bh * tiles), S::kThreads, 0, s>>>(
      make_problem<T>(a), static_cast<const T*>(d_out), stats, delta, dq_accum, static_cast<T*>(dk),
      static_cast<T*>(dv), dbias0, dbias1);
  return cudaGetLastError();
}

template <typename T>
int backward_typed(const AttentionProblem& a, const void* o, const RowStats* stats, const void* d_out, float* dq_accum,
                   void* dq, void* dk, void* dv, void* dgate, float* dbias0, float* dbias1, float* delta,
                   cudaStream_t s) {
  const int64_t rows = heads_total(a) * a.q_len;
  const int c = static_cast<int>(a.head_dim);
  if (rows > 0) {
    const int64_t blocks = ceil_div(rows, kPrepWarps);
    if (blocks > INT_MAX) return cudaErrorInvalidConfiguration;
    attention_backward_prep_kernel<T><<<static_cast<unsigned>(blocks), kPrepWarps * kWarp, 0, s>>>(
        static_cast<const T*>(o), static_cast<const T*>(d_out), static_cast<const T*>(a.gate), static_cast<T*>(dgate),
        delta, rows, c);
    if (const int err = cudaGetLastError(); err != cudaSuccess) return err;
  }
  int err = cudaSuccess;
  switch (padded_dim(a.head_dim)) {
    case 16: err = launch_backward_main<T, 16>(a, d_out, stats, delta, dq_accum, dk, dv, dbias0, dbias1, s); break;
    case 32: err = launch_backward_main<T, 32>(a, d_out, stats, delta, dq_accum, dk, dv, dbias0, dbias1, s); break;
    default: err = launch_backward_main<T, 64>(a, d_out, stats, delta, dq_accum, dk, dv, dbias0, dbias1, s); break;
  }
  if (err != cudaSuccess) return err;
  const int64_t n = rows * c;
  if (n > 0) {
    constexpr int kThreads = 256;
    const int64_t blocks = ceil_div(n, kThreads) < (1 << 20) ? ceil_div(n, kThreads) : (1 << 20);
    dq_convert_kernel<T><<<static_cast<unsigned>(blocks), kThreads, 0, s>>>(dq_accum, static_cast<T*>(dq), n);
    return cudaGetLastError();
  }
  return cudaSuccess;
}

bool valid_shape(const AttentionProblem& a) {
  return attention_supported(a.dtype, a.head_dim) && a.b1 >= 0 && a.b2 >= 0 && a.heads >= 0 && a.q_len >= 0 &&
         a.k_len >= 0;
}

}  // namespace

bool attention_supported(DType dtype, int64_t head_dim) {
  switch (dtype) {
    case DType::kFloat32:
    case DType::kFloat16:
    case DType::kBFloat16: return head_dim >= 1 && head_dim <= 64;
  }
  return false;
}

int attention_forward(const AttentionProblem& p, void* o, void* out, RowStats* stats, CUstream_st* stream) {
  if (!valid_shape(p)) return cudaErrorInvalidValue;
  if (heads_total(p) == 0 || p.q_len == 0) return cudaSuccess;
  // Empty tensors may carry null pointers, so only what will be read must be set.
  if (p.q == nullptr || o == nullptr || stats == nullptr || (p.k_len > 0 && (p.k == nullptr || p.v == nullptr)) ||
      (p.gate != nullptr && out == nullptr))
    return cudaErrorInvalidValue;
  switch (p.dtype) {
    case DType::kFloat32: return forward_typed<float>(p, o, out, stats, stream);
    case DType::kFloat16: return forward_typed<__half>(p, o, out, stats, stream);
    case DType::kBFloat16: return forward_typed<__nv_bfloat16>(p, o, out, stats, stream);
  }
  return cudaErrorInvalidValue;
}

int attention_backward(const AttentionProblem& p, const void* o, const RowStats* stats, const void* d_out,
                       float* dq_accum, void* dq, void* dk, void* dv, void* dgate, float* dbias0, float* dbias1,
                       float* workspace_delta, CUstream_st* stream) {
  if (!valid_shape(p)) return cudaErrorInvalidValue;
  if (heads_total(p) == 0) return cudaSuccess;
  if (p.q_len > 0 && (p.q == nullptr || o == nullptr || stats == nullptr || d_out == nullptr || dq_accum == nullptr ||
                      dq == nullptr || workspace_delta == nullptr))
    return cudaErrorInvalidValue;
  if (p.k_len > 0 && (p.k == nullptr || p.v == nullptr || dk == nullptr || dv == nullptr))
    return cudaErrorInvalidValue;
  // A gradient buffer for an absent bias is a caller bug, not something to ignore.
  if ((dbias0 != nullptr && p.bias[0].data == nullptr) || (dbias1 != nullptr && p.bias[1].data == nullptr))
    return cudaErrorInvalidValue;
  switch (p.dtype) {
    case DType::kFloat32:
      return backward_typed<float>(p, o, stats, d_out, dq_accum, dq, dk, dv, dgate, dbias0, dbias1, workspace_delta,
                                   stream);
    case DType::kFloat16:
      return backward_typed<__half>(p, o, stats, d_out, dq_accum, dq, dk, dv, dgate, dbias0, dbias1, workspace_delta,
                                    stream);
    case DType::kBFloat16:
      return backward_typed<__nv_bfloat16>(p, o, stats, d_out, dq_accum, dq, dk, dv, dgate, dbias0, dbias1,
                                           workspace_delta, stream);
  }
  return cudaErrorInvalidValue;
}

}  // namespace fold::kernels::cuda
