#include "fold/model/recycling_embedder.h"

#include "fold/model/template_embedder.h"

#include <torch/torch.h>

namespace fold {

RecyclingEmbedderImpl::RecyclingEmbedderImpl(const RecyclingEmbedderOptions& o) : options(o) { reset(); }

void RecyclingEmbedderImpl::reset() {
  layer_norm_m = register_module("layer_norm_m", evoformer::LayerNorm(options.c_m()));
  layer_norm_z = register_module("layer_norm_z", evoformer::LayerNorm(options.c_z()));
  linear = register_module("linear", evoformer::make_linear(options.no_bins(), options.c_z(), true,
                                                             evoformer::LinearInit::kDefault));
}

torch::Tensor RecyclingEmbedderImpl::distogram_one_hot(const torch::Tensor& x) const {
  return dgram_from_positions(x, options.min_bin(), options.max_bin(), options.no_bins(), options.inf());
}

std::pair<torch::Tensor, torch::Tensor> RecyclingEmbedderImpl::forward(const torch::Tensor& m_first_row,
                                                                       const torch::Tensor& z,
                                                                       const torch::Tensor& x) {
  TORCH_CHECK(x.size(-1) == 3 && x.size(-2) == z.size(-2), "RecyclingEmbedder: positions ", x.sizes(),
              " must be [*, N, 3] for the pair ", z.sizes());
  return {layer_norm_m(m_first_row), layer_norm_z(z) + linear(distogram_one_hot(x))};
}

void RecyclingEmbedderImpl::add_pair_update_(const torch::Tensor& z, const torch::Tensor& z_prev,
                                             const torch::Tensor& x, int64_t chunk_size) {
  evoformer::check_inference_mode("RecyclingEmbedder");
  TORCH_CHECK(x.size(-1) == 3 && x.size(-2) == z.size(-2), "RecyclingEmbedder: positions ", x.sizes(),
              " must be [*, N, 3] for the pair ", z.sizes());
  TORCH_CHECK(!z_prev.defined() || z_prev.sizes() == z.sizes(), "RecyclingEmbedder: recycled pair ", z_prev.sizes(),
              " must match the pair ", z.sizes());
  const torch::Tensor dgram = distogram_one_hot(x);
  evoformer::for_each_chunk(z.size(-3), chunk_size, [&](int64_t start, int64_t len) {
    const torch::Tensor rows = z.narrow(-3, start, len);
    const torch::Tensor prev = z_prev.defined() ? z_prev.narrow(-3, start, len).to(z.device(), z.scalar_type())
                                                : torch::zeros_like(rows);
    rows.add_(layer_norm_z(prev) + linear(dgram.narrow(-3, start, len)));
  });
}

}  // namespace fold
