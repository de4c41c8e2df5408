// Protein I/O: mmCIF and PDB through gemmi into atom37, and back out as PDB / mmCIF.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <functional>
#include <sstream>
#include <utility>
#include <vector>

#include "data/parse_error.h"
#include "data/protein.h"
#include "data/residue_constants.h"
#include "test_paths.h"

namespace fold::data {
namespace {

namespace rc = fold::data::rc;
using fold::test::examples;
using fold::test::shared_data;
using fold::test::temp_path;

const auto k2q2k = shared_data() / "mmcif" / "2q2k.cif";
const auto kTheseus = examples() / "theseus-examples" / "usr/share/doc/theseus/examples";
const auto k1cbs = examples() / "libcifpp-dev" / "usr/share/doc/libcifpp-dev/examples/1cbs.cif.gz";
const auto k4hhb = examples() / "r-bioc-rcpi" / "usr/lib/R/site-library/Rcpi/protseq/4HHB.pdb";
const auto k1ubq = examples() / "freesasa" / "usr/share/freesasa/test-data/1ubq.pdb";

size_t observed_residues(const Protein& p) {
  size_t n = 0;
  for (size_t i = 0; i < p.num_residues(); ++i) n += p.atom_mask[i * rc::kAtom37 + 1] > 0;  // CA
  return n;
}

std::filesystem::path write_text(const std::string& name, const std::string& text) {
  auto path = temp_path(name);
  std::ofstream(path, std::ios::binary) << text;
  return path;
}

std::string read_all(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

float max_coordinate_error(const Protein& a, const Protein& b) {
  float worst = 0.0f;
  for (size_t k = 0; k < a.atom_mask.size(); ++k) {
    if (a.atom_mask[k] <= 0) continue;
    for (int d = 0; d < 3; ++d)
      worst = std::max(worst, std::fabs(a.atom_positions[3 * k + d] - b.atom_positions[3 * k + d]));
  }
  return worst;
}

TEST(ProteinIo, MmcifFollowsSequenceRecordAndMetadata) {
  FOLD_REQUIRE_FILE(k2q2k);
  const Protein p = read_protein(k2q2k.string());
  // 2Q2K: two chains of 70 residues, His-tag partly unresolved, X-ray 3.0 A, 2008-02-05.
  ASSERT_EQ(p.chain_ids.size(), 2u);
  EXPECT_EQ(p.chain_sequence(0).size(), 70u);
  EXPECT_EQ(p.chain_sequence(1).size(), 70u);
  // 89 CA atoms in the file (45 + 44): the unresolved residues are kept, masked out.
  EXPECT_EQ(observed_residues(p), 89u);
  EXPECT_NEAR(p.resolution, 3.0f, 1e-6);
  EXPECT_EQ(p.release_date, "2008-02-05");
  EXPECT_EQ(p.method, "X-RAY DIFFRACTION");
  EXPECT_NO_THROW(p.check_consistent());
  // SEQRES numbering: residue_index runs 1..70 within each chain.
  EXPECT_EQ(p.residue_index.front(), 1);
  EXPECT_EQ(p.residue_index[69], 70);
}

TEST(ProteinIo, ChainSelectionAndMissingChain) {
  FOLD_REQUIRE_FILE(k2q2k);
  const Protein b = read_protein(k2q2k.string(), {"B"});
  ASSERT_EQ(b.chain_ids, std::vector<std::string>{"B"});
  EXPECT_EQ(b.num_residues(), 70u);
  try {
    read_protein(k2q2k.string(), {"Z"});
    FAIL() << "missing chain accepted";
  } catch (const ParseError& e) {
    EXPECT_NE(std::string(e.what()).find("chain Z not found"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("2q2k.cif"), std::string::npos) << e.what();
  }
}

TEST(ProteinIo, ReadsGzippedMmcif) {
  FOLD_REQUIRE_FILE(k1cbs);
  const Protein p = read_protein(k1cbs.string());
  ASSERT_EQ(p.chain_ids.size(), 1u);
  EXPECT_EQ(p.num_residues(), 137u);  // cellular retinoic-acid-binding protein, 137 aa
  EXPECT_EQ(observed_residues(p), 137u);
  EXPECT_GT(p.resolution, 0.0f);
}

TEST(ProteinIo, ReadsPdbWithSeqres) {
  FOLD_REQUIRE_FILE(k4hhb);
  const Protein a = read_protein(k4hhb.string(), {"A"});
  const Protein b = read_protein(k4hhb.string(), {"B"});
  EXPECT_EQ(a.num_residues(), 141u);  // haemoglobin alpha
  EXPECT_EQ(b.num_residues(), 146u);  // haemoglobin beta
  EXPECT_EQ(a.sequence().substr(0, 10), "VLSPADKTNV");
  EXPECT_EQ(b.sequence().substr(0, 10), "VHLTPEEKSA");
}

TEST(ProteinIo, ReadsUbiquitin) {
  FOLD_REQUIRE_FILE(k1ubq);
  const Protein p = read_protein(k1ubq.string());
  EXPECT_EQ(p.num_residues(), 76u);
  EXPECT_EQ(p.sequence().substr(0, 12), "MQIFVKTLTGKT");
}

// The theseus files have no header and some are old-style (junk in columns 73-80).
TEST(ProteinIo, ReadsEveryHeaderlessTheseusStructure) {
  FOLD_REQUIRE_FILE(kTheseus);
  size_t files = 0;
  for (const char* family : {"ldh", "trypsins", "cytochromes"}) {
    for (const auto& entry : std::filesystem::directory_iterator(kTheseus / family)) {
      const std::string name = entry.path().filename().string();
      if (name.find(".pdb") == std::string::npos) continue;
      Protein p;
      ASSERT_NO_THROW(p = read_protein(entry.path().string())) << name;
      EXPECT_GE(p.num_residues(), 50u) << name;
      EXPECT_NO_THROW(p.check_consistent()) << name;
      ++files;
    }
  }
  EXPECT_GE(files, 400u);  // 225 LDH + 189 trypsins + cytochromes
}

TEST(ProteinIo, ModifiedResidueMapsToParent) {
  // MSE (selenomethionine) is MET with SE in place of SD, as AF2 reads it.
  const std::string pdb =
      "ATOM      1  N   ALA A   1      11.104   6.134  -6.504  1.00  0.00           N\n"
      "ATOM      2  CA  ALA A   1      11.639   6.071  -5.147  1.00  0.00           C\n"
      "ATOM      3  C   ALA A   1      13.140   5.802  -5.168  1.00  0.00           C\n"
      "ATOM      4  O   ALA A   1      13.707   5.457  -6.203  1.00  0.00           O\n"
      "HETATM    5  N   MSE A   2      13.790   5.979  -4.015  1.00  0.00           N\n"
      "HETATM    6  CA  MSE A   2      15.235   5.759  -3.904  1.00  0.00           C\n"
      "HETATM    7  C   MSE A   2      15.576   4.291  -3.693  1.00  0.00           C\n"
      "HETATM    8  O   MSE A   2      14.690   3.434  -3.713  1.00  0.00           O\n"
      "HETATM    9  SE  MSE A   2      16.000   7.000  -2.000  1.00  0.00          SE\n"
      "END\n";
  const auto path = write_text("mse.pdb", pdb);
  const Protein p = read_protein(path.string());
  std::filesystem::remove(path);
  ASSERT_EQ(p.num_residues(), 2u);
  EXPECT_EQ(p.sequence(), "AM");
  const int sd = rc::atom_order("SD");
  EXPECT_EQ(p.atom_mask[1 * rc::kAtom37 + sd], 1.0f);
  EXPECT_FLOAT_EQ(p.atom_positions[(1 * rc::kAtom37 + sd) * 3], 16.0f);
}

TEST(ProteinIo, UnknownResidueBecomesX) {
  const std::string pdb =
      "ATOM      1  N   UNK A   1      11.104   6.134  -6.504  1.00  0.00           N\n"
      "ATOM      2  CA  UNK A   1      11.639   6.071  -5.147  1.00  0.00           C\n"
      "ATOM      3  N   GLY A   2      13.790   5.979  -4.015  1.00  0.00           N\n"
      "ATOM      4  CA  GLY A   2      15.235   5.759  -3.904  1.00  0.00           C\n"
      "END\n";
  const auto path = write_text("unk.pdb", pdb);
  const Protein p = read_protein(path.string());
  std::filesystem::remove(path);
  EXPECT_EQ(p.sequence(), "XG");
  EXPECT_EQ(p.aatype[0], rc::kUnkRestype);
}

class RoundTrip : public ::testing::TestWithParam<const char*> {};

// read -> write -> read keeps residues, types, masks, coordinates (1e-3 A) and B-factors.
TEST_P(RoundTrip, PreservesStructure) {
  FOLD_REQUIRE_FILE(k2q2k);
  const Protein p = read_protein(k2q2k.string());
  const auto out = temp_path(std::string("roundtrip.") + GetParam());
  write_protein(p, out.string());
  const Protein q = read_protein(out.string());
  std::filesystem::remove(out);
  ASSERT_EQ(q.num_residues(), p.num_residues());
  EXPECT_EQ(q.aatype, p.aatype);
  EXPECT_EQ(q.chain_ids, p.chain_ids);
  EXPECT_EQ(q.atom_mask, p.atom_mask);
  EXPECT_LE(max_coordinate_error(p, q), 1e-3f);
  for (size_t k = 0; k < p.b_factors.size(); ++k) {
    if (p.atom_mask[k] > 0) {
      ASSERT_NEAR(q.b_factors[k], p.b_factors[k], 0.01f) << k;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(ProteinIo, RoundTrip, ::testing::Values("pdb", "cif"));

TEST(ProteinIo, WriterRejectsUnknownExtension) {
  FOLD_REQUIRE_FILE(k1ubq);
  const Protein p = read_protein(k1ubq.string());
  EXPECT_THROW(write_protein(p, temp_path("out.xyz").string()), std::invalid_argument);
}

TEST(ProteinIo, RejectsEmptyFile) {
  const auto path = write_text("empty.pdb", "");
  EXPECT_THROW(read_protein(path.string()), ParseError);
  std::filesystem::remove(path);
}

TEST(ProteinIo, RejectsBinaryGarbage) {
  std::string junk;
  for (int i = 0; i < 4096; ++i) junk += static_cast<char>((i * 7919) % 256);
  for (const char* ext : {"garbage.pdb", "garbage.cif"}) {
    const auto path = write_text(ext, junk);
    EXPECT_THROW(read_protein(path.string()), ParseError) << ext;
    std::filesystem::remove(path);
  }
}

TEST(ProteinIo, RejectsTruncatedMmcif) {
  FOLD_REQUIRE_FILE(k2q2k);
  const std::string text = read_all(k2q2k);
  // Cut inside the atom_site loop: the last record is incomplete.
  const size_t cut = text.find("ATOM", text.find("_atom_site.")) + 2000;
  const auto path = write_text("truncated.cif", text.substr(0, cut) + "\nATOM 1");
  EXPECT_THROW(read_protein(path.string()), ParseError);
  std::filesystem::remove(path);
}

TEST(ProteinIo, RejectsWrongColumns) {
  // Coordinates shifted out of their columns: not numbers where PDB expects them.
  const std::string pdb =
      "ATOM      1  N   ALA A   1   x11.104 y6.134 z-6.504  1.00  0.00           N\n"
      "END\n";
  const auto path = write_text("columns.pdb", pdb);
  try {
    read_protein(path.string());
    FAIL() << "malformed coordinates accepted";
  } catch (const ParseError& e) {
    EXPECT_EQ(e.line(), 1);
    EXPECT_NE(e.problem().find("not a number"), std::string::npos) << e.what();
  }
  std::filesystem::remove(path);
}

// Bytes past ASCII, which gemmi hashes as negative numbers (undefined behaviour) when
// they reach record or residue names (found by fuzz_pdb and fuzz_mmcif), are a
// ParseError before gemmi reads the file: anywhere in PDB format (the format is ASCII;
// gemmi carries such bytes into names from elsewhere in a line, or from the previous
// line), and in mmCIF in the categories gemmi builds the structure from, whatever loop
// holds them.
// tests/fuzz/regressions holds the same inputs.
TEST(ProteinIo, RejectsNonAsciiBytesBeforeGemmiHashesThem) {
  const std::filesystem::path regressions = fold::test::source_dir() / "tests/fuzz/regressions";
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"fuzz_pdb/residue-name-non-ascii.pdb", "column 18: a byte that is not ASCII"},
      {"fuzz_pdb/record-name-non-ascii.pdb", "column 1: a byte that is not ASCII"},
      {"fuzz_pdb/free-text-non-ascii-past-column-120.pdb", "column 132: a byte that is not ASCII"},
      {"fuzz_pdb/seqres-reads-previous-line-bytes.pdb", "column 41: a byte that is not ASCII"},
      {"fuzz_mmcif/residue-name-non-ascii.cif", "_atom_site.label_comp_id, row 1: a byte that is not ASCII"},
      {"fuzz_mmcif/mixed-category-loop-non-ascii.cif", "_atom_site.label_comp_id, row 1: a byte that is not ASCII"}};
  for (const auto& [file, expected] : cases) {
    const std::string path = (regressions / file).string();
    for (const auto& read : {std::function<void()>([&] { read_protein(path); }),
                             std::function<void()>([&] { summarize_structure(path); })}) {
      try {
        read();
        ADD_FAILURE() << file << ": accepted";
      } catch (const ParseError& e) {
        EXPECT_NE(e.problem().find(expected), std::string::npos) << e.what();
      }
    }
  }
}

TEST(ProteinIo, RejectsFileWithoutProtein) {
  const std::string pdb = "HETATM    1  O   HOH A   1      11.104   6.134  -6.504  1.00  0.00           O\nEND\n";
  const auto path = write_text("water.pdb", pdb);
  EXPECT_THROW(read_protein(path.string()), ParseError);
  std::filesystem::remove(path);
}

TEST(ProteinIo, RejectsMissingFile) {
  EXPECT_THROW(read_protein("/nonexistent/x.pdb"), ParseError);
}

TEST(StructureSummary, CountsChainsResiduesAndAtoms) {
  FOLD_REQUIRE_FILE(k2q2k);
  const StructureSummary s = summarize_structure(k2q2k.string());
  EXPECT_EQ(s.format, "mmcif");
  EXPECT_EQ(s.models, 1u);
  EXPECT_EQ(s.release_date, "2008-02-05");
  size_t protein_chains = 0;
  for (const auto& c : s.chains) {
    if (c.sequence_length == 0) continue;
    ++protein_chains;
    EXPECT_EQ(c.sequence_length, 70u);
    EXPECT_GT(c.atoms, 300u);
  }
  EXPECT_EQ(protein_chains, 2u);
}

}  // namespace
}  // namespace fold::data
