#include "fold/train/trainer.h"

#include <torch/torch.h>

#include <chrono>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <limits>
#include <optional>
#include <set>
#include <sstream>
#include <stdexcept>

#include "dap/collectives.h"
#include "dap/process_group.h"
#include "dap/zero_sharding.h"
#include "data/chain_dataset.h"
#include "data/progress_bar.h"
#include "data/training_checkpoint.h"
#include "evoformer/checkpoint.h"
#include "fold/features/training_loader.h"
#include "fold/features/training_sample.h"
#include "fold/loss/alphafold_loss.h"
#include "fold/model/alphafold.h"
#include "fold/model/params_io.h"
#include "fold/train/adam.h"
#include "fold/train/loss_scaler.h"
#include "fold/train/lr_schedule.h"
#include "fold/train/mixed_precision.h"
#include "fold/train/step_record.h"
#include "fold/train/training_options.h"
#include "fold/train/validation.h"
#include "fold/train/weight_ema.h"
#include "kernels/device_memory.h"

namespace fold::train {

namespace fs = std::filesystem;

namespace {

// Mixed into a sample's seed for the model's own draws (dropout), so they are not the
// data transforms' stream of the same sample.
constexpr uint64_t kModelRandomStream = 0x9E3779B97F4A7C15ULL;

double seconds_since(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}

// The chains of `dataset` named in `wanted` (all when empty); an unknown name is an error.
std::vector<data::ChainEntry> select_entries(const data::ChainDataset& dataset, const std::vector<std::string>& wanted) {
  if (wanted.empty()) return dataset.entries();
  std::vector<data::ChainEntry> out;
  for (const auto& id : wanted) {
    const auto it = std::find_if(dataset.entries().begin(), dataset.entries().end(),
                                 [&](const data::ChainEntry& e) { return e.id == id; });
    if (it == dataset.entries().end()) throw std::invalid_argument(dataset.path() + ": no chain '" + id + "'");
    out.push_back(*it);
  }
  return out;
}

// AF-Multimer's samples: the complexes of `dataset` (all of an entry's chains) named in
// `wanted` by entry or by one of their chains (all when empty).
std::vector<data::ChainEntry> select_complexes(const data::ChainDataset& dataset, const std::vector<std::string>& wanted) {
  const std::vector<data::ChainEntry> all = data::complex_entries(dataset.entries());
  if (wanted.empty()) return all;
  std::vector<data::ChainEntry> out;
  for (const auto& id : wanted) {
    const auto it = std::find_if(all.begin(), all.end(), [&](const data::ChainEntry& e) {
      return e.id == id || e.id == data::entry_of(id);
    });
    if (it == all.end()) throw std::invalid_argument(dataset.path() + ": no complex or chain '" + id + "'");
    if (std::none_of(out.begin(), out.end(), [&](const data::ChainEntry& e) { return e.id == it->id; }))
      out.push_back(*it);
  }
  return out;
}

// The peak memory of each phase of a step, from the device allocator's statistics (CPU:
// the tracking allocator); nulls where the device keeps none or a phase did not run.
class PhasePeaks {
 public:
  enum Phase { kForward, kBackward, kOptimizer };
  explicit PhasePeaks(torch::Device device) : device_(device) {
    try {
      resident_ = kernels::memory_stats(device).current_bytes;
      available_ = true;
    } catch (const std::exception&) {
    }
  }
  void begin() {
    if (available_) kernels::reset_peak_memory(device_);
  }
  void end(Phase phase) {
    if (available_) peak_[phase] = std::max(peak_[phase], kernels::memory_stats(device_).peak_bytes);
  }
  void write(StepRecord& record) const {
    const auto known = [](int64_t v) { return v >= 0 ? std::optional<int64_t>(v) : std::nullopt; };
    record.peak_forward_bytes = known(peak_[kForward]);
    record.peak_backward_bytes = known(peak_[kBackward]);
    record.peak_optimizer_bytes = known(peak_[kOptimizer]);
    const int64_t peak = *std::max_element(peak_, peak_ + 3);
    record.peak_memory_bytes = known(peak);
    record.peak_step_memory_bytes = peak >= 0 ? std::optional<int64_t>(peak - resident_) : std::nullopt;
  }

