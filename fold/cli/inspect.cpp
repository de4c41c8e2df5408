// `fold inspect FILE`: data/file_summary's JSON summary of the file.
#include <CLI/CLI.hpp>

#include <iostream>
#include <memory>
#include <string>

#include "data/file_summary.h"
#include "fold/cli/commands.h"

namespace fold::cli {

void add_inspect_command(CLI::App& app) {
  auto* cmd = app.add_subcommand(
      "inspect",
      "JSON summary of a FASTA, a3m/a2m, Stockholm, hhr, mmCIF or PDB file (optionally .gz), or of a chain "
      "dataset (.h5, every chain checked; exits 1 when one is unreadable)");
  auto path = std::make_shared<std::string>();
  auto max_records = std::make_shared<size_t>(20);
  cmd->add_option("FILE", *path, "File to describe")->required()->check(CLI::ExistingFile);
  cmd->add_option("--max-records", *max_records, "Records listed one by one (counts are always complete)");
  cmd->callback([path, max_records] {
    data::FileSummary summary;
    try {
      summary = data::summarize_file(*path, *max_records);
    } catch (const data::UnknownFileFormat& e) {
      throw CLI::ValidationError("FILE", e.what());
    }
    std::cout << summary.json << "\n";
    if (summary.problems > 0) {
      std::cerr << "fold inspect: " << summary.problems << " chain(s) of " << *path << " cannot be used\n";
      throw CLI::RuntimeError(1);
    }
  });
}

}  // namespace fold::cli
