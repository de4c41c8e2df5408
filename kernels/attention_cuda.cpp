// ATen binding of the CUDA flash-attention kernel (kernels/cuda/attention.cu): turns
// tensors into the kernel's framework-free problem description, and wraps forward and
// backward in one autograd function. Built only with FOLD_WITH_CUDA.
#include <ATen/ATen.h>
#include <ATen/cuda/CUDAContext.h>
#include <c10/cuda/CUDAGuard.h>
#include <torch/autograd.h>

#include "kernels/attention_cuda.h"
#include "kernels/cuda_binding.h"
#include "kernels/cuda/attention.h"

namespace fold::kernels {

namespace {

using torch::autograd::AutogradContext;
using torch::autograd::tensor_list;

// [*, H, L, C] with at most two leading dims -> [B1, B2, H, L, C].
std::vector<int64_t> five_dims(at::IntArrayRef s) {
  std::vector<int64_t> out(5 - s.size(), 1);
  out.insert(out.end(), s.begin(), s.end());
  return out;
}

// A bias keeps its storage type where the kernel reads it (fp32, fp16, bf16): the tiled
// path adds biases in fp32, and rounding an fp32 bias to bf16 q would cost ~0.4% per
// logit (and turn -1e9 into -inf in fp16). Anything else is read as fp32.
at::Tensor kernel_bias(const at::Tensor& b) {
  const auto t = b.scalar_type();
  return t == at::kFloat || t == at::kHalf || t == at::kBFloat16 ? b : b.to(at::kFloat);
}

// The bias as the kernel reads it: its own strides over [B1, B2, H, Q, K], 0 where it
// broadcasts; the gradient buffer (contiguous in the bias's shape) likewise.
cuda::AttentionBias describe_bias(const at::Tensor& b, const at::Tensor& grad_buffer, at::IntArrayRef logits) {
  const std::vector<int64_t> shape = five_dims(b.sizes());
  const at::Tensor view = b.view(shape);
  cuda::AttentionBias d;
  d.data = view.data_ptr();
  d.dtype = kernel_dtype(b.scalar_type(), "attention");
  for (int i = 0; i < 5; ++i) {
    const bool broadcast = shape[i] == 1 && logits[i] != 1;
    d.stride[i] = broadcast ? 0 : view.stride(i);
    d.grad_stride[i] = broadcast || !grad_buffer.defined() ? 0 : grad_buffer.view(shape).stride(i);
  }
  return d;
}

cuda::RowStats* row_stats(const at::Tensor& stats) {
  static_assert(sizeof(cuda::RowStats) == 2 * sizeof(float), "RowStats is two packed floats");
  return reinterpret_cast<cuda::RowStats*>(stats.data_ptr<float>());
}

struct Prepared {
  cuda::AttentionProblem problem;
  std::vector<at::Tensor> keep_alive;  // casts the problem points into
};

Prepared prepare(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                 const std::vector<at::Tensor>& biases, const at::Tensor& gate,
                 const std::vector<at::Tensor>& dbias, double scale) {
  Prepared p;
  const auto qs = five_dims(q.sizes());
  const auto ks = five_dims(k.sizes());
  const std::vector<int64_t> logits{qs[0], qs[1], qs[2], qs[3], ks[3]};
  auto& pr = p.problem;
  pr.b1 = qs[0];
  pr.b2 = qs[1];
  pr.heads = qs[2];
  pr.q_len = qs[3];
  pr.k_len = ks[3];
  pr.head_dim = qs[4];
  pr.dtype = kernel_dtype(q.scalar_type(), "attention");
  pr.scale = static_cast<float>(scale);
  auto hold = [&](at::Tensor t) {
    p.keep_alive.push_back(t.contiguous());
    return p.keep_alive.back().data_ptr();
  };
  // q, k, v and the gate share one storage type, q's, as the tensor-core products need;
  // the tiled path likewise computes with k and v converted to q's compute type.
  pr.q = hold(q);
  pr.k = hold(k.to(q.scalar_type()));
  pr.v = hold(v.to(q.scalar_type()));
  pr.gate = gate.defined() ? hold(gate.to(q.scalar_type())) : nullptr;
  for (size_t i = 0; i < biases.size(); ++i) {
    p.keep_alive.push_back(kernel_bias(biases[i]));
    pr.bias[i] = describe_bias(p.keep_alive.back(), i < dbias.size() ? dbias[i] : at::Tensor(), logits);
  }
  return p;
}

class FlashAttention : public torch::autograd::Function<FlashAttention> {
 public:
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                            const std::optional<at::Tensor>& bias0, const std::optional<at::Tensor>& bias1,
                            const std::optional<at::Tensor>& gate, double scale) {
    const c10::cuda::CUDAGuard guard(q.device());
    std::vector<at::Tensor> biases;
    for (const auto* b : {&bias0, &bias1}) {
      if (!*b) continue;
      biases.push_back(**b);
      ctx->saved_data[b == &bias0 ? "bias0_grad" : "bias1_grad"] = (*b)->requires_grad();
    }
    const at::Tensor g = gate.value_or(at::Tensor());
    Prepared p = prepare(q, k, v, biases, g, {}, scale);
    at::Tensor o = at::empty(q.sizes(), q.options().memory_format(at::MemoryFormat::Contiguous));
    at::Tensor out = g.defined() ? at::empty_like(o) : at::Tensor();
    // One cuda::RowStats (two floats) per query row.
    std::vector<int64_t> stats_shape(q.sizes().begin(), q.sizes().end() - 1);
    stats_shape.push_back(2);
    at::Tensor stats = at::empty(stats_shape, q.options().dtype(at::kFloat));
    check_kernel(cuda::attention_forward(p.problem, o.data_ptr(), out.defined() ? out.data_ptr() : nullptr,
                                         row_stats(stats), at::cuda::getCurrentCUDAStream().stream()),
                 "attention", "forward");
    ctx->save_for_backward({q, k, v, bias0.value_or(at::Tensor()), bias1.value_or(at::Tensor()), g, o, stats});
    ctx->saved_data["scale"] = scale;
    return g.defined() ? out : o;
  }

