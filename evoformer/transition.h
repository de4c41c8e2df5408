// Transitions, AF2 Supplement:
//   Algorithm 9   MSATransition
//   Algorithm 15  PairTransition
// as OpenFold (openfold/model/evoformer.py MSATransition, pair_transition.py
// PairTransition): layer_norm, linear_1 (c -> n c, ReLU init), ReLU, linear_2 (n c -> c,
// final init), optionally multiplied by a mask. AF2 and OpenFold's model call them
// without a mask. Returns the update; the residual add belongs to the caller.
#pragma once

#include <torch/nn/cloneable.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/pimpl.h>
#include <torch/types.h>

#include <optional>

#include "evoformer/primitives.h"

namespace fold::evoformer {

struct TransitionOptions {
  TransitionOptions(int64_t c, int64_t n = 4) : c_(c), n_(n) {}
  // c_m for the MSA transition, c_z for the pair transition.
  TORCH_ARG(int64_t, c);
  // Hidden width factor (AF2 n = 4; the template pair stack uses 2).
  TORCH_ARG(int64_t, n);
};

// The shared part of Algorithms 9 and 15. Derived is the concrete module (CRTP).
template <typename Derived>
class TransitionBase : public torch::nn::Cloneable<Derived> {
 public:
  explicit TransitionBase(const TransitionOptions& options);
  void reset() override;
  // x [*, R, C, c], mask broadcastable to x's leading dims (none = no masking);
  // chunk_size slices the rows R (dim -3, as OpenFold chunks its transitions). Returns
  // [*, R, C, c].
  torch::Tensor forward(const torch::Tensor& x, const std::optional<torch::Tensor>& mask = std::nullopt,
                        int64_t chunk_size = 0);
  // Inference: x += the update, in place, chunk by chunk of rows.
  void add_update_(const torch::Tensor& x, const std::optional<torch::Tensor>& mask = std::nullopt,
                   int64_t chunk_size = 0);

  TransitionOptions options;
  LayerNorm layer_norm{nullptr};
  torch::nn::Linear linear_1{nullptr}, linear_2{nullptr};

 private:
  // The (masked) update of x: what both paths compute per chunk.
  torch::Tensor update(const torch::Tensor& x, const std::optional<torch::Tensor>& mask);
};

// Algorithm 9: m [*, N_seq, N_res, c_m].
class MsaTransitionImpl final : public TransitionBase<MsaTransitionImpl> {
 public:
  using TransitionBase::TransitionBase;
};
TORCH_MODULE(MsaTransition);

// Algorithm 15: z [*, N_res, N_res, c_z].
class PairTransitionImpl final : public TransitionBase<PairTransitionImpl> {
 public:
  using TransitionBase::TransitionBase;
};
TORCH_MODULE(PairTransition);

}  // namespace fold::evoformer
