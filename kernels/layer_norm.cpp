#include "kernels/layer_norm.h"

#include <ATen/Dispatch.h>
#include <ATen/Parallel.h>
#include <torch/autograd.h>

#include <algorithm>
#include <cmath>
#include <vector>

#ifdef FOLD_WITH_CUDA
#include <ATen/cuda/CUDAContext.h>
#include <c10/cuda/CUDAGuard.h>

#include "kernels/cuda/layer_norm.h"
#include "kernels/cuda_binding.h"
#endif

namespace fold::kernels {

namespace {

// Weight/bias gradients are sums over rows: each chunk of rows accumulates its own
// partial, then the partials are added in chunk order. The chunking depends on the
// shape only, so the result does not change with the thread count.
constexpr int64_t kMaxChunks = 256;
constexpr int64_t kMinRowsPerChunk = 32;

template <typename acc_t>
void cpu_backward_rows(const acc_t* dy, const acc_t* x, const acc_t* w, const acc_t* mean, const acc_t* rstd,
                       acc_t* dx, acc_t* dw, acc_t* db, int64_t rows, int64_t cols) {
  const int64_t chunks = std::min(kMaxChunks, (rows + kMinRowsPerChunk - 1) / kMinRowsPerChunk);
  const int64_t per_chunk = chunks == 0 ? 0 : (rows + chunks - 1) / chunks;
  std::vector<acc_t> partial_w(dw != nullptr ? chunks * cols : 0, acc_t(0));
  std::vector<acc_t> partial_b(db != nullptr ? chunks * cols : 0, acc_t(0));
  const acc_t inv_cols = acc_t(1) / static_cast<acc_t>(cols);
  at::parallel_for(0, chunks, 1, [&](int64_t chunk_begin, int64_t chunk_end) {
    for (int64_t c = chunk_begin; c < chunk_end; ++c) {
      acc_t* pw = dw != nullptr ? partial_w.data() + c * cols : nullptr;
      acc_t* pb = db != nullptr ? partial_b.data() + c * cols : nullptr;
      for (int64_t r = c * per_chunk; r < std::min(rows, (c + 1) * per_chunk); ++r) {
        const acc_t* dyr = dy + r * cols;
        const acc_t* xr = x + r * cols;
        const acc_t mu = mean[r], rs = rstd[r];
        if (dx != nullptr) {
          acc_t sg = 0, sgx = 0;
          for (int64_t j = 0; j < cols; ++j) {
            const acc_t g = w != nullptr ? dyr[j] * w[j] : dyr[j];
            sg += g;
            sgx += g * (xr[j] - mu) * rs;
          }
          const acc_t mg = sg * inv_cols, mgx = sgx * inv_cols;
          acc_t* dxr = dx + r * cols;
          for (int64_t j = 0; j < cols; ++j) {
            const acc_t g = w != nullptr ? dyr[j] * w[j] : dyr[j];
            dxr[j] = rs * (g - mg - (xr[j] - mu) * rs * mgx);
          }
        }
        if (pw != nullptr) {
          for (int64_t j = 0; j < cols; ++j) pw[j] += dyr[j] * (xr[j] - mu) * rs;
        }
        if (pb != nullptr) {
          for (int64_t j = 0; j < cols; ++j) pb[j] += dyr[j];
        }
      }
    }
  });
  for (auto [out, partial] : {std::pair{dw, &partial_w}, std::pair{db, &partial_b}}) {
    if (out == nullptr) continue;
    std::fill(out, out + cols, acc_t(0));
    for (int64_t c = 0; c < chunks; ++c) {
      for (int64_t j = 0; j < cols; ++j) out[j] += (*partial)[c * cols + j];
    }
  }
}

#ifdef FOLD_WITH_CUDA
const float* float_ptr_or_null(const at::Tensor& t) { return t.defined() ? t.data_ptr<float>() : nullptr; }
float* float_ptr_or_null(at::Tensor& t) { return t.defined() ? t.data_ptr<float>() : nullptr; }
#endif

template <typename T>
T* ptr_or_null(const at::Tensor& t) {
  return t.defined() ? t.data_ptr<T>() : nullptr;
}

// fp64 keeps fp64 so that gradient checks in fp64 are not limited by fp32 rounding.
at::ScalarType acc_type(at::ScalarType t) { return t == at::kDouble ? at::kDouble : at::kFloat; }

const at::Tensor* present(const std::optional<at::Tensor>& t) {
  return t.has_value() && t->defined() ? &*t : nullptr;
}

void check_inputs(const at::Tensor& x, const std::optional<at::Tensor>& weight,
                  const std::optional<at::Tensor>& bias) {
  TORCH_CHECK(x.is_floating_point(), "fold layer_norm: expected a floating-point tensor, got ",
              x.scalar_type());
  TORCH_CHECK(x.dim() >= 1 && x.size(-1) > 0,
              "fold layer_norm: x needs a non-empty last dimension, got shape ", x.sizes());
  const int64_t cols = x.size(-1);
  for (const auto& [name, t] : {std::pair{"weight", present(weight)}, std::pair{"bias", present(bias)}}) {
    if (t == nullptr) continue;
    TORCH_CHECK(t->dim() == 1 && t->size(0) == cols, "fold layer_norm: ", name, " has shape ", t->sizes(),
                ", expected [", cols, "] (the last dimension of x ", x.sizes(), ")");
    TORCH_CHECK(t->is_floating_point(), "fold layer_norm: ", name, " must be floating-point, got ",
                t->scalar_type());
    TORCH_CHECK(t->device() == x.device(), "fold layer_norm: ", name, " is on ", t->device(), ", x on ",
                x.device());
  }
}

class LayerNormFunction : public torch::autograd::Function<LayerNormFunction> {
 public:
  static at::Tensor forward(torch::autograd::AutogradContext* ctx, const at::Tensor& x,
                            const std::optional<at::Tensor>& weight, const std::optional<at::Tensor>& bias,
                            double eps) {
    auto [y, mean, rstd] = layer_norm_forward(x, weight, bias, eps);
    const at::Tensor* w = present(weight);
    const at::Tensor* b = present(bias);
    ctx->save_for_backward({x, w != nullptr ? *w : at::Tensor(), mean, rstd});
    ctx->saved_data["has_weight"] = w != nullptr;
    ctx->saved_data["has_bias"] = b != nullptr;
    if (b != nullptr) ctx->saved_data["bias_dtype"] = b->scalar_type();
    return y;
  }

