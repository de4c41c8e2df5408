// fold/plan: the memory planner against the measured peak of the in-place inference
// path (AF2 model_1 channel sizes, one Evoformer and one extra-MSA block), stage by
// stage; chunk-size choice and the longest protein that fits; memory sizes.
#include <gtest/gtest.h>
#include <c10/core/InferenceMode.h>
#include <torch/torch.h>

#include <cmath>
#include <iostream>
#include <map>

#include "fold/config.h"
#include "fold/model/alphafold.h"
#include "fold/predict/plan.h"
#include "kernels/device_memory.h"

namespace fold {
namespace {

const c10::Device kCpu(c10::DeviceType::CPU);

// A model-ready batch of random features with one recycling slice.
data::FeatureDict random_batch(int64_t n, int64_t s, int64_t e) {
  torch::manual_seed(0);
  data::FeatureDict b;
  const auto aatype = torch::randint(0, 20, {n, 1});
  b["aatype"] = aatype;
  b["target_feat"] = torch::cat({torch::zeros({n, 1, 1}), torch::one_hot(aatype, 21).to(torch::kFloat).permute({0, 2, 1})}, 1);
  b["residue_index"] = torch::arange(n).unsqueeze(-1);
  b["msa_feat"] = torch::rand({s, n, 49, 1});
  b["seq_mask"] = torch::ones({n, 1});
  b["msa_mask"] = torch::ones({s, n, 1});
  b["extra_msa"] = torch::randint(0, 23, {e, n, 1});
  b["extra_has_deletion"] = torch::zeros({e, n, 1});
  b["extra_deletion_value"] = torch::zeros({e, n, 1});
  b["extra_msa_mask"] = torch::ones({e, n, 1});
  return b;
}

struct Case {
  int64_t n, s, e;
  const char* policy;
};

TEST(MemoryPlan, PeakWithinTenPercentOfTheMeasuredInPlaceRun) {
  const Config config = Config::load("af2_model_1", {"model.evoformer_stack.no_blocks=1",
                                                     "model.extra_msa.extra_msa_stack.no_blocks=1",
                                                     "model.template.enabled=false"});
  kernels::enable_cpu_memory_tracking();
  AlphaFold model(AlphaFoldOptions::from_config(config));
  model->eval();
  c10::InferenceMode inference;  // as fold predict, whose kernels the plan follows
  // exactchunk: every module chunked as asked, which at these sizes the byte floor
  // (MemoryPolicy::rows) would mostly run whole; none: the CPU's byte blocks; lowmem
  // with exact chunks: the triangle multiplication in 8 tiles.
  for (const Case& c : {Case{96, 16, 64, "chunk8"}, Case{128, 32, 128, "chunk16+lowmem"}, Case{128, 8, 32, "chunk4"},
                        Case{128, 32, 64, "chunk8+exactchunk"}, Case{128, 32, 64, "none"},
                        Case{128, 32, 64, "chunk16+lowmem+exactchunk"}}) {
    SCOPED_TRACE(c.policy);
    const data::FeatureDict batch = random_batch(c.n, c.s, c.e);
    RunOptions run;
    run.memory = evoformer::MemoryPolicy::parse(c.policy);
    model->set_kernel_options(run.memory.attention);
    std::map<std::string, int64_t> measured;
    kernels::reset_peak_memory(kCpu);
    const int64_t base = kernels::memory_stats(kCpu).current_bytes;
    run.on_stage = [&](int, const std::string& stage, double) {
      measured[stage] = kernels::memory_stats(kCpu).peak_bytes - base;
      kernels::reset_peak_memory(kCpu);
    };
    int64_t peak = 0;
    {
      const auto out = model(batch, run);
      for (const auto& [stage, bytes] : measured) peak = std::max(peak, bytes);
    }
    const MemoryPlan plan = plan_inference(model->options, {c.n, c.s, c.e, 0}, run.memory, c10::DeviceType::CPU);
    std::cout << "[ plan     ] N_res " << c.n << ", N_seq " << c.s << ", N_extra " << c.e << ", " << c.policy
              << " (pair tensor " << plan.pair_bytes << " B):\n";
    for (const StagePlan& st : plan.stages)
      std::cout << "[ plan     ]   " << st.stage << ": planned " << st.peak_bytes() << " B (" << st.largest
                << "), measured " << measured[st.stage] << " B\n";
    // The kernels' own scratch buffers (GEMM packing, per-thread workspaces: a few MiB
    // whatever the size) are not planned; they matter for small proteins only.
    const double error = std::abs(static_cast<double>(plan.peak_bytes) - peak);
    std::cout << "[ plan     ]   peak: planned " << plan.peak_bytes << " B, measured " << peak << " B, error "
              << 100 * error / peak << "%\n";
    EXPECT_LE(error, std::max(0.10 * peak, 4.0 * (1 << 20)));
    for (const char* stage : {"input_embedder", "extra_msa_stack", "evoformer"}) {
      for (const StagePlan& st : plan.stages) {
        if (st.stage == stage) {
          EXPECT_LE(std::abs(static_cast<double>(st.peak_bytes()) - measured[stage]), 0.10 * measured[stage]) << stage;
        }
      }
    }
  }
  model->set_kernel_options({});
}

TEST(MemoryPlan, ChunkSizeAndLongestProteinFollowTheBudget) {
  const AlphaFoldOptions model = AlphaFoldOptions::from_config(Config::load("af2_model_1", {}));
  const PlanShape shape{1024, 128, 1024, 0};
  evoformer::MemoryPolicy policy;
  const auto peak = [&](int64_t chunk, bool exact = false) {
    evoformer::MemoryPolicy p = policy;
    p.chunk_size = chunk;
    p.exact_chunks = exact;
    return plan_inference(model, shape, p, c10::DeviceType::CPU).peak_bytes;
  };
  // Smaller chunks hold less (unchunked whole: exactchunk without a chunk size, since an
  // unchunked CPU run is blocked by bytes); the chosen chunk is the largest power of two
  // that fits.
  EXPECT_LT(peak(8), peak(64));
  EXPECT_LT(peak(64), peak(0, true));
  const int64_t budget = peak(32);
  EXPECT_EQ(plan_chunk_size(model, shape, policy, c10::DeviceType::CPU, budget), 32);
  EXPECT_EQ(plan_chunk_size(model, shape, policy, c10::DeviceType::CPU, 1), 0);
  // More memory, longer proteins, and the longest fits where a longer one does not.
  const int64_t g16 = int64_t{16} << 30, g64 = int64_t{64} << 30;
  const int64_t n16 = largest_fitting_n_res(model, shape, policy, c10::DeviceType::CPU, g16);
  const int64_t n64 = largest_fitting_n_res(model, shape, policy, c10::DeviceType::CPU, g64);
  EXPECT_GT(n16, 1000);
  EXPECT_GT(n64, n16);
  PlanShape longest = shape, longer = shape;
  longest.n_res = n16;
  longer.n_res = n16 + n16 / 50 + 1;
  EXPECT_GT(plan_chunk_size(model, longest, policy, c10::DeviceType::CPU, g16), 0);
  EXPECT_EQ(plan_chunk_size(model, longer, policy, c10::DeviceType::CPU, g16), 0);
}

TEST(MemoryPlan, ParsesMemorySizesAndRejectsOthers) {
  EXPECT_EQ(parse_memory_size("80G"), int64_t{80} << 30);
  EXPECT_EQ(parse_memory_size("512M"), int64_t{512} << 20);
  EXPECT_EQ(parse_memory_size("1.5K"), 1536);
  EXPECT_EQ(parse_memory_size("1024"), 1024);
  for (const char* bad : {"", "G", "-1G", "0", "12X", "eightyG"})
    EXPECT_THROW(parse_memory_size(bad), std::invalid_argument) << "'" << bad << "'";
}

}  // namespace
}  // namespace fold
