// Benchmark (not a test): whole-model inference wall time and peak tensor memory for
// N_res in --n-res, AF2's full channel sizes (af2_model_1) with --blocks Evoformer
// blocks, one extra-MSA block, no templates, one recycling iteration, in three memory
// modes: default, chunked (--chunk-size), low memory (chunked + key-streamed attention).
// Prints a Markdown table naming the device and build.
#include <ATen/Parallel.h>
#include <torch/torch.h>

#include <chrono>
#include <iomanip>
#include <iostream>
#include <sstream>

#include "fold/alphafold.h"
#include "fold/config.h"
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

}  // namespace

int main(int argc, char** argv) {
  std::string device_name = "cpu", n_list = "64,128,256";
  int64_t blocks = 4, chunk = 4, n_seq = 32, n_extra = 64;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string a = argv[i], v = argv[i + 1];
    if (a == "--device") device_name = v;
    else if (a == "--n-res") n_list = v;
    else if (a == "--blocks") blocks = std::stoll(v);
    else if (a == "--chunk-size") chunk = std::stoll(v);
    else if (a == "--n-seq") n_seq = std::stoll(v);
    else if (a == "--n-extra") n_extra = std::stoll(v);
    else {
      std::cerr << "usage: fold_bench_predict [--device cpu|cuda] [--n-res 64,128,256] [--blocks 4] "
                   "[--chunk-size 4] [--n-seq 32] [--n-extra 64]\n";
      return 2;
    }
  }
  const c10::Device device(device_name);
  const fold::Config config = fold::Config::load(
      "af2_model_1", {"model.evoformer_stack.no_blocks=" + std::to_string(blocks),
                      "model.extra_msa.extra_msa_stack.no_blocks=1", "model.template.enabled=false"});
  fold::AlphaFold model(fold::AlphaFoldOptions::from_config(config));
  model->eval();
  model->to(device);
  if (device.is_cpu()) fold::kernels::enable_cpu_memory_tracking();
  torch::NoGradGuard no_grad;

  std::cout << "device: " << device.str() << " (" << at::get_num_threads() << " threads), AF2 model_1 channels, "
            << blocks << " Evoformer blocks, 1 extra-MSA block, N_seq " << n_seq << ", N_extra " << n_extra
            << ", 1 iteration, fp32\n\n";
  std::cout << "| N_res | mode | wall s | peak MiB |\n|---:|---|---:|---:|\n";
  for (const int64_t n : parse_list(n_list)) {
    const auto batch = synthetic_batch(n, n_seq, n_extra, device);
    for (const std::string mode : {"default", "chunk", "low_memory"}) {
      fold::kernels::AttentionOptions kernel;
      kernel.low_memory = mode == "low_memory";
      model->set_kernel_options(kernel);
      fold::RunOptions run;
      run.chunk_size = mode == "default" ? 0 : chunk;
      fold::kernels::reset_peak_memory(device);
      const auto t0 = std::chrono::steady_clock::now();
      const auto out = model(batch, run);
      if (device.is_cuda()) torch::cuda::synchronize();
      const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      const double peak = fold::kernels::memory_stats(device).peak_bytes / 1048576.0;
      std::cout << "| " << n << " | " << (mode == "default" ? "default" : mode == "chunk" ? "--chunk-size " + std::to_string(chunk) : "--low-memory (chunk " + std::to_string(chunk) + ")")
                << " | " << std::fixed << std::setprecision(2) << s << " | " << std::setprecision(1) << peak << " |\n";
    }
  }
  return 0;
}
