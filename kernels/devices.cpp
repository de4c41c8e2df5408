#include "kernels/devices.h"

#include <ATen/Context.h>

#ifdef FOLD_WITH_CUDA
#include <ATen/cuda/CUDAContext.h>
#include <cuda_runtime_api.h>
#endif

namespace fold::kernels {

BuildInfo build_info() {
  BuildInfo b;
#ifdef FOLD_WITH_CUDA
  b.cuda_kernels = true;
  b.cuda_toolkit_version = CUDART_VERSION;
  b.cuda_architectures = FOLD_CUDA_ARCHITECTURES;
#endif
  return b;
}

std::vector<CudaDevice> cuda_devices() {
  std::vector<CudaDevice> out;
#ifdef FOLD_WITH_CUDA
  if (!at::hasCUDA()) return out;
  const int n = static_cast<int>(at::cuda::device_count());
  for (int i = 0; i < n; ++i) {
    const cudaDeviceProp* p = at::cuda::getDeviceProperties(i);
    out.push_back({i, p->name, static_cast<int64_t>(p->totalGlobalMem), p->major, p->minor});
  }
#endif
  return out;
}

}  // namespace fold::kernels
