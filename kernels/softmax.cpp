#include "kernels/softmax.h"

#include <ATen/Parallel.h>
#include <torch/autograd.h>

#include <cmath>
#include <limits>

#ifdef FOLD_WITH_CUDA
#include <ATen/cuda/CUDAContext.h>
#include <c10/cuda/CUDAGuard.h>

#include "kernels/cuda/softmax.h"
#include "kernels/cuda_binding.h"
#endif

namespace fold::kernels {

namespace {

// Rows are independent; ATen's pool (OpenMP in PyTorch's builds) splits them.
void cpu_forward_rows(const float* x, float* y, int64_t rows, int64_t cols) {
  at::parallel_for(0, rows, 16, [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r) {
      const float* xr = x + r * cols;
      float* yr = y + r * cols;
      float m = -std::numeric_limits<float>::infinity();
      for (int64_t j = 0; j < cols; ++j) m = std::max(m, xr[j]);
      const float shift = std::isinf(m) && m < 0 ? 0.0f : m;
      float s = 0.0f;
      for (int64_t j = 0; j < cols; ++j) {
        yr[j] = std::exp(xr[j] - shift);
        s += yr[j];
      }
      const float inv = s > 0.0f ? 1.0f / s : 0.0f;
      for (int64_t j = 0; j < cols; ++j) yr[j] *= inv;
    }
  });
}

void cpu_backward_rows(const float* y, const float* dy, float* dx, int64_t rows, int64_t cols) {
  at::parallel_for(0, rows, 16, [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r) {
      const float* yr = y + r * cols;
      const float* dyr = dy + r * cols;
      float* dxr = dx + r * cols;
      float dot = 0.0f;
      for (int64_t j = 0; j < cols; ++j) dot += yr[j] * dyr[j];
      for (int64_t j = 0; j < cols; ++j) dxr[j] = yr[j] * (dyr[j] - dot);
    }
  });
}

int64_t rows_of(const at::Tensor& t) { return t.dim() == 0 ? 1 : t.numel() / t.size(-1); }
int64_t cols_of(const at::Tensor& t) { return t.dim() == 0 ? 1 : t.size(-1); }

class SoftmaxFunction : public torch::autograd::Function<SoftmaxFunction> {
 public:
  static at::Tensor forward(torch::autograd::AutogradContext* ctx, const at::Tensor& x) {
    at::Tensor y = softmax_forward(x);
    ctx->save_for_backward({y});
    return y;
  }
  static torch::autograd::tensor_list backward(torch::autograd::AutogradContext* ctx,
                                               torch::autograd::tensor_list grads) {
    const at::Tensor y = ctx->get_saved_variables()[0];
    return {softmax_backward(y, grads[0])};
  }
};

}  // namespace

at::Tensor softmax_forward(const at::Tensor& x) {
  TORCH_CHECK(x.is_floating_point(), "fold softmax: expected a floating-point tensor, got ",
              x.scalar_type());
#ifdef FOLD_WITH_CUDA
  if (x.is_cuda()) {
    // The current stream is per device: without the guard a tensor on cuda:1 would be
    // processed on device 0's stream.
    const c10::cuda::CUDAGuard guard(x.device());
    at::Tensor xc = x.contiguous();
    at::Tensor y = at::empty_like(xc);
    check_kernel(cuda::softmax_forward(xc.data_ptr(), y.data_ptr(), rows_of(xc), cols_of(xc),
                                     kernel_dtype(xc.scalar_type(), "softmax"),
                                     at::cuda::getCurrentCUDAStream().stream()),
               "softmax", "forward kernel");
    return y;
  }
#endif
  TORCH_CHECK(x.is_cpu(), "fold softmax: no kernel for device ", x.device());
  at::Tensor xf = x.to(at::kFloat).contiguous();
  at::Tensor y = at::empty_like(xf);
  cpu_forward_rows(xf.data_ptr<float>(), y.data_ptr<float>(), rows_of(xf), cols_of(xf));
  return y.to(x.scalar_type());
}

at::Tensor softmax_backward(const at::Tensor& y, const at::Tensor& dy) {
  TORCH_CHECK(y.sizes() == dy.sizes(), "fold softmax backward: y ", y.sizes(), " vs dy ",
              dy.sizes());
#ifdef FOLD_WITH_CUDA
  if (y.is_cuda()) {
    const c10::cuda::CUDAGuard guard(y.device());
    at::Tensor yc = y.contiguous();
    at::Tensor dyc = dy.to(y.scalar_type()).contiguous();
    at::Tensor dx = at::empty_like(yc);
    check_kernel(cuda::softmax_backward(yc.data_ptr(), dyc.data_ptr(), dx.data_ptr(), rows_of(yc),
                                      cols_of(yc), kernel_dtype(yc.scalar_type(), "softmax"),
                                      at::cuda::getCurrentCUDAStream().stream()),
               "softmax", "backward kernel");
    return dx;
  }
#endif
  TORCH_CHECK(y.is_cpu(), "fold softmax: no kernel for device ", y.device());
  at::Tensor yf = y.to(at::kFloat).contiguous();
  at::Tensor dyf = dy.to(at::kFloat).contiguous();
  at::Tensor dx = at::empty_like(yf);
  cpu_backward_rows(yf.data_ptr<float>(), dyf.data_ptr<float>(), dx.data_ptr<float>(),
                    rows_of(yf), cols_of(yf));
  return dx.to(y.scalar_type());
}

at::Tensor softmax(const at::Tensor& x) { return SoftmaxFunction::apply(x); }

}  // namespace fold::kernels
