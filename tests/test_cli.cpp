// The `fold` binary end to end: info, inspect on real files, config, and exit codes.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <sys/wait.h>

#include "test_paths.h"

namespace fold {
namespace {

using fold::test::examples;
using fold::test::shared_data;
using fold::test::Outcome;
using fold::test::run_fold;
using fold::test::temp_path;
using nlohmann::json;

json inspect(const std::filesystem::path& file) {
  const Outcome r = run_fold("inspect '" + file.string() + "'");
  EXPECT_EQ(r.code, 0) << r.err;
  return json::parse(r.out);
}

const auto kTheseus = examples() / "theseus-examples/usr/share/doc/theseus/examples";

TEST(Cli, InfoReportsLibraryVersionsAndDevices) {
  const Outcome r = run_fold("info --json");
  ASSERT_EQ(r.code, 0) << r.err;
  const json j = json::parse(r.out);
  EXPECT_EQ(j["libtorch"].get<std::string>().substr(0, 2), "2.");
  EXPECT_EQ(j["hdf5"].get<std::string>().substr(0, 2), "1.");
  EXPECT_FALSE(j["gemmi"].get<std::string>().empty());
  EXPECT_TRUE(j.contains("nccl"));
  EXPECT_TRUE(j.contains("cudnn"));
  EXPECT_EQ(j["devices"][0]["device"], "cpu");
  EXPECT_GE(j["intra_op_threads"].get<int>(), 1);
}

TEST(Cli, InfoReportsTheConfiguredAttentionPath) {
  const Outcome fused = run_fold("info --json");
  ASSERT_EQ(fused.code, 0) << fused.err;
  const json a = json::parse(fused.out)["attention"];
  EXPECT_EQ(a["kernels.attention"], "auto");
  EXPECT_EQ(a["cpu Float"], "tiled");
  const Outcome ref = run_fold("info --json --set kernels.attention=reference");
  ASSERT_EQ(ref.code, 0) << ref.err;
  EXPECT_EQ(json::parse(ref.out)["attention"]["cpu Float"], "reference");
  EXPECT_NE(run_fold("info --set kernels.attention=fastest").code, 0);
}

TEST(Cli, ThreadsOptionSetsThePool) {
  const Outcome r = run_fold("--threads 1 info --json");
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(json::parse(r.out)["intra_op_threads"], 1);
}

TEST(Cli, ThreadsOptionWorksAfterTheSubcommandToo) {
  const Outcome r = run_fold("info --json --threads 1");
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(json::parse(r.out)["intra_op_threads"], 1);
}

TEST(Cli, HelpShowsDefaults) {
  const Outcome r = run_fold("predict --help");
  ASSERT_EQ(r.code, 0) << r.err;
  // --config's default and --device's, as CLI11 prints a captured default.
  EXPECT_NE(r.out.find("TEXT=af2_model_1"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("=cpu"), std::string::npos) << r.out;
}

// --device is checked while parsing: a malformed name, or a GPU this machine lacks, is
// refused with one line naming the problem (no LibTorch error from deep in the run).
TEST(Cli, DeviceIsValidated) {
  const auto features = temp_path("x.npz"), params = temp_path("p.safetensors");
  std::ofstream(features) << "";
  std::ofstream(params) << "";
  const Outcome gpu = run_fold("predict --device gpu --features '" + features.string() + "' --params '" +
                               params.string() + "' --out '" + temp_path("out").string() + "'");
  std::filesystem::remove(features);
  std::filesystem::remove(params);
  EXPECT_NE(gpu.code, 0);
  EXPECT_NE(gpu.err.find("expected cpu, cuda or cuda:N, got 'gpu'"), std::string::npos) << gpu.err;
  EXPECT_EQ(gpu.err.find("frame #"), std::string::npos) << gpu.err;
  const Outcome info = run_fold("info --json");
  ASSERT_EQ(info.code, 0) << info.err;
  const size_t gpus = json::parse(info.out)["devices"].size() - 1;  // devices[0] is the CPU
  const Outcome missing = run_fold("plan --n-res 64 --device cuda:99");
  EXPECT_NE(missing.code, 0);
  EXPECT_NE(missing.err.find(gpus == 0 ? "no CUDA device is visible" : "this machine has"), std::string::npos)
      << missing.err;
  // A plan for a GPU elsewhere needs only its memory size.
  const Outcome elsewhere = run_fold("plan --config tiny --n-res 64 --device cuda --memory 80G");
  EXPECT_EQ(elsewhere.code, 0) << elsewhere.err;
}

TEST(Cli, EverySubcommandHasHelp) {
  for (const char* sub : {"info", "inspect", "config"}) {
    const Outcome r = run_fold(std::string(sub) + " --help");
    EXPECT_EQ(r.code, 0) << sub;
    EXPECT_NE(r.out.find("Usage"), std::string::npos) << sub;
  }
}

TEST(Cli, InspectHeaderlessPdb) {
  const auto f = kTheseus / "trypsins";
  FOLD_REQUIRE_FILE(f);
  std::filesystem::path first;
  for (const auto& e : std::filesystem::directory_iterator(f))
    if (e.path().string().find(".pdb.gz") != std::string::npos && (first.empty() || e.path() < first)) first = e.path();
  const json j = inspect(first);
  EXPECT_EQ(j["format"], "pdb");
  EXPECT_EQ(j["protein_chains"], 1);
  EXPECT_GE(j["chains"][0]["sequence_length"].get<int>(), 130);
  EXPECT_TRUE(j["release_date"].is_null());
}

TEST(Cli, InspectGzippedMmcif) {
  const auto f = examples() / "libcifpp-dev/usr/share/doc/libcifpp-dev/examples/1cbs.cif.gz";
  FOLD_REQUIRE_FILE(f);
  const json j = inspect(f);
  EXPECT_EQ(j["format"], "mmcif");
  EXPECT_EQ(j["chains"][0]["sequence_length"], 137);
  EXPECT_GT(j["resolution"].get<double>(), 0.0);
  EXPECT_FALSE(j["release_date"].is_null());
}

TEST(Cli, InspectMmcifFromSharedData) {
  const auto f = shared_data() / "mmcif/2q2k.cif";
  FOLD_REQUIRE_FILE(f);
  const json j = inspect(f);
  EXPECT_EQ(j["protein_chains"], 2);
  EXPECT_EQ(j["release_date"], "2008-02-05");
  EXPECT_NEAR(j["resolution"].get<double>(), 3.0, 1e-6);
}

TEST(Cli, InspectFamilyA2m) {
  const auto f = kTheseus / "trypsins/tryps.a2m.gz";
  FOLD_REQUIRE_FILE(f);
  const json j = inspect(f);
  EXPECT_EQ(j["format"], "a2m");
  EXPECT_EQ(j["depth"], 189);  // 189 trypsin sequences
  EXPECT_GT(j["query_length"].get<int>(), 100);
}

TEST(Cli, InspectStockholm) {
  const auto f = examples() / "hmmer-doc/usr/share/doc/hmmer/tutorial/globins4.sto";
  FOLD_REQUIRE_FILE(f);
  const json j = inspect(f);
  EXPECT_EQ(j["format"], "stockholm");
  EXPECT_EQ(j["depth"], 4);  // HBB_HUMAN, HBA_HUMAN, MYG_PHYCA, GLB5_PETMA
}

TEST(Cli, InspectA3m) {
  const auto f = examples() / "python3-csb/usr/lib/python3/dist-packages/csb/test/data/d1nz0a_.a3m";
  FOLD_REQUIRE_FILE(f);
  const json j = inspect(f);
  EXPECT_EQ(j["format"], "a3m");
  EXPECT_EQ(j["query_length"], 109);  // RNase P protein, 109 aa
}

TEST(Cli, InspectFastaAndHhr) {
  const auto fasta = shared_data() / "fasta/6kwc.fasta";
  const auto hhr = shared_data() / "alignments/6KWC_1/hhsearch_output.hhr";
  FOLD_REQUIRE_FILE(fasta);
  FOLD_REQUIRE_FILE(hhr);
  const json f = inspect(fasta);
  EXPECT_EQ(f["format"], "fasta");
  EXPECT_EQ(f["records"], 1);
  const json h = inspect(hhr);
  EXPECT_EQ(h["format"], "hhr");
  EXPECT_GT(h["hits"].get<int>(), 0);
}

TEST(Cli, MalformedInputExitsNonZeroNamingTheFile) {
  const auto bad = temp_path("bad.a3m");
  std::ofstream(bad) << ">q\nACDE\n>t\nAC\n";  // row shorter than the query
  const Outcome r = run_fold("inspect '" + bad.string() + "'");
  std::filesystem::remove(bad);
  EXPECT_NE(r.code, 0);
  EXPECT_NE(r.err.find(bad.filename().string()), std::string::npos) << r.err;
}

TEST(Cli, BinaryGarbageExitsNonZero) {
  for (const char* name : {"junk.pdb", "junk.fasta", "junk.sto", "junk.hhr"}) {
    const auto bad = temp_path(name);
    {
      std::ofstream out(bad, std::ios::binary);
      for (int i = 0; i < 2000; ++i) out.put(static_cast<char>((i * 131) % 256));
    }
    const Outcome r = run_fold("inspect '" + bad.string() + "'");
    std::filesystem::remove(bad);
    EXPECT_EQ(r.code, 1) << name << ": " << r.err;
    EXPECT_NE(r.err.find("fold: error"), std::string::npos) << name;
  }
}

// A structure whose coordinates are not finite is flagged per chain and the command fails.
TEST(Cli, InspectRefusesNonFiniteCoordinates) {
  const auto f = temp_path("nan.pdb");
  std::ofstream(f) << "ATOM      1  N   ALA A   1         nan     nan     nan  1.00  0.00           N\n"
                      "ATOM      2  CA  ALA A   1      11.104   6.134  -6.504  1.00  0.00           C\n"
                      "ATOM      3  C   ALA A   1      11.639   6.071  -5.147  1.00  0.00           C\n"
                      "END\n";
  const Outcome r = run_fold("inspect '" + f.string() + "'");
  std::filesystem::remove(f);
  EXPECT_EQ(r.code, 1) << r.err;
  const json j = json::parse(r.out);
  EXPECT_EQ(j["chains"][0]["nonfinite_atoms"], 1);
  ASSERT_EQ(j["problems"].size(), 1u);
  EXPECT_NE(j["problems"][0]["error"].get<std::string>().find("non-finite"), std::string::npos);
}

TEST(Cli, UnknownExtensionAndMissingFileFail) {
  EXPECT_NE(run_fold("inspect /nonexistent.pdb").code, 0);
  const auto odd = temp_path("x.xyz");
  std::ofstream(odd) << "hello\n";
  const Outcome r = run_fold("inspect '" + odd.string() + "'");
  std::filesystem::remove(odd);
  EXPECT_NE(r.code, 0);
}

TEST(Cli, ConfigPrintsOverridesAndRejectsUnknownKeys) {
  const Outcome ok = run_fold("config --config tiny --set model.evoformer_stack.no_blocks=3 --json");
  ASSERT_EQ(ok.code, 0) << ok.err;
  EXPECT_EQ(json::parse(ok.out)["model"]["evoformer_stack"]["no_blocks"], 3);
  const Outcome bad = run_fold("config --set model.nothing=1");
  EXPECT_EQ(bad.code, 1);
  EXPECT_NE(bad.err.find("model.nothing"), std::string::npos) << bad.err;
}

}  // namespace
}  // namespace fold
