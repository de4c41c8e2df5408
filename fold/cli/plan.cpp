// `fold plan`: the memory an inference run will need (fold/plan.h), per stage, the chunk
// size that fits a memory budget and the longest protein that fits it, without running
// the model.
#include <CLI/CLI.hpp>
#include <torch/torch.h>

#include <iomanip>
#include <iostream>
#include <sstream>

#include "fold/cli/commands.h"
#include "fold/cli/device_option.h"
#include "fold/config.h"
#include "fold/model/alphafold.h"
#include "fold/predict/plan.h"
#include "fold/predict/predict.h"
#include "kernels/device_memory.h"

namespace fold::cli {

namespace {

std::string gib(int64_t bytes) {
  std::ostringstream out;
  out << std::fixed << std::setprecision(bytes < (int64_t{1} << 30) ? 3 : 2) << bytes / double(int64_t{1} << 30)
      << " GiB";
  return out.str();
}

}  // namespace

void add_plan_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("plan", "Predict the peak memory of an inference run, the chunk size that fits, "
                                          "and the longest protein that fits");
  struct Args {
    std::string config = "af2_model_1", precision = "fp32", memory, device = "cpu", chunk_size = "auto";
    std::vector<std::string> overrides;
    int64_t n_res = 0, n_seq = -1, n_extra = -1, n_templ = 0;
    bool low_memory = false;
  };
  auto a = std::make_shared<Args>();
  cmd->add_option("--config", a->config, "Preset or TOML file (default af2_model_1)");
  cmd->add_option("--set", a->overrides, "Override one key: a.b.c=value (repeatable)");
  cmd->add_option("--n-res", a->n_res, "Residues")->required()->check(CLI::PositiveNumber);
  cmd->add_option("--n-seq", a->n_seq, "MSA cluster rows (default: data.predict.max_msa_clusters)");
  cmd->add_option("--n-extra", a->n_extra, "Extra-MSA rows (default: data.predict.max_extra_msa)");
  cmd->add_option("--templates", a->n_templ, "Templates (default 0)")->check(CLI::NonNegativeNumber);
  cmd->add_option("--precision", a->precision, "fp32 | bf16 (the trunk's storage)")
      ->check(CLI::IsMember({"fp32", "bf16"}));
  cmd->add_option("--chunk-size", a->chunk_size, "auto (the largest that fits) | none | N");
  cmd->add_flag("--low-memory", a->low_memory, "Attention streamed over keys, triangle multiplication in tiles (as fold predict --low-memory)");
  cmd->add_option("--memory", a->memory, "Memory budget, e.g. 80G (default: the device's free memory)");
  add_device_option(cmd, a->device, "cpu | cuda | cuda:N: whose kernels and free memory to plan for (need not be here with --memory)",
                    false);
  cmd->callback([a] {
    const Config config = Config::load(a->config, a->overrides);
    const AlphaFoldOptions model = AlphaFoldOptions::from_config(config);
    evoformer::MemoryPolicy policy = memory_policy_from_config(config);
    if (a->low_memory) policy.attention.low_memory = true;
    if (a->precision == "bf16") policy.storage = torch::kBFloat16;
    const c10::Device device(a->device);
    if (a->memory.empty())
      if (const std::string why = device_error(a->device, true); !why.empty())
        throw CLI::ValidationError("--device", why + "; give --memory to plan for a device elsewhere");
    PlanShape shape;
    shape.n_res = a->n_res;
    shape.n_seq = a->n_seq >= 0 ? a->n_seq : config.get_int("data.predict.max_msa_clusters");
    shape.n_extra = a->n_extra >= 0 ? a->n_extra : config.get_int("data.predict.max_extra_msa");
    shape.n_templ = a->n_templ;
    if (shape.n_seq < 1) throw CLI::ValidationError("--n-seq", "must be positive");

    const int64_t weights = resident_weight_bytes(model, policy);
    const int64_t memory = a->memory.empty() ? kernels::available_bytes(device) : parse_memory_size(a->memory);
    const int64_t budget = memory - weights;

    bool none_fits = false;
    if (a->chunk_size == "auto") {
      policy.chunk_size = plan_chunk_size(model, shape, policy, device.type(), budget);
      none_fits = policy.chunk_size == 0;
      if (none_fits) policy.chunk_size = 1;
    } else {
      policy.chunk_size = parse_chunk_size(a->chunk_size);
    }
    const MemoryPlan plan = plan_inference(model, shape, policy, device.type());
    std::cout << "plan: " << a->config << ", N_res " << shape.n_res << ", N_seq " << shape.n_seq << ", N_extra "
              << shape.n_extra << ", templates " << shape.n_templ << ", " << a->precision << ", policy "
              << policy.to_string() << ", " << device.str() << " kernels\n";
    std::cout << "one pair tensor (N_res^2 x c_z): " << gib(plan.pair_bytes) << "; weights " << gib(weights)
              << "; budget " << gib(memory) << (a->memory.empty() ? " (free on the device)" : "") << "\n\n";
    std::cout << "| stage | resident | largest step | peak | peak / pair tensor |\n|---|---:|---|---:|---:|\n";
    for (const StagePlan& st : plan.stages)
      std::cout << "| " << st.stage << " | " << gib(st.resident_bytes) << " | " << st.largest << ", "
                << gib(st.transient_bytes) << " | " << gib(st.peak_bytes()) << " | " << std::fixed
                << std::setprecision(2) << st.peak_bytes() / double(plan.pair_bytes) << " |\n";
    std::cout << "\npeak beyond the weights: " << gib(plan.peak_bytes) << " ("
              << plan.peak_bytes / double(plan.pair_bytes) << " pair tensors); with the weights "
              << gib(plan.peak_bytes + weights) << ": " << (plan.peak_bytes <= budget ? "fits" : "does NOT fit") << "\n";
    std::cout << "chunk size: " << (policy.chunk_size > 0 ? std::to_string(policy.chunk_size) : "none")
              << (a->chunk_size != "auto" ? ""
                  : none_fits         ? " (no chunk size fits: planned with the smallest)"
                                      : " (the largest power of two that fits)")
              << "\n";
    const int64_t longest = largest_fitting_n_res(model, shape, policy, device.type(), budget);
    std::cout << "longest protein that fits " << gib(memory) << " (N_seq " << shape.n_seq << ", N_extra "
              << shape.n_extra << ", templates " << shape.n_templ << ", chunk size chosen per length): " << longest
              << " residues\n";
  });
}

}  // namespace fold::cli
