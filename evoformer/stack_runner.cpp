#include "evoformer/stack_runner.h"

#include <torch/csrc/autograd/grad_mode.h>

#include <algorithm>
#include <optional>
#include <vector>

#include "evoformer/checkpoint.h"
#include "evoformer/primitives.h"

namespace fold::evoformer {

namespace {

// (m, z) as the checkpoint's tensor list: z alone in a pair-only stack.
std::vector<torch::Tensor> pack(const torch::Tensor& m, const torch::Tensor& z) {
  return m.defined() ? std::vector<torch::Tensor>{m, z} : std::vector<torch::Tensor>{z};
}
std::pair<torch::Tensor, torch::Tensor> unpack(const std::vector<torch::Tensor>& t) {
  return t.size() == 2 ? std::make_pair(t[0], t[1]) : std::make_pair(torch::Tensor(), t[0]);
}

// Blocks [begin, end) through their differentiable forward.
std::vector<torch::Tensor> run_range(const StackBlocks& blocks, int64_t begin, int64_t end,
                                     const std::vector<torch::Tensor>& in, const torch::Tensor& msa_mask,
                                     const torch::Tensor& pair_mask, int64_t chunk_size,
                                     const std::optional<AxialParallel>& dap) {
  auto [m, z] = unpack(in);
  for (int64_t i = begin; i < end; ++i)
    std::tie(m, z) = blocks.forward(i, m, z, msa_mask, pair_mask, chunk_size, dap ? &*dap : nullptr);
  return pack(m, z);
}

// One checkpoint per K consecutive blocks (OpenFold's checkpoint_blocks), in grad mode.
std::vector<torch::Tensor> run_checkpointed(const StackBlocks& blocks, std::vector<torch::Tensor> mz,
                                            const torch::Tensor& msa_mask, const torch::Tensor& pair_mask,
                                            const MemoryPolicy& policy, const std::optional<AxialParallel>& dap) {
  const int64_t chunk = policy.chunk_size;
  if (!policy.checkpoint.enabled() || !torch::GradMode::is_enabled())
    return run_range(blocks, 0, blocks.count, mz, msa_mask, pair_mask, chunk, dap);
  const int64_t k = policy.checkpoint.blocks_per_checkpoint;
  for (int64_t begin = 0; begin < blocks.count; begin += k) {
    const int64_t end = std::min(blocks.count, begin + k);
    // Everything by value: the recompute runs in backward, after this call returned.
    // The masks are captured (they need no gradient); the recompute sees the same ones.
    mz = checkpoint(
        [blocks, begin, end, msa_mask, pair_mask, chunk, dap](const std::vector<torch::Tensor>& in) {
          return run_range(blocks, begin, end, in, msa_mask, pair_mask, chunk, dap);
        },
        mz);
  }
  return mz;
}

}  // namespace

std::pair<torch::Tensor, torch::Tensor> run_stack(const StackBlocks& blocks, torch::Tensor m, torch::Tensor z,
                                                  const torch::Tensor& msa_mask, const torch::Tensor& pair_mask,
                                                  const MemoryPolicy& policy, const dist::Group& group) {
  if (policy.inplace && group.size() == 1 && !blocks.training && !torch::GradMode::is_enabled()) {
    if (m.defined()) m = writable(std::move(m));
    z = writable(std::move(z));
    for (int64_t i = 0; i < blocks.count; ++i) {
      if (blocks.msa_inplace) blocks.msa_inplace(i, m, z, msa_mask, policy);
      if (!blocks.returns_msa && i == blocks.count - 1) m = torch::Tensor();
      blocks.pair_inplace(i, z, pair_mask, policy);
    }
    return {m, z};
  }
  if (group.size() == 1) return unpack(run_checkpointed(blocks, pack(m, z), msa_mask, pair_mask, policy, std::nullopt));
  const AxialParallel dap(group, m.defined() ? m.size(-3) : 1, z.size(-2));
  const AxialParallel::Shards s = dap.enter(m, z, msa_mask, pair_mask);
  const auto [m_out, z_out] = unpack(run_checkpointed(blocks, pack(s.m, s.z), s.msa_mask, s.pair_mask, policy, dap));
  return {m_out.defined() ? dap.leave_msa(m_out) : m_out, dap.leave_pair(z_out)};
}

}  // namespace fold::evoformer
