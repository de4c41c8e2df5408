// Data and derived tables for residue_constants.h. The literal tables below are
// AlphaFold2's (residue_constants.py / stereo_chemical_props.txt); everything
// else is computed from them once, on first use.
#include "data/residue_constants.h"

#include <cmath>
#include <stdexcept>
#include <string>

namespace fold::data::rc {
namespace {

constexpr double kPi = 3.14159265358979323846;

// ---------------------------------------------------------------------------
// Literal data.

// Dense atom14 layout; slot order is AF2's (backbone N CA C O first).
constexpr Table2<std::string_view, kNumRestypesWithX, kAtom14> kAtom14Names = {{
    {"N", "CA", "C", "O", "CB", "", "", "", "", "", "", "", "", ""},                    // ALA
    {"N", "CA", "C", "O", "CB", "CG", "CD", "NE", "CZ", "NH1", "NH2", "", "", ""},      // ARG
    {"N", "CA", "C", "O", "CB", "CG", "OD1", "ND2", "", "", "", "", "", ""},            // ASN
    {"N", "CA", "C", "O", "CB", "CG", "OD1", "OD2", "", "", "", "", "", ""},            // ASP
    {"N", "CA", "C", "O", "CB", "SG", "", "", "", "", "", "", "", ""},                  // CYS
    {"N", "CA", "C", "O", "CB", "CG", "CD", "OE1", "NE2", "", "", "", "", ""},          // GLN
    {"N", "CA", "C", "O", "CB", "CG", "CD", "OE1", "OE2", "", "", "", "", ""},          // GLU
    {"N", "CA", "C", "O", "", "", "", "", "", "", "", "", "", ""},                      // GLY
    {"N", "CA", "C", "O", "CB", "CG", "ND1", "CD2", "CE1", "NE2", "", "", "", ""},      // HIS
    {"N", "CA", "C", "O", "CB", "CG1", "CG2", "CD1", "", "", "", "", "", ""},           // ILE
    {"N", "CA", "C", "O", "CB", "CG", "CD1", "CD2", "", "", "", "", "", ""},            // LEU
    {"N", "CA", "C", "O", "CB", "CG", "CD", "CE", "NZ", "", "", "", "", ""},            // LYS
    {"N", "CA", "C", "O", "CB", "CG", "SD", "CE", "", "", "", "", "", ""},              // MET
    {"N", "CA", "C", "O", "CB", "CG", "CD1", "CD2", "CE1", "CE2", "CZ", "", "", ""},    // PHE
    {"N", "CA", "C", "O", "CB", "CG", "CD", "", "", "", "", "", "", ""},                // PRO
    {"N", "CA", "C", "O", "CB", "OG", "", "", "", "", "", "", "", ""},                  // SER
    {"N", "CA", "C", "O", "CB", "OG1", "CG2", "", "", "", "", "", "", ""},              // THR
    {"N", "CA", "C", "O", "CB", "CG", "CD1", "CD2", "NE1", "CE2", "CE3", "CZ2", "CZ3", "CH2"},  // TRP
    {"N", "CA", "C", "O", "CB", "CG", "CD1", "CD2", "CE1", "CE2", "CZ", "OH", "", ""},  // TYR
    {"N", "CA", "C", "O", "CB", "CG1", "CG2", "", "", "", "", "", "", ""},              // VAL
    {"", "", "", "", "", "", "", "", "", "", "", "", "", ""},                           // UNK
}};

// Chi angle definitions: one row per chi angle, listed chi1 first within each
// residue. ALA and GLY have none; ARG's chi5 (always ~0) is not modelled.
struct ChiRow {
  std::string_view resname;
  std::array<std::string_view, 4> atoms;
};
constexpr ChiRow kChiRows[] = {
    {"ARG", {"N", "CA", "CB", "CG"}},   {"ARG", {"CA", "CB", "CG", "CD"}},
    {"ARG", {"CB", "CG", "CD", "NE"}},  {"ARG", {"CG", "CD", "NE", "CZ"}},
    {"ASN", {"N", "CA", "CB", "CG"}},   {"ASN", {"CA", "CB", "CG", "OD1"}},
    {"ASP", {"N", "CA", "CB", "CG"}},   {"ASP", {"CA", "CB", "CG", "OD1"}},
    {"CYS", {"N", "CA", "CB", "SG"}},
    {"GLN", {"N", "CA", "CB", "CG"}},   {"GLN", {"CA", "CB", "CG", "CD"}},
    {"GLN", {"CB", "CG", "CD", "OE1"}},
    {"GLU", {"N", "CA", "CB", "CG"}},   {"GLU", {"CA", "CB", "CG", "CD"}},
    {"GLU", {"CB", "CG", "CD", "OE1"}},
    {"HIS", {"N", "CA", "CB", "CG"}},   {"HIS", {"CA", "CB", "CG", "ND1"}},
    {"ILE", {"N", "CA", "CB", "CG1"}},  {"ILE", {"CA", "CB", "CG1", "CD1"}},
    {"LEU", {"N", "CA", "CB", "CG"}},   {"LEU", {"CA", "CB", "CG", "CD1"}},
    {"LYS", {"N", "CA", "CB", "CG"}},   {"LYS", {"CA", "CB", "CG", "CD"}},
    {"LYS", {"CB", "CG", "CD", "CE"}},  {"LYS", {"CG", "CD", "CE", "NZ"}},
    {"MET", {"N", "CA", "CB", "CG"}},   {"MET", {"CA", "CB", "CG", "SD"}},
    {"MET", {"CB", "CG", "SD", "CE"}},
    {"PHE", {"N", "CA", "CB", "CG"}},   {"PHE", {"CA", "CB", "CG", "CD1"}},
    {"PRO", {"N", "CA", "CB", "CG"}},   {"PRO", {"CA", "CB", "CG", "CD"}},
    {"SER", {"N", "CA", "CB", "OG"}},
    {"THR", {"N", "CA", "CB", "OG1"}},
    {"TRP", {"N", "CA", "CB", "CG"}},   {"TRP", {"CA", "CB", "CG", "CD1"}},
    {"TYR", {"N", "CA", "CB", "CG"}},   {"TYR", {"CA", "CB", "CG", "CD1"}},
    {"VAL", {"N", "CA", "CB", "CG1"}},
};

// AF2's explicit chi mask (restype order, UNK last).
constexpr Table2<float, kNumRestypesWithX, kNumChi> kChiMask = {{
    {0, 0, 0, 0},  // ALA
    {1, 1, 1, 1},  // ARG
    {1, 1, 0, 0},  // ASN
    {1, 1, 0, 0},  // ASP
    {1, 0, 0, 0},  // CYS
    {1, 1, 1, 0},  // GLN
    {1, 1, 1, 0},  // GLU
    {0, 0, 0, 0},  // GLY
    {1, 1, 0, 0},  // HIS
    {1, 1, 0, 0},  // ILE
    {1, 1, 0, 0},  // LEU
    {1, 1, 1, 1},  // LYS
    {1, 1, 1, 0},  // MET
    {1, 1, 0, 0},  // PHE
    {1, 1, 0, 0},  // PRO
    {1, 0, 0, 0},  // SER
    {1, 0, 0, 0},  // THR
    {1, 1, 0, 0},  // TRP
    {1, 1, 0, 0},  // TYR
    {1, 0, 0, 0},  // VAL
    {0, 0, 0, 0},  // UNK
}};

// Chi angles that are symmetric under a rotation by pi (0-based chi index).
struct PiPeriodicChi {
  std::string_view resname;
  int chi;
};
constexpr PiPeriodicChi kPiPeriodic[] = {{"ASP", 1}, {"GLU", 2}, {"PHE", 1}, {"TYR", 1}};

// Idealised atom positions in their rigid group's frame, AF2 listing order.
struct RigidRow {
  std::string_view resname;
  std::string_view atom;
  int group;
  std::array<double, 3> pos;
};
constexpr RigidRow kRigidRows[] = {
    {"ALA", "N", 0, {-0.525, 1.363, 0.000}},
    {"ALA", "CA", 0, {0.000, 0.000, 0.000}},
    {"ALA", "C", 0, {1.526, -0.000, -0.000}},
    {"ALA", "CB", 0, {-0.529, -0.774, -1.205}},
    {"ALA", "O", 3, {0.627, 1.062, 0.000}},
    {"ARG", "N", 0, {-0.524, 1.362, -0.000}},
    {"ARG", "CA", 0, {0.000, 0.000, 0.000}},
    {"ARG", "C", 0, {1.525, -0.000, -0.000}},
    {"ARG", "CB", 0, {-0.524, -0.778, -1.209}},
    {"ARG", "O", 3, {0.626, 1.062, 0.000}},
    {"ARG", "CG", 4, {0.616, 1.390, -0.000}},
    {"ARG", "CD", 5, {0.564, 1.414, 0.000}},
    {"ARG", "NE", 6, {0.539, 1.357, -0.000}},
    {"ARG", "NH1", 7, {0.206, 2.301, 0.000}},
    {"ARG", "NH2", 7, {2.078, 0.978, -0.000}},
    {"ARG", "CZ", 7, {0.758, 1.093, -0.000}},
    {"ASN", "N", 0, {-0.536, 1.357, 0.000}},
    {"ASN", "CA", 0, {0.000, 0.000, 0.000}},
    {"ASN", "C", 0, {1.526, -0.000, -0.000}},
    {"ASN", "CB", 0, {-0.531, -0.787, -1.200}},
    {"ASN", "O", 3, {0.625, 1.062, 0.000}},
    {"ASN", "CG", 4, {0.584, 1.399, 0.000}},
    {"ASN", "ND2", 5, {0.593, -1.188, 0.001}},
    {"ASN", "OD1", 5, {0.633, 1.059, 0.000}},
    {"ASP", "N", 0, {-0.525, 1.362, -0.000}},
    {"ASP", "CA", 0, {0.000, 0.000, 0.000}},
    {"ASP", "C", 0, {1.527, 0.000, -0.000}},
    {"ASP", "CB", 0, {-0.526, -0.778, -1.208}},
    {"ASP", "O", 3, {0.626, 1.062, -0.000}},
    {"ASP", "CG", 4, {0.593, 1.398, -0.000}},
    {"ASP", "OD1", 5, {0.610, 1.091, 0.000}},
    {"ASP", "OD2", 5, {0.592, -1.101, -0.003}},
    {"CYS", "N", 0, {-0.522, 1.362, -0.000}},
    {"CYS", "CA", 0, {0.000, 0.000, 0.000}},
    {"CYS", "C", 0, {1.524, 0.000, 0.000}},
    {"CYS", "CB", 0, {-0.519, -0.773, -1.212}},
    {"CYS", "O", 3, {0.625, 1.062, -0.000}},
    {"CYS", "SG", 4, {0.728, 1.653, 0.000}},
    {"GLN", "N", 0, {-0.526, 1.361, -0.000}},
    {"GLN", "CA", 0, {0.000, 0.000, 0.000}},
    {"GLN", "C", 0, {1.526, 0.000, 0.000}},
    {"GLN", "CB", 0, {-0.525, -0.779, -1.207}},
    {"GLN", "O", 3, {0.626, 1.062, -0.000}},
    {"GLN", "CG", 4, {0.615, 1.393, 0.000}},
    {"GLN", "CD", 5, {0.587, 1.399, -0.000}},
    {"GLN", "NE2", 6, {0.593, -1.189, -0.001}},
    {"GLN", "OE1", 6, {0.634, 1.060, 0.000}},
    {"GLU", "N", 0, {-0.528, 1.361, 0.000}},
    {"GLU", "CA", 0, {0.000, 0.000, 0.000}},
    {"GLU", "C", 0, {1.526, -0.000, -0.000}},
    {"GLU", "CB", 0, {-0.526, -0.781, -1.207}},
    {"GLU", "O", 3, {0.626, 1.062, 0.000}},
    {"GLU", "CG", 4, {0.615, 1.392, 0.000}},
    {"GLU", "CD", 5, {0.600, 1.397, 0.000}},
    {"GLU", "OE1", 6, {0.607, 1.095, -0.000}},
    {"GLU", "OE2", 6, {0.589, -1.104, -0.001}},
    {"GLY", "N", 0, {-0.572, 1.337, 0.000}},
    {"GLY", "CA", 0, {0.000, 0.000, 0.000}},
    {"GLY", "C", 0, {1.517, -0.000, -0.000}},
    {"GLY", "O", 3, {0.626, 1.062, -0.000}},
    {"HIS", "N", 0, {-0.527, 1.360, 0.000}},
    {"HIS", "CA", 0, {0.000, 0.000, 0.000}},
    {"HIS", "C", 0, {1.525, 0.000, 0.000}},
    {"HIS", "CB", 0, {-0.525, -0.778, -1.208}},
    {"HIS", "O", 3, {0.625, 1.063, 0.000}},
    {"HIS", "CG", 4, {0.600, 1.370, -0.000}},
    {"HIS", "CD2", 5, {0.889, -1.021, 0.003}},
    {"HIS", "ND1", 5, {0.744, 1.160, -0.000}},
    {"HIS", "CE1", 5, {2.030, 0.851, 0.002}},
    {"HIS", "NE2", 5, {2.145, -0.466, 0.004}},
    {"ILE", "N", 0, {-0.493, 1.373, -0.000}},
    {"ILE", "CA", 0, {0.000, 0.000, 0.000}},
    {"ILE", "C", 0, {1.527, -0.000, -0.000}},
    {"ILE", "CB", 0, {-0.536, -0.793, -1.213}},
    {"ILE", "O", 3, {0.627, 1.062, -0.000}},
    {"ILE", "CG1", 4, {0.534, 1.437, -0.000}},
    {"ILE", "CG2", 4, {0.540, -0.785, -1.199}},
    {"ILE", "CD1", 5, {0.619, 1.391, 0.000}},
    {"LEU", "N", 0, {-0.520, 1.363, 0.000}},
    {"LEU", "CA", 0, {0.000, 0.000, 0.000}},
    {"LEU", "C", 0, {1.525, -0.000, -0.000}},
    {"LEU", "CB", 0, {-0.522, -0.773, -1.214}},
    {"LEU", "O", 3, {0.625, 1.063, -0.000}},
    {"LEU", "CG", 4, {0.678, 1.371, 0.000}},
    {"LEU", "CD1", 5, {0.530, 1.430, -0.000}},
    {"LEU", "CD2", 5, {0.535, -0.774, 1.200}},
    {"LYS", "N", 0, {-0.526, 1.362, -0.000}},
    {"LYS", "CA", 0, {0.000, 0.000, 0.000}},
    {"LYS", "C", 0, {1.526, 0.000, 0.000}},
    {"LYS", "CB", 0, {-0.524, -0.778, -1.208}},
    {"LYS", "O", 3, {0.626, 1.062, -0.000}},
    {"LYS", "CG", 4, {0.619, 1.390, 0.000}},
    {"LYS", "CD", 5, {0.559, 1.417, 0.000}},
    {"LYS", "CE", 6, {0.560, 1.416, 0.000}},
    {"LYS", "NZ", 7, {0.554, 1.387, 0.000}},
    {"MET", "N", 0, {-0.521, 1.364, -0.000}},
    {"MET", "CA", 0, {0.000, 0.000, 0.000}},
    {"MET", "C", 0, {1.525, 0.000, 0.000}},
    {"MET", "CB", 0, {-0.523, -0.776, -1.210}},
    {"MET", "O", 3, {0.625, 1.062, -0.000}},
    {"MET", "CG", 4, {0.613, 1.391, -0.000}},
    {"MET", "SD", 5, {0.703, 1.695, 0.000}},
    {"MET", "CE", 6, {0.320, 1.786, -0.000}},
    {"PHE", "N", 0, {-0.518, 1.363, 0.000}},
    {"PHE", "CA", 0, {0.000, 0.000, 0.000}},
    {"PHE", "C", 0, {1.524, 0.000, -0.000}},
    {"PHE", "CB", 0, {-0.525, -0.776, -1.212}},
    {"PHE", "O", 3, {0.626, 1.062, -0.000}},
    {"PHE", "CG", 4, {0.607, 1.377, 0.000}},
    {"PHE", "CD1", 5, {0.709, 1.195, -0.000}},
    {"PHE", "CD2", 5, {0.706, -1.196, 0.000}},
    {"PHE", "CE1", 5, {2.102, 1.198, -0.000}},
    {"PHE", "CE2", 5, {2.098, -1.201, -0.000}},
    {"PHE", "CZ", 5, {2.794, -0.003, -0.001}},
    {"PRO", "N", 0, {-0.566, 1.351, -0.000}},
    {"PRO", "CA", 0, {0.000, 0.000, 0.000}},
    {"PRO", "C", 0, {1.527, -0.000, 0.000}},
    {"PRO", "CB", 0, {-0.546, -0.611, -1.293}},
    {"PRO", "O", 3, {0.621, 1.066, 0.000}},
    {"PRO", "CG", 4, {0.382, 1.445, 0.000}},
    {"PRO", "CD", 5, {0.477, 1.424, 0.000}},  // AF2 widened this angle by 2 degrees by hand
    {"SER", "N", 0, {-0.529, 1.360, -0.000}},
    {"SER", "CA", 0, {0.000, 0.000, 0.000}},
    {"SER", "C", 0, {1.525, -0.000, -0.000}},
    {"SER", "CB", 0, {-0.518, -0.777, -1.211}},
    {"SER", "O", 3, {0.626, 1.062, -0.000}},
    {"SER", "OG", 4, {0.503, 1.325, 0.000}},
    {"THR", "N", 0, {-0.517, 1.364, 0.000}},
    {"THR", "CA", 0, {0.000, 0.000, 0.000}},
    {"THR", "C", 0, {1.526, 0.000, -0.000}},
    {"THR", "CB", 0, {-0.516, -0.793, -1.215}},
    {"THR", "O", 3, {0.626, 1.062, 0.000}},
    {"THR", "CG2", 4, {0.550, -0.718, -1.228}},
    {"THR", "OG1", 4, {0.472, 1.353, 0.000}},
    {"TRP", "N", 0, {-0.521, 1.363, 0.000}},
    {"TRP", "CA", 0, {0.000, 0.000, 0.000}},
    {"TRP", "C", 0, {1.525, -0.000, 0.000}},
    {"TRP", "CB", 0, {-0.523, -0.776, -1.212}},
    {"TRP", "O", 3, {0.627, 1.062, 0.000}},
    {"TRP", "CG", 4, {0.609, 1.370, -0.000}},
    {"TRP", "CD1", 5, {0.824, 1.091, 0.000}},
    {"TRP", "CD2", 5, {0.854, -1.148, -0.005}},
    {"TRP", "CE2", 5, {2.186, -0.678, -0.007}},
    {"TRP", "CE3", 5, {0.622, -2.530, -0.007}},
    {"TRP", "NE1", 5, {2.140, 0.690, -0.004}},
    {"TRP", "CH2", 5, {3.028, -2.890, -0.013}},
    {"TRP", "CZ2", 5, {3.283, -1.543, -0.011}},
    {"TRP", "CZ3", 5, {1.715, -3.389, -0.011}},
    {"TYR", "N", 0, {-0.522, 1.362, 0.000}},
    {"TYR", "CA", 0, {0.000, 0.000, 0.000}},
    {"TYR", "C", 0, {1.524, -0.000, -0.000}},
    {"TYR", "CB", 0, {-0.522, -0.776, -1.213}},
    {"TYR", "O", 3, {0.627, 1.062, -0.000}},
    {"TYR", "CG", 4, {0.607, 1.382, -0.000}},
    {"TYR", "CD1", 5, {0.716, 1.195, -0.000}},
    {"TYR", "CD2", 5, {0.713, -1.194, -0.001}},
    {"TYR", "CE1", 5, {2.107, 1.200, -0.002}},
    {"TYR", "CE2", 5, {2.104, -1.201, -0.003}},
    {"TYR", "OH", 5, {4.168, -0.002, -0.005}},
    {"TYR", "CZ", 5, {2.791, -0.001, -0.003}},
    {"VAL", "N", 0, {-0.494, 1.373, -0.000}},
    {"VAL", "CA", 0, {0.000, 0.000, 0.000}},
    {"VAL", "C", 0, {1.527, -0.000, -0.000}},
    {"VAL", "CB", 0, {-0.533, -0.795, -1.213}},
    {"VAL", "O", 3, {0.627, 1.062, -0.000}},
    {"VAL", "CG1", 4, {0.540, 1.429, -0.000}},
    {"VAL", "CG2", 4, {0.533, -0.776, 1.203}},
};

// stereo_chemical_props.txt: bond lengths (Angstrom, mean and stddev).
constexpr BondLength kBondRows[] = {
    {"ALA", "CA", "CB", 1.520, 0.021},
    {"ALA", "N", "CA", 1.459, 0.020},
    {"ALA", "CA", "C", 1.525, 0.026},
    {"ALA", "C", "O", 1.229, 0.019},
    {"ARG", "CA", "CB", 1.535, 0.022},
    {"ARG", "CB", "CG", 1.521, 0.027},
    {"ARG", "CG", "CD", 1.515, 0.025},
    {"ARG", "CD", "NE", 1.460, 0.017},
    {"ARG", "NE", "CZ", 1.326, 0.013},
    {"ARG", "CZ", "NH1", 1.326, 0.013},
    {"ARG", "CZ", "NH2", 1.326, 0.013},
    {"ARG", "N", "CA", 1.459, 0.020},
    {"ARG", "CA", "C", 1.525, 0.026},
    {"ARG", "C", "O", 1.229, 0.019},
    {"ASN", "CA", "CB", 1.527, 0.026},
    {"ASN", "CB", "CG", 1.506, 0.023},
    {"ASN", "CG", "OD1", 1.235, 0.022},
    {"ASN", "CG", "ND2", 1.324, 0.025},
    {"ASN", "N", "CA", 1.459, 0.020},
    {"ASN", "CA", "C", 1.525, 0.026},
    {"ASN", "C", "O", 1.229, 0.019},
    {"ASP", "CA", "CB", 1.535, 0.022},
    {"ASP", "CB", "CG", 1.513, 0.021},
    {"ASP", "CG", "OD1", 1.249, 0.023},
    {"ASP", "CG", "OD2", 1.249, 0.023},
    {"ASP", "N", "CA", 1.459, 0.020},
    {"ASP", "CA", "C", 1.525, 0.026},
    {"ASP", "C", "O", 1.229, 0.019},
    {"CYS", "CA", "CB", 1.526, 0.013},
    {"CYS", "CB", "SG", 1.812, 0.016},
    {"CYS", "N", "CA", 1.459, 0.020},
    {"CYS", "CA", "C", 1.525, 0.026},
    {"CYS", "C", "O", 1.229, 0.019},
    {"GLU", "CA", "CB", 1.535, 0.022},
    {"GLU", "CB", "CG", 1.517, 0.019},
    {"GLU", "CG", "CD", 1.515, 0.015},
    {"GLU", "CD", "OE1", 1.252, 0.011},
    {"GLU", "CD", "OE2", 1.252, 0.011},
    {"GLU", "N", "CA", 1.459, 0.020},
    {"GLU", "CA", "C", 1.525, 0.026},
    {"GLU", "C", "O", 1.229, 0.019},
    {"GLN", "CA", "CB", 1.535, 0.022},
    {"GLN", "CB", "CG", 1.521, 0.027},
    {"GLN", "CG", "CD", 1.506, 0.023},
    {"GLN", "CD", "OE1", 1.235, 0.022},
    {"GLN", "CD", "NE2", 1.324, 0.025},
    {"GLN", "N", "CA", 1.459, 0.020},
    {"GLN", "CA", "C", 1.525, 0.026},
    {"GLN", "C", "O", 1.229, 0.019},
    {"GLY", "N", "CA", 1.456, 0.015},
    {"GLY", "CA", "C", 1.514, 0.016},
    {"GLY", "C", "O", 1.232, 0.016},
    {"HIS", "CA", "CB", 1.535, 0.022},
    {"HIS", "CB", "CG", 1.492, 0.016},
    {"HIS", "CG", "ND1", 1.369, 0.015},
    {"HIS", "CG", "CD2", 1.353, 0.017},
    {"HIS", "ND1", "CE1", 1.343, 0.025},
    {"HIS", "CD2", "NE2", 1.415, 0.021},
    {"HIS", "CE1", "NE2", 1.322, 0.023},
    {"HIS", "N", "CA", 1.459, 0.020},
    {"HIS", "CA", "C", 1.525, 0.026},
    {"HIS", "C", "O", 1.229, 0.019},
    {"ILE", "CA", "CB", 1.544, 0.023},
    {"ILE", "CB", "CG1", 1.536, 0.028},
    {"ILE", "CB", "CG2", 1.524, 0.031},
    {"ILE", "CG1", "CD1", 1.500, 0.069},
    {"ILE", "N", "CA", 1.459, 0.020},
    {"ILE", "CA", "C", 1.525, 0.026},
    {"ILE", "C", "O", 1.229, 0.019},
    {"LEU", "CA", "CB", 1.533, 0.023},
    {"LEU", "CB", "CG", 1.521, 0.029},
    {"LEU", "CG", "CD1", 1.514, 0.037},
    {"LEU", "CG", "CD2", 1.514, 0.037},
    {"LEU", "N", "CA", 1.459, 0.020},
    {"LEU", "CA", "C", 1.525, 0.026},
    {"LEU", "C", "O", 1.229, 0.019},
    {"LYS", "CA", "CB", 1.535, 0.022},
    {"LYS", "CB", "CG", 1.521, 0.027},
    {"LYS", "CG", "CD", 1.520, 0.034},
    {"LYS", "CD", "CE", 1.508, 0.025},
    {"LYS", "CE", "NZ", 1.486, 0.025},
    {"LYS", "N", "CA", 1.459, 0.020},
    {"LYS", "CA", "C", 1.525, 0.026},
    {"LYS", "C", "O", 1.229, 0.019},
    {"MET", "CA", "CB", 1.535, 0.022},
    {"MET", "CB", "CG", 1.509, 0.032},
    {"MET", "CG", "SD", 1.807, 0.026},
    {"MET", "SD", "CE", 1.774, 0.056},
    {"MET", "N", "CA", 1.459, 0.020},
    {"MET", "CA", "C", 1.525, 0.026},
    {"MET", "C", "O", 1.229, 0.019},
    {"PHE", "CA", "CB", 1.535, 0.022},
    {"PHE", "CB", "CG", 1.509, 0.017},
    {"PHE", "CG", "CD1", 1.383, 0.015},
    {"PHE", "CG", "CD2", 1.383, 0.015},
    {"PHE", "CD1", "CE1", 1.388, 0.020},
    {"PHE", "CD2", "CE2", 1.388, 0.020},
    {"PHE", "CE1", "CZ", 1.369, 0.019},
    {"PHE", "CE2", "CZ", 1.369, 0.019},
    {"PHE", "N", "CA", 1.459, 0.020},
    {"PHE", "CA", "C", 1.525, 0.026},
    {"PHE", "C", "O", 1.229, 0.019},
    {"PRO", "CA", "CB", 1.531, 0.020},
    {"PRO", "CB", "CG", 1.495, 0.050},
    {"PRO", "CG", "CD", 1.502, 0.033},
    {"PRO", "CD", "N", 1.474, 0.014},
    {"PRO", "N", "CA", 1.468, 0.017},
    {"PRO", "CA", "C", 1.524, 0.020},
    {"PRO", "C", "O", 1.228, 0.020},
    {"SER", "CA", "CB", 1.525, 0.015},
    {"SER", "CB", "OG", 1.418, 0.013},
    {"SER", "N", "CA", 1.459, 0.020},
    {"SER", "CA", "C", 1.525, 0.026},
    {"SER", "C", "O", 1.229, 0.019},
    {"THR", "CA", "CB", 1.529, 0.026},
    {"THR", "CB", "OG1", 1.428, 0.020},
    {"THR", "CB", "CG2", 1.519, 0.033},
    {"THR", "N", "CA", 1.459, 0.020},
    {"THR", "CA", "C", 1.525, 0.026},
    {"THR", "C", "O", 1.229, 0.019},
    {"TRP", "CA", "CB", 1.535, 0.022},
    {"TRP", "CB", "CG", 1.498, 0.018},
    {"TRP", "CG", "CD1", 1.363, 0.014},
    {"TRP", "CG", "CD2", 1.432, 0.017},
    {"TRP", "CD1", "NE1", 1.375, 0.017},
    {"TRP", "NE1", "CE2", 1.371, 0.013},
    {"TRP", "CD2", "CE2", 1.409, 0.012},
    {"TRP", "CD2", "CE3", 1.399, 0.015},
    {"TRP", "CE2", "CZ2", 1.393, 0.017},
    {"TRP", "CE3", "CZ3", 1.380, 0.017},
    {"TRP", "CZ2", "CH2", 1.369, 0.019},
    {"TRP", "CZ3", "CH2", 1.396, 0.016},
    {"TRP", "N", "CA", 1.459, 0.020},
    {"TRP", "CA", "C", 1.525, 0.026},
    {"TRP", "C", "O", 1.229, 0.019},
    {"TYR", "CA", "CB", 1.535, 0.022},
    {"TYR", "CB", "CG", 1.512, 0.015},
    {"TYR", "CG", "CD1", 1.387, 0.013},
    {"TYR", "CG", "CD2", 1.387, 0.013},
    {"TYR", "CD1", "CE1", 1.389, 0.015},
    {"TYR", "CD2", "CE2", 1.389, 0.015},
    {"TYR", "CE1", "CZ", 1.381, 0.013},
    {"TYR", "CE2", "CZ", 1.381, 0.013},
    {"TYR", "CZ", "OH", 1.374, 0.017},
    {"TYR", "N", "CA", 1.459, 0.020},
    {"TYR", "CA", "C", 1.525, 0.026},
    {"TYR", "C", "O", 1.229, 0.019},
    {"VAL", "CA", "CB", 1.543, 0.021},
    {"VAL", "CB", "CG1", 1.524, 0.021},
    {"VAL", "CB", "CG2", 1.524, 0.021},
    {"VAL", "N", "CA", 1.459, 0.020},
    {"VAL", "CA", "C", 1.525, 0.026},
    {"VAL", "C", "O", 1.229, 0.019},
};

// stereo_chemical_props.txt: bond angles (degrees, mean and stddev).
constexpr BondAngle kAngleRows[] = {
    {"ALA", "N", "CA", "CB", 110.1, 1.4},
    {"ALA", "CB", "CA", "C", 110.1, 1.5},
    {"ALA", "N", "CA", "C", 111.0, 2.7},
    {"ALA", "CA", "C", "O", 120.1, 2.1},
    {"ARG", "N", "CA", "CB", 110.6, 1.8},
    {"ARG", "CB", "CA", "C", 110.4, 2.0},
    {"ARG", "CA", "CB", "CG", 113.4, 2.2},
    {"ARG", "CB", "CG", "CD", 111.6, 2.6},
    {"ARG", "CG", "CD", "NE", 111.8, 2.1},
    {"ARG", "CD", "NE", "CZ", 123.6, 1.4},
    {"ARG", "NE", "CZ", "NH1", 120.3, 0.5},
    {"ARG", "NE", "CZ", "NH2", 120.3, 0.5},
    {"ARG", "NH1", "CZ", "NH2", 119.4, 1.1},
    {"ARG", "N", "CA", "C", 111.0, 2.7},
    {"ARG", "CA", "C", "O", 120.1, 2.1},
    {"ASN", "N", "CA", "CB", 110.6, 1.8},
    {"ASN", "CB", "CA", "C", 110.4, 2.0},
    {"ASN", "CA", "CB", "CG", 113.4, 2.2},
    {"ASN", "CB", "CG", "ND2", 116.7, 2.4},
    {"ASN", "CB", "CG", "OD1", 121.6, 2.0},
    {"ASN", "ND2", "CG", "OD1", 121.9, 2.3},
    {"ASN", "N", "CA", "C", 111.0, 2.7},
    {"ASN", "CA", "C", "O", 120.1, 2.1},
    {"ASP", "N", "CA", "CB", 110.6, 1.8},
    {"ASP", "CB", "CA", "C", 110.4, 2.0},
    {"ASP", "CA", "CB", "CG", 113.4, 2.2},
    {"ASP", "CB", "CG", "OD1", 118.3, 0.9},
    {"ASP", "CB", "CG", "OD2", 118.3, 0.9},
    {"ASP", "OD1", "CG", "OD2", 123.3, 1.9},
    {"ASP", "N", "CA", "C", 111.0, 2.7},
    {"ASP", "CA", "C", "O", 120.1, 2.1},
    {"CYS", "N", "CA", "CB", 110.8, 1.5},
    {"CYS", "CB", "CA", "C", 111.5, 1.2},
    {"CYS", "CA", "CB", "SG", 114.2, 1.1},
    {"CYS", "N", "CA", "C", 111.0, 2.7},
    {"CYS", "CA", "C", "O", 120.1, 2.1},
    {"GLU", "N", "CA", "CB", 110.6, 1.8},
    {"GLU", "CB", "CA", "C", 110.4, 2.0},
    {"GLU", "CA", "CB", "CG", 113.4, 2.2},
    {"GLU", "CB", "CG", "CD", 114.2, 2.7},
    {"GLU", "CG", "CD", "OE1", 118.3, 2.0},
    {"GLU", "CG", "CD", "OE2", 118.3, 2.0},
    {"GLU", "OE1", "CD", "OE2", 123.3, 1.2},
    {"GLU", "N", "CA", "C", 111.0, 2.7},
    {"GLU", "CA", "C", "O", 120.1, 2.1},
    {"GLN", "N", "CA", "CB", 110.6, 1.8},
    {"GLN", "CB", "CA", "C", 110.4, 2.0},
    {"GLN", "CA", "CB", "CG", 113.4, 2.2},
    {"GLN", "CB", "CG", "CD", 111.6, 2.6},
    {"GLN", "CG", "CD", "OE1", 121.6, 2.0},
    {"GLN", "CG", "CD", "NE2", 116.7, 2.4},
    {"GLN", "OE1", "CD", "NE2", 121.9, 2.3},
    {"GLN", "N", "CA", "C", 111.0, 2.7},
    {"GLN", "CA", "C", "O", 120.1, 2.1},
    {"GLY", "N", "CA", "C", 113.1, 2.5},
    {"GLY", "CA", "C", "O", 120.6, 1.8},
    {"HIS", "N", "CA", "CB", 110.6, 1.8},
    {"HIS", "CB", "CA", "C", 110.4, 2.0},
    {"HIS", "CA", "CB", "CG", 113.6, 1.7},
    {"HIS", "CB", "CG", "ND1", 123.2, 2.5},
    {"HIS", "CB", "CG", "CD2", 130.8, 3.1},
    {"HIS", "CG", "ND1", "CE1", 108.2, 1.4},
    {"HIS", "ND1", "CE1", "NE2", 109.9, 2.2},
    {"HIS", "CE1", "NE2", "CD2", 106.6, 2.5},
    {"HIS", "NE2", "CD2", "CG", 109.2, 1.9},
    {"HIS", "CD2", "CG", "ND1", 106.0, 1.4},
    {"HIS", "N", "CA", "C", 111.0, 2.7},
    {"HIS", "CA", "C", "O", 120.1, 2.1},
    {"ILE", "N", "CA", "CB", 110.8, 2.3},
    {"ILE", "CB", "CA", "C", 111.6, 2.0},
    {"ILE", "CA", "CB", "CG1", 111.0, 1.9},
    {"ILE", "CB", "CG1", "CD1", 113.9, 2.8},
    {"ILE", "CA", "CB", "CG2", 110.9, 2.0},
    {"ILE", "CG1", "CB", "CG2", 111.4, 2.2},
    {"ILE", "N", "CA", "C", 111.0, 2.7},
    {"ILE", "CA", "C", "O", 120.1, 2.1},
    {"LEU", "N", "CA", "CB", 110.4, 2.0},
    {"LEU", "CB", "CA", "C", 110.2, 1.9},
    {"LEU", "CA", "CB", "CG", 115.3, 2.3},
    {"LEU", "CB", "CG", "CD1", 111.0, 1.7},
    {"LEU", "CB", "CG", "CD2", 111.0, 1.7},
    {"LEU", "CD1", "CG", "CD2", 110.5, 3.0},
    {"LEU", "N", "CA", "C", 111.0, 2.7},
    {"LEU", "CA", "C", "O", 120.1, 2.1},
    {"LYS", "N", "CA", "CB", 110.6, 1.8},
    {"LYS", "CB", "CA", "C", 110.4, 2.0},
    {"LYS", "CA", "CB", "CG", 113.4, 2.2},
    {"LYS", "CB", "CG", "CD", 111.6, 2.6},
    {"LYS", "CG", "CD", "CE", 111.9, 3.0},
    {"LYS", "CD", "CE", "NZ", 111.7, 2.3},
    {"LYS", "N", "CA", "C", 111.0, 2.7},
    {"LYS", "CA", "C", "O", 120.1, 2.1},
    {"MET", "N", "CA", "CB", 110.6, 1.8},
    {"MET", "CB", "CA", "C", 110.4, 2.0},
    {"MET", "CA", "CB", "CG", 113.3, 1.7},
    {"MET", "CB", "CG", "SD", 112.4, 3.0},
    {"MET", "CG", "SD", "CE", 100.2, 1.6},
    {"MET", "N", "CA", "C", 111.0, 2.7},
    {"MET", "CA", "C", "O", 120.1, 2.1},
    {"PHE", "N", "CA", "CB", 110.6, 1.8},
    {"PHE", "CB", "CA", "C", 110.4, 2.0},
    {"PHE", "CA", "CB", "CG", 113.9, 2.4},
    {"PHE", "CB", "CG", "CD1", 120.8, 0.7},
    {"PHE", "CB", "CG", "CD2", 120.8, 0.7},
    {"PHE", "CD1", "CG", "CD2", 118.3, 1.3},
    {"PHE", "CG", "CD1", "CE1", 120.8, 1.1},
    {"PHE", "CG", "CD2", "CE2", 120.8, 1.1},
    {"PHE", "CD1", "CE1", "CZ", 120.1, 1.2},
    {"PHE", "CD2", "CE2", "CZ", 120.1, 1.2},
    {"PHE", "CE1", "CZ", "CE2", 120.0, 1.8},
    {"PHE", "N", "CA", "C", 111.0, 2.7},
    {"PHE", "CA", "C", "O", 120.1, 2.1},
    {"PRO", "N", "CA", "CB", 103.3, 1.2},
    {"PRO", "CB", "CA", "C", 111.7, 2.1},
    {"PRO", "CA", "CB", "CG", 104.8, 1.9},
    {"PRO", "CB", "CG", "CD", 106.5, 3.9},
    {"PRO", "CG", "CD", "N", 103.2, 1.5},
    {"PRO", "CA", "N", "CD", 111.7, 1.4},
    {"PRO", "N", "CA", "C", 112.1, 2.6},
    {"PRO", "CA", "C", "O", 120.2, 2.4},
    {"SER", "N", "CA", "CB", 110.5, 1.5},
    {"SER", "CB", "CA", "C", 110.1, 1.9},
    {"SER", "CA", "CB", "OG", 111.2, 2.7},
    {"SER", "N", "CA", "C", 111.0, 2.7},
    {"SER", "CA", "C", "O", 120.1, 2.1},
    {"THR", "N", "CA", "CB", 110.3, 1.9},
    {"THR", "CB", "CA", "C", 111.6, 2.7},
    {"THR", "CA", "CB", "OG1", 109.0, 2.1},
    {"THR", "CA", "CB", "CG2", 112.4, 1.4},
    {"THR", "OG1", "CB", "CG2", 110.0, 2.3},
    {"THR", "N", "CA", "C", 111.0, 2.7},
    {"THR", "CA", "C", "O", 120.1, 2.1},
    {"TRP", "N", "CA", "CB", 110.6, 1.8},
    {"TRP", "CB", "CA", "C", 110.4, 2.0},
    {"TRP", "CA", "CB", "CG", 113.7, 1.9},
    {"TRP", "CB", "CG", "CD1", 127.0, 1.3},
    {"TRP", "CB", "CG", "CD2", 126.6, 1.3},
    {"TRP", "CD1", "CG", "CD2", 106.3, 0.8},
    {"TRP", "CG", "CD1", "NE1", 110.1, 1.0},
    {"TRP", "CD1", "NE1", "CE2", 109.0, 0.9},
    {"TRP", "NE1", "CE2", "CD2", 107.3, 1.0},
    {"TRP", "CE2", "CD2", "CG", 107.3, 0.8},
    {"TRP", "CG", "CD2", "CE3", 133.9, 0.9},
    {"TRP", "NE1", "CE2", "CZ2", 130.4, 1.1},
    {"TRP", "CE3", "CD2", "CE2", 118.7, 1.2},
    {"TRP", "CD2", "CE2", "CZ2", 122.3, 1.2},
    {"TRP", "CE2", "CZ2", "CH2", 117.4, 1.0},
    {"TRP", "CZ2", "CH2", "CZ3", 121.6, 1.2},
    {"TRP", "CH2", "CZ3", "CE3", 121.2, 1.1},
    {"TRP", "CZ3", "CE3", "CD2", 118.8, 1.3},
    {"TRP", "N", "CA", "C", 111.0, 2.7},
    {"TRP", "CA", "C", "O", 120.1, 2.1},
    {"TYR", "N", "CA", "CB", 110.6, 1.8},
    {"TYR", "CB", "CA", "C", 110.4, 2.0},
    {"TYR", "CA", "CB", "CG", 113.4, 1.9},
    {"TYR", "CB", "CG", "CD1", 121.0, 0.6},
    {"TYR", "CB", "CG", "CD2", 121.0, 0.6},
    {"TYR", "CD1", "CG", "CD2", 117.9, 1.1},
    {"TYR", "CG", "CD1", "CE1", 121.3, 0.8},
    {"TYR", "CG", "CD2", "CE2", 121.3, 0.8},
    {"TYR", "CD1", "CE1", "CZ", 119.8, 0.9},
    {"TYR", "CD2", "CE2", "CZ", 119.8, 0.9},
    {"TYR", "CE1", "CZ", "CE2", 119.8, 1.6},
    {"TYR", "CE1", "CZ", "OH", 120.1, 2.7},
    {"TYR", "CE2", "CZ", "OH", 120.1, 2.7},
    {"TYR", "N", "CA", "C", 111.0, 2.7},
    {"TYR", "CA", "C", "O", 120.1, 2.1},
    {"VAL", "N", "CA", "CB", 111.5, 2.2},
    {"VAL", "CB", "CA", "C", 111.4, 1.9},
    {"VAL", "CA", "CB", "CG1", 110.9, 1.5},
    {"VAL", "CA", "CB", "CG2", 110.9, 1.5},
    {"VAL", "CG1", "CB", "CG2", 110.9, 1.6},
    {"VAL", "N", "CA", "C", 111.0, 2.7},
    {"VAL", "CA", "C", "O", 120.1, 2.1},
};

// stereo_chemical_props.txt: minimal non-bonded distances (not used by AF2's
// losses, kept so the table is complete).
constexpr NonBondedDistance kNonBondedRows[] = {
    {'C', 'C', 3.4, 1.5},
    {'C', 'N', 3.25, 1.5},
    {'C', 'S', 3.5, 1.5},
    {'C', 'O', 3.22, 1.5},
    {'N', 'N', 3.1, 1.5},
    {'N', 'S', 3.35, 1.5},
    {'N', 'O', 3.07, 1.5},
    {'O', 'S', 3.32, 1.5},
    {'O', 'O', 3.04, 1.5},
    {'S', 'S', 2.03, 1.0},
};

// HHblits alphabet: the 20 amino acids in alphabetical one-letter order
// (ids 0..19), then X (20) and the gap (21).
constexpr std::string_view kHhblitsLetters = "ACDEFGHIKLMNPQRSTVWY";

// ---------------------------------------------------------------------------
// Helpers.

int resname_index(std::string_view resname) {
  for (int r = 0; r < kNumRestypesWithX; ++r) {
    if (resnames[r] == resname) return r;
  }
  return -1;
}

int atom14_slot(int restype, std::string_view atom_name) {
  if (atom_name.empty()) return -1;
  const auto& names = kAtom14Names[restype];
  for (int i = 0; i < kAtom14; ++i) {
    if (names[i] == atom_name) return i;
  }
  return -1;
}

// Van der Waals radii in Angstrom (AF2's values, from Wikipedia). Kept in
// double so derived bounds round exactly once.
double vdw_radius(char element) {
  switch (element) {
    case 'C': return 1.7;
    case 'N': return 1.55;
    case 'O': return 1.52;
    case 'S': return 1.8;
    default: return 0.0;
  }
}

[[noreturn]] void data_error(const std::string& what) {
  throw std::logic_error("residue_constants: inconsistent built-in data: " + what);
}

using Vec3 = std::array<double, 3>;
using Frame4 = std::array<std::array<float, 4>, 4>;

Vec3 sub(const Vec3& a, const Vec3& b) { return {a[0] - b[0], a[1] - b[1], a[2] - b[2]}; }
double dot(const Vec3& a, const Vec3& b) { return a[0] * b[0] + a[1] * b[1] + a[2] * b[2]; }
Vec3 scale(const Vec3& a, double s) { return {a[0] * s, a[1] * s, a[2] * s}; }
Vec3 div(const Vec3& a, double s) { return {a[0] / s, a[1] / s, a[2] / s}; }
Vec3 cross(const Vec3& a, const Vec3& b) {
  return {a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0]};
}

// Rigid transform whose x axis points along `ex`, whose y axis is `ey` made
// orthogonal to x (Gram-Schmidt), z = x cross y, and whose origin is `origin`.
// Columns of the 3x3 block are the axes (rigidFrom3Points, Algorithm 21).
Frame4 frame_from_axes(const Vec3& ex, const Vec3& ey, const Vec3& origin) {
  const Vec3 x = div(ex, std::sqrt(dot(ex, ex)));
  const Vec3 y_perp = sub(ey, scale(x, dot(ey, x)));
  const Vec3 y = div(y_perp, std::sqrt(dot(y_perp, y_perp)));
  const Vec3 z = cross(x, y);
  Frame4 m{};
  for (int i = 0; i < 3; ++i) {
    m[i][0] = static_cast<float>(x[i]);
    m[i][1] = static_cast<float>(y[i]);
    m[i][2] = static_cast<float>(z[i]);
    m[i][3] = static_cast<float>(origin[i]);
  }
  m[3] = {0.f, 0.f, 0.f, 1.f};
  return m;
}

Frame4 identity4() {
  Frame4 m{};
  for (int i = 0; i < 4; ++i) m[i][i] = 1.f;
  return m;
}

// ---------------------------------------------------------------------------
// Derived tables, built once.

struct Derived {
  std::array<std::vector<RigidGroupAtom>, kNumRestypesWithX> rigid_atoms;
  Table2<int, kNumRestypesWithX, kAtom14> atom14_to_atom37{};
  Table2<int, kNumRestypesWithX, kAtom37> atom37_to_atom14{};
  Table2<float, kNumRestypesWithX, kAtom14> atom14_mask{};
  Table2<float, kNumRestypesWithX, kAtom37> atom37_mask{};
  Table3<std::string_view, kNumRestypesWithX, kNumChi, 4> chi_atoms{};
  Table3<int, kNumRestypesWithX, kNumChi, 4> chi_atom_indices{};
  Table2<float, kNumRestypesWithX, kNumChi> chi_pi_periodic{};
  Table3<std::array<float, 4>, kNumRestypesWithX, kNumRigidGroups, 4> default_frames{};
  Table2<int, kNumRestypesWithX, kAtom14> atom14_to_group{};
  Table3<float, kNumRestypesWithX, kAtom14, 3> atom14_group_pos{};
  Table2<int, kNumRestypesWithX, kAtom37> atom37_to_group{};
  Table3<float, kNumRestypesWithX, kAtom37, 3> atom37_group_pos{};
  Table2<float, kNumRestypesWithX, kAtom14> atom14_is_ambiguous{};
  Table2<int, kNumRestypesWithX, kAtom14> atom14_swap{};
};

void build_index_maps(Derived& d) {
  for (int r = 0; r < kNumRestypes; ++r) {
    for (int i = 0; i < kAtom14; ++i) {
      const std::string_view name = kAtom14Names[r][i];
      if (name.empty()) continue;
      const int a37 = atom_order(name);
      if (a37 < 0) data_error("unknown atom14 name " + std::string(name));
      d.atom14_to_atom37[r][i] = a37;
      d.atom37_to_atom14[r][a37] = i;
    }
  }
}

void build_chi_tables(Derived& d) {
  std::array<int, kNumRestypesWithX> seen{};
  for (const ChiRow& row : kChiRows) {
    const int r = resname_index(row.resname);
    if (r < 0 || seen[r] >= kNumChi) data_error("bad chi row for " + std::string(row.resname));
    const int chi = seen[r]++;
    d.chi_atoms[r][chi] = row.atoms;
    for (int k = 0; k < 4; ++k) d.chi_atom_indices[r][chi][k] = atom_order(row.atoms[k]);
  }
  for (const PiPeriodicChi& p : kPiPeriodic) d.chi_pi_periodic[resname_index(p.resname)][p.chi] = 1.f;
}

void build_rigid_groups(Derived& d) {
  for (const RigidRow& row : kRigidRows) {
    const int r = resname_index(row.resname);
    const int a37 = atom_order(row.atom);
    const int a14 = atom14_slot(r, row.atom);
    if (r < 0 || a37 < 0 || a14 < 0) data_error("bad rigid-group row " + std::string(row.atom));
    d.rigid_atoms[r].push_back(RigidGroupAtom{row.atom, row.group, row.pos});
    d.atom37_to_group[r][a37] = row.group;
    d.atom37_mask[r][a37] = 1.f;
    d.atom14_to_group[r][a14] = row.group;
    d.atom14_mask[r][a14] = 1.f;
    for (int k = 0; k < 3; ++k) {
      d.atom37_group_pos[r][a37][k] = static_cast<float>(row.pos[k]);
      d.atom14_group_pos[r][a14][k] = static_cast<float>(row.pos[k]);
    }
  }

  for (int r = 0; r < kNumRestypes; ++r) {
    auto pos = [&](std::string_view atom) -> Vec3 {
      for (const RigidGroupAtom& a : d.rigid_atoms[r]) {
        if (a.atom_name == atom) return a.position;
      }
      data_error("missing rigid-group atom " + std::string(atom));
    };
    auto& frames = d.default_frames[r];
    frames[0] = identity4();  // backbone
    frames[1] = identity4();  // pre-omega (placeholder)
    // phi: rotation about CA->N.
    frames[2] = frame_from_axes(sub(pos("N"), pos("CA")), Vec3{1., 0., 0.}, pos("N"));
    // psi: rotation about CA->C, with N defining the plane.
    frames[3] = frame_from_axes(sub(pos("C"), pos("CA")), sub(pos("CA"), pos("N")), pos("C"));
    // chi1: built from its first three atoms in the backbone frame.
    if (kChiMask[r][0] != 0.f) {
      const auto& a = d.chi_atoms[r][0];
      const Vec3 p0 = pos(a[0]), p1 = pos(a[1]), p2 = pos(a[2]);
      frames[4] = frame_from_axes(sub(p2, p1), sub(p0, p1), p2);
    }
    // chi2..chi4: the axis starts at the parent frame's origin and ends at the
    // parent's axis-end atom, whose coordinates are already in that frame.
    for (int chi = 1; chi < kNumChi; ++chi) {
      if (kChiMask[r][chi] == 0.f) continue;
      const Vec3 end = pos(d.chi_atoms[r][chi][2]);
      frames[4 + chi] = frame_from_axes(end, Vec3{-1., 0., 0.}, end);
    }
  }
}

void build_ambiguity(Derived& d) {
  for (int r = 0; r < kNumRestypesWithX; ++r) {
    for (int i = 0; i < kAtom14; ++i) d.atom14_swap[r][i] = i;
  }
  for (const AtomSwap& s : residue_atom_renaming_swaps) {
    const int r = resname_index(s.resname);
    const int a = atom14_slot(r, s.atom);
    const int b = atom14_slot(r, s.partner);
    if (r < 0 || a < 0 || b < 0) data_error("bad swap for " + std::string(s.resname));
    d.atom14_swap[r][a] = b;
    d.atom14_swap[r][b] = a;
    d.atom14_is_ambiguous[r][a] = 1.f;
    d.atom14_is_ambiguous[r][b] = 1.f;
  }
}

const Derived& derived() {
  static const Derived d = [] {
    Derived t;
    build_index_maps(t);
    build_chi_tables(t);
    build_rigid_groups(t);
    build_ambiguity(t);
    return t;
  }();
  return d;
}

}  // namespace

