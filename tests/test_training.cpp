// The trainer's parts (fold/train/): Adam, the learning-rate schedule, the weight EMA,
// the fp16 loss scaler, mixed precision, gradient checkpointing of the whole model, the
// log's step records, and resuming a run.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include <sys/wait.h>

#include <atomic>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "data/chain_dataset.h"
#include "data/safetensors.h"
#include "data/training_checkpoint.h"
#include "fold/config.h"
#include "fold/features/training_sample.h"
#include "fold/loss/alphafold_loss.h"
#include "fold/model/alphafold.h"
#include "fold/model/params_io.h"
#include "fold/train/adam.h"
#include "fold/train/loss_scaler.h"
#include "fold/train/lr_schedule.h"
#include "fold/train/mixed_precision.h"
#include "fold/train/step_record.h"
#include "fold/train/trainer.h"
#include "fold/train/training_options.h"
#include "fold/train/weight_ema.h"
#include "kernels/device_memory.h"
#include "tests/train_data_fixtures.h"

namespace fold::train {
namespace {

namespace fs = std::filesystem;
using fold::test::real_record;
using fold::test::remove_tree;
using fold::test::temp_path;

// Equal to the reference: the same updates as LibTorch's Adam (eps added after the
// bias-corrected square root, no weight decay) over several steps.
TEST(Adam, MatchesLibTorchAdamOverSeveralSteps) {
  torch::manual_seed(0);
  const torch::Tensor init = torch::randn({5, 3});
  torch::Tensor ours = init.clone().requires_grad_(), theirs = init.clone().requires_grad_();
  Adam adam({{"w", ours}}, AdamOptions{0.9, 0.999, 1e-6});
  torch::optim::Adam reference({theirs}, torch::optim::AdamOptions(3e-3).betas({0.9, 0.999}).eps(1e-6));
  for (int step = 0; step < 5; ++step) {
    const torch::Tensor target = torch::randn({5, 3});
    for (torch::Tensor* w : {&ours, &theirs}) {
      if (w->grad().defined()) w->mutable_grad().zero_();
      ((*w - target).pow(3).sum()).backward();
    }
    adam.step(3e-3);
    reference.step();
  }
  EXPECT_TRUE(torch::allclose(ours, theirs, 0, 1e-6)) << (ours - theirs).abs().max();
  EXPECT_EQ(adam.steps(), 5);
}

// Round trip: a second optimizer loaded from the first's state continues identically;
// foreign or mis-shaped state is refused.
TEST(Adam, StateRoundTripsAndRejectsMismatches) {
  torch::Tensor a = torch::ones({4}).requires_grad_(), b = torch::ones({4}).requires_grad_();
  Adam first({{"w", a}}, {}), second({{"w", b}}, {});
  a.mutable_grad() = torch::full({4}, 0.5);
  first.step(1e-2);
  second.load_state(first.state(), "test");
  b.data().copy_(a.data());
  a.mutable_grad() = torch::full({4}, -0.25);
  b.mutable_grad() = torch::full({4}, -0.25);
  first.step(1e-2);
  second.step(1e-2);
  EXPECT_TRUE(torch::equal(a, b));
  auto state = first.state();
  state["exp_avg/w"] = torch::zeros({3});
  EXPECT_THROW(second.load_state(state, "test"), std::invalid_argument);
  state = first.state();
  state["exp_avg/other"] = torch::zeros({4});
  state["exp_avg_sq/other"] = torch::zeros({4});
  EXPECT_THROW(second.load_state(state, "test"), std::invalid_argument);
}

// Hand-computed points of OpenFold's AlphaFoldLRScheduler: linear warm-up, plateau,
// then one decay factor more every decay_every_n_steps.
TEST(LrSchedule, WarmupPlateauAndStepDecay) {
  LrSchedule s;
  s.warmup_no_steps = 10;
  s.start_decay_after_n_steps = 100;
  s.decay_every_n_steps = 50;
  s.decay_factor = 0.5;
  s.base_lr = 0.0;
  s.max_lr = 1e-3;
  EXPECT_DOUBLE_EQ(s.at(0), 0.0);
  EXPECT_DOUBLE_EQ(s.at(5), 5e-4);
  EXPECT_DOUBLE_EQ(s.at(10), 1e-3);
  EXPECT_DOUBLE_EQ(s.at(100), 1e-3);
  EXPECT_DOUBLE_EQ(s.at(101), 5e-4);
  EXPECT_DOUBLE_EQ(s.at(149), 5e-4);
  EXPECT_DOUBLE_EQ(s.at(150), 2.5e-4);
  s.warmup_no_steps = 0;
  EXPECT_DOUBLE_EQ(s.at(0), 1e-3);
  const LrSchedule af2 = LrSchedule::from_config(Config::load("initial_training"));
  EXPECT_EQ(af2.warmup_no_steps, 1000);
  EXPECT_DOUBLE_EQ(af2.at(1000), 1e-3);
}

// ema <- ema - (1 - decay)(ema - w), by hand for two updates.
TEST(WeightEma, FollowsTheDecayRecurrence) {
  torch::Tensor w = torch::zeros({2});
  WeightEma ema({{"w", w}}, 0.9);
  w.fill_(1.0);
  ema.update({{"w", w}});
  EXPECT_TRUE(torch::allclose(ema.weights().at("w"), torch::full({2}, 0.1)));
  ema.update({{"w", w}});
  EXPECT_TRUE(torch::allclose(ema.weights().at("w"), torch::full({2}, 0.19)));
  EXPECT_THROW(ema.load({{"v", torch::zeros({2})}}, "test"), std::invalid_argument);
}

// Each branch of the fp16 scaler: an overflow skips the step and halves the scale; a
// run of growth_interval clean steps doubles it; a restored scaler continues.
TEST(DynamicLossScaler, BacksOffOnOverflowAndGrowsAfterCleanSteps) {
  LossScalerOptions o;
  o.init_scale = 1024;
  o.growth_interval = 3;
  DynamicLossScaler s(o);
  EXPECT_FALSE(s.update(false));
  EXPECT_EQ(s.scale(), 512);
  EXPECT_TRUE(s.update(true));
  EXPECT_TRUE(s.update(true));
  EXPECT_EQ(s.scale(), 512);
  EXPECT_TRUE(s.update(true));
  EXPECT_EQ(s.scale(), 1024);
  EXPECT_EQ(s.clean_steps(), 0);
  EXPECT_TRUE(s.update(true));
  EXPECT_FALSE(s.update(false));
  EXPECT_EQ(s.scale(), 512);
  EXPECT_EQ(s.clean_steps(), 0);
  s.restore(8, 2);
  EXPECT_TRUE(s.update(true));
  EXPECT_EQ(s.scale(), 16);
  o.backoff_factor = 1.5;
  EXPECT_THROW(DynamicLossScaler{o}, std::invalid_argument);
}

Config tiny_config() {
  return Config::load("tiny", {"data.train.crop_size=24", "data.train.max_msa_clusters=4", "data.train.max_extra_msa=8",
                               "data.common.max_recycling_iters=1", "data.eval.max_msa_clusters=4",
                               "data.eval.max_extra_msa=8"});
}

features::SampleParts tiny_sample(const Config& config, uint64_t seed) {
  features::TrainingOptions o = training_options(config);
  o.uniform_recycling = false;
  return features::split_training_sample(features::make_training_sample(real_record(), o, seed));
}

// Low precision: the working copy holds the trunk in bf16/fp16 and the structure
// module in fp32, its gradients reach the fp32 masters scaled, an overflow is reported,
// and the copy follows the masters after a step.
TEST(MixedPrecision, WorkingCopyGradientsReachTheFp32Masters) {
  REQUIRE_2Q2K();
  const Config config = tiny_config();
  for (const Precision precision : {Precision::kBf16, Precision::kFp16}) {
    torch::manual_seed(1);
    MixedPrecisionModel m(AlphaFold(AlphaFoldOptions::from_config(config)), precision);
    EXPECT_EQ(m.working()->evoformer->parameters()[0].scalar_type(), trunk_dtype(precision));
    EXPECT_EQ(m.working()->structure_module->parameters()[0].scalar_type(), torch::kFloat);
    EXPECT_EQ(m.master()->evoformer->parameters()[0].scalar_type(), torch::kFloat);
    const features::SampleParts parts = tiny_sample(config, 3);
    const auto out = m.working()->forward(parts.inputs);
    const auto losses = loss::alphafold_loss(out, features::last_iteration_batch(parts), loss::LossOptions::from_config(config));
    ASSERT_TRUE(torch::isfinite(losses.total).item<bool>());
    (losses.total * 4.0).backward();
    ASSERT_TRUE(m.gradients_to_master(0.25));
    const auto masters = m.master()->parameters(), copies = m.working()->parameters();
    int64_t with_grad = 0;
    for (size_t i = 0; i < masters.size(); ++i) {
      if (!copies[i].grad().defined()) continue;
      ++with_grad;
      ASSERT_EQ(masters[i].grad().scalar_type(), torch::kFloat);
      EXPECT_TRUE(torch::allclose(masters[i].grad(), copies[i].grad().to(torch::kFloat) * 0.25, 1e-6, 1e-12));
    }
    EXPECT_GT(with_grad, 100);
    copies[0].mutable_grad().fill_(std::numeric_limits<float>::infinity());
    EXPECT_FALSE(m.gradients_to_master(1.0));
    {
      torch::NoGradGuard no_grad;
      masters[0].add_(1.0);
    }
    m.master_to_working();
    EXPECT_TRUE(torch::equal(copies[0], masters[0].to(copies[0].scalar_type())));
  }
  EXPECT_THROW(parse_precision("fp8"), std::invalid_argument);
}

struct ModelGradients {
  double loss = 0;
  std::map<std::string, torch::Tensor> grads;
  int64_t peak_bytes = 0;
};

ModelGradients gradients_under(const std::string& policy, const Config& config, const features::SampleParts& parts) {
  torch::manual_seed(7);
  AlphaFold model(AlphaFoldOptions::from_config(config));
  model->train();
  RunOptions run;
  run.memory.checkpoint = evoformer::CheckpointPolicy::parse(policy);
  torch::manual_seed(8);  // the dropout masks
  kernels::reset_peak_memory(torch::kCPU);
  const int64_t before = kernels::memory_stats(torch::kCPU).current_bytes;
  const auto out = model->forward(parts.inputs, run);
  const auto losses = loss::alphafold_loss(out, features::last_iteration_batch(parts), loss::LossOptions::from_config(config));
  losses.total.backward();
  ModelGradients g;
  g.peak_bytes = kernels::memory_stats(torch::kCPU).peak_bytes - before;
  g.loss = losses.total.item<double>();
  for (const auto& item : model->named_parameters())
    if (item.value().grad().defined()) g.grads[item.key()] = item.value().grad().clone();
  return g;
}

// Gradient checkpointing over the Evoformer, extra-MSA and template blocks: none, block
// and every:2 give the same loss and parameter gradients (fp32, 1e-6 relative), with
// dropout on, and checkpointing lowers the peak of tensor memory (tracking allocator).
TEST(GradientCheckpointing, SameLossAndGradientsAcrossPoliciesWithLowerPeakMemory) {
  REQUIRE_2Q2K();
  kernels::enable_cpu_memory_tracking();
  const Config config = Config::load("tiny", {"data.train.crop_size=48", "data.train.max_msa_clusters=8",
                                              "data.train.max_extra_msa=16", "data.common.max_recycling_iters=0",
                                              "model.evoformer_stack.no_blocks=4", "model.template.enabled=true",
                                              "data.common.use_templates=true"});
  const features::SampleParts parts = tiny_sample(config, 4);
  const ModelGradients none = gradients_under("none", config, parts);
  for (const std::string policy : {"block", "every:2"}) {
    const ModelGradients other = gradients_under(policy, config, parts);
    EXPECT_NEAR(other.loss, none.loss, 1e-6 * std::abs(none.loss)) << policy;
    ASSERT_EQ(other.grads.size(), none.grads.size()) << policy;
    for (const auto& [name, g] : none.grads) {
      const double scale = std::max(g.abs().max().item<double>(), 1e-12);
      EXPECT_LE((other.grads.at(name) - g).abs().max().item<double>(), 1e-6 * scale) << policy << " " << name;
    }
    std::cout << "[ peak ] policy " << policy << ": " << other.peak_bytes / 1048576.0 << " MiB vs none "
              << none.peak_bytes / 1048576.0 << " MiB\n";
    EXPECT_LT(other.peak_bytes, none.peak_bytes) << policy;
  }
}

// A small dataset of the two 2q2k chains.
fs::path two_chain_dataset() {
  const fs::path path = temp_path("train.h5");
  data::ChainDatasetWriter w(path.string());
  w.add(real_record("A"));
  w.add(real_record("B"));
  w.commit();
  return path;
}

TrainingSummary train_run(const Config& config, const fs::path& data, const fs::path& out, const std::string& resume,
                          int64_t stop_after, const std::atomic<bool>* stop_requested = nullptr) {
  TrainerOptions o;
  o.stop_requested = stop_requested;
  o.train_data = data.string();
  o.out_dir = out.string();
  o.resume = resume;
  o.workers = 2;
  o.progress = false;
  o.stop_after = stop_after;
  std::ostringstream log;
  return Trainer(config, o, log).run();
}

// Weights, EMA and optimizer state of two checkpoints, compared bit for bit.
bool same_checkpoint(const std::string& x_dir, const std::string& y_dir) {
  bool same = true;
  for (const char* file : {"model.safetensors", "ema.safetensors", "optimizer.safetensors"}) {
    const auto x = data::read_safetensors(x_dir + "/" + file).tensors;
    const auto y = data::read_safetensors(y_dir + "/" + file).tensors;
    if (x.size() != y.size()) return false;
    for (const auto& [name, t] : x) same = same && torch::equal(t, y.at(name));
  }
  return same;
}

// Resuming is exact on the CPU: 2 steps, stop, resume for 2 more gives bit-identical
// weights, EMA and optimizer state to 4 uninterrupted steps (dropout, data order,
// recycling counts and the schedule all restored).
TEST(Trainer, ResumedRunIsBitIdenticalToAnUninterruptedOne) {
  REQUIRE_2Q2K();
  const fs::path data = two_chain_dataset(), a = temp_path("run_a"), b = temp_path("run_b");
  Config config = tiny_config();
  for (const char* o : {"train.max_steps=4", "train.checkpoint_every=2", "scheduler.warmup_no_steps=2",
                        "data.train.uniform_recycling=true", "train.log_every=1"})
    config.set(o);
  const TrainingSummary whole = train_run(config, data, a, "", -1);
  const TrainingSummary half = train_run(config, data, b, "", 2);
  EXPECT_EQ(half.last_step, 2);
  const TrainingSummary rest = train_run(config, data, b, b.string(), -1);
  EXPECT_EQ(rest.first_step, 2);
  EXPECT_EQ(rest.last_step, 4);
  EXPECT_EQ(whole.last_checkpoint.substr(a.string().size()), rest.last_checkpoint.substr(b.string().size()));
  EXPECT_TRUE(same_checkpoint(whole.last_checkpoint, rest.last_checkpoint));
  // The log has one record per step of both runs, with the per-term losses and the peak
  // memory of each phase (the step's peak is the largest of them).
  std::ifstream log(b / "log.jsonl");
  int records = 0;
  for (std::string line; std::getline(log, line);) {
    ++records;
    const auto r = nlohmann::json::parse(line);
    EXPECT_TRUE(r.at("losses").contains("fape"));
    EXPECT_TRUE(r.contains("data_wait_seconds"));
    const int64_t forward = r.at("peak_forward_bytes"), backward = r.at("peak_backward_bytes"),
                  optimizer = r.at("peak_optimizer_bytes");
    EXPECT_GT(std::min({forward, backward, optimizer}), 0);
    EXPECT_EQ(r.at("peak_memory_bytes").get<int64_t>(), std::max({forward, backward, optimizer}));
    EXPECT_GT(r.at("residues").get<int64_t>(), 0);
  }
  EXPECT_EQ(records, 4);
  for (const fs::path& p : {data, a, b}) remove_tree(p);
}

// A stop request (SIGTERM, Ctrl-C) ends the run at the end of the step with a checkpoint,
// and resuming from it gives bit for bit the state of a run never stopped.
TEST(Trainer, StopRequestCheckpointsAtTheStepEndAndResumesBitForBit) {
  REQUIRE_2Q2K();
  const fs::path data = two_chain_dataset(), a = temp_path("run_a"), b = temp_path("run_b");
  Config config = tiny_config();
  for (const char* o : {"train.max_steps=3", "train.checkpoint_every=100", "scheduler.warmup_no_steps=2",
                        "data.train.uniform_recycling=true", "train.log_every=1"})
    config.set(o);
  const TrainingSummary whole = train_run(config, data, a, "", -1);
  const std::atomic<bool> requested{true};  // as if SIGTERM had come during the first step
  const TrainingSummary stopped = train_run(config, data, b, "", -1, &requested);
  EXPECT_TRUE(stopped.stopped_by_request);
  EXPECT_EQ(stopped.last_step, 1);
  EXPECT_TRUE(data::is_training_checkpoint(stopped.last_checkpoint)) << stopped.last_checkpoint;
  const TrainingSummary rest = train_run(config, data, b, b.string(), -1);
  EXPECT_EQ(rest.first_step, 1);
  EXPECT_EQ(rest.last_step, 3);
  EXPECT_FALSE(rest.stopped_by_request);
  EXPECT_TRUE(same_checkpoint(whole.last_checkpoint, rest.last_checkpoint));
  for (const fs::path& p : {data, a, b}) remove_tree(p);
}

// fp32: updates skipped in a row (here every loss made NaN from step 3 by the fault
// injection) stop the run past train.max_skipped_steps with a message naming the last
// checkpoint, which stays loadable and holds the last good weights.
TEST(Trainer, NonFiniteStepsInARowStopTheRunWithTheLastCheckpointIntact) {
  REQUIRE_2Q2K();
  const fs::path data = two_chain_dataset(), run = temp_path("run_nan");
  Config config = tiny_config();
  for (const char* o : {"train.max_steps=20", "train.checkpoint_every=2", "train.max_skipped_steps=3",
                        "scheduler.warmup_no_steps=2", "train.log_every=1"})
    config.set(o);
  setenv("FOLD_INJECT_NONFINITE_LOSS_AT_STEP", "3", 1);
  std::string error;
  try {
    train_run(config, data, run, "", -1);
  } catch (const std::runtime_error& e) {
    error = e.what();
  }
  unsetenv("FOLD_INJECT_NONFINITE_LOSS_AT_STEP");
  EXPECT_NE(error.find("4 updates in a row skipped"), std::string::npos) << error;
  EXPECT_NE(error.find("up to step 6"), std::string::npos) << error;
  const std::string latest = data::latest_checkpoint((run / "checkpoints").string());
  EXPECT_EQ(fs::path(latest).filename(), "step-00000004") << "no checkpoint after the run stopped";
  EXPECT_NE(error.find("The last checkpoint is intact: "), std::string::npos) << error;
  EXPECT_NE(error.find("step-00000004"), std::string::npos) << error;
  // Steps 3-6 changed nothing: the checkpoints after step 2 hold step 2's weights.
  const data::TrainingCheckpoint two = data::load_training_checkpoint((run / "checkpoints" / "step-00000002").string());
  const data::TrainingCheckpoint last = data::load_training_checkpoint(latest);
  for (const auto& [name, t] : two.model) EXPECT_TRUE(torch::equal(t, last.model.at(name))) << name;
  for (const fs::path& p : {data, run}) remove_tree(p);
}

// A checkpoint damaged after it was written (model.safetensors cut in half) is refused on
// --resume with the file named and the previous checkpoint offered, which resumes.
TEST(Trainer, ResumeFromATruncatedCheckpointNamesTheFileAndOffersThePreviousOne) {
  REQUIRE_2Q2K();
  const fs::path data = two_chain_dataset(), run = temp_path("run_truncated");
  Config config = tiny_config();
  for (const char* o : {"train.max_steps=4", "train.checkpoint_every=2", "train.log_every=1"}) config.set(o);
  train_run(config, data, run, "", -1);
  const fs::path damaged = run / "checkpoints" / "step-00000004" / "model.safetensors";
  fs::resize_file(damaged, fs::file_size(damaged) / 2);
  std::string error;
  try {
    train_run(config, data, run, run.string(), -1);
  } catch (const std::runtime_error& e) {
    error = e.what();
  }
  EXPECT_NE(error.find(damaged.string()), std::string::npos) << error;
  const std::string previous = (run / "checkpoints" / "step-00000002").string();
  EXPECT_NE(error.find("the previous checkpoint is complete: --resume " + previous), std::string::npos) << error;
  const TrainingSummary resumed = train_run(config, data, run, previous, 1);
  EXPECT_EQ(resumed.first_step, 2);
  EXPECT_EQ(resumed.last_step, 3);
  for (const fs::path& p : {data, run}) remove_tree(p);
}

// The real signal: SIGTERM to a running `fold train` (what SLURM sends before it kills
// a job) makes it checkpoint at the end of the step and exit 0 within a time limit.
TEST(FoldTrainCli, SigtermCheckpointsAndExitsZero) {
  REQUIRE_2Q2K();
  const fs::path data = two_chain_dataset(), run = temp_path("cli_sigterm");
  const std::string train = std::string("'") + FOLD_BINARY + "' train --config tiny --set data.train.crop_size=24" +
                            " --set data.train.max_extra_msa=8 --set data.common.max_recycling_iters=0" +
                            " --set train.log_every=1 --data '" + data.string() + "' --out '" + run.string() +
                            "' --steps 100000 --quiet";
  // Started in the background; signalled once two steps are logged; waited for at most
  // 120 s after the signal (no hang).
  const std::string script =
      train + " > '" + run.string() + ".out' 2> '" + run.string() + ".err' & pid=$!; "
      "for i in $(seq 1200); do [ -f '" + (run / "log.jsonl").string() + "' ] && "
      "[ $(wc -l < '" + (run / "log.jsonl").string() + "') -ge 2 ] && break; sleep 0.1; done; "
      "kill -TERM $pid; for i in $(seq 1200); do kill -0 $pid 2>/dev/null || break; sleep 0.1; done; "
      "if kill -0 $pid 2>/dev/null; then kill -KILL $pid; exit 99; fi; wait $pid";
  std::ofstream(run.string() + ".sh") << script << "\n";
  const int status = std::system(("bash '" + run.string() + ".sh'").c_str());
  const std::string err = fold::test::slurp(run.string() + ".err");
  ASSERT_TRUE(WIFEXITED(status)) << err;
  ASSERT_NE(WEXITSTATUS(status), 99) << "fold train did not stop within 120 s of SIGTERM\n" << err;
  EXPECT_EQ(WEXITSTATUS(status), 0) << err;
  EXPECT_NE(err.find("stopping at the end of this step"), std::string::npos) << err;
  EXPECT_NE(err.find("[train] stop requested: checkpointing at step"), std::string::npos) << err;
  const auto summary = nlohmann::json::parse(fold::test::slurp(run.string() + ".out"));
  EXPECT_EQ(summary.at("stopped_by_signal"), true);
  EXPECT_TRUE(data::is_training_checkpoint(summary.at("checkpoint").get<std::string>()));
  for (const fs::path& p : {data, run}) remove_tree(p);
  for (const char* ext : {".out", ".err", ".sh"}) fs::remove(run.string() + ext);
}

// Round trip: a step record written as a log line reads back the same, per-rank figures
// and validation included, and a skipped step's nones stay none. Lines that are not a
// step's (a validation-only line, text that is not JSON, a field of the wrong type) read
// as none.
TEST(StepRecord, RoundTripsThroughALogLineAndRejectsOtherLines) {
  // A two-rank step followed by validation, as the trainer logs it.
  const std::string line =
      R"({"step":7,"lr":0.001,"samples":["2q2k_A"],"stepped":true,"loss":2.5,)"
      R"("losses":{"fape":1.25,"distogram":3.0},"grad_norm":0.75,"loss_scale":1024,"residues":48,)"
      R"("step_seconds":1.5,"data_wait_seconds":0.25,"communication_seconds":0.125,)"
      R"("peak_forward_bytes":100,"peak_backward_bytes":300,"peak_optimizer_bytes":200,)"
      R"("peak_memory_bytes":300,"peak_step_memory_bytes":50,"optimizer_state_bytes":64,)"
      R"("peak_memory_bytes_per_rank":[300,900],"peak_step_memory_bytes_per_rank":[50,70],)"
      R"("validation":{"lddt_ca":0.5,"gdt_ts":0.25,"drmsd":3.0,"chains":2,"interface_lddt_ca":0.375}})";
  const std::optional<StepRecord> r = StepRecord::parse(line);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->step, 7);
  EXPECT_EQ(r->samples, std::vector<std::string>{"2q2k_A"});
  EXPECT_EQ(*r->loss, 2.5);
  EXPECT_EQ(r->losses, (std::map<std::string, double>{{"fape", 1.25}, {"distogram", 3.0}}));
  EXPECT_EQ(*r->grad_norm, 0.75);
  EXPECT_EQ(r->loss_scale, 1024);
  EXPECT_EQ(*r->peak_backward_bytes, 300);
  ASSERT_EQ(r->ranks.size(), 2u);
  EXPECT_EQ(r->largest_peak_bytes(), 900);
  EXPECT_EQ(r->largest_step_peak_bytes(), 70);
  ASSERT_TRUE(r->validation);
  EXPECT_EQ(r->validation->chains, 2);
  EXPECT_EQ(r->validation->interface_lddt_ca, 0.375);
  // What the record writes reads back as the same record.
  const std::optional<StepRecord> back = StepRecord::parse(r->to_json_line());
  ASSERT_TRUE(back);
  EXPECT_EQ(back->to_json_line(), r->to_json_line());
  EXPECT_NE(back->to_json_line().find(R"("interface_lddt_ca":0.375)"), std::string::npos);

