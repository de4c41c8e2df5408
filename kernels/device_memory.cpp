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

class TrackingCpuAllocator final : public c10::Allocator {
 public:
  explicit TrackingCpuAllocator(c10::Allocator* base) : base_(base) {}

  c10::DataPtr allocate(size_t n) override {
    c10::DataPtr inner = base_->allocate(n);
    void* data = inner.get();
    // The context owns the base allocator's DataPtr, so freeing goes back through it.
    auto* ctx = new Block{std::move(inner), static_cast<int64_t>(n), this};
    add(static_cast<int64_t>(n));
    return {data, ctx, &Block::release, c10::Device(c10::DeviceType::CPU)};
  }

  void copy_data(void* dest, const void* src, std::size_t count) const override {
    default_copy_data(dest, src, count);
  }

  MemoryStats stats() const { return {current_.load(), peak_.load()}; }
  void reset_peak() { peak_.store(current_.load()); }

 private:
  struct Block {
    c10::DataPtr inner;
    int64_t bytes;
    TrackingCpuAllocator* owner;
    static void release(void* p) {
      auto* b = static_cast<Block*>(p);
      b->owner->current_.fetch_sub(b->bytes);
      delete b;
    }
  };

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

// Never destroyed: tensors may outlive static destruction order.
TrackingCpuAllocator* tracker = nullptr;
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
