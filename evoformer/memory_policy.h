// The memory policy (ARCHITECTURE.md, Memory policy): every knob that trades memory for time, as one
// value. None of them changes the numbers beyond floating-point rounding; tests run
// each module and stack under several policies and compare.
//
//   chunk_size   rows (sequences or residues) a chunked module evaluates at once
//   attention    the attention kernel's path and low-memory (key-streaming) mode; in
//                place, low memory also runs the triangle multiplication in tiles that
//                hold no projection (triangle_multiplication.h), for more work
//   checkpoint   gradient checkpointing of the stacks (grad mode only)
//   dap          Dynamic Axial Parallelism group size (the group itself comes from the
//                process grid, dap/process_group.h)
//   offload      recycled tensors parked on the host between iterations (GPU only)
//   storage      the dtype the trunk's activations are stored in (bf16 halves them;
//                each chunk still accumulates in fp32)
//   inplace      without autograd, the stacks overwrite their inputs: residual updates
//                in place, each module chunked end to end, so a stack needs z, m and one
//                module's projection instead of a dozen pair-sized intermediates
//   exact_chunks every chunked module takes exactly chunk_size rows (unchunked: all of
//                them); otherwise rows() sizes a module's chunks by bytes
//
// The text form is '+'-joined parts, as `fold ablate --strategies` and tests spell it:
//   none | checkpoint | checkpoint<K> | dap<K> | chunk<N> | chunkauto | lowmem | offload
//   | bf16 | copy (in-place off) | exactchunk
// `fold`'s memory_policy_from_config() builds it from the config keys.
#pragma once

#include <c10/core/DeviceType.h>
#include <c10/core/ScalarType.h>

#include <cstdint>
#include <optional>
#include <string>

#include "evoformer/checkpoint.h"
#include "kernels/attention.h"

namespace fold::evoformer {

// The least a chunk's largest buffer holds (MemoryPolicy::rows). Smaller chunks save no
// memory worth having on any device and starve the matrix products: the triangle
// product at 4 rows of N_res 256 runs at a quarter of its speed at 64 (30 against 116
// GFLOPS, 2 cores). OpenFold's in-place triangle multiplication likewise takes 256 rows
// whatever the chunk size. It is also the CPU's block when no chunk size is given: a
// module whose chunk's buffers stay near this size keeps them in the last-level cache
// between its LayerNorm, projections, gates and output, where whole pair-sized
// intermediates stream through memory each time (unchunked in-place inference at N_res
// 256 took 18.5 s against 11.0 s in 8 MiB blocks, 2 cores).
inline constexpr int64_t kMinChunkBytes = int64_t{8} << 20;

struct MemoryPolicy {
  int64_t chunk_size = 0;  // 0: unchunked
  // Chosen per input shape from the device's free memory (fold predict resolves it
  // into chunk_size before the model runs).
  bool auto_chunk = false;
  kernels::AttentionOptions attention;
  CheckpointPolicy checkpoint;
  int64_t dap = 1;
  bool offload = false;
  std::optional<c10::ScalarType> storage;  // none: the weights' dtype
  bool inplace = true;
  bool exact_chunks = false;

  // std::invalid_argument naming the part it cannot read (unknown, repeated, or a
  // size < 1).
  static MemoryPolicy parse(const std::string& text);
  // The canonical text ("none" for the default policy); parse(to_string()) == *this.
  std::string to_string() const;
  bool operator==(const MemoryPolicy& other) const;
  // Rows a module evaluates at once on the in-place path when one row of its largest
  // per-chunk buffer takes `row_bytes`, out of `extent`: chunk_size raised until that
  // buffer holds kMinChunkBytes. Unchunked, a CPU takes kMinChunkBytes blocks for its
  // caches and a GPU all rows. exact_chunks turns both adjustments off.
  int64_t rows(int64_t row_bytes, int64_t extent, c10::DeviceType device) const;
  // rows() for the modules outside the stacks (the embedders' pair rows, the structure
  // module's query rows), whose whole path differs from their chunked one: 0 when the
  // chunk would be all of them.
  int64_t chunked_rows(int64_t row_bytes, int64_t extent, c10::DeviceType device) const {
    const int64_t r = rows(row_bytes, extent, device);
    return r < extent ? r : 0;
  }
};


}  // namespace fold::evoformer
