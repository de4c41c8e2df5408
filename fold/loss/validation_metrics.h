// Structure-quality metrics of a predicted against a true structure: lDDT (Mariani et
// al. 2013, the per-residue form AF2 Supplement 1.9.6 trains pLDDT on), GDT-TS after
// optimal superposition, and distance-matrix RMSD: the numbers OpenFold's validation
// step reports (openfold/utils/validation_metrics.py).
#pragma once

#include <ATen/core/Tensor.h>

namespace fold {

// lDDT over the atoms of `predicted` / `truth` [*, N, 3] with `mask` [*, N, 1] (1 =
// observed): for every pair of distinct observed atoms closer than `cutoff` in the truth,
// the fraction of the thresholds 0.5, 1, 2, 4 A that the predicted distance error stays
// under. per_residue: [*, N] (each atom's score over its pairs), else [*] (all pairs).
// Values in [0, 1]; differentiable nowhere useful (a metric and a target, not a loss).
at::Tensor lddt(const at::Tensor& predicted, const at::Tensor& truth, const at::Tensor& mask, double cutoff = 15.0,
                double eps = 1e-10, bool per_residue = true);

// lDDT over the C-alpha atoms of atom37 structures [*, N, 37, 3] with mask [*, N, 37].
at::Tensor lddt_ca(const at::Tensor& predicted_atom37, const at::Tensor& truth_atom37, const at::Tensor& mask37,
                   double cutoff = 15.0, double eps = 1e-10, bool per_residue = true);

// Interface lDDT-Ca of a complex: lDDT-Ca over the pairs of C-alpha atoms of different
// chains (asym_id [*, N]) closer than `cutoff` in the truth, all pairs pooled: how well
// the chains are placed against each other, whatever the fold within each. [*]; NaN
// where no such pair is observed (one chain, or chains apart).
at::Tensor interface_lddt_ca(const at::Tensor& predicted_atom37, const at::Tensor& truth_atom37,
                             const at::Tensor& mask37, const at::Tensor& asym_id, double cutoff = 15.0);

// The rigid motion that best superimposes `moving` [N, 3] onto `reference` [N, 3] over the
// points where `mask` [N] is 1 (Kabsch); returns `moving` transformed, [N, 3]. Needs 3 or
// more non-collinear masked points.
at::Tensor superimpose(const at::Tensor& reference, const at::Tensor& moving, const at::Tensor& mask);

// GDT-TS of [N, 3] coordinates: the mean over cutoffs 1, 2, 4, 8 A of the fraction of
// masked points within the cutoff after superposition of `predicted` onto `truth`.
at::Tensor gdt_ts(const at::Tensor& predicted, const at::Tensor& truth, const at::Tensor& mask);

// Distance-matrix RMSD of [N, 3] coordinates over masked pairs i != j (no superposition
// needed: distances are invariant under rigid motions).
at::Tensor drmsd(const at::Tensor& predicted, const at::Tensor& truth, const at::Tensor& mask);

}  // namespace fold