  StepRecord skipped;
  skipped.step = 8;
  const std::optional<StepRecord> s = StepRecord::parse(skipped.to_json_line());
  ASSERT_TRUE(s);
  EXPECT_FALSE(s->stepped);
  EXPECT_FALSE(s->loss);
  EXPECT_FALSE(s->grad_norm);
  EXPECT_FALSE(s->peak_memory_bytes);
  EXPECT_EQ(s->largest_peak_bytes(), -1);

  EXPECT_FALSE(StepRecord::parse(validation_line(8, ValidationResult{})));
  EXPECT_FALSE(StepRecord::parse("not json"));
  EXPECT_FALSE(StepRecord::parse(R"({"stepped": true, "samples": 3})"));
}

// Bad input is refused with a message naming it: no steps configured, an unknown
// chain, a resume directory without a checkpoint, a resume in another precision.
TEST(Trainer, RejectsBadRunSettings) {
  REQUIRE_2Q2K();
  const fs::path data = two_chain_dataset(), out = temp_path("run_bad");
  Config config = tiny_config();
  EXPECT_THROW(train_run(config, data, out, "", -1), ConfigError);  // train.max_steps = 0
  config.set("train.max_steps=1");
  TrainerOptions o;
  // A multimer run validates on complexes: a validation chain of no complex is refused.
  o.train_data = o.valid_data = data.string();
  o.valid_chains = {"9zzz_Q"};
  o.out_dir = out.string();
  {
    std::ostringstream refused_log;
    try {
      Trainer(Config::load("tiny_multimer", {"train.max_steps=1"}), o, refused_log).run();
      ADD_FAILURE() << "a validation complex that is not in the data was accepted";
    } catch (const std::invalid_argument& e) {
      EXPECT_NE(std::string(e.what()).find("no complex or chain '9zzz_Q'"), std::string::npos) << e.what();
    }
  }
  o.valid_data.clear();
  o.valid_chains.clear();
  o.train_chains = {"9zzz_Q"};
  std::ostringstream log;
  try {
    Trainer(config, o, log).run();
    ADD_FAILURE() << "an unknown chain was accepted";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("9zzz_Q"), std::string::npos) << e.what();
  }
  EXPECT_THROW(train_run(config, data, out, (out / "nothing").string(), -1), std::invalid_argument);
  train_run(config, data, out, "", -1);
  config.set("globals.precision=bf16");
  EXPECT_THROW(train_run(config, data, out, out.string(), -1), std::invalid_argument);
  for (const fs::path& p : {data, out}) remove_tree(p);
}

