#include "kernels/attention.h"

#include <ATen/ATen.h>
#include <ATen/ExpandUtils.h>
#include <ATen/ops/_scaled_dot_product_flash_attention_for_cpu.h>
#include <c10/core/InferenceMode.h>
#include <torch/autograd.h>

#include <cmath>
#include <functional>
#include <limits>
#include <stdexcept>

#ifdef FOLD_WITH_CUDA
#include "kernels/attention_cuda.h"
#endif

namespace fold::kernels {

namespace {

using torch::autograd::AutogradContext;
using torch::autograd::tensor_list;

constexpr double kInf = std::numeric_limits<double>::infinity();
// Elements of one logits tile when low_memory picks the tile sizes: 2M fp32 = 8 MiB, a
// few such tiles (logits, probabilities, their gradient) bound the working set.
constexpr int64_t kTileBudget = int64_t{1} << 21;
constexpr int64_t kMaxKeyChunk = 128;

double resolve_scale(const at::Tensor& q, double scale) {
  return scale > 0 ? scale : 1.0 / std::sqrt(static_cast<double>(q.size(-1)));
}

// fp64 stays fp64 (finite-difference checks of the modules); every other storage type
// accumulates in fp32.
at::ScalarType compute_type(const at::Tensor& q) {
  return q.scalar_type() == at::kDouble ? at::kDouble : at::kFloat;
}

void check_inputs(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                  const std::vector<at::Tensor>& biases, const std::optional<at::Tensor>& gate) {
  TORCH_CHECK(q.dim() >= 3, "attention: q must be [*, H, Q, C], got ", q.sizes());
  TORCH_CHECK(q.is_floating_point(), "attention: q must be floating point, got ", q.scalar_type());
  TORCH_CHECK(k.is_floating_point() && v.is_floating_point(), "attention: k and v must be floating point, got ",
              k.scalar_type(), " and ", v.scalar_type());
  // Every path reads all inputs on q's device; the CUDA kernel would fault on a pointer
  // into another device's memory, so say which tensor is elsewhere.
  const auto same_device = [&](const at::Tensor& t, const char* name) {
    TORCH_CHECK(t.device() == q.device(), "attention: ", name, " is on ", t.device(), " but q is on ", q.device());
  };
  same_device(k, "k");
  same_device(v, "v");
  for (size_t i = 0; i < biases.size(); ++i) same_device(biases[i], i == 0 ? "bias 0" : "bias 1");
  if (gate) same_device(*gate, "gate");
  TORCH_CHECK(k.dim() == q.dim() && v.dim() == q.dim(), "attention: q ", q.sizes(), ", k ", k.sizes(),
              " and v ", v.sizes(), " must have the same rank");
  TORCH_CHECK(k.sizes() == v.sizes(), "attention: k ", k.sizes(), " and v ", v.sizes(), " differ");
  TORCH_CHECK(k.size(-2) > 0, "attention: no keys (k ", k.sizes(), ")");
  TORCH_CHECK(k.size(-1) == q.size(-1), "attention: q and k head dims differ: ", q.sizes(), " vs ", k.sizes());
  for (int64_t d = 0; d < q.dim() - 2; ++d)
    TORCH_CHECK(q.size(d) == k.size(d), "attention: q ", q.sizes(), " and k ", k.sizes(),
                " differ in dim ", d);
  TORCH_CHECK(biases.size() <= 2, "attention: at most two biases, got ", biases.size());
  std::vector<int64_t> logits(q.sizes().begin(), q.sizes().end());
  logits.back() = k.size(-2);
  for (const at::Tensor& b : biases) {
    TORCH_CHECK(b.dim() <= q.dim(), "attention: bias ", b.sizes(), " has more dims than the logits ",
                at::IntArrayRef(logits));
    TORCH_CHECK(at::is_expandable_to(b.sizes(), logits), "attention: bias ", b.sizes(),
                " does not broadcast to the logits ", at::IntArrayRef(logits));
  }
  if (gate) TORCH_CHECK(gate->sizes() == q.sizes(), "attention: gate ", gate->sizes(), " must match q ", q.sizes());
}

// Prepends size-1 dims so every bias has the logits' rank (slicing needs aligned dims).
at::Tensor align_bias(const at::Tensor& b, int64_t rank) {
  std::vector<int64_t> shape(rank - b.dim(), 1);
  shape.insert(shape.end(), b.sizes().begin(), b.sizes().end());
  return b.view(shape);
}

// The part of an aligned bias covering query rows [q0, q0+qn) and keys [k0, k0+kn);
// broadcast (size-1) dims are left as they are.
at::Tensor bias_tile(const at::Tensor& b, int64_t q0, int64_t qn, int64_t k0, int64_t kn) {
  at::Tensor t = b;
  if (t.size(-2) != 1) t = t.narrow(-2, q0, qn);
  if (t.size(-1) != 1) t = t.narrow(-1, k0, kn);
  return t;
}

struct Tiling {
  int64_t q_chunk, k_chunk;
};

// rows: the product of q's leading dims (batch and heads).
Tiling tiling_for(int64_t rows, int64_t Q, int64_t K, const AttentionOptions& o) {
  if (!o.low_memory) return {Q, K};
  rows = std::max<int64_t>(1, rows);
  const int64_t kc = o.key_chunk > 0 ? std::min(o.key_chunk, K) : std::min(K, kMaxKeyChunk);
  const int64_t qc = o.query_chunk > 0 ? o.query_chunk : kTileBudget / (rows * std::max<int64_t>(kc, 1));
  return {std::clamp<int64_t>(qc, 1, std::max<int64_t>(Q, 1)), std::max<int64_t>(kc, 1)};
}

Tiling choose_tiling(const at::Tensor& q, const at::Tensor& k, const AttentionOptions& o) {
  const int64_t Q = q.size(-2);
  return tiling_for(q.numel() / std::max<int64_t>(1, Q * q.size(-1)), Q, k.size(-2), o);
}

// Logits of one tile: (scale q) k^T + the bias tiles, in the compute type.
at::Tensor tile_logits(const at::Tensor& qs, const at::Tensor& kt, const std::vector<at::Tensor>& biases,
                       int64_t q0, int64_t qn, int64_t k0, int64_t kn) {
  at::Tensor s = at::matmul(qs, kt.transpose(-1, -2));
  for (const at::Tensor& b : biases) s.add_(bias_tile(b, q0, qn, k0, kn));
  return s;
}


// Flash-style online softmax: per query chunk, a running max m, sum l and accumulator
// over key tiles; the full logits exist only when one tile spans them. Each finished
// chunk goes to `sink(q0, qn, o, shift, l)`: its normalised output o (0 for rows with no
// finite logit), row max and shifted sum, in the compute type.
using ChunkSink = std::function<void(int64_t, int64_t, at::Tensor, const at::Tensor&, const at::Tensor&)>;
void online_softmax(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, const std::vector<at::Tensor>& biases,
                    double scale, Tiling t, const ChunkSink& sink) {
  const auto ct = compute_type(q);
  const int64_t Q = q.size(-2), K = k.size(-2);
  for (int64_t q0 = 0; q0 < Q; q0 += t.q_chunk) {
    const int64_t qn = std::min(t.q_chunk, Q - q0);
    const at::Tensor qs = q.narrow(-2, q0, qn).to(ct) * scale;
    std::vector<int64_t> stat_shape(q.sizes().begin(), q.sizes().end() - 1);
    stat_shape.back() = qn;
    stat_shape.push_back(1);
    at::Tensor m = at::full(stat_shape, -kInf, qs.options());
    at::Tensor l = at::zeros(stat_shape, qs.options());
    std::vector<int64_t> acc_shape(qs.sizes().begin(), qs.sizes().end());
    at::Tensor acc = at::zeros(acc_shape, qs.options());
    at::Tensor shift;
    for (int64_t k0 = 0; k0 < K; k0 += t.k_chunk) {
      const int64_t kn = std::min(t.k_chunk, K - k0);
      at::Tensor s = tile_logits(qs, k.narrow(-2, k0, kn).to(ct), biases, q0, qn, k0, kn);
      const at::Tensor m_new = at::maximum(m, std::get<0>(s.max(-1, true)));
      // Rows with no finite logit yet keep shift 0, so exp() sees -inf, not NaN.
      shift = at::where(at::isneginf(m_new), at::zeros_like(m_new), m_new);
      const at::Tensor alpha = (m - shift).exp_();
      s.sub_(shift).exp_();
      l.mul_(alpha).add_(s.sum(-1, true));
      acc.mul_(alpha).add_(at::matmul(s, v.narrow(-2, k0, kn).to(ct)));
      m = m_new;
    }
    sink(q0, qn, at::where(l.eq(0), at::zeros_like(acc), acc / l), shift, l);
  }
}

// The softmax statistics of each query row are kept as the row max and the log of the
// shifted sum rather than one log-sum-exp: with AF2's finite -1e9 mask a fully masked
// row has logits near -1e9, where an fp32 log-sum-exp cannot hold log(sum) (spacing 64)
// and backward would recompute probabilities off by the sum.
struct ForwardResult {
  at::Tensor o;        // ungated, compute type
  at::Tensor row_max;  // [*, H, Q]; 0 for fully masked (-inf) rows
  at::Tensor log_sum;  // [*, H, Q]; -inf for fully masked rows
};

// The forward autograd keeps for backward: the whole ungated output and row statistics.
ForwardResult tiled_forward(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                            const std::vector<at::Tensor>& biases, double scale, Tiling t) {
  const auto ct = compute_type(q);
  at::Tensor o = at::empty(q.sizes(), q.options().dtype(ct));
  std::vector<int64_t> stat_shape(q.sizes().begin(), q.sizes().end() - 1);
  at::Tensor row_max = at::empty(stat_shape, q.options().dtype(ct));
  at::Tensor log_sum = at::empty(stat_shape, q.options().dtype(ct));
  online_softmax(q, k, v, biases, scale, t,
                 [&](int64_t q0, int64_t qn, at::Tensor o_t, const at::Tensor& shift, const at::Tensor& l) {
                   o.narrow(-2, q0, qn).copy_(o_t);
                   row_max.narrow(-1, q0, qn).copy_(shift.squeeze(-1));
                   log_sum.narrow(-1, q0, qn).copy_(l.log().squeeze(-1));
                 });
  return {o, row_max, log_sum};
}

// Without autograd nothing is kept for backward: each query chunk is gated and stored in
// q's type as it finishes, so no whole output exists in the compute type (a bf16 call
// holds its bf16 result only). The same operations as TiledAttention's forward, so
// the same numbers.
at::Tensor tiled_inference(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                           const std::vector<at::Tensor>& biases, const std::optional<at::Tensor>& gate, double scale,
                           Tiling t) {
  at::Tensor out = at::empty(q.sizes(), q.options());
  online_softmax(q, k, v, biases, scale, t,
                 [&](int64_t q0, int64_t qn, at::Tensor o_t, const at::Tensor&, const at::Tensor&) {
                   if (gate) o_t = at::sigmoid(gate->narrow(-2, q0, qn).to(o_t.scalar_type())).mul_(o_t);
                   out.narrow(-2, q0, qn).copy_(o_t);
                 });
  return out;
}

struct BackwardResult {
  at::Tensor dq, dk, dv, dgate;   // dgate undefined without a gate
  std::vector<at::Tensor> dbias;  // undefined where the bias needs no gradient
};

// Recomputes each tile's probabilities from the saved row statistics (no stored logits).
BackwardResult tiled_backward(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                              const std::vector<at::Tensor>& biases, const std::vector<bool>& bias_grad,
                              const at::Tensor& gate, const at::Tensor& o, const at::Tensor& row_max,
                              const at::Tensor& log_sum, const at::Tensor& d_out, double scale, Tiling t) {
  const auto ct = compute_type(q);
  const int64_t Q = q.size(-2), K = k.size(-2);
  BackwardResult r;
  r.dq = at::zeros(q.sizes(), q.options().dtype(ct));
  r.dk = at::zeros(k.sizes(), k.options().dtype(ct));
  r.dv = at::zeros(v.sizes(), v.options().dtype(ct));
  for (size_t i = 0; i < biases.size(); ++i)
    r.dbias.push_back(bias_grad[i] ? at::zeros(biases[i].sizes(), biases[i].options().dtype(ct)) : at::Tensor());
  if (gate.defined()) r.dgate = at::empty(gate.sizes(), gate.options().dtype(ct));
  // p = exp((s - max) - log_sum); log_sum = -inf (fully masked) is made +inf so that
  // those rows get probability 0 everywhere instead of exp(inf).
  const at::Tensor max_t_all = row_max.unsqueeze(-1);
  const at::Tensor log_sum_all = at::where(at::isneginf(log_sum), at::full_like(log_sum, kInf), log_sum).unsqueeze(-1);
  for (int64_t q0 = 0; q0 < Q; q0 += t.q_chunk) {
    const int64_t qn = std::min(t.q_chunk, Q - q0);
    const at::Tensor qs = q.narrow(-2, q0, qn).to(ct) * scale;
    // The gate's chain rule per query chunk, so no output-sized temporaries exist:
    // d o = d_out * sig, d gate = d_out * o * sig * (1 - sig).
    const at::Tensor o_t = o.narrow(-2, q0, qn);
    at::Tensor dot = d_out.narrow(-2, q0, qn).to(ct);
    if (gate.defined()) {
      at::Tensor sig = at::sigmoid(gate.narrow(-2, q0, qn).to(ct));
      at::Tensor dg = r.dgate.narrow(-2, q0, qn);
      at::mul_out(dg, dot, o_t);
      dg.mul_(sig);
      dot = dot * sig;
      dg.mul_(sig.neg_().add_(1));
    }
    const at::Tensor delta_t = (dot * o_t).sum(-1, true);
    const at::Tensor max_t = max_t_all.narrow(-2, q0, qn);
    const at::Tensor log_sum_t = log_sum_all.narrow(-2, q0, qn);
    at::Tensor dq_t = r.dq.narrow(-2, q0, qn);
    for (int64_t k0 = 0; k0 < K; k0 += t.k_chunk) {
      const int64_t kn = std::min(t.k_chunk, K - k0);
      const at::Tensor kt = k.narrow(-2, k0, kn).to(ct);
      const at::Tensor vt = v.narrow(-2, k0, kn).to(ct);
      at::Tensor p = tile_logits(qs, kt, biases, q0, qn, k0, kn).sub_(max_t).sub_(log_sum_t).exp_();
      r.dv.narrow(-2, k0, kn).add_(at::matmul(p.transpose(-1, -2), dot));
      at::Tensor ds = at::matmul(dot, vt.transpose(-1, -2)).sub_(delta_t).mul_(p);
      dq_t.add_(at::matmul(ds, kt), scale);
      r.dk.narrow(-2, k0, kn).add_(at::matmul(ds.transpose(-1, -2), qs));
      for (size_t i = 0; i < biases.size(); ++i) {
        if (!bias_grad[i]) continue;
        at::Tensor db = bias_tile(r.dbias[i], q0, qn, k0, kn);
        db.add_(at::sum_to(ds, db.sizes()));
      }
    }
  }
  return r;
}

// The fused path as one autograd function: forward keeps q, k, v, the biases (no
// copies), the ungated output and the row statistics; backward recomputes tiles.
class TiledAttention : public torch::autograd::Function<TiledAttention> {
 public:
  // Absent biases / gate are empty optionals: LibTorch's custom functions reject
  // undefined tensors as inputs but accept optionals, which are then no variables.
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& q, const at::Tensor& k,
                            const at::Tensor& v, const std::optional<at::Tensor>& bias0,
                            const std::optional<at::Tensor>& bias1, const std::optional<at::Tensor>& gate,
                            double scale, int64_t q_chunk, int64_t k_chunk) {
    std::vector<at::Tensor> biases;
    for (const auto* b : {&bias0, &bias1}) {
      if (!*b) continue;
      biases.push_back(align_bias(**b, q.dim()));
      // needs_input_grad() counts variable inputs only, so record the flags here.
      ctx->saved_data[b == &bias0 ? "bias0_grad" : "bias1_grad"] = (*b)->requires_grad();
    }
    ForwardResult f = tiled_forward(q, k, v, biases, scale, {q_chunk, k_chunk});
    ctx->save_for_backward({q, k, v, bias0.value_or(at::Tensor()), bias1.value_or(at::Tensor()),
                            gate.value_or(at::Tensor()), f.o, f.row_max, f.log_sum});
    ctx->saved_data["scale"] = scale;
    ctx->saved_data["q_chunk"] = q_chunk;
    ctx->saved_data["k_chunk"] = k_chunk;
    if (!gate) return f.o.to(q.scalar_type());
    // In place: one output-sized buffer beside the saved ungated output, no temporaries.
    at::Tensor out = at::sigmoid(gate->to(f.o.scalar_type()));
    return out.mul_(f.o).to(q.scalar_type());
  }

