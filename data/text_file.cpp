#include "data/text_file.h"

#include <ftw.h>
#include <zlib.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <unistd.h>
#include <vector>

#include "data/parse_error.h"

namespace fold::data {
namespace {

bool ends_with(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

std::string read_gzip(const std::string& path) {
  errno = 0;
  gzFile file = gzopen(path.c_str(), "rb");
  if (file == nullptr) {
    const int err = errno;
    throw ParseError(path, 0,
                     std::string("cannot open file: ") +
                         (err != 0 ? std::strerror(err) : "zlib could not allocate a reader"));
  }
  std::string out;
  std::vector<char> buffer(1 << 16);
  for (;;) {
    const int n = gzread(file, buffer.data(), static_cast<unsigned>(buffer.size()));
    if (n < 0) {
      int code = 0;
      const char* message = gzerror(file, &code);
      std::string problem = std::string("cannot decompress gzip data: ") +
                            (message != nullptr && *message != '\0' ? message : "read error");
      gzclose(file);
      throw ParseError(path, 0, problem);
    }
    if (n == 0) break;
    out.append(buffer.data(), static_cast<size_t>(n));
  }
  // gzread returns 0 both at a clean end and at some truncations; gzerror tells which.
  int code = Z_OK;
  const char* message = gzerror(file, &code);
  if (code != Z_OK && code != Z_STREAM_END) {
    std::string problem = std::string("cannot decompress gzip data: ") +
                          (message != nullptr && *message != '\0' ? message : "read error");
    gzclose(file);
    throw ParseError(path, 0, problem);
  }
  gzclose(file);
  return out;
}

}  // namespace

void write_text_file(const std::string& path, const std::string& text) {
  const std::string tmp = path + ".tmp" + std::to_string(::getpid());
  {
    std::ofstream out(tmp, std::ios::binary);
    out << text;
    if (!out.flush()) throw std::runtime_error("cannot write " + tmp);
  }
  std::filesystem::rename(tmp, path);
}

std::string read_text_file(const std::string& path) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) {
    throw ParseError(path, 0, "cannot read file: it is a directory");
  }
  if (ends_with(path, ".gz")) return read_gzip(path);

  std::ifstream in(path, std::ios::binary);
  if (!in) {
    const int err = errno;
    throw ParseError(path, 0,
                     std::string("cannot open file: ") +
                         (err != 0 ? std::strerror(err) : "unknown error"));
  }
  std::ostringstream content;
  content << in.rdbuf();
  if (in.bad()) throw ParseError(path, 0, "cannot read file: I/O error");
  return std::move(content).str();
}

void require_text(std::string_view text, const std::string& source) {
  long line = 1;
  long column = 1;
  for (size_t i = 0; i < text.size(); ++i) {
    const auto c = static_cast<unsigned char>(text[i]);
    if (c == '\n') {
      ++line;
      column = 1;
      continue;
    }
    if (c == '\r') {
      // "\r\n" counts once; a lone "\r" is a line break of its own (as LineReader).
      if (i + 1 >= text.size() || text[i + 1] != '\n') {
        ++line;
        column = 1;
      }
      continue;
    }
    if ((c < 0x20 && c != '\t') || c == 0x7f) {
      char hex[8];
      std::snprintf(hex, sizeof hex, "0x%02x", static_cast<unsigned>(c));
      throw ParseError(source, line,
                       "binary data, not text: control byte " + std::string(hex) +
                           " at column " + std::to_string(column));
    }
    ++column;
  }
}

bool is_blank(std::string_view text) {
  for (char c : text) {
    if (!is_space(c)) return false;
  }
  return true;
}

std::string_view trim(std::string_view s) {
  size_t begin = 0;
  size_t end = s.size();
  while (begin < end && is_space(s[begin])) ++begin;
  while (end > begin && is_space(s[end - 1])) --end;
  return s.substr(begin, end - begin);
}

std::string describe_char(char c) {
  const auto u = static_cast<unsigned char>(c);
  if (u >= 0x21 && u < 0x7f) return std::string("'") + c + "'";
  char hex[8];
  std::snprintf(hex, sizeof hex, "0x%02x", static_cast<unsigned>(u));
  return hex;
}

bool LineReader::next(std::string_view& line) {
  if (pos_ >= text_.size()) return false;
  size_t end = pos_;
  while (end < text_.size() && text_[end] != '\n' && text_[end] != '\r') ++end;
  line = text_.substr(pos_, end - pos_);
  if (end < text_.size()) {
    if (text_[end] == '\r' && end + 1 < text_.size() && text_[end + 1] == '\n') ++end;
    ++end;
  }
  pos_ = end;
  ++line_number_;
  return true;
}

std::string format_extension(std::string_view path) {
  const size_t slash = path.find_last_of('/');
  std::string name(slash == std::string_view::npos ? path : path.substr(slash + 1));
  for (char& c : name)
    if (is_upper(c)) c = static_cast<char>(c - 'A' + 'a');
  if (name.size() > 3 && name.compare(name.size() - 3, 3, ".gz") == 0) name.resize(name.size() - 3);
  const size_t dot = name.rfind('.');
  return dot == std::string::npos ? "" : name.substr(dot + 1);
}

namespace {
int remove_entry(const char* path, const struct stat*, int, struct FTW*) {
  ::remove(path);
  return 0;
}
}  // namespace

void remove_tree(const std::string& path) {
  if (!path.empty()) ::nftw(path.c_str(), remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

}  // namespace fold::data
