#include "evoformer/attention.h"

#include <cmath>

#include "evoformer/primitives.h"

namespace fold::evoformer {

namespace {

// [*, L, H*C] -> [*, H, L, C]
torch::Tensor split_heads(const torch::Tensor& x, int64_t heads) {
  std::vector<int64_t> shape(x.sizes().begin(), x.sizes().end() - 1);
  shape.push_back(heads);
  shape.push_back(-1);
  return x.view(shape).transpose(-2, -3);
}

// Softmax in fp32 for fp16/bf16 logits (ARCHITECTURE.md, Precision), in the logits' type otherwise.
torch::Tensor softmax_last(const torch::Tensor& a) {
  const bool low = a.scalar_type() == torch::kHalf || a.scalar_type() == torch::kBFloat16;
  return low ? torch::softmax(a, -1, torch::kFloat).to(a.scalar_type()) : torch::softmax(a, -1);
}

}  // namespace

AttentionImpl::AttentionImpl(const MhaOptions& options_) : options(options_) { reset(); }

void AttentionImpl::reset() {
  const int64_t hc = options.c_hidden() * options.no_heads();
  linear_q = register_module("linear_q", make_linear(options.c_q(), hc, false, LinearInit::kGlorot));
  linear_k = register_module("linear_k", make_linear(options.c_k(), hc, false, LinearInit::kGlorot));
  linear_v = register_module("linear_v", make_linear(options.c_v(), hc, false, LinearInit::kGlorot));
  linear_o = register_module("linear_o", make_linear(hc, options.c_q(), true, LinearInit::kFinal));
  if (options.gating()) {
    linear_g = register_module("linear_g", make_linear(options.c_q(), hc, true, LinearInit::kGating));
  }
}

torch::Tensor AttentionImpl::forward(const torch::Tensor& q_x, const torch::Tensor& kv_x,
                                     const std::vector<torch::Tensor>& biases) {
  const int64_t h = options.no_heads();
  // [*, H, L, C]
  const torch::Tensor q = split_heads(linear_q(q_x), h);
  const torch::Tensor k = split_heads(linear_k(kv_x), h);
  const torch::Tensor v = split_heads(linear_v(kv_x), h);
  std::optional<torch::Tensor> gate;
  if (options.gating()) gate = split_heads(linear_g(q_x), h);
  // [*, H, Q, C]; the kernel scales q by 1/sqrt(C) and applies sigmoid to the gate.
  torch::Tensor o = kernels::attention(q, k, v, biases, gate, options.kernel());
  // [*, Q, H*C]
  o = o.transpose(-2, -3).flatten(-2);
  return linear_o(o);
}

GlobalAttentionImpl::GlobalAttentionImpl(const GlobalAttentionOptions& options_) : options(options_) { reset(); }

void GlobalAttentionImpl::reset() {
  const int64_t c = options.c_hidden(), hc = c * options.no_heads();
  linear_q = register_module("linear_q", make_linear(options.c_in(), hc, false, LinearInit::kGlorot));
  linear_k = register_module("linear_k", make_linear(options.c_in(), c, false, LinearInit::kGlorot));
  linear_v = register_module("linear_v", make_linear(options.c_in(), c, false, LinearInit::kGlorot));
  linear_g = register_module("linear_g", make_linear(options.c_in(), hc, true, LinearInit::kGating));
  linear_o = register_module("linear_o", make_linear(hc, options.c_in(), true, LinearInit::kFinal));
}

torch::Tensor GlobalAttentionImpl::forward(const torch::Tensor& m, const torch::Tensor& mask) {
  const torch::Tensor mk = mask.to(m.scalar_type());
  // [*, N_res, c_in]: the masked mean over the sequences.
  torch::Tensor q = (m * mk.unsqueeze(-1)).sum(-2) / (mk.sum(-1).unsqueeze(-1) + options.eps());
  // [*, N_res, H, C]
  q = linear_q(q) * (1.0 / std::sqrt(static_cast<double>(options.c_hidden())));
  q = q.unflatten(-1, {options.no_heads(), -1});
  // [*, N_res, N_seq, C]
  const torch::Tensor k = linear_k(m);
  const torch::Tensor v = linear_v(m);
  // [*, N_res, 1, N_seq]
  const torch::Tensor bias = mask_bias(mask, options.inf(), m.scalar_type()).unsqueeze(-2);
  // [*, N_res, H, N_seq]
  const torch::Tensor a = softmax_last(torch::matmul(q, k.transpose(-1, -2)) + bias);
  // [*, N_res, H, C]
  const torch::Tensor o = torch::matmul(a, v);
  // [*, N_res, N_seq, H, C]
  const torch::Tensor g = torch::sigmoid(linear_g(m)).unflatten(-1, {options.no_heads(), -1});
  // [*, N_res, N_seq, H*C]
  return linear_o((o.unsqueeze(-3) * g).flatten(-2));
}

}  // namespace fold::evoformer