  static tensor_list backward(AutogradContext* ctx, tensor_list grads) {
    const auto s = ctx->get_saved_variables();
    const at::Tensor &q = s[0], &k = s[1], &v = s[2], &gate = s[5], &o = s[6], &stats = s[7];
    const c10::cuda::CUDAGuard guard(q.device());
    const double scale = ctx->saved_data["scale"].toDouble();
    std::vector<at::Tensor> biases, dbias;
    for (int i : {3, 4}) {
      if (!s[i].defined()) continue;
      biases.push_back(s[i]);
      const bool need = ctx->saved_data[i == 3 ? "bias0_grad" : "bias1_grad"].toBool();
      dbias.push_back(need ? at::zeros(s[i].sizes(), s[i].options().dtype(at::kFloat)) : at::Tensor());
    }
    Prepared p = prepare(q, k, v, biases, gate, dbias, scale);
    const at::Tensor d_out = grads[0].to(q.scalar_type()).contiguous();
    at::Tensor dq_accum = at::zeros(q.sizes(), q.options().dtype(at::kFloat));
    at::Tensor dq = at::empty_like(o), dk = at::empty(k.sizes(), o.options()), dv = at::empty(v.sizes(), o.options());
    at::Tensor dgate = gate.defined() ? at::empty_like(o) : at::Tensor();
    at::Tensor delta = at::empty(o.sizes().slice(0, o.dim() - 1), stats.options());
    auto ptr = [](const at::Tensor& t) { return t.defined() ? t.data_ptr<float>() : nullptr; };
    check_kernel(cuda::attention_backward(p.problem, o.data_ptr(), row_stats(stats), d_out.data_ptr(),
                                   dq_accum.data_ptr<float>(), dq.data_ptr(), dk.data_ptr(), dv.data_ptr(),
                                   dgate.defined() ? dgate.data_ptr() : nullptr,
                                   ptr(dbias.size() > 0 ? dbias[0] : at::Tensor()),
                                   ptr(dbias.size() > 1 ? dbias[1] : at::Tensor()), delta.data_ptr<float>(),
                                   at::cuda::getCurrentCUDAStream().stream()),
          "attention", "backward");
    tensor_list out(7);
    out[0] = dq;
    out[1] = dk.to(k.scalar_type());
    out[2] = dv.to(v.scalar_type());
    size_t b = 0;
    for (int i : {3, 4}) {
      if (!s[i].defined()) continue;
      if (dbias[b].defined()) out[i] = dbias[b].to(s[i].scalar_type());
      ++b;
    }
    out[5] = gate.defined() ? dgate.to(gate.scalar_type()) : at::Tensor();
    return out;
  }
};

}  // namespace

bool cuda_flash_supported(const at::Tensor& q) {
  return q.is_cuda() && q.dim() >= 3 && q.dim() <= 5 &&
         (q.scalar_type() == at::kFloat || q.scalar_type() == at::kHalf || q.scalar_type() == at::kBFloat16) &&
         cuda::attention_supported(kernel_dtype(q.scalar_type(), "attention"), q.size(-1));
}

at::Tensor cuda_flash_attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                                const std::vector<at::Tensor>& biases, const std::optional<at::Tensor>& gate,
                                double scale) {
  const auto bias = [&](size_t i) { return i < biases.size() ? std::optional(biases[i]) : std::nullopt; };
  return FlashAttention::apply(q, k, v, bias(0), bias(1), gate, scale);
}

}  // namespace fold::kernels
