// fold/ablation: strategy names, reading a run's log, comparing losses across strategies,
// and the written tables (the runs themselves are exercised by the ablate_* ctest).
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "data/text_file.h"
#include "fold/train/ablation.h"
#include "test_paths.h"

namespace fold {
namespace {

namespace fs = std::filesystem;

using evoformer::MemoryPolicy;

TEST(AblationStrategy, MemoryPolicyBecomesTrainOverrides) {
  EXPECT_EQ(training_overrides(MemoryPolicy::parse("dap4+checkpoint+chunk8+lowmem")),
            (std::vector<std::string>{"dist.dap=4", "train.checkpoint=block", "globals.chunk_size=8",
                                      "globals.low_memory_attention=true"}));
  EXPECT_EQ(training_overrides(MemoryPolicy::parse("none")),
            (std::vector<std::string>{"dist.dap=1", "train.checkpoint=none", "globals.chunk_size=none",
                                      "globals.low_memory_attention=false"}));
  EXPECT_EQ(training_overrides(MemoryPolicy::parse("checkpoint3"))[1], "train.checkpoint=every:3");
}

TEST(AblationStrategy, RejectsPartsTrainingHasNoUseFor) {
  for (const char* inference_only : {"chunkauto", "offload", "bf16", "dap2+copy"}) {
    try {
      training_overrides(MemoryPolicy::parse(inference_only));
      ADD_FAILURE() << "'" << inference_only << "' was accepted";
    } catch (const std::invalid_argument& e) {
      EXPECT_NE(std::string(e.what()).find("strategy"), std::string::npos) << e.what();
    }
  }
  // Unreadable text is the policy parser's error (tests/test_evoformer_stack.cpp).
  EXPECT_THROW(MemoryPolicy::parse("dap2+"), std::invalid_argument);
}

TEST(AblationLog, TakesTheLargestRankAndTheMedianStepAfterTheFirst) {
  const fs::path path = fs::temp_directory_path() / ("ablation-log-" + std::to_string(::getpid()) + ".jsonl");
  std::ofstream(path) << R"({"step":1,"loss":10.0,"residues":64,"step_seconds":9.0,"communication_seconds":0.0,)"
                      << R"("peak_memory_bytes":100,"peak_memory_bytes_per_rank":[100,300],"peak_step_memory_bytes":50})"
                      << "\n"
                      << R"({"step":2,"loss":9.0,"residues":64,"step_seconds":2.0,"communication_seconds":0.5,)"
                      << R"("peak_memory_bytes":120,"peak_memory_bytes_per_rank":[120,200],"peak_step_memory_bytes":70})"
                      << "\n"
                      << R"({"step":3,"loss":8.0,"residues":64,"step_seconds":4.0,"communication_seconds":1.0,)"
                      << R"("peak_memory_bytes":110,"peak_step_memory_bytes":60})"
                      << "\n"
                      << R"({"step":3,"validation":{"lddt_ca":0.5}})" << "\n";
  AblationRun run;
  ASSERT_TRUE(read_ablation_log(path.string(), run));
  EXPECT_EQ(run.losses, (std::vector<double>{10, 9, 8}));
  EXPECT_EQ(run.peak_bytes, 300);
  EXPECT_EQ(run.step_peak_bytes, 70);
  EXPECT_DOUBLE_EQ(run.step_seconds, 3.0) << "the first step is warm-up";
  EXPECT_DOUBLE_EQ(run.communication_share, 1.5 / 6.0);
  EXPECT_DOUBLE_EQ(run.tokens_per_second(), 64 / 3.0);
  std::ofstream(path) << R"({"step":1,"loss":null})" << "\n";
  EXPECT_FALSE(read_ablation_log(path.string(), run)) << "no step with a loss";
  fs::remove(path);
}

AblationRun ran(int64_t crop, const std::string& strategy, std::vector<double> losses, const std::string& status = "ok") {
  AblationRun r;
  r.crop = crop;
  r.strategy = strategy;
  r.status = status;
  r.losses = std::move(losses);
  r.peak_bytes = 1 << 20;
  r.step_seconds = 1;
  r.residues = crop;
  return r;
}

TEST(AblationLosses, ComparedPerCropToTheFirstStrategyThatRan) {
  std::vector<AblationRun> runs{ran(64, "none", {}, "OOM"), ran(64, "checkpoint", {10, 9}), ran(64, "dap2", {10, 9.00009}),
                                ran(128, "none", {20, 18}), ran(128, "checkpoint", {20, 18})};
  EXPECT_TRUE(compare_ablation_losses(runs, 1e-4));
  EXPECT_NEAR(runs[2].loss_difference, 1e-5, 1e-12);
  runs.push_back(ran(128, "dap2", {20, 18.1}));
  EXPECT_FALSE(compare_ablation_losses(runs, 1e-4));
  runs.push_back(ran(128, "chunk4", {20}));
  EXPECT_FALSE(compare_ablation_losses(runs, 1)) << "a run with fewer steps cannot agree";
}

TEST(AblationTables, MarkOutOfMemoryRunsInsteadOfNumbers) {
  std::vector<AblationRun> runs{ran(64, "none", {10}), ran(64, "dap2", {}, "OOM")};
  runs[1].detail = "exit 137";
  AblationOptions o;
  o.crops = {64};
  o.strategies = {"none", "dap2"};
  const fs::path dir = fs::temp_directory_path() / ("ablation-tables-" + std::to_string(::getpid()));
  fs::create_directories(dir);
  write_ablation_csv(runs, (dir / "a.csv").string());
  write_ablation_markdown(runs, o, "- device: test\n", true, (dir / "a.md").string());
  std::stringstream csv, md;
  csv << std::ifstream(dir / "a.csv").rdbuf();
  md << std::ifstream(dir / "a.md").rdbuf();
  EXPECT_NE(csv.str().find("64,dap2,OOM,1,64,,,,,,,,\"exit 137\""), std::string::npos) << csv.str();
  EXPECT_NE(md.str().find("| dap2 | OOM |"), std::string::npos) << md.str();
  EXPECT_NE(md.str().find("| none | 1.0 |"), std::string::npos) << md.str();
  data::remove_tree(dir.string());
}

}  // namespace
}  // namespace fold