// A multimer config trains on complexes: 2Q2K's two chains as one sample (named by its
// entry or by a chain), the loss finite and falling over repeated steps on it, the
// multimer terms (chain centre of mass) in the log's losses; validation scores the
// complex (named by a chain) as one, with its interface lDDT-Ca, and writes its
// two-chain prediction.
TEST(FoldTrainCli, MultimerConfigTrainsOnAComplex) {
  REQUIRE_2Q2K();
  const fs::path data = two_chain_dataset(), run = temp_path("complex_run");
  const std::string args = "train --config tiny_multimer --set data.train.crop_size=160 --set train.log_every=1"
                           " --set data.train.max_msa_clusters=4"
                           " --set data.train.max_extra_msa=8 --set data.common.max_recycling_iters=0"
                           " --set train.samples_per_epoch=1 --set scheduler.max_lr=0.003 --set scheduler.warmup_no_steps=0"
                           " --data '" + data.string() + "' --steps 6 --quiet --out '" + run.string() + "'";
  const auto trained =
      fold::test::run_fold(args + " --chains 2q2k --valid-data '" + data.string() + "' --valid-chains 2q2k_A");
  ASSERT_EQ(trained.code, 0) << trained.err;
  const auto validation = nlohmann::json::parse(trained.out).at("validation");
  ASSERT_EQ(validation.at("chains").size(), 1u) << trained.out;
  const auto& scored = validation.at("chains")[0];
  EXPECT_EQ(scored.at("chain"), "2q2k");
  for (const char* metric : {"lddt_ca", "interface_lddt_ca"}) {
    EXPECT_GE(scored.at(metric).get<double>(), 0.0) << metric;
    EXPECT_LE(scored.at(metric).get<double>(), 1.0) << metric;
  }
  EXPECT_EQ(validation.at("interface_lddt_ca"), scored.at("interface_lddt_ca"));
  std::ifstream pdb(scored.at("pdb").get<std::string>());
  std::set<char> pdb_chains;
  for (std::string line; std::getline(pdb, line);)
    if (line.rfind("ATOM", 0) == 0 && line.size() > 21) pdb_chains.insert(line[21]);
  EXPECT_EQ(pdb_chains, (std::set<char>{'A', 'B'}));
  std::vector<double> losses;
  std::ifstream log(run / "log.jsonl");
  for (std::string line; std::getline(log, line);) {
    const auto j = nlohmann::json::parse(line);
    if (!j.contains("loss")) continue;
    losses.push_back(j.at("loss").get<double>());
    EXPECT_TRUE(j.at("losses").contains("chain_center_of_mass")) << line;
  }
  ASSERT_EQ(losses.size(), 6u);
  for (double l : losses) EXPECT_TRUE(std::isfinite(l));
  EXPECT_LT(losses.back(), losses.front()) << "the loss of the one complex falls";
  remove_tree(run);
  const auto by_chain = fold::test::run_fold(args + " --chains 2q2k_B");
  EXPECT_EQ(by_chain.code, 0) << by_chain.err;
  const auto unknown = fold::test::run_fold(args + " --chains 9zzz");
  EXPECT_NE(unknown.code, 0);
  EXPECT_NE(unknown.err.find("no complex or chain '9zzz'"), std::string::npos) << unknown.err;
  for (const fs::path& p : {data, run}) remove_tree(p);
}

