// AF2 Supplement Algorithms 11 and 12: triangle multiplicative update of the pair
// representation using "outgoing" edges (z_ij from a_ik, b_jk) and "incoming" edges
// (z_ij from a_ki, b_kj). Parameter names as OpenFold's TriangleMultiplicativeUpdate.
#pragma once

#include <torch/nn/cloneable.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/pimpl.h>
#include <torch/types.h>

#include "evoformer/axial_parallel.h"
#include "evoformer/primitives.h"

namespace fold::evoformer {

struct TriangleMultiplicationOptions {
  TriangleMultiplicationOptions(int64_t c_z, int64_t c_hidden, bool outgoing)
      : c_z_(c_z), c_hidden_(c_hidden), outgoing_(outgoing) {}
  TORCH_ARG(int64_t, c_z);
  TORCH_ARG(int64_t, c_hidden);  // model.evoformer_stack.c_hidden_mul (128)
  TORCH_ARG(bool, outgoing);
  // AF-Multimer v3's layout (OpenFold's FusedTriangleMultiplicativeUpdate): a's and b's
  // projections are the two halves of one linear_ab_p, their gates of linear_ab_g. The
  // same numbers; a and b are still made one at a time.
  TORCH_ARG(bool, fuse_projection_weights) = false;
};

// linear_a_p, linear_a_g, linear_b_p, linear_b_g (c_z -> c_hidden), or fused
// linear_ab_p, linear_ab_g (c_z -> 2 c_hidden, a then b); linear_g (c_z -> c_z, gating
// init), linear_z (c_hidden -> c_z, final init), layer_norm_in (c_z), layer_norm_out
// (c_hidden).
class TriangleMultiplicationImpl : public torch::nn::Cloneable<TriangleMultiplicationImpl> {
 public:
  explicit TriangleMultiplicationImpl(const TriangleMultiplicationOptions& options);
  void reset() override;
  // z [*, N, N, c_z], mask [*, N, N] -> update [*, N, N, c_z] (residual added by caller).
  // chunk_size: output rows computed at once (0 = all); memory only, same numbers.
  // Under DAP, z and mask hold this rank's rows: outgoing all-gathers b, incoming moves a
  // to a column split (all-to-all) and all-gathers b.
  torch::Tensor forward(const torch::Tensor& z, const torch::Tensor& mask, int64_t chunk_size = 0,
                        const AxialParallel* dap = nullptr);
  // Inference: z += the update, in place, with one projection held whole instead of
  // four pair-sized intermediates. Outgoing holds b (channels first) and walks z's rows:
  // row i of the product needs a_i. (from row i of z) and all of b. Incoming holds a
  // and walks z's columns (through the transposed view). A chunk reads only its own
  // rows (columns) of z and the held projection, computed before any write, so writing
  // the chunk back changes nothing a later chunk reads. The product is a matrix product
  // per channel with one row per chunk row: the caller sizes chunk_size with
  // MemoryPolicy::rows, not the attention's chunk size.
  //
  // tile_rows > 0 (the low-memory policy) holds no projection: the walked rows are cut
  // into T tiles of tile_rows, and step t projects its own rows and then, one tile at a
  // time, the rows of every later tile s, for the products (t, s) and (s, t). A tile's
  // rows are written once both their row and their column of products are done, so the
  // finished products of later rows wait (a quarter of a pair tensor at most). Each step
  // holds its own tile's projections; a later tile's are made one block of columns at a
  // time, whose products add into (t, s) and (s, t) in fp32. The price: about T/2 times
  // the projections' work.
  void add_update_(const torch::Tensor& z, const torch::Tensor& mask, int64_t chunk_size = 0, int64_t tile_rows = 0);
  // The tile rows for a chunk of chunk_rows at N_res n: at least n / 16 (the work grows
  // with the tile count), and 0 (hold the projection) where there would be fewer than 8
  // tiles, which would hold more than the held projection does.
  static int64_t tile_rows(int64_t n, int64_t chunk_rows);

  TriangleMultiplicationOptions options;
  // Exactly one of the two layouts is set (options.fuse_projection_weights).
  torch::nn::Linear linear_ab_p{nullptr}, linear_ab_g{nullptr};
  torch::nn::Linear linear_a_p{nullptr}, linear_a_g{nullptr}, linear_b_p{nullptr}, linear_b_g{nullptr},
      linear_g{nullptr}, linear_z{nullptr};
  LayerNorm layer_norm_in{nullptr}, layer_norm_out{nullptr};

 private:
  // mask * sigmoid(gate(zn)) * proj(zn): a (linear_a_*, or linear_ab_*'s first half) or
  // b, [*, R, N, c].
  torch::Tensor project(const torch::Tensor& zn, const torch::Tensor& mask, bool first);
  // The update from the product x [*, R, N, c_hidden] and the normalised input zn of the
  // same positions: linear_z(layer_norm_out(x)) * sigmoid(linear_g(zn)).
  torch::Tensor finish(const torch::Tensor& x, const torch::Tensor& zn);
  void add_update_tiles_(const torch::Tensor& z, const torch::Tensor& mask, int64_t tile_rows);
};
TORCH_MODULE(TriangleMultiplication);

}  // namespace fold::evoformer
