#include "data/msa.h"

#include <stdexcept>
#include <unordered_map>
#include <unordered_set>

#include "data/parse_error.h"
#include "data/text_file.h"

namespace fold::data {
namespace {

std::string first_token(std::string_view s) {
  size_t end = 0;
  while (end < s.size() && !is_space(s[end])) ++end;
  return std::string(s.substr(0, end));
}

// ---------------------------------------------------------------------------------
// A3M / A2M

struct A3mRow {
  std::string description;
  long header_line = 0;
  std::string aligned;
  std::vector<int32_t> deletions;
  int32_t pending = 0;  // insertions seen since the last kept column
};

void finish_a3m_row(A3mRow& row, Msa& msa, const std::string& source) {
  if (msa.sequences.empty()) {
    if (row.aligned.empty()) {
      throw ParseError(source, row.header_line,
                       "query record '" + first_token(row.description) +
                           "' has no aligned residues");
    }
  } else if (row.aligned.size() != msa.sequences.front().size()) {
    throw ParseError(source, row.header_line,
                     "record '" + first_token(row.description) + "' has " +
                         std::to_string(row.aligned.size()) +
                         " aligned columns after removing insertions, but the query has " +
                         std::to_string(msa.sequences.front().size()) +
                         " (wrong columns or truncated file)");
  }
  msa.sequences.push_back(std::move(row.aligned));
  msa.deletion_matrix.push_back(std::move(row.deletions));
  msa.descriptions.push_back(std::move(row.description));
}

// ---------------------------------------------------------------------------------
// Stockholm

bool is_sto_gap(char c) { return c == '-' || c == '.'; }

char to_upper(char c) { return is_lower(c) ? static_cast<char>(c - 'a' + 'A') : c; }

}  // namespace

Msa parse_a3m(std::string_view text, const std::string& source) {
  require_text(text, source);
  if (is_blank(text)) throw ParseError(source, 0, "empty file: no alignment records");

  Msa msa;
  A3mRow row;
  bool have_row = false;

  LineReader reader(text);
  std::string_view raw;
  while (reader.next(raw)) {
    const long line_no = reader.line_number();
    const std::string_view line = trim(raw);
    if (line.empty()) continue;

    if (line.front() == '>') {
      if (have_row) finish_a3m_row(row, msa, source);
      row = A3mRow{};
      row.description = std::string(trim(line.substr(1)));
      row.header_line = line_no;
      have_row = true;
      continue;
    }
    if (!have_row) {
      if (line.front() == '#') continue;  // "#A3M#" marker or ColabFold size line
      throw ParseError(source, line_no, "sequence data before the first '>' header");
    }

    for (size_t i = 0; i < line.size(); ++i) {
      const char c = line[i];
      if (is_upper(c) || c == '-') {
        row.aligned.push_back(c);
        row.deletions.push_back(row.pending);
        row.pending = 0;
      } else if (is_lower(c)) {
        ++row.pending;
      } else if (c == '.' || is_space(c)) {
        // A2M gap in an insert column, or stray whitespace: not a residue, not a column.
      } else {
        const size_t column = static_cast<size_t>(line.data() - raw.data()) + i + 1;
        throw ParseError(source, line_no,
                         "invalid character " + describe_char(c) + " at column " +
                             std::to_string(column) + " in record '" +
                             first_token(row.description) +
                             "' (expected letters, '-' or '.')");
      }
    }
  }
  if (!have_row) throw ParseError(source, 0, "no alignment records (no '>' header line)");
  finish_a3m_row(row, msa, source);
  return msa;
}

// Stockholm rules (AlphaFold's parsers.parse_stockholm, made strict):
//  - the first non-blank line must start with "# STOCKHOLM"; the alignment must end
//    with a "//" line (a missing one means the file was cut short), and only blank
//    lines may follow it (one alignment per file, as jackhmmer writes);
//  - every other line starting with '#' is markup and skipped (#=GF, #=GS, #=GR, #=GC);
//  - a sequence line is exactly "<name> <aligned text>"; text for the same name is
//    concatenated over blocks, names keep their first-appearance order, and the first
//    name is the query; descriptions are the names (AlphaFold's behaviour);
//  - all rows must have the same total length;
//  - columns where the query has a residue are kept, the others are dropped; a residue
//    of a row in a dropped column adds 1 to the deletion count of the next kept column.
//
// Gaps: AlphaFold only treats '-' as a gap. HMMER-style files (e.g. hmmalign output,
// HMMER's tutorial globins4.sto) also write '.' for gaps in insert columns, including in
// the query row, and AlphaFold would keep those '.' columns and then fail mapping '.' to
// an amino-acid id. Here '.' is a gap exactly like '-'. For jackhmmer files (which use
// '-' only) the result is identical to AlphaFold's. In kept columns a '.' is written as
// '-', and a lower-case residue (an HMMER insert-state residue aligned to a query
// residue) is upper-cased, so rows only hold upper-case letters and '-'.
//
// "#=GC RF" (reference annotation): ignored. AlphaFold's parse_stockholm skips every '#'
// line, so RF never decides which columns are kept; the query row does. The helpers
// that do look at RF lines -- remove_empty_columns_from_stockholm_msa,
// deduplicate_stockholm_msa and truncate_stockholm_msa (which only keeps the RF line) --
// run in AlphaFold's pipeline on the uniref90 Stockholm that is fed to the *template*
// search (hmmsearch), not on the MSA that becomes features. They would not change this
// result anyway: an all-gap column is a query gap holding no residue, so dropping it
// neither adds a column nor a deletion; duplicate rows are removed after parsing by
// merge_msas (make_msa_features' first-occurrence rule); and truncation to a maximum
// number of sequences is a caller's policy, not part of parsing.
namespace {

// A Stockholm alignment's rows as written: names in first-appearance order (the first
// is the query), each row's text concatenated over blocks.
struct StockholmRows {
  std::vector<std::string> names;
  std::vector<std::string> rows;
  std::vector<long> first_line;
  std::unordered_map<std::string, size_t> index_of;

