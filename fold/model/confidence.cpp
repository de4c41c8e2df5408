#include "fold/model/confidence.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <cmath>

namespace fold {

namespace {

// Bin centres of the aligned-error bins: the no_bins - 1 edges shifted by half a step,
// plus one more step for the open last bin.
at::Tensor aligned_error_bin_centres(int64_t no_bins, double max_bin, const at::TensorOptions& options) {
  const at::Tensor edges = at::linspace(0.0, max_bin, no_bins - 1, options);
  const at::Tensor step = edges[1] - edges[0];
  const at::Tensor centres = edges + step / 2;
  return at::cat({centres, (centres[-1] + step).unsqueeze(0)});
}

}  // namespace

at::Tensor compute_plddt(const at::Tensor& lddt_logits) {
  const int64_t no_bins = lddt_logits.size(-1);
  const double width = 1.0 / static_cast<double>(no_bins);
  const at::Tensor centres = at::arange(no_bins, lddt_logits.options()) * width + 0.5 * width;
  return (at::softmax(lddt_logits, -1) * centres).sum(-1) * 100.0;
}

AlignedError compute_predicted_aligned_error(const at::Tensor& tm_logits, double max_bin) {
  const at::Tensor centres = aligned_error_bin_centres(tm_logits.size(-1), max_bin, tm_logits.options());
  AlignedError out;
  out.aligned_confidence_probs = at::softmax(tm_logits, -1);
  out.predicted_aligned_error = (out.aligned_confidence_probs * centres).sum(-1);
  out.max_predicted_aligned_error = centres[-1];
  return out;
}

at::Tensor compute_tm(const at::Tensor& tm_logits, const at::Tensor& residue_weights_in, double max_bin, double eps,
                      const at::Tensor& asym_id) {
  const int64_t n = tm_logits.size(-2);
  const at::Tensor weights = residue_weights_in.defined() ? residue_weights_in.to(tm_logits.scalar_type())
                                                          : at::ones({n}, tm_logits.options());
  const at::Tensor centres = aligned_error_bin_centres(tm_logits.size(-1), max_bin, tm_logits.options());
  const double clipped_n = std::max(weights.sum().item<double>(), 19.0);
  const double d0 = 1.24 * std::cbrt(clipped_n - 15.0) - 1.8;
  const at::Tensor tm_per_bin = 1.0 / (1.0 + centres.square() / (d0 * d0));
  at::Tensor predicted_tm_term = (at::softmax(tm_logits, -1) * tm_per_bin).sum(-1);
  at::Tensor pair_weights = weights.unsqueeze(-1) * weights.unsqueeze(-2);
  if (asym_id.defined()) {
    TORCH_CHECK(asym_id.size(-1) == n, "compute_tm: asym_id has ", asym_id.size(-1), " residues, tm_logits ", n);
    const at::Tensor other_chain = asym_id.unsqueeze(-1).ne(asym_id.unsqueeze(-2)).to(tm_logits.scalar_type());
    predicted_tm_term = predicted_tm_term * other_chain;
    pair_weights = pair_weights * other_chain;
  }
  const at::Tensor normed = pair_weights / (eps + pair_weights.sum(-1, true));
  const at::Tensor per_alignment = (predicted_tm_term * normed).sum(-1);
  // The alignment with the largest weighted score (OpenFold takes the first maximum).
  const at::Tensor best = (per_alignment * weights).flatten().argmax();
  return per_alignment.flatten()[best];
}

}  // namespace fold
