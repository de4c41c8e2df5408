// The angle resnet of AF2 Supplement Algorithm 20 (lines 11-14): torsion angles from the
// current and the initial single representation, as OpenFold's AngleResnet /
// AngleResnetBlock (parameter names linear_in, linear_initial, layers.{i}.linear_1,
// layers.{i}.linear_2, linear_out):
//   a = linear_in(relu(s)) + linear_initial(relu(s_initial))
//   a = a + linear_2(relu(linear_1(relu(a))))          (no_blocks times)
//   alpha = linear_out(relu(a))                          [*, no_angles, 2] (sin, cos)
// and its normalisation alpha / sqrt(max(|alpha|^2, eps)).
#pragma once

#include <torch/nn/cloneable.h>
#include <torch/nn/modules/container/modulelist.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/pimpl.h>
#include <torch/types.h>

#include <utility>

namespace fold::structure {

struct AngleResnetOptions {
  AngleResnetOptions(int64_t c_in, int64_t c_hidden) : c_in_(c_in), c_hidden_(c_hidden) {}
  TORCH_ARG(int64_t, c_in);           // c_s, 384
  TORCH_ARG(int64_t, c_hidden);       // c_resnet, 128
  TORCH_ARG(int64_t, no_blocks) = 2;  // no_resnet_blocks
  TORCH_ARG(int64_t, no_angles) = 7;  // pre-omega, phi, psi, chi1..chi4
  TORCH_ARG(double, epsilon) = 1e-8;  // clamp of the squared norm (OpenFold)
};

class AngleResnetBlockImpl : public torch::nn::Cloneable<AngleResnetBlockImpl> {
 public:
  explicit AngleResnetBlockImpl(int64_t c_hidden);
  void reset() override;
  torch::Tensor forward(const torch::Tensor& a);

  int64_t c_hidden;
  torch::nn::Linear linear_1{nullptr}, linear_2{nullptr};  // init relu, final
};
TORCH_MODULE(AngleResnetBlock);

class AngleResnetImpl : public torch::nn::Cloneable<AngleResnetImpl> {
 public:
  explicit AngleResnetImpl(const AngleResnetOptions& options);
  void reset() override;
  // s, s_initial [*, c_in] -> (unnormalized, normalized) angles [*, no_angles, 2].
  std::pair<torch::Tensor, torch::Tensor> forward(const torch::Tensor& s, const torch::Tensor& s_initial);

  AngleResnetOptions options;
  torch::nn::Linear linear_in{nullptr}, linear_initial{nullptr}, linear_out{nullptr};
  torch::nn::ModuleList layers{nullptr};
};
TORCH_MODULE(AngleResnet);

}  // namespace fold::structure
