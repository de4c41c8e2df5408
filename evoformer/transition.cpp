#include "evoformer/transition.h"

namespace fold::evoformer {

template <typename Derived>
TransitionBase<Derived>::TransitionBase(const TransitionOptions& options_) : options(options_) {
  reset();
}

template <typename Derived>
void TransitionBase<Derived>::reset() {
  const int64_t c = options.c(), hidden = options.n() * options.c();
  layer_norm = this->register_module("layer_norm", LayerNorm(c));
  linear_1 = this->register_module("linear_1", make_linear(c, hidden, true, LinearInit::kRelu));
  linear_2 = this->register_module("linear_2", make_linear(hidden, c, true, LinearInit::kFinal));
}

template <typename Derived>
torch::Tensor TransitionBase<Derived>::forward(const torch::Tensor& x, const std::optional<torch::Tensor>& mask,
                                               int64_t chunk_size) {
  TORCH_CHECK(x.dim() >= 1 && x.size(-1) == options.c(), "Transition: expected [*, ", options.c(), "], got ",
              x.sizes());
  const torch::Tensor flat = x.reshape({-1, options.c()});
  torch::Tensor out = chunked(flat.size(0), chunk_size, 0, [&](int64_t start, int64_t len) {
    return linear_2(torch::relu(linear_1(layer_norm(flat.narrow(0, start, len)))));
  });
  out = out.view(x.sizes());
  if (mask) out = out * mask->to(out.scalar_type()).unsqueeze(-1);
  return out;
}

template class TransitionBase<MsaTransitionImpl>;
template class TransitionBase<PairTransitionImpl>;

}  // namespace fold::evoformer
