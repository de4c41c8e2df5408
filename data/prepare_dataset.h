// `fold prepare`: structure files + OpenFold-layout alignment folders -> the HDF5 chain
// dataset (data/chain_dataset.h).
//
// Structures: every .cif .mmcif .pdb .ent file (optionally .gz) in the structure folder;
// the entry id is the file name without extensions (and without the "pdb" prefix of
// "pdb1abc.ent"), a chain's id "<entry>_<author chain>". Alignments: the folder
// <alignment_dir>/<chain id>/ holds *.a3m, *.a2m, *.sto (merged in name order, first
// occurrence of a row wins, each row remembering its file) and *.hhr (template hits);
// a chain without one gets its own sequence as a one-row MSA, with a warning.
// uniprot_hits.sto is kept apart, with each row's species, as the chain's pairing MSA
// for AF-Multimer (ChainRecord::pairing_msa); hmm_output.sto (template hits of
// AF-Multimer's hmmsearch) is not an MSA and is not read.
//
// Chains already in the output are not converted again. Files are converted in
// parallel (`jobs` threads); writes are serialised. A file or chain that cannot be
// converted (unreadable structure, alignment of another sequence, no resolved atoms,
// non-finite coordinates, more than 80% one residue type as AF2's training filter)
// is reported with its reason and skipped; the others are converted. The output
// changes only when all conversions are done (ChainDatasetWriter's commit).
#pragma once

#include <cstddef>
#include <ostream>
#include <string>
#include <vector>

#include "data/chain_dataset.h"
#include "data/protein.h"

namespace fold::data {

struct PrepareOptions {
  std::string structure_dir, alignment_dir, out;
  std::vector<std::string> chains;  // chain ids to convert; empty = every chain found
  float max_resolution = 0.0f;      // Angstrom; chains resolved worse are skipped; 0 = keep all
  int jobs = 1;
  bool progress = true;             // a progress bar on `log` while converting
};

struct PrepareProblem {
  std::string file, reason;
};

struct PrepareSummary {
  size_t files = 0;
  std::vector<std::string> added;           // chain ids converted by this run
  size_t already_present = 0;
  std::vector<PrepareProblem> failed;       // not converted, with the reason
  std::vector<PrepareProblem> filtered;     // left out by the options (resolution)
  std::vector<std::string> warnings;        // converted, but worth a look
};

// One chain of a structure + its alignment folder -> its record. Throws ParseError or
// std::invalid_argument naming the file and problem.
ChainRecord make_chain_record(const std::string& id, const Protein& chain, const std::string& chain_alignment_dir,
                              std::vector<std::string>* warnings);

PrepareSummary prepare_dataset(const PrepareOptions& options, std::ostream& log);

}  // namespace fold::data
