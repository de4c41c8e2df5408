// `fold relax`: AF2's Amber relaxation of structures (PDB or mmCIF) -> <name>_relaxed.pdb
// and <name>_relax.json. The work is in fold/predict/amber_relax.
#include <CLI/CLI.hpp>

#include <filesystem>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "data/protein.h"
#include "data/text_file.h"
#include "fold/cli/commands.h"
#include "fold/predict/amber_relax.h"

namespace fold::cli {

void add_relax_command(CLI::App& app) {
  auto* cmd = app.add_subcommand(
      "relax",
      "Relax structures as AF2 does: restrained Amber minimisation (OpenMM, amber99sb) repeated until no structural "
      "violation remains -> <out>/<name>_relaxed.pdb (with hydrogens) and <name>_relax.json");
  struct Args {
    std::vector<std::string> inputs;
    std::string out_dir = ".";
    RelaxOptions options;
  };
  auto a = std::make_shared<Args>();
  cmd->add_option("STRUCTURE", a->inputs, "PDB or mmCIF files (.gz too), e.g. a prediction's <name>.pdb")
      ->required()
      ->check(CLI::ExistingFile);
  cmd->add_option("--out", a->out_dir, "Output folder")->capture_default_str();
  cmd->add_option("--stiffness", a->options.stiffness, "Heavy-atom restraint, kcal/mol/A^2 (AF2: 10)")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--tolerance", a->options.tolerance, "Energy tolerance of the minimiser, kcal/mol (AF2: 2.39)")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  cmd->add_option("--max-iterations", a->options.max_iterations,
                  "OpenMM iterations per minimisation (0: until the tolerance, as AF2)")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--max-outer-iterations", a->options.max_outer_iterations,
                  "Minimisations at most while violations remain")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  cmd->add_option("--python", a->options.python,
                  "Python with OpenMM and PDBFixer (default: $FOLD_RELAX_PYTHON, python3, /usr/bin/python3)");
  cmd->callback([a] {
    std::filesystem::create_directories(a->out_dir);
    for (const std::string& input : a->inputs) {
      const data::Protein protein = data::read_protein(input);
      std::filesystem::path file = std::filesystem::path(input).filename();
      if (file.extension() == ".gz") file = file.stem();
      const std::string name = file.stem().string();
      const RelaxResult r = relax(protein, a->options);
      const auto out = std::filesystem::path(a->out_dir);
      data::write_text_file((out / (name + "_relaxed.pdb")).string(), r.pdb);
      data::write_text_file((out / (name + "_relax.json")).string(), relax_summary_json(r, a->options) + "\n");
      std::cout << "wrote " << (out / (name + "_relaxed.pdb")).string() << ": residues with violations "
                << r.before.residues << " -> " << r.after.residues << ", clashing atoms " << r.before.clashing_atoms
                << " -> " << r.after.clashing_atoms << ", " << r.iterations << " minimisation(s), heavy-atom RMSD "
                << r.heavy_atom_rmsd << " A, energy " << r.initial_energy << " -> " << r.final_energy
                << " kcal/mol\n";
    }
  });
}

}  // namespace fold::cli
