// `fold prepare`: structure files + per-chain alignment folders -> the HDF5 chain
// dataset for training (data/prepare_dataset.h has the rules). Prints a JSON summary;
// inputs that could not be converted are listed there with their reason and make the
// exit status 1 (the rest are converted all the same).
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>
#include <unistd.h>

#include <fstream>
#include <iostream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "data/prepare_dataset.h"
#include "fold/cli/commands.h"

namespace fold::cli {

namespace {

// "1abc_A,2def_B" or "@file" (one id per line, '#' comments).
std::vector<std::string> parse_id_list(const std::string& spec) {
  std::vector<std::string> ids;
  if (spec.empty()) return ids;
  std::string text = spec;
  char separator = ',';
  if (spec[0] == '@') {
    std::ifstream in(spec.substr(1));
    if (!in) throw CLI::ValidationError("--chains", "cannot read " + spec.substr(1));
    std::stringstream buffer;
    buffer << in.rdbuf();
    text = buffer.str();
    separator = '\n';
  }
  std::stringstream ss(text);
  for (std::string id; std::getline(ss, id, separator);) {
    const size_t hash = id.find('#');
    if (hash != std::string::npos) id.resize(hash);
    const size_t b = id.find_first_not_of(" \t\r"), e = id.find_last_not_of(" \t\r");
    if (b != std::string::npos) ids.push_back(id.substr(b, e - b + 1));
  }
  return ids;
}

}  // namespace

void add_prepare_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("prepare", "Convert mmCIF/PDB files and their alignments into a training dataset (HDF5)");
  auto o = std::make_shared<data::PrepareOptions>();
  auto chain_list = std::make_shared<std::string>();
  cmd->add_option("--mmcif-dir", o->structure_dir, "Structures: .cif .mmcif .pdb .ent, optionally .gz")
      ->required()
      ->check(CLI::ExistingDirectory);
  cmd->add_option("--alignment-dir", o->alignment_dir,
                  "OpenFold layout: DIR/<entry>_<chain>/*.a3m|*.a2m|*.sto|*.hhr (optional: single-sequence MSAs)")
      ->check(CLI::ExistingDirectory);
  cmd->add_option("--out", o->out, "The dataset (.h5); chains already in it are kept and not converted again")
      ->required();
  cmd->add_option("--chains", *chain_list, "Only these chains: comma-separated ids (1abc_A) or @FILE with one per line");
  cmd->add_option("--min-resolution,--max-resolution", o->max_resolution,
                  "Resolution cutoff in Angstrom: chains resolved worse (a larger value) are left out; 0 = keep all")
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--jobs,-j", o->jobs, "Files converted in parallel")->check(CLI::PositiveNumber);
  auto quiet = std::make_shared<bool>(false);
  cmd->add_flag("--quiet", *quiet, "No progress bar or warnings on stderr");
  cmd->callback([o, chain_list, quiet] {
    o->chains = parse_id_list(*chain_list);
    o->progress = !*quiet && isatty(STDERR_FILENO);
    const data::PrepareSummary s = data::prepare_dataset(*o, std::cerr);
    using nlohmann::json;
    json failed = json::array(), filtered = json::array();
    for (const auto& p : s.failed) failed.push_back({{"file", p.file}, {"reason", p.reason}});
    for (const auto& p : s.filtered) filtered.push_back({{"file", p.file}, {"reason", p.reason}});
    if (!*quiet)
      for (const auto& w : s.warnings) std::cerr << "warning: " << w << "\n";
    for (const auto& p : s.failed) std::cerr << "not converted: " << p.file << ": " << p.reason << "\n";
    const json j = {{"out", o->out},
                    {"structure_files", s.files},
                    {"added", s.added.size()},
                    {"already_present", s.already_present},
                    {"failed", failed},
                    {"filtered", filtered},
                    {"warnings", s.warnings.size()},
                    {"added_chains", s.added}};
    std::cout << j.dump(2) << "\n";
    if (!s.failed.empty()) throw CLI::RuntimeError(1);
  });
}

}  // namespace fold::cli
