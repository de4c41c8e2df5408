// fold msa's search driver (data/msa_search): option checks that must fail before any
// tool runs, and real jackhmmer / MMseqs2 searches against a tiny database built from
// real sequences (../shared/data alignments), read back with read_msa.
#include <signal.h>
#include <sys/stat.h>
#include <zlib.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "data/msa.h"
#include "data/msa_search.h"
#include "test_paths.h"

namespace fold::data {
namespace {

namespace fs = std::filesystem;
using fold::test::remove_tree;
using fold::test::shared_data;
using fold::test::slurp;
using fold::test::temp_path;

void write_file(const fs::path& p, const std::string& text) {
  fs::create_directories(p.parent_path());
  std::ofstream out(p, std::ios::binary);
  out << text;
  ASSERT_TRUE(out.flush()) << p;
}

void write_gzip(const fs::path& p, const std::string& text) {
  gzFile f = gzopen(p.c_str(), "wb");
  ASSERT_NE(f, nullptr) << p;
  ASSERT_EQ(gzwrite(f, text.data(), static_cast<unsigned>(text.size())), static_cast<int>(text.size()));
  ASSERT_EQ(gzclose(f), Z_OK);
}

std::vector<std::string> files_in(const fs::path& dir) {
  std::vector<std::string> names;
  if (!fs::exists(dir)) return names;
  for (const auto& e : fs::directory_iterator(dir)) names.push_back(e.path().filename().string());
  std::sort(names.begin(), names.end());
  return names;
}

bool on_path(const std::string& name) {
  const std::string cmd = "command -v " + name + " >/dev/null 2>&1";
  return std::system(cmd.c_str()) == 0;
}

std::string ungapped(const std::string& row) {
  std::string s;
  for (char c : row)
    if (c != '-') s += c;
  return s;
}

// A scratch folder removed at the end of each test.
class MsaSearch : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = temp_path("msa_search");
    fs::create_directories(dir_);
  }
  void TearDown() override { remove_tree(dir_); }

  // Options that pass every check except the one a test breaks: /bin/true stands in
  // for the tool, so these tests do not depend on HMMER or MMseqs2 being installed.
  MsaSearchOptions checked_options() {
    MsaSearchOptions o;
    o.fasta = (dir_ / "q.fasta").string();
    write_file(o.fasta, ">q1\nMKTAYIAKQR\n");
    o.databases = {(dir_ / "db.fasta").string()};
    write_file(o.databases[0], ">d1\nMKTAYIAKQR\n");
    o.output_dir = (dir_ / "aln").string();
    o.jackhmmer_binary = "/bin/true";
    o.mmseqs_binary = "/bin/true";
    o.tmp_dir = (dir_ / "tmp").string();
    return o;
  }

  fs::path dir_;
};

TEST_F(MsaSearch, SafeFileNameReplacesCharactersUnsafeInAFolderName) {
  EXPECT_EQ(safe_file_name("sp|P69905|HBA_HUMAN"), "sp_P69905_HBA_HUMAN");
  EXPECT_EQ(safe_file_name("6KWC_1"), "6KWC_1");
  EXPECT_EQ(safe_file_name("a/b\\c:d e"), "a_b_c_d_e");
  EXPECT_EQ(safe_file_name("1abc.A-2"), "1abc.A-2");
  EXPECT_EQ(safe_file_name(".."), "_..");
  EXPECT_EQ(safe_file_name("."), "_.");
  EXPECT_EQ(safe_file_name(""), "_");
}

TEST_F(MsaSearch, DatabaseNameIsTheFileNameWithoutFastaAndGzipExtensions) {
  EXPECT_EQ(database_name("/data/uniref90/uniref90.fasta"), "uniref90");
  EXPECT_EQ(database_name("example-data/DB.fasta.gz"), "DB");
  EXPECT_EQ(database_name("mgnify.fa"), "mgnify");
  EXPECT_EQ(database_name("x/Swissprot.FASTA.GZ"), "Swissprot");
  EXPECT_EQ(database_name("prot.faa"), "prot");
  EXPECT_EQ(database_name("mmseqs/uniref30_db"), "uniref30_db");  // an MMseqs2 DB prefix
  EXPECT_EQ(database_name("bfd.fasta.bak"), "bfd.fasta.bak");      // only trailing extensions
}