// ---------------------------------------------------------------------------
// Alphabets.

int restype_order(char one_letter) {
  for (int r = 0; r < kNumRestypes; ++r) {
    if (restypes[r] == one_letter) return r;
  }
  return kUnkRestype;
}

std::string_view restype_1to3(char one_letter) { return resnames[restype_order(one_letter)]; }

char restype_3to1(std::string_view three_letter) {
  const int r = resname_index(three_letter);
  return (r >= 0 && r < kNumRestypes) ? restypes[r] : 'X';
}

int hhblits_aa_to_id(char c) {
  const auto pos = kHhblitsLetters.find(c);
  if (pos != std::string_view::npos) return static_cast<int>(pos);
  switch (c) {
    case 'B': return hhblits_aa_to_id('D');
    case 'Z': return hhblits_aa_to_id('E');
    case 'U': return hhblits_aa_to_id('C');
    case 'J':
    case 'O':
    case 'X': return 20;
    case '-': return 21;
    default: return -1;
  }
}

int hhblits_to_af2_aatype(int hhblits_id) {
  if (hhblits_id >= 0 && hhblits_id < static_cast<int>(kHhblitsLetters.size())) {
    return restype_order(kHhblitsLetters[hhblits_id]);
  }
  if (hhblits_id == 20) return kUnkRestype;
  if (hhblits_id == 21) return kMsaGapId;
  return -1;
}

