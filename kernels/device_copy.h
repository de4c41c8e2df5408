// Host -> GPU copies of input batches on a side stream, so the copy of the next batch
// overlaps the kernels of the current step instead of queueing behind them.
#pragma once

#include <ATen/core/Tensor.h>

#include <vector>

namespace fold::kernels {

// Copies `host` tensors to `device`. On a CUDA device the copies are issued on a stream
// from LibTorch's pool (asynchronous for pinned host memory) and the device's current
// stream waits for them before anything queued after this call; the results are marked
// as used on the current stream so the caching allocator does not hand their memory
// back early. On the CPU it is Tensor::to.
std::vector<at::Tensor> copy_to_device_on_side_stream(const std::vector<at::Tensor>& host, const at::Device& device);

}  // namespace fold::kernels
