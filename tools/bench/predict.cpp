// Benchmark (not a test): whole-model inference wall time and peak tensor memory for
// N_res in --n-res, AF2's full channel sizes (af2_model_1) with --blocks Evoformer
// blocks, one extra-MSA block, no templates, one recycling iteration, in three memory
// modes: default, chunked (--chunk-size), low memory (chunked + fold predict's --low-memory).
// Each: one warm-up forward, then the median of --repeats; the peak tensor memory of the
// forward beyond the weights, in MiB and in pair tensors (N_res^2 x c_z in the trunk's
// storage type). Prints a Markdown table naming the device and build. --modules also
// prints, per size and mode, the seconds each AF2 module of the in-place path took in
// the timed runs (their mean), summed over the blocks of both MSA stacks: what
// tools/bench/openfold_predict.py --modules prints for OpenFold.
#include <ATen/Parallel.h>
#include <ATen/record_function.h>
#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <iomanip>
#include <iostream>
#include <map>
#include <sstream>

#include "fold/config.h"
#include "fold/model/alphafold.h"
#include "kernels/device_memory.h"
#include "kernels/devices.h"

namespace {

std::vector<int64_t> parse_list(const std::string& s) {
  std::vector<int64_t> out;
  std::stringstream ss(s);
  for (std::string item; std::getline(ss, item, ',');) out.push_back(std::stoll(item));
  return out;
}

fold::data::FeatureDict synthetic_batch(int64_t n, int64_t s, int64_t e, const c10::Device& device) {
  torch::manual_seed(0);
  fold::data::FeatureDict b;
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
  for (auto& [k, v] : b) v = v.to(device);
  return b;
}

// --modules: seconds per user-scope range (the in-place path's AF2 modules), summed over
// the calls while `g_timing` is on. A global RecordFunction observer takes plain function
// pointers, hence the globals.
bool g_timing = false;
bool g_sync_cuda = false;
std::map<std::string, double> g_module_seconds;

struct RangeStart : at::ObserverContext {
  std::chrono::steady_clock::time_point t0 = std::chrono::steady_clock::now();
};

std::unique_ptr<at::ObserverContext> on_range_start(const at::RecordFunction&) {
  if (!g_timing) return nullptr;
  if (g_sync_cuda) torch::cuda::synchronize();
  return std::make_unique<RangeStart>();
}

void on_range_end(const at::RecordFunction& fn, at::ObserverContext* ctx) {
  if (!ctx) return;
  if (g_sync_cuda) torch::cuda::synchronize();
  g_module_seconds[fn.name()] +=
      std::chrono::duration<double>(std::chrono::steady_clock::now() - static_cast<RangeStart*>(ctx)->t0).count();
}

// module -> column (N_res and mode) -> seconds per run.
using ModuleSeconds = std::map<std::string, std::map<std::string, double>>;

void print_module_table(const std::vector<std::string>& columns, const ModuleSeconds& per_module) {
  std::cout << "\nseconds per run in each module (both MSA stacks' blocks summed)\n\n| module |";
  for (const std::string& c : columns) std::cout << " " << c << " |";
  std::cout << "\n|---|";
  for (size_t i = 0; i < columns.size(); ++i) std::cout << "---:|";
  std::cout << "\n";
  for (const auto& [name, by_column] : per_module) {
    std::cout << "| " << name << " |";
    for (const std::string& c : columns) {
      const auto it = by_column.find(c);
      std::cout << " " << (it == by_column.end() ? 0.0 : it->second) << " |";
    }
    std::cout << "\n";
  }
}

struct BenchOptions {
  std::string device = "cpu", n_list = "64,128,256", modes_list = "default,chunk,low_memory", precision = "fp32",
              module_times;
  int64_t blocks = 4, chunk = 4, n_seq = 32, n_extra = 64, repeats = 3, threads = 0;
};

// False on a flag it does not know.
bool parse_args(int argc, char** argv, BenchOptions& o) {
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string a = argv[i], v = argv[i + 1];
    if (a == "--device") o.device = v;
    else if (a == "--n-res") o.n_list = v;
    else if (a == "--blocks") o.blocks = std::stoll(v);
    else if (a == "--chunk-size") o.chunk = std::stoll(v);
    else if (a == "--n-seq") o.n_seq = std::stoll(v);
    else if (a == "--n-extra") o.n_extra = std::stoll(v);
    else if (a == "--modes") o.modes_list = v;
    else if (a == "--repeats") o.repeats = std::stoll(v);
    else if (a == "--precision") o.precision = v;
    else if (a == "--threads") o.threads = std::stoll(v);
    else if (a == "--modules") o.module_times = v;
    else return false;
  }
  return true;
}

// One mode at one size: a warm-up forward, then `repeats` timed ones; the peak tensor
// memory over all of them.
struct ModeTiming {
  std::vector<double> seconds;
  double peak = 0;
};

