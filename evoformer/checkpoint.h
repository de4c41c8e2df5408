// Activation (gradient) checkpointing, implemented once for every stack (ARCHITECTURE.md, Memory policy,
// `train.checkpoint = none|block|every:K`): the forward of a segment runs without
// recording a graph, keeping only the segment's inputs; backward recomputes the segment
// with grad enabled and back-propagates the incoming gradients through the recomputed
// graph. This is PyTorch's "reentrant" torch.utils.checkpoint (the one OpenFold's
// checkpoint_blocks uses): parameters captured by the segment receive their gradients by
// accumulation into .grad during the inner backward, so use loss.backward() (as every
// trainer does), not torch::autograd::grad(loss, params), across a checkpointed segment;
// double backward through a segment is not supported.
//
// RNG: the forward records the CPU generator's state (and that of the inputs' CUDA
// device, if any) and the recompute runs from the recorded state, restoring the live
// state afterwards, so dropout draws the same masks in the recompute as in the forward
// and the rest of the run sees the same random stream with or without checkpointing.
#pragma once

#include <torch/types.h>

#include <functional>
#include <string>
#include <vector>

namespace fold::evoformer {

using CheckpointFn = std::function<std::vector<torch::Tensor>(const std::vector<torch::Tensor>&)>;

// Returns fn(inputs) without keeping fn's intermediate activations. Inputs that require
// grad get gradients, and so do parameters fn uses. Outside grad mode (inference) it is
// just fn(inputs). Modifying an input in place before backward is an error (caught by
// the version counter, as for saved tensors).
std::vector<torch::Tensor> checkpoint(const CheckpointFn& fn, const std::vector<torch::Tensor>& inputs);
// One tensor in, one out.
torch::Tensor checkpoint(const std::function<torch::Tensor(const torch::Tensor&)>& fn, const torch::Tensor& input);

// `train.checkpoint`: how many consecutive blocks of a stack share one checkpoint.
struct CheckpointPolicy {
  // 0 = none (every activation kept), K >= 1 = one checkpoint per K blocks.
  int64_t blocks_per_checkpoint = 0;

  static CheckpointPolicy none() { return {}; }
  static CheckpointPolicy every(int64_t k);
  // "none" | "block" (= every:1) | "every:K" (K a positive integer); throws
  // std::invalid_argument naming the value otherwise.
  static CheckpointPolicy parse(const std::string& text);
  std::string to_string() const;
  bool enabled() const { return blocks_per_checkpoint > 0; }
};

}  // namespace fold::evoformer
