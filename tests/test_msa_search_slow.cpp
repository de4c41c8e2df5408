// `fold msa` end to end (label slow): the real binary searches two example proteins,
// human haemoglobin alpha (PDB 4HHB chain A) and ubiquitin (PDB 1UBQ), against the
// 20,000-sequence UniProt sample that Debian's mmseqs2-examples ships (DB.fasta.gz,
// fetched by tools/setup.sh), and the alignments land in OpenFold's layout, deep and
// query first. Timings are printed for the record, not asserted (ARCHITECTURE.md, Tests).
#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <string>

#include "data/msa.h"
#include "test_paths.h"

namespace fold::test {
namespace {

namespace fs = std::filesystem;

// SEQRES of 4HHB chain A and 1UBQ chain A.
const char* kHbaId = "4HHB_A";
const char* kHba =
    "VLSPADKTNVKAAWGKVGAHAGEYGAEALERMFLSFPTTKTYFPHFDLSHGSAQVKGHGKKVADALTNAVAHVDDMPNALSALSDLHAHKLRVDPVNFKLLSHCLLVTL"
    "AAHLPAEFTPAVHASLDKFLASVSTVLTSKYR";
const char* kUbqId = "1UBQ_A";
const char* kUbq = "MQIFVKTLTGKTITLEVEPSDTIENVKAKIQDKEGIPPDQQRLIFAGKQLEDGRTLSDYNIQKESTLHLVLRLRGG";

std::string example_db() {
  return example_cache("mmseqs2-examples/usr/share/doc/mmseqs2/example-data/DB.fasta.gz");
}

bool on_path(const std::string& name) {
  const std::string cmd = "command -v " + name + " >/dev/null 2>&1";
  return std::system(cmd.c_str()) == 0;
}

class MsaSearchSlow : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = temp_path("msa_slow");
    fs::create_directories(dir_);
    std::ofstream(dir_ / "q.fasta") << ">" << kHbaId << " haemoglobin alpha\n"
                                    << kHba << "\n>" << kUbqId << " ubiquitin\n"
                                    << kUbq << "\n";
  }
  void TearDown() override { remove_tree(dir_); }

  // Runs `fold msa` twice: the first run searches both proteins (depth > 1, query
  // first, one summary line each); the second keeps every alignment unchanged.
  void search_examples(const std::string& tool, const std::string& ext) {
    const std::string args = "msa --fasta '" + (dir_ / "q.fasta").string() + "' --db '" + example_db() +
                             "' --tool " + tool + " --out '" + (dir_ / "aln").string() + "' --jobs 2 --tmp-dir '" +
                             (dir_ / "tmp").string() + "'";
    const auto start = std::chrono::steady_clock::now();
    const Outcome first = run_fold(args);
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    ASSERT_EQ(first.code, 0) << first.out << first.err;
    std::cout << "fold msa --tool " << tool << " (2 queries, --jobs 2): " << seconds << " s\n" << first.out;
    std::string before[2];
    int k = 0;
    for (const auto& [id, seq] : {std::pair{kHbaId, kHba}, std::pair{kUbqId, kUbq}}) {
      const fs::path path = dir_ / "aln" / id / ("DB_hits." + ext);
      ASSERT_TRUE(fs::exists(path)) << path;
      const data::Msa msa = data::read_msa(path.string());
      EXPECT_EQ(msa.sequences.front(), seq) << path << ": the first row must be the query";
      EXPECT_GT(msa.depth(), 1u) << path << ": the example database holds homologues of " << id;
      EXPECT_NE(first.out.find(std::string(id) + " DB: depth " + std::to_string(msa.depth()) + " in "),
                std::string::npos)
          << first.out;
      before[k++] = slurp(path);
    }
    EXPECT_NE(first.out.find("fold msa: 2 searched, 0 kept, 0 failed"), std::string::npos) << first.out;
    EXPECT_FALSE(fs::exists(dir_ / "tmp") && !fs::is_empty(dir_ / "tmp")) << "work files are removed";

    const Outcome second = run_fold(args);
    ASSERT_EQ(second.code, 0) << second.out << second.err;
    EXPECT_NE(second.out.find("fold msa: 0 searched, 2 kept, 0 failed"), std::string::npos) << second.out;
    k = 0;
    for (const char* id : {kHbaId, kUbqId}) EXPECT_EQ(slurp(dir_ / "aln" / id / ("DB_hits." + ext)), before[k++]);
  }

  fs::path dir_;
};

TEST_F(MsaSearchSlow, MmseqsFindsHomologuesOfTwoExampleProteins) {
  FOLD_REQUIRE_FILE(example_db());
  if (!on_path("mmseqs")) GTEST_SKIP() << "mmseqs not installed (tools/setup.sh installs mmseqs2)";
  search_examples("mmseqs", "a3m");
}

TEST_F(MsaSearchSlow, JackhmmerFindsHomologuesOfTwoExampleProteins) {
  FOLD_REQUIRE_FILE(example_db());
  if (!on_path("jackhmmer")) GTEST_SKIP() << "jackhmmer not installed (tools/setup.sh installs hmmer)";
  search_examples("jackhmmer", "sto");
}

// The CLI's error path: a missing database is named, with how to get one, and the
// exit status is non-zero.
TEST_F(MsaSearchSlow, MissingDatabaseFailsWithAClearMessage) {
  const Outcome r = run_fold("msa --fasta '" + (dir_ / "q.fasta").string() + "' --db '" +
                             (dir_ / "uniref90.fasta").string() + "' --tool jackhmmer --jackhmmer-binary /bin/true --out '" +
                             (dir_ / "aln").string() + "'");
  EXPECT_NE(r.code, 0);
  EXPECT_NE(r.err.find("database not found: " + (dir_ / "uniref90.fasta").string()), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("tools/setup.sh"), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(dir_ / "aln"));
}

}  // namespace
}  // namespace fold::test
