#include "data/hhr.h"

#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <optional>

#include "data/parse_error.h"
#include "data/text_file.h"

namespace fold::data {
namespace {

struct Line {
  std::string_view text;
  long number;
};

bool starts_with(std::string_view s, std::string_view prefix) {
  return s.substr(0, prefix.size()) == prefix;
}

// Whole-string decimal integer (optional sign), or nullopt.
std::optional<long> to_long(std::string_view s) {
  s = trim(s);
  if (s.empty() || s.size() > 18) return std::nullopt;
  size_t i = 0;
  bool negative = false;
  if (s[0] == '+' || s[0] == '-') {
    negative = s[0] == '-';
    i = 1;
  }
  if (i == s.size()) return std::nullopt;
  long value = 0;
  for (; i < s.size(); ++i) {
    if (!is_digit(s[i])) return std::nullopt;
    value = value * 10 + (s[i] - '0');
  }
  return negative ? -value : value;
}

// Whole-string floating-point number, or nullopt.
std::optional<double> to_double(std::string_view s) {
  s = trim(s);
  if (s.empty() || s.size() > 64) return std::nullopt;
  const std::string copy(s);
  errno = 0;
  char* end = nullptr;
  const double value = std::strtod(copy.c_str(), &end);
  if (end != copy.c_str() + copy.size() || errno == ERANGE || !std::isfinite(value)) {
    return std::nullopt;
  }
  return value;
}

// The summary line: "Probab=.. E-value=.. Score=.. Aligned_cols=.. Identities=..%
// Similarity=.. Sum_probs=.. Template_Neff=..". As in AlphaFold's regular expression,
// each value is the text between its key and the next key; the keys must come in this
// order and the line must start with "Probab=". The last two keys are optional here.
struct Summary {
  int aligned_cols = 0;
  float sum_probs = 0.0f, probability = 0.0f;
  double e_value = 0.0;
};

Summary parse_summary(const Line& line, const std::string& source) {
  struct Key {
    std::string_view name;
    bool required;
  };
  static constexpr Key kKeys[] = {{"Probab=", true},     {"E-value=", true},
                                  {"Score=", true},      {"Aligned_cols=", true},
                                  {"Identities=", true}, {"Similarity=", true},
                                  {"Sum_probs=", false}, {"Template_Neff=", false}};
  constexpr size_t kCount = sizeof kKeys / sizeof kKeys[0];

  const std::string_view text = line.text;
  if (!starts_with(text, "Probab=")) {
    throw ParseError(source, line.number,
                     "expected the hit summary line starting with 'Probab=' (malformed hit "
                     "header)");
  }
  size_t key_pos[kCount];
  bool present[kCount];
  size_t search_from = 0;
  for (size_t k = 0; k < kCount; ++k) {
    const size_t pos = text.find(kKeys[k].name, search_from);
    present[k] = pos != std::string_view::npos;
    if (!present[k]) {
      if (kKeys[k].required) {
        throw ParseError(source, line.number,
                         "hit summary line has no '" + std::string(kKeys[k].name) + "' field");
      }
      key_pos[k] = std::string_view::npos;
      continue;
    }
    key_pos[k] = pos;
    search_from = pos + kKeys[k].name.size();
  }

  double values[kCount] = {};
  for (size_t k = 0; k < kCount; ++k) {
    if (!present[k]) continue;
    const size_t begin = key_pos[k] + kKeys[k].name.size();
    size_t end = text.size();
    for (size_t next = k + 1; next < kCount; ++next) {
      if (present[next]) {
        end = key_pos[next];
        break;
      }
    }
    std::string_view value = trim(text.substr(begin, end - begin));
    if (k == 4 && !value.empty() && value.back() == '%') value.remove_suffix(1);  // Identities
    const std::optional<double> number = to_double(value);
    if (!number) {
      throw ParseError(source, line.number,
                       "hit summary field '" + std::string(kKeys[k].name) +
                           "' has a non-numeric value '" + std::string(value) + "'");
    }
    values[k] = *number;
  }
  if (values[3] < 0 || values[3] > 1e9) {
    throw ParseError(source, line.number, "hit summary has an invalid Aligned_cols value");
  }
  if (present[6] && std::fabs(values[6]) > 1e30) {
    throw ParseError(source, line.number, "hit summary has an invalid Sum_probs value");
  }
  Summary summary;
  summary.aligned_cols = static_cast<int>(values[3]);  // int(float(x)), as AlphaFold
  summary.sum_probs = present[6] ? static_cast<float>(values[6]) : 0.0f;
  summary.probability = static_cast<float>(values[0]);
  summary.e_value = values[1];
  return summary;
}

// One alignment line, read from column 17 on as AlphaFold's regular expression
// "[\t ]*([0-9]*) ([A-Z-]*)[\t ]*([0-9]*) \(([0-9]*)\)" does (match at the start,
// anything may follow the closing parenthesis).
struct Segment {
  long start = 0;      // 1-based first residue
  std::string_view residues;
  std::optional<long> end;  // 1-based last residue (may be absent on T lines)
};

Segment parse_segment(const Line& line, const std::string& source, char kind) {
  const std::string what = kind == 'Q' ? "query" : "template";
  auto fail = [&](const std::string& problem) -> ParseError {
    return ParseError(source, line.number, "malformed " + what + " alignment line: " + problem);
  };
  const std::string_view s = line.text.size() > 17 ? line.text.substr(17) : std::string_view();
  size_t i = 0;
  while (i < s.size() && (s[i] == ' ' || s[i] == '\t')) ++i;
  const size_t start_begin = i;
  while (i < s.size() && is_digit(s[i])) ++i;
  const std::string_view start_digits = s.substr(start_begin, i - start_begin);
  if (i >= s.size() || s[i] != ' ') {
    throw fail("expected '<start> <sequence> <end> (<length>)' from column 18");
  }
  ++i;
  const size_t seq_begin = i;
  while (i < s.size() && (is_upper(s[i]) || s[i] == '-')) ++i;
  Segment segment;
  segment.residues = s.substr(seq_begin, i - seq_begin);

  const size_t ws_begin = i;
  while (i < s.size() && (s[i] == ' ' || s[i] == '\t')) ++i;
  const size_t end_begin = i;
  while (i < s.size() && is_digit(s[i])) ++i;
  std::string_view end_digits = s.substr(end_begin, i - end_begin);
  if (end_digits.empty()) {
    // The pattern can then only match by giving the last blank back to the " (" part.
    if (i == ws_begin || s[i - 1] != ' ') {
      throw fail("expected the end index and '(<length>)' after the sequence");
    }
    --i;
  }
  if (i + 1 >= s.size() || s[i] != ' ' || s[i + 1] != '(') {
    throw fail("expected ' (<length>)' after the end index");
  }
  i += 2;
  while (i < s.size() && is_digit(s[i])) ++i;
  if (i >= s.size() || s[i] != ')') throw fail("unterminated '(<length>)'");

  const std::optional<long> start = to_long(start_digits);
  if (!start || *start < 1 || *start > 1000000000L) throw fail("missing or invalid start index");
  segment.start = *start;
  if (!end_digits.empty()) {
    const std::optional<long> end = to_long(end_digits);
    if (!end || *end > 1000000000L) throw fail("invalid end index");
    segment.end = *end;
  }
  return segment;
}

void append_indices(std::string_view residues, long start0, std::vector<int>& out) {
  long counter = start0;
  for (char c : residues) {
    if (c == '-') {
      out.push_back(-1);
    } else {
      out.push_back(static_cast<int>(counter));
      ++counter;
    }
  }
}

bool is_annotation(std::string_view line, char kind) {
  const std::string p(1, kind);
  return starts_with(line, p + " ss_dssp") || starts_with(line, p + " ss_pred") ||
         starts_with(line, p + " Consensus");
}

// The hit's first three lines: "No <n>", ">name" and the summary.
TemplateHit parse_hit_header(const std::vector<Line>& lines, size_t begin, size_t end, const std::string& source) {
  const Line& first = lines[begin];
  if (end - begin < 3) {
    throw ParseError(source, first.number,
                     "hit block is truncated: expected the name and summary lines after '" +
                         std::string(trim(first.text)) + "'");
  }
  TemplateHit hit;

  // "No <n>": the hit number is the last token.
  std::string_view header = trim(first.text);
  size_t last = header.size();
  while (last > 0 && !is_space(header[last - 1])) --last;
  const std::optional<long> number = to_long(header.substr(last));
  if (!number || *number < -2147483647L || *number > 2147483647L) {
    throw ParseError(source, first.number, "malformed hit header: expected 'No <number>'");
  }
  hit.index = static_cast<int>(*number);

  const Line& name_line = lines[begin + 1];
  if (name_line.text.empty() || name_line.text.front() != '>') {
    throw ParseError(source, name_line.number,
                     "malformed hit header: expected the '>name' line after 'No " +
                         std::to_string(hit.index) + "'");
  }
  hit.name = std::string(name_line.text.substr(1));

  const Summary summary = parse_summary(lines[begin + 2], source);
  hit.aligned_cols = summary.aligned_cols;
  hit.sum_probs = summary.sum_probs;
  hit.probability = summary.probability;
  hit.e_value = summary.e_value;
  return hit;
}

TemplateHit parse_hit(const std::vector<Line>& lines, size_t begin, size_t end,
                      const std::string& source) {
  const Line& first = lines[begin];
  TemplateHit hit = parse_hit_header(lines, begin, end, source);
  std::optional<long> block_length;
  for (size_t l = begin + 3; l < end; ++l) {
    const Line& line = lines[l];
    if (starts_with(line.text, "Q ") && !is_annotation(line.text, 'Q')) {
      const Segment seg = parse_segment(line, source, 'Q');
      if (!seg.end) {
        throw ParseError(source, line.number,
                         "malformed query alignment line: missing end index");
      }
      long gaps = 0;
      for (char c : seg.residues) gaps += c == '-';
      const long start0 = seg.start - 1;
      const long length = *seg.end - start0 + gaps;
      if (length != static_cast<long>(seg.residues.size())) {
        throw ParseError(source, line.number,
                         "query alignment line covers residues " + std::to_string(seg.start) +
                             "-" + std::to_string(*seg.end) + " with " +
                             std::to_string(gaps) + " gaps, which does not match its " +
                             std::to_string(seg.residues.size()) + " characters");
      }
      block_length = length;
      hit.query.append(seg.residues);
      append_indices(seg.residues, start0, hit.indices_query);
    } else if (starts_with(line.text, "T ") && !is_annotation(line.text, 'T')) {
      const Segment seg = parse_segment(line, source, 'T');
      if (!block_length) {
        throw ParseError(source, line.number,
                         "template alignment line before any query alignment line");
      }
      if (static_cast<long>(seg.residues.size()) != *block_length) {
        throw ParseError(source, line.number,
                         "template alignment line has " + std::to_string(seg.residues.size()) +
                             " characters, but its query line has " +
                             std::to_string(*block_length));
      }
      hit.hit_sequence.append(seg.residues);
      append_indices(seg.residues, seg.start - 1, hit.indices_hit);
    }
  }
  if (hit.query.empty()) {
    throw ParseError(source, first.number,
                     "hit " + std::to_string(hit.index) + " has no alignment lines");
  }
  if (hit.query.size() != hit.hit_sequence.size()) {
    throw ParseError(source, first.number,
                     "hit " + std::to_string(hit.index) + " has " +
                         std::to_string(hit.query.size()) + " query columns but " +
                         std::to_string(hit.hit_sequence.size()) +
                         " template columns (truncated file?)");
  }
  return hit;
}

}  // namespace

std::vector<TemplateHit> parse_hhr(std::string_view text, const std::string& source) {
  require_text(text, source);
  if (is_blank(text)) throw ParseError(source, 0, "empty file: not an HHR file");

  std::vector<Line> lines;
  LineReader reader(text);
  std::string_view raw;
  while (reader.next(raw)) lines.push_back(Line{raw, reader.line_number()});

  for (const Line& line : lines) {
    const std::string_view t = trim(line.text);
    if (t.empty()) continue;
    if (!starts_with(t, "Query")) {
      throw ParseError(source, line.number,
                       "not an HHR file: expected the first line to start with 'Query'");
    }
    break;
  }

  std::vector<size_t> starts;
  for (size_t i = 0; i < lines.size(); ++i) {
    if (starts_with(lines[i].text, "No ")) starts.push_back(i);
  }
  std::vector<TemplateHit> hits;
  hits.reserve(starts.size());
  for (size_t b = 0; b < starts.size(); ++b) {
    const size_t end = b + 1 < starts.size() ? starts[b + 1] : lines.size();
    hits.push_back(parse_hit(lines, starts[b], end, source));
  }
  return hits;
}

std::vector<TemplateHit> read_hhr(const std::string& path) {
  return parse_hhr(read_text_file(path), path);
}

}  // namespace fold::data