// The command line end to end: `fold train` writes a run whose checkpoint `fold predict
// --params RUN` reads (its EMA weights), and bad invocations fail with a message.
TEST(FoldTrainCli, TrainsThenPredictsFromTheRunAndRejectsBadInvocations) {
  REQUIRE_2Q2K();
  const fs::path data = two_chain_dataset(), run = temp_path("cli_run"), predicted = temp_path("cli_predict");
  const std::string tiny = " --config tiny --set data.train.crop_size=24 --set data.train.max_msa_clusters=4"
                           " --set data.train.max_extra_msa=8 --set data.common.max_recycling_iters=0";
  const auto trained = fold::test::run_fold("train" + tiny + " --data '" + data.string() + "' --chains 2q2k_A --out '" +
                                            run.string() + "' --steps 2 --quiet");
  ASSERT_EQ(trained.code, 0) << trained.err;
  EXPECT_NE(trained.out.find("step-00000002"), std::string::npos) << trained.out;
  EXPECT_TRUE(data::is_training_checkpoint((run / "checkpoints" / "step-00000002").string()));
  const fs::path fasta = temp_path("2q2k_A.fasta");
  std::ofstream(fasta) << ">2q2k_A\n" << real_record("A").sequence << "\n";
  const auto p = fold::test::run_fold("predict --config tiny --fasta '" + fasta.string() +
                                      "' --msa '" + fold::test::shared_data("alignments/2q2k_A/uniref90_hits.sto") +
                                      "' --params '" + run.string() + "' --recycles 0 --quiet --out '" +
                                      predicted.string() + "'");
  EXPECT_EQ(p.code, 0) << p.err;
  EXPECT_TRUE(fs::exists(predicted / (fasta.stem().string() + ".pdb")));
  const auto no_data = fold::test::run_fold("train --config tiny --out '" + run.string() + "x' --steps 1");
  EXPECT_NE(no_data.code, 0);
  EXPECT_NE(no_data.err.find("--data"), std::string::npos) << no_data.err;
  const auto bad_resume = fold::test::run_fold("train --resume '" + data.parent_path().string() + "'");
  EXPECT_NE(bad_resume.code, 0);
  EXPECT_NE(bad_resume.err.find("no complete checkpoint"), std::string::npos) << bad_resume.err;
  for (const fs::path& path : {data, run, predicted, fasta}) remove_tree(path);
}

