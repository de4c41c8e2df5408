#include "fold/loss/validation_metrics.h"

#include <ATen/ATen.h>

#include <limits>
#include <stdexcept>
#include <vector>

namespace fold {

namespace {

at::Tensor distance_matrix(const at::Tensor& x, double eps) {
  return at::sqrt(eps + (x.unsqueeze(-2) - x.unsqueeze(-3)).pow(2).sum(-1));
}

void check_points(const at::Tensor& a, const at::Tensor& b, const at::Tensor& mask, const char* who) {
  if (a.dim() != 2 || a.size(-1) != 3 || !a.sizes().equals(b.sizes()) || mask.dim() != 1 || mask.size(0) != a.size(0))
    throw std::invalid_argument(std::string(who) + ": expected two [N, 3] coordinate sets and an [N] mask");
}

// lDDT over the pairs that `pairs` [*, N, N] (1 = may be scored) allows, of those
// observed in both atoms and closer than `cutoff` in the truth; and how many pairs that
// is ([*, N] per residue, else [*]).
struct PairLddt {
  at::Tensor score, scored_pairs;
};
PairLddt lddt_over_pairs(const at::Tensor& predicted, const at::Tensor& truth, const at::Tensor& mask,
                         const at::Tensor& pairs, double cutoff, double eps, bool per_residue) {
  const at::Tensor d_true = distance_matrix(truth, eps);
  const at::Tensor d_pred = distance_matrix(predicted, eps);
  const at::Tensor scored = (d_true < cutoff).to(mask.scalar_type()) * mask * mask.transpose(-1, -2) * pairs;
  const at::Tensor error = (d_true - d_pred).abs();
  const at::Tensor score =
      ((error < 0.5).to(error.scalar_type()) + (error < 1.0).to(error.scalar_type()) +
       (error < 2.0).to(error.scalar_type()) + (error < 4.0).to(error.scalar_type())) *
      0.25;
  const std::vector<int64_t> dims = per_residue ? std::vector<int64_t>{-1} : std::vector<int64_t>{-2, -1};
  const at::Tensor count = scored.sum(dims);
  // Times the reciprocal, as OpenFold: scores are ratios of small integers that often sit
  // exactly on a pLDDT bin edge, where a division and a multiplication round apart.
  return {(1.0 / (eps + count)) * (eps + (scored * score).sum(dims)), count};
}

constexpr int64_t kCa = 1;

at::Tensor ca_mask(const at::Tensor& mask37, const at::Tensor& like) {
  return mask37.narrow(-1, kCa, 1).to(like.scalar_type());
}

}  // namespace

at::Tensor lddt(const at::Tensor& predicted, const at::Tensor& truth, const at::Tensor& mask, double cutoff,
                double eps, bool per_residue) {
  const int64_t n = mask.size(-2);
  return lddt_over_pairs(predicted, truth, mask, 1.0 - at::eye(n, mask.options()), cutoff, eps, per_residue).score;
}

at::Tensor lddt_ca(const at::Tensor& predicted_atom37, const at::Tensor& truth_atom37, const at::Tensor& mask37,
                   double cutoff, double eps, bool per_residue) {
  return lddt(predicted_atom37.select(-2, kCa), truth_atom37.select(-2, kCa), ca_mask(mask37, predicted_atom37),
              cutoff, eps, per_residue);
}

at::Tensor interface_lddt_ca(const at::Tensor& predicted_atom37, const at::Tensor& truth_atom37,
                             const at::Tensor& mask37, const at::Tensor& asym_id, double cutoff) {
  if (asym_id.dim() < 1 || asym_id.size(-1) != mask37.size(-2))
    throw std::invalid_argument("interface_lddt_ca: asym_id must be [*, N] over the structure's N residues");
  const at::Tensor mask = ca_mask(mask37, predicted_atom37);
  const at::Tensor pairs = asym_id.unsqueeze(-1).ne(asym_id.unsqueeze(-2)).to(mask.scalar_type());
  const PairLddt l = lddt_over_pairs(predicted_atom37.select(-2, kCa), truth_atom37.select(-2, kCa), mask, pairs,
                                     cutoff, 1e-10, /*per_residue=*/false);
  return at::where(l.scored_pairs > 0, l.score, at::full_like(l.score, std::numeric_limits<double>::quiet_NaN()));
}

at::Tensor superimpose(const at::Tensor& reference, const at::Tensor& moving, const at::Tensor& mask) {
  check_points(reference, moving, mask, "superimpose");
  const at::Tensor w = mask.to(reference.scalar_type()).unsqueeze(-1);
  const at::Tensor count = w.sum();
  if (count.item<double>() < 3) throw std::invalid_argument("superimpose: needs at least 3 masked points");
  const at::Tensor ref_centre = (reference * w).sum(0) / count;
  const at::Tensor mov_centre = (moving * w).sum(0) / count;
  const at::Tensor p = (moving - mov_centre) * w;
  const at::Tensor q = (reference - ref_centre) * w;
  // Kabsch: H = P^T Q = U S V^T, R = V diag(1, 1, d) U^T with d fixing a reflection.
  auto [u, s, vh] = at::linalg_svd(p.transpose(0, 1).matmul(q));
  const at::Tensor d = at::sign(at::linalg_det(vh.transpose(0, 1).matmul(u.transpose(0, 1))));
  at::Tensor correction = at::ones({3}, reference.options());
  correction = at::cat({correction.narrow(0, 0, 2), d.reshape({1})});
  const at::Tensor rotation = vh.transpose(0, 1).matmul(at::diag(correction)).matmul(u.transpose(0, 1));
  return (moving - mov_centre).matmul(rotation.transpose(0, 1)) + ref_centre;
}

at::Tensor gdt_ts(const at::Tensor& predicted, const at::Tensor& truth, const at::Tensor& mask) {
  const at::Tensor aligned = superimpose(truth, predicted, mask);
  const at::Tensor m = mask.to(truth.scalar_type());
  const at::Tensor distance = (aligned - truth).pow(2).sum(-1).sqrt();
  at::Tensor total = at::zeros({}, truth.options());
  for (const double c : {1.0, 2.0, 4.0, 8.0}) total = total + ((distance <= c).to(m.scalar_type()) * m).sum() / m.sum();
  return total / 4.0;
}

at::Tensor drmsd(const at::Tensor& predicted, const at::Tensor& truth, const at::Tensor& mask) {
  check_points(predicted, truth, mask, "drmsd");
  const at::Tensor m = mask.to(truth.scalar_type());
  const at::Tensor diff = distance_matrix(predicted, 0.0) - distance_matrix(truth, 0.0);
  const double n = m.sum().item<double>();
  if (n < 2) return at::zeros({}, truth.options());
  return at::sqrt((diff.pow(2) * m.unsqueeze(-1) * m.unsqueeze(-2)).sum() / (n * (n - 1)));
}

}  // namespace fold
