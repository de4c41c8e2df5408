// Template hits (HHsearch .hhr) + their mmCIF structures -> per-template features in
// the query's residue numbering, as AlphaFold's TemplateHitFeaturizer
// (templates.py: prefilter, _process_single_hit, _extract_template_features).
//
// For each hit, best sum_probs first, until max_hits templates are found:
//  1. prefilter without reading the structure: the hit name must start PDBID_CHAIN;
//     aligned columns / query length > min_align_ratio; a hit whose sequence is a
//     substring of the query covering more than max_subsequence_ratio of it is the
//     query itself (dropped); at least min_length template residues.
//  2. read <mmcif_dir>/<pdbid>.cif (or .cif.gz; or a PDB-format <pdbid>.pdb, .ent, .gz
//     or not) once per entry; drop it when released after max_template_date.
//  3. find the hit's (gapless) sequence in the chain's sequence record: exact in the
//     named chain, then exact in any chain, then with X as a wildcard. Failing that the
//     hit is realigned to the named chain's sequence (a global alignment with free end
//     gaps, where AF2 runs kalign) and kept when at least 90% of the shorter sequence
//     is identical.
//  4. query residue i aligned to template residue j gets that residue's atoms (first
//     model, first alternative conformation, MSE's SE as SD, arginine NH1/NH2 swapped
//     when NH2 is the one nearer CD), and the hit's residue letter; other residues are
//     gaps ('-', no atoms). Like OpenFold (_zero_center_positions) the chain's observed
//     atoms are centred on their mean. A chain with consecutive observed CA atoms more
//     than 150 A apart, or a template with fewer than 5 observed atoms, is dropped.
//  5. a template whose aligned sequence equals an earlier one's is dropped.
// Hits dropped in 2-5 (and unreadable or missing mmCIF files, where AF2 would stop)
// are reported in `skipped` with the reason; step 1 drops silently, as AF2 does.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "data/hhr.h"

namespace fold::data {

struct TemplateSearchOptions {
  std::string mmcif_dir;
  std::string max_template_date;  // YYYY-MM-DD; empty = no cutoff
  int64_t max_hits = 4;           // data.predict.max_templates
  double max_subsequence_ratio = 0.95;
  double min_align_ratio = 0.1;
  int min_length = 10;
  double max_ca_ca_distance = 150.0;
  bool zero_center_positions = true;
};

struct TemplateFeatures {
  std::string domain_name;            // "<pdbid>_<chain>" as found in the mmCIF
  std::string sequence;               // [L] query-aligned template letters, '-' = no residue
  std::vector<float> atom_positions;  // [L, 37, 3]
  std::vector<float> atom_mask;       // [L, 37]
  float sum_probs = 0.0f;
};

struct TemplateSearchResult {
  std::vector<TemplateFeatures> templates;  // in the order AF2 takes them
  std::vector<std::string> skipped;         // "<hit name>: <reason>"
};

// Throws std::invalid_argument on an empty query, a missing mmcif_dir or a malformed
// max_template_date; problems with single hits only skip that hit.
TemplateSearchResult find_template_features(const std::string& query_sequence, const std::vector<TemplateHit>& hits,
                                            const TemplateSearchOptions& options);

}  // namespace fold::data
