// HHsearch/HHblits result (.hhr) reader for template hits, following AlphaFold's
// parsers.parse_hhr / _parse_hhr_hit.
//
// The file is split into hit blocks at lines starting with "No "; in each block line 1
// gives the hit number (last token), line 2 the name ('>' stripped), line 3 the summary
// ("Probab=... E-value=... Score=... Aligned_cols=... Identities=...% Similarity=...
// Sum_probs=... Template_Neff=..."). The alignment is read from "Q <name> start SEQ end
// (len)" and "T <name> start SEQ end (len)" lines (ss_dssp/ss_pred/Consensus lines are
// skipped), reading each from column 17 on. Residue indices are 0-based positions in
// the query/template, -1 at gaps.
//
// Differences from AlphaFold, all on inputs it would crash on or silently mis-read:
//  - Sum_probs (and Template_Neff) may be absent (older HH-suite): sum_probs is then 0.
//  - Malformed blocks (missing name/summary line, unparsable numbers, a Q/T line that
//    does not match, a segment whose length disagrees with its start/end, a T line
//    before any Q line, a block without alignment lines, or a query/template alignment
//    of different total lengths, i.e. a file cut between a Q and its T line) raise
//    ParseError with the file and line.
//  - The text must be non-empty and its first non-blank line must start with "Query".
//    A valid file without hits gives an empty vector.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace fold::data {

struct TemplateHit {
  int index = 0;             // from "No N"
  std::string name;          // header line without the leading '>'
  int aligned_cols = 0;
  float sum_probs = 0.0f;    // 0 when the summary has no Sum_probs
  float probability = 0.0f;  // Probab (percent)
  double e_value = 0.0;      // E-value (double: hhr writes values like 1.2E-150)
  std::string query;         // aligned query, '-' for gaps
  std::string hit_sequence;  // aligned template, '-' for gaps
  std::vector<int> indices_query;  // 0-based query residue index per column, -1 = gap
  std::vector<int> indices_hit;    // 0-based template residue index per column, -1 = gap
};

std::vector<TemplateHit> parse_hhr(std::string_view text, const std::string& source);

// read_text_file (".gz" aware) + parse_hhr.
std::vector<TemplateHit> read_hhr(const std::string& path);

}  // namespace fold::data
