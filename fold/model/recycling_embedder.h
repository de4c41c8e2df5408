// AF2 Supplement Algorithm 32 (recycling embedder): the previous iteration's first MSA
// row, pair representation and pseudo-beta positions -> updates added to the next
// iteration's inputs. Parameter names as OpenFold's RecyclingEmbedder.
#pragma once

#include <torch/nn/cloneable.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/pimpl.h>
#include <torch/types.h>

#include <utility>

#include "evoformer/primitives.h"

namespace fold {

struct RecyclingEmbedderOptions {
  RecyclingEmbedderOptions(int64_t c_m, int64_t c_z) : c_m_(c_m), c_z_(c_z) {}
  TORCH_ARG(int64_t, c_m);
  TORCH_ARG(int64_t, c_z);
  TORCH_ARG(double, min_bin) = 3.25;  // Angstrom, model.recycling_embedder.*
  TORCH_ARG(double, max_bin) = 20.75;
  TORCH_ARG(int64_t, no_bins) = 15;
  TORCH_ARG(double, inf) = 1e8;  // upper edge of the last bin (squared distance)
};

// layer_norm_m (c_m), layer_norm_z (c_z), linear (no_bins -> c_z).
class RecyclingEmbedderImpl : public torch::nn::Cloneable<RecyclingEmbedderImpl> {
 public:
  explicit RecyclingEmbedderImpl(const RecyclingEmbedderOptions& options);
  void reset() override;

  // One-hot distogram of pseudo-beta positions x [*, N, 3]: bin b holds squared
  // distances in (edge_b^2, edge_{b+1}^2) with edges linspace(min_bin, max_bin).
  torch::Tensor distogram_one_hot(const torch::Tensor& x) const;

  // m_first_row [*, N, c_m], z [*, N, N, c_z], x [*, N, 3] -> (m update, z update).
  std::pair<torch::Tensor, torch::Tensor> forward(const torch::Tensor& m_first_row, const torch::Tensor& z,
                                                  const torch::Tensor& x);
  // Inference: z += the pair update, in place, chunk by chunk of rows, from the
  // recycled pair z_prev (undefined: the first iteration's zeros, never allocated whole)
  // and positions x.
  void add_pair_update_(const torch::Tensor& z, const torch::Tensor& z_prev, const torch::Tensor& x,
                        int64_t chunk_size);

  RecyclingEmbedderOptions options;
  evoformer::LayerNorm layer_norm_m{nullptr}, layer_norm_z{nullptr};
  torch::nn::Linear linear{nullptr};
};
TORCH_MODULE(RecyclingEmbedder);

}  // namespace fold
