#include "structure_module/all_atom.h"

#include <ATen/ATen.h>

#include <array>
#include <string_view>
#include <vector>

#include "data/residue_constants.h"

namespace fold::structure {

namespace rc = fold::data::rc;

namespace {

// The residue-constant tables as CPU tensors, built once.
struct Tables {
  at::Tensor default_frames;       // [21, 8, 4, 4] float
  at::Tensor atom14_to_group;      // [21, 14] int64
  at::Tensor atom14_lit_positions; // [21, 14, 3] float
  at::Tensor atom14_mask;          // [21, 14] float
  at::Tensor atom37_mask;          // [21, 37] float
  at::Tensor atom14_to_atom37;     // [21, 14] int64
  at::Tensor atom37_to_atom14;     // [21, 37] int64
  at::Tensor chi_atom_indices;     // [21, 4 chis, 4 atoms] int64 atom37 indices
  at::Tensor chi_angles_mask;      // [21, 4] float
  at::Tensor chi_pi_periodic;      // [21, 4] float
  at::Tensor group_base_atoms;     // [21, 8, 3] int64 atom37: -x point, origin, xy point
  at::Tensor group_exists;         // [21, 8] float
  at::Tensor group_is_ambiguous;   // [21, 8] float
  at::Tensor atom14_swap;          // [21, 14] int64: slot of the symmetric partner (or itself)
  at::Tensor atom14_is_ambiguous;  // [21, 14] float
};

template <class T>
at::Tensor flat_tensor(const std::vector<T>& values, std::vector<int64_t> shape, at::ScalarType type) {
  at::Tensor t = at::empty(shape, at::TensorOptions().dtype(type));
  if (type == at::kFloat) {
    float* p = t.data_ptr<float>();
    for (std::size_t i = 0; i < values.size(); ++i) p[i] = static_cast<float>(values[i]);
  } else {
    int64_t* p = t.data_ptr<int64_t>();
    for (std::size_t i = 0; i < values.size(); ++i) p[i] = static_cast<int64_t>(values[i]);
  }
  return t;
}

template <class Table2>
at::Tensor table2(const Table2& table, at::ScalarType type) {
  std::vector<double> v;
  for (const auto& row : table)
    for (const auto& x : row) v.push_back(static_cast<double>(x));
  return flat_tensor(v, {static_cast<int64_t>(table.size()), static_cast<int64_t>(table[0].size())}, type);
}

const Tables& tables() {
  static const Tables t = [] {
    Tables out;
    const int64_t r = rc::kNumRestypesWithX;
    {
      std::vector<double> v;
      for (const auto& res : rc::restype_rigid_group_default_frame())
        for (const auto& group : res)
          for (const auto& row : group)
            for (float x : row) v.push_back(x);
      out.default_frames = flat_tensor(v, {r, rc::kNumRigidGroups, 4, 4}, at::kFloat);
    }
    {
      std::vector<double> v;
      for (const auto& res : rc::restype_atom14_rigid_group_positions())
        for (const auto& atom : res)
          for (float x : atom) v.push_back(x);
      out.atom14_lit_positions = flat_tensor(v, {r, rc::kAtom14, 3}, at::kFloat);
    }
    out.atom14_to_group = table2(rc::restype_atom14_to_rigid_group(), at::kLong);
    out.atom14_mask = table2(rc::restype_atom14_mask(), at::kFloat);
    out.atom37_mask = table2(rc::restype_atom37_mask(), at::kFloat);
    out.atom14_to_atom37 = table2(rc::restype_atom14_to_atom37(), at::kLong);
    out.atom37_to_atom14 = table2(rc::restype_atom37_to_atom14(), at::kLong);
    {
      std::vector<double> v;
      for (const auto& res : rc::chi_angles_atom_indices())
        for (const auto& chi : res)
          for (int atom : chi) v.push_back(atom);
      out.chi_atom_indices = flat_tensor(v, {r, rc::kNumChi, 4}, at::kLong);
    }
    out.chi_angles_mask = table2(rc::chi_angles_mask(), at::kFloat);
    out.chi_pi_periodic = table2(rc::chi_pi_periodic(), at::kFloat);
    out.atom14_swap = table2(rc::restype_atom14_ambiguous_swap(), at::kLong);
    out.atom14_is_ambiguous = table2(rc::restype_atom14_is_ambiguous(), at::kFloat);
    {
      // Backbone from (C, CA, N) (flipped below to Algorithm 21's axes), psi from
      // (CA, C, O), chi k from its last three atoms; pre-omega and phi have no atoms.
      std::vector<double> atoms(r * rc::kNumRigidGroups * 3, 0.0), exists(r * rc::kNumRigidGroups, 0.0),
          ambiguous(r * rc::kNumRigidGroups, 0.0);
      const auto set = [&](int64_t res, int64_t group, std::array<std::string_view, 3> names) {
        for (int k = 0; k < 3; ++k) atoms[(res * rc::kNumRigidGroups + group) * 3 + k] = rc::atom_order(names[k]);
        exists[res * rc::kNumRigidGroups + group] = 1.0;
      };
      for (int64_t res = 0; res < r; ++res) {
        set(res, 0, {"C", "CA", "N"});
        set(res, 3, {"CA", "C", "O"});
        for (int chi = 0; chi < rc::kNumChi; ++chi) {
          const auto& names = rc::chi_angles_atoms()[res][chi];
          if (rc::chi_angles_mask()[res][chi] > 0) set(res, 4 + chi, {names[1], names[2], names[3]});
        }
      }
      // A side chain with a 180-degree-symmetric end has two equally right frames for
      // its last chi group.
      for (const auto& swap : rc::residue_atom_renaming_swaps) {
        const int64_t res = rc::restype_order(rc::restype_3to1(swap.resname));
        int last = -1;
        for (int chi = 0; chi < rc::kNumChi; ++chi)
          if (rc::chi_angles_mask()[res][chi] > 0) last = chi;
        ambiguous[res * rc::kNumRigidGroups + 4 + last] = 1.0;
      }
      out.group_base_atoms = flat_tensor(atoms, {r, rc::kNumRigidGroups, 3}, at::kLong);
      out.group_exists = flat_tensor(exists, {r, rc::kNumRigidGroups}, at::kFloat);
      out.group_is_ambiguous = flat_tensor(ambiguous, {r, rc::kNumRigidGroups}, at::kFloat);
    }
    return out;
  }();
  return t;
}

void check_aatype(const at::Tensor& aatype, const char* what) {
  TORCH_CHECK(aatype.defined() && !at::isFloatingType(aatype.scalar_type()), what,
              ": aatype must be an integer tensor [*, N]");
}

// table [21, X...] indexed by aatype [*, N] -> [*, N, X...] on aatype's device.
at::Tensor lookup(const at::Tensor& table, const at::Tensor& aatype) {
  const at::Tensor idx = aatype.to(at::kLong);
  const at::Tensor t = table.to(idx.device());
  auto shape = idx.sizes().vec();
  for (int64_t d = 1; d < t.dim(); ++d) shape.push_back(t.size(d));
  return t.index_select(0, idx.reshape({-1})).view(shape);
}

// Per-residue gather along the atom dim (dim = aatype.dim()) of x [*, N, A, C...] by
// index [*, N, B] -> [*, N, B, C...].
at::Tensor gather_atoms(const at::Tensor& x, const at::Tensor& index) {
  const int64_t dim = index.dim() - 1;
  at::Tensor idx = index;
  auto shape = index.sizes().vec();
  for (int64_t d = index.dim(); d < x.dim(); ++d) {
    idx = idx.unsqueeze(-1);
    shape.push_back(x.size(d));
  }
  return at::gather(x, dim, idx.expand(shape));
}

at::Tensor expand_mask(const at::Tensor& mask, const at::Tensor& like) {
  at::Tensor m = mask.to(like.scalar_type());
  while (m.dim() < like.dim()) m = m.unsqueeze(-1);
  return m;
}

}  // namespace

Rigid torsion_angles_to_frames(const Rigid& backbone, const at::Tensor& angles, const at::Tensor& aatype) {
  check_aatype(aatype, "torsion_angles_to_frames");
  TORCH_CHECK(angles.dim() >= 3 && angles.size(-1) == 2 && angles.size(-2) == rc::kNumRigidGroups - 1,
              "torsion_angles_to_frames: angles must be [*, N, 7, 2], got ", angles.sizes());
  TORCH_CHECK(angles.sizes().slice(0, angles.dim() - 2) == aatype.sizes(), "torsion_angles_to_frames: angles ",
              angles.sizes(), " and aatype ", aatype.sizes(), " disagree");
  const auto opts = angles.options();
  // Default frames of each group relative to its parent, [*, N, 8].
  const Rigid defaults = Rigid::from_tensor_4x4(lookup(tables().default_frames, aatype).to(opts));
  // The backbone group gets the identity torsion (sin 0, cos 1).
  auto bb_shape = angles.sizes().vec();
  bb_shape[bb_shape.size() - 2] = 1;
  bb_shape.back() = 1;
  const at::Tensor bb = at::cat({at::zeros(bb_shape, opts), at::ones(bb_shape, opts)}, -1);
  const at::Tensor alpha = at::cat({bb, angles}, -2);  // [*, N, 8, 2]
  const at::Tensor sin = alpha.select(-1, 0), cos = alpha.select(-1, 1);
  const at::Tensor zero = at::zeros_like(sin), one = at::ones_like(sin);
  // Algorithm 25, makeRotX: [[1, 0, 0], [0, cos, -sin], [0, sin, cos]].
  const at::Tensor rot_x =
      at::stack({one, zero, zero, zero, cos, -sin, zero, sin, cos}, -1).view(defaults.rots().rot_mats().sizes());
  const Rigid local = defaults.compose(Rigid(Rotation(rot_x), at::zeros_like(defaults.trans())));

  // Chain chi2..chi4 onto chi1 (each default frame is relative to the previous chi).
  std::vector<at::Tensor> rots, trans;
  for (int64_t g = 0; g < 5; ++g) {
    rots.push_back(local.rots().rot_mats().select(-3, g));
    trans.push_back(local.trans().select(-2, g));
  }
  Rigid chain(Rotation(rots.back()), trans.back());
  for (int64_t g = 5; g < rc::kNumRigidGroups; ++g) {
    chain = chain.compose(Rigid(Rotation(local.rots().rot_mats().select(-3, g)), local.trans().select(-2, g)));
    rots.push_back(chain.rots().rot_mats());
    trans.push_back(chain.trans());
  }
  const Rigid to_backbone(Rotation(at::stack(rots, -3)), at::stack(trans, -2));
  return backbone.unsqueeze(-1).compose(to_backbone);
}

at::Tensor frames_and_literature_positions_to_atom14_pos(const Rigid& group_frames, const at::Tensor& aatype) {
  check_aatype(aatype, "frames_and_literature_positions_to_atom14_pos");
  const at::Tensor& rot = group_frames.rots().rot_mats();  // [*, N, 8, 3, 3]
  const at::Tensor& t = group_frames.trans();              // [*, N, 8, 3]
  TORCH_CHECK(t.dim() == aatype.dim() + 2 && t.size(-2) == rc::kNumRigidGroups &&
                  t.sizes().slice(0, aatype.dim()) == aatype.sizes(),
              "frames_and_literature_positions_to_atom14_pos: frames of batch shape [*, N, 8] with aatype ",
              aatype.sizes(), ", got ", t.sizes());
  const auto opts = t.options();
  const at::Tensor group = lookup(tables().atom14_to_group, aatype);  // [*, N, 14]
  // Each atom's group frame, [*, N, 14] (a gather, the same values as OpenFold's one-hot sum).
  const Rigid atom_frames(Rotation(gather_atoms(rot, group)), gather_atoms(t, group));
  const at::Tensor lit = lookup(tables().atom14_lit_positions, aatype).to(opts);  // [*, N, 14, 3]
  const at::Tensor mask = lookup(tables().atom14_mask, aatype).to(opts).unsqueeze(-1);
  return atom_frames.apply(lit) * mask;
}

at::Tensor atom14_to_atom37(const at::Tensor& atom14, const at::Tensor& aatype) {
  check_aatype(aatype, "atom14_to_atom37");
  TORCH_CHECK(atom14.dim() > aatype.dim() && atom14.size(aatype.dim()) == rc::kAtom14 &&
                  atom14.sizes().slice(0, aatype.dim()) == aatype.sizes(),
              "atom14_to_atom37: atom14 must be [*, N, 14, ...] with aatype ", aatype.sizes(), ", got ",
              atom14.sizes());
  const at::Tensor idx = lookup(tables().atom37_to_atom14, aatype);  // [*, N, 37]
  const at::Tensor out = gather_atoms(atom14, idx);
  return out * expand_mask(lookup(tables().atom37_mask, aatype), out);
}

at::Tensor atom37_to_atom14(const at::Tensor& atom37, const at::Tensor& aatype) {
  check_aatype(aatype, "atom37_to_atom14");
  TORCH_CHECK(atom37.dim() > aatype.dim() && atom37.size(aatype.dim()) == rc::kAtom37 &&
                  atom37.sizes().slice(0, aatype.dim()) == aatype.sizes(),
              "atom37_to_atom14: atom37 must be [*, N, 37, ...] with aatype ", aatype.sizes(), ", got ",
              atom37.sizes());
  const at::Tensor idx = lookup(tables().atom14_to_atom37, aatype);  // [*, N, 14]
  const at::Tensor out = gather_atoms(atom37, idx);
  return out * expand_mask(lookup(tables().atom14_mask, aatype), out);
}

at::Tensor atom14_mask(const at::Tensor& aatype) {
  check_aatype(aatype, "atom14_mask");
  return lookup(tables().atom14_mask, aatype);
}

at::Tensor atom37_mask(const at::Tensor& aatype) {
  check_aatype(aatype, "atom37_mask");
  return lookup(tables().atom37_mask, aatype);
}

namespace {

// Per residue: atom37 index of CA for glycine, CB otherwise, [*, N] (int64).
at::Tensor pseudo_beta_index(const at::Tensor& aatype) {
  const int64_t ca = rc::atom_order("CA"), cb = rc::atom_order("CB");
  return at::where(aatype == rc::restype_order('G'), ca, cb).to(at::kLong);
}

}  // namespace

namespace {

// The four atoms of each chi angle, [*, N, 4 chis, 4 atoms, 3], and the chi mask
// [*, N, 4]: the residue type has the chi and its four atoms are observed. restype
// [*, N] in 0..20.
std::pair<at::Tensor, at::Tensor> chi_atoms(const at::Tensor& restype, const at::Tensor& positions,
                                            const at::Tensor& mask) {
  const at::Tensor chi_index = lookup(tables().chi_atom_indices, restype);
  auto flat_shape = chi_index.sizes().vec();
  flat_shape.resize(restype.dim());
  flat_shape.push_back(16);
  const at::Tensor flat_index = chi_index.reshape(flat_shape);
  auto pos_shape = chi_index.sizes().vec();
  pos_shape.push_back(3);
  const at::Tensor chi_pos = gather_atoms(positions, flat_index).reshape(pos_shape);
  const at::Tensor chi_mask = lookup(tables().chi_angles_mask, restype).to(mask.scalar_type()) *
                              at::gather(mask, -1, flat_index).reshape(chi_index.sizes()).prod(-1);
  return {chi_pos, chi_mask};
}

}  // namespace

std::pair<at::Tensor, at::Tensor> multimer_chi_angles(const at::Tensor& aatype, const at::Tensor& positions,
                                                      const at::Tensor& mask) {
  check_aatype(aatype, "multimer_chi_angles");
  const auto [p, chi_mask] = chi_atoms(aatype.to(at::kLong).clamp_max(rc::kUnkRestype), positions, mask);
  const at::Tensor a = p.select(-2, 0), b = p.select(-2, 1), c = p.select(-2, 2), d = p.select(-2, 3);
  const at::Tensor v1 = a - b, v2 = b - c, v3 = d - c;
  const at::Tensor c1 = at::linalg_cross(v1, v2, -1), c2 = at::linalg_cross(v3, v2, -1);
  const at::Tensor c3 = at::linalg_cross(c2, c1, -1);
  // |v2| clamped at 1e-6 as Vec3Array.norm is.
  const at::Tensor v2_norm = at::sqrt((v2 * v2).sum(-1).clamp_min(1e-12));
  return {at::atan2((c3 * v2).sum(-1), v2_norm * (c1 * c2).sum(-1)), chi_mask};
}

TorsionAngles atom37_to_torsion_angles(const at::Tensor& aatype, const at::Tensor& positions, const at::Tensor& mask) {
  check_aatype(aatype, "atom37_to_torsion_angles");
  const int64_t b = aatype.dim();
  TORCH_CHECK(positions.dim() == b + 2 && positions.size(-2) == rc::kAtom37 && positions.size(-1) == 3 &&
                  positions.sizes().slice(0, b) == aatype.sizes() && mask.dim() == b + 1 &&
                  mask.sizes() == positions.sizes().slice(0, b + 1),
              "atom37_to_torsion_angles: positions [*, N, 37, 3] and mask [*, N, 37] with aatype ", aatype.sizes(),
              ", got ", positions.sizes(), " and ", mask.sizes());
  TORCH_CHECK(b >= 1, "atom37_to_torsion_angles: aatype must have a residue axis");
  // Gaps (21) count as unknown residues: no chi angles.
  const at::Tensor restype = aatype.to(at::kLong).clamp_max(rc::kUnkRestype);
  const int64_t res_dim = b - 1;
  // The previous residue's atoms (zeros, unobserved, before the first residue).
  const auto previous = [&](const at::Tensor& x) {
    return at::cat({at::zeros_like(x.narrow(res_dim, 0, 1)), x.narrow(res_dim, 0, x.size(res_dim) - 1)}, res_dim);
  };
  const at::Tensor prev_pos = previous(positions), prev_mask = previous(mask);
  // atom37 order starts N, CA, C, CB, O: pre-omega is CA-C of i-1 then N-CA of i, phi
  // C of i-1 then N-CA-C, psi N-CA-C-O.
  const auto rows = [](const at::Tensor& x, int64_t dim, std::vector<int64_t> atoms) {
    return x.index_select(dim, at::tensor(atoms, at::kLong).to(x.device()));
  };
  const auto pos_rows = [&](const at::Tensor& x, std::vector<int64_t> atoms) { return rows(x, -2, atoms); };
  const auto mask_prod = [&](const at::Tensor& x, std::vector<int64_t> atoms) { return rows(x, -1, atoms).prod(-1); };
  const at::Tensor pre_omega = at::cat({pos_rows(prev_pos, {1, 2}), pos_rows(positions, {0, 1})}, -2);
  const at::Tensor phi = at::cat({pos_rows(prev_pos, {2}), pos_rows(positions, {0, 1, 2})}, -2);
  const at::Tensor psi = pos_rows(positions, {0, 1, 2, 4});
  const at::Tensor pre_omega_mask = mask_prod(prev_mask, {1, 2}) * mask_prod(mask, {0, 1});
  const at::Tensor phi_mask = mask_prod(prev_mask, {2}) * mask_prod(mask, {0, 1, 2});
  const at::Tensor psi_mask = mask_prod(mask, {0, 1, 2, 4});

  const auto [chi_pos, chi_mask] = chi_atoms(restype, positions, mask);

  // [*, N, 7, 4 atoms, 3]
  const at::Tensor four = at::cat({pre_omega.unsqueeze(-3), phi.unsqueeze(-3), psi.unsqueeze(-3), chi_pos}, -3);
  const at::Tensor torsion_mask =
      at::cat({pre_omega_mask.unsqueeze(-1), phi_mask.unsqueeze(-1), psi_mask.unsqueeze(-1), chi_mask}, -1);
  // The torsion about atoms 1-2 is the direction of atom 3 in the frame with atom 2 at
  // the origin, atom 1 on the negative x axis and atom 0 in the xy plane: (z, y)
  // normalised is (sin, cos).
  const Rigid frames =
      Rigid::from_3_points(four.select(-2, 1), four.select(-2, 2), four.select(-2, 0), /*eps=*/1e-8);
  const at::Tensor local = frames.invert().apply(four.select(-2, 3));
  at::Tensor sin_cos = at::stack({local.select(-1, 2), local.select(-1, 1)}, -1);
  sin_cos = sin_cos / at::sqrt(sin_cos.square().sum(-1, true) + 1e-8);
  // AF2 measures psi through O, half a turn from the N of the next residue.
  const at::Tensor psi_sign = at::tensor({1.0f, 1.0f, -1.0f, 1.0f, 1.0f, 1.0f, 1.0f}).to(sin_cos.options());
  // Undefined torsions are (0, 0). OpenFold leaves whatever the Gram-Schmidt gives
  // there: 0 when all four atoms are missing, but rounding noise when only some are
  // (e.g. pre-omega after an unobserved residue), and that noise would reach the
  // template angle features, which are not masked.
  sin_cos = sin_cos * psi_sign.unsqueeze(-1) * torsion_mask.unsqueeze(-1).to(sin_cos.scalar_type());
  // Chis defined modulo pi flip to their alternative.
  const at::Tensor periodic = lookup(tables().chi_pi_periodic, restype).to(sin_cos.options());
  auto ones_shape = periodic.sizes().vec();
  ones_shape.back() = 3;
  const at::Tensor mirror = at::cat({at::ones(ones_shape, sin_cos.options()), 1.0 - 2.0 * periodic}, -1);
  return {sin_cos, sin_cos * mirror.unsqueeze(-1), torsion_mask};
}

Atom14GroundTruth atom14_ground_truth(const at::Tensor& aatype, const at::Tensor& positions, const at::Tensor& mask) {
  check_aatype(aatype, "atom14_ground_truth");
  const at::Tensor restype = aatype.to(at::kLong);
  Atom14GroundTruth g;
  g.residx_atom14_to_atom37 = lookup(tables().atom14_to_atom37, restype);
  g.residx_atom37_to_atom14 = lookup(tables().atom37_to_atom14, restype);
  g.atom14_atom_exists = atom14_mask(restype);
  g.atom37_atom_exists = atom37_mask(restype);
  g.gt_exists = atom37_to_atom14(mask, restype) * g.atom14_atom_exists;
  g.gt_positions = atom37_to_atom14(positions, restype) * g.gt_exists.unsqueeze(-1);
  // The other naming of 180-degree-symmetric side chains (ASP, GLU, PHE, TYR).
  const at::Tensor partner = lookup(tables().atom14_swap, restype);
  g.alt_gt_positions = gather_atoms(g.gt_positions, partner);
  g.alt_gt_exists = at::gather(g.gt_exists, -1, partner);
  g.atom_is_ambiguous = lookup(tables().atom14_is_ambiguous, restype);
  return g;
}

RigidGroupFrames atom37_to_frames(const at::Tensor& aatype, const at::Tensor& positions, const at::Tensor& mask) {
  check_aatype(aatype, "atom37_to_frames");
  const int64_t b = aatype.dim();
  TORCH_CHECK(b >= 1 && positions.dim() == b + 2 && positions.size(-2) == rc::kAtom37 && positions.size(-1) == 3 &&
                  positions.sizes().slice(0, b) == aatype.sizes() && mask.sizes() == positions.sizes().slice(0, b + 1),
              "atom37_to_frames: positions [*, N, 37, 3] and mask [*, N, 37] with aatype ", aatype.sizes(), ", got ",
              positions.sizes(), " and ", mask.sizes());
  const at::Tensor restype = aatype.to(at::kLong).clamp_max(rc::kUnkRestype);
  const at::Tensor base = lookup(tables().group_base_atoms, restype);  // [*, N, 8, 3]
  auto flat_shape = base.sizes().vec();
  flat_shape.resize(b);
  flat_shape.push_back(rc::kNumRigidGroups * 3);
  const at::Tensor flat = base.reshape(flat_shape);
  auto pos_shape = base.sizes().vec();
  pos_shape.push_back(3);
  const at::Tensor base_pos = gather_atoms(positions, flat).reshape(pos_shape);  // [*, N, 8, 3, 3]
  const Rigid from_atoms = Rigid::from_3_points(base_pos.select(-2, 0), base_pos.select(-2, 1), base_pos.select(-2, 2));
  // from_3_points puts the backbone's x axis along CA - C; Algorithm 21 has it along
  // C - CA: a half turn about y for group 0.
  auto flip_shape = std::vector<int64_t>(b, 1);
  flip_shape.insert(flip_shape.end(), {rc::kNumRigidGroups, 3, 3});
  at::Tensor flip = at::eye(3, positions.options()).repeat({rc::kNumRigidGroups, 1, 1});
  flip[0][0][0] = -1;
  flip[0][2][2] = -1;
  const Rigid gt = from_atoms.compose(Rigid(Rotation(flip.view(flip_shape)), at::zeros({3}, positions.options())));

  const at::Tensor group_exists = lookup(tables().group_exists, restype).to(mask.scalar_type());
  const at::Tensor atoms_seen = at::gather(mask, -1, flat).reshape(base.sizes()).amin(-1);
  const at::Tensor ambiguous = lookup(tables().group_is_ambiguous, restype).to(positions.scalar_type());
  // The alternative frame: a half turn about x for the ambiguous groups.
  const at::Tensor sign = 1.0 - 2.0 * ambiguous;
  const at::Tensor ones = at::ones_like(sign);
  const at::Tensor alt_rot = at::diag_embed(at::stack({ones, sign, sign}, -1));
  const Rigid alt = gt.compose(Rigid(Rotation(alt_rot), at::zeros({3}, positions.options())));
  return {gt, alt, atoms_seen * group_exists, group_exists, ambiguous.to(mask.scalar_type())};
}

at::Tensor pseudo_beta(const at::Tensor& aatype, const at::Tensor& atom37_positions) {
  check_aatype(aatype, "pseudo_beta");
  std::vector<int64_t> shape = atom37_positions.sizes().vec();
  shape[shape.size() - 2] = 1;
  const at::Tensor index = pseudo_beta_index(aatype).unsqueeze(-1).unsqueeze(-1).expand(shape);
  return atom37_positions.gather(-2, index).squeeze(-2);
}

at::Tensor pseudo_beta_mask(const at::Tensor& aatype, const at::Tensor& atom37_mask) {
  check_aatype(aatype, "pseudo_beta_mask");
  return atom37_mask.gather(-1, pseudo_beta_index(aatype).unsqueeze(-1)).squeeze(-1);
}

}  // namespace fold::structure
