#include "kernels/device_memory.h"

#include <c10/core/Allocator.h>
#include <c10/core/CPUAllocator.h>
#include <c10/util/Exception.h>

#include <atomic>
#include <fstream>
#include <string>
#include <mutex>

#ifdef FOLD_WITH_CUDA
#include <c10/cuda/CUDACachingAllocator.h>
#include <cuda_runtime_api.h>
#endif

namespace fold::kernels {

namespace {

class TrackingCpuAllocator;
TrackingCpuAllocator* tracker = nullptr;  // never destroyed: tensors may outlive static destruction

// Each block carries its size in a header, so that the DataPtr's context is its data
// pointer: Allocator::raw_allocate (used by oneDNN's bf16 matmuls, among others)
// requires that, and frees through raw_deleter() with the data pointer alone.
class TrackingCpuAllocator final : public c10::Allocator {
 public:
  explicit TrackingCpuAllocator(c10::Allocator* base) : base_(base) {}

  c10::DataPtr allocate(size_t n) override {
    const c10::Device cpu(c10::DeviceType::CPU);
    if (n == 0) return {nullptr, nullptr, &release, cpu};
    auto* block = static_cast<char*>(base_->raw_allocate(n + kHeader));
    *reinterpret_cast<int64_t*>(block) = static_cast<int64_t>(n);
    add(static_cast<int64_t>(n));
    void* data = block + kHeader;
    return {data, data, &release, cpu};
  }

  c10::DeleterFnPtr raw_deleter() const override { return &release; }

  void copy_data(void* dest, const void* src, std::size_t count) const override {
    default_copy_data(dest, src, count);
  }

  MemoryStats stats() const { return {current_.load(), peak_.load()}; }
  void reset_peak() { peak_.store(current_.load()); }

 private:
  static constexpr size_t kHeader = 64;  // keeps the base allocator's 64-byte alignment

  static void release(void* data) {
    if (data == nullptr) return;
    char* block = static_cast<char*>(data) - kHeader;
    tracker->current_.fetch_sub(*reinterpret_cast<int64_t*>(block));
    tracker->base_->raw_deallocate(block);
  }

  void add(int64_t n) {
    const int64_t now = current_.fetch_add(n) + n;
    int64_t peak = peak_.load();
    while (now > peak && !peak_.compare_exchange_weak(peak, now)) {
    }
  }

  c10::Allocator* base_;
  std::atomic<int64_t> current_{0};
  std::atomic<int64_t> peak_{0};
};

std::once_flag tracker_once;

TrackingCpuAllocator& cpu_tracker() {
  TORCH_CHECK(tracker != nullptr,
              "CPU memory tracking is off: call fold::kernels::enable_cpu_memory_tracking() "
              "before allocating the tensors to be measured");
  return *tracker;
}

}  // namespace

void enable_cpu_memory_tracking() {
  std::call_once(tracker_once, [] {
    tracker = new TrackingCpuAllocator(c10::GetDefaultCPUAllocator());
    // Priority above the default registration (0), so it wins over LibTorch's own.
    c10::SetCPUAllocator(tracker, /*priority=*/1);
  });
}

bool cpu_memory_tracking_enabled() { return tracker != nullptr; }

MemoryStats memory_stats(const c10::Device& device) {
  if (device.is_cpu()) return cpu_tracker().stats();
#ifdef FOLD_WITH_CUDA
  if (device.is_cuda()) {
    const auto s = c10::cuda::CUDACachingAllocator::getDeviceStats(device.has_index() ? device.index() : 0);
    const auto& bytes = s.allocated_bytes[static_cast<size_t>(c10::CachingAllocator::StatType::AGGREGATE)];
    return {bytes.current, bytes.peak};
  }
#endif
  TORCH_CHECK(false, "memory statistics are not available for device ", device.str(),
              " in this build");
}

void reset_peak_memory(const c10::Device& device) {
  if (device.is_cpu()) return cpu_tracker().reset_peak();
#ifdef FOLD_WITH_CUDA
  if (device.is_cuda())
    return c10::cuda::CUDACachingAllocator::resetPeakStats(device.has_index() ? device.index() : 0);
#endif
  TORCH_CHECK(false, "memory statistics are not available for device ", device.str(),
              " in this build");
}

int64_t available_bytes(const c10::Device& device) {
#ifdef FOLD_WITH_CUDA
  if (device.is_cuda()) {
    c10::cuda::CUDACachingAllocator::emptyCache();
    size_t free = 0, total = 0;
    if (cudaMemGetInfo(&free, &total) == cudaSuccess) return static_cast<int64_t>(free);
  }
#endif
  if (device.is_cpu()) {
    std::ifstream in("/proc/meminfo");
    std::string key, unit;
    int64_t kb = 0;
    while (in >> key >> kb >> unit)
      if (key == "MemAvailable:") return kb * 1024;
  }
  return int64_t{8} << 30;
}

}  // namespace fold::kernels