 private:
  torch::Device device_;
  bool available_ = false;
  int64_t resident_ = 0;
  int64_t peak_[3] = {-1, -1, -1};
};

// What the samples of one step add up to on this rank (after sum_over_data_parallel:
// on every data-parallel rank together).
struct StepSums {
  std::map<std::string, double> terms;
  double loss = 0;
  int64_t used = 0, residues = 0;
};

}  // namespace

struct Trainer::Impl {
  Config config;
  TrainerOptions options;
  std::ostream& log;
  torch::Device device;

  features::TrainingOptions data_options;
  std::shared_ptr<const data::ChainDataset> dataset;
  std::unique_ptr<data::ChainSampler> sampler;
  int64_t samples_per_epoch = 0;
  uint64_t run_seed = 0;
  std::unique_ptr<features::TrainingLoader> loader;
  std::ostringstream loader_log;

  std::unique_ptr<MixedPrecisionModel> model;
  std::unique_ptr<zero::ZeroSharding> sharding;
  std::unique_ptr<Adam> adam;  // over the parameters this rank owns
  std::unique_ptr<WeightEma> ema;
  DynamicLossScaler scaler;
  LrSchedule schedule;
  loss::LossOptions loss_options;
  RunOptions run_options;
  double clip_norm = 0;
  int64_t accumulation = 1, max_steps = 0, log_every = 1, checkpoint_every = 0, keep = 0, validate_every = 0;
  std::unique_ptr<Validator> validator;
  // The ranks of a DAP group train on the same samples with the same weights and RNG
  // draws; the data-parallel ranks take turns through the sample schedule and sum their
  // gradients (ZeRO stage `zero`). Rank 0 alone writes the log, the checkpoints' weights
  // and state; with a sharded optimizer each DP rank of DAP rank 0 writes its shard.
  dist::ProcessGrid grid;
  int zero = 0;
  bool writer = true;
  data::TrainingState state;
  std::ofstream jsonl;
  static constexpr int kMaxConsecutiveFailures = 8;
  int consecutive_failures = 0;
  // Updates skipped in a row (fp32/bf16): past train.max_skipped_steps the run stops.
  int64_t max_skipped_steps = 0, skipped_in_a_row = 0;
  // Fault injection for the tests of that stop (FOLD_INJECT_NONFINITE_LOSS_AT_STEP=N):
  // from step N on, every sample's loss is NaN. -1: off.
  int64_t inject_nonfinite_from = -1;
  // Samples skipped so far, except by the current loader: by the loaders of finished
  // epochs and by failed or non-finite forward passes.
  int64_t skipped_before = 0;

  Impl(const Config& c, TrainerOptions o, std::ostream& l)
      : config(c), options(std::move(o)), log(l), device(options.device), scaler(scaler_options(c)) {}

  static LossScalerOptions scaler_options(const Config& c) {
    LossScalerOptions s;
    s.init_scale = c.get_float("train.loss_scale_init");
    s.growth_interval = c.get_int("train.loss_scale_growth_interval");
    return s;
  }

