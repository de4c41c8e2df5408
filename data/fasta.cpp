#include "data/fasta.h"

#include "data/parse_error.h"
#include "data/text_file.h"

namespace fold::data {
namespace {

struct OpenRecord {
  SequenceRecord record;
  long header_line = 0;
  bool terminated = false;  // a '*' has been seen
};

void close_record(OpenRecord& open, std::vector<SequenceRecord>& out,
                  const std::string& source) {
  if (open.record.sequence.empty()) {
    throw ParseError(source, open.header_line,
                     "record '" + open.record.id + "' has no sequence (truncated file?)");
  }
  out.push_back(std::move(open.record));
}

}  // namespace

std::vector<SequenceRecord> parse_fasta(std::string_view text, const std::string& source) {
  require_text(text, source);
  if (is_blank(text)) throw ParseError(source, 0, "empty file: no FASTA records");

  std::vector<SequenceRecord> records;
  OpenRecord open;
  bool have_record = false;

  LineReader reader(text);
  std::string_view raw;
  while (reader.next(raw)) {
    const long line_no = reader.line_number();
    const std::string_view line = trim(raw);
    if (line.empty()) continue;

    if (line.front() == '>') {
      if (have_record) close_record(open, records, source);
      const std::string_view header = trim(line.substr(1));
      if (header.empty()) throw ParseError(source, line_no, "empty FASTA header '>'");
      size_t split = 0;
      while (split < header.size() && !is_space(header[split])) ++split;
      open = OpenRecord{};
      open.record.id = std::string(header.substr(0, split));
      open.record.description = std::string(trim(header.substr(split)));
      open.header_line = line_no;
      have_record = true;
      continue;
    }

    if (!have_record) {
      throw ParseError(source, line_no, "sequence data before the first '>' header");
    }
    for (size_t i = 0; i < line.size(); ++i) {
      const char c = line[i];
      if (is_space(c)) continue;
      if (open.terminated) {
        throw ParseError(source, line_no,
                         "residue " + describe_char(c) + " after the '*' terminator of record '" +
                             open.record.id + "'");
      }
      if (c == '*') {
        open.terminated = true;
      } else if (is_letter(c) || c == '-' || c == '.') {
        open.record.sequence.push_back(c);
      } else {
        throw ParseError(source, line_no,
                         "invalid character " + describe_char(c) + " at column " +
                             std::to_string(static_cast<size_t>(line.data() - raw.data()) + i + 1) +
                             " in the sequence of record '" +
                             open.record.id + "' (expected letters, '-', '.' or a final '*')");
      }
    }
  }
  if (!have_record) throw ParseError(source, 0, "no FASTA records (no '>' header line)");
  close_record(open, records, source);
  return records;
}

std::vector<SequenceRecord> read_fasta(const std::string& path) {
  return parse_fasta(read_text_file(path), path);
}

}  // namespace fold::data