  static tensor_list backward(AutogradContext* ctx, tensor_list grads) {
    const auto saved = ctx->get_saved_variables();
    const at::Tensor &q = saved[0], &k = saved[1], &v = saved[2], &gate = saved[5], &o = saved[6],
                     &row_max = saved[7], &log_sum = saved[8];
    const double scale = ctx->saved_data["scale"].toDouble();
    const Tiling t{ctx->saved_data["q_chunk"].toInt(), ctx->saved_data["k_chunk"].toInt()};
    std::vector<at::Tensor> biases;
    std::vector<bool> bias_grad;
    for (int i : {3, 4}) {
      if (!saved[i].defined()) continue;
      biases.push_back(align_bias(saved[i], q.dim()));
      bias_grad.push_back(ctx->saved_data[i == 3 ? "bias0_grad" : "bias1_grad"].toBool());
    }
    BackwardResult r = tiled_backward(q, k, v, biases, bias_grad, gate, o, row_max, log_sum, grads[0], scale, t);
    tensor_list out(9);
    out[0] = r.dq.to(q.scalar_type());
    out[1] = r.dk.to(k.scalar_type());
    out[2] = r.dv.to(v.scalar_type());
    size_t b = 0;
    for (int i : {3, 4}) {
      if (!saved[i].defined()) continue;
      if (r.dbias[b].defined()) out[i] = r.dbias[b].view(saved[i].sizes()).to(saved[i].scalar_type());
      ++b;
    }
    if (gate.defined()) out[5] = r.dgate.to(gate.scalar_type());
    return out;
  }
};

// fp32 only: for bf16 ATen's kernel rounds the probabilities to bf16 before the product
// with v, where the tiled kernel keeps them in fp32. Inference mode only, not mere
// no-grad: a gradient checkpoint runs its forward without grad and recomputes it with
// grad, and both must take the same kernel to give the same numbers.
bool cpu_flash_supported(const at::Tensor& q) {
  return q.device().is_cpu() && q.scalar_type() == at::kFloat && c10::InferenceMode::is_enabled();
}

// A key-mask bias (one value per key, shared by every query and head) that is all 0
// adds nothing: a chain without padding. Scanning it costs one pass over [*, K].
bool is_zero_key_bias(const at::Tensor& b) {
  return b.dim() >= 2 && b.size(-2) == 1 && (b.dim() < 3 || b.size(-3) == 1) && !b.ne(0).any().item<bool>();
}

// Inference on the CPU: ATen's flash kernel, which walks cache-sized tiles of queries and
// keys with the bias added inside its one online-softmax pass, where the tiled kernel
// above makes a whole-tensor pass per step (bias, max, shift, exp, sum). It takes one
// bias: a zero key mask is dropped, and two remaining biases are summed into one
// logits-sized tensor, which low_memory forbids (then: the tiled kernel). Returns an
// undefined tensor where it does not apply.
at::Tensor cpu_flash_attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                               const std::vector<at::Tensor>& biases, const std::optional<at::Tensor>& gate,
                               double scale, bool low_memory) {
  if (k.scalar_type() != q.scalar_type() || v.scalar_type() != q.scalar_type()) return {};
  std::vector<at::Tensor> live;
  for (const at::Tensor& b : biases)
    if (!is_zero_key_bias(b)) live.push_back(b);
  if (live.size() == 2 && low_memory) return {};
  const int64_t rank = q.dim();
  // The kernel takes [B, H, L, C]: the leading dims flattened (a view for the heads-split
  // projections the modules pass), the head dim unit-stride.
  const auto as4 = [](const at::Tensor& t) {
    const at::Tensor c = t.stride(-1) == 1 ? t : t.contiguous();
    return c.reshape({-1, c.size(-3), c.size(-2), c.size(-1)});
  };
  std::optional<at::Tensor> mask;
  if (!live.empty()) {
    at::Tensor b = live.size() == 2 ? live[0] + live[1] : live[0];
    b = align_bias(b, rank);
    if (b.scalar_type() != q.scalar_type()) b = b.to(q.scalar_type());
    // Broadcast leading dims stay stride-0 views; the kernel reads the mask by strides.
    std::vector<int64_t> shape(q.sizes().begin(), q.sizes().end());
    for (int64_t d = rank - 3; d < rank; ++d) shape[d] = b.size(d);
    mask = b.expand(shape).reshape({-1, b.size(-3), b.size(-2), b.size(-1)});
  }
  at::Tensor o = std::get<0>(at::_scaled_dot_product_flash_attention_for_cpu(as4(q), as4(k), as4(v), 0.0, false, mask,
                                                                             scale));
  o = o.view(q.sizes());
  if (gate) o.mul_(at::sigmoid(*gate));
  return o;
}

}  // namespace