// Bit rot inside one chain's compressed data (bytes overwritten in the middle of the
// first deflate chunk of 2q2k_B's MSA, found through HDF5): zlib's checksum catches it,
// and fold train skips each sample of that chain with its reason and trains on.
TEST(FoldTrainCli, CorruptCompressedChunkSkipsTheSampleWithItsReason) {
  REQUIRE_2Q2K();
  const fs::path data = two_chain_dataset(), run = temp_path("cli_corrupt_chunk");
  haddr_t offset = 0;
  hsize_t size = 0;
  {
    const hid_t f = H5Fopen(data.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
    const hid_t ds = H5Dopen2(f, "chains/2q2k_B/msa", H5P_DEFAULT);
    const hsize_t origin[2] = {0, 0};
    unsigned filter_mask = 0;
    const herr_t found = H5Dget_chunk_info_by_coord(ds, origin, &filter_mask, &offset, &size);
    H5Dclose(ds);
    H5Fclose(f);
    ASSERT_GE(found, 0);
  }
  ASSERT_GT(size, 64u);
  {
    std::fstream file(data, std::ios::in | std::ios::out | std::ios::binary);
    file.seekp(static_cast<std::streamoff>(offset + size / 2));
    const std::string junk(16, '\x5a');
    file.write(junk.data(), static_cast<std::streamsize>(junk.size()));
  }
  {
    const data::ChainDataset corrupt(data.string());
    EXPECT_NO_THROW(corrupt.read("2q2k_A"));
    EXPECT_THROW(corrupt.read("2q2k_B"), data::ParseError);
  }
  const auto r = fold::test::run_fold(
      "train --config tiny --set data.train.crop_size=24 --set data.train.max_extra_msa=8"
      " --set data.common.max_recycling_iters=0 --set train.log_every=1 --data '" +
      data.string() + "' --out '" + run.string() + "' --steps 4");
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.err.find("(chain 2q2k_B): " + data.string() + ": chain 2q2k_B: reading dataset 'msa' (truncated or corrupted data)"),
            std::string::npos)
      << r.err;
  std::ifstream log(run / "log.jsonl");
  int64_t steps = 0;
  for (std::string line; std::getline(log, line);) steps += !line.empty();
  EXPECT_EQ(steps, 4);
  for (const fs::path& p : {data, run}) remove_tree(p);
}

