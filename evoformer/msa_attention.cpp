#include "evoformer/msa_attention.h"

namespace fold::evoformer {

namespace {

MsaAttentionOptions row_options(const MsaRowAttentionWithPairBiasOptions& o) {
  return MsaAttentionOptions(o.c_m(), o.c_hidden(), o.no_heads())
      .pair_bias(true)
      .c_z(o.c_z())
      .inf(o.inf())
      .kernel(o.kernel());
}

// The all-ones mask of m [*, S, N, C] when none is given.
torch::Tensor mask_or_ones(const torch::Tensor& m, const std::optional<torch::Tensor>& mask) {
  if (mask) return *mask;
  return torch::ones(m.sizes().slice(0, m.dim() - 1), m.options());
}

}  // namespace

// ---------------------------------------------------------------------------------------
// MsaAttentionBase

template <typename Derived>
MsaAttentionBase<Derived>::MsaAttentionBase(const MsaAttentionOptions& options_) : options(options_) {
  reset();
}

template <typename Derived>
void MsaAttentionBase<Derived>::reset() {
  const MsaAttentionOptions& o = options;
  layer_norm_m = this->register_module("layer_norm_m", LayerNorm(o.c_in()));
  if (o.pair_bias()) {
    TORCH_CHECK(o.c_z() > 0, "MsaAttention: pair_bias needs c_z > 0");
    layer_norm_z = this->register_module("layer_norm_z", LayerNorm(o.c_z()));
    linear_z = this->register_module("linear_z", make_linear(o.c_z(), o.no_heads(), false, LinearInit::kNormal));
  }
  mha = this->register_module(
      "mha", Attention(MhaOptions(o.c_in(), o.c_in(), o.c_in(), o.c_hidden(), o.no_heads()).kernel(o.kernel())));
}

template <typename Derived>
void MsaAttentionBase<Derived>::set_kernel_options(const kernels::AttentionOptions& kernel) {
  options.kernel(kernel);
  mha->options.kernel(kernel);
}

template <typename Derived>
torch::Tensor MsaAttentionBase<Derived>::attend_rows(const torch::Tensor& m_rows, const torch::Tensor& bias_mask,
                                                     const torch::Tensor& bias_pair) {
  const torch::Tensor xs = layer_norm_m(m_rows);
  std::vector<torch::Tensor> biases{bias_mask};
  if (bias_pair.defined()) biases.push_back(bias_pair);
  return mha(xs, xs, biases);
}

template <typename Derived>
std::pair<torch::Tensor, torch::Tensor> MsaAttentionBase<Derived>::biases(const torch::Tensor& m,
                                                                          const std::optional<torch::Tensor>& z,
                                                                          const std::optional<torch::Tensor>& mask,
                                                                          int64_t chunk_size, const AxialParallel* dap) {
  TORCH_CHECK(m.dim() >= 3 && m.size(-1) == options.c_in(), "MsaAttention: m must be [*, S, N, ", options.c_in(),
              "], got ", m.sizes());
  // [*, S, 1, 1, N]
  const torch::Tensor bias_mask =
      mask_bias(mask_or_ones(m, mask), options.inf(), m.scalar_type()).unsqueeze(-2).unsqueeze(-2);
  torch::Tensor bias_pair;
  if (options.pair_bias()) {
    TORCH_CHECK(z.has_value(), "MsaRowAttentionWithPairBias: the pair representation z is required");
    // [*, H, N, N] -> [*, 1, H, N, N]; under DAP every rank's rows are gathered.
    bias_pair = pair_bias(*z, *layer_norm_z, *linear_z, chunk_size);
    if (dap) bias_pair = dap::all_gather(bias_pair, -2, dap->group());
    bias_pair = bias_pair.unsqueeze(-4);
  }
  return {bias_mask, bias_pair};
}

template <typename Derived>
torch::Tensor MsaAttentionBase<Derived>::attend(const torch::Tensor& m, const std::optional<torch::Tensor>& z,
                                                const std::optional<torch::Tensor>& mask, int64_t chunk_size,
                                                const AxialParallel* dap) {
  const auto [bias_mask, bias_pair] = biases(m, z, mask, 0, dap);
  return chunked(m.size(-3), chunk_size, -3, [&](int64_t start, int64_t len) {
    return attend_rows(m.narrow(-3, start, len), bias_mask.narrow(-4, start, len), bias_pair);
  });
}

template <typename Derived>
void MsaAttentionBase<Derived>::attend_(const torch::Tensor& m, const std::optional<torch::Tensor>& z,
                                        const std::optional<torch::Tensor>& mask, int64_t chunk_size) {
  check_inference_mode("MsaAttention");
  const auto [bias_mask, bias_pair] = biases(m, z, mask, chunk_size, nullptr);
  for_each_chunk(m.size(-3), chunk_size, [&](int64_t start, int64_t len) {
    const torch::Tensor rows = m.narrow(-3, start, len);
    rows.add_(attend_rows(rows, bias_mask.narrow(-4, start, len), bias_pair));
  });
}

template class MsaAttentionBase<MsaAttentionImpl>;
template class MsaAttentionBase<MsaRowAttentionWithPairBiasImpl>;

// ---------------------------------------------------------------------------------------
// Algorithm 7

MsaRowAttentionWithPairBiasImpl::MsaRowAttentionWithPairBiasImpl(const MsaRowAttentionWithPairBiasOptions& o)
    : MsaAttentionBase(row_options(o)) {}

torch::Tensor MsaRowAttentionWithPairBiasImpl::forward(const torch::Tensor& m, const torch::Tensor& z,
                                                       const std::optional<torch::Tensor>& mask,
                                                       int64_t chunk_size, const AxialParallel* dap) {
  return attend(m, z, mask, chunk_size, dap);
}

// ---------------------------------------------------------------------------------------
// Algorithm 8

MsaColumnAttentionImpl::MsaColumnAttentionImpl(const MsaColumnAttentionOptions& options_) : options(options_) {
  reset();
}

void MsaColumnAttentionImpl::reset() {
  _msa_att = register_module(
      "_msa_att", MsaAttention(MsaAttentionOptions(options.c_m(), options.c_hidden(), options.no_heads())
                                   .inf(options.inf())
                                   .kernel(options.kernel())));
}

void MsaColumnAttentionImpl::set_kernel_options(const kernels::AttentionOptions& kernel) {
  options.kernel(kernel);
  _msa_att->set_kernel_options(kernel);
}

torch::Tensor MsaColumnAttentionImpl::forward(const torch::Tensor& m, const std::optional<torch::Tensor>& mask,
                                              int64_t chunk_size) {
  TORCH_CHECK(m.dim() >= 3, "MsaColumnAttention: m must be [*, S, N, C], got ", m.sizes());
  std::optional<torch::Tensor> mask_t;
  if (mask) mask_t = mask->transpose(-1, -2);
  // [*, N, S, C]: each residue column attends over the sequences.
  return _msa_att(m.transpose(-2, -3), std::nullopt, mask_t, chunk_size).transpose(-2, -3);
}

void MsaColumnAttentionImpl::add_update_(const torch::Tensor& m, const std::optional<torch::Tensor>& mask,
                                         int64_t chunk_size) {
  TORCH_CHECK(m.dim() >= 3, "MsaColumnAttention: m must be [*, S, N, C], got ", m.sizes());
  std::optional<torch::Tensor> mask_t;
  if (mask) mask_t = mask->transpose(-1, -2);
  // The transposed view: the row attention's writes land in m's columns.
  _msa_att->add_update_(m.transpose(-2, -3), std::nullopt, mask_t, chunk_size);
}

// ---------------------------------------------------------------------------------------
// Algorithm 19

MsaColumnGlobalAttentionImpl::MsaColumnGlobalAttentionImpl(const MsaColumnGlobalAttentionOptions& options_)
    : options(options_) {
  reset();
}

void MsaColumnGlobalAttentionImpl::reset() {
  layer_norm_m = register_module("layer_norm_m", LayerNorm(options.c_in()));
  global_attention = register_module("global_attention", GlobalAttention(options));
}

torch::Tensor MsaColumnGlobalAttentionImpl::attend_columns(const torch::Tensor& m_cols, const torch::Tensor& mask_cols) {
  return global_attention(layer_norm_m(m_cols), mask_cols);
}

torch::Tensor MsaColumnGlobalAttentionImpl::forward(const torch::Tensor& m, const std::optional<torch::Tensor>& mask,
                                                    int64_t chunk_size) {
  TORCH_CHECK(m.dim() >= 3 && m.size(-1) == options.c_in(), "MsaColumnGlobalAttention: m must be [*, S, N, ",
              options.c_in(), "], got ", m.sizes());
  // [*, N, S, C] and [*, N, S]
  const torch::Tensor x = m.transpose(-2, -3);
  const torch::Tensor mk = mask_or_ones(m, mask).transpose(-1, -2);
  const torch::Tensor out = chunked(x.size(-3), chunk_size, -3, [&](int64_t start, int64_t len) {
    return attend_columns(x.narrow(-3, start, len), mk.narrow(-2, start, len));
  });
  return out.transpose(-2, -3);
}

void MsaColumnGlobalAttentionImpl::add_update_(const torch::Tensor& m, const std::optional<torch::Tensor>& mask,
                                               int64_t chunk_size) {
  check_inference_mode("MsaColumnGlobalAttention");
  TORCH_CHECK(m.dim() >= 3 && m.size(-1) == options.c_in(), "MsaColumnGlobalAttention: m must be [*, S, N, ",
              options.c_in(), "], got ", m.sizes());
  const torch::Tensor x = m.transpose(-2, -3);
  const torch::Tensor mk = mask_or_ones(m, mask).transpose(-1, -2);
  for_each_chunk(x.size(-3), chunk_size, [&](int64_t start, int64_t len) {
    const torch::Tensor columns = x.narrow(-3, start, len);
    columns.add_(attend_columns(columns, mk.narrow(-2, start, len)));
  });
}

}  // namespace fold::evoformer