// The e-value and prefilter thresholds are AlphaFold2's (alphafold/data/tools/jackhmmer.py);
// they are what makes the MSAs comparable to AF2's, and no output shows them.
TEST_F(MsaSearch, JackhmmerCommandIsAlphaFold2s) {
  const std::vector<std::string> expected = {
      "/usr/bin/jackhmmer", "-o", "/dev/null", "-A", "out.sto", "--noali", "--F1", "0.0005", "--F2", "0.00005",
      "--F3", "0.0000005", "--incE", "0.0001", "-E", "0.0001", "--cpu", "4", "-N", "3", "q.fasta", "db.fasta"};
  EXPECT_EQ(jackhmmer_command("/usr/bin/jackhmmer", "q.fasta", "db.fasta", "out.sto", 3, 4), expected);
}

// AlphaFold2's hhblits and hhsearch flags (alphafold/data/tools/hhblits.py, hhsearch.py):
// every HH-suite database of a search in one run, each after its own -d.
TEST_F(MsaSearch, HhblitsAndHhsearchCommandsAreAlphaFold2s) {
  const std::vector<std::string> hhblits = {
      "hhblits", "-i", "q.fasta", "-cpu", "4", "-oa3m", "out.a3m", "-o", "/dev/null", "-n", "3", "-e", "0.001",
      "-maxseq", "1000000", "-realign_max", "100000", "-maxfilt", "100000", "-min_prefilter_hits", "1000",
      "-d", "bfd", "-d", "uniclust30"};
  EXPECT_EQ(hhblits_command("hhblits", "q.fasta", {"bfd", "uniclust30"}, "out.a3m", 4), hhblits);
  const std::vector<std::string> hhsearch = {"hhsearch", "-i", "in.a3m", "-o", "out.hhr", "-maxseq", "1000000",
                                             "-d", "pdb70"};
  EXPECT_EQ(hhsearch_command("hhsearch", "in.a3m", {"pdb70"}, "out.hhr"), hhsearch);
}

// An HH-suite database is a prefix of several files; a prefix missing them is named with
// what it needs and where small ones come from, before anything runs.
TEST_F(MsaSearch, MissingHhsuiteDatabaseIsNamedWithWhatItNeeds) {
  auto o = checked_options();
  o.hhblits_binary = o.hhsearch_binary = "/bin/true";
  o.template_databases = {(dir_ / "pdb70").string()};
  write_file(dir_ / "pdb70_a3m.ffdata", "");
  write_file(dir_ / "pdb70_a3m.ffindex", "");  // no _cs219
  try {
    run_msa_search(o);
    FAIL() << "expected MsaSearchError";
  } catch (const MsaSearchError& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("hhsearch (PDB70) database not found: " + o.template_databases[0]), std::string::npos) << msg;
    EXPECT_NE(msg.find("_cs219.ffindex"), std::string::npos) << msg;
    EXPECT_NE(msg.find("make-hhsuite-dbs.sh"), std::string::npos) << msg;
  }
  EXPECT_FALSE(fs::exists(o.output_dir)) << "nothing may be written before the checks pass";
  // With no database of any kind there is nothing to search.
  o.databases.clear();
  o.template_databases.clear();
  EXPECT_THROW(run_msa_search(o), MsaSearchError);
}

TEST_F(MsaSearch, MissingDatabaseIsNamedWithHowToGetOne) {
  auto o = checked_options();
  o.databases.push_back((dir_ / "no_such_db.fasta").string());
  try {
    run_msa_search(o);
    FAIL() << "expected MsaSearchError";
  } catch (const MsaSearchError& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("database not found"), std::string::npos) << msg;
    EXPECT_NE(msg.find("no_such_db.fasta"), std::string::npos) << msg;
    EXPECT_NE(msg.find("tools/setup.sh"), std::string::npos) << msg;
  }
  EXPECT_FALSE(fs::exists(o.output_dir)) << "nothing may be written before the checks pass";
}

