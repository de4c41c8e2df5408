#include "fold/model/heads.h"

#include <torch/torch.h>

#include "evoformer/memory_policy.h"
#include "evoformer/primitives.h"

namespace fold {

using evoformer::LinearInit;
using evoformer::make_linear;

namespace {

// A head over the last channels of x (the pair or the MSA) in the head's own type: an x
// stored in another type (the in-place path keeps a bf16 trunk's pair and MSA in bf16) is
// converted in blocks of rows of kMinChunkBytes, so no converted copy of it exists whole
// (at N_res 1024, 64 rows of the MSA in fp32 were a quarter of a bf16 pair tensor). The
// result is stored in `out_type`.
torch::Tensor head_by_rows(evoformer::LinearModule& head, const torch::Tensor& x, c10::ScalarType out_type) {
  const auto dtype = head->linear->weight.scalar_type();
  if (x.scalar_type() == dtype) return head(x).to(out_type);
  const int64_t row_bytes = x.numel() / std::max<int64_t>(1, x.size(-3)) * static_cast<int64_t>(c10::elementSize(dtype));
  const int64_t rows = std::max<int64_t>(1, evoformer::kMinChunkBytes / std::max<int64_t>(1, row_bytes));
  return evoformer::chunked(x.size(-3), rows, -3, [&](int64_t start, int64_t length) {
    return head(x.narrow(-3, start, length).to(dtype)).to(out_type);
  });
}

// The pair heads' logits, [N, N, bins], are as large as the pair itself in bf16: they are
// stored in the pair's type (as OpenFold's low-precision inference leaves them), and stay
// so on the host (fold/predict.h).
torch::Tensor pair_head(evoformer::LinearModule& head, const torch::Tensor& pair) {
  return head_by_rows(head, pair, pair.scalar_type());
}

// d + d^T over the pair axes, in place, 64 x 64 blocks at a time: blocks (I, J) and
// (J, I) are both read before either is written, so without autograd the symmetric
// logits need no second [N, N, bins] tensor.
torch::Tensor symmetrise_(const torch::Tensor& d) {
  constexpr int64_t kBlock = 64;
  const int64_t n = d.size(-3);
  for (int64_t i0 = 0; i0 < n; i0 += kBlock) {
    const int64_t li = std::min(kBlock, n - i0);
    for (int64_t j0 = i0; j0 < n; j0 += kBlock) {
      const int64_t lj = std::min(kBlock, n - j0);
      const torch::Tensor ij = d.narrow(-3, i0, li).narrow(-2, j0, lj), ji = d.narrow(-3, j0, lj).narrow(-2, i0, li);
      // In fp32, so that bf16 logits are rounded once more, not twice.
      const auto wide = at::promote_types(d.scalar_type(), torch::kFloat);
      const torch::Tensor sum = ij.to(wide) + ji.transpose(-2, -3).to(wide);
      ij.copy_(sum);
      ji.copy_(sum.transpose(-2, -3));
    }
  }
  return d;
}

}  // namespace

PerResidueLddtCaPredictorImpl::PerResidueLddtCaPredictorImpl(int64_t c_in_, int64_t c_hidden_, int64_t no_bins_)
    : c_in(c_in_), c_hidden(c_hidden_), no_bins(no_bins_) {
  reset();
}

void PerResidueLddtCaPredictorImpl::reset() {
  layer_norm = register_module("layer_norm", evoformer::LayerNorm(evoformer::LayerNormOptions(c_in)));
  linear_1 = register_module("linear_1", make_linear(c_in, c_hidden, true, LinearInit::kRelu));
  linear_2 = register_module("linear_2", make_linear(c_hidden, c_hidden, true, LinearInit::kRelu));
  linear_3 = register_module("linear_3", make_linear(c_hidden, no_bins, true, LinearInit::kFinal));
}

torch::Tensor PerResidueLddtCaPredictorImpl::forward(const torch::Tensor& s) {
  return linear_3(torch::relu(linear_2(torch::relu(linear_1(layer_norm(s))))));
}

AuxiliaryHeadsImpl::AuxiliaryHeadsImpl(const AuxiliaryHeadsOptions& options_) : options(options_) { reset(); }

void AuxiliaryHeadsImpl::reset() {
  const auto& o = options;
  plddt = register_module("plddt", PerResidueLddtCaPredictor(o.c_s(), o.lddt_c_hidden(), o.lddt_no_bins()));
  const auto head = [](int64_t c_in, int64_t c_out) { return evoformer::LinearModule(c_in, c_out, LinearInit::kFinal); };
  distogram = register_module("distogram", head(o.c_z(), o.distogram_no_bins()));
  masked_msa = register_module("masked_msa", head(o.c_m(), o.masked_msa_c_out()));
  experimentally_resolved = register_module("experimentally_resolved", head(o.c_s(), o.experimentally_resolved_c_out()));
  if (o.tm_enabled()) tm = register_module("tm", head(o.c_z(), o.tm_no_bins()));
}

AuxiliaryLogits AuxiliaryHeadsImpl::forward(const torch::Tensor& sm_single, const torch::Tensor& single,
                                            const torch::Tensor& pair, const torch::Tensor& msa) {
  AuxiliaryLogits out;
  out.lddt_logits = plddt(sm_single);
  const torch::Tensor d = pair_head(distogram, pair);
  // The distogram is symmetric in (i, j).
  out.distogram_logits = torch::GradMode::is_enabled() ? d + d.transpose(-2, -3) : symmetrise_(d);
  out.masked_msa_logits = head_by_rows(masked_msa, msa, masked_msa->linear->weight.scalar_type());
  out.experimentally_resolved_logits = experimentally_resolved(single);
  if (tm) out.tm_logits = pair_head(tm, pair);
  return out;
}

}  // namespace fold
