"""One restrained Amber minimisation of a protein: the inner step of AlphaFold2's relax
(alphafold/relax/amber_minimize.py, _run_one_iteration), which `fold relax` repeats
until its structural-violation check (fold/loss, in C++) finds none.

The structure is cleaned with PDBFixer (non-standard residues replaced, heterogens and
water removed, missing heavy atoms and hydrogens added; no missing residue is built),
then minimised with OpenMM in amber99sb with hydrogen-bond constraints and a harmonic
restraint of stiffness k on every heavy atom of the residues not excluded, to the
energy tolerance given, retrying up to max_attempts times when OpenMM fails (AF2's
max_attempts). Written with every atom, hydrogens included, each residue's B-factor
(pLDDT in a prediction) taken from the input as AF2's overwrite_b_factors does.

Run by `fold relax` with Debian's python3-openmm and python3-pdbfixer:
  python3 amber_minimize.py IN.pdb OUT.pdb STIFFNESS TOLERANCE EXCLUDED [MAX_ITERATIONS]
STIFFNESS in kcal/mol/A^2, TOLERANCE in kcal/mol, EXCLUDED a comma-separated list of
0-based residue indices (or "-"). Prints one JSON line: initial and final energies
(kcal/mol) and the attempts taken.
"""
import io
import json
import sys

try:
    import openmm
    from openmm import app, unit
except ImportError:  # OpenMM before 7.6 (Debian 11) named its package simtk.openmm
    from simtk import openmm, unit
    from simtk.openmm import app
import pdbfixer

ENERGY = unit.kilocalories_per_mole
LENGTH = unit.angstroms


def cleaned(pdb_text):
    fixer = pdbfixer.PDBFixer(pdbfile=io.StringIO(pdb_text))
    fixer.findNonstandardResidues()
    fixer.replaceNonstandardResidues()
    fixer.removeHeterogens(keepWater=False)
    fixer.findMissingResidues()
    fixer.missingResidues = {}
    fixer.findMissingAtoms()
    fixer.addMissingAtoms(seed=0)
    fixer.addMissingHydrogens()
    out = io.StringIO()
    app.PDBFile.writeFile(fixer.topology, fixer.positions, out, keepIds=True)
    return out.getvalue()


def platform():
    # AF2 relaxes on OpenMM's CPU platform (Debian's libopenmm-plugins); the Reference
    # platform, always built in, gives the same minimum more slowly.
    names = [openmm.Platform.getPlatform(i).getName() for i in range(openmm.Platform.getNumPlatforms())]
    return openmm.Platform.getPlatformByName("CPU" if "CPU" in names else "Reference")


def minimise(pdb_text, stiffness, tolerance, excluded, max_iterations):
    pdb = app.PDBFile(io.StringIO(pdb_text))
    system = app.ForceField("amber99sb.xml").createSystem(pdb.topology, constraints=app.HBonds)
    restraint = openmm.CustomExternalForce("0.5 * k * ((x-x0)^2 + (y-y0)^2 + (z-z0)^2)")
    restraint.addGlobalParameter("k", stiffness * ENERGY / LENGTH**2)
    for p in ("x0", "y0", "z0"):
        restraint.addPerParticleParameter(p)
    for i, atom in enumerate(pdb.topology.atoms()):
        if atom.residue.index not in excluded and atom.element.name != "hydrogen":
            restraint.addParticle(i, pdb.positions[i])
    system.addForce(restraint)
    integrator = openmm.LangevinIntegrator(0, 0.01, 0.0)
    simulation = app.Simulation(pdb.topology, system, integrator, platform())
    simulation.context.setPositions(pdb.positions)
    e_init = simulation.context.getState(getEnergy=True).getPotentialEnergy().value_in_unit(ENERGY)
    simulation.minimizeEnergy(maxIterations=max_iterations, tolerance=tolerance * ENERGY)
    state = simulation.context.getState(getEnergy=True, getPositions=True)
    out = io.StringIO()
    app.PDBFile.writeFile(simulation.topology, state.getPositions(), out, keepIds=True)
    return out.getvalue(), e_init, state.getPotentialEnergy().value_in_unit(ENERGY)


def with_b_factors(pdb_text, source_text):
    # An atom present in the input keeps its B-factor; an added one (hydrogens, rebuilt
    # side-chain atoms) takes the first of its residue's.
    def residue(line):
        return line[21], line[22:27]  # chain, residue number + insertion code

    atom_b, residue_b = {}, {}
    for l in source_text.splitlines():
        if l.startswith(("ATOM", "HETATM")) and len(l) >= 66:
            atom_b[residue(l), l[12:16]] = l[60:66]
            residue_b.setdefault(residue(l), l[60:66])
    lines = []
    for l in pdb_text.splitlines():
        if l.startswith(("ATOM", "HETATM")) and len(l) >= 66:
            b = atom_b.get((residue(l), l[12:16]), residue_b.get(residue(l), l[60:66]))
            l = l[:60] + b + l[66:]
        lines.append(l)
    return "\n".join(lines) + "\n"


def main(argv):
    if len(argv) not in (6, 7):
        sys.exit(__doc__)
    source, target, stiffness, tolerance, excluded = argv[1:6]
    max_iterations = int(argv[6]) if len(argv) == 7 else 0
    excluded = set() if excluded == "-" else {int(i) for i in excluded.split(",")}
    with open(source) as f:
        source_text = f.read()
    pdb_text = cleaned(source_text)
    max_attempts, error = 100, None
    for attempt in range(1, max_attempts + 1):
        try:
            text, e_init, e_final = minimise(pdb_text, float(stiffness), float(tolerance), excluded, max_iterations)
            break
        except Exception as e:  # OpenMM raises plain Exceptions (e.g. NaN particle positions)
            error = e
    else:
        sys.exit(f"amber_minimize.py: minimisation failed {max_attempts} times: {error}")
    with open(target, "w") as f:
        f.write(with_b_factors(text, source_text))
    print(json.dumps({"initial_energy": e_init, "final_energy": e_final, "attempts": attempt}))


if __name__ == "__main__":
    main(sys.argv)