int msa_char_to_id(char c) {
  const int id = hhblits_aa_to_id(c);
  return id < 0 ? -1 : hhblits_to_af2_aatype(id);
}

int atom_order(std::string_view atom_name) {
  for (int i = 0; i < kAtom37; ++i) {
    if (atom_types[i] == atom_name) return i;
  }
  return -1;
}

// ---------------------------------------------------------------------------
// Table accessors.

const Table2<std::string_view, kNumRestypesWithX, kAtom14>& restype_name_to_atom14_names() {
  return kAtom14Names;
}
const Table2<int, kNumRestypesWithX, kAtom14>& restype_atom14_to_atom37() {
  return derived().atom14_to_atom37;
}
const Table2<int, kNumRestypesWithX, kAtom37>& restype_atom37_to_atom14() {
  return derived().atom37_to_atom14;
}
const Table2<float, kNumRestypesWithX, kAtom14>& restype_atom14_mask() { return derived().atom14_mask; }
const Table2<float, kNumRestypesWithX, kAtom37>& restype_atom37_mask() { return derived().atom37_mask; }

const Table3<std::string_view, kNumRestypesWithX, kNumChi, 4>& chi_angles_atoms() {
  return derived().chi_atoms;
}
const Table3<int, kNumRestypesWithX, kNumChi, 4>& chi_angles_atom_indices() {
  return derived().chi_atom_indices;
}
const Table2<float, kNumRestypesWithX, kNumChi>& chi_angles_mask() { return kChiMask; }
const Table2<float, kNumRestypesWithX, kNumChi>& chi_pi_periodic() { return derived().chi_pi_periodic; }

