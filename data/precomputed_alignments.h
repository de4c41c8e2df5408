// OpenFold's precomputed alignment layout of one chain (`--use_precomputed_alignments`,
// and what `fold msa` writes): the MSAs and template hits `fold predict --alignment-dir`
// reads, with AF2's per-database depth limits.
#pragma once

#include <string>
#include <vector>

namespace fold::data {

struct PrecomputedAlignments {
  // AF2's order: uniref90_hits.sto (its first 10,000 rows), bfd_uniclust_hits.a3m or
  // bfd_uniref_hits.a3m or small_bfd_hits.sto, mgnify_hits.sto (501 rows), then any other
  // .a3m / .sto in name order, whole. uniprot_hits.sto (multimer pairing) and
  // hmm_output.sto (AF-Multimer's template hits) are not among them.
  std::vector<std::string> msa_paths;
  std::vector<size_t> max_rows;  // per msa_paths entry; 0: every row
  // uniprot_hits.sto, the UniProt hits AF-Multimer pairs by species; empty when absent.
  std::string pairing_msa;
  // pdb70_hits.hhr or hhsearch_output.hhr; empty when the folder has neither.
  std::string template_hits;
};

// Throws std::invalid_argument when `dir` is not a folder or holds no MSA, naming the
// files it looked for.
PrecomputedAlignments read_precomputed_alignments(const std::string& dir);

}  // namespace fold::data
