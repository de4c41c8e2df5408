// An MSA in the form the HDF5 chain store keeps and the feature pipeline starts from.
#pragma once

#include <ATen/core/Tensor.h>

#include "data/msa.h"

namespace fold::data {

// An MSA as AF2 residue ids [N, L] (uint8: 0-19 residues, 20 unknown, 21 gap) and
// deletion counts [N, L] (int32): the dataset's storage and the features' source.
struct MsaIds {
  at::Tensor ids, deletions;
};
MsaIds msa_ids(const Msa& msa);

}  // namespace fold::data