const std::vector<RigidGroupAtom>& rigid_group_atom_positions(int restype) {
  static const std::vector<RigidGroupAtom> kNone;
  if (restype < 0 || restype >= kNumRestypesWithX) return kNone;
  return derived().rigid_atoms[restype];
}
const Table3<std::array<float, 4>, kNumRestypesWithX, kNumRigidGroups, 4>&
restype_rigid_group_default_frame() {
  return derived().default_frames;
}
const Table2<int, kNumRestypesWithX, kAtom14>& restype_atom14_to_rigid_group() {
  return derived().atom14_to_group;
}
const Table3<float, kNumRestypesWithX, kAtom14, 3>& restype_atom14_rigid_group_positions() {
  return derived().atom14_group_pos;
}
const Table2<int, kNumRestypesWithX, kAtom37>& restype_atom37_to_rigid_group() {
  return derived().atom37_to_group;
}
const Table3<float, kNumRestypesWithX, kAtom37, 3>& restype_atom37_rigid_group_positions() {
  return derived().atom37_group_pos;
}

const Table2<float, kNumRestypesWithX, kAtom14>& restype_atom14_is_ambiguous() {
  return derived().atom14_is_ambiguous;
}
const Table2<int, kNumRestypesWithX, kAtom14>& restype_atom14_ambiguous_swap() {
  return derived().atom14_swap;
}

