#include "fold/loss/structural_violations.h"

#include <ATen/ATen.h>

#include <mutex>
#include <sstream>
#include <stdexcept>
#include <utility>
#include <vector>

#include "data/residue_constants.h"
#include "fold/config_section.h"

namespace fold::loss {

namespace rc = fold::data::rc;

namespace {

constexpr int64_t kN = 0, kCA = 1, kC = 2;  // atom14 (and atom37) slots of the backbone
constexpr int64_t kCysSg = 5;               // atom14 slot of CYS SG

std::string shape_str(at::IntArrayRef shape) {
  std::ostringstream s;
  s << '[';
  for (size_t i = 0; i < shape.size(); ++i) s << (i ? ", " : "") << shape[i];
  s << ']';
  return s.str();
}

// fp32 for everything but fp64 (kept, so that gradients can be checked in double).
at::ScalarType compute_dtype(const at::Tensor& t) {
  return t.scalar_type() == at::kDouble ? at::kDouble : at::kFloat;
}

void expect_shape(const at::Tensor& t, std::vector<int64_t> shape, const std::string& what, const std::string& who) {
  if (!t.defined() || t.sizes() != at::IntArrayRef(shape))
    throw std::invalid_argument(who + ": " + what + " has shape " + (t.defined() ? shape_str(t.sizes()) : "<undefined>") +
                                ", expected " + shape_str(shape));
}

std::vector<int64_t> with_tail(at::IntArrayRef lead, std::initializer_list<int64_t> tail) {
  std::vector<int64_t> s(lead.begin(), lead.end());
  s.insert(s.end(), tail);
  return s;
}

// x[..., :-1] and x[..., 1:] along dimension `dim` of size n.
at::Tensor head(const at::Tensor& x, int64_t dim, int64_t n) { return x.slice(dim, 0, n - 1); }
at::Tensor tail(const at::Tensor& x, int64_t dim, int64_t n) { return x.slice(dim, 1, n); }

at::Tensor masked_mean(const at::Tensor& mask, const at::Tensor& value, int64_t dim, double eps = 1e-4) {
  const at::Tensor m = mask.to(value.scalar_type()).expand_as(value);
  return (m * value).sum(dim) / (m.sum(dim) + eps);
}

// The 37 van der Waals radii (atom type = first letter of the atom name), CPU float.
const at::Tensor& atom37_radius_table() {
  static const at::Tensor table = [] {
    at::Tensor t = at::empty({rc::kAtom37}, at::kFloat);
    for (int i = 0; i < rc::kAtom37; ++i) t[i] = rc::atom_type_vdw_radius(i);
    return t;
  }();
  return table;
}

// rc::make_atom14_dists_bounds as CPU float tensors [21, 14, 14] (lower, upper), cached
// per (overlap tolerance, bond length tolerance factor).
std::pair<at::Tensor, at::Tensor> atom14_bounds_tables(double overlap_tolerance, double tolerance_factor) {
  static std::mutex mutex;
  static std::map<std::pair<double, double>, std::pair<at::Tensor, at::Tensor>> cache;
  std::lock_guard<std::mutex> lock(mutex);
  const auto key = std::make_pair(overlap_tolerance, tolerance_factor);
  auto it = cache.find(key);
  if (it == cache.end()) {
    const rc::Atom14DistBounds b = rc::make_atom14_dists_bounds(overlap_tolerance, tolerance_factor);
    at::Tensor lower = at::empty({rc::kNumRestypesWithX, rc::kAtom14, rc::kAtom14}, at::kFloat);
    at::Tensor upper = at::empty_like(lower);
    float* lo = lower.data_ptr<float>();
    float* up = upper.data_ptr<float>();
    for (int r = 0; r < rc::kNumRestypesWithX; ++r)
      for (int i = 0; i < rc::kAtom14; ++i)
        for (int j = 0; j < rc::kAtom14; ++j) {
          const int64_t k = (static_cast<int64_t>(r) * rc::kAtom14 + i) * rc::kAtom14 + j;
          lo[k] = b.lower_bound[r][i][j];
          up[k] = b.upper_bound[r][i][j];
        }
    it = cache.emplace(key, std::make_pair(lower, upper)).first;
  }
  return it->second;
}

// A [14, 14] matrix with a single 1 at (i, j).
at::Tensor pair_indicator(int64_t i, int64_t j, const at::TensorOptions& options) {
  at::Tensor m = at::zeros({rc::kAtom14, rc::kAtom14}, options);
  m.index_put_({i, j}, 1);
  return m;
}

const at::Tensor& require(const std::map<std::string, at::Tensor>& dict, const std::string& key,
                          const std::string& who) {
  const auto it = dict.find(key);
  if (it == dict.end()) throw std::invalid_argument(who + ": missing violation entry '" + key + "'");
  return it->second;
}

}  // namespace

std::map<std::string, at::Tensor> between_residue_bond_loss(const at::Tensor& pred_atom_positions,
                                                            const at::Tensor& pred_atom_mask,
                                                            const at::Tensor& residue_index, const at::Tensor& aatype,
                                                            double tolerance_factor_soft, double tolerance_factor_hard,
                                                            double eps) {
  const auto dt = compute_dtype(pred_atom_positions);
  const at::Tensor pos = pred_atom_positions.to(dt);
  const at::Tensor mask = pred_atom_mask.to(dt);
  const at::Tensor ri = residue_index.to(at::kLong);
  const int64_t n = pos.size(-3);

  // Atoms of residue i (this_*) and of residue i + 1 (next_*), i = 0 .. N-2.
  const at::Tensor this_pos = head(pos, -3, n), next_pos = tail(pos, -3, n);
  const at::Tensor this_mask = head(mask, -2, n), next_mask = tail(mask, -2, n);
  const at::Tensor this_ca = this_pos.select(-2, kCA), this_c = this_pos.select(-2, kC);
  const at::Tensor next_n = next_pos.select(-2, kN), next_ca = next_pos.select(-2, kCA);
  const at::Tensor this_ca_mask = this_mask.select(-1, kCA), this_c_mask = this_mask.select(-1, kC);
  const at::Tensor next_n_mask = next_mask.select(-1, kN), next_ca_mask = next_mask.select(-1, kCA);
  const at::Tensor no_gap = (tail(ri, -1, n) - head(ri, -1, n) == 1).to(dt);

  // Eq. 44: the C-N bond; to a proline it is slightly longer (the ring).
  const at::Tensor c_n_length = at::sqrt((this_c - next_n).pow(2).sum(-1) + eps);
  const at::Tensor next_is_pro = (tail(aatype.to(at::kLong), -1, n) == rc::restype_order('P')).to(dt);
  const at::Tensor not_pro = 1 - next_is_pro;
  const at::Tensor gt_length =
      not_pro * rc::between_res_bond_length_c_n[0] + next_is_pro * rc::between_res_bond_length_c_n[1];
  const at::Tensor gt_stddev =
      not_pro * rc::between_res_bond_length_stddev_c_n[0] + next_is_pro * rc::between_res_bond_length_stddev_c_n[1];
  const at::Tensor c_n_error = at::sqrt((c_n_length - gt_length).pow(2) + eps);
  const at::Tensor c_n_loss_per_residue = at::relu(c_n_error - tolerance_factor_soft * gt_stddev);
  const at::Tensor c_n_mask = this_c_mask * next_n_mask * no_gap;
  const at::Tensor c_n_loss = (c_n_mask * c_n_loss_per_residue).sum(-1) / (c_n_mask.sum(-1) + eps);
  const at::Tensor c_n_violation = c_n_mask * (c_n_error > tolerance_factor_hard * gt_stddev).to(dt);

  // Eq. 45: the two angles around the peptide bond, as cosines.
  const at::Tensor ca_c_length = at::sqrt((this_ca - this_c).pow(2).sum(-1) + eps);
  const at::Tensor n_ca_length = at::sqrt((next_n - next_ca).pow(2).sum(-1) + eps);
  const at::Tensor c_ca_unit = (this_ca - this_c) / ca_c_length.unsqueeze(-1);
  const at::Tensor c_n_unit = (next_n - this_c) / c_n_length.unsqueeze(-1);
  const at::Tensor n_ca_unit = (next_ca - next_n) / n_ca_length.unsqueeze(-1);

  // CA-C-N. AF2 (and OpenFold) take the C-N *bond length* stddev as this angle's
  // tolerance unit; kept for identical numbers.
  const at::Tensor ca_c_n_cos = (c_ca_unit * c_n_unit).sum(-1);
  const double ca_c_n_gt = rc::between_res_cos_angles_ca_c_n[0];
  const double ca_c_n_stddev = rc::between_res_bond_length_stddev_c_n[0];
  const at::Tensor ca_c_n_error = at::sqrt((ca_c_n_cos - ca_c_n_gt).pow(2) + eps);
  const at::Tensor ca_c_n_loss_per_residue = at::relu(ca_c_n_error - tolerance_factor_soft * ca_c_n_stddev);
  const at::Tensor ca_c_n_mask = this_ca_mask * this_c_mask * next_n_mask * no_gap;
  const at::Tensor ca_c_n_loss = (ca_c_n_mask * ca_c_n_loss_per_residue).sum(-1) / (ca_c_n_mask.sum(-1) + eps);
  const at::Tensor ca_c_n_violation = ca_c_n_mask * (ca_c_n_error > tolerance_factor_hard * ca_c_n_stddev).to(dt);

  // C-N-CA.
  const at::Tensor c_n_ca_cos = ((-c_n_unit) * n_ca_unit).sum(-1);
  const double c_n_ca_gt = rc::between_res_cos_angles_c_n_ca[0];
  const double c_n_ca_stddev = rc::between_res_cos_angles_c_n_ca[1];
  const at::Tensor c_n_ca_error = at::sqrt((c_n_ca_cos - c_n_ca_gt).pow(2) + eps);
  const at::Tensor c_n_ca_loss_per_residue = at::relu(c_n_ca_error - tolerance_factor_soft * c_n_ca_stddev);
  const at::Tensor c_n_ca_mask = this_c_mask * next_n_mask * next_ca_mask * no_gap;
  const at::Tensor c_n_ca_loss = (c_n_ca_mask * c_n_ca_loss_per_residue).sum(-1) / (c_n_ca_mask.sum(-1) + eps);
  const at::Tensor c_n_ca_violation = c_n_ca_mask * (c_n_ca_error > tolerance_factor_hard * c_n_ca_stddev).to(dt);

  // Per residue: each connection's loss split between its two residues (unmasked, as
  // AF2), and the hard violations of either connection.
  const at::Tensor per_connection = c_n_loss_per_residue + ca_c_n_loss_per_residue + c_n_ca_loss_per_residue;
  const at::Tensor per_residue_loss_sum =
      0.5 * (at::constant_pad_nd(per_connection, {0, 1}) + at::constant_pad_nd(per_connection, {1, 0}));
  const at::Tensor connection_violation = at::maximum(at::maximum(c_n_violation, ca_c_n_violation), c_n_ca_violation);
  const at::Tensor per_residue_violation =
      at::maximum(at::constant_pad_nd(connection_violation, {0, 1}), at::constant_pad_nd(connection_violation, {1, 0}));

  return {{"c_n_loss_mean", c_n_loss},
          {"ca_c_n_loss_mean", ca_c_n_loss},
          {"c_n_ca_loss_mean", c_n_ca_loss},
          {"per_residue_loss_sum", per_residue_loss_sum},
          {"per_residue_violation_mask", per_residue_violation}};
}

std::map<std::string, at::Tensor> between_residue_clash_loss(const at::Tensor& atom14_pred_positions,
                                                             const at::Tensor& atom14_atom_exists,
                                                             const at::Tensor& atom14_atom_radius,
                                                             const at::Tensor& residue_index,
                                                             double overlap_tolerance_soft,
                                                             double overlap_tolerance_hard, double eps,
                                                             const at::Tensor& asym_id) {
  const auto dt = compute_dtype(atom14_pred_positions);
  const at::Tensor pos = atom14_pred_positions.to(dt);
  const at::Tensor exists = atom14_atom_exists.to(dt);
  const at::Tensor radius = atom14_atom_radius.to(dt);
  const at::Tensor ri = residue_index.to(at::kLong);
  const auto options = pos.options().requires_grad(false);

  // Pairs (residue i, residue j, atom a, atom b): [*, N, N, 14, 14]. Operand shapes:
  // "i a" = [*, N, 1, 14, 1], "j b" = [*, 1, N, 1, 14].
  auto as_ia = [](const at::Tensor& t) { return t.unsqueeze(-1).unsqueeze(-3); };  // [*, N, 14] -> i a
  auto as_jb = [](const at::Tensor& t) { return t.unsqueeze(-2).unsqueeze(-4); };  // [*, N, 14] -> j b
  const at::Tensor dists =
      at::sqrt((pos.unsqueeze(-2).unsqueeze(-4) - pos.unsqueeze(-3).unsqueeze(-5)).pow(2).sum(-1) + eps);

  // Existing atoms, each pair of residues once (i before j, so never the same residue).
  const at::Tensor ri_i = ri.unsqueeze(-1), ri_j = ri.unsqueeze(-2);  // [*, N, 1], [*, 1, N]
  at::Tensor dists_mask = as_ia(exists) * as_jb(exists) * (ri_i < ri_j).to(dt).unsqueeze(-1).unsqueeze(-1);
  // The peptide bond C(i)-N(i+1) is no clash.
  at::Tensor neighbour = ri_i + 1 == ri_j;
  // Residue numbers restart in every chain of a complex: only a chain's own next residue is bonded.
  if (asym_id.defined()) neighbour = neighbour & (asym_id.unsqueeze(-1) == asym_id.unsqueeze(-2));
  neighbour = neighbour.to(dt).unsqueeze(-1).unsqueeze(-1);
  dists_mask = dists_mask * (1 - neighbour * pair_indicator(kC, kN, options));
  // Nor is a disulfide bridge: AF2 drops every slot-5 (CYS SG) pair, whatever the types.
  dists_mask = dists_mask * (1 - pair_indicator(kCysSg, kCysSg, options));

  const at::Tensor dists_lower_bound = dists_mask * (as_ia(radius) + as_jb(radius));
  const at::Tensor dists_to_low_error = dists_mask * at::relu(dists_lower_bound - overlap_tolerance_soft - dists);
  // Pooled over everything, the batch included (OpenFold's torch.sum without dims).
  const at::Tensor mean_loss = dists_to_low_error.sum() / (dists_mask.sum() + 1e-6);
  const at::Tensor per_atom_loss_sum = dists_to_low_error.sum({-4, -2}) + dists_to_low_error.sum({-3, -1});

  const at::Tensor clash_mask = dists_mask * (dists < dists_lower_bound - overlap_tolerance_hard).to(dt);
  const at::Tensor per_atom_num_clash = clash_mask.sum({-4, -2}) + clash_mask.sum({-3, -1});
  const at::Tensor per_atom_clash_mask = at::maximum(clash_mask.amax({-4, -2}), clash_mask.amax({-3, -1}));

  return {{"mean_loss", mean_loss},
          {"per_atom_loss_sum", per_atom_loss_sum},
          {"per_atom_clash_mask", per_atom_clash_mask},
          {"per_atom_num_clash", per_atom_num_clash}};
}

std::map<std::string, at::Tensor> within_residue_violations(const at::Tensor& atom14_pred_positions,
                                                            const at::Tensor& atom14_atom_exists,
                                                            const at::Tensor& atom14_dists_lower_bound,
                                                            const at::Tensor& atom14_dists_upper_bound,
                                                            double tighten_bounds_for_loss, double eps) {
  const auto dt = compute_dtype(atom14_pred_positions);
  const at::Tensor pos = atom14_pred_positions.to(dt);
  const at::Tensor exists = atom14_atom_exists.to(dt);
  const at::Tensor lower = atom14_dists_lower_bound.to(dt);
  const at::Tensor upper = atom14_dists_upper_bound.to(dt);

  // Distinct existing atoms of the same residue: [*, N, 14, 14].
  const at::Tensor off_diagonal = 1 - at::eye(rc::kAtom14, pos.options().requires_grad(false));
  const at::Tensor dists_mask = exists.unsqueeze(-1) * exists.unsqueeze(-2) * off_diagonal;
  const at::Tensor dists = at::sqrt((pos.unsqueeze(-2) - pos.unsqueeze(-3)).pow(2).sum(-1) + eps);

  const at::Tensor low_error = at::relu(lower + tighten_bounds_for_loss - dists);
  const at::Tensor high_error = at::relu(dists - (upper - tighten_bounds_for_loss));
  const at::Tensor loss = dists_mask * (low_error + high_error);
  const at::Tensor per_atom_loss_sum = loss.sum(-2) + loss.sum(-1);

  const at::Tensor violations = dists_mask * at::logical_or(dists < lower, dists > upper).to(dt);
  const at::Tensor per_atom_num_clash = violations.sum(-2) + violations.sum(-1);
  const at::Tensor per_atom_violations = at::maximum(violations.amax(-2), violations.amax(-1));

  return {{"per_atom_loss_sum", per_atom_loss_sum},
          {"per_atom_violations", per_atom_violations},
          {"per_atom_num_clash", per_atom_num_clash}};
}

ViolationOptions ViolationOptions::from_config(const Config& c) {
  ViolationOptions o;
  read_section(c, "loss.violation", {{"violation_tolerance_factor", &o.violation_tolerance_factor},
                                     {"clash_overlap_tolerance", &o.clash_overlap_tolerance},
                                     {"average_clashes", &o.average_clashes}, {"eps", &o.eps},
                                     {"weight", &o.weight}});
  return o;
}

std::map<std::string, at::Tensor> find_structural_violations(const data::FeatureDict& batch,
                                                             const at::Tensor& atom14_pred_positions,
                                                             const ViolationOptions& options) {
  static const std::string who = "find_structural_violations";
  const at::Tensor& pos_in = atom14_pred_positions;
  if (!pos_in.defined() || pos_in.dim() < 3 || pos_in.size(-1) != 3 || pos_in.size(-2) != rc::kAtom14)
    throw std::invalid_argument(who + ": atom14_pred_positions has shape " +
                                (pos_in.defined() ? shape_str(pos_in.sizes()) : "<undefined>") +
                                ", expected [*, N, 14, 3]");
  if (!at::isFloatingType(pos_in.scalar_type()))
    throw std::invalid_argument(who + ": atom14_pred_positions must be floating point");
  const at::IntArrayRef lead = pos_in.sizes().slice(0, pos_in.dim() - 2);  // [*, N]
  if (lead.back() == 0) throw std::invalid_argument(who + ": atom14_pred_positions has no residues");

  const at::Tensor& aatype_in = data::require_feature(batch, "aatype", who);
  const at::Tensor& residue_index_in = data::require_feature(batch, "residue_index", who);
  const at::Tensor& exists_in = data::require_feature(batch, "atom14_atom_exists", who);
  const at::Tensor& to37_in = data::require_feature(batch, "residx_atom14_to_atom37", who);
  const std::vector<int64_t> lead_v(lead.begin(), lead.end());
  expect_shape(aatype_in, lead_v, "feature 'aatype'", who);
  expect_shape(residue_index_in, lead_v, "feature 'residue_index'", who);
  expect_shape(exists_in, with_tail(lead, {rc::kAtom14}), "feature 'atom14_atom_exists'", who);
  expect_shape(to37_in, with_tail(lead, {rc::kAtom14}), "feature 'residx_atom14_to_atom37'", who);

  const auto dt = compute_dtype(pos_in);
  const at::Device device = pos_in.device();
  const at::Tensor pos = pos_in.to(dt);
  const at::Tensor aatype = aatype_in.to(device, at::kLong);
  const at::Tensor residue_index = residue_index_in.to(device, at::kLong);
  const at::Tensor exists = exists_in.to(device, dt);
  const at::Tensor to37 = to37_in.to(device, at::kLong);
  {
    const auto aa_range = at::aminmax(aatype);
    const auto i37_range = at::aminmax(to37);
    if (std::get<0>(aa_range).item<int64_t>() < 0 || std::get<1>(aa_range).item<int64_t>() >= rc::kNumRestypesWithX)
      throw std::invalid_argument(who + ": feature 'aatype' holds values outside 0..20");
    if (std::get<0>(i37_range).item<int64_t>() < 0 || std::get<1>(i37_range).item<int64_t>() >= rc::kAtom37)
      throw std::invalid_argument(who + ": feature 'residx_atom14_to_atom37' holds values outside 0..36");
  }

  const auto tol = options.violation_tolerance_factor;
  const auto overlap = options.clash_overlap_tolerance;

  // Eq. 44-45.
  const auto connection = between_residue_bond_loss(pos, exists, residue_index, aatype, tol, tol);

  // Eq. 46 between residues: radii from the element (first letter of the atom name).
  const at::Tensor radius = exists * atom37_radius_table().to(device, dt).index({to37});
  const auto asym = batch.find("asym_id");
  const at::Tensor asym_id = asym == batch.end() ? at::Tensor() : asym->second.to(device);
  if (asym_id.defined()) expect_shape(asym_id, lead_v, "feature 'asym_id'", who);
  const auto clashes =
      between_residue_clash_loss(pos, exists, radius, residue_index, overlap, overlap, 1e-10, asym_id);

  // Eq. 46 within residues: bonds, angles (as distances) and clashes.
  const auto [lower_table, upper_table] = atom14_bounds_tables(overlap, tol);
  const at::Tensor lower = lower_table.to(device, dt).index({aatype});
  const at::Tensor upper = upper_table.to(device, dt).index({aatype});
  const auto within = within_residue_violations(pos, exists, lower, upper, 0.0);

  // One per-residue violation flag (used for the lDDT of violating residues).
  const at::Tensor total_mask =
      at::maximum(at::maximum(connection.at("per_residue_violation_mask"), clashes.at("per_atom_clash_mask").amax(-1)),
                  within.at("per_atom_violations").amax(-1));

  return {
      {"between_residues/bonds_c_n_loss_mean", connection.at("c_n_loss_mean")},
      {"between_residues/angles_ca_c_n_loss_mean", connection.at("ca_c_n_loss_mean")},
      {"between_residues/angles_c_n_ca_loss_mean", connection.at("c_n_ca_loss_mean")},
      {"between_residues/connections_per_residue_loss_sum", connection.at("per_residue_loss_sum")},
      {"between_residues/connections_per_residue_violation_mask", connection.at("per_residue_violation_mask")},
      {"between_residues/clashes_mean_loss", clashes.at("mean_loss")},
      {"between_residues/clashes_per_atom_loss_sum", clashes.at("per_atom_loss_sum")},
      {"between_residues/clashes_per_atom_clash_mask", clashes.at("per_atom_clash_mask")},
      {"between_residues/clashes_per_atom_num_clash", clashes.at("per_atom_num_clash")},
      {"within_residues/per_atom_loss_sum", within.at("per_atom_loss_sum")},
      {"within_residues/per_atom_violations", within.at("per_atom_violations")},
      {"within_residues/per_atom_num_clash", within.at("per_atom_num_clash")},
      {"total_per_residue_violations_mask", total_mask},
  };
}

at::Tensor violation_loss(const std::map<std::string, at::Tensor>& violations, const at::Tensor& atom14_atom_exists,
                          const ViolationOptions& options) {
  static const std::string who = "violation_loss";
  const at::Tensor& between_clash = require(violations, "between_residues/clashes_per_atom_loss_sum", who);
  const at::Tensor& within_clash = require(violations, "within_residues/per_atom_loss_sum", who);
  const at::Tensor& c_n = require(violations, "between_residues/bonds_c_n_loss_mean", who);
  const at::Tensor& ca_c_n = require(violations, "between_residues/angles_ca_c_n_loss_mean", who);
  const at::Tensor& c_n_ca = require(violations, "between_residues/angles_c_n_ca_loss_mean", who);
  if (!atom14_atom_exists.defined() || atom14_atom_exists.sizes() != between_clash.sizes())
    throw std::invalid_argument(who + ": atom14_atom_exists has shape " +
                                (atom14_atom_exists.defined() ? shape_str(atom14_atom_exists.sizes()) : "<undefined>") +
                                ", expected " + shape_str(between_clash.sizes()));
  const auto dt = compute_dtype(between_clash);
  const double eps = options.eps;

  const at::Tensor num_atoms = atom14_atom_exists.to(between_clash.device(), dt).sum();
  at::Tensor per_atom_clash = between_clash.to(dt) + within_clash.to(dt);
  if (options.average_clashes) {
    const at::Tensor num_clash = require(violations, "between_residues/clashes_per_atom_num_clash", who).to(dt) +
                                 require(violations, "within_residues/per_atom_num_clash", who).to(dt);
    per_atom_clash = per_atom_clash / (num_clash + eps);
  }
  // Pooled over the batch, as OpenFold's torch.sum without dims.
  const at::Tensor clash = per_atom_clash.sum() / (num_atoms + eps);
  const at::Tensor loss = c_n.to(dt) + ca_c_n.to(dt) + c_n_ca.to(dt) + clash;
  return loss.mean();
}

at::Tensor extreme_ca_ca_distance_violations(const at::Tensor& pred_atom_positions, const at::Tensor& pred_atom_mask,
                                             const at::Tensor& residue_index, double max_angstrom_tolerance,
                                             double eps) {
  const auto dt = compute_dtype(pred_atom_positions);
  const at::Tensor pos = pred_atom_positions.to(dt);
  const at::Tensor mask = pred_atom_mask.to(dt);
  const at::Tensor ri = residue_index.to(at::kLong);
  const int64_t n = pos.size(-3);
  const at::Tensor this_ca = head(pos, -3, n).select(-2, kCA), next_ca = tail(pos, -3, n).select(-2, kCA);
  const at::Tensor no_gap = (tail(ri, -1, n) - head(ri, -1, n) == 1).to(dt);
  const at::Tensor ca_ca = at::sqrt((this_ca - next_ca).pow(2).sum(-1) + eps);
  const at::Tensor violations = (ca_ca - rc::kCaCaDistance > max_angstrom_tolerance).to(dt);
  const at::Tensor pair_mask = head(mask, -2, n).select(-1, kCA) * tail(mask, -2, n).select(-1, kCA) * no_gap;
  return masked_mean(pair_mask, violations, -1);
}

std::map<std::string, at::Tensor> compute_violation_metrics(const data::FeatureDict& batch,
                                                            const at::Tensor& atom14_pred_positions,
                                                            const std::map<std::string, at::Tensor>& violations) {
  static const std::string who = "compute_violation_metrics";
  at::NoGradGuard no_grad;
  const at::Tensor& seq_mask = data::require_feature(batch, "seq_mask", who);
  const at::Tensor& exists = data::require_feature(batch, "atom14_atom_exists", who);
  const at::Tensor& residue_index = data::require_feature(batch, "residue_index", who);
  const at::Tensor pos = atom14_pred_positions.detach();
  const at::Tensor& connection = require(violations, "between_residues/connections_per_residue_violation_mask", who);
  expect_shape(seq_mask, connection.sizes().vec(), "feature 'seq_mask'", who);
  const auto mean = [&](const at::Tensor& v) { return masked_mean(seq_mask.to(v.device()), v, -1); };
  return {
      {"violations_extreme_ca_ca_distance",
       extreme_ca_ca_distance_violations(pos, exists.to(pos.device()), residue_index.to(pos.device()))},
      {"violations_between_residue_bond", mean(connection)},
      {"violations_between_residue_clash",
       mean(require(violations, "between_residues/clashes_per_atom_clash_mask", who).amax(-1))},
      {"violations_within_residue", mean(require(violations, "within_residues/per_atom_violations", who).amax(-1))},
      {"violations_per_residue", mean(require(violations, "total_per_residue_violations_mask", who))},
  };
}

}  // namespace fold::loss
