#include "data/protein.h"

#include <cmath>
#include <stdexcept>

#include "data/residue_constants.h"

namespace fold::data {

namespace {
char one_letter(int32_t aatype) {
  return aatype >= 0 && aatype < rc::kNumRestypes ? rc::restypes[aatype] : 'X';
}
}  // namespace

std::string Protein::sequence() const {
  std::string s;
  s.reserve(aatype.size());
  for (int32_t a : aatype) s += one_letter(a);
  return s;
}

std::string Protein::chain_sequence(int32_t chain) const {
  std::string s;
  for (size_t i = 0; i < aatype.size(); ++i)
    if (chain_index[i] == chain) s += one_letter(aatype[i]);
  return s;
}

void Protein::check_consistent() const {
  const size_t n = aatype.size();
  auto expect = [&](size_t got, size_t want, const char* field) {
    if (got != want)
      throw std::invalid_argument("protein '" + name + "': field " + field + " has " +
                                  std::to_string(got) + " values, expected " +
                                  std::to_string(want));
  };
  expect(atom_positions.size(), n * rc::kAtom37 * 3, "atom_positions");
  expect(atom_mask.size(), n * rc::kAtom37, "atom_mask");
  expect(residue_index.size(), n, "residue_index");
  expect(chain_index.size(), n, "chain_index");
  expect(b_factors.size(), n * rc::kAtom37, "b_factors");
  for (size_t i = 0; i < n; ++i) {
    if (aatype[i] < 0 || aatype[i] > rc::kUnkRestype)
      throw std::invalid_argument("protein '" + name + "': residue " + std::to_string(i) +
                                  " has aatype " + std::to_string(aatype[i]));
    if (chain_index[i] < 0 || static_cast<size_t>(chain_index[i]) >= chain_ids.size())
      throw std::invalid_argument("protein '" + name + "': residue " + std::to_string(i) +
                                  " names chain " + std::to_string(chain_index[i]) +
                                  " of " + std::to_string(chain_ids.size()));
    for (int a = 0; a < rc::kAtom37; ++a) {
      if (atom_mask[i * rc::kAtom37 + a] <= 0.0f) continue;
      for (int d = 0; d < 3; ++d)
        if (!std::isfinite(atom_positions[(i * rc::kAtom37 + a) * 3 + d]))
          throw std::invalid_argument("protein '" + name + "': residue " + std::to_string(i) +
                                      " atom " + std::string(rc::atom_types[a]) +
                                      " has a non-finite coordinate");
    }
  }
}

}  // namespace fold::data
