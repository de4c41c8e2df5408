#include "data/msa_ids.h"

#include <ATen/ATen.h>

#include "data/residue_constants.h"

namespace fold::data {

MsaIds msa_ids(const Msa& msa) {
  const auto depth = static_cast<int64_t>(msa.depth()), n = static_cast<int64_t>(msa.length());
  MsaIds out{at::empty({depth, n}, at::kByte), at::empty({depth, n}, at::kInt)};
  uint8_t* ids = out.ids.data_ptr<uint8_t>();
  int32_t* del = out.deletions.data_ptr<int32_t>();
  for (int64_t r = 0; r < depth; ++r) {
    for (int64_t j = 0; j < n; ++j) {
      const int id = rc::msa_char_to_id(msa.sequences[r][j]);
      ids[r * n + j] = static_cast<uint8_t>(id < 0 ? rc::kUnkRestype : id);
      del[r * n + j] = msa.deletion_matrix[r][j];
    }
  }
  return out;
}

}  // namespace fold::data
