// A3M/A2M and Stockholm readers and the MSA merge (data/msa.h).
//
// Residue policy tested here (both formats): upper-case letters are kept verbatim,
// unknown ones (X, B, Z, ...) included; the featuriser maps them like AlphaFold's
// HHBLITS_AA_TO_ID. Characters AlphaFold could not map at all ('*', digits, ...) are
// rejected. Stockholm '.' is a gap like '-' (HMMER files use it in the query row).
#include <gtest/gtest.h>

#include <filesystem>
#include <set>
#include <stdexcept>
#include <string>

#include "data/fasta.h"
#include "data/msa.h"
#include "data/parse_error.h"
#include "data/text_file.h"
#include "test_paths.h"

namespace fold::data {
namespace {

using fold::test::example_cache;
using fold::test::expect_parse_error;
using fold::test::shared_data;

constexpr const char* kNoShared = "../shared/data is not available on this machine";
constexpr const char* kNoDebian =
    "Debian example data not fetched into examples/.cache yet";

// Number of lines starting with '>' (FASTA/A3M records), counted on the raw text.
size_t count_headers(const std::string& text) {
  size_t n = text.rfind('>', 0) == 0 ? 1 : 0;
  for (size_t pos = text.find("\n>"); pos != std::string::npos; pos = text.find("\n>", pos + 1)) {
    ++n;
  }
  return n;
}

void expect_rectangular(const Msa& msa) {
  ASSERT_GT(msa.depth(), 0u);
  ASSERT_EQ(msa.deletion_matrix.size(), msa.depth());
  ASSERT_EQ(msa.descriptions.size(), msa.depth());
  for (size_t i = 0; i < msa.depth(); ++i) {
    ASSERT_EQ(msa.sequences[i].size(), msa.length()) << "row " << i;
    ASSERT_EQ(msa.deletion_matrix[i].size(), msa.length()) << "row " << i;
  }
}

constexpr const char* k6kwcSequence =
    "GSTIQPGTGYNNGYFYSYWNDGHGGVTYTNGPGGQFSVNWSNSGEFVGGKGWQPGTKNKVINFSGSYNPNGNSYLSVYGWSR"
    "NPLIEYYIVENFGTYNPSTGATKLGEVTSDGSVYDIYRTQRVNQPSIIGTATFYQYWSVRRNHRSSGSVNTANHFNAWAQQG"
    "LTLGTMDYQIVAVQGYFSSGSASITVS";
constexpr const char* k2q2kSequence =
    "MGSSHHHHHHSSGLVPGSHMDKKETKHLLKIKKEDYPQIFDFLENVPRGTKTAHIREALRRYIEEIGENP";

// ------------------------------------------------------------------------------ A3M

TEST(A3m, ParsesReal6kwcBfdFileWithQueryEqualToFasta) {
  const std::string path = shared_data("alignments/6KWC_1/bfd_uniref_hits.a3m");
  const std::string fasta = shared_data("fasta/6kwc.fasta");
  FOLD_REQUIRE_FILE(path);
  FOLD_REQUIRE_FILE(fasta);
  const Msa msa = read_msa(path);
  expect_rectangular(msa);
  EXPECT_EQ(msa.depth(), count_headers(read_text_file(path)));
  EXPECT_EQ(msa.depth(), 1428u);
  EXPECT_EQ(msa.length(), 191u);
  EXPECT_EQ(msa.sequences[0], read_fasta(fasta)[0].sequence);
  EXPECT_EQ(msa.sequences[0], k6kwcSequence);
  EXPECT_EQ(msa.descriptions[0], "6KWC_1");
  for (int32_t d : msa.deletion_matrix[0]) EXPECT_EQ(d, 0);
}

TEST(A3m, DeletionCountsMatchLowerCaseRunsInReal6kwcFile) {
  const std::string path = shared_data("alignments/6KWC_1/bfd_uniref_hits.a3m");
  FOLD_REQUIRE_FILE(path);
  const Msa msa = read_msa(path);
  // Record 5 (UniRef100_A0A4U0V357) reads "...GLTHNpnsAAAYQILSTEG...": the three
  // inserted residues "pns" sit before column 168 (0-based), and "SAvTD" puts one
  // before column 43.
  ASSERT_GT(msa.depth(), 4u);
  EXPECT_EQ(msa.descriptions[4].rfind("UniRef100_A0A4U0V357 ", 0), 0u);
  EXPECT_EQ(msa.deletion_matrix[4][168], 3);
  EXPECT_EQ(msa.deletion_matrix[4][43], 1);
  EXPECT_EQ(msa.deletion_matrix[4][102], 1);
  EXPECT_EQ(msa.sequences[4].substr(163, 8), "GLTHNAAA");
  int total = 0;
  for (int32_t d : msa.deletion_matrix[4]) total += d;
  EXPECT_EQ(total, 5);
}

TEST(A3m, ParsesReal2q2kBfdUniclustFile) {
  const std::string path = shared_data("alignments/2q2k_A/bfd_uniclust_hits.a3m");
  FOLD_REQUIRE_FILE(path);
  const Msa msa = read_msa(path);
  expect_rectangular(msa);
  EXPECT_EQ(msa.depth(), 4u);
  EXPECT_EQ(msa.sequences[0], k2q2kSequence);
  EXPECT_EQ(msa.descriptions[0], "query");
  // Last row ends "...INDLGDTpP": one insertion before the last column.
  EXPECT_EQ(msa.deletion_matrix[3][69], 1);
  EXPECT_EQ(msa.sequences[3].substr(66), "GDTP");
}

TEST(A3m, CountsInsertionsBeforeEachKeptColumn) {
  const Msa msa = parse_a3m(">query\nACDEF\n>hit one\nAaaC-DeF\n>tail\nAC-DFkk\n", "inline");
  ASSERT_EQ(msa.depth(), 3u);
  EXPECT_EQ(msa.sequences[1], "AC-DF");
  EXPECT_EQ(msa.deletion_matrix[1], (std::vector<int32_t>{0, 2, 0, 0, 1}));
  // Insertions after the last column are dropped, as in AlphaFold.
  EXPECT_EQ(msa.sequences[2], "AC-DF");
  EXPECT_EQ(msa.deletion_matrix[2], (std::vector<int32_t>{0, 0, 0, 0, 0}));
  EXPECT_EQ(msa.descriptions[1], "hit one");
}

TEST(A3m, A2mDotsAreRemovedAndNotCountedAsDeletions) {
  const Msa msa =
      parse_a3m(">q\nAC..DE\n>h1\nACgkD-\n>h2\nA-.kDE\n>h3\nA C . . D E\n", "x.a2m");
  ASSERT_EQ(msa.depth(), 4u);
  EXPECT_EQ(msa.sequences[0], "ACDE");
  EXPECT_EQ(msa.sequences[1], "ACD-");
  EXPECT_EQ(msa.deletion_matrix[1], (std::vector<int32_t>{0, 0, 2, 0}));
  EXPECT_EQ(msa.sequences[2], "A-DE");
  EXPECT_EQ(msa.deletion_matrix[2], (std::vector<int32_t>{0, 0, 1, 0}));
  EXPECT_EQ(msa.sequences[3], "ACDE");
}

TEST(A3m, KeepsUnknownUpperCaseResiduesVerbatim) {
  const Msa msa = parse_a3m("#A3M#\n>q\nAXBZ\n>h\nXUOJ\n", "inline");
  ASSERT_EQ(msa.depth(), 2u);
  EXPECT_EQ(msa.sequences[0], "AXBZ");
  EXPECT_EQ(msa.sequences[1], "XUOJ");
}

TEST(A3m, RejectsNonLetterResidues) {
  const ParseError star = expect_parse_error([] { parse_a3m(">q\nACD\n>h\nA*D\n", "s.a3m"); });
  EXPECT_EQ(star.line(), 4);
  EXPECT_NE(star.problem().find("'*'"), std::string::npos);
  EXPECT_NE(star.problem().find("'h'"), std::string::npos);
  expect_parse_error([] { parse_a3m(">q\nAC1\n", "d.a3m"); });
}

TEST(A3m, RejectsWrongColumnsNamingTheRecordAndItsHeaderLine) {
  const ParseError e = expect_parse_error(
      [] { parse_a3m(">q\nACDEF\n>good\nAC-EF\n>bad hit\nACdEF\nGH\n>next\nACDEF\n", "w.a3m"); });
  EXPECT_EQ(e.file(), "w.a3m");
  EXPECT_EQ(e.line(), 5);
  EXPECT_NE(e.problem().find("'bad'"), std::string::npos);
  EXPECT_NE(e.problem().find("has 6"), std::string::npos);  // ACEFGH after removing 'd'
  const ParseError shorter =
      expect_parse_error([] { parse_a3m(">q\nACDEF\n>h\nACDE\n", "w.a3m"); });
  EXPECT_EQ(shorter.line(), 3);
}

TEST(A3m, RejectsTruncatedFile) {
  const std::string path = shared_data("alignments/6KWC_1/bfd_uniref_hits.a3m");
  std::string text;
  if (std::filesystem::exists(path)) {
    text = read_text_file(path);
  } else {
    text = ">q\nACDEFGHIKL\n>h1\nACDEFGHIKL\n>h2\nAC-EFGHIKL\n";
  }
  // Cut in the middle of the last row ...
  const std::string mid_row = text.substr(0, text.size() - 20);
  const ParseError e = expect_parse_error([&] { parse_a3m(mid_row, "cut.a3m"); });
  EXPECT_GT(e.line(), 0);
  EXPECT_NE(e.problem().find("truncated"), std::string::npos);
  // ... and right after a header line.
  const std::string after_header = text.substr(0, text.rfind('\n', text.size() - 2) + 1);
  expect_parse_error([&] { parse_a3m(after_header, "cut.a3m"); });
}

TEST(A3m, RejectsBinaryData) {
  const std::string nul(">q\nAC\0\0DE\n", 10);
  const ParseError e = expect_parse_error([&] { parse_a3m(nul, "b.a3m"); });
  EXPECT_EQ(e.line(), 2);
  EXPECT_NE(e.problem().find("binary"), std::string::npos);
  const std::string garbage("\x7f" "ELF\x02\x01\x01\x00", 8);
  expect_parse_error([&] { parse_a3m(garbage, "b.a3m"); });
}

TEST(A3m, RejectsEmptyInput) {
  EXPECT_LE(expect_parse_error([] { parse_a3m("", "e.a3m"); }).line(), 0);
  expect_parse_error([] { parse_a3m("\n \n", "e.a3m"); });
  expect_parse_error([] { parse_a3m("#A3M#\n", "e.a3m"); });
  const ParseError empty_query = expect_parse_error([] { parse_a3m(">q\n>h\nAC\n", "e.a3m"); });
  EXPECT_EQ(empty_query.line(), 1);
  const ParseError before = expect_parse_error([] { parse_a3m("ACD\n>q\nACD\n", "e.a3m"); });
  EXPECT_EQ(before.line(), 1);
}

TEST(A3m, ReadsDebianTrypsinA2mGz) {
  const std::string path = example_cache(
      "theseus-examples/usr/share/doc/theseus/examples/trypsins/tryps.a2m.gz");
  FOLD_REQUIRE_FILE(path);
  const Msa msa = read_msa(path);
  expect_rectangular(msa);
  EXPECT_EQ(msa.depth(), count_headers(read_text_file(path)));
  EXPECT_EQ(msa.depth(), 189u);
  EXPECT_EQ(msa.descriptions.front(), "1A0J_A.pdb");
  EXPECT_EQ(msa.descriptions.back(), "3TGK_E.pdb");
  EXPECT_EQ(msa.length(), 441u);  // aligned FASTA: every column is kept
  for (const auto& row : msa.deletion_matrix) {
    for (int32_t d : row) ASSERT_EQ(d, 0);
  }
  EXPECT_EQ(msa.sequences[0].substr(46, 10), "IVGGYECRKN");
}

TEST(A3m, ReadsDebianLdhA2mGzKeepingUnknownResidueX) {
  const std::string path =
      example_cache("theseus-examples/usr/share/doc/theseus/examples/ldh/ldh.a2m.gz");
  FOLD_REQUIRE_FILE(path);
  const Msa msa = read_msa(path);
  expect_rectangular(msa);
  EXPECT_EQ(msa.depth(), 228u);
  EXPECT_EQ(msa.length(), 423u);
  EXPECT_EQ(msa.descriptions.front(), "1civ_A.pdb");
  EXPECT_NE(msa.sequences[112].find('X'), std::string::npos);
}

// ------------------------------------------------------------------------ Stockholm

TEST(Stockholm, ParsesReal6kwcMgnifyMultiBlockFile) {
  const std::string path = shared_data("alignments/6KWC_1/mgnify_hits.sto");
  FOLD_REQUIRE_FILE(path);
  const std::string text = read_text_file(path);
  const Msa msa = parse_stockholm(text, path);
  expect_rectangular(msa);
  // One row per distinct name (rows continue over the file's 5 blocks).
  std::set<std::string> names;
  LineReader reader(text);
  std::string_view line;
  while (reader.next(line)) {
    if (line.empty() || line[0] == '#' || line.substr(0, 2) == "//") continue;
    names.insert(std::string(line.substr(0, line.find(' '))));
  }
  EXPECT_EQ(msa.depth(), names.size());
  EXPECT_EQ(msa.depth(), 1698u);
  EXPECT_EQ(msa.length(), 191u);
  EXPECT_EQ(msa.sequences[0], k6kwcSequence);
  EXPECT_EQ(msa.descriptions[0], "6KWC_1");
  EXPECT_EQ(msa.descriptions[1], "MGYP000510094044/36-224");
  // Row 1 holds 3 residues in query-gap columns just before query column 41.
  EXPECT_EQ(msa.deletion_matrix[1][41], 3);
  EXPECT_EQ(msa.deletion_matrix[1][57], 5);
}

TEST(Stockholm, ParsesReal2q2kFiles) {
  const std::string dir = shared_data("alignments/2q2k_A/");
  FOLD_REQUIRE_FILE(dir + "uniref90_hits.sto");
  const Msa uniref = read_msa(dir + "uniref90_hits.sto");
  expect_rectangular(uniref);
  EXPECT_EQ(uniref.depth(), 16u);
  EXPECT_EQ(uniref.sequences[0], k2q2kSequence);
  EXPECT_EQ(uniref.descriptions[13], "UniRef90_UPI0014612D4C/1-49");
  EXPECT_EQ(uniref.deletion_matrix[13][16], 1);
  EXPECT_EQ(uniref.deletion_matrix[14][24], 1);

  const Msa mgnify = read_msa(dir + "mgnify_hits.sto");
  expect_rectangular(mgnify);
  EXPECT_EQ(mgnify.depth(), 7u);
  EXPECT_EQ(mgnify.descriptions[0], "query");
  EXPECT_EQ(mgnify.sequences[4], "------------------------------VKKSDLGQVTSFLKEVPEGKKQDVLDEVLK"
                                 "----------");
  const Msa uniprot = read_msa(dir + "uniprot_hits.sto");
  expect_rectangular(uniprot);
  EXPECT_EQ(uniprot.depth(), 21u);
  EXPECT_EQ(uniprot.sequences[0], k2q2kSequence);
}

TEST(Stockholm, DeletionCountsForResiduesInQueryGapColumns) {
  const Msa msa = parse_stockholm(
      "# STOCKHOLM 1.0\n"
      "#=GS h1 DE something\n"
      "q    AC--DE-F\n"
      "h1   ACGGD-KF\n"
      "h2   -C-KDEKF\n"
      "//\n",
      "inline");
  ASSERT_EQ(msa.depth(), 3u);
  EXPECT_EQ(msa.sequences[0], "ACDEF");
  EXPECT_EQ(msa.sequences[1], "ACD-F");
  EXPECT_EQ(msa.deletion_matrix[1], (std::vector<int32_t>{0, 0, 2, 0, 1}));
  EXPECT_EQ(msa.sequences[2], "-CDEF");
  EXPECT_EQ(msa.deletion_matrix[2], (std::vector<int32_t>{0, 0, 1, 0, 1}));
  EXPECT_EQ(msa.descriptions, (std::vector<std::string>{"q", "h1", "h2"}));
}

TEST(Stockholm, ConcatenatesBlocksByNameInFirstAppearanceOrder) {
  const Msa msa = parse_stockholm(
      "# STOCKHOLM 1.0\n\n"
      "q   ACD\n"
      "a   A-D\n"
      "b   ACk\n\n"
      "b   -F\n"  // block 2 lists the rows in another order
      "q   EF\n"
      "a   EF\n"
      "#=GC RF xx\n"
      "//\n",
      "inline");
  ASSERT_EQ(msa.depth(), 3u);
  EXPECT_EQ(msa.descriptions, (std::vector<std::string>{"q", "a", "b"}));
  EXPECT_EQ(msa.sequences, (std::vector<std::string>{"ACDEF", "A-DEF", "ACK-F"}));
}

TEST(Stockholm, IgnoresGcRfAnnotationLikeAlphaFold) {
  const std::string body =
      "q   AC-D\n"
      "h   ACKD\n";
  const Msa plain = parse_stockholm("# STOCKHOLM 1.0\n" + body + "//\n", "a");
  const Msa with_rf =
      parse_stockholm("# STOCKHOLM 1.0\n" + body + "#=GC RF x.xx\n//\n", "b");
  const Msa with_odd_rf =
      parse_stockholm("# STOCKHOLM 1.0\n" + body + "#=GC RF xxxxxxxx\n//\n", "c");
  for (const Msa* m : {&plain, &with_rf, &with_odd_rf}) {
    EXPECT_EQ(m->sequences, (std::vector<std::string>{"ACD", "ACD"}));
    EXPECT_EQ(m->deletion_matrix[1], (std::vector<int32_t>{0, 0, 1}));
  }
}

TEST(Stockholm, DotsAreGapsAndInsertResiduesAreUpperCased) {
  const Msa msa = parse_stockholm(
      "# STOCKHOLM 1.0\n"
      "q   ..ACd.E\n"
      "h   pkA.ekE\n"
      "//\n",
      "inline");
  ASSERT_EQ(msa.depth(), 2u);
  EXPECT_EQ(msa.sequences[0], "ACDE");
  EXPECT_EQ(msa.sequences[1], "A-EE");
  EXPECT_EQ(msa.deletion_matrix[1], (std::vector<int32_t>{2, 0, 0, 1}));
}

TEST(Stockholm, KeepsUnknownUpperCaseResiduesVerbatim) {
  const Msa msa = parse_stockholm("# STOCKHOLM 1.0\nq ACX\nh BZU\n//\n", "inline");
  EXPECT_EQ(msa.sequences[1], "BZU");
}

TEST(Stockholm, RejectsNonLetterResidues) {
  const ParseError e = expect_parse_error(
      [] { parse_stockholm("# STOCKHOLM 1.0\nq ACD\nh A*D\n//\n", "s.sto"); });
  EXPECT_EQ(e.line(), 3);
  EXPECT_NE(e.problem().find("'*'"), std::string::npos);
}

TEST(Stockholm, RejectsMissingHeader) {
  const ParseError e =
      expect_parse_error([] { parse_stockholm("\nq ACD\nh ACD\n//\n", "h.sto"); });
  EXPECT_EQ(e.line(), 2);
  EXPECT_NE(e.problem().find("STOCKHOLM"), std::string::npos);
}

TEST(Stockholm, RejectsTruncatedFileWithoutEndMarker) {
  const std::string path = shared_data("alignments/6KWC_1/mgnify_hits.sto");
  std::string text = "# STOCKHOLM 1.0\n\n";
  for (int i = 0; i < 12; ++i) text += "seq" + std::to_string(i) + "   ACDEFGHIKLMNPQRSTVWY\n";
  text += "//\n";
  if (std::filesystem::exists(path)) text = read_text_file(path);
  // Cut at a line boundary: the missing "//" is what tells.
  const std::string cut = text.substr(0, text.rfind('\n', text.size() / 2) + 1);
  const ParseError e = expect_parse_error([&] { parse_stockholm(cut, "cut.sto"); });
  EXPECT_NE(e.problem().find("'//'"), std::string::npos);
  EXPECT_GT(e.line(), 0);
  // Cut inside a line: rejected too (as a malformed line, short row or missing "//").
  const std::string mid_line = text.substr(0, text.rfind('\n', text.size() / 2) + 12);
  expect_parse_error([&] { parse_stockholm(mid_line, "cut.sto"); });
  const std::string no_end = text.substr(0, text.rfind("//"));
  expect_parse_error([&] { parse_stockholm(no_end, "cut.sto"); });
}

TEST(Stockholm, RejectsRowsOfUnequalLength) {
  const ParseError e = expect_parse_error([] {
    parse_stockholm("# STOCKHOLM 1.0\n\nq   ACD\na   A-D\n\nq   EF\nb   ---\na   EF\n//\n",
                    "u.sto");
  });
  EXPECT_EQ(e.line(), 7);  // first line of row 'b'
  EXPECT_NE(e.problem().find("'b'"), std::string::npos);
  const ParseError e2 = expect_parse_error(
      [] { parse_stockholm("# STOCKHOLM 1.0\nq ACDE\nh ACD\n//\n", "u.sto"); });
  EXPECT_EQ(e2.line(), 3);
}

TEST(Stockholm, RejectsMalformedSequenceLines) {
  expect_parse_error(
      [] { parse_stockholm("# STOCKHOLM 1.0\nq ACD extra\n//\n", "m.sto"); });
  expect_parse_error([] { parse_stockholm("# STOCKHOLM 1.0\nq\n//\n", "m.sto"); });
  const ParseError after = expect_parse_error(
      [] { parse_stockholm("# STOCKHOLM 1.0\nq ACD\n//\nq ACD\n", "m.sto"); });
  EXPECT_EQ(after.line(), 4);
  expect_parse_error([] { parse_stockholm("# STOCKHOLM 1.0\nq ---\nh ACD\n//\n", "m.sto"); });
}

TEST(Stockholm, RejectsEmptyInputAndNoSequences) {
  expect_parse_error([] { parse_stockholm("", "e.sto"); });
  expect_parse_error([] { parse_stockholm("  \n\n", "e.sto"); });
  const ParseError none = expect_parse_error(
      [] { parse_stockholm("# STOCKHOLM 1.0\n#=GF ID x\n//\n", "e.sto"); });
  EXPECT_NE(none.problem().find("no sequences"), std::string::npos);
}

TEST(Stockholm, RejectsBinaryData) {
  const std::string nul("# STOCKHOLM 1.0\nq AC\0D\n//\n", 26);
  const ParseError e = expect_parse_error([&] { parse_stockholm(nul, "b.sto"); });
  EXPECT_EQ(e.line(), 2);
  EXPECT_NE(e.problem().find("binary"), std::string::npos);
}

TEST(Stockholm, ReadsDebianHmmerGlobins4WithDotGapsInQuery) {
  const std::string path =
      example_cache("hmmer-doc/usr/share/doc/hmmer/tutorial/globins4.sto");
  FOLD_REQUIRE_FILE(path);
  const Msa msa = read_msa(path);
  expect_rectangular(msa);
  ASSERT_EQ(msa.depth(), 4u);
  EXPECT_EQ(msa.descriptions,
            (std::vector<std::string>{"HBB_HUMAN", "HBA_HUMAN", "MYG_PHYCA", "GLB5_PETMA"}));
  // The query row (human haemoglobin beta, 4HHB chain B) without its '.' gaps.
  EXPECT_EQ(msa.sequences[0],
            "VHLTPEEKSAVTALWGKVNVDEVGGEALGRLLVVYPWTQRFFESFGDLSTPDAVMGNPKVKAHGKKVLGAFSDGLA"
            "HLDNLKGTFATLSELHCDKLHVDPENFRLLGNVLVCVLAHHFGKEFTPPVQAAYQKVVAGVANALAHKYH");
  // HBA_HUMAN has "GA" where HBB_HUMAN has gaps, before HBB's N (column 18);
  // GLB5_PETMA's leading "PIVDTGSV" sits in query-gap columns before column 0.
  EXPECT_EQ(msa.deletion_matrix[1][18], 2);
  EXPECT_EQ(msa.deletion_matrix[3][0], 8);
}

// ---------------------------------------------------------------------- merge / read

TEST(MsaMerge, DropsRepeatedSequencesFirstOccurrenceWins) {
  const Msa a = parse_a3m(">q\nACDE\n>a1\nAC-E\n>a2\nAC-E\n", "a.a3m");
  const Msa b = parse_a3m(">q2\nACDE\n>b1\nAkC-E\n>b2\nG--E\n", "b.a3m");
  const Msa merged = merge_msas({a, b});
  EXPECT_EQ(merged.sequences, (std::vector<std::string>{"ACDE", "AC-E", "G--E"}));
  EXPECT_EQ(merged.descriptions, (std::vector<std::string>{"q", "a1", "b2"}));
  // "AC-E" keeps a1's deletion row, not b1's (which had one insertion).
  EXPECT_EQ(merged.deletion_matrix[1], (std::vector<int32_t>{0, 0, 0, 0}));
}

TEST(MsaMerge, MergesRealFilesWithoutDuplicates) {
  const std::string dir = shared_data("alignments/2q2k_A/");
  FOLD_REQUIRE_FILE(dir + "uniref90_hits.sto");
  const Msa u = read_msa(dir + "uniref90_hits.sto");
  const Msa m = read_msa(dir + "mgnify_hits.sto");
  const Msa b = read_msa(dir + "bfd_uniclust_hits.a3m");
  const Msa merged = merge_msas({u, b, m});
  expect_rectangular(merged);
  std::set<std::string> unique(merged.sequences.begin(), merged.sequences.end());
  EXPECT_EQ(unique.size(), merged.depth());
  std::set<std::string> all;
  for (const Msa* x : {&u, &b, &m}) all.insert(x->sequences.begin(), x->sequences.end());
  EXPECT_EQ(merged.depth(), all.size());
  EXPECT_EQ(merged.sequences[0], k2q2kSequence);
}

TEST(MsaMerge, RejectsEmptyListEmptyMsaAndMismatchedLengths) {
  EXPECT_THROW(merge_msas({}), std::invalid_argument);
  EXPECT_THROW(merge_msas({Msa{}}), std::invalid_argument);
  const Msa a = parse_a3m(">q\nACDE\n", "a");
  const Msa b = parse_a3m(">q\nACD\n", "b");
  EXPECT_THROW(merge_msas({a, b}), std::invalid_argument);
}

TEST(MsaMerge, ReadMsaRejectsUnknownExtensionAndMissingFile) {
  const ParseError ext = expect_parse_error([] { read_msa("/tmp/alignment.fasta"); });
  EXPECT_NE(ext.problem().find("unknown alignment format"), std::string::npos);
  const ParseError missing = expect_parse_error([] { read_msa("/nonexistent/x.sto.gz"); });
  EXPECT_EQ(missing.file(), "/nonexistent/x.sto.gz");
}

}  // namespace
}  // namespace fold::data
