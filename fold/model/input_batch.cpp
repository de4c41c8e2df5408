#include "fold/model/input_batch.h"

#include <ATen/ATen.h>

#include <map>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

namespace fold {

namespace {

// A dimension: a letter shared across features (N, S, E, T, R) or a fixed size.
struct Dim {
  char symbol;   // 0 for a fixed size
  int64_t size;  // the fixed size
};
constexpr Dim N{'N', 0}, S{'S', 0}, E{'E', 0}, T{'T', 0}, R{'R', 0};
constexpr Dim fixed(int64_t n) { return {0, n}; }

struct Spec {
  const char* name;
  std::vector<Dim> dims;
  bool required;
};

// What AlphaFoldImpl::forward reads (fold/model/*.cpp), in the order a reader meets them.
std::vector<Spec> specs(int64_t tf_dim, bool multimer) {
  std::vector<Spec> all = {
      {"aatype", {N, R}, true},
      {"target_feat", {N, fixed(tf_dim), R}, true},
      {"residue_index", {N, R}, true},
      {"seq_mask", {N, R}, true},
      {"msa_feat", {S, N, fixed(49), R}, true},
      {"msa_mask", {S, N, R}, true},
      {"extra_msa", {E, N, R}, true},
      {"extra_msa_mask", {E, N, R}, true},
  };
  // AF-Multimer's chains, and its extra MSA deletions as counts.
  const std::vector<Spec> monomer_only = {{"extra_has_deletion", {E, N, R}, true},
                                          {"extra_deletion_value", {E, N, R}, true}};
  const std::vector<Spec> multimer_only = {{"extra_deletion_matrix", {E, N, R}, true},
                                           {"asym_id", {N, R}, true},
                                           {"entity_id", {N, R}, true},
                                           {"sym_id", {N, R}, true}};
  for (const Spec& s : multimer ? multimer_only : monomer_only) all.push_back(s);
  const std::vector<Spec> templates = {
      {"template_aatype", {T, N, R}, false},
      {"template_mask", {T, R}, false},
      {"template_all_atom_positions", {T, N, fixed(37), fixed(3), R}, false},
      {"template_all_atom_mask", {T, N, fixed(37), R}, false},
      {"template_pseudo_beta", {T, N, fixed(3), R}, false},
      {"template_pseudo_beta_mask", {T, N, R}, false},
      {"template_torsion_angles_sin_cos", {T, N, fixed(7), fixed(2), R}, false},
      {"template_alt_torsion_angles_sin_cos", {T, N, fixed(7), fixed(2), R}, false},
      {"template_torsion_angles_mask", {T, N, fixed(7), R}, false},
  };
  all.insert(all.end(), templates.begin(), templates.end());
  return all;
}

std::string shape_text(const at::Tensor& t) {
  std::ostringstream s;
  s << '[';
  for (int64_t d = 0; d < t.dim(); ++d) s << (d ? ", " : "") << t.size(d);
  return s.str() + ']';
}

std::string wanted_text(const Spec& spec, const std::map<char, int64_t>& sizes) {
  std::ostringstream s;
  s << '[';
  for (size_t d = 0; d < spec.dims.size(); ++d) {
    const Dim& dim = spec.dims[d];
    s << (d ? ", " : "");
    if (dim.symbol == 0) {
      s << dim.size;
    } else {
      s << dim.symbol;
      if (const auto it = sizes.find(dim.symbol); it != sizes.end()) s << '=' << it->second;
    }
  }
  return s.str() + ']';
}

}  // namespace

void check_input_batch(const data::FeatureDict& batch, int64_t tf_dim, bool multimer) {
  std::map<char, int64_t> sizes;  // each letter's size, from the first feature that has it
  for (const Spec& spec : specs(tf_dim, multimer)) {
    const auto it = batch.find(spec.name);
    if (it == batch.end()) {
      if (spec.required) throw std::invalid_argument("missing input feature '" + std::string(spec.name) + "'");
      continue;
    }
    const at::Tensor& t = it->second;
    bool fits = t.dim() == static_cast<int64_t>(spec.dims.size());
    for (size_t d = 0; fits && d < spec.dims.size(); ++d) {
      const Dim& dim = spec.dims[d];
      const int64_t n = t.size(static_cast<int64_t>(d));
      if (dim.symbol == 0) {
        fits = n == dim.size;
      } else {
        const auto [known, inserted] = sizes.emplace(dim.symbol, n);
        fits = inserted || known->second == n;
      }
    }
    if (!fits)
      throw std::invalid_argument("feature '" + std::string(spec.name) + "' has shape " + shape_text(t) +
                                  "; the model needs " + wanted_text(spec, sizes) +
                                  " (N residues, S MSA clusters, E extra MSA rows, T templates, R recycling slices)");
    if (t.is_floating_point()) {
      const int64_t bad = (~at::isfinite(t)).sum().item<int64_t>();
      if (bad > 0)
        throw std::invalid_argument("feature '" + std::string(spec.name) + "' holds " + std::to_string(bad) +
                                    " NaN or infinite value" + (bad == 1 ? "" : "s"));
    }
  }
}

}  // namespace fold
