// Errors raised by every reader in data/: one message naming the file, the record or
// line, and the problem, so a user can find the bad input without a debugger.
#pragma once

#include <stdexcept>
#include <string>

namespace fold::data {

class ParseError : public std::runtime_error {
 public:
  // line <= 0 means "no line number applies" (e.g. an empty or binary file).
  ParseError(std::string file, long line, std::string problem)
      : std::runtime_error(format(file, line, problem)),
        file_(std::move(file)),
        line_(line),
        problem_(std::move(problem)) {}

  const std::string& file() const { return file_; }
  long line() const { return line_; }
  const std::string& problem() const { return problem_; }

 private:
  static std::string format(const std::string& file, long line, const std::string& problem) {
    std::string where = file.empty() ? std::string("<input>") : file;
    if (line > 0) where += ":" + std::to_string(line);
    return where + ": " + problem;
  }

  std::string file_;
  long line_;
  std::string problem_;
};

}  // namespace fold::data
