#include "kernels/device_copy.h"

#include <ATen/ATen.h>

#ifdef FOLD_WITH_CUDA
#include <ATen/cuda/CUDAContext.h>
#include <ATen/cuda/CUDAEvent.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#endif

namespace fold::kernels {

std::vector<at::Tensor> copy_to_device_on_side_stream(const std::vector<at::Tensor>& host, const at::Device& device) {
  std::vector<at::Tensor> out;
  out.reserve(host.size());
  if (!device.is_cuda()) {
    for (const auto& t : host) out.push_back(t.to(device));
    return out;
  }
#ifdef FOLD_WITH_CUDA
  const c10::cuda::CUDAGuard device_guard(device);
  const c10::cuda::CUDAStream current = c10::cuda::getCurrentCUDAStream(device.index());
  const c10::cuda::CUDAStream side = c10::cuda::getStreamFromPool(/*isHighPriority=*/false, device.index());
  {
    const c10::cuda::CUDAStreamGuard stream_guard(side);
    for (const auto& t : host) out.push_back(t.to(device, /*non_blocking=*/t.is_pinned()));
  }
  at::cuda::CUDAEvent copied;
  copied.record(side);
  copied.block(current);
  for (auto& t : out) t.record_stream(current);
  return out;
#else
  TORCH_CHECK(false, "copy_to_device_on_side_stream: this build has no CUDA kernels (configure with -DFOLD_CUDA=ON)");
#endif
}

}  // namespace fold::kernels