AttentionPath parse_attention_path(const std::string& name) {
  if (name == "auto") return AttentionPath::kAuto;
  if (name == "fused") return AttentionPath::kFused;
  if (name == "reference") return AttentionPath::kReference;
  throw std::invalid_argument("attention path must be auto|fused|reference, got '" + name + "'");
}

std::string to_string(AttentionPath path) {
  switch (path) {
    case AttentionPath::kAuto: return "auto";
    case AttentionPath::kFused: return "fused";
    case AttentionPath::kReference: return "reference";
  }
  return "?";
}

at::Tensor attention_reference(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                               const std::vector<at::Tensor>& biases, const std::optional<at::Tensor>& gate,
                               double scale) {
  check_inputs(q, k, v, biases, gate);
  at::Tensor s = at::matmul(q * resolve_scale(q, scale), k.transpose(-1, -2));
  for (const at::Tensor& b : biases) s = s + b;
  at::Tensor o = at::matmul(at::softmax(s, -1), v);
  return gate ? o * at::sigmoid(*gate) : o;
}

int64_t attention_workspace_bytes(int64_t rows, int64_t q_len, int64_t k_len, int64_t head_dim,
                                  at::ScalarType dtype, c10::DeviceType device, bool gated, int biases,
                                  const AttentionOptions& options) {
  const int64_t storage = static_cast<int64_t>(c10::elementSize(dtype));
  const int64_t out = rows * q_len * head_dim;
#ifdef FOLD_WITH_CUDA
  // The flash kernel writes the output and two fp32 statistics per query row; its tiles
  // live in shared memory.
  if (device == c10::DeviceType::CUDA && options.path != AttentionPath::kReference &&
      (dtype == at::kFloat || dtype == at::kHalf || dtype == at::kBFloat16) && head_dim <= 64)
    return out * storage + rows * q_len * 8;
#endif
  if (device == c10::DeviceType::CPU && dtype == at::kFloat && options.path != AttentionPath::kReference &&
      !(biases == 2 && options.low_memory)) {
    // ATen's flash kernel: the output and the log-sum-exp of each query row; per thread
    // a tile of logits (up to 256 queries x 512 keys, by its own split rule) with its
    // row statistics and accumulator; the summed biases; sigmoid(gate).
    const int64_t q_split = q_len >= 768 ? 256 : q_len >= 192 ? 64 : 32, k_split = std::min<int64_t>(k_len, 512);
    const int64_t per_thread = q_split * (k_split + 2 + head_dim);
    return (out + rows * q_len + at::get_num_threads() * per_thread + (biases == 2 ? rows * q_len * k_len : 0) +
            (gated ? out : 0)) * 4;
  }
  const int64_t compute = dtype == at::kDouble ? 8 : 4;
  if (options.path == AttentionPath::kReference) {
    // Logits, probabilities, output, the gated product.
    return (2 * rows * q_len * k_len + (gated ? 3 : 1) * out) * storage;
  }
  // tiled_inference: the result in the storage type; per query chunk the scaled queries,
  // the accumulator and the tile's logits and product with v (or, as the chunk ends,
  // its normalisation by the row sums and the gate's sigmoid), and row statistics.
  const Tiling t = tiling_for(rows, q_len, k_len, options);
  const int64_t chunk_out = rows * t.q_chunk * head_dim;
  const int64_t per_chunk = std::max(3 * chunk_out + rows * t.q_chunk * t.k_chunk, 5 * chunk_out) + 4 * rows * t.q_chunk;
  return out * storage + per_chunk * compute;
}