TEST_F(MsaSearch, MissingToolBinaryIsNamedWithHowToInstallIt) {
  auto o = checked_options();
  o.jackhmmer_binary = (dir_ / "bin" / "jackhmmer").string();
  try {
    run_msa_search(o);
    FAIL() << "expected MsaSearchError";
  } catch (const MsaSearchError& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("jackhmmer not found"), std::string::npos) << msg;
    EXPECT_NE(msg.find(o.jackhmmer_binary), std::string::npos) << msg;
    EXPECT_NE(msg.find("hmmer"), std::string::npos) << msg;
    EXPECT_NE(msg.find("tools/setup.sh"), std::string::npos) << msg;
  }
  // A bare name is looked up on PATH, and the message says so.
  o.tool = MsaTool::kMmseqs;
  o.mmseqs_binary = "fold-test-no-such-mmseqs";
  try {
    run_msa_search(o);
    FAIL() << "expected MsaSearchError";
  } catch (const MsaSearchError& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("no 'fold-test-no-such-mmseqs' on PATH"), std::string::npos) << msg;
    EXPECT_NE(msg.find("mmseqs2"), std::string::npos) << msg;
  }
  EXPECT_FALSE(fs::exists(o.output_dir));
}

TEST_F(MsaSearch, FastaWithoutRecordsIsRejectedBeforeAnySearch) {
  auto o = checked_options();
  write_file(o.fasta, "\n  \n");
  const ParseError e = fold::test::expect_parse_error([&] { run_msa_search(o); });
  EXPECT_EQ(e.file(), o.fasta);
  EXPECT_FALSE(fs::exists(o.output_dir));
}

TEST_F(MsaSearch, IdsThatShareAFolderAndDatabasesThatShareANameAreRejected) {
  auto o = checked_options();
  // Both ids become the folder "a_b": one would overwrite the other's alignments.
  write_file(o.fasta, ">a|b\nMKTAYIAKQR\n>a_b\nMKTAYIAKQR\n");
  const ParseError e = fold::test::expect_parse_error([&] { run_msa_search(o); });
  EXPECT_NE(e.problem().find("'a|b' and 'a_b'"), std::string::npos) << e.what();

  o = checked_options();
  write_file(dir_ / "other" / "db.fa.gz", "");
  o.databases.push_back((dir_ / "other" / "db.fa.gz").string());
  try {
    run_msa_search(o);
    FAIL() << "expected MsaSearchError";
  } catch (const MsaSearchError& e) {
    EXPECT_NE(std::string(e.what()).find("'db_hits'"), std::string::npos) << e.what();
  }
  EXPECT_FALSE(fs::exists(o.output_dir));
}

TEST_F(MsaSearch, GappedQueryIsRejected) {
  auto o = checked_options();
  write_file(o.fasta, ">q1\nMKTA-YIAKQR\n");
  const ParseError e = fold::test::expect_parse_error([&] { run_msa_search(o); });
  EXPECT_NE(e.problem().find("'q1'"), std::string::npos) << e.what();
}

// Ctrl-C in `fold msa` sets the cancel flag: a running tool (here a stand-in that
// sleeps) must be terminated, not waited for, and the work folder removed; a search that
// was not started must not start.
TEST_F(MsaSearch, CancelTerminatesTheRunningToolAndRemovesWorkFiles) {
  auto o = checked_options();
  write_file(o.fasta, ">q1\nMKTAYIAKQR\n>q2\nMKTAYIAKQR\n");
  const fs::path tool = dir_ / "bin" / "jackhmmer", pids = dir_ / "pids";
  write_file(tool, "#!/bin/sh\necho $$ >> '" + pids.string() + "'\nexec sleep 30\n");
  ASSERT_EQ(::chmod(tool.c_str(), 0755), 0);
  o.jackhmmer_binary = tool.string();
  std::atomic<bool> cancel{false};
  o.cancel = &cancel;
  std::thread interrupter([&] {
    while (!fs::exists(pids)) std::this_thread::sleep_for(std::chrono::milliseconds(10));
    cancel = true;
  });
  const auto start = std::chrono::steady_clock::now();
  try {
    run_msa_search(o);
    ADD_FAILURE() << "expected MsaSearchError";
  } catch (const MsaSearchError& e) {
    EXPECT_NE(std::string(e.what()).find("interrupted: 0 of 2 searches finished"), std::string::npos) << e.what();
  }
  interrupter.join();
  EXPECT_LT(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(), 20.0)
      << "the tool was waited for instead of terminated";
  std::ifstream in(pids);
  std::vector<pid_t> started;
  for (pid_t pid; in >> pid;) started.push_back(pid);
  ASSERT_EQ(started.size(), 1u) << "jobs = 1: the second search must not start after the cancel";
  EXPECT_EQ(::kill(started[0], 0), -1) << "the tool is still running";
  EXPECT_EQ(errno, ESRCH);
  EXPECT_EQ(files_in(o.tmp_dir), std::vector<std::string>{}) << "the work folder is removed";
  EXPECT_EQ(files_in(fs::path(o.output_dir) / "q1"), std::vector<std::string>{});
  EXPECT_FALSE(fs::exists(fs::path(o.output_dir) / "q2"));
}

