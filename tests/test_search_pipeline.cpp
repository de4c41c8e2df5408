// AF2's search pipeline end to end, offline, on databases built from the example data
// with HMMER's and HH-suite's own tools (tools/examples/make-hhsuite-dbs.sh): `fold msa`
// runs jackhmmer, hhblits and hhsearch for human haemoglobin beta (4HHB chain B), and
// `fold predict --alignment-dir` predicts from what it wrote, with the haemoglobin alpha
// chain that hhsearch found as its template.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include "data/hhr.h"
#include "data/msa.h"
#include "test_paths.h"

namespace fold {
namespace {

namespace fs = std::filesystem;
using fold::test::Outcome;
using fold::test::run_fold;

bool on_path(const std::string& name) {
  const std::string cmd = "command -v " + name + " >/dev/null 2>&1";
  return std::system(cmd.c_str()) == 0;
}

bool has_row(const data::Msa& msa, const std::string& name) {
  return std::any_of(msa.descriptions.begin(), msa.descriptions.end(),
                     [&](const std::string& d) { return d.rfind(name, 0) == 0; });
}

class SearchPipeline : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!fs::exists(test::examples() / "hmmer-doc"))
      GTEST_SKIP() << "example data not present (tools/setup.sh fetches it into examples/.cache)";
    for (const char* tool : {"jackhmmer", "hhblits", "hhsearch", "ffindex_build", "hhmake"})
      if (!on_path(tool)) GTEST_SKIP() << tool << " not installed (tools/setup.sh installs hmmer and hhsuite)";
    dir_ = test::temp_path("search");
    const std::string build = (test::source_dir() / "tools/examples/make-hhsuite-dbs.sh").string() + " --out '" +
                              (dir_ / "dbs").string() + "' --fold '" + FOLD_BINARY + "' > '" +
                              (dir_ / "dbs.log").string() + "' 2>&1";
    fs::create_directories(dir_);
    ASSERT_EQ(std::system(build.c_str()), 0) << test::slurp(dir_ / "dbs.log");
  }
  void TearDown() override {
    if (!dir_.empty()) test::remove_tree(dir_);
  }
  fs::path dir_;
};

TEST_F(SearchPipeline, MsaWithHhblitsAndHhsearchFeedsPredictWithTheTemplateFound) {
  const fs::path dbs = dir_ / "dbs", aln = dir_ / "aln";
  const Outcome msa = run_fold("--threads 2 msa --fasta '" + (dbs / "query.fasta").string() +
                               "' --tool jackhmmer --db '" + (dbs / "uniref90.fasta").string() +
                               "' --hhblits-db '" + (dbs / "bfd/bfd").string() + "' --pdb70-db '" +
                               (dbs / "pdb70/pdb70").string() + "' --out '" + aln.string() + "'");
  ASSERT_EQ(msa.code, 0) << msa.out << msa.err;
  const fs::path query_dir = aln / "HBB_HUMAN";
  // jackhmmer and hhblits find the other globins; both alignments start with the query.
  const data::Msa uniref90 = data::read_msa((query_dir / "uniref90_hits.sto").string());
  const data::Msa bfd = data::read_msa((query_dir / "bfd_uniclust_hits.a3m").string());
  for (const data::Msa* m : {&uniref90, &bfd}) {
    EXPECT_EQ(m->sequences.front(), bfd.sequences.front());
    EXPECT_TRUE(has_row(*m, "HBA_HUMAN")) << "haemoglobin alpha is a homologue of the query";
    EXPECT_TRUE(has_row(*m, "MYG_PHYCA")) << "so is sperm-whale myoglobin";
  }
  EXPECT_EQ(bfd.length(), 146u);
  // hhsearch's hits: the beta chains (the query itself) and the alpha chains of 4HHB, and
  // no unrelated chain (CRABP2, ubiquitin) with any confidence.
  const auto hits = data::read_hhr((query_dir / "pdb70_hits.hhr").string());
  std::vector<std::string> confident;
  for (const auto& h : hits)
    if (h.probability > 50) confident.push_back(h.name.substr(0, 6));
  std::sort(confident.begin(), confident.end());
  confident.erase(std::unique(confident.begin(), confident.end()), confident.end());
  EXPECT_EQ(confident, (std::vector<std::string>{"4hhb_A", "4hhb_B", "4hhb_C", "4hhb_D"}));

  const fs::path params = dir_ / "tiny.safetensors";
  const std::string templates_on = " --config tiny --set model.template.enabled=true";
  ASSERT_EQ(run_fold("init-params" + templates_on + " --seed 0 '" + params.string() + "'").code, 0);
  const Outcome predict =
      run_fold("predict --fasta '" + (dbs / "query.fasta").string() + "' --alignment-dir '" + query_dir.string() +
               "' --template-mmcif-dir '" + (dbs / "structures").string() + "' --params '" + params.string() + "'" +
               templates_on + " --set data.common.use_templates=true --recycles 0 --out '" + (dir_ / "pred").string() +
               "'");
  ASSERT_EQ(predict.code, 0) << predict.err;
  const auto report = nlohmann::json::parse(test::slurp(dir_ / "pred" / "query.json"));
  // The best template is haemoglobin alpha, from 4HHB.pdb. The full-length beta hits
  // are the query itself and chain C repeats chain A: AF2's filters drop all three (the
  // weak local hits hhsearch also reports stay, as they do in AF2).
  const auto templates = report.at("templates").get<std::vector<std::string>>();
  ASSERT_FALSE(templates.empty()) << predict.err;
  EXPECT_EQ(templates.front(), "4hhb_A");
  for (const char* dropped : {"4hhb_C", "4hhb_D"})
    EXPECT_EQ(std::count(templates.begin(), templates.end(), dropped), 0) << dropped;
  EXPECT_TRUE(fs::exists(dir_ / "pred" / "query.pdb"));
}

}  // namespace
}  // namespace fold
