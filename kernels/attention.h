// One entry point for the attention of every Evoformer variant (AF2 Supplement
// Algorithms 7, 8, 13, 14; also the template pointwise attention):
//   o = gate ? sigmoid(gate) * softmax(scale * q k^T + sum(biases)) v
//            :                 softmax(scale * q k^T + sum(biases)) v
// q [*, H, Q, C], k and v [*, H, K, C]; each bias broadcastable to [*, H, Q, K] (the
// mask bias [*, 1, 1, K], the pair bias [*, H, Q, K] with size-1 leading dims); gate
// [*, H, Q, C] holds the gate's logits. Differentiable in q, k, v, gate and every bias
// that requires grad (the mask bias usually does not, and then costs nothing).
// Every input lives on q's device (an error names the one that does not). k, v and the
// gate may have another float type than q: the CUDA kernel reads them in q's storage
// type, the biases in their own; each gradient comes back in its input's type.
//
// Paths (`kernels.attention` in the config):
//   reference  plain ATen, materialises the logits, autograd by ATen: the ground truth
//   fused      our kernels: on CUDA the flash kernel (kernels/cuda/attention.cu) where
//              dtype (fp32/fp16/bf16), head dim (<= 64) and rank (<= 2 leading dims)
//              allow; otherwise the tiled kernel below, which serves every float type
//              on every device (fp64 accumulates in fp64, the others in fp32)
//              on the CPU in fp32 under c10::InferenceMode, ATen's flash kernel
//              (cpu_flash_attention in the .cpp) instead of the tiled one
//   auto       the same choice as fused: since the tiled kernel covers every case, no
//              input needs the reference; `reference` must be asked for
// `low_memory` streams keys in tiles with an online softmax, keeping per query only
// the running max and sum (both are saved for backward, which recomputes the
// tiles), so the [*, H, Q, K] logits never exist: memory is linear in Q and K.
// A query row whose keys are all masked with -inf gives 0 (not NaN), so padding is safe.
#pragma once

#include <ATen/core/Tensor.h>

#include <optional>
#include <string>
#include <vector>

namespace fold::kernels {

enum class AttentionPath { kAuto, kFused, kReference };

// "auto" | "fused" | "reference"; throws std::invalid_argument naming the value.
AttentionPath parse_attention_path(const std::string& name);
std::string to_string(AttentionPath path);

struct AttentionOptions {
  AttentionPath path = AttentionPath::kAuto;
  bool low_memory = false;
  // 0 = 1/sqrt(C), as AF2.
  double scale = 0.0;
  // Tile sizes for low_memory (0 = chosen from a working-set budget).
  int64_t query_chunk = 0;
  int64_t key_chunk = 0;
};

at::Tensor attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                     const std::vector<at::Tensor>& biases, const std::optional<at::Tensor>& gate,
                     const AttentionOptions& options = {});

// The naive ATen computation, for tests and as the `reference` path.
at::Tensor attention_reference(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                               const std::vector<at::Tensor>& biases,
                               const std::optional<at::Tensor>& gate, double scale = 0.0);

// The tensor memory one call of `attention` without autograd allocates beyond its
// inputs, its output included, for q [*, Q, C] whose leading dims (batch and heads)
// multiply to `rows`, K keys, storage `dtype`, on `device`, with `biases` (0-2) whose
// sum the CPU flash kernel may need whole (a zero key mask costs nothing; this counts it):
// what callers size their chunks with (fold plan, --chunk-size auto) instead of copying
// the kernels' tiles.
int64_t attention_workspace_bytes(int64_t rows, int64_t q_len, int64_t k_len, int64_t head_dim,
                                  at::ScalarType dtype, c10::DeviceType device, bool gated, int biases,
                                  const AttentionOptions& options = {});

// Which implementation `attention` runs for these inputs ("cuda-flash", "cpu-flash",
// "tiled", "reference"), for logs and `fold info`. "cpu-flash" hands a low_memory call
// with two nonzero biases to the tiled kernel (one bias only, and no summed copy).
std::string attention_implementation(const at::Tensor& q, const AttentionOptions& options);

}  // namespace fold::kernels