// Real searches. Two families of real sequences: ParR homologues (2Q2K chain A's
// UniRef90 hits) and 6KWC_1 homologues (its BFD/UniRef hits), with their queries. Rows
// are the alignments' aligned residues with gaps removed (insertions are not in
// read_msa's rows), which is enough for a search to find them.
class MsaSearchReal : public MsaSearch {
 protected:
  void SetUp() override {
    MsaSearch::SetUp();
    const std::string parr = shared_data("alignments/2q2k_A/uniref90_hits.sto");
    const std::string kwc = shared_data("alignments/6KWC_1/bfd_uniref_hits.a3m");
    if (!fs::exists(parr) || !fs::exists(kwc)) GTEST_SKIP() << "test data not present: " << parr << ", " << kwc;
    const Msa a = read_msa(parr), b = read_msa(kwc);
    queries_ = {{"2q2k|A", ungapped(a.sequences[0])}, {"6KWC_1", ungapped(b.sequences[0])}};
    std::string parr_db, kwc_db;
    for (size_t i = 1; i < a.depth(); ++i) parr_db += ">parr_" + std::to_string(i) + "\n" + ungapped(a.sequences[i]) + "\n";
    for (size_t i = 1, n = 0; i < b.depth() && n < 12; ++i) {
      const std::string s = ungapped(b.sequences[i]);
      if (s.size() < 120) continue;
      kwc_db += ">kwc_" + std::to_string(i) + "\n" + s + "\n";
      ++n;
    }
    write_file(dir_ / "q.fasta", ">2q2k|A ParR\n" + queries_[0].second + "\n>6KWC_1\n" + queries_[1].second + "\n");
    // "families" holds both families (gzipped: jackhmmer cannot read .gz and needs the
    // copy); "kwc" holds only 6KWC_1's, so the ParR query has no hit there.
    write_gzip(dir_ / "families.fasta.gz", parr_db + kwc_db);
    write_file(dir_ / "kwc.fa", kwc_db);
  }

  MsaSearchOptions options(MsaTool tool) {
    MsaSearchOptions o;
    o.fasta = (dir_ / "q.fasta").string();
    o.databases = {(dir_ / "families.fasta.gz").string(), (dir_ / "kwc.fa").string()};
    o.tool = tool;
    o.output_dir = (dir_ / "aln").string();
    o.jobs = 2;
    o.cpus = 2;
    o.tmp_dir = (dir_ / "tmp").string();
    return o;
  }

  // Every alignment is where OpenFold looks for it, parses, starts with its own query,
  // holds only that query's family (so parallel jobs did not mix outputs up), and the
  // folder holds nothing else (no temporary file left behind).
  void check_layout(MsaTool tool, const std::vector<MsaSearchResult>& results) {
    const std::string ext = tool == MsaTool::kJackhmmer ? "sto" : "a3m";
    ASSERT_EQ(results.size(), 4u);
    std::map<std::string, size_t> depth;
    for (const auto& r : results) {
      EXPECT_TRUE(r.error.empty()) << r.error;
      EXPECT_FALSE(r.skipped);
      EXPECT_EQ(r.path, (dir_ / "aln" / r.id / (r.database + "_hits." + ext)).string());
      const Msa msa = read_msa(r.path);
      EXPECT_EQ(msa.depth(), r.depth) << r.path;
      const auto& q = r.id == "2q2k_A" ? queries_[0] : queries_[1];
      ASSERT_GT(msa.depth(), 0u);
      EXPECT_EQ(msa.sequences[0], q.second) << r.path << ": the first row must be the query";
      const std::string family = r.id == "2q2k_A" ? "parr_" : "kwc_";
      for (size_t i = 1; i < msa.depth(); ++i)
        EXPECT_EQ(msa.descriptions[i].rfind(family, 0), 0u) << r.path << " row " << i << ": " << msa.descriptions[i];
      depth[r.id + "/" + r.database] = msa.depth();
    }
    EXPECT_GT(depth["2q2k_A/families"], 5u);
    EXPECT_GT(depth["6KWC_1/families"], 5u);
    EXPECT_GT(depth["6KWC_1/kwc"], 5u);
    EXPECT_EQ(depth["2q2k_A/kwc"], 1u) << "no ParR sequence in kwc.fa: the alignment is the query alone";
    EXPECT_EQ(files_in(dir_ / "aln"), (std::vector<std::string>{"2q2k_A", "6KWC_1"}));
    for (const char* id : {"2q2k_A", "6KWC_1"})
      EXPECT_EQ(files_in(dir_ / "aln" / id), (std::vector<std::string>{"families_hits." + ext, "kwc_hits." + ext}));
    EXPECT_EQ(files_in(dir_ / "tmp"), std::vector<std::string>{}) << "the work folder is removed";
  }

