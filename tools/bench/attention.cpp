// Benchmark of kernels::attention for the four Evoformer variants at AF2 training
// shapes (N_seq = 128, c = 32, H = 8 for MSA, H = 4 for triangle attention): time and
// peak attention memory, forward and forward + backward, for the naive ATen path, the
// fused kernel and its low-memory mode, and on CUDA PyTorch's scaled_dot_product_attention
// with the biases as an additive mask. Prints a Markdown table naming device and build.
// Extra variants (by --variants) measure the CUDA kernel's known risks on the triangle
// shape: triangle_start_view_bias (the pair bias as the model passes it, a movedim view),
// triangle_start_frozen_bias (no bias gradient, so no atomics for it), and
// template_pointwise (N_res^2 queries of length 1 over 4 templates).
//   usage: fold_bench_attention [--device cpu|cuda] [--n-res 256,384] [--dtypes fp32,bf16] [--repeats N]
//                               [--variants a,b]
#include <ATen/Parallel.h>
#include <torch/torch.h>
#include <torch/version.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <functional>
#include <iostream>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "kernels/attention.h"
#include "kernels/device_memory.h"
#include "kernels/devices.h"

namespace {

using fold::kernels::AttentionOptions;
using fold::kernels::AttentionPath;

// How the pair bias reaches the kernel: a contiguous [1, 1, H, N, N] leaf, the model's
// layout (a movedim view of [1, 1, N, N, H], key stride H), or without a gradient.
enum class PairBias { kNone, kContiguous, kMovedimView, kFrozen };

struct Variant {
  std::string name;
  int64_t heads;
  PairBias pair;
  bool columns;          // attention along N_seq (MSA column) instead of N_res
  bool pointwise = false;  // template pointwise attention: N_res^2 queries of length 1 over 4 templates
};

// The first four are the Evoformer's; the rest measure the kernel's known risks on the
// triangle shape (bias layout, the cost of the bias gradient) and Q = 1.
const std::vector<Variant> kVariants = {
    {"msa_row", 8, PairBias::kContiguous, false},
    {"msa_column", 8, PairBias::kNone, true},
    {"triangle_start", 4, PairBias::kContiguous, false},
    {"triangle_end", 4, PairBias::kContiguous, false},
    {"triangle_start_view_bias", 4, PairBias::kMovedimView, false},
    {"triangle_start_frozen_bias", 4, PairBias::kFrozen, false},
    {"template_pointwise", 4, PairBias::kNone, false, true},
};

struct Problem {
  torch::Tensor q, k, v, mask, pair, gate;
  torch::Tensor pair_leaf;  // the tensor behind a view pair bias, which receives its gradient
  std::vector<torch::Tensor> biases() const {
    std::vector<torch::Tensor> b{mask};
    if (pair.defined()) b.push_back(pair);
    return b;
  }
};

// Shapes as the Evoformer calls the kernel; triangle end is the start shape on the
// transposed pair, so the kernel sees the same problem. Template pointwise attention:
// c 16 per head over N_templ = 4, as in AF2's template embedder.
Problem make_problem(const Variant& var, int64_t n_res, int64_t n_seq, torch::Device dev, at::ScalarType dtype,
                     bool grad) {
  const int64_t c = var.pointwise ? 16 : 32, h = var.heads;
  int64_t batch = var.name.rfind("msa", 0) == 0 ? (var.columns ? n_res : n_seq) : n_res;
  int64_t q_len = var.columns ? n_seq : n_res, k_len = q_len;
  if (var.pointwise) {
    batch = n_res * n_res;
    q_len = 1;
    k_len = 4;
  }
  auto o = torch::TensorOptions().device(dev).dtype(dtype);
  Problem p;
  p.q = torch::randn({1, batch, h, q_len, c}, o).requires_grad_(grad);
  p.k = torch::randn({1, batch, h, k_len, c}, o).requires_grad_(grad);
  p.v = torch::randn({1, batch, h, k_len, c}, o).requires_grad_(grad);
  p.gate = torch::randn({1, batch, h, q_len, c}, o).requires_grad_(grad);
  p.mask = torch::zeros({1, batch, 1, 1, k_len}, o);
  switch (var.pair) {
    case PairBias::kNone: break;
    case PairBias::kContiguous: p.pair = torch::randn({1, 1, h, q_len, k_len}, o).requires_grad_(grad); break;
    case PairBias::kFrozen: p.pair = torch::randn({1, 1, h, q_len, k_len}, o); break;
    case PairBias::kMovedimView:
      p.pair_leaf = torch::randn({1, 1, q_len, k_len, h}, o).requires_grad_(grad);
      p.pair = p.pair_leaf.movedim(-1, -3);
      break;
  }
  return p;
}

struct Measure {
  double fwd_ms = 0, fwdbwd_ms = 0;
  int64_t fwd_peak = 0, fwdbwd_peak = 0;
  // Peak minus what every implementation must hand back: the output, and in
  // fwd+bwd also the gradients of q, k, v, gate and pair bias.
  int64_t fwd_work = 0, fwdbwd_work = 0;
  bool ok = true;
  std::string error;
};

void sync(torch::Device dev) {
  if (dev.is_cuda()) torch::cuda::synchronize();
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

using Impl = std::function<torch::Tensor(const Problem&)>;

Measure run(const Impl& impl, const Variant& var, int64_t n_res, int64_t n_seq, torch::Device dev, at::ScalarType dtype,
            int repeats) {
  Measure m;
  try {
    for (bool backward : {false, true}) {
      std::vector<double> times;
      int64_t peak = 0, returned = 0;
      for (int r = 0; r <= repeats; ++r) {  // r == 0 warms up
        Problem p = make_problem(var, n_res, n_seq, dev, dtype, backward);
        torch::Tensor cot = backward ? torch::randn_like(p.q) : torch::Tensor();
        sync(dev);
        fold::kernels::reset_peak_memory(dev);
        const int64_t base = fold::kernels::memory_stats(dev).current_bytes;
        const auto t0 = std::chrono::steady_clock::now();
        {
          torch::Tensor out;
          if (backward) {
            out = impl(p);
            out.backward(cot);  // no harness allocations: (out * cot).sum() would add two
          } else {
            torch::NoGradGuard ng;
            out = impl(p);
          }
          sync(dev);
          returned = out.nbytes();
          if (backward)
            for (const auto& t : {p.q, p.k, p.v, p.gate, p.pair, p.pair_leaf})
              if (t.defined() && t.grad().defined()) returned += t.grad().nbytes();
        }
        const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
        if (r > 0) times.push_back(ms);
        // Attention memory: what the call allocated beyond its inputs (and the output).
        peak = std::max(peak, fold::kernels::memory_stats(dev).peak_bytes - base);
      }
      (backward ? m.fwdbwd_ms : m.fwd_ms) = median(times);
      (backward ? m.fwdbwd_peak : m.fwd_peak) = peak;
      (backward ? m.fwdbwd_work : m.fwd_work) = peak - returned;
    }
  } catch (const std::exception& e) {
    m.ok = false;
    m.error = std::string(e.what()).substr(0, 60);
  }
  return m;
}

std::vector<std::string> split(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream ss(s);
  for (std::string item; std::getline(ss, item, ',');) out.push_back(item);
  return out;
}

std::optional<at::ScalarType> dtype_named(const std::string& s) {
  if (s == "fp32") return at::kFloat;
  if (s == "bf16") return at::kBFloat16;
  if (s == "fp16") return at::kHalf;
  return std::nullopt;
}

std::string mib(int64_t bytes) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f", static_cast<double>(bytes) / (1 << 20));
  return buf;
}

// The implementations compared: the naive reference, the fused kernel in both memory
// modes, and on CUDA PyTorch's SDPA with the biases as one float mask.
std::vector<std::pair<std::string, Impl>> implementations(bool cuda) {
  std::vector<std::pair<std::string, Impl>> impls = {
      {"naive", [](const Problem& p) { return fold::kernels::attention_reference(p.q, p.k, p.v, p.biases(), p.gate); }},
      {"fused", [](const Problem& p) {
         AttentionOptions o;
         o.path = AttentionPath::kFused;
         return fold::kernels::attention(p.q, p.k, p.v, p.biases(), p.gate, o);
       }},
      {"fused low_memory", [](const Problem& p) {
         AttentionOptions o;
         o.path = AttentionPath::kFused;
         o.low_memory = true;
         return fold::kernels::attention(p.q, p.k, p.v, p.biases(), p.gate, o);
       }},
  };
  if (cuda)
    impls.push_back({"torch sdpa", [](const Problem& p) {
                       torch::Tensor bias = p.mask;
                       if (p.pair.defined()) bias = bias + p.pair;
                       return at::scaled_dot_product_attention(p.q, p.k, p.v, bias) * torch::sigmoid(p.gate);
                     }});
  return impls;
}

std::string device_description(const torch::Device& dev) {
  std::string name = "cpu, " + std::to_string(at::get_num_threads()) + " threads";
  if (dev.is_cuda()) {
    const auto devs = fold::kernels::cuda_devices();
    name = devs.empty() ? "cuda" : devs.front().name;
  }
  return name;
}

}  // namespace

