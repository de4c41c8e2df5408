#include "fold/loss/chain_permutation.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <set>
#include <stdexcept>
#include <string>

#include "data/residue_constants.h"

namespace fold::loss {

namespace {

// A tensor with an optional leading batch axis of one, without it.
at::Tensor single_sample(const data::FeatureDict& d, const std::string& name, int64_t sample_dims) {
  const at::Tensor t = data::require_feature(d, name, "chain_permutation");
  if (t.dim() == sample_dims) return t;
  if (t.dim() == sample_dims + 1 && t.size(0) == 1) return t.squeeze(0);
  throw std::invalid_argument("chain_permutation: feature '" + name + "' has shape " + c10::str(t.sizes()) +
                              "; the permutation aligns one sample at a time");
}

struct Chain {
  int64_t entity = 0;
  std::vector<int64_t> rows;              // the chain's rows of the batch
  std::map<int64_t, int64_t> row_of;      // residue_index -> row
};

// RMSD of the masked pairs, sqrt(mean + 1e-6) as OpenFold's compute_rmsd; 1e4 (its
// sqrt(1e8)) when no pair is resolved in both.
double rmsd(const at::Tensor& a, const at::Tensor& b, const at::Tensor& mask) {
  const at::Tensor sel = mask > 0;
  if (!sel.any().item<bool>()) return std::sqrt(1e8 + 1e-6);
  return std::sqrt((a - b).pow(2).sum(-1).masked_select(sel).mean().item<double>() + 1e-6);
}

// R, x with truth @ R + x the least-squares fit to pred over the masked rows (Kabsch).
std::pair<at::Tensor, at::Tensor> superpose(const at::Tensor& truth, const at::Tensor& pred, const at::Tensor& mask) {
  const at::Tensor sel = mask > 0;
  if (!sel.any().item<bool>()) return {at::eye(3, truth.options()), at::zeros({1, 3}, truth.options())};
  const at::Tensor p = truth.index({sel}), q = pred.index({sel});
  const at::Tensor pc = p.mean(0, true), qc = q.mean(0, true);
  const auto [u, s, vt] = at::linalg_svd(at::matmul((p - pc).t(), q - qc));
  at::Tensor d = at::eye(3, truth.options());
  d[2][2] = at::sign(at::linalg_det(at::matmul(u, vt)));
  const at::Tensor r = at::matmul(at::matmul(u, d), vt);
  return {r, qc - at::matmul(pc, r)};
}

// "gt_" when the batch carries the whole complex's truth beside its crop (gt_asym_id,
// gt_residue_index, gt_<label>), "" when its own labels are the truth.
std::string truth_prefix(const data::FeatureDict& batch) { return batch.count("gt_asym_id") ? "gt_" : ""; }

// The chains of `prefix`asym_id / entity_id / residue_index (asym_id 0, padding, left out).
std::map<int64_t, Chain> chains_of(const data::FeatureDict& batch, const std::string& prefix) {
  const at::Tensor asym = single_sample(batch, prefix + "asym_id", 1).to(at::kCPU, at::kLong);
  const at::Tensor entity = single_sample(batch, prefix + "entity_id", 1).to(at::kCPU, at::kLong);
  const at::Tensor residue = single_sample(batch, prefix + "residue_index", 1).to(at::kCPU, at::kLong);
  if (entity.size(0) != asym.size(0) || residue.size(0) != asym.size(0))
    throw std::invalid_argument("chain_permutation: " + prefix + "asym_id, entity_id and residue_index disagree in length");
  std::map<int64_t, Chain> chains;
  for (int64_t r = 0; r < asym.size(0); ++r) {
    const int64_t a = asym[r].item<int64_t>();
    if (a == 0) continue;
    Chain& c = chains[a];
    if (c.rows.empty()) c.entity = entity[r].item<int64_t>();
    if (entity[r].item<int64_t>() != c.entity)
      throw std::invalid_argument("chain_permutation: chain " + std::to_string(a) + " has residues of two entities");
    c.rows.push_back(r);
    if (!c.row_of.emplace(residue[r].item<int64_t>(), r).second)
      throw std::invalid_argument("chain_permutation: chain " + std::to_string(a) + " repeats residue_index " +
                                  std::to_string(residue[r].item<int64_t>()));
  }
  return chains;
}

}  // namespace

const std::vector<std::string>& chain_label_features() {
  static const std::vector<std::string> names = {
      "all_atom_positions",      "all_atom_mask",          "atom14_gt_positions",   "atom14_gt_exists",
      "atom14_alt_gt_positions", "atom14_alt_gt_exists",   "atom14_atom_is_ambiguous", "rigidgroups_gt_frames",
      "rigidgroups_alt_gt_frames", "rigidgroups_gt_exists", "backbone_rigid_tensor", "backbone_rigid_mask",
      "chi_angles_sin_cos",      "chi_mask",               "pseudo_beta",           "pseudo_beta_mask"};
  return names;
}

std::vector<int64_t> chain_permutation(const data::FeatureDict& outputs, const data::FeatureDict& batch) {
  at::NoGradGuard no_grad;
  const int64_t ca = data::rc::atom_order("CA");
  const auto cpu_double = [](const at::Tensor& t) { return t.detach().to(at::kCPU, at::kDouble); };
  // The truth is the whole complex's (gt_*) when the batch is a crop of it.
  const std::string t = truth_prefix(batch);
  const at::Tensor pred_ca = cpu_double(single_sample(outputs, "final_atom_positions", 3)).select(-2, ca);
  const at::Tensor pred_mask = cpu_double(single_sample(outputs, "final_atom_mask", 2)).select(-1, ca);
  const at::Tensor true_ca = cpu_double(single_sample(batch, t + "all_atom_positions", 3)).select(-2, ca);
  const at::Tensor true_mask = cpu_double(single_sample(batch, t + "all_atom_mask", 2)).select(-1, ca);
  const at::Tensor residue = single_sample(batch, "residue_index", 1).to(at::kCPU, at::kLong);
  const std::map<int64_t, Chain> pred = chains_of(batch, "");
  const std::map<int64_t, Chain> truth = t.empty() ? pred : chains_of(batch, t);
  if (pred_ca.size(0) != residue.size(0) || true_ca.size(0) != single_sample(batch, t + "asym_id", 1).size(0))
    throw std::invalid_argument("chain_permutation: the outputs and features disagree on the number of residues");
  const int64_t k = static_cast<int64_t>(truth.size());
  if (k > 0 && (truth.begin()->first != 1 || truth.rbegin()->first != k))
    throw std::invalid_argument("chain_permutation: chains must be numbered 1.." + std::to_string(k) +
                                " in asym_id (0 for padding)");
  for (const auto& [a, c] : pred)
    if (!truth.count(a) || truth.at(a).entity != c.entity)
      throw std::invalid_argument("chain_permutation: predicted chain " + std::to_string(a) +
                                  " has no true chain of its entity");
  std::vector<int64_t> identity(k);
  for (int64_t i = 0; i < k; ++i) identity[i] = i;
  if (k <= 1) return identity;

  // Rows of true chain `j` that face the residues of predicted chain `i`.
  const auto facing = [&](int64_t i, int64_t j) {
    std::vector<int64_t> rows;
    for (int64_t r : pred.at(i + 1).rows) {
      const auto it = truth.at(j + 1).row_of.find(residue[r].item<int64_t>());
      if (it == truth.at(j + 1).row_of.end())
        throw std::invalid_argument("chain_permutation: residue " + std::to_string(residue[r].item<int64_t>()) +
                                    " of chain " + std::to_string(i + 1) + " has no counterpart in chain " +
                                    std::to_string(j + 1) + " of its entity");
      rows.push_back(it->second);
    }
    return at::tensor(rows, at::kLong);
  };
  const auto rows_of = [&](int64_t i) { return at::tensor(pred.at(i + 1).rows, at::kLong); };

  // The candidates of each entity are all its true chains; the anchor entity has the
  // fewest predicted chains, then the most predicted residues, then the lowest entity_id.
  std::map<int64_t, std::vector<int64_t>> true_of_entity, pred_of_entity;  // entity -> chain indices
  for (const auto& [a, c] : truth) true_of_entity[c.entity].push_back(a - 1);
  for (const auto& [a, c] : pred) pred_of_entity[c.entity].push_back(a - 1);
  int64_t anchor_entity = -1;
  std::pair<size_t, int64_t> best_key{std::numeric_limits<size_t>::max(), 0};
  for (const auto& [e, members] : pred_of_entity) {
    int64_t length = 0;
    for (int64_t i : members) length += static_cast<int64_t>(pred.at(i + 1).rows.size());
    const std::pair<size_t, int64_t> key{members.size(), -length};
    if (key < best_key) best_key = key, anchor_entity = e;
  }
  if (anchor_entity < 0) return identity;
  const int64_t anchor_truth = true_of_entity.at(anchor_entity).front();

  std::vector<int64_t> best = identity;
  double best_rmsd = std::numeric_limits<double>::infinity();
  for (int64_t anchor_pred : pred_of_entity.at(anchor_entity)) {
    const at::Tensor pred_rows = rows_of(anchor_pred), true_rows = facing(anchor_pred, anchor_truth);
    const auto [r, x] = superpose(true_ca.index_select(0, true_rows), pred_ca.index_select(0, pred_rows),
                                  pred_mask.index_select(0, pred_rows) * true_mask.index_select(0, true_rows));
    const at::Tensor aligned = at::matmul(true_ca, r) + x;
    std::vector<int64_t> assignment = identity;
    std::vector<bool> used(k, false);
    for (const auto& [a, c] : pred) {
      const int64_t i = a - 1;
      const at::Tensor rows = rows_of(i);
      double lowest = std::numeric_limits<double>::infinity();
      int64_t pick = -1;
      for (int64_t j : true_of_entity.at(c.entity)) {
        if (used[j]) continue;
        const at::Tensor tr = facing(i, j);
        const double d = rmsd(aligned.index_select(0, tr), pred_ca.index_select(0, rows),
                              pred_mask.index_select(0, rows) * true_mask.index_select(0, tr));
        if (d < lowest) lowest = d, pick = j;
      }
      if (pick < 0)
        throw std::invalid_argument("chain_permutation: no true chain of entity " + std::to_string(c.entity) +
                                    " left for chain " + std::to_string(a));
      used[pick] = true;
      assignment[i] = pick;
    }
    std::vector<at::Tensor> pred_parts, true_parts;
    for (const auto& [a, c] : pred) pred_parts.push_back(rows_of(a - 1)), true_parts.push_back(facing(a - 1, assignment[a - 1]));
    const at::Tensor p = at::cat(pred_parts), tr = at::cat(true_parts);
    const double d = rmsd(aligned.index_select(0, tr), pred_ca.index_select(0, p),
                          pred_mask.index_select(0, p) * true_mask.index_select(0, tr));
    if (d < best_rmsd) best_rmsd = d, best = assignment;
  }
  return best;
}

data::FeatureDict permute_ground_truth_chains(const data::FeatureDict& outputs, const data::FeatureDict& batch) {
  if (!batch.count("asym_id")) return batch;
  const std::vector<int64_t> assignment = chain_permutation(outputs, batch);
  bool moved = false;
  for (size_t i = 0; i < assignment.size(); ++i) moved = moved || assignment[i] != static_cast<int64_t>(i);
  // Unmoved, the batch's labels already face their own chains (a crop's included).
  if (!moved) return batch;

  // Source row in the truth of every destination row (-1: padding, zeroed).
  const std::string t = truth_prefix(batch);
  const at::Tensor asym = single_sample(batch, "asym_id", 1).to(at::kCPU, at::kLong);
  const at::Tensor residue = single_sample(batch, "residue_index", 1).to(at::kCPU, at::kLong);
  const at::Tensor true_asym = single_sample(batch, t + "asym_id", 1).to(at::kCPU, at::kLong);
  const at::Tensor true_residue = single_sample(batch, t + "residue_index", 1).to(at::kCPU, at::kLong);
  std::map<std::pair<int64_t, int64_t>, int64_t> row_of;  // (asym_id, residue_index) -> truth row
  for (int64_t r = 0; r < true_asym.size(0); ++r) row_of[{true_asym[r].item<int64_t>(), true_residue[r].item<int64_t>()}] = r;
  const int64_t n = asym.size(0);
  std::vector<int64_t> source(n, -1);
  for (int64_t r = 0; r < n; ++r) {
    const int64_t a = asym[r].item<int64_t>();
    if (a > 0) source[r] = row_of.at({assignment[a - 1] + 1, residue[r].item<int64_t>()});
  }
  const at::Tensor src = at::tensor(source, at::kLong);
  const at::Tensor padding = (src < 0).nonzero().squeeze(-1);
  const int64_t axis = batch.at("asym_id").dim() - 1;  // 1 with a leading sample axis
  data::FeatureDict permuted = batch;
  for (const std::string& name : chain_label_features()) {
    const auto it = batch.find(t + name);
    if (it == batch.end()) continue;
    const at::Device device = it->second.device();
    permuted[name] = it->second.index_select(axis, src.clamp_min(0).to(device)).index_fill(axis, padding.to(device), 0);
  }
  return permuted;
}

}  // namespace fold::loss