  void setup();
  void setup_distribution();
  // Whether any rank was asked to stop (SIGTERM, Ctrl-C), so that all stop at one step.
  bool stop_requested();
  // Throws once more than max_skipped_steps updates in a row were skipped (fp32/bf16).
  void check_skipped_in_a_row(const StepRecord& record, const std::string& last_checkpoint);
  std::vector<double> sum_over(const dist::Group& group, std::vector<double> values);
  std::vector<RankFigures> gather_rank_figures(const RankFigures& mine);
  void restore(const data::TrainingCheckpoint& checkpoint);
  std::optional<data::LoadedSample> next_sample();
  void start_loader();
  // One training step: `accumulation` samples forward and backward (train_on), the
  // gradients summed over DAP and data-parallel ranks, then one optimizer update
  // (update_weights) unless a gradient is non-finite; returns the step's log record.
  StepRecord step();
  void train_on(const data::LoadedSample& sample, double scale, PhasePeaks& peaks, StepSums& sums);
  bool sum_over_data_parallel(StepSums& sums, bool finite_here);
  double update_weights(double lr, int64_t used);
  // The checkpoint of this step (write_checkpoint); a failure names the previous one.
  std::string save();
  std::string write_checkpoint();
};

void Trainer::Impl::setup() {
  if (device.is_cuda() && !torch::cuda::is_available())
    throw std::invalid_argument("--device " + options.device + ": this machine has no usable CUDA device");
  if (options.out_dir.empty()) throw std::invalid_argument("train: an output directory is needed (--out)");
  // Before the model exists, so the logged peak counts weights, optimizer state and EMA.
  if (device.is_cpu()) kernels::enable_cpu_memory_tracking();
  fs::create_directories(options.out_dir);

  accumulation = config.get_int("train.grad_accumulation");
  max_steps = config.get_int("train.max_steps");
  log_every = std::max<int64_t>(1, config.get_int("train.log_every"));
  checkpoint_every = config.get_int("train.checkpoint_every");
  keep = config.get_int("train.keep_checkpoints");
  validate_every = config.get_int("train.validate_every");
  max_skipped_steps = config.get_int("train.max_skipped_steps");
  if (const char* at = std::getenv("FOLD_INJECT_NONFINITE_LOSS_AT_STEP"); at != nullptr && *at != '\0') {
    inject_nonfinite_from = std::stoll(at);
    log << "[train] fault injection: the loss is NaN from step " << inject_nonfinite_from << " on\n";
  }
  clip_norm = config.get_float("optimizer.clip_grad_norm");
  if (accumulation < 1) throw ConfigError("train.grad_accumulation must be >= 1");
  if (max_steps < 1) throw ConfigError("train.max_steps must be set (>= 1) for fold train");
  // A multimer model trains on complexes: each of the dataset's entries, all its chains.
  const bool complexes = config.get_bool("globals.is_multimer");
  schedule = LrSchedule::from_config(config);
  loss_options = loss::LossOptions::from_config(config);
  run_options.memory = memory_policy_from_config(config);
  if (run_options.memory.auto_chunk)
    throw ConfigError("globals.chunk_size=auto is tuned for inference only: give a chunk size (or none) for training");
  run_seed = static_cast<uint64_t>(config.get_int("globals.seed"));
  setup_distribution();

  data_options = training_options(config);
  dataset = std::make_shared<const data::ChainDataset>(options.train_data);
  sampler = std::make_unique<data::ChainSampler>(complexes ? select_complexes(*dataset, options.train_chains)
                                                           : select_entries(*dataset, options.train_chains),
                                                 data_options.max_resolution);
  for (const auto& [chain, why] : sampler->excluded()) log << "[train] chain " << chain << " not sampled: " << why << "\n";
  if (sampler->chains().empty()) throw std::invalid_argument(options.train_data + ": no chain can be sampled");
  samples_per_epoch = config.get_int("train.samples_per_epoch");
  if (samples_per_epoch <= 0) samples_per_epoch = static_cast<int64_t>(sampler->chains().size());
  if (samples_per_epoch < grid.dp().size())
    throw ConfigError("train.samples_per_epoch (" + std::to_string(samples_per_epoch) + ") is smaller than the " +
                      std::to_string(grid.dp().size()) + " data-parallel ranks that share each epoch");

  // Seeded before the weights are drawn, so a fresh run is reproducible too.
  torch::manual_seed(run_seed);
  AlphaFold master(AlphaFoldOptions::from_config(config));
  if (!options.init_params.empty()) load_params(*master, options.init_params);
  master->to(device);
  master->set_kernel_options(run_options.memory.attention);
  const std::string precision = config.get_string("globals.precision");
  model = std::make_unique<MixedPrecisionModel>(master, parse_precision(precision));
  model->working()->train();
  AdamOptions adam_options;
  adam_options.beta1 = config.get_float("optimizer.beta1");
  adam_options.beta2 = config.get_float("optimizer.beta2");
  adam_options.eps = config.get_float("optimizer.eps");
  sharding = std::make_unique<zero::ZeroSharding>(model->master_parameters(), grid.dp(), zero);
  adam = std::make_unique<Adam>(sharding->owned(), adam_options);
  ema = std::make_unique<WeightEma>(model->master_parameters(), config.get_float("optimizer.ema_decay"));
  state.precision = precision;
  state.config_toml = config.to_toml();
  state.loss_scale = model->precision() == Precision::kFp16 ? scaler.scale() : 1.0;

  if (!options.valid_data.empty()) {
    auto valid = std::make_shared<const data::ChainDataset>(options.valid_data);
    std::vector<std::string> ids;
    for (const auto& e : complexes ? select_complexes(*valid, options.valid_chains)
                                   : select_entries(*valid, options.valid_chains))
      ids.push_back(e.id);
    validator = std::make_unique<Validator>(valid, ids, evaluation_options(config), run_seed);
    for (const auto& [chain, why] : validator->excluded()) log << "[train] validation chain " << chain << " left out: " << why << "\n";
  }
}

void Trainer::Impl::setup_distribution() {
  const dist::DistEnvironment env = dist::read_dist_environment();
  const auto dap_size = static_cast<int>(run_options.memory.dap);
  if (dap_size > env.world_size)
    throw ConfigError("dist.dap=" + std::to_string(dap_size) + " needs " + std::to_string(dap_size) +
                      " ranks, this run has " + std::to_string(env.world_size) + ": start it with fold launch --nproc " +
                      std::to_string(dap_size) + " -- fold train ...");
  zero = static_cast<int>(config.get_int("dist.zero"));
  if (zero < 0 || zero > 2) throw ConfigError("dist.zero must be 0, 1 or 2, got " + std::to_string(zero));
  if (!env.distributed()) return;
  if (device.is_cuda()) device = torch::Device(torch::kCUDA, env.local_rank);
  grid = dist::ProcessGrid::create(env, dap_size, device.is_cuda() ? dist::Backend::kNccl : dist::Backend::kGloo);
  run_options.dap = grid.dap();
  writer = env.rank == 0;
  log << "[train] rank " << env.rank << " of " << env.world_size << ": DAP group of " << dap_size << ", "
      << grid.dp().size() << " data-parallel rank(s), ZeRO stage " << zero << " (" << env.source << " environment)\n";
}

// Element-wise sums over `group`.
std::vector<double> Trainer::Impl::sum_over(const dist::Group& group, std::vector<double> values) {
  if (group.size() == 1) return values;
  const torch::Tensor t = torch::tensor(values, torch::kDouble).to(device);
  group.all_reduce(t).wait();
  const torch::Tensor back = t.cpu();
  return {back.data_ptr<double>(), back.data_ptr<double>() + back.numel()};
}

// Every rank's figures for this step, in rank order, gathered over the world.
std::vector<RankFigures> Trainer::Impl::gather_rank_figures(const RankFigures& mine) {
  const dist::Group& world = grid.world();
  const torch::Tensor all =
      dap::gather(torch::tensor(mine.values(), torch::kDouble).unsqueeze(0).to(device), 0, world).cpu();  // [world, fields]
  std::vector<RankFigures> out;
  for (int r = 0; r < world.size(); ++r) {
    const torch::Tensor row = all[r].contiguous();
    out.push_back(RankFigures::from_values({row.data_ptr<double>(), row.data_ptr<double>() + row.numel()}));
  }
  return out;
}

void Trainer::Impl::restore(const data::TrainingCheckpoint& c) {
  const std::string where = "checkpoint step " + std::to_string(c.state.step);
  load_state_dict(*model->master(), c.model, where);
  model->master_to_working();
  // The whole state (the union of its shards), of which this rank keeps what it owns now:
  // the dp size may differ from the saving run's.
  std::map<std::string, torch::Tensor> owned;
  for (const auto& [name, t] : c.optimizer) {
    const auto slash = name.find('/');
    if (slash == std::string::npos || sharding->owns(name.substr(slash + 1))) owned.emplace(name, t);
  }
  adam->load_state(owned, where);
  ema->load(c.ema, where);
  state = c.state;
  if (state.precision != config.get_string("globals.precision"))
    throw std::invalid_argument(where + " was trained in " + state.precision + "; resume it in the same precision");
  scaler.restore(state.loss_scale, state.loss_scale_clean_steps);
  data::set_cpu_rng_state(state.cpu_rng);
}

void Trainer::Impl::start_loader() {
  std::vector<data::SampleRef> schedule = sampler->epoch(run_seed, state.epoch, samples_per_epoch);
  // Data-parallel rank d takes positions d, d + dp, ...; an epoch is cut to a multiple of
  // dp so every rank has as many samples and all turn to the next epoch together.
  const int64_t dp = grid.dp().size(), d = grid.dp().rank();
  schedule.resize(schedule.size() - schedule.size() % dp);
  schedule.erase(std::remove_if(schedule.begin(), schedule.end(),
                                [&](const data::SampleRef& r) { return r.position < state.position || r.position % dp != d; }),
                 schedule.end());
  data::LoaderOptions l;
  l.workers = options.workers;
  l.queue_depth = static_cast<size_t>(std::max(2, 2 * options.workers));
  l.device = device;
  l.run_seed = run_seed;
  l.ordered = config.get_bool("train.ordered_samples");
  loader = std::make_unique<features::TrainingLoader>(dataset, std::move(schedule), data_options, l, &loader_log);
}

std::optional<data::LoadedSample> Trainer::Impl::next_sample() {
  for (int attempt = 0; attempt < 2; ++attempt) {
    if (!loader) start_loader();
    auto sample = loader->next();
    if (!loader_log.str().empty()) {
      log << loader_log.str();
      loader_log.str("");
    }
    if (sample) {
      state.epoch = sample->ref.epoch;
      state.position = sample->ref.position + 1;
      return sample;
    }
    // The epoch is used up (or every remaining sample failed): the next one.
    skipped_before += loader->stats().skipped;
    ++state.epoch;
    state.position = 0;
    loader.reset();
  }
  return std::nullopt;
}

void Trainer::Impl::train_on(const data::LoadedSample& sample, double scale, PhasePeaks& peaks, StepSums& sums) {
  const std::string where = "[train] step " + std::to_string(state.step + 1) + ": sample " +
                            std::to_string(sample.ref.epoch) + "/" + std::to_string(sample.ref.position) + " (chain " +
                            sample.ref.chain + ")";
  // A bad sample is logged and skipped (ARCHITECTURE.md, Errors); only forward and loss are guarded,
  // so a failure never leaves half-accumulated gradients. A run of failures in a row is
  // a broken setup, not bad data, and stops the run.
  loss::LossBreakdown losses;
  // Dropout draws from a per-sample stream: the same masks whichever rank or step of an
  // accumulation takes the sample (and after a resume).
  torch::manual_seed(data::sample_seed(run_seed, sample.ref.epoch, sample.ref.position) ^ kModelRandomStream);
  peaks.begin();
  try {
    const features::SampleParts parts = features::split_training_sample(sample.features);
    const data::FeatureDict outputs = model->working()->forward(parts.inputs, run_options);
    losses = loss::alphafold_loss(outputs, features::last_iteration_batch(parts), loss_options);
    peaks.end(PhasePeaks::kForward);
  } catch (const std::exception& e) {
    log << where << " failed and is skipped: " << e.what() << "\n";
    ++skipped_before;
    if (++consecutive_failures >= kMaxConsecutiveFailures)
      throw std::runtime_error("train: " + std::to_string(consecutive_failures) + " samples in a row failed; last: " +
                               e.what());
    return;
  }
  consecutive_failures = 0;
  if (inject_nonfinite_from >= 0 && state.step + 1 >= inject_nonfinite_from)
    losses.total = losses.total * std::numeric_limits<double>::quiet_NaN();
  const double value = losses.total.item<double>();
  if (!std::isfinite(value)) {
    log << where << ": non-finite loss, sample skipped\n";
    ++skipped_before;
    return;
  }
  peaks.begin();
  (losses.total * (scale / static_cast<double>(accumulation))).backward();
  peaks.end(PhasePeaks::kBackward);
  sums.residues += sample.features.at("aatype").size(0);
  sums.loss += value;
  ++sums.used;
  for (const auto& [name, t] : losses.terms) sums.terms[name] += t.item<double>();
}

bool Trainer::Impl::sum_over_data_parallel(StepSums& sums, bool finite_here) {
  // What the data-parallel ranks did together: samples used, their loss, ranks with
  // non-finite gradients (one of those skips the step everywhere), ranks with no sample.
  const std::vector<double> together = sum_over(
      grid.dp(), {static_cast<double>(sums.used), sums.loss, sums.used > 0 && !finite_here ? 1.0 : 0.0,
                  sums.used > 0 ? 0.0 : 1.0});
  sums.used = static_cast<int64_t>(together[0]);
  sums.loss = together[1];
  if (together[3] == 0) {
    std::vector<double> values;
    for (const auto& [name, v] : sums.terms) values.push_back(v);
    values = sum_over(grid.dp(), values);
    size_t i = 0;
    for (auto& [name, v] : sums.terms) v = values[i++];
  } else {
    sums.terms.clear();  // some rank has no terms to add
  }
  return sums.used > 0 && together[2] == 0;
}

double Trainer::Impl::update_weights(double lr, int64_t used) {
  // The mean over every sample used (each rank's loss was divided by the planned
  // accumulation): a skipped sample does not shrink the step.
  sharding->reduce_gradients(static_cast<double>(accumulation) / static_cast<double>(used));
  const double grad_norm = sharding->gradient_norm();
  // As torch.nn.utils.clip_grad_norm_.
  if (clip_norm > 0 && clip_norm / (grad_norm + 1e-6) < 1) sharding->scale_gradients(clip_norm / (grad_norm + 1e-6));
  adam->step(lr);
  sharding->gather_parameters();
  ema->update(model->master_parameters());
  model->master_to_working();
  return grad_norm;
}

StepRecord Trainer::Impl::step() {
  const auto t0 = std::chrono::steady_clock::now();
  const double lr = schedule.at(state.step);
  const bool fp16 = model->precision() == Precision::kFp16;
  const double scale = fp16 ? scaler.scale() : 1.0;
  const double communication_before = dist::communication_seconds();
  model->zero_grad();
  // The peak of each phase (forward, backward, optimizer step), and what the step adds on
  // top of the resident weights and optimizer state (activations, gradients, temporaries).
  PhasePeaks peaks(device);
  StepSums sums;
  double data_wait = 0;
  std::vector<std::string> samples;
  for (int64_t a = 0; a < accumulation; ++a) {
    auto sample = next_sample();
    if (!sample) throw std::runtime_error("train: the dataset yields no samples (every sample failed)");
    data_wait += loader->stats().last_wait_seconds;
    samples.push_back(sample->ref.chain);
    train_on(*sample, scale, peaks, sums);
  }
  peaks.begin();
  // The stacks' blocks saw only this rank's slice of the activations.
  dap::all_reduce_gradients(model->working()->axially_split_parameters(), grid.dap());
  const bool finite_here = sums.used > 0 && model->gradients_to_master(1.0 / scale);
  const bool finite = sum_over_data_parallel(sums, finite_here);
  const bool stepped = fp16 ? scaler.update(finite) : finite;
  const double grad_norm = stepped ? update_weights(lr, sums.used) : std::nan("");
  model->zero_grad();
  peaks.end(PhasePeaks::kOptimizer);
  ++state.step;
  state.loss_scale = fp16 ? scaler.scale() : 1.0;
  state.loss_scale_clean_steps = scaler.clean_steps();

  StepRecord record;
  record.step = state.step;
  record.lr = lr;
  record.samples = std::move(samples);
  record.stepped = stepped;
  if (sums.used > 0) record.loss = sums.loss / sums.used;
  for (const auto& [name, v] : sums.terms) record.losses[name] = v / sums.used;
  if (std::isfinite(grad_norm)) record.grad_norm = grad_norm;
  record.loss_scale = state.loss_scale;
  record.residues = sums.residues;
  record.step_seconds = seconds_since(t0);
  record.data_wait_seconds = data_wait;
  record.communication_seconds = dist::communication_seconds() - communication_before;
  peaks.write(record);
  record.optimizer_state_bytes = adam->state_bytes();
  if (grid.world().size() > 1) record.ranks = gather_rank_figures(record.figures());
  if (!stepped)
    log << "[train] step " << state.step << ": " << (sums.used == 0 ? "no usable sample" : "non-finite gradients")
        << ", update skipped" << (fp16 ? ", loss scale now " + std::to_string(scaler.scale()) : std::string()) << "\n";
  return record;
}

std::string Trainer::Impl::save() {
  try {
    return write_checkpoint();
  } catch (const std::exception& e) {
    // A full disk or a failed write: the checkpoint is left as its .partial directory,
    // which no loader reads, and the one before it is untouched.
    const std::string previous = data::latest_checkpoint((fs::path(options.out_dir) / "checkpoints").string());
    throw std::runtime_error("train: writing the checkpoint of step " + std::to_string(state.step) +
                             " failed: " + e.what() + "; the previous checkpoint is intact: " +
                             (previous.empty() ? std::string("none (no checkpoint was written yet)") : previous) +
                             " (free space, then --resume " + options.out_dir + ")");
  }
}

std::string Trainer::Impl::write_checkpoint() {
  const std::string root = (fs::path(options.out_dir) / "checkpoints").string();
  state.cpu_rng = data::cpu_rng_state();
  data::TrainingCheckpoint c;
  if (writer) {
    c.model = state_dict(*model->master());
    c.ema = ema->weights();
    c.state = state;
    // Every data-parallel rank has taken its sample of the last round (rank 0 the first):
    // the cursor is the next round's first position.
    const int64_t dp = grid.dp().size();
    c.state.position = (state.position + dp - 1) / dp * dp;
  }
  if (!sharding->sharded()) {
    if (!writer) return {};  // every rank holds the same weights and optimizer state
    c.optimizer = adam->state();
    return data::save_training_checkpoint(root, c, keep);
  }
  const dist::Group& world = grid.world();
  if (writer) data::begin_training_checkpoint(root, state.step);
  world.barrier().wait();
  // The ranks of a DAP group hold the same shard: its first rank writes it.
  if (grid.dap().rank() == 0)
    data::write_optimizer_shard(root, state.step, grid.dp().rank(), grid.dp().size(), adam->state());
  world.barrier().wait();
  return writer ? data::finish_training_checkpoint(root, c, grid.dp().size(), keep) : std::string();
}

bool Trainer::Impl::stop_requested() {
  const bool here = options.stop_requested != nullptr && options.stop_requested->load();
  if (grid.world().size() == 1) return here;
  return sum_over(grid.world(), {here ? 1.0 : 0.0})[0] > 0;
}

void Trainer::Impl::check_skipped_in_a_row(const StepRecord& record, const std::string& last_checkpoint) {
  // In fp16 skipping overflowing steps is how the loss scaler finds its scale.
  if (model->precision() == Precision::kFp16 || max_skipped_steps <= 0) return;
  skipped_in_a_row = record.stepped ? 0 : skipped_in_a_row + 1;
  if (skipped_in_a_row <= max_skipped_steps) return;
  const std::string latest = last_checkpoint.empty()
                                 ? data::latest_checkpoint((fs::path(options.out_dir) / "checkpoints").string())
                                 : last_checkpoint;
  throw std::runtime_error("train: " + std::to_string(skipped_in_a_row) +
                           " updates in a row skipped (non-finite loss or gradients) up to step " +
                           std::to_string(state.step) + ", more than train.max_skipped_steps = " +
                           std::to_string(max_skipped_steps) + "; stopping. The last checkpoint is intact: " +
                           (latest.empty() ? std::string("none written yet") : latest) +
                           " (lower optimizer.lr or check the data, then --resume)");
}

Trainer::Trainer(const Config& config, TrainerOptions options, std::ostream& log)
    : impl_(std::make_unique<Impl>(config, std::move(options), log)) {}

Trainer::~Trainer() = default;

TrainingSummary Trainer::run() {
  Impl& t = *impl_;
  t.setup();
  if (!t.options.resume.empty()) {
    const std::string dir = data::latest_checkpoint(t.options.resume);
    if (dir.empty()) throw std::invalid_argument("--resume " + t.options.resume + ": no complete checkpoint there");
    t.log << "[train] resuming from " << dir << "\n";
    data::TrainingCheckpoint checkpoint;
    try {
      checkpoint = data::load_training_checkpoint(dir);
    } catch (const std::exception& e) {
      // A checkpoint damaged after it was written (a truncated copy, a full disk
      // elsewhere): name the damage and the newest older one to resume from instead.
      const std::string previous = data::previous_checkpoint(dir);
      throw std::runtime_error("--resume: " + std::string(e.what()) +
                               (previous.empty() ? "; no earlier checkpoint is left"
                                                 : "; the previous checkpoint is complete: --resume " + previous));
    }
    t.restore(checkpoint);
  }
  TrainingSummary summary;
  summary.first_step = t.state.step;
  if (t.writer) t.jsonl.open(fs::path(t.options.out_dir) / "log.jsonl", std::ios::app);
  if (t.writer && !t.jsonl) throw std::runtime_error("cannot write " + (fs::path(t.options.out_dir) / "log.jsonl").string());
  const int64_t target =
      t.options.stop_after >= 0 ? std::min(t.max_steps, t.state.step + t.options.stop_after) : t.max_steps;
  const auto start = std::chrono::steady_clock::now();
  data::ProgressBar bar(std::cerr, target - summary.first_step, t.options.progress && t.writer);
  bool saved_last = false, validated_last = false;
  while (t.state.step < target) {
    StepRecord record = t.step();
    saved_last = false;
    if (!record.stepped) ++summary.skipped_steps;
    if (record.loss) summary.final_loss = *record.loss;
    const bool validate = t.validator && t.validate_every > 0 && t.state.step % t.validate_every == 0;
    validated_last = validate;
    if (validate) {
      summary.validation = t.validator->evaluate(*t.model->master(), t.ema->weights(), t.run_options, t.device, &t.log);
      record.validation = summary.validation;
    }
    if (validate || t.state.step % t.log_every == 0 || t.state.step == target) t.jsonl << record.to_json_line() << "\n" << std::flush;
    // After the step's log line (the log shows every skipped step), before its checkpoint.
    t.check_skipped_in_a_row(record, summary.last_checkpoint);
    if (t.checkpoint_every > 0 && t.state.step % t.checkpoint_every == 0) {
      summary.last_checkpoint = t.save();
      saved_last = true;
    }
    std::ostringstream detail;
    detail << "steps (step " << t.state.step << " of " << t.max_steps << ")";
    if (record.loss) detail << ", loss " << std::fixed << std::setprecision(3) << *record.loss;
    bar.advance(detail.str());
    if (t.stop_requested()) {
      summary.stopped_by_request = true;
      t.log << "[train] stop requested: checkpointing at step " << t.state.step << "; --resume "
            << t.options.out_dir << " continues\n";
      break;
    }
  }
  // The run ends with its model scored, whatever the validation interval (not when asked
  // to stop: SLURM's grace period after SIGTERM is short).
  if (t.validator && !validated_last && !summary.stopped_by_request) {
    summary.validation = t.validator->evaluate(*t.model->master(), t.ema->weights(), t.run_options, t.device, &t.log);
    t.jsonl << validation_line(t.state.step, summary.validation) << "\n" << std::flush;
  }
  if (t.validator && !summary.stopped_by_request) summary.chain_scores = t.validator->last_scores();
  if (!saved_last) summary.last_checkpoint = t.save();
  summary.last_step = t.state.step;
  summary.seconds = seconds_since(start);
  summary.skipped_samples = t.skipped_before + (t.loader ? t.loader->stats().skipped : 0);
  return summary;
}

}  // namespace fold::train
