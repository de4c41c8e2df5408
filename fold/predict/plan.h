// `fold plan` (ARCHITECTURE.md, Memory policy): the tensor memory one inference pass will need, predicted
// before anything is allocated, stage by stage (input embedder, templates, extra-MSA
// stack, Evoformer, structure module, heads), from the model's sizes, the input's
// shape and the memory policy; the chunk size that fits a memory budget; and the
// longest protein that fits. `fold predict` refuses a run whose plan exceeds the
// device's free memory.
//
// The model follows what the in-place inference path allocates (memory_policy.h): per
// stage, what stays resident (z, m, the extra MSA, masks and features) plus the largest
// transient of one module call: a chunk of rows through its projections and the
// attention kernel (kernels::attention_workspace_bytes), or a whole-tensor step (the
// triangle multiplication's held projection, the structure module's normalised pair).
#pragma once

#include <c10/core/DeviceType.h>

#include <cstdint>
#include <string>
#include <vector>

#include "evoformer/memory_policy.h"
#include "fold/model/alphafold.h"

namespace fold {

struct PlanShape {
  int64_t n_res = 0;
  int64_t n_seq = 0;    // MSA cluster rows (the template rows are added from n_templ)
  int64_t n_extra = 0;  // extra-MSA rows
  int64_t n_templ = 0;
};

struct StagePlan {
  std::string stage;
  int64_t resident_bytes = 0;   // held through the stage
  int64_t transient_bytes = 0;  // the largest step on top
  std::string largest;          // which step that is
  int64_t peak_bytes() const { return resident_bytes + transient_bytes; }
};

struct MemoryPlan {
  std::vector<StagePlan> stages;
  int64_t peak_bytes = 0;    // the largest stage peak (beyond the weights)
  int64_t chunk_size = 0;    // the chunk size planned with (0 = none)
  int64_t pair_bytes = 0;    // one pair tensor (N_res^2 x c_z) in the storage type
};

// The plan of one iteration of `model` on `shape` under `policy` (its chunk_size,
// attention options and storage type; an in-place policy; auto_chunk is not resolved
// here) on `device`.
MemoryPlan plan_inference(const AlphaFoldOptions& model, const PlanShape& shape, const evoformer::MemoryPolicy& policy,
                          c10::DeviceType device);

// The largest power-of-two chunk size (<= N_res) whose plan peaks within `budget`
// bytes; 0 when even chunk size 1 does not fit.
int64_t plan_chunk_size(const AlphaFoldOptions& model, const PlanShape& shape, evoformer::MemoryPolicy policy,
                        c10::DeviceType device, int64_t budget);

// The largest N_res (to within 1%) whose plan, with the chunk size plan_chunk_size
// chooses, peaks within `budget` bytes beyond the weights; MSA depths as in `depths`.
int64_t largest_fitting_n_res(const AlphaFoldOptions& model, const PlanShape& depths,
                              const evoformer::MemoryPolicy& policy, c10::DeviceType device, int64_t budget);

// The parameters of `model` as a run under `policy` holds them: the trunk in the
// policy's storage type, the structure module and heads in fp32 (builds the model once).
int64_t resident_weight_bytes(const AlphaFoldOptions& model, const evoformer::MemoryPolicy& policy);

// "80G", "512M", "1.5T", "1073741824" -> bytes; std::invalid_argument otherwise.
int64_t parse_memory_size(const std::string& text);

}  // namespace fold
