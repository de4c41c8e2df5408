// Confidence numbers from the heads' logits, as OpenFold's openfold/utils/loss.py:
// pLDDT (Supplement 1.9.6), predicted aligned error and pTM (1.9.7).
#pragma once

#include <ATen/core/Tensor.h>

namespace fold {

// lddt_logits [*, N, no_bins] -> pLDDT [*, N] in [0, 100]: the expected lDDT-Ca over
// bins centred at (b + 0.5) / no_bins, times 100.
at::Tensor compute_plddt(const at::Tensor& lddt_logits);

struct AlignedError {
  at::Tensor aligned_confidence_probs;     // [*, N, N, no_bins]
  at::Tensor predicted_aligned_error;      // [*, N, N] Angstrom
  at::Tensor max_predicted_aligned_error;  // [] the last bin's centre
};

// tm_logits [*, N, N, no_bins]: bins with edges linspace(0, max_bin, no_bins - 1), the
// expected error over the bin centres (the last bin centred one step past max_bin).
AlignedError compute_predicted_aligned_error(const at::Tensor& tm_logits, double max_bin = 31.0);

// pTM (Supplement eq. 40): max over alignments i of the mean over j of the expected
// TM term 1 / (1 + (e_ij / d0)^2), d0 = 1.24 (max(N, 19) - 15)^(1/3) - 1.8. Residue
// weights default to one per residue (as OpenFold's inference). With asym_id [N] it is
// AF-Multimer's ipTM: the mean over j runs over residues of other chains only (d0 still
// from all N). Returns a scalar.
at::Tensor compute_tm(const at::Tensor& tm_logits, const at::Tensor& residue_weights = {}, double max_bin = 31.0,
                      double eps = 1e-8, const at::Tensor& asym_id = {});

}  // namespace fold