// A checkpoint write that fails halfway (a file-size limit stands in for a full disk:
// with SIGXFSZ ignored, write() fails with EFBIG) stops the run with the reason and the
// previous checkpoint named, which stays the one --resume takes and continues from.
TEST(FoldTrainCli, FailedCheckpointWriteStopsAndKeepsThePreviousCheckpoint) {
  REQUIRE_2Q2K();
  const fs::path data = two_chain_dataset(), run = temp_path("cli_full_disk");
  const std::string fold = std::string("'") + FOLD_BINARY + "'";
  const std::string common = " --set data.train.crop_size=24 --set data.train.max_extra_msa=8"
                             " --set data.common.max_recycling_iters=0 --set train.checkpoint_every=2 --quiet";
  const auto first = fold::test::run_fold("train --config tiny" + common + " --data '" + data.string() + "' --out '" +
                                          run.string() + "' --steps 4 --stop-after 2");
  ASSERT_EQ(first.code, 0) << first.err;
  const std::string previous = (run / "checkpoints" / "step-00000002").string();
  ASSERT_TRUE(data::is_training_checkpoint(previous));
  std::ofstream(run.string() + ".sh") << "trap '' XFSZ; ulimit -f 64; exec " << fold << " train --resume '"
                                      << run.string() << "' --quiet 2> '" << run.string() << ".err'\n";
  const int status = std::system(("bash '" + run.string() + ".sh' > /dev/null").c_str());
  const std::string err = fold::test::slurp(run.string() + ".err");
  ASSERT_TRUE(WIFEXITED(status)) << err;
  EXPECT_EQ(WEXITSTATUS(status), 1) << err;
  EXPECT_NE(err.find("writing the checkpoint of step 4 failed"), std::string::npos) << err;
  EXPECT_NE(err.find("File too large"), std::string::npos) << "the system's reason: " << err;
  EXPECT_NE(err.find("the previous checkpoint is intact: " + previous), std::string::npos) << err;
  EXPECT_EQ(data::latest_checkpoint(run.string()), previous);
  EXPECT_NO_THROW(data::load_training_checkpoint(previous));
  const auto resumed = fold::test::run_fold("train --resume '" + run.string() + "' --quiet");
  EXPECT_EQ(resumed.code, 0) << resumed.err;
  EXPECT_TRUE(data::is_training_checkpoint((run / "checkpoints" / "step-00000004").string()));
  for (const fs::path& p : {data, run}) remove_tree(p);
  for (const char* ext : {".err", ".sh"}) fs::remove(run.string() + ext);
}

}  // namespace
}  // namespace fold::train
