// Peak and current tensor memory per device, resettable per measurement: on CUDA from
// the caching allocator's statistics, on the CPU from a tracking allocator installed
// into LibTorch, so CPU runs report tensor bytes rather than RSS noise.
#pragma once

#include <c10/core/Device.h>

#include <cstdint>

namespace fold::kernels {

struct MemoryStats {
  int64_t current_bytes = 0;
  int64_t peak_bytes = 0;
};

// Makes LibTorch allocate CPU tensors through the tracking allocator (idempotent).
// Tensors allocated before the call are not counted, also when they are freed.
void enable_cpu_memory_tracking();
bool cpu_memory_tracking_enabled();

// Throws c10::Error for a CUDA device when the build has no CUDA, and for CPU when
// tracking was never enabled.
MemoryStats memory_stats(const c10::Device& device);
// Sets the peak to the current value, starting a new measurement.
void reset_peak_memory(const c10::Device& device);
// Memory a run could still use: free device memory plus what the caching allocator
// holds but does not use (CUDA), MemAvailable (CPU); 8 GiB when unknown.
int64_t available_bytes(const c10::Device& device);

}  // namespace fold::kernels
