// AF2 Supplement Algorithm 10: outer product mean, the MSA -> pair communication.
// Parameter names as OpenFold's OuterProductMean.
#pragma once

#include <torch/nn/cloneable.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/pimpl.h>
#include <torch/types.h>

#include "evoformer/axial_parallel.h"
#include "evoformer/primitives.h"

namespace fold::evoformer {

struct OuterProductMeanOptions {
  OuterProductMeanOptions(int64_t c_m, int64_t c_z, int64_t c_hidden) : c_m_(c_m), c_z_(c_z), c_hidden_(c_hidden) {}
  TORCH_ARG(int64_t, c_m);
  TORCH_ARG(int64_t, c_z);
  TORCH_ARG(int64_t, c_hidden);  // model.evoformer_stack.c_hidden_opm (32)
  TORCH_ARG(double, eps) = 1e-3;
};

// layer_norm (c_m), linear_1, linear_2 (c_m -> c_hidden), linear_out (c_hidden^2 ->
// c_z, final init; input index c * c_hidden + e for a_c b_e).
class OuterProductMeanImpl : public torch::nn::Cloneable<OuterProductMeanImpl> {
 public:
  explicit OuterProductMeanImpl(const OuterProductMeanOptions& options);
  void reset() override;
  // m [*, S, N, c_m], mask [*, S, N] -> pair update [*, N, N, c_z].
  // chunk_size: residues i computed at once (0 = all); memory only, same numbers.
  // Under DAP, m and mask hold this rank's residues (columns); the result holds the
  // pair's rows of those residues, and the right-hand projection is all-gathered.
  torch::Tensor forward(const torch::Tensor& m, const torch::Tensor& mask, int64_t chunk_size = 0,
                        const AxialParallel* dap = nullptr);
  // Inference: z += the update, in place, chunk by chunk of rows i; each chunk projects
  // its residues' a and reads the right-hand projection b of every residue, which alone
  // is held, computed first chunk by chunk of sequences; chunk_size rows i and
  // sequences at a time. A row of outer products is c_hidden^2 wide (1024 for AF2, 8
  // pair rows): the block sizes its chunks by that (block_rows), and a chunk takes its
  // columns in blocks of kMinChunkBytes.
  void add_update_(const torch::Tensor& z, const torch::Tensor& m, const torch::Tensor& mask, int64_t chunk_size = 0);

  OuterProductMeanOptions options;
  LayerNorm layer_norm{nullptr};
  torch::nn::Linear linear_1{nullptr}, linear_2{nullptr}, linear_out{nullptr};

 private:
  void check_inputs(const torch::Tensor& m, const torch::Tensor& mask) const;
  // linear(ln) * mask with residues first, [*, N, S, c_hidden]; ln = layer_norm(m).
  torch::Tensor project(torch::nn::Linear& linear, const torch::Tensor& ln, const torch::Tensor& mask);
  // Rows of the update: linear_out of the outer products of a_rows [*, R, S, c] with
  // b [*, N, S, c], given as b_flat = right_factor(b) [*, S, N * c], divided by the pair
  // counts norm_rows [*, R, N, 1].
  torch::Tensor update_rows(const torch::Tensor& a_rows, const torch::Tensor& b_flat, const torch::Tensor& norm_rows);
  static torch::Tensor right_factor(const torch::Tensor& b);
};
TORCH_MODULE(OuterProductMean);

}  // namespace fold::evoformer
