// What the kernels were built for and which devices this process sees; `fold info`
// prints it so a user knows which code path will run.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace fold::kernels {

struct BuildInfo {
  bool cuda_kernels = false;       // kernels/cuda compiled in
  int cuda_toolkit_version = 0;    // CUDART_VERSION the kernels were compiled with
  std::string cuda_architectures;  // CMAKE_CUDA_ARCHITECTURES
};

struct CudaDevice {
  int index = 0;
  std::string name;
  int64_t total_memory = 0;
  int major = 0, minor = 0;
};

BuildInfo build_info();
// Empty without a CUDA build or without a visible GPU; never throws.
std::vector<CudaDevice> cuda_devices();

}  // namespace fold::kernels