  void append(std::string_view name, std::string_view seq, long line_no) {
    auto [it, inserted] = index_of.emplace(std::string(name), names.size());
    if (inserted) {
      names.emplace_back(name);
      rows.emplace_back();
      first_line.push_back(line_no);
    }
    rows[it->second].append(seq);
  }
};

// "<name> <aligned text>": exactly two whitespace-separated fields, the text letters,
// '-' or '.'. `raw` is the untrimmed line, for the column in the message.
void read_sequence_line(std::string_view line, std::string_view raw, long line_no, const std::string& source,
                        StockholmRows& out) {
  size_t name_end = 0;
  while (name_end < line.size() && !is_space(line[name_end])) ++name_end;
  size_t seq_begin = name_end;
  while (seq_begin < line.size() && is_space(line[seq_begin])) ++seq_begin;
  size_t seq_end = seq_begin;
  while (seq_end < line.size() && !is_space(line[seq_end])) ++seq_end;
  if (seq_begin == line.size() || seq_end != line.size()) {
    throw ParseError(source, line_no,
                     "expected a sequence line '<name> <aligned sequence>' with exactly "
                     "two fields");
  }
  const std::string_view name = line.substr(0, name_end);
  const std::string_view seq = line.substr(seq_begin);
  for (size_t i = 0; i < seq.size(); ++i) {
    const char c = seq[i];
    if (!is_letter(c) && !is_sto_gap(c)) {
      const size_t column = static_cast<size_t>(seq.data() - raw.data()) + i + 1;
      throw ParseError(source, line_no,
                       "invalid character " + describe_char(c) + " at column " +
                           std::to_string(column) + " in the row of '" + std::string(name) +
                           "' (expected letters, '-' or '.')");
    }
  }
  out.append(name, seq, line_no);
}

// The header, markup, sequence lines and the "//" end; checks a complete, non-empty
// alignment whose rows all have the query's length.
StockholmRows read_stockholm_rows(std::string_view text, const std::string& source) {
  StockholmRows out;
  bool seen_header = false;
  bool ended = false;
  LineReader reader(text);
  std::string_view raw;
  while (reader.next(raw)) {
    const long line_no = reader.line_number();
    const std::string_view line = trim(raw);
    if (line.empty()) continue;
    if (!seen_header) {
      if (line.substr(0, 11) != "# STOCKHOLM") {
        throw ParseError(source, line_no,
                         "missing '# STOCKHOLM 1.0' header: not a Stockholm file");
      }
      seen_header = true;
      continue;
    }
    if (ended) {
      throw ParseError(source, line_no,
                       "text after the '//' end of the alignment (only one alignment per "
                       "file is supported)");
    }
    if (line.substr(0, 2) == "//") {
      ended = true;
      continue;
    }
    if (line.front() == '#') continue;  // markup, including "#=GC RF"
    read_sequence_line(line, raw, line_no, source, out);
  }

  if (!seen_header) throw ParseError(source, 0, "empty file: not a Stockholm alignment");
  if (out.names.empty()) throw ParseError(source, 0, "no sequences in the alignment");
  if (!ended) {
    throw ParseError(source, reader.line_number(),
                     "missing '//' at the end of the alignment (truncated file?)");
  }
  const std::string& query = out.rows.front();
  for (size_t r = 1; r < out.rows.size(); ++r) {
    if (out.rows[r].size() != query.size()) {
      throw ParseError(source, out.first_line[r],
                       "row '" + out.names[r] + "' has " + std::to_string(out.rows[r].size()) +
                           " alignment columns, but the query '" + out.names.front() + "' has " +
                           std::to_string(query.size()) + " (unequal row lengths)");
    }
  }
  return out;
}

}  // namespace

Msa parse_stockholm(std::string_view text, const std::string& source) {
  require_text(text, source);
  if (is_blank(text)) throw ParseError(source, 0, "empty file: not a Stockholm alignment");
  StockholmRows read = read_stockholm_rows(text, source);

  const std::string& query = read.rows.front();
  size_t kept = 0;
  for (char c : query) kept += !is_sto_gap(c);
  if (kept == 0) {
    throw ParseError(source, read.first_line.front(),
                     "query '" + read.names.front() + "' has no residues (only gaps)");
  }

  Msa msa;
  msa.sequences.reserve(read.rows.size());
  msa.deletion_matrix.reserve(read.rows.size());
  for (const std::string& row : read.rows) {
    std::string aligned;
    aligned.reserve(kept);
    std::vector<int32_t> deletions;
    deletions.reserve(kept);
    int32_t pending = 0;
    for (size_t c = 0; c < row.size(); ++c) {
      const char res = row[c];
      if (is_sto_gap(query[c])) {
        if (!is_sto_gap(res)) ++pending;
        continue;
      }
      aligned.push_back(is_sto_gap(res) ? '-' : to_upper(res));
      deletions.push_back(pending);
      pending = 0;
    }
    msa.sequences.push_back(std::move(aligned));
    msa.deletion_matrix.push_back(std::move(deletions));
  }
  msa.descriptions = std::move(read.names);
  return msa;
}

Msa merge_msas(const std::vector<Msa>& msas, std::vector<int32_t>* row_source) {
  if (msas.empty()) throw std::invalid_argument("merge_msas: at least one MSA is required");
  for (size_t m = 0; m < msas.size(); ++m) {
    const Msa& msa = msas[m];
    if (msa.sequences.empty()) {
      throw std::invalid_argument("merge_msas: MSA " + std::to_string(m) +
                                  " must contain at least one sequence");
    }
    if (msa.deletion_matrix.size() != msa.sequences.size() ||
        msa.descriptions.size() != msa.sequences.size()) {
      throw std::invalid_argument("merge_msas: MSA " + std::to_string(m) +
                                  " has sequences, deletion rows and descriptions of "
                                  "different counts");
    }
  }
  const size_t length = msas.front().sequences.front().size();

  Msa merged;
  if (row_source) row_source->clear();
  std::unordered_set<std::string_view> seen;
  for (size_t m = 0; m < msas.size(); ++m) {
    const Msa& msa = msas[m];
    for (size_t i = 0; i < msa.sequences.size(); ++i) {
      const std::string& seq = msa.sequences[i];
      if (seq.size() != length || msa.deletion_matrix[i].size() != length) {
        throw std::invalid_argument(
            "merge_msas: row " + std::to_string(i) + " of MSA " + std::to_string(m) +
            " has length " + std::to_string(seq.size()) + ", but the first query has " +
            std::to_string(length));
      }
      if (!seen.insert(std::string_view(seq)).second) continue;  // first occurrence wins
      if (row_source) row_source->push_back(static_cast<int32_t>(m));
      merged.sequences.push_back(seq);
      merged.deletion_matrix.push_back(msa.deletion_matrix[i]);
      merged.descriptions.push_back(msa.descriptions[i]);
    }
  }
  return merged;
}

Msa read_msa(const std::string& path) {
  const std::string ext = format_extension(path);
  if (ext == "a3m" || ext == "a2m") return parse_a3m(read_text_file(path), path);
  if (ext == "sto") return parse_stockholm(read_text_file(path), path);
  throw ParseError(path, 0,
                   "unknown alignment format: expected a .a3m, .a2m or .sto file "
                   "(optionally .gz)");
}

void check_msa_query(const std::string& sequence, const Msa& msa) {
  const auto n = static_cast<int64_t>(sequence.size());
  if (n == 0) throw std::invalid_argument("feature pipeline: empty query sequence");
  if (msa.depth() == 0) throw std::invalid_argument("feature pipeline: the MSA has no rows");
  std::string query;
  for (char ch : msa.sequences[0])
    if (ch != '-') query += ch;
  if (static_cast<int64_t>(msa.length()) != n || query != sequence)
    throw std::invalid_argument("feature pipeline: the MSA's query row (" + query.substr(0, 40) +
                                (query.size() > 40 ? "..." : "") + ", " + std::to_string(query.size()) +
                                " residues) is not the target sequence (" + std::to_string(n) +
                                " residues); the alignments belong to another sequence");
}

}  // namespace fold::data