int main(int argc, char** argv) {
  std::string device = "cpu", n_res_list = "256,384", dtypes = "fp32",
              variants = "msa_row,msa_column,triangle_start,triangle_end";
  int repeats = 3;
  const int64_t n_seq = 128;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string a = argv[i], v = argv[i + 1];
    if (a == "--device") device = v;
    else if (a == "--n-res") n_res_list = v;
    else if (a == "--repeats") repeats = std::stoi(v);
    else if (a == "--variants") variants = v;
    else if (a == "--dtypes") dtypes = v;
    else {
      std::cerr << "usage: fold_bench_attention [--device cpu|cuda] [--n-res 256,384] [--dtypes fp32,bf16,fp16]"
                   " [--repeats N] [--variants ...]\n";
      return 2;
    }
  }
  const torch::Device dev(device);
  if (dev.is_cpu()) fold::kernels::enable_cpu_memory_tracking();

  const auto impls = implementations(dev.is_cuda());
  const auto build = fold::kernels::build_info();
  std::cout << "# kernels::attention benchmark\n\ndevice: " << device_description(dev) << "; LibTorch "
            << TORCH_VERSION_MAJOR << "."
            << TORCH_VERSION_MINOR << "." << TORCH_VERSION_PATCH << "; CUDA kernels "
            << (build.cuda_kernels ? "compiled" : "not compiled") << "; N_seq " << n_seq
            << ", c 32, median of " << repeats << " runs\n\n"
            << "Peak: tensor memory allocated by the call beyond its inputs. Working: peak minus the output\n"
            << "(and, with backward, the input gradients), which every implementation must return.\n\n"
            << "| variant | N_res | dtype | implementation | fwd ms | fwd+bwd ms | fwd peak MiB | fwd working MiB |"
            << " fwd+bwd peak MiB | fwd+bwd working MiB |\n|---|---|---|---|---|---|---|---|---|---|\n";
  for (const std::string& vname : split(variants)) {
    auto it = std::find_if(kVariants.begin(), kVariants.end(), [&](const Variant& v) { return v.name == vname; });
    if (it == kVariants.end()) {
      std::cerr << "unknown variant " << vname << "\n";
      return 2;
    }
    for (const std::string& n : split(n_res_list)) {
      for (const std::string& dname : split(dtypes)) {
        const auto dtype = dtype_named(dname);
        if (!dtype) {
          std::cerr << "unknown dtype " << dname << " (fp32, bf16 or fp16)\n";
          return 2;
        }
        for (const auto& [iname, impl] : impls) {
          const Measure m = run(impl, *it, std::stoll(n), n_seq, dev, *dtype, repeats);
          std::cout << "| " << vname << " | " << n << " | " << dname << " | " << iname << " | ";
          if (!m.ok) {
            std::cout << "failed: " << m.error << " | | | | | |\n";
            continue;
          }
          std::printf("%.1f | %.1f | %s | %s | %s | %s |\n", m.fwd_ms, m.fwdbwd_ms, mib(m.fwd_peak).c_str(),
                      mib(m.fwd_work).c_str(), mib(m.fwdbwd_peak).c_str(), mib(m.fwdbwd_work).c_str());
          std::fflush(stdout);
        }
      }
    }
  }
  return 0;
}