// ---------------------------------------------------------------------------
// Geometry.

float van_der_waals_radius(char element) { return static_cast<float>(vdw_radius(element)); }

float atom_type_vdw_radius(int atom37) {
  if (atom37 < 0 || atom37 >= kAtom37) return 0.f;
  return van_der_waals_radius(atom_types[atom37].front());
}

const std::vector<BondLength>& stereo_bond_lengths() {
  static const std::vector<BondLength> v(std::begin(kBondRows), std::end(kBondRows));
  return v;
}
const std::vector<BondAngle>& stereo_bond_angles() {
  static const std::vector<BondAngle> v(std::begin(kAngleRows), std::end(kAngleRows));
  return v;
}
const std::vector<NonBondedDistance>& stereo_non_bonded_distances() {
  static const std::vector<NonBondedDistance> v(std::begin(kNonBondedRows), std::end(kNonBondedRows));
  return v;
}

namespace {

struct Distance {
  std::string_view atom1, atom2;
  double length, stddev;
};

const BondLength& find_bond(std::string_view resname, std::string_view a, std::string_view b) {
  for (const BondLength& bond : kBondRows) {
    if (bond.resname != resname) continue;
    if ((bond.atom1 == a && bond.atom2 == b) || (bond.atom1 == b && bond.atom2 == a)) return bond;
  }
  data_error("no bond " + std::string(a) + "-" + std::string(b) + " in " + std::string(resname));
}

// Distance between the outer atoms of a bond angle ("virtual bond"): law of
// cosines, with the stddev propagated from the two bonds and the angle under
// the assumption of independent errors.
Distance virtual_bond(const BondAngle& angle) {
  const BondLength& b1 = find_bond(angle.resname, angle.atom1, angle.atom2);
  const BondLength& b2 = find_bond(angle.resname, angle.atom2, angle.atom3);
  const double gamma = angle.angle_deg / 180.0 * kPi;
  const double gamma_sd = angle.stddev_deg / 180.0 * kPi;
  const double l1 = b1.length, l2 = b2.length;
  const double c = std::cos(gamma);
  const double len = std::sqrt(l1 * l1 + l2 * l2 - 2.0 * l1 * l2 * c);
  const double half_inv = 0.5 / len;
  const double d_gamma = 2.0 * l1 * l2 * std::sin(gamma) * half_inv;
  const double d_l1 = (2.0 * l1 - 2.0 * l2 * c) * half_inv;
  const double d_l2 = (2.0 * l2 - 2.0 * l1 * c) * half_inv;
  const double sd = std::sqrt(std::pow(d_gamma * gamma_sd, 2) + std::pow(d_l1 * b1.stddev, 2) +
                              std::pow(d_l2 * b2.stddev, 2));
  return {angle.atom1, angle.atom3, len, sd};
}

}  // namespace

