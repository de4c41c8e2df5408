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

namespace {

// The mask of rows [start, start + length) of x: its rows dim (-2) sliced with x's,
// unless it broadcasts.
std::optional<torch::Tensor> mask_rows(const std::optional<torch::Tensor>& mask, const torch::Tensor& x,
                                       int64_t start, int64_t length) {
  if (!mask || mask->dim() < 2 || mask->size(-2) != x.size(-3)) return mask;
  return mask->narrow(-2, start, length);
}

}  // namespace

template <typename Derived>
torch::Tensor TransitionBase<Derived>::update(const torch::Tensor& x, const std::optional<torch::Tensor>& mask) {
  torch::Tensor out = linear_2(torch::relu(linear_1(layer_norm(x))));
  return mask ? out * mask->to(out.scalar_type()).unsqueeze(-1) : out;
}

template <typename Derived>
torch::Tensor TransitionBase<Derived>::forward(const torch::Tensor& x, const std::optional<torch::Tensor>& mask,
                                               int64_t chunk_size) {
  TORCH_CHECK(x.dim() >= 1 && x.size(-1) == options.c(), "Transition: expected [*, ", options.c(), "], got ",
              x.sizes());
  if (x.dim() < 3) return update(x, mask);
  return chunked(x.size(-3), chunk_size, -3, [&](int64_t start, int64_t length) {
    return update(x.narrow(-3, start, length), mask_rows(mask, x, start, length));
  });
}

template <typename Derived>
void TransitionBase<Derived>::add_update_(const torch::Tensor& x, const std::optional<torch::Tensor>& mask,
                                          int64_t chunk_size) {
  check_inference_mode("Transition");
  TORCH_CHECK(x.dim() >= 3 && x.size(-1) == options.c(), "Transition: expected [*, R, C, ", options.c(), "], got ",
              x.sizes());
  for_each_chunk(x.size(-3), chunk_size, [&](int64_t start, int64_t length) {
    const torch::Tensor rows = x.narrow(-3, start, length);
    rows.add_(update(rows, mask_rows(mask, x, start, length)));
  });
}

template class TransitionBase<MsaTransitionImpl>;
template class TransitionBase<PairTransitionImpl>;

}  // namespace fold::evoformer
