#include "fold/train/ablation.h"

#include <fcntl.h>
#include <sys/wait.h>
#include <torch/version.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <map>
#include <ostream>
#include <sstream>
#include <stdexcept>
#include <thread>

#include "dap/launcher.h"
#include "data/chain_dataset.h"
#include "data/text_file.h"
#include "fold/config.h"
#include "fold/train/step_record.h"
#include "kernels/devices.h"

namespace fold {

namespace fs = std::filesystem;

namespace {

double median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

bool mentions_out_of_memory(const std::string& text) {
  std::string lower = text;
  std::transform(lower.begin(), lower.end(), lower.begin(), ::tolower);
  for (const char* sign : {"out of memory", "can't allocate memory", "cannot allocate memory", "bad_alloc",
                           "outofmemoryerror"})
    if (lower.find(sign) != std::string::npos) return true;
  return false;
}

// The last line of `text` that says what went wrong (error/failed), else its last line.
std::string failure_line(const std::string& text) {
  std::istringstream in(text);
  std::string line, last, error;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    last = line;
    if (line.find("rror") != std::string::npos || line.find("failed") != std::string::npos) error = line;
  }
  return error.empty() ? last : error;
}

std::string read_all(const fs::path& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// Runs the ranks of `command` with this process's stdout and stderr sent to `log_path`.
int launch_logged(const launcher::LaunchOptions& options, const fs::path& log_path) {
  std::fflush(stdout);
  std::fflush(stderr);
  const int fd = ::open(log_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (fd < 0) throw std::runtime_error("cannot write " + log_path.string());
  const int saved_out = ::dup(STDOUT_FILENO), saved_err = ::dup(STDERR_FILENO);
  ::dup2(fd, STDOUT_FILENO);
  ::dup2(fd, STDERR_FILENO);
  ::close(fd);
  int rc = 0;
  std::string error;
  try {
    rc = launcher::launch(options);
  } catch (const std::exception& e) {
    error = e.what();
  }
  std::fflush(stdout);
  std::fflush(stderr);
  ::dup2(saved_out, STDOUT_FILENO);
  ::dup2(saved_err, STDERR_FILENO);
  ::close(saved_out);
  ::close(saved_err);
  if (!error.empty()) throw std::runtime_error(error);
  return rc;
}

std::string describe_device(const std::string& device, int threads) {
  if (device.rfind("cuda", 0) == 0) {
    const auto gpus = kernels::cuda_devices();
    if (gpus.empty()) return device + " (no GPU visible)";
    std::ostringstream s;
    s << gpus.front().name << " (" << std::fixed << std::setprecision(0)
      << static_cast<double>(gpus.front().total_memory) / (1 << 30) << " GiB), " << gpus.size() << " GPU(s)";
    return s.str();
  }
  std::string model = "unknown CPU";
  std::ifstream cpuinfo("/proc/cpuinfo");
  for (std::string line; std::getline(cpuinfo, line);)
    if (line.rfind("model name", 0) == 0) {
      model = line.substr(line.find(':') + 2);
      break;
    }
  return "CPU: " + model + ", " + std::to_string(threads) +
         " threads (one process uses all, DAP ranks share them evenly); tracking allocator";
}

std::string describe_build() {
  const kernels::BuildInfo b = kernels::build_info();
  return "fold (LibTorch " + std::to_string(TORCH_VERSION_MAJOR) + "." + std::to_string(TORCH_VERSION_MINOR) + "." +
         std::to_string(TORCH_VERSION_PATCH) + ", CUDA kernels " +
         (b.cuda_kernels ? "compiled for sm " + b.cuda_architectures : std::string("not compiled")) + ")";
}

std::string run_name(int64_t crop, const std::string& strategy) {
  std::string s = strategy;
  std::replace(s.begin(), s.end(), '+', '_');
  return std::to_string(crop) + "-" + s;
}

std::string fixed(double v, int digits) {
  std::ostringstream s;
  s << std::fixed << std::setprecision(digits) << v;
  return s.str();
}

}  // namespace

std::vector<std::string> training_overrides(const evoformer::MemoryPolicy& p) {
  const auto refuse = [&](const std::string& part, const std::string& why) {
    return std::invalid_argument("strategy '" + p.to_string() + "': '" + part + "' " + why);
  };
  if (p.auto_chunk) throw refuse("chunkauto", "is tuned for inference only; give chunk<N>");
  if (p.offload) throw refuse("offload", "only parks recycled tensors in inference");
  if (p.storage) throw refuse("bf16", "is a precision: use --precision bf16");
  if (!p.inplace) throw refuse("copy", "changes nothing in training (autograd never runs in place)");
  return {"dist.dap=" + std::to_string(p.dap), "train.checkpoint=" + p.checkpoint.to_string(),
          "globals.chunk_size=" + (p.chunk_size > 0 ? std::to_string(p.chunk_size) : std::string("none")),
          std::string("globals.low_memory_attention=") + (p.attention.low_memory ? "true" : "false")};
}

bool read_ablation_log(const std::string& path, AblationRun& run) {
  std::ifstream in(path);
  std::vector<train::StepRecord> records;
  for (std::string line; std::getline(in, line);) {
    std::optional<train::StepRecord> r = train::StepRecord::parse(line);
    if (r && r->loss) records.push_back(std::move(*r));
  }
  if (records.empty()) return false;
  run.losses.clear();
  std::vector<double> times;
  double communication = 0, time = 0;
  for (size_t i = 0; i < records.size(); ++i) {
    const train::StepRecord& r = records[i];
    run.losses.push_back(*r.loss);
    run.peak_bytes = std::max(run.peak_bytes, r.largest_peak_bytes());
    run.step_peak_bytes = std::max(run.step_peak_bytes, r.largest_step_peak_bytes());
    // The first step allocates and warms up: it stands in only when it is the only one.
    if (i == 0 && records.size() > 1) continue;
    times.push_back(r.step_seconds);
    time += r.step_seconds;
    communication += r.communication_seconds;
  }
  run.residues = records.front().residues;
  run.step_seconds = median(times);
  run.communication_share = time > 0 ? communication / time : 0;
  return true;
}

bool compare_ablation_losses(std::vector<AblationRun>& runs, double tolerance) {
  bool agree = true;
  std::map<int64_t, const AblationRun*> reference;
  for (const auto& r : runs)
    if (r.status == "ok" && !reference.count(r.crop)) reference[r.crop] = &r;
  for (auto& r : runs) {
    if (r.status != "ok") continue;
    const AblationRun& ref = *reference.at(r.crop);
    r.loss_difference = 0;
    if (r.losses.size() != ref.losses.size()) {
      r.loss_difference = INFINITY;
    } else {
      for (size_t i = 0; i < r.losses.size(); ++i)
        r.loss_difference = std::max(r.loss_difference, std::abs(r.losses[i] - ref.losses[i]) / std::abs(ref.losses[i]));
    }
    if (!(r.loss_difference <= tolerance)) agree = false;
  }
  return agree;
}

namespace {

// A memory strategy's text, its policy and the overrides that select it.
struct Strategy {
  std::string name;
  evoformer::MemoryPolicy policy;
  std::vector<std::string> overrides;
};

// One sample for every run: the named chain, or the dataset's longest, so the crops cut
// the most residues; for a multimer config the same among its complexes.
data::ChainEntry ablation_chain(const data::ChainDataset& dataset, const std::string& wanted, bool complexes) {
  data::ChainEntry chosen;
  for (const auto& e : complexes ? data::complex_entries(dataset.entries()) : dataset.entries())
    if (wanted.empty() ? e.length > chosen.length : e.id == wanted) chosen = e;
  if (chosen.length == 0)
    throw std::invalid_argument(dataset.path() + ": no " + (complexes ? "complex" : "chain") + " '" + wanted + "'");
  return chosen;
}

// `fold train` of one crop under one strategy, on `chain` alone, under `fold launch` in
// its own folder; the run's figures from its log.jsonl, or why it failed.
AblationRun run_one(const AblationOptions& o, int64_t crop, const Strategy& s, const std::string& chain, int cores,
                    std::ostream& log) {
  AblationRun run;
  run.crop = crop;
  run.strategy = s.name;
  const int ranks = static_cast<int>(s.policy.dap);
  run.ranks = ranks;
  const fs::path dir = fs::path(o.out) / "runs" / run_name(crop, s.name);
  data::remove_tree(dir.string());
  fs::create_directories(dir);
  launcher::LaunchOptions launch;
  launch.nproc = ranks;
  launch.command = {"fold", "--threads", std::to_string(std::max(1, cores / ranks)), "train", "--config", o.config,
                    "--data", o.data, "--chains", chain, "--steps", std::to_string(o.steps), "--quiet",
                    "--out", (dir / "train").string(), "--device", o.device, "--precision", o.precision};
  std::vector<std::string> sets{"data.train.crop_size=" + std::to_string(crop), "train.log_every=1",
                                "train.checkpoint_every=0", "train.validate_every=0", "train.samples_per_epoch=1",
                                "train.ordered_samples=true"};
  for (const auto& v : s.overrides) sets.push_back(v);
  for (const auto& v : o.overrides) sets.push_back(v);
  for (const auto& v : sets) {
    launch.command.push_back("--set");
    launch.command.push_back(v);
  }
  log << "[ablate] crop " << crop << ", " << s.name << " ... " << std::flush;
  const int rc = launch_logged(launch, dir / "output.log");
  const std::string output = read_all(dir / "output.log");
  const bool logged = read_ablation_log((dir / "train" / "log.jsonl").string(), run);
  if (rc == 0 && logged && static_cast<int>(run.losses.size()) == o.steps) {
    run.status = "ok";
  } else {
    // A killed rank (the kernel's OOM killer) or an allocator's out-of-memory error.
    run.status = rc == 137 || mentions_out_of_memory(output) ? "OOM" : "failed";
    run.detail = rc != 0 ? "exit " + std::to_string(rc) + ": " + failure_line(output)
                         : "only " + std::to_string(run.losses.size()) + " of " + std::to_string(o.steps) +
                               " steps have a loss: " + failure_line(output);
  }
  log << run.status;
  if (run.status == "ok")
    log << ": peak " << fixed(run.peak_bytes / 1048576.0, 1) << " MiB/rank, " << fixed(run.step_seconds, 2)
        << " s/step, loss " << run.losses.front();
  else
    log << " (" << run.detail << "; " << (dir / "output.log").string() << ")";
  log << "\n";
  return run;
}

}  // namespace

Ablation run_ablation(const AblationOptions& o, std::ostream& log) {
  if (o.data.empty()) throw std::invalid_argument("ablate: a training dataset is needed (--data)");
  if (o.out.empty()) throw std::invalid_argument("ablate: an output directory is needed (--out)");
  if (o.steps < 1) throw std::invalid_argument("ablate: --steps must be >= 1");
  // Bad strategies or crops fail here, before any run.
  std::vector<Strategy> strategies;
  for (const auto& text : o.strategies) {
    const evoformer::MemoryPolicy policy = evoformer::MemoryPolicy::parse(text);
    strategies.push_back({text, policy, training_overrides(policy)});
  }
  for (const int64_t crop : o.crops)
    if (crop < 1) throw std::invalid_argument("ablate: crop sizes must be positive");

  const bool complexes = Config::load(o.config, o.overrides).get_bool("globals.is_multimer");
  const data::ChainEntry chain = ablation_chain(data::ChainDataset(o.data), o.chain, complexes);
  log << "[ablate] sample: " << (complexes ? "complex " : "chain ") << chain.id << " (" << chain.length << " residues) of " << o.data << "\n";

  const int cores = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  fs::create_directories(fs::path(o.out) / "runs");
  std::vector<AblationRun> runs;
  for (const int64_t crop : o.crops)
    for (const Strategy& s : strategies) runs.push_back(run_one(o, crop, s, chain.id, cores, log));
  const bool agree = compare_ablation_losses(runs, o.tolerance);
  std::ostringstream header;
  char date[32];
  const std::time_t now = std::time(nullptr);
  std::strftime(date, sizeof(date), "%Y-%m-%d %H:%M", std::localtime(&now));
  header << "- date: " << date << "\n- device: " << describe_device(o.device, cores) << "\n- build: " << describe_build()
         << "\n- config: " << o.config << ", precision " << o.precision << ", " << o.steps
         << " step(s) per run, one sample per step: " << (complexes ? "complex " : "chain ") << chain.id << " (" << chain.length << " residues) of "
         << o.data << "\n";
  write_ablation_csv(runs, (fs::path(o.out) / "ablation.csv").string());
  write_ablation_markdown(runs, o, header.str(), agree, (fs::path(o.out) / "ablation.md").string());
  std::string why;
  if (!write_ablation_plot(runs, (fs::path(o.out) / "ablation.png").string(), why))
    log << "[ablate] ablation.png not written: " << why << "\n";
  return {runs, agree};
}

void write_ablation_csv(const std::vector<AblationRun>& runs, const std::string& path) {
  std::ofstream out(path);
  out << "crop,strategy,status,ranks,residues,peak_mib_per_rank,step_peak_mib_per_rank,step_seconds,tokens_per_second,"
         "communication_share,loss_first_step,loss_relative_difference,detail\n";
  for (const auto& r : runs) {
    const bool ok = r.status == "ok";
    std::string detail = r.detail;
    std::replace(detail.begin(), detail.end(), '"', '\'');
    out << r.crop << "," << r.strategy << "," << r.status << "," << r.ranks << "," << r.residues << ","
        << (ok ? fixed(r.peak_bytes / 1048576.0, 2) : "") << "," << (ok ? fixed(r.step_peak_bytes / 1048576.0, 2) : "")
        << "," << (ok ? fixed(r.step_seconds, 4) : "") << "," << (ok ? fixed(r.tokens_per_second(), 2) : "") << ","
        << (ok ? fixed(r.communication_share, 4) : "") << ","
        << (ok ? fixed(r.losses.front(), 7) : "") << "," << (ok ? std::to_string(r.loss_difference) : "") << ",\""
        << detail << "\"\n";
  }
  if (!out) throw std::runtime_error("cannot write " + path);
}

void write_ablation_markdown(const std::vector<AblationRun>& runs, const AblationOptions& o, const std::string& header,
                             bool agree, const std::string& path) {
  std::ofstream out(path);
  out << "# fold ablate\n\n" << header << "\n";
  auto table = [&](const std::string& title, auto cell) {
    out << "## " << title << "\n\n| strategy |";
    for (const int64_t crop : o.crops) out << " crop " << crop << " |";
    out << "\n|---|";
    for (size_t i = 0; i < o.crops.size(); ++i) out << "---:|";
    out << "\n";
    for (const auto& strategy : o.strategies) {
      out << "| " << strategy << " |";
      for (const int64_t crop : o.crops)
        for (const auto& r : runs)
          if (r.crop == crop && r.strategy == strategy) out << " " << (r.status == "ok" ? cell(r) : r.status) << " |";
      out << "\n";
    }
    out << "\n";
  };
  table("Peak memory per rank (MiB)", [](const AblationRun& r) { return fixed(r.peak_bytes / 1048576.0, 1); });
  table("Step peak beyond the resident weights and optimizer state, per rank (MiB)",
        [](const AblationRun& r) { return fixed(r.step_peak_bytes / 1048576.0, 1); });
  table("Step time (s, median of the steps after the first)", [](const AblationRun& r) { return fixed(r.step_seconds, 3); });
  table("Tokens (residues) per second", [](const AblationRun& r) { return fixed(r.tokens_per_second(), 1); });
  table("Communication share of the step time (rank 0, waiting on collectives)",
        [](const AblationRun& r) { return fixed(100 * r.communication_share, 1) + "%"; });
  table("Loss of the first step (relative difference to the first strategy, worst over the steps)",
        [](const AblationRun& r) {
          std::ostringstream s;
          s << fixed(r.losses.front(), 5) << " (" << std::scientific << std::setprecision(1) << r.loss_difference << ")";
          return s.str();
        });
  out << "Losses " << (agree ? "agree" : "DISAGREE") << " across strategies (tolerance " << o.tolerance
      << " relative).\n";
  for (const auto& r : runs)
    if (r.status != "ok") out << "\n- crop " << r.crop << ", " << r.strategy << ": " << r.status << ": " << r.detail;
  out << "\n";
  if (!out) throw std::runtime_error("cannot write " + path);
}

bool write_ablation_plot(const std::vector<AblationRun>& runs, const std::string& path, std::string& why) {
  std::vector<std::string> strategies;
  for (const auto& r : runs)
    if (std::find(strategies.begin(), strategies.end(), r.strategy) == strategies.end()) strategies.push_back(r.strategy);
  std::string quoted;
  for (char c : path) {
    if (c == '"' || c == '\\') quoted.push_back('\\');
    quoted.push_back(c);
  }
  std::ostringstream script;
  script << "set terminal pngcairo size 1200,480 font \",10\" noenhanced\nset output \"" << quoted << "\"\n"
         << "set multiplot layout 1,2 title \"fold ablate: one training step per strategy (OOM runs left out)\"\n"
         << "set grid\nset key top left\nset xlabel \"crop (residues)\"\nset logscale y\n";
  auto panel = [&](const std::string& ylabel, auto value) {
    script << "set ylabel \"" << ylabel << "\"\nplot ";
    for (size_t i = 0; i < strategies.size(); ++i)
      script << (i ? ", " : "") << "'-' using 1:2 with linespoints lw 2 title \"" << strategies[i] << "\"";
    script << "\n";
    for (const auto& s : strategies) {
      for (const auto& r : runs)
        if (r.strategy == s && r.status == "ok") script << r.crop << " " << value(r) << "\n";
      script << "e\n";
    }
  };
  panel("peak memory per rank (MiB)", [](const AblationRun& r) { return r.peak_bytes / 1048576.0; });
  panel("step time (s)", [](const AblationRun& r) { return r.step_seconds; });
  script << "unset multiplot\n";
  FILE* gnuplot = ::popen("gnuplot 2>&1", "w");
  if (!gnuplot) {
    why = "cannot start gnuplot";
    return false;
  }
  const std::string text = script.str();
  std::fwrite(text.data(), 1, text.size(), gnuplot);
  const int status = ::pclose(gnuplot);
  if (status != 0) {
    why = WIFEXITED(status) && WEXITSTATUS(status) == 127 ? "gnuplot is not installed (tools/setup.sh installs gnuplot-nox)"
                                                         : "gnuplot failed";
    return false;
  }
  return true;
}

}  // namespace fold
