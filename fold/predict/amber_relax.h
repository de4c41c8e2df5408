// AlphaFold2's Amber relaxation of a predicted structure (alphafold/relax/relax.py,
// amber_minimize.run_pipeline): restrained energy minimisation in OpenMM's amber99sb,
// repeated while AF2's structural-violation check (fold/loss/structural_violations,
// with relax's tolerances: 12 standard deviations for bonds and angles, 1.5 A overlap
// for clashes) still finds a violating residue, each round releasing the restraints of
// the residues that violated, up to max_outer_iterations rounds.
//
// Each minimisation is fold/predict/amber_minimize.py (compiled into the binary), run
// with a Python that has OpenMM and PDBFixer: Debian's python3-pdbfixer,
// python3-simtk and libopenmm-plugins for /usr/bin/python3, which tools/setup.sh
// installs. AF2 and OpenFold also drive OpenMM from Python.
#pragma once

#include <cstdint>
#include <string>

#include "data/protein.h"

namespace fold {

struct RelaxOptions {
  double stiffness = 10.0;         // kcal/mol/A^2, the heavy-atom restraint
  double tolerance = 2.39;         // kcal/mol, where OpenMM's minimiser stops
  int max_iterations = 0;          // OpenMM's per minimisation; 0: until the tolerance
  int max_outer_iterations = 100;  // minimisations at most while violations remain
  // An interpreter with OpenMM and PDBFixer. Empty: $FOLD_RELAX_PYTHON, then python3 on
  // PATH, then /usr/bin/python3, the first that imports pdbfixer.
  std::string python;
};

// AF2's violation counts of a structure (find_violations in amber_minimize.py).
struct StructureViolations {
  int64_t residues = 0;        // residues with any violation (num_residue_violations)
  int64_t clashing_atoms = 0;  // atoms in a clash with another residue's atom
  int64_t bond_residues = 0;   // residues with a peptide bond or angle out of bounds
  int64_t within_residue_atoms = 0;  // atoms too near or too far within their residue
};

struct RelaxResult {
  std::string pdb;       // the relaxed structure with every atom, hydrogens included
  data::Protein protein;  // its heavy atoms
  StructureViolations before, after;
  int iterations = 0;                           // minimisations run
  double initial_energy = 0, final_energy = 0;  // kcal/mol, before the first and after the last
  double heavy_atom_rmsd = 0;                   // A, relaxed against input (no superposition)
};

StructureViolations count_violations(const data::Protein& protein);

// The relaxation's numbers as JSON text: violations before and after, rounds, energies,
// the heavy-atom RMSD and the settings. `fold relax` writes it to <name>_relax.json,
// `fold predict --relax` into <name>.json.
std::string relax_summary_json(const RelaxResult& result, const RelaxOptions& options);

// Throws std::runtime_error when no Python with OpenMM is found (saying how to get one)
// or a minimisation fails (with the end of its output), and std::invalid_argument on a
// structure without atoms or a collapsed one (residues on top of each other).
RelaxResult relax(const data::Protein& protein, const RelaxOptions& options = {});

}  // namespace fold
