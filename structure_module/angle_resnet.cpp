#include "structure_module/angle_resnet.h"

#include <torch/torch.h>

#include "evoformer/primitives.h"

namespace fold::structure {

using evoformer::LinearInit;
using evoformer::make_linear;

AngleResnetBlockImpl::AngleResnetBlockImpl(int64_t c) : c_hidden(c) { reset(); }

void AngleResnetBlockImpl::reset() {
  linear_1 = register_module("linear_1", make_linear(c_hidden, c_hidden, true, LinearInit::kRelu));
  linear_2 = register_module("linear_2", make_linear(c_hidden, c_hidden, true, LinearInit::kFinal));
}

torch::Tensor AngleResnetBlockImpl::forward(const torch::Tensor& a) {
  return a + linear_2(torch::relu(linear_1(torch::relu(a))));
}

AngleResnetImpl::AngleResnetImpl(const AngleResnetOptions& o) : options(o) { reset(); }

void AngleResnetImpl::reset() {
  const int64_t c_in = options.c_in(), c = options.c_hidden();
  linear_in = register_module("linear_in", make_linear(c_in, c, true, LinearInit::kDefault));
  linear_initial = register_module("linear_initial", make_linear(c_in, c, true, LinearInit::kDefault));
  layers = register_module("layers", torch::nn::ModuleList());
  for (int64_t i = 0; i < options.no_blocks(); ++i) layers->push_back(AngleResnetBlock(c));
  linear_out = register_module("linear_out", make_linear(c, options.no_angles() * 2, true, LinearInit::kDefault));
}

std::pair<torch::Tensor, torch::Tensor> AngleResnetImpl::forward(const torch::Tensor& s,
                                                                 const torch::Tensor& s_initial) {
  TORCH_CHECK(s.size(-1) == options.c_in() && s_initial.sizes() == s.sizes(), "AngleResnet: s ", s.sizes(),
              " and s_initial ", s_initial.sizes(), " must both be [*, ", options.c_in(), "]");
  torch::Tensor a = linear_in(torch::relu(s)) + linear_initial(torch::relu(s_initial));
  for (const auto& layer : *layers) a = layer->as<AngleResnetBlock>()->forward(a);
  a = linear_out(torch::relu(a));
  auto shape = a.sizes().vec();
  shape.back() = options.no_angles();
  shape.push_back(2);
  const torch::Tensor unnormalized = a.view(shape);
  const torch::Tensor norm =
      torch::sqrt(torch::clamp_min((unnormalized * unnormalized).sum(-1, true), options.epsilon()));
  return {unnormalized, unnormalized / norm};
}

}  // namespace fold::structure
