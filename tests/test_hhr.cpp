// HHsearch/HHblits .hhr reader (data/hhr.h).
#include <gtest/gtest.h>

#include <filesystem>
#include <string>

#include "data/hhr.h"
#include "data/parse_error.h"
#include "data/text_file.h"
#include "test_paths.h"

namespace fold::data {
namespace {

using fold::test::example_cache;
using fold::test::expect_parse_error;
using fold::test::shared_data;

// An alignment line as HH-suite writes it: "<kind> <name padded to 15>" fills the first
// 17 columns and `rest` follows.
std::string aln(const std::string& kind, const std::string& name, const std::string& rest) {
  std::string s = kind + " " + name;
  s.resize(17, ' ');
  return s + rest + "\n";
}

const char* kHeader =
    "Query         test\n"
    "Match_columns 10\n"
    "No_of_seqs    1 out of 1\n"
    "\n"
    " No Hit                             Prob E-value P-value  Score    SS Cols Query HMM  "
    "Template HMM\n"
    "  1 1ABC_A Some protein            99.5   1E-10   1E-15   50.0   0.0    8    1-7     "
    "5-10 (20)\n"
    "\n";

const char* kSummary =
    "Probab=99.50  E-value=1e-10  Score=50.00  Aligned_cols=8  Identities=50%  "
    "Similarity=0.500  Sum_probs=7.5  Template_Neff=3.000\n";

std::string one_hit(const std::string& summary = kSummary) {
  return std::string(kHeader) + "No 1\n>1ABC_A Some protein; X-RAY {Homo sapiens}\n" + summary +
         "\n" + aln("Q", "test", "   1 AC-DEFGH    7 (10)") +
         aln("Q", "Consensus", "   1 ac-defgh    7 (10)") + "                 ||.|||||\n" +
         aln("T", "Consensus", "   5 ACKDE--H   10 (20)") +
         aln("T", "1ABC_A", "   5 ACKDE--H   10 (20)") + aln("T", "ss_pred", "CCCHHHHH") +
         "Confidence       99999999\n\n";
}

TEST(Hhr, ParsesRealHhsearchFile) {
  const std::string path = shared_data("alignments/6KWC_1/hhsearch_output.hhr");
  FOLD_REQUIRE_FILE(path);
  const std::string text = read_text_file(path);
  size_t blocks = 0;
  LineReader reader(text);
  std::string_view line;
  while (reader.next(line)) blocks += line.substr(0, 3) == "No ";
  const auto hits = read_hhr(path);
  EXPECT_EQ(hits.size(), blocks);
  ASSERT_EQ(hits.size(), 60u);

  // "No 1 / >2DFB_A Endo-1,4-beta-xylanase 2 ... / Aligned_cols=189 ... Sum_probs=182.2";
  // query residues 3-191, template residues 2-190, no gaps.
  const TemplateHit& first = hits[0];
  EXPECT_EQ(first.index, 1);
  EXPECT_EQ(first.name.rfind("2DFB_A Endo-1,4-beta-xylanase 2 (E.C.3.2.1.8)", 0), 0u);
  EXPECT_EQ(first.aligned_cols, 189);
  EXPECT_NEAR(first.sum_probs, 182.2f, 1e-4f);
  EXPECT_FLOAT_EQ(first.probability, 100.0f);
  EXPECT_DOUBLE_EQ(first.e_value, 3.8e-67);
  EXPECT_EQ(first.query.size(), 189u);
  EXPECT_EQ(first.query.substr(0, 8), "TIQPGTGY");
  EXPECT_EQ(first.hit_sequence.substr(0, 8), "TIQPGTGY");
  EXPECT_EQ(first.indices_query.front(), 2);
  EXPECT_EQ(first.indices_query.back(), 190);
  EXPECT_EQ(first.indices_hit.front(), 1);
  EXPECT_EQ(first.indices_hit.back(), 189);

  // "No 60 / >1H0B_B CELLULASE ... Aligned_cols=91 ... Sum_probs=52.4"; its first block
  // is "Q 6KWC_1 84 PLIEYYIVENF-GTY..." and "T 1H0B_B 121 GGAELMIWLNWNGGVMPG--GS...".
  const TemplateHit& last = hits[59];
  EXPECT_EQ(last.index, 60);
  EXPECT_EQ(last.name.rfind("1H0B_B CELLULASE (E.C.3.2.1.4)", 0), 0u);
  EXPECT_EQ(last.aligned_cols, 91);
  EXPECT_NEAR(last.sum_probs, 52.4f, 1e-4f);
  EXPECT_FLOAT_EQ(last.probability, 26.21f);
  EXPECT_DOUBLE_EQ(last.e_value, 58.0);
  EXPECT_EQ(last.indices_query[0], 83);
  EXPECT_EQ(last.indices_query[10], 93);
  EXPECT_EQ(last.indices_query[11], -1);
  EXPECT_EQ(last.indices_query[12], 94);
  EXPECT_EQ(last.indices_hit[0], 120);
  EXPECT_EQ(last.indices_hit[17], 137);
  EXPECT_EQ(last.indices_hit[18], -1);
  EXPECT_EQ(last.indices_hit[19], -1);
  EXPECT_EQ(last.indices_hit[20], 138);
  EXPECT_EQ(last.indices_query.back(), 186);  // second block ends at query residue 187
  EXPECT_EQ(last.indices_hit.back(), 215);    // ... and template residue 216

  for (const TemplateHit& hit : hits) {
    ASSERT_EQ(hit.query.size(), hit.hit_sequence.size()) << "hit " << hit.index;
    ASSERT_EQ(hit.indices_query.size(), hit.query.size()) << "hit " << hit.index;
    ASSERT_EQ(hit.indices_hit.size(), hit.hit_sequence.size()) << "hit " << hit.index;
    for (size_t i = 0; i < hit.query.size(); ++i) {
      ASSERT_EQ(hit.query[i] == '-', hit.indices_query[i] == -1);
      ASSERT_EQ(hit.hit_sequence[i] == '-', hit.indices_hit[i] == -1);
    }
  }
}

TEST(Hhr, ComputesZeroBasedIndicesWithMinusOneAtGaps) {
  const auto hits = parse_hhr(one_hit(), "inline.hhr");
  ASSERT_EQ(hits.size(), 1u);
  const TemplateHit& hit = hits[0];
  EXPECT_EQ(hit.index, 1);
  EXPECT_EQ(hit.name, "1ABC_A Some protein; X-RAY {Homo sapiens}");
  EXPECT_EQ(hit.aligned_cols, 8);
  EXPECT_FLOAT_EQ(hit.sum_probs, 7.5f);
  EXPECT_EQ(hit.query, "AC-DEFGH");
  EXPECT_EQ(hit.hit_sequence, "ACKDE--H");
  EXPECT_EQ(hit.indices_query, (std::vector<int>{0, 1, -1, 2, 3, 4, 5, 6}));
  EXPECT_EQ(hit.indices_hit, (std::vector<int>{4, 5, 6, 7, 8, -1, -1, 9}));
}

TEST(Hhr, ConcatenatesAlignmentBlocks) {
  const std::string text = std::string(kHeader) + "No 3\n>X\n" + kSummary + "\n" +
                           aln("Q", "test", "   2 AC   3 (10)") +
                           aln("T", "X", "   1 A-   1 (5)") + "\n" +
                           aln("Q", "test", "   4 -D   4 (10)") +
                           aln("T", "X", "   2 GD   3 (5)");
  const auto hits = parse_hhr(text, "inline.hhr");
  ASSERT_EQ(hits.size(), 1u);
  EXPECT_EQ(hits[0].index, 3);
  EXPECT_EQ(hits[0].query, "AC-D");
  EXPECT_EQ(hits[0].hit_sequence, "A-GD");
  EXPECT_EQ(hits[0].indices_query, (std::vector<int>{1, 2, -1, 3}));
  EXPECT_EQ(hits[0].indices_hit, (std::vector<int>{0, -1, 1, 2}));
}

TEST(Hhr, SumProbsIsZeroWhenAbsent) {
  const auto hits = parse_hhr(
      one_hit("Probab=99.50  E-value=1e-10  Score=50.00  Aligned_cols=8  Identities=50%  "
              "Similarity=0.500\n"),
      "old.hhr");
  ASSERT_EQ(hits.size(), 1u);
  EXPECT_EQ(hits[0].sum_probs, 0.0f);
  EXPECT_EQ(hits[0].aligned_cols, 8);
}

TEST(Hhr, FileWithoutHitsGivesEmptyList) {
  EXPECT_TRUE(parse_hhr(kHeader, "none.hhr").empty());
}

TEST(Hhr, RejectsMalformedHitHeaders) {
  std::string text = one_hit();
  const std::string no_name = text.replace(text.find(">1ABC_A"), 1, "");
  const ParseError e = expect_parse_error([&] { parse_hhr(no_name, "h.hhr"); });
  EXPECT_EQ(e.line(), 9);
  EXPECT_NE(e.problem().find("'>name'"), std::string::npos);

  std::string bad_number = one_hit();
  bad_number.replace(bad_number.find("No 1\n"), 5, "No one\n");
  EXPECT_EQ(expect_parse_error([&] { parse_hhr(bad_number, "h.hhr"); }).line(), 8);

  const std::string cut_block = std::string(kHeader) + "No 1\n>1ABC_A\n";
  expect_parse_error([&] { parse_hhr(cut_block, "h.hhr"); });
}

TEST(Hhr, RejectsMalformedSummaryLine) {
  const ParseError missing = expect_parse_error([] {
    parse_hhr(one_hit("Probab=99.50  E-value=1e-10  Score=50.00  Identities=50%  "
                      "Similarity=0.5  Sum_probs=7.5\n"),
              "s.hhr");
  });
  EXPECT_EQ(missing.line(), 10);
  EXPECT_NE(missing.problem().find("Aligned_cols="), std::string::npos);
  const ParseError text = expect_parse_error([] {
    parse_hhr(one_hit("Probab=99.50  E-value=1e-10  Score=high  Aligned_cols=8  "
                      "Identities=50%  Similarity=0.5  Sum_probs=7.5\n"),
              "s.hhr");
  });
  EXPECT_NE(text.problem().find("Score="), std::string::npos);
  expect_parse_error([] { parse_hhr(one_hit("\n"), "s.hhr"); });
}

TEST(Hhr, RejectsMalformedAlignmentLines) {
  // Query segment 1-7 with one gap must be 8 characters long.
  std::string wrong_len = one_hit();
  wrong_len.replace(wrong_len.find("   1 AC-DEFGH    7"), 18, "   1 AC-DEFGH    8");
  const ParseError len = expect_parse_error([&] { parse_hhr(wrong_len, "a.hhr"); });
  EXPECT_EQ(len.line(), 12);

  std::string lower = one_hit();
  lower.replace(lower.find("   1 AC-DEFGH"), 13, "   1 ac-defgh");
  EXPECT_EQ(expect_parse_error([&] { parse_hhr(lower, "a.hhr"); }).line(), 12);

  std::string t_short = one_hit();
  t_short.replace(t_short.find("   5 ACKDE--H   10 (20)\nT ss"), 23, "   5 ACKDE-H   10 (20)");
  EXPECT_EQ(expect_parse_error([&] { parse_hhr(t_short, "a.hhr"); }).line(), 16);

  const std::string t_first = std::string(kHeader) + "No 1\n>X\n" + kSummary +
                              aln("T", "X", "   1 AC   2 (5)");
  expect_parse_error([&] { parse_hhr(t_first, "a.hhr"); });
}

TEST(Hhr, RejectsTruncatedFile) {
  const std::string path = shared_data("alignments/6KWC_1/hhsearch_output.hhr");
  const std::string text = std::filesystem::exists(path) ? read_text_file(path) : one_hit();
  const size_t last_q = text.rfind("\nQ ") + 1;
  ASSERT_GT(last_q, 0u);
  // Cut inside the last query alignment line ...
  const std::string mid_line = text.substr(0, last_q + 30);
  const ParseError e = expect_parse_error([&] { parse_hhr(mid_line, "cut.hhr"); });
  EXPECT_GT(e.line(), 0);
  // ... or after it, before its template line.
  const std::string no_template = text.substr(0, text.find('\n', last_q) + 1);
  const ParseError e2 = expect_parse_error([&] { parse_hhr(no_template, "cut.hhr"); });
  EXPECT_NE(e2.problem().find("truncated"), std::string::npos);
  // ... or right after a hit's "No N" line.
  const std::string after_no = text.substr(0, text.rfind("\nNo ") + 6);
  expect_parse_error([&] { parse_hhr(after_no, "cut.hhr"); });
}

TEST(Hhr, RejectsBinaryData) {
  std::string text = one_hit();
  text[text.find("Probab")] = '\0';
  const ParseError e = expect_parse_error([&] { parse_hhr(text, "b.hhr"); });
  EXPECT_EQ(e.line(), 10);
  EXPECT_NE(e.problem().find("binary"), std::string::npos);
  const std::string gzip_magic("\x1f\x8b\x08\x00", 4);
  expect_parse_error([&] { parse_hhr(gzip_magic, "b.hhr"); });
}

TEST(Hhr, RejectsEmptyAndNonHhrInput) {
  EXPECT_LE(expect_parse_error([] { parse_hhr("", "e.hhr"); }).line(), 0);
  expect_parse_error([] { parse_hhr("\n\n", "e.hhr"); });
  const ParseError fasta = expect_parse_error([] { parse_hhr(">q\nACDE\n", "e.hhr"); });
  EXPECT_EQ(fasta.line(), 1);
}

}  // namespace
}  // namespace fold::data