  std::vector<std::pair<std::string, std::string>> queries_;  // (FASTA id, sequence)
};

TEST_F(MsaSearchReal, JackhmmerWritesOpenFoldLayoutWithTheQueryFirst) {
  if (!on_path("jackhmmer")) GTEST_SKIP() << "jackhmmer not installed (tools/setup.sh installs hmmer)";
  size_t reported = 0;
  const auto results = run_msa_search(options(MsaTool::kJackhmmer), [&](const MsaSearchResult&) { ++reported; });
  EXPECT_EQ(reported, 4u);
  check_layout(MsaTool::kJackhmmer, results);
}

TEST_F(MsaSearchReal, MmseqsWritesOpenFoldLayoutWithTheQueryFirst) {
  if (!on_path("mmseqs")) GTEST_SKIP() << "mmseqs not installed (tools/setup.sh installs mmseqs2)";
  check_layout(MsaTool::kMmseqs, run_msa_search(options(MsaTool::kMmseqs)));
}

TEST_F(MsaSearchReal, ExistingAlignmentIsKeptAndOnlyMissingOnesAreSearched) {
  if (!on_path("jackhmmer")) GTEST_SKIP() << "jackhmmer not installed (tools/setup.sh installs hmmer)";
  const fs::path kept = dir_ / "aln" / "2q2k_A" / "families_hits.sto";
  write_file(kept, "left by an earlier run\n");
  auto results = run_msa_search(options(MsaTool::kJackhmmer));
  EXPECT_EQ(slurp(kept), "left by an earlier run\n");
  size_t skipped = 0;
  for (const auto& r : results) {
    skipped += r.skipped;
    EXPECT_EQ(r.skipped, r.path == kept.string()) << r.path;
    if (!r.skipped) {
      EXPECT_GT(r.depth, 0u) << r.path;
    }
  }
  EXPECT_EQ(skipped, 1u);
  // A second run has nothing left to do.
  const std::string searched = slurp(dir_ / "aln" / "6KWC_1" / "kwc_hits.sto");
  results = run_msa_search(options(MsaTool::kJackhmmer));
  for (const auto& r : results) EXPECT_TRUE(r.skipped) << r.path;
  EXPECT_EQ(slurp(dir_ / "aln" / "6KWC_1" / "kwc_hits.sto"), searched);
}

TEST_F(MsaSearchReal, FailedSearchLeavesNoFileAndReportsTheToolsError) {
  if (!on_path("jackhmmer")) GTEST_SKIP() << "jackhmmer not installed (tools/setup.sh installs hmmer)";
  auto o = options(MsaTool::kJackhmmer);
  write_file(dir_ / "broken.fasta", "this is not a sequence database\n");
  o.databases = {(dir_ / "broken.fasta").string()};
  try {
    run_msa_search(o);
    FAIL() << "expected MsaSearchError";
  } catch (const MsaSearchError& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("2 of 2 searches failed"), std::string::npos) << msg;
    EXPECT_NE(msg.find("jackhmmer"), std::string::npos) << msg;
    EXPECT_NE(msg.find("empty or misformatted"), std::string::npos) << "jackhmmer's own reason: " << msg;
  }
  // jackhmmer creates its -A file even when it fails; none may remain.
  for (const char* id : {"2q2k_A", "6KWC_1"})
    EXPECT_EQ(files_in(dir_ / "aln" / id), std::vector<std::string>{}) << id;
}

}  // namespace
}  // namespace fold::data
