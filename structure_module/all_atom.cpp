#include "structure_module/all_atom.h"

#include <ATen/ATen.h>

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
