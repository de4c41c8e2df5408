// A protein structure in AlphaFold2's atom37 representation (AF2 `protein.Protein`),
// read from mmCIF / PDB through gemmi and written back as PDB or mmCIF with
// per-residue B-factors (pLDDT for predictions). Torch-free: tensors are made from it
// by the feature pipeline, so parsers compile fast and can be tested without LibTorch.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace fold::data {

struct Protein {
  std::string name;                    // file stem or entry id
  std::vector<int32_t> aatype;         // [L] AF2 restype order, 20 = unknown
  std::vector<float> atom_positions;   // [L, 37, 3] Angstrom
  std::vector<float> atom_mask;        // [L, 37] 1 where the atom was observed
  std::vector<int32_t> residue_index;  // [L] residue number written to PDB/mmCIF
  std::vector<int32_t> chain_index;    // [L] index into chain_ids
  std::vector<std::string> chain_ids;  // author chain names
  std::vector<float> b_factors;        // [L, 37]
  float resolution = 0.0f;             // Angstrom; 0 when the file reports none
  std::string release_date;            // YYYY-MM-DD (earliest revision); empty if unknown
  std::string method;                  // e.g. "X-RAY DIFFRACTION"; empty if unknown

  size_t num_residues() const { return aatype.size(); }
  // One-letter sequence, 'X' for unknown residues.
  std::string sequence() const;
  // Sequence of the residues of one chain.
  std::string chain_sequence(int32_t chain) const;
  // Throws std::invalid_argument when the arrays disagree in length or hold
  // non-finite coordinates for observed atoms.
  void check_consistent() const;
};

struct ReadOptions {
  std::string chain;  // author chain id; empty = every protein chain
};

// Reads .cif/.mmcif/.pdb/.ent, optionally .gz. With a sequence record (mmCIF
// entity_poly_seq, PDB SEQRES) residues follow it and unobserved residues are kept
// with an empty atom mask; otherwise the observed residues are taken in order.
// Modified residues map to their parent as AF2 does (MSE -> MET, its SE as SD).
// Throws ParseError naming the file (and chain) on unreadable or proteinless input.
Protein read_protein(const std::string& path, const ReadOptions& options = {});

struct ChainSummary {
  std::string id;
  size_t residues = 0;          // all residues, ligands and waters included
  size_t polymer_residues = 0;  // amino-acid residues observed
  size_t sequence_length = 0;   // length of the sequence record (or observed residues)
  size_t atoms = 0;
  size_t nonfinite_atoms = 0;   // atoms whose coordinates are not all finite (nan, inf)
  std::string sequence;         // one-letter, over the sequence record when present
};

struct StructureSummary {
  std::string path;
  std::string format;  // "mmcif" or "pdb"
  size_t models = 0;
  float resolution = 0.0f;
  std::string release_date;
  std::string method;
  std::vector<ChainSummary> chains;  // of the first model
};

StructureSummary summarize_structure(const std::string& path);

// A prediction's confidence, which its mmCIF carries as ModelCIF QA metrics
// (ma_qa_metric, ma_qa_metric_global, ma_qa_metric_local): viewers colour by them.
struct ModelQuality {
  std::vector<float> plddt;  // [L], 0-100, one per residue of the Protein
  std::optional<double> ptm;
};

std::string to_pdb(const Protein& protein);
std::string to_mmcif(const Protein& protein, const ModelQuality* quality = nullptr);
// Picks the format from the extension (.pdb or .cif; `quality` goes into the mmCIF only);
// writes to a temporary name and renames, so a reader never sees half a file.
void write_protein(const Protein& protein, const std::string& path, const ModelQuality* quality = nullptr);

}  // namespace fold::data
