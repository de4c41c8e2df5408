// `fold prepare`: structure files + per-chain alignment folders -> the HDF5 chain
// dataset for training (data/prepare_dataset.h has the rules). Prints a JSON summary;
// inputs that could not be converted are listed there with their reason and make the
// exit status 1 (the rest are converted all the same).
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>
#include <unistd.h>

#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "data/prepare_dataset.h"
#include "fold/cli/commands.h"
#include "fold/cli/id_list.h"

namespace fold::cli {

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
    // An empty list is a mistake (an empty file), not a request for every chain.
    if (!chain_list->empty() && o->chains.empty()) throw CLI::ValidationError("--chains", "names no chain: " + *chain_list);
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