ModeTiming time_forwards(fold::AlphaFold& model, const fold::data::FeatureDict& batch, const fold::RunOptions& run,
                         const c10::Device& device, int64_t repeats, bool module_times) {
  ModeTiming t;
  g_module_seconds.clear();
  for (int64_t r = 0; r <= repeats; ++r) {
    g_timing = module_times && r > 0;
    fold::kernels::reset_peak_memory(device);
    const auto t0 = std::chrono::steady_clock::now();
    const auto out = model(batch, run);
    if (device.is_cuda()) torch::cuda::synchronize();
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    t.peak = std::max(t.peak, static_cast<double>(fold::kernels::memory_stats(device).peak_bytes));
    if (r > 0) t.seconds.push_back(s);  // the first run is the warm-up
  }
  g_timing = false;
  return t;
}

void print_row(int64_t n, const std::string& label, const ModeTiming& t, double pair_bytes) {
  std::vector<double> sorted = t.seconds;
  std::sort(sorted.begin(), sorted.end());
  std::ostringstream runs;
  runs << std::fixed << std::setprecision(2);
  for (size_t i = 0; i < t.seconds.size(); ++i) runs << (i ? ", " : "") << t.seconds[i];
  std::cout << "| " << n << " | " << label << " | " << std::fixed << std::setprecision(2)
            << (sorted.empty() ? 0.0 : sorted[sorted.size() / 2]) << " | " << runs.str() << " | "
            << std::setprecision(1) << t.peak / 1048576.0 << " | " << std::setprecision(2) << t.peak / pair_bytes
            << " |\n";
}

}  // namespace

int main(int argc, char** argv) {
  BenchOptions o;
  if (!parse_args(argc, argv, o)) {
    std::cerr << "usage: fold_bench_predict [--device cpu|cuda] [--n-res 64,128,256] [--blocks 4] "
                 "[--chunk-size 4] [--n-seq 32] [--n-extra 64] [--modes default,chunk,low_memory] "
                 "[--repeats 3] [--precision fp32|bf16] [--threads N] [--modules 0|1]\n";
    return 2;
  }
  if (o.threads > 0) at::set_num_threads(static_cast<int>(o.threads));
  const c10::Device device(o.device);
  const fold::Config config = fold::Config::load(
      "af2_model_1", {"model.evoformer_stack.no_blocks=" + std::to_string(o.blocks),
                      "model.extra_msa.extra_msa_stack.no_blocks=1", "model.template.enabled=false"});
  fold::AlphaFold model(fold::AlphaFoldOptions::from_config(config));
  model->eval();
  model->to(device);
  const bool bf16 = o.precision == "bf16";
  if (bf16) model->set_trunk_dtype(torch::kBFloat16);
  if (device.is_cpu()) fold::kernels::enable_cpu_memory_tracking();
  c10::InferenceMode inference;  // as fold predict
  g_sync_cuda = device.is_cuda();
  const at::CallbackHandle observer = at::addGlobalCallback(
      at::RecordFunctionCallback(on_range_start, on_range_end).scopes({at::RecordScope::USER_SCOPE}));
  std::vector<std::string> modes;
  {
    std::stringstream ss(o.modes_list);
    for (std::string m; std::getline(ss, m, ',');) modes.push_back(m);
  }

  std::cout << "device: " << device.str() << " (" << at::get_num_threads() << " threads), AF2 model_1 channels, "
            << o.blocks << " Evoformer blocks, 1 extra-MSA block, N_seq " << o.n_seq << ", N_extra " << o.n_extra
            << ", 1 iteration, " << o.precision << "; one warm-up, then the median of " << o.repeats << " runs\n\n";
  std::cout << "| N_res | mode | median s | runs s | peak MiB | peak / pair tensor |\n|---:|---|---:|---|---:|---:|\n";
  std::vector<std::string> columns;
  ModuleSeconds per_module;
  for (const int64_t n : parse_list(o.n_list)) {
    const auto batch = synthetic_batch(n, o.n_seq, o.n_extra, device);
    // One pair tensor: N_res^2 x c_z in the trunk's storage type.
    const double pair_bytes = static_cast<double>(n) * n * config.get_int("model.evoformer_stack.c_z") * (bf16 ? 2 : 4);
    for (const std::string& mode : modes) {
      if (mode != "default" && mode != "chunk" && mode != "low_memory") {
        std::cerr << "fold_bench_predict: unknown mode '" << mode << "' (default, chunk, low_memory)\n";
        return 2;
      }
      // The policy fold predict builds for the same flags (--low-memory also tiles the
      // triangle multiplication and blocks the transitions, not only the attention).
      fold::RunOptions run;
      run.memory.chunk_size = mode == "default" ? 0 : o.chunk;
      run.memory.attention.low_memory = mode == "low_memory";
      model->set_kernel_options(run.memory.attention);
      const ModeTiming t = time_forwards(model, batch, run, device, o.repeats, o.module_times == "1");
      const std::string label = mode == "default" ? "default"
                                : mode == "chunk" ? "--chunk-size " + std::to_string(o.chunk)
                                                  : "--low-memory (chunk " + std::to_string(o.chunk) + ")";
      print_row(n, label, t, pair_bytes);
      const std::string column = std::to_string(n) + " " + label;
      columns.push_back(column);
      for (const auto& [name, total] : g_module_seconds)
        per_module[name][column] = total / static_cast<double>(std::max<int64_t>(o.repeats, 1));
    }
  }
  at::removeCallback(observer);
  if (o.module_times == "1") print_module_table(columns, per_module);
  return 0;
}
