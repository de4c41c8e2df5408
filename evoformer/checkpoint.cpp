#include "evoformer/checkpoint.h"

#include <ATen/Context.h>
#include <ATen/core/Generator.h>
#include <torch/csrc/autograd/autograd.h>
#include <torch/csrc/autograd/function.h>
#include <torch/csrc/autograd/functions/utils.h>
#include <torch/csrc/autograd/grad_mode.h>

#include <algorithm>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <unordered_set>
#include <utility>

namespace fold::evoformer {

namespace {

using torch::autograd::variable_list;

// A generator's state, to run the recompute from the forward's random stream.
struct RngState {
  at::Generator generator;
  at::Tensor state;
};

std::vector<RngState> capture_rng(const std::vector<torch::Tensor>& inputs) {
  std::vector<at::Device> devices{at::kCPU};
  for (const auto& t : inputs) {
    if (t.defined() && t.is_cuda() &&
        std::find(devices.begin(), devices.end(), t.device()) == devices.end())
      devices.push_back(t.device());
  }
  std::vector<RngState> states;
  for (const auto& d : devices) {
    at::Generator gen = at::globalContext().defaultGenerator(d);
    std::lock_guard<std::mutex> lock(gen.mutex());
    states.push_back({gen, gen.get_state()});
  }
  return states;
}

void restore_rng(const std::vector<RngState>& states) {
  for (const auto& s : states) {
    at::Generator gen = s.generator;
    std::lock_guard<std::mutex> lock(gen.mutex());
    gen.set_state(s.state);
  }
}

// The backward node of one checkpointed segment: its next edges are the inputs' edges;
// apply() recomputes fn and runs the inner (reentrant) backward.
struct CheckpointBackward : torch::autograd::Node {
  CheckpointFn fn;
  std::vector<torch::Tensor> inputs;  // detached aliases (share the version counters)
  std::vector<uint32_t> versions;
  std::vector<bool> input_requires_grad;
  std::vector<RngState> rng;

  std::string name() const override { return "fold::evoformer::CheckpointBackward"; }

  variable_list apply(variable_list&& grads) override {
    for (size_t i = 0; i < inputs.size(); ++i) {
      TORCH_CHECK(!inputs[i].defined() || inputs[i]._version() == versions[i],
                  "checkpoint: input ", i, " was modified in place after the checkpointed forward");
    }
    std::vector<torch::Tensor> leaves;
    leaves.reserve(inputs.size());
    for (size_t i = 0; i < inputs.size(); ++i) {
      torch::Tensor leaf = inputs[i].defined() ? inputs[i].detach() : inputs[i];
      if (input_requires_grad[i]) leaf.requires_grad_(true);
      leaves.push_back(leaf);
    }
    std::vector<torch::Tensor> outputs;
    {
      // Recompute from the forward's random stream, then give the live stream back.
      const std::vector<RngState> live = capture_rng(inputs);
      restore_rng(rng);
      torch::AutoGradMode grad_on(true);
      outputs = fn(leaves);
      restore_rng(live);
    }
    TORCH_CHECK(outputs.size() == grads.size(), "checkpoint: the recompute returned ", outputs.size(),
                " outputs, the forward ", grads.size());
    // Outputs that got no gradient (unused downstream) or need none drop out.
    std::vector<torch::Tensor> roots, root_grads;
    for (size_t i = 0; i < outputs.size(); ++i) {
      if (grads[i].defined() && outputs[i].requires_grad()) {
        roots.push_back(outputs[i]);
        root_grads.push_back(grads[i]);
      }
    }
    if (!roots.empty()) torch::autograd::backward(roots, root_grads);
    variable_list input_grads(leaves.size());
    for (size_t i = 0; i < leaves.size(); ++i)
      if (input_requires_grad[i]) input_grads[i] = leaves[i].grad();
    return input_grads;
  }

  void release_variables() override {
    inputs.clear();
    rng.clear();
  }
};

}  // namespace

std::vector<torch::Tensor> checkpoint(const CheckpointFn& fn, const std::vector<torch::Tensor>& inputs) {
  if (!torch::GradMode::is_enabled()) return fn(inputs);
  auto node = std::shared_ptr<CheckpointBackward>(new CheckpointBackward(), torch::autograd::deleteNode);
  node->fn = fn;
  node->rng = capture_rng(inputs);
  std::vector<torch::Tensor> detached;
  for (const auto& t : inputs) {
    detached.push_back(t.defined() ? t.detach() : t);
    node->versions.push_back(t.defined() ? t._version() : 0);
    node->input_requires_grad.push_back(t.defined() && t.requires_grad());
  }
  node->inputs = detached;
  std::vector<torch::Tensor> outputs;
  {
    torch::NoGradGuard no_grad;
    outputs = fn(detached);
  }
  // The node is attached even when no input requires grad: the parameters fn captures
  // still need their gradients (unlike torch.utils.checkpoint, which then warns and
  // leaves them without).
  node->set_next_edges(torch::autograd::collect_next_edges(inputs));
  std::unordered_set<const c10::TensorImpl*> input_impls;
  for (const auto& t : inputs)
    if (t.defined()) input_impls.insert(t.unsafeGetTensorImpl());
  for (auto& out : outputs) {
    TORCH_CHECK(out.defined() && out.is_floating_point(), "checkpoint: every output must be a defined float tensor");
    // An output that aliases an input (returned unchanged, or a view made without
    // grad) must become its own tensor before it gets a grad_fn.
    if (out.is_view() || input_impls.count(out.unsafeGetTensorImpl()) != 0) {
      torch::NoGradGuard no_grad;
      out = out.clone();
    }
    torch::autograd::create_gradient_edge(out, node);
  }
  return outputs;
}

torch::Tensor checkpoint(const std::function<torch::Tensor(const torch::Tensor&)>& fn, const torch::Tensor& input) {
  return checkpoint([fn](const std::vector<torch::Tensor>& in) { return std::vector<torch::Tensor>{fn(in[0])}; },
                    std::vector<torch::Tensor>{input})[0];
}

CheckpointPolicy CheckpointPolicy::every(int64_t k) {
  if (k < 1) throw std::invalid_argument("checkpoint policy: every:K needs K >= 1, got " + std::to_string(k));
  CheckpointPolicy p;
  p.blocks_per_checkpoint = k;
  return p;
}

CheckpointPolicy CheckpointPolicy::parse(const std::string& text) {
  if (text == "none") return none();
  if (text == "block") return every(1);
  const std::string prefix = "every:";
  if (text.rfind(prefix, 0) == 0) {
    const std::string k = text.substr(prefix.size());
    // Digits only (no sign, spaces or trailing text), and small enough for int64.
    if (!k.empty() && k.size() <= 9 && k.find_first_not_of("0123456789") == std::string::npos) {
      const int64_t n = std::stoll(k);
      if (n >= 1) return every(n);
    }
  }
  throw std::invalid_argument("checkpoint policy '" + text +
                              "' is not one of none, block, every:K (K a positive integer)");
}

std::string CheckpointPolicy::to_string() const {
  if (blocks_per_checkpoint == 0) return "none";
  if (blocks_per_checkpoint == 1) return "block";
  return "every:" + std::to_string(blocks_per_checkpoint);
}

}  // namespace fold::evoformer
