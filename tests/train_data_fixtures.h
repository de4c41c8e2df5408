// A real chain record for the training-data suites: 2q2k chain A from ../shared/data
// with its real alignments (4 files) and one hand-made template hit.
#pragma once

#include <hdf5.h>

#include <filesystem>
#include <vector>

#include "data/chain_dataset.h"
#include "data/prepare_dataset.h"
#include "data/protein.h"
#include "tests/test_paths.h"

namespace fold::test {

inline data::ChainRecord real_record(const std::string& chain_id = "A") {
  data::Protein chain = data::read_protein(shared_data("mmcif/2q2k.cif"), {chain_id});
  chain.name = "2q2k.cif";
  data::ChainRecord r =
      data::make_chain_record("2q2k_" + chain_id, chain, shared_data("alignments/2q2k_" + chain_id), nullptr);
  data::TemplateHit hit;
  hit.index = 1;
  hit.name = "1abc_A some template";
  hit.aligned_cols = 3;
  hit.sum_probs = 2.5f;
  hit.probability = 99.5f;
  hit.e_value = 1.5e-120;
  hit.query = "AC-D";
  hit.hit_sequence = "ACKD";
  hit.indices_query = {0, 1, -1, 2};
  hit.indices_hit = {4, 5, 6, 7};
  r.template_hits = {hit};
  return r;
}

// Replaces one dataset of a committed chain dataset through the HDF5 API, as a buggy or
// foreign writer might: `type` and `dims` as given, created with `dcpl`, holding `data`
// in `memory_type` (nothing written when data is null).
inline void replace_dataset(const std::filesystem::path& file, const std::string& name, hid_t type,
                            const std::vector<hsize_t>& dims, hid_t dcpl = H5P_DEFAULT,
                            hid_t memory_type = H5P_DEFAULT, const void* data = nullptr) {
  const hid_t f = H5Fopen(file.c_str(), H5F_ACC_RDWR, H5P_DEFAULT);
  ASSERT_GE(f, 0);
  H5Ldelete(f, name.c_str(), H5P_DEFAULT);
  const hid_t space = H5Screate_simple(static_cast<int>(dims.size()), dims.data(), nullptr);
  const hid_t ds = H5Dcreate2(f, name.c_str(), type, space, H5P_DEFAULT, dcpl, H5P_DEFAULT);
  if (data != nullptr) H5Dwrite(ds, memory_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, data);
  H5Dclose(ds);
  H5Sclose(space);
  H5Fclose(f);
}

// The same with float32 values.
inline void overwrite_dataset(const std::filesystem::path& file, const std::string& name, const std::vector<hsize_t>& dims,
                       const std::vector<float>& values) {
  replace_dataset(file, name, H5T_IEEE_F32LE, dims, H5P_DEFAULT, H5T_NATIVE_FLOAT, values.data());
}

// A chain dataset at `path` holding real_record().
inline void write_real_dataset(const std::filesystem::path& path) {
  data::ChainDatasetWriter w(path.string());
  w.add(real_record());
  w.commit();
}

#define REQUIRE_2Q2K()                                          \
  FOLD_REQUIRE_FILE(fold::test::shared_data("mmcif/2q2k.cif")); \
  FOLD_REQUIRE_FILE(fold::test::shared_data("alignments/2q2k_A"))

}  // namespace fold::test
