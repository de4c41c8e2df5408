// FASTA reader for query sequences.
//
// Behaviour follows AlphaFold's parsers.parse_fasta (headers start with '>', sequence
// lines are concatenated, blank lines are skipped), made strict so that a bad input
// file fails here, with its name and line, instead of deep inside featurisation:
//  - id is the first whitespace-separated token of the header, description the rest;
//  - whitespace inside sequence lines is dropped; one '*' may end a sequence;
//  - residues may be any ASCII letter, '-' or '.'; they are kept verbatim (case too).
//    Unknown letters (X, B, Z, U, O, J, ...) are *not* rejected or rewritten here: the
//    featuriser maps them to X, as AlphaFold's sequence_to_onehot(map_unknown_to_x)
//    does. Anything else (digits, punctuation, non-ASCII, control bytes) is an error.
//  - errors: empty file, text before the first header, empty header, a record with no
//    residues (e.g. a file cut right after a header), residues after '*'.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace fold::data {

struct SequenceRecord {
  std::string id;           // first whitespace-separated token of the header
  std::string description;  // the rest of the header, trimmed (may be empty)
  std::string sequence;     // residues, without whitespace or the '*' terminator
};

// Parses FASTA `text`; `source` (usually the file path) names the input in errors.
// Throws ParseError on malformed input.
std::vector<SequenceRecord> parse_fasta(std::string_view text, const std::string& source);

// read_text_file (".gz" aware) + parse_fasta.
std::vector<SequenceRecord> read_fasta(const std::string& path);

}  // namespace fold::data
