// Reading whole text files (plain or gzip-compressed) and the small text helpers the
// sequence/alignment parsers share: a binary-data guard and a line reader that counts
// line numbers for error messages.
#pragma once

#include <string>
#include <string_view>

namespace fold::data {

// Returns the whole content of `path`. Files whose name ends in ".gz" are decompressed
// with zlib. Throws ParseError naming the file when it cannot be opened or read, or
// when the compressed stream is corrupt or truncated.
std::string read_text_file(const std::string& path);

// Writes `text` to `path` whole or not at all: to a temporary name beside it, then renamed,
// so a reader never sees half a file. Throws std::runtime_error when the write fails.
void write_text_file(const std::string& path, const std::string& text);

// Throws ParseError(source, line, ...) when `text` holds a NUL byte or another control
// character that never occurs in text files (anything below 0x20 except tab, line feed
// and carriage return, and DEL 0x7f). Bytes >= 0x80 pass (UTF-8 in descriptions); the
// parsers reject them wherever a residue is expected.
void require_text(std::string_view text, const std::string& source);

// True when `text` holds only whitespace (or nothing).
bool is_blank(std::string_view text);

// Strips spaces, tabs, CR, LF, FF and VT from both ends.
std::string_view trim(std::string_view s);

inline bool is_space(char c) {
  return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\f' || c == '\v';
}
inline bool is_upper(char c) { return c >= 'A' && c <= 'Z'; }
inline bool is_lower(char c) { return c >= 'a' && c <= 'z'; }
inline bool is_letter(char c) { return is_upper(c) || is_lower(c); }
inline bool is_digit(char c) { return c >= '0' && c <= '9'; }

// Describes one character for an error message: 'x', or 0xNN for non-printables.
std::string describe_char(char c);

// The format extension of a file name: lower case, without the dot and without a
// trailing ".gz" ("X.A3M.gz" -> "a3m"); empty when the name has none.
std::string format_extension(std::string_view path);

// Walks `text` line by line. Lines end at "\n", "\r\n" or a lone "\r"; the terminator
// is not part of the returned line. The text must outlive the reader.
class LineReader {
 public:
  explicit LineReader(std::string_view text) : text_(text) {}

  // Sets `line` to the next line and returns true, or returns false at the end.
  bool next(std::string_view& line);

  // 1-based number of the line last returned by next() (0 before the first call).
  long line_number() const { return line_number_; }

 private:
  std::string_view text_;
  size_t pos_ = 0;
  long line_number_ = 0;
};

// Removes a folder and everything in it (nothing when it does not exist). Not
// std::filesystem::remove_all: libtorch.so exports its own copy of that symbol, which
// crashed in this project (see tests/test_paths.h), and these libraries are linked into
// torch programs.
void remove_tree(const std::string& path);

}  // namespace fold::data
