// Fused flash-style attention with two additive biases and a sigmoid gate, forward and
// backward, on CUDA (bf16/fp16 on tensor cores, fp32 on CUDA cores; head dims 8..64).
// Framework-free: kernels/attention.cpp turns tensors into this description.
//
// Layout: the leading dims of q [*, H, Q, C] are collapsed into at most two, B1 x B2
// (batch x N_seq for MSA row attention, batch x N_res for the others). q, k, v, gate,
// o, out and their gradients are contiguous [B1, B2, H, Q|K, C] of one storage type. A bias
// keeps its own storage type (added in fp32, so an fp32 bias beside bf16 q loses nothing
// and fp32 -1e9 stays finite beside fp16 q) and is read through element strides over
// [B1, B2, H, Q, K], 0 on broadcast dims, so the mask bias [B1, B2, 1, 1, K] and the pair
// bias [B1, 1, H, Q, K] are never expanded in memory.
#pragma once

#include <cstdint>

#include "kernels/cuda/attention_row_stats.h"
#include "kernels/cuda/dtype.h"

struct CUstream_st;

namespace fold::kernels::cuda {

struct AttentionBias {
  const void* data = nullptr;  // nullptr = absent
  DType dtype = DType::kFloat32;
  int64_t stride[5] = {0, 0, 0, 0, 0};
  // Strides of this bias's gradient buffer over [B1, B2, H, Q, K] (0 on broadcast
  // dims, so those accumulate); used only when backward gets a dbias buffer for it.
  int64_t grad_stride[5] = {0, 0, 0, 0, 0};
};

struct AttentionProblem {
  int64_t b1 = 1, b2 = 1, heads = 1, q_len = 0, k_len = 0, head_dim = 0;
  DType dtype = DType::kFloat32;
  float scale = 1.0f;
  const void* q = nullptr;
  const void* k = nullptr;
  const void* v = nullptr;
  const void* gate = nullptr;  // logits; nullptr = no gate
  AttentionBias bias[2];
};

// True when the kernels handle this dtype / head dim (head_dim in 1..64).
bool attention_supported(DType dtype, int64_t head_dim);

// o: ungated output (needed by backward); out: sigmoid(gate) * o, or nullptr without a
// gate; stats: [B1, B2, H, Q], the softmax statistics of each query row (a fully masked
// row's o is 0). Returns 0 or a cudaError_t value.
int attention_forward(const AttentionProblem& p, void* o, void* out, RowStats* stats, CUstream_st* stream);

// d_out: gradient of the returned output (gated when there is a gate).
// dq_accum: fp32 [B1, B2, H, Q, C], zero-filled by the caller (atomically accumulated),
// converted into dq; dk, dv: written. dgate: written when there is a gate.
// dbias0/1: nullptr, or an fp32 buffer zero-filled by the caller, addressed with that
// bias's grad_stride (atomic accumulation); the caller casts it to the bias dtype.
// workspace_delta: fp32 [B1, B2, H, Q] scratch. Returns 0 or a cudaError_t value.
int attention_backward(const AttentionProblem& p, const void* o, const RowStats* stats, const void* d_out,
                       float* dq_accum, void* dq, void* dk, void* dv, void* dgate, float* dbias0,
                       float* dbias1, float* workspace_delta, CUstream_st* stream);

}  // namespace fold::kernels::cuda