Atom14DistBounds make_atom14_dists_bounds(double overlap_tolerance,
                                          double bond_length_tolerance_factor) {
  Atom14DistBounds out{};
  for (int r = 0; r < kNumRestypes; ++r) {
    const auto& names = kAtom14Names[r];
    const std::string_view resname = resnames[r];

    // Clash bounds between every pair of distinct existing atoms.
    for (int i = 0; i < kAtom14; ++i) {
      if (names[i].empty()) continue;
      for (int j = 0; j < kAtom14; ++j) {
        if (names[j].empty() || i == j) continue;
        const double lower =
            vdw_radius(names[i].front()) + vdw_radius(names[j].front()) - overlap_tolerance;
        out.lower_bound[r][i][j] = static_cast<float>(lower);
        out.upper_bound[r][i][j] = 1e10f;
      }
    }

    // Bonds, then angle-derived distances, replace the clash bounds.
    std::vector<Distance> restraints;
    for (const BondLength& b : kBondRows) {
      if (b.resname == resname) restraints.push_back({b.atom1, b.atom2, b.length, b.stddev});
    }
    for (const BondAngle& a : kAngleRows) {
      if (a.resname == resname) restraints.push_back(virtual_bond(a));
    }
    for (const Distance& d : restraints) {
      const int i = atom14_slot(r, d.atom1);
      const int j = atom14_slot(r, d.atom2);
      if (i < 0 || j < 0) data_error("restraint atom not in atom14 list of " + std::string(resname));
      const float lower = static_cast<float>(d.length - bond_length_tolerance_factor * d.stddev);
      const float upper = static_cast<float>(d.length + bond_length_tolerance_factor * d.stddev);
      const float sd = static_cast<float>(d.stddev);
      out.lower_bound[r][i][j] = out.lower_bound[r][j][i] = lower;
      out.upper_bound[r][i][j] = out.upper_bound[r][j][i] = upper;
      out.stddev[r][i][j] = out.stddev[r][j][i] = sd;
    }
  }
  return out;
}

}  // namespace fold::data::rc
