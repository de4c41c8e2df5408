// The training dataset: one HDF5 file, one group per protein chain, written by
// `fold prepare` and read by the training loader. data/README.md documents the layout;
// this header is the code's view of it.
//
// A chain's record holds what AF2's training pipeline starts from (Supplement 1.2):
// sequence, the merged MSA as AF2 residue ids (uint8) with each row's source alignment
// file, deletion counts, template hits (ids, alignments, e-values), the structure in
// atom37 (positions, mask, B-factors) and its metadata (resolution, release date,
// method), and for multimer training the UniProt hits with their species. Arrays are chunked, gzip-compressed and checksummed, as is all HDF5
// metadata (format 2), so corruption on disk is an error, not wrong data; reads go
// straight into tensor storage (one H5Dread per array, no per-element loops).
//
// HDF5 calls are serialised on one process-wide mutex: Debian's libhdf5 is built
// thread-safe, but that is a build option, and the loader's workers read concurrently.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "data/hhr.h"

namespace fold::data {

// 2: HDF5's checksummed 1.10 file format and Fletcher-32 on every chunk (1: unchecksummed).
inline constexpr int64_t kChainDatasetFormatVersion = 2;

struct ChainRecord {
  std::string id;            // "<entry>_<author chain>", e.g. "1ubq_A"
  std::string sequence;      // one-letter, X for unknown residues
  std::string source;        // the structure file's name
  float resolution = 0.0f;   // Angstrom; 0 when the file reports none
  std::string release_date;  // YYYY-MM-DD; empty if unknown
  std::string method;        // e.g. "X-RAY DIFFRACTION"
  at::Tensor aatype;           // [L] uint8, AF2 restype order, 20 = unknown
  at::Tensor residue_index;    // [L] int32, author numbering
  at::Tensor atom_positions;   // [L, 37, 3] float32, Angstrom
  at::Tensor atom_mask;        // [L, 37] uint8
  at::Tensor b_factors;        // [L, 37] float32
  at::Tensor msa;              // [N, L] uint8, AF2 msa ids (0..20 residues, 21 gap); row 0 the query
  at::Tensor deletion_matrix;  // [N, L] int32
  at::Tensor msa_source;       // [N] uint8, index into msa_sources
  std::vector<std::string> msa_sources;  // alignment file names; "query" for a single-sequence MSA
  std::vector<TemplateHit> template_hits;
  // AF-Multimer's UniProt hits (uniprot_hits.sto), kept apart from the MSA to pair the
  // chains of a complex by species: [P, L] uint8 ids (row 0 the query), [P, L] int32
  // deletions, each row's species (data/msa_pairing.h). Undefined / empty when the chain
  // had none.
  at::Tensor pairing_msa, pairing_deletions;
  std::vector<std::string> pairing_species;

  int64_t length() const { return aatype.defined() ? aatype.size(0) : 0; }
  int64_t msa_depth() const { return msa.defined() ? msa.size(0) : 0; }
  // Throws std::invalid_argument naming the chain and the problem: arrays of the wrong
  // dtype or a shape that disagrees with the sequence, residue or MSA codes out of range,
  // non-finite coordinates of observed atoms, an MSA whose first row is not the
  // sequence, a source index past msa_sources, a pairing MSA that disagrees with its
  // species list or does not start with the sequence.
  void check() const;
};

// What `fold inspect` and the sampler need, read from a group's attributes only.
struct ChainEntry {
  std::string id;
  int64_t length = 0, msa_depth = 0, templates = 0, unknown_residues = 0, observed_residues = 0;
  float resolution = 0.0f;
  std::string release_date, method, source;
};

// AF-Multimer trains on complexes: the chains of one entry, "<entry>_<chain>". The
// entry of a chain id (the id itself when it has no '_').
std::string entry_of(const std::string& chain_id);

// One entry per complex of `chains` (in id order): its id the entry's, sizes summed,
// the worst resolution, the latest release date.
std::vector<ChainEntry> complex_entries(const std::vector<ChainEntry>& chains);

// Read-only view of a dataset file. Opening checks the file is a chain dataset of a
// format version this build reads; every error is a ParseError naming the file (and the
// chain), so a truncated or corrupted file is reported, not crashed on.
class ChainDataset {
 public:
  explicit ChainDataset(const std::string& path);
  // A dataset file held in memory (HDF5's core driver); `name` stands for the file in
  // errors. The image is copied.
  ChainDataset(const std::string& name, std::string_view image);
  ~ChainDataset();
  ChainDataset(const ChainDataset&) = delete;
  ChainDataset& operator=(const ChainDataset&) = delete;

  const std::string& path() const { return path_; }
  // Sorted by id.
  const std::vector<ChainEntry>& entries() const { return entries_; }
  size_t size() const { return entries_.size(); }
  // Reads and checks one chain (ChainRecord::check); throws ParseError.
  ChainRecord read(const std::string& id) const;

 private:
  std::string path_;
  void read_entries();

  int64_t file_ = -1;  // hid_t
  std::vector<ChainEntry> entries_;
};

// Adds chains to a dataset without ever leaving it half-written: the existing file (if
// any) is copied to "<path>.partial", chains are added there, and commit() renames it
// over `path`. Without commit() the partial file is removed.
class ChainDatasetWriter {
 public:
  explicit ChainDatasetWriter(const std::string& path);
  ~ChainDatasetWriter();
  ChainDatasetWriter(const ChainDatasetWriter&) = delete;
  ChainDatasetWriter& operator=(const ChainDatasetWriter&) = delete;

  bool contains(const std::string& id) const;
  std::vector<std::string> ids() const;
  // Checks the record first (ChainRecord::check) and refuses a chain already present.
  void add(const ChainRecord& record);
  void commit();

 private:
  std::string path_, partial_;
  int64_t file_ = -1;  // hid_t
};

}  // namespace fold::data