std::string attention_implementation(const at::Tensor& q, const AttentionOptions& options) {
  if (options.path == AttentionPath::kReference) return "reference";
#ifdef FOLD_WITH_CUDA
  if (cuda_flash_supported(q)) return "cuda-flash";
#endif
  if (cpu_flash_supported(q)) return "cpu-flash";
  return "tiled";
}

at::Tensor attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                     const std::vector<at::Tensor>& biases, const std::optional<at::Tensor>& gate,
                     const AttentionOptions& options) {
  check_inputs(q, k, v, biases, gate);
  const double scale = resolve_scale(q, options.scale);
  const std::string impl = attention_implementation(q, options);
  if (impl == "reference") return attention_reference(q, k, v, biases, gate, scale);
#ifdef FOLD_WITH_CUDA
  // The flash kernel never holds the logits, so it serves low_memory as well.
  if (impl == "cuda-flash") return cuda_flash_attention(q, k, v, biases, gate, scale);
#endif
  if (impl == "cpu-flash") {
    at::Tensor o = cpu_flash_attention(q, k, v, biases, gate, scale, options.low_memory);
    if (o.defined()) return o;
  }
  const Tiling t = choose_tiling(q, k, options);
  if (!at::GradMode::is_enabled()) return tiled_inference(q, k, v, biases, gate, scale, t);
  const auto bias = [&](size_t i) { return i < biases.size() ? std::optional(biases[i]) : std::nullopt; };
  return TiledAttention::apply(q, k, v, bias(0), bias(1), gate, scale, t.q_chunk, t.k_chunk);
}

}  // namespace fold::kernels
