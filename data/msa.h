// Multiple sequence alignment readers (A3M/A2M and Stockholm) and AlphaFold's MSA merge.
//
// Output matches AlphaFold's parsers.Msa: every row is aligned to the query (the first
// sequence), has the query's length, and deletion_matrix[i][j] counts the residues of
// row i that were removed (insertions relative to the query) just before column j.
//
// Residue alphabet (both formats): rows keep upper-case letters verbatim, including
// unknown or ambiguous ones (X, B, Z, U, O, J): the featuriser maps those, exactly like
// AlphaFold's HHBLITS_AA_TO_ID (B->D, Z->E, U->C, J/O/X->X). Characters that
// AlphaFold's table cannot map at all (digits, '*', punctuation, non-ASCII) are
// rejected with a ParseError naming the line, rather than failing later.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace fold::data {

struct Msa {
  std::vector<std::string> sequences;                // aligned rows, '-' for gaps
  std::vector<std::vector<int32_t>> deletion_matrix;  // [depth][length]
  std::vector<std::string> descriptions;              // a3m: header; sto: sequence name

  size_t depth() const { return sequences.size(); }
  size_t length() const { return sequences.empty() ? 0 : sequences.front().size(); }
};

// A3M (HHblits) and A2M. Upper-case letters and '-' are aligned columns; lower-case
// letters are insertions: removed, each one adds 1 to the deletion count of the next
// kept column (insertions after the last column are dropped, as in AlphaFold). '.' (A2M
// gap in an insert column) is removed and not counted. Whitespace inside sequence lines
// is ignored; '#' comment lines before the first record (e.g. "#A3M#" or ColabFold's
// "#<lengths>\t<cardinalities>") are skipped. Descriptions are the full header text
// after '>' (as AlphaFold). Errors: empty file, no records, data before the first
// header, invalid characters, an empty query, and any row whose length after removing
// insertions differs from the query's (message names the record and its header line;
// this is also how a file cut in the middle of a row is caught).
Msa parse_a3m(std::string_view text, const std::string& source);

// Stockholm (jackhmmer/hmmsearch output). See msa.cpp for the exact rules, including
// what happens to "#=GC RF" lines (ignored, as on AlphaFold's parse path).
Msa parse_stockholm(std::string_view text, const std::string& source);

// AlphaFold's make_msa_features merge: MSAs are concatenated in order and a row whose
// aligned sequence was already seen (in this or an earlier MSA) is dropped, so the
// first occurrence wins (with its deletion row and description). Throws
// std::invalid_argument (caller error, not a file error) for an empty list, an MSA with
// no rows, an MSA whose fields have different depths, or rows of different lengths.
// With `row_source`, it receives for every merged row the index of the MSA it came from.
Msa merge_msas(const std::vector<Msa>& msas, std::vector<int32_t>* row_source = nullptr);

// Reads `path` (".gz" aware) and parses by extension, case-insensitively:
// ".a3m"/".a2m" -> parse_a3m, ".sto" -> parse_stockholm, each optionally followed by
// ".gz". Any other extension is a ParseError.
Msa read_msa(const std::string& path);

// Throws std::invalid_argument when the MSA's query (its first row without gaps) is not
// `sequence`: the alignments belong to another protein.
void check_msa_query(const std::string& sequence, const Msa& msa);

}  // namespace fold::data
