// FASTA reader (data/fasta.h) and the shared file reader (data/text_file.h).
//
// Residue policy tested here: FASTA keeps every ASCII letter verbatim (unknown ones such
// as X/B/Z/U/O/J are mapped to X later by the featuriser, as AlphaFold does); any other
// character except '-', '.', whitespace and a final '*' is rejected.
#include <gtest/gtest.h>
#include <zlib.h>

#include <cstdio>
#include <filesystem>
#include <string>
#include <unistd.h>

#include "data/fasta.h"
#include "data/parse_error.h"
#include "data/text_file.h"
#include "test_paths.h"

namespace fold::data {
namespace {

using fold::test::example_cache;
using fold::test::expect_parse_error;
using fold::test::shared_data;

// A per-test scratch file that is removed at the end.
struct TempFile {
  std::string path;
  explicit TempFile(const std::string& suffix)
      : path((std::filesystem::temp_directory_path() /
              ("fold_fasta_test_" + std::to_string(::getpid()) + "_" +
               ::testing::UnitTest::GetInstance()->current_test_info()->name() + suffix))
                 .string()) {}
  ~TempFile() {
    std::error_code ec;
    std::filesystem::remove(path, ec);
  }
};

void write_gzip(const std::string& path, const std::string& content) {
  gzFile f = gzopen(path.c_str(), "wb");
  ASSERT_NE(f, nullptr);
  ASSERT_EQ(gzwrite(f, content.data(), static_cast<unsigned>(content.size())),
            static_cast<int>(content.size()));
  ASSERT_EQ(gzclose(f), Z_OK);
}

constexpr const char* k6kwcSequence =
    "GSTIQPGTGYNNGYFYSYWNDGHGGVTYTNGPGGQFSVNWSNSGEFVGGKGWQPGTKNKVINFSGSYNPNGNSYLSVYGWSR"
    "NPLIEYYIVENFGTYNPSTGATKLGEVTSDGSVYDIYRTQRVNQPSIIGTATFYQYWSVRRNHRSSGSVNTANHFNAWAQQG"
    "LTLGTMDYQIVAVQGYFSSGSASITVS";

TEST(Fasta, ParsesRealFile6kwc) {
  const std::string path = shared_data("fasta/6kwc.fasta");
  FOLD_REQUIRE_FILE(path);
  const auto records = read_fasta(path);
  ASSERT_EQ(records.size(), 1u);
  EXPECT_EQ(records[0].id, "6KWC_1");
  EXPECT_EQ(records[0].description, "");
  EXPECT_EQ(records[0].sequence.size(), 191u);
  EXPECT_EQ(records[0].sequence, k6kwcSequence);
}

TEST(Fasta, ParsesRealFile2q2kShort) {
  const std::string path = shared_data("fasta/2q2k_short.fasta");
  FOLD_REQUIRE_FILE(path);
  const auto records = read_fasta(path);
  ASSERT_EQ(records.size(), 1u);
  EXPECT_EQ(records[0].id, "query");
  EXPECT_EQ(records[0].sequence.substr(0, 10), "MAAHKGAEHH");
}

TEST(Fasta, SplitsIdAndDescriptionAndJoinsSequenceLines) {
  const auto records = parse_fasta(
      ">sp|P69905|HBA_HUMAN  Hemoglobin subunit alpha \nMVLSPADK\nTNVKAAWG\n\n>second\nAC\n",
      "inline");
  ASSERT_EQ(records.size(), 2u);
  EXPECT_EQ(records[0].id, "sp|P69905|HBA_HUMAN");
  EXPECT_EQ(records[0].description, "Hemoglobin subunit alpha");
  EXPECT_EQ(records[0].sequence, "MVLSPADKTNVKAAWG");
  EXPECT_EQ(records[1].id, "second");
  EXPECT_EQ(records[1].description, "");
  EXPECT_EQ(records[1].sequence, "AC");
}

TEST(Fasta, StripsWhitespaceCrlfAndFinalStar) {
  const auto records = parse_fasta(">a\r\n  MKV LLA\t\r\nGGK*\r\n>b\rAA*", "inline");
  ASSERT_EQ(records.size(), 2u);
  EXPECT_EQ(records[0].sequence, "MKVLLAGGK");
  EXPECT_EQ(records[1].sequence, "AA");
}

TEST(Fasta, KeepsUnknownLettersVerbatimForTheFeaturiserToMapToX) {
  const auto records = parse_fasta(">x\nAXBZUOJ-.acd\n", "inline");
  ASSERT_EQ(records.size(), 1u);
  EXPECT_EQ(records[0].sequence, "AXBZUOJ-.acd");
}

TEST(Fasta, RejectsEmptyFile) {
  const ParseError e = expect_parse_error([] { parse_fasta("", "empty.fasta"); });
  EXPECT_EQ(e.file(), "empty.fasta");
  EXPECT_LE(e.line(), 0);
  const ParseError blank = expect_parse_error([] { parse_fasta(" \n\n\t\n", "blank.fasta"); });
  EXPECT_NE(std::string(blank.what()).find("blank.fasta"), std::string::npos);
}

TEST(Fasta, RejectsSequenceBeforeFirstHeader) {
  const ParseError e = expect_parse_error([] { parse_fasta("\nMKV\n>a\nAA\n", "f.fa"); });
  EXPECT_EQ(e.line(), 2);
  EXPECT_NE(e.problem().find("before the first"), std::string::npos);
}

TEST(Fasta, RejectsEmptyHeader) {
  const ParseError e = expect_parse_error([] { parse_fasta(">a\nAA\n>  \nCC\n", "f.fa"); });
  EXPECT_EQ(e.line(), 3);
  EXPECT_NE(e.problem().find("empty FASTA header"), std::string::npos);
}

TEST(Fasta, RejectsInvalidCharacters) {
  const ParseError digit = expect_parse_error([] { parse_fasta(">a\nMK\nAC1D\n", "f.fa"); });
  EXPECT_EQ(digit.line(), 3);
  EXPECT_NE(digit.problem().find("'1'"), std::string::npos);
  EXPECT_NE(digit.problem().find("column 3"), std::string::npos);
  expect_parse_error([] { parse_fasta(">a\nAC#D\n", "f.fa"); });
  expect_parse_error([] { parse_fasta(">a\nAC\xc3\xa9\n", "f.fa"); });  // UTF-8 'e acute'
  const ParseError star = expect_parse_error([] { parse_fasta(">a\nAC*D\n", "f.fa"); });
  EXPECT_NE(star.problem().find("after the '*'"), std::string::npos);
}

TEST(Fasta, RejectsTruncatedRecordWithoutSequence) {
  const ParseError e = expect_parse_error([] { parse_fasta(">a\nMKV\n>b desc\n", "t.fa"); });
  EXPECT_EQ(e.line(), 3);
  EXPECT_NE(e.problem().find("'b'"), std::string::npos);
}

TEST(Fasta, RejectsBinaryData) {
  const std::string binary("\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03\xcb\x48", 12);
  const ParseError e = expect_parse_error([&] { parse_fasta(binary, "bin.fa"); });
  EXPECT_NE(e.problem().find("binary"), std::string::npos);
  const std::string nul(">a\nMK\0V\n", 8);
  const ParseError e2 = expect_parse_error([&] { parse_fasta(nul, "nul.fa"); });
  EXPECT_EQ(e2.line(), 2);
}

TEST(Fasta, ErrorMessageNamesFileAndLine) {
  const ParseError e = expect_parse_error([] { parse_fasta(">a\nA!\n", "dir/q.fasta"); });
  EXPECT_EQ(std::string(e.what()).rfind("dir/q.fasta:2: ", 0), 0u) << e.what();
}

TEST(Fasta, ReadFailsWithFileNameWhenMissing) {
  const std::string path = "/nonexistent/dir/none.fasta";
  const ParseError e = expect_parse_error([&] { read_fasta(path); });
  EXPECT_EQ(e.file(), path);
  EXPECT_NE(e.problem().find("cannot open"), std::string::npos);
  const ParseError gz = expect_parse_error([&] { read_text_file(path + ".gz"); });
  EXPECT_EQ(gz.file(), path + ".gz");
  const ParseError dir =
      expect_parse_error([] { read_text_file(std::filesystem::temp_directory_path()); });
  EXPECT_NE(dir.problem().find("directory"), std::string::npos);
}

TEST(Fasta, ReadsGzipCompressedFile) {
  TempFile file(".fasta.gz");
  write_gzip(file.path, ">gz compressed\nMKV\nLLA\n");
  const auto records = read_fasta(file.path);
  ASSERT_EQ(records.size(), 1u);
  EXPECT_EQ(records[0].id, "gz");
  EXPECT_EQ(records[0].sequence, "MKVLLA");
}

TEST(Fasta, RejectsTruncatedOrCorruptGzip) {
  std::string body;
  for (int i = 0; i < 2000; ++i) body += ">r" + std::to_string(i) + "\nMKVLLAGGKWEQ\n";
  TempFile full(".full.gz");
  write_gzip(full.path, body);
  // Read the raw compressed bytes and write back only the first half.
  std::string compressed;
  {
    std::FILE* f = std::fopen(full.path.c_str(), "rb");
    ASSERT_NE(f, nullptr);
    char buf[4096];
    size_t n;
    while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) compressed.append(buf, n);
    std::fclose(f);
  }
  ASSERT_GT(compressed.size(), 40u);
  TempFile cut(".cut.fasta.gz");
  {
    std::FILE* f = std::fopen(cut.path.c_str(), "wb");
    ASSERT_NE(f, nullptr);
    std::fwrite(compressed.data(), 1, compressed.size() / 2, f);
    std::fclose(f);
  }
  const ParseError e = expect_parse_error([&] { read_fasta(cut.path); });
  EXPECT_EQ(e.file(), cut.path);
  EXPECT_NE(e.problem().find("decompress"), std::string::npos) << e.what();

  TempFile corrupt(".bad.fasta.gz");
  {
    std::string bad = compressed;
    for (size_t i = 20; i < bad.size(); i += 7) bad[i] = static_cast<char>(bad[i] ^ 0x5a);
    std::FILE* f = std::fopen(corrupt.path.c_str(), "wb");
    ASSERT_NE(f, nullptr);
    std::fwrite(bad.data(), 1, bad.size(), f);
    std::fclose(f);
  }
  expect_parse_error([&] { read_fasta(corrupt.path); });
}

}  // namespace
}  // namespace fold::data
