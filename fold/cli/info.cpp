// `fold info`: versions of the libraries this build runs on, the devices it sees and
// the threads it uses, so a user can tell which code path and hardware are in play.
#include <ATen/ATen.h>
#include <ATen/Context.h>
#include <ATen/Parallel.h>
#include <ATen/detail/CUDAHooksInterface.h>
#include <CLI/CLI.hpp>
#include <dlfcn.h>
#include <gemmi/version.hpp>
#include <hdf5.h>
#include <nlohmann/json.hpp>
#include <torch/version.h>

#include <iostream>
#include <string>

#include "fold/cli/commands.h"
#include "fold/config.h"
#include "fold/model/alphafold.h"
#include "kernels/attention.h"
#include "kernels/devices.h"

namespace fold::cli {

namespace {

std::string dotted(long v, long major_div, long minor_div, long minor_mod) {
  if (v <= 0) return "none";
  return std::to_string(v / major_div) + "." + std::to_string((v / minor_div) % minor_mod);
}

// NCCL is loaded by LibTorch's CUDA library when present; ask the loaded copy.
std::string nccl_version() {
  using GetVersion = int (*)(int*);
  void* sym = dlsym(RTLD_DEFAULT, "ncclGetVersion");
  if (!sym) {
    if (void* h = dlopen("libnccl.so.2", RTLD_LAZY | RTLD_LOCAL)) sym = dlsym(h, "ncclGetVersion");
  }
  int v = 0;
  if (!sym || reinterpret_cast<GetVersion>(sym)(&v) != 0 || v <= 0) return "not found";
  // NCCL >= 2.9 encodes MAJOR*10000 + MINOR*100 + PATCH.
  return std::to_string(v / 10000) + "." + std::to_string((v / 100) % 100) + "." + std::to_string(v % 100);
}

nlohmann::json collect(const Config& config) {
  nlohmann::json j;
  j["fold"] = "0.1.0";
  j["libtorch"] = std::to_string(TORCH_VERSION_MAJOR) + "." + std::to_string(TORCH_VERSION_MINOR) +
                  "." + std::to_string(TORCH_VERSION_PATCH);
  const auto& hooks = at::detail::getCUDAHooks();
  const bool cuda = at::hasCUDA();
  j["cuda_available"] = cuda;
  j["cuda_runtime"] = cuda ? dotted(hooks.versionCUDART(), 1000, 10, 100) : "none";
  j["cudnn"] = cuda && hooks.compiledWithCuDNN() ? dotted(hooks.versionCuDNN(), 10000, 100, 100) : "none";
  j["nccl"] = nccl_version();
  unsigned maj = 0, min = 0, rel = 0;
  H5get_libversion(&maj, &min, &rel);
  j["hdf5"] = std::to_string(maj) + "." + std::to_string(min) + "." + std::to_string(rel);
  j["gemmi"] = GEMMI_VERSION;
  const kernels::BuildInfo b = kernels::build_info();
  j["cuda_kernels"] = b.cuda_kernels
                          ? "compiled (CUDA " + dotted(b.cuda_toolkit_version, 1000, 10, 100) +
                                ", sm " + b.cuda_architectures + ")"
                          : "not compiled";
  nlohmann::json devices = nlohmann::json::array();
  devices.push_back({{"device", "cpu"}});
  for (const kernels::CudaDevice& d : kernels::cuda_devices())
    devices.push_back({{"device", "cuda:" + std::to_string(d.index)},
                       {"name", d.name},
                       {"memory_gib", static_cast<double>(d.total_memory) / (1 << 30)},
                       {"compute_capability", std::to_string(d.major) + "." + std::to_string(d.minor)}});
  j["devices"] = devices;
  // What the configured `kernels.attention` runs on each device (head dim 32).
  const kernels::AttentionOptions options = memory_policy_from_config(config).attention;
  nlohmann::json attention = {{"kernels.attention", kernels::to_string(options.path)}};
  for (const auto& d : devices) {
    const c10::Device dev(d["device"].get<std::string>());
    for (auto dtype : {at::kFloat, at::kBFloat16}) {
      const at::Tensor probe = at::empty({1, 1, 1, 32}, at::TensorOptions().device(dev).dtype(dtype));
      attention[d["device"].get<std::string>() + " " + c10::toString(dtype)] =
          kernels::attention_implementation(probe, options);
    }
  }
  j["attention"] = attention;
  j["intra_op_threads"] = at::get_num_threads();
  j["inter_op_threads"] = at::get_num_interop_threads();
  return j;
}

}  // namespace

void add_info_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("info", "Versions of LibTorch, CUDA, cuDNN, NCCL, HDF5, gemmi; devices; threads");
  auto* json = cmd->add_flag("--json", "Print JSON instead of text");
  auto config = std::make_shared<std::string>();
  auto overrides = std::make_shared<std::vector<std::string>>();
  cmd->add_option("--config", *config, "Preset or TOML file whose kernel settings to report");
  cmd->add_option("--set", *overrides, "Override one key: a.b.c=value (repeatable)");
  cmd->callback([json, config, overrides] {
    const nlohmann::json j = collect(Config::load(*config, *overrides));
    if (*json) {
      std::cout << j.dump(2) << "\n";
      return;
    }
    for (auto& [k, v] : j.items()) {
      if (k == "devices" || k == "attention") continue;
      std::cout << k << ": " << (v.is_string() ? v.get<std::string>() : v.dump()) << "\n";
    }
    std::cout << "devices:\n";
    for (const auto& d : j["devices"]) {
      std::cout << "  " << d["device"].get<std::string>();
      if (d.contains("name"))
        std::cout << "  " << d["name"].get<std::string>() << ", " << d["memory_gib"].get<double>()
                  << " GiB, sm " << d["compute_capability"].get<std::string>();
      std::cout << "\n";
    }
    std::cout << "attention:\n";
    for (auto& [k, v] : j["attention"].items()) std::cout << "  " << k << ": " << v.get<std::string>() << "\n";
  });
}

}  // namespace fold::cli