  static torch::autograd::tensor_list backward(torch::autograd::AutogradContext* ctx,
                                               torch::autograd::tensor_list grads) {
    const auto saved = ctx->get_saved_variables();
    const bool has_weight = ctx->saved_data["has_weight"].toBool();
    const bool has_bias = ctx->saved_data["has_bias"].toBool();
    // needs_input_grad counts only the tensor inputs that were present: x, weight, bias.
    const bool need_dx = ctx->needs_input_grad(0);
    const bool need_dw = has_weight && ctx->needs_input_grad(1);
    const bool need_db = has_bias && ctx->needs_input_grad(has_weight ? 2 : 1);
    const std::optional<at::Tensor> weight = has_weight ? std::optional<at::Tensor>(saved[1]) : std::nullopt;
    auto [dx, dw, db] =
        layer_norm_backward(grads[0], saved[0], weight, saved[2], saved[3], need_dx, need_dw, need_db);
    if (dw.defined()) dw = dw.to(saved[1].scalar_type());
    if (db.defined()) db = db.to(ctx->saved_data["bias_dtype"].toScalarType());
    return {dx, dw, db, at::Tensor()};
  }
};

}  // namespace

std::tuple<at::Tensor, at::Tensor, at::Tensor> layer_norm_forward(const at::Tensor& x,
                                                                  const std::optional<at::Tensor>& weight,
                                                                  const std::optional<at::Tensor>& bias,
                                                                  double eps) {
  check_inputs(x, weight, bias);
  const int64_t cols = x.size(-1);
  const int64_t rows = x.numel() / cols;
  const at::Tensor* w = present(weight);
  const at::Tensor* b = present(bias);
#ifdef FOLD_WITH_CUDA
  if (x.is_cuda()) {
    const c10::cuda::CUDAGuard guard(x.device());
    const at::Tensor xc = x.contiguous();
    // fp32 parameters whatever x's storage: no rounding of fp32 weights to bf16.
    const at::Tensor wf = w != nullptr ? w->to(at::kFloat).contiguous() : at::Tensor();
    const at::Tensor bf = b != nullptr ? b->to(at::kFloat).contiguous() : at::Tensor();
    at::Tensor y = at::empty(xc.sizes(), xc.options());
    at::Tensor mean = at::empty({rows}, xc.options().dtype(at::kFloat));
    at::Tensor rstd = at::empty({rows}, xc.options().dtype(at::kFloat));
    check_kernel(cuda::layer_norm_forward(xc.data_ptr(), float_ptr_or_null(wf), float_ptr_or_null(bf), y.data_ptr(),
                                        mean.data_ptr<float>(), rstd.data_ptr<float>(), rows, cols,
                                        static_cast<float>(eps), kernel_dtype(xc.scalar_type(), "layer_norm"),
                                        at::cuda::getCurrentCUDAStream().stream()),
               "layer_norm", "forward kernel");
    return {y, mean, rstd};
  }
#endif
  TORCH_CHECK(x.is_cpu(), "fold layer_norm: no kernel for device ", x.device());
  const at::ScalarType acc = acc_type(x.scalar_type());
  const at::Tensor xa = x.to(acc).contiguous();
  const at::Tensor wa = w != nullptr ? w->to(acc).contiguous() : at::Tensor();
  const at::Tensor ba = b != nullptr ? b->to(acc).contiguous() : at::Tensor();
  // ATen's CPU kernel is vectorised for the machine it runs on (AVX-512 here); a portable
  // scalar loop of our own spent 8% of chunked inference in its row sums. Its statistics
  // are the ones backward expects: the row mean and 1 / sqrt(var + eps).
  auto [y, mean, rstd] = at::native_layer_norm(xa, {cols}, wa, ba, eps);
  mean = mean.reshape({rows});
  rstd = rstd.reshape({rows});
  return {y.to(x.scalar_type()), mean, rstd};
}

std::tuple<at::Tensor, at::Tensor, at::Tensor> layer_norm_backward(
    const at::Tensor& dy, const at::Tensor& x, const std::optional<at::Tensor>& weight,
    const at::Tensor& mean, const at::Tensor& rstd, bool need_dx, bool need_dweight, bool need_dbias) {
  check_inputs(x, weight, std::nullopt);
  const int64_t cols = x.size(-1);
  const int64_t rows = x.numel() / cols;
  TORCH_CHECK(dy.sizes() == x.sizes(), "fold layer_norm backward: dy ", dy.sizes(), " vs x ", x.sizes());
  TORCH_CHECK(mean.numel() == rows && rstd.numel() == rows, "fold layer_norm backward: mean/rstd have ",
              mean.numel(), "/", rstd.numel(), " entries, expected one per row (", rows, ")");
  const at::Tensor* w = present(weight);
  need_dweight = need_dweight && w != nullptr;
#ifdef FOLD_WITH_CUDA
  if (x.is_cuda()) {
    const c10::cuda::CUDAGuard guard(x.device());
    const at::Tensor xc = x.contiguous();
    const at::Tensor dyc = dy.to(x.scalar_type()).contiguous();
    const at::Tensor wf = w != nullptr ? w->to(at::kFloat).contiguous() : at::Tensor();
    const at::Tensor meanc = mean.to(at::kFloat).contiguous();
    const at::Tensor rstdc = rstd.to(at::kFloat).contiguous();
    const auto fopts = xc.options().dtype(at::kFloat);
    at::Tensor dx = need_dx ? at::empty(xc.sizes(), xc.options()) : at::Tensor();
    at::Tensor dw = need_dweight ? at::empty({cols}, fopts) : at::Tensor();
    at::Tensor db = need_dbias ? at::empty({cols}, fopts) : at::Tensor();
    at::Tensor workspace = need_dweight || need_dbias
                               ? at::empty({cuda::layer_norm_backward_workspace(rows, cols)}, fopts)
                               : at::Tensor();
    check_kernel(cuda::layer_norm_backward(dyc.data_ptr(), xc.data_ptr(), float_ptr_or_null(wf),
                                         meanc.data_ptr<float>(), rstdc.data_ptr<float>(),
                                         need_dx ? dx.data_ptr() : nullptr, float_ptr_or_null(dw),
                                         float_ptr_or_null(db), float_ptr_or_null(workspace), rows, cols,
                                         kernel_dtype(xc.scalar_type(), "layer_norm"), at::cuda::getCurrentCUDAStream().stream()),
               "layer_norm", "backward kernels");
    return {dx, dw, db};
  }
#endif
  TORCH_CHECK(x.is_cpu(), "fold layer_norm: no kernel for device ", x.device());
  const at::ScalarType acc = acc_type(x.scalar_type());
  const at::Tensor xa = x.to(acc).contiguous();
  const at::Tensor dya = dy.to(acc).contiguous();
  const at::Tensor wa = w != nullptr ? w->to(acc).contiguous() : at::Tensor();
  const at::Tensor meana = mean.to(acc).contiguous();
  const at::Tensor rstda = rstd.to(acc).contiguous();
  at::Tensor dx = need_dx ? at::empty(xa.sizes(), xa.options()) : at::Tensor();
  at::Tensor dw = need_dweight ? at::empty({cols}, xa.options()) : at::Tensor();
  at::Tensor db = need_dbias ? at::empty({cols}, xa.options()) : at::Tensor();
  AT_DISPATCH_FLOATING_TYPES(acc, "fold layer_norm backward", [&] {
    cpu_backward_rows<scalar_t>(dya.data_ptr<scalar_t>(), xa.data_ptr<scalar_t>(), ptr_or_null<scalar_t>(wa),
                                meana.data_ptr<scalar_t>(), rstda.data_ptr<scalar_t>(), ptr_or_null<scalar_t>(dx),
                                ptr_or_null<scalar_t>(dw), ptr_or_null<scalar_t>(db), rows, cols);
  });
  return {need_dx ? dx.to(x.scalar_type()) : dx, dw, db};
}

at::Tensor layer_norm(const at::Tensor& x, const std::optional<at::Tensor>& weight,
                      const std::optional<at::Tensor>& bias, double eps) {
  return LayerNormFunction::apply(x, weight, bias, eps);
}

}  // namespace fold::kernels
