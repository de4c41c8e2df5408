// Template hits + mmCIF -> template atoms in the query's numbering
// (data/template_hit_features) on 2Q2K. Properties: each aligned query residue gets
// its template residue's atoms (centred on the chain's observed atoms) and letter,
// the rest are gaps; AF2's hit order (sum_probs), prefilter and max_hits; a hit whose
// sequence differs from the mmCIF's is realigned when 90% identical and skipped
// otherwise; the date cutoff; missing files reported, not fatal; rejects bad options.
#include <gtest/gtest.h>

#include <array>
#include <cmath>
#include <stdexcept>
#include <string>
#include <vector>

#include "data/hhr.h"
#include "data/protein.h"
#include "data/residue_constants.h"
#include "data/template_hit_features.h"
#include "tests/hhr_text.h"
#include "test_paths.h"

namespace fold::data {
namespace {

struct TwoQ2K {
  std::string cif = test::shared_data("mmcif/2q2k.cif");
  std::string dir = test::shared_data("mmcif");
  Protein a, b;
  std::string seq;
  std::vector<test::Hit> hits;
  TwoQ2K() {
    a = read_protein(cif, {"A"});
    b = read_protein(cif, {"B"});
    seq = a.sequence();
    std::string mutated = seq.substr(30, 40);
    mutated[5] = mutated[5] == 'W' ? 'F' : 'W';
    hits = {
        {"2Q2K_A", 99, 0, seq, seq, 0},                                        // the query itself: prefiltered
        {"2Q2K_B", 95, 10, seq.substr(10, 8), seq.substr(10, 8), 10},          // too short: prefiltered
        {"2Q2K_A", 80, 0, seq.substr(0, 40), seq.substr(10, 40), 10},          // query i -> residue i + 10
        {"9ZZZ_A", 70, 0, seq.substr(0, 30), seq.substr(0, 30), 0},            // no mmCIF
        {"2Q2K_B", 60, 20, seq.substr(20, 50), seq.substr(20, 50), 20},        // query i -> residue i
        {"2Q2K_B", 50, 30, seq.substr(30, 40), mutated, 30},                   // realigned
        {"2Q2K_B", 40, 0, seq.substr(0, 30), std::string(30, 'W'), 0},         // cannot be realigned
    };
  }
  std::vector<TemplateHit> parsed() const { return parse_hhr(test::hhr_text(seq, hits), "test.hhr"); }
  TemplateSearchOptions options(int64_t max_hits = 4) const {
    TemplateSearchOptions o;
    o.mmcif_dir = dir;
    o.max_hits = max_hits;
    return o;
  }
};

#define REQUIRE_2Q2K(t)                                     \
  FOLD_REQUIRE_FILE(test::shared_data("mmcif/2q2k.cif"));   \
  TwoQ2K t

// Centroid of a chain's observed atoms, float64.
std::array<double, 3> centroid(const Protein& p) {
  std::array<double, 3> c{0, 0, 0};
  double n = 0;
  for (size_t k = 0; k < p.atom_mask.size(); ++k) {
    if (p.atom_mask[k] <= 0) continue;
    for (int d = 0; d < 3; ++d) c[d] += p.atom_positions[3 * k + d];
    n += 1;
  }
  for (double& x : c) x /= n;
  return c;
}

// The template's residue q holds residue r of `chain` (centred), or is a gap when r < 0.
void expect_residue(const TemplateFeatures& t, size_t q, const Protein& chain, int r) {
  const auto c = centroid(chain);
  for (int a = 0; a < rc::kAtom37; ++a) {
    const size_t k = q * rc::kAtom37 + a;
    const float want_mask = r < 0 ? 0.0f : chain.atom_mask[r * rc::kAtom37 + a];
    ASSERT_EQ(t.atom_mask[k], want_mask) << t.domain_name << " residue " << q << " atom " << a;
    for (int d = 0; d < 3; ++d) {
      const double want = want_mask > 0 ? chain.atom_positions[3 * (r * rc::kAtom37 + a) + d] - c[d] : 0.0;
      ASSERT_NEAR(t.atom_positions[3 * k + d], want, 1e-4) << t.domain_name << " residue " << q;
    }
  }
}

TEST(TemplateHitFeatures, AlignedResiduesGetTheirTemplateAtoms) {
  REQUIRE_2Q2K(t);
  const TemplateSearchResult r = find_template_features(t.seq, t.parsed(), t.options());
  ASSERT_EQ(r.templates.size(), 3u);
  // Best sum_probs first; the prefiltered hits are gone without a report.
  EXPECT_EQ(r.templates[0].domain_name, "2q2k_A");
  EXPECT_EQ(r.templates[0].sum_probs, 80.0f);
  EXPECT_EQ(r.templates[1].domain_name, "2q2k_B");
  EXPECT_EQ(r.templates[2].domain_name, "2q2k_B");
  ASSERT_EQ(r.skipped.size(), 2u);
  EXPECT_NE(r.skipped[0].find("9zzz.cif"), std::string::npos) << r.skipped[0];
  EXPECT_NE(r.skipped[1].find("90%"), std::string::npos) << r.skipped[1];

  const size_t n = t.seq.size();
  const TemplateFeatures& shifted = r.templates[0];
  ASSERT_EQ(shifted.sequence.size(), n);
  ASSERT_EQ(shifted.atom_positions.size(), n * rc::kAtom37 * 3);
  for (size_t q = 0; q < n; ++q) {
    const int res = q < 40 ? static_cast<int>(q) + 10 : -1;
    EXPECT_EQ(shifted.sequence[q], res < 0 ? '-' : t.seq[res]) << q;
    expect_residue(shifted, q, t.a, res);
  }
  for (size_t q = 0; q < n; ++q) expect_residue(r.templates[1], q, t.b, q >= 20 ? static_cast<int>(q) : -1);
  // The realigned hit takes the mmCIF's letters, not the hit's mutation.
  EXPECT_EQ(r.templates[2].sequence, std::string(30, '-') + t.seq.substr(30));
  for (size_t q = 0; q < n; ++q) expect_residue(r.templates[2], q, t.b, q >= 30 ? static_cast<int>(q) : -1);
}

TEST(TemplateHitFeatures, StopsAtMaxHits) {
  REQUIRE_2Q2K(t);
  const TemplateSearchResult r = find_template_features(t.seq, t.parsed(), t.options(2));
  ASSERT_EQ(r.templates.size(), 2u);
  EXPECT_EQ(r.templates[1].sum_probs, 60.0f);
  EXPECT_EQ(r.skipped.size(), 1u);  // the missing file; the last hits are never read
}

TEST(TemplateHitFeatures, DateCutoffAndDuplicates) {
  REQUIRE_2Q2K(t);
  TemplateSearchOptions o = t.options();
  o.max_template_date = "2008-02-04";  // 2Q2K was released on 2008-02-05
  const TemplateSearchResult early = find_template_features(t.seq, t.parsed(), o);
  EXPECT_TRUE(early.templates.empty());
  ASSERT_EQ(early.skipped.size(), 5u);
  EXPECT_NE(early.skipped[0].find("released 2008-02-05"), std::string::npos) << early.skipped[0];
  o.max_template_date = "2008-02-05";
  EXPECT_EQ(find_template_features(t.seq, t.parsed(), o).templates.size(), 3u);

  // A second hit giving the same aligned sequence is dropped.
  t.hits = {t.hits[4], t.hits[4]};
  t.hits[1].name = "2Q2K_A";
  const TemplateSearchResult dup = find_template_features(t.seq, t.parsed(), t.options());
  EXPECT_EQ(dup.templates.size(), 1u);
  ASSERT_EQ(dup.skipped.size(), 1u);
  EXPECT_NE(dup.skipped[0].find("same aligned sequence"), std::string::npos) << dup.skipped[0];
}

TEST(TemplateHitFeatures, RejectsBadOptions) {
  REQUIRE_2Q2K(t);
  TemplateSearchOptions o = t.options();
  o.max_template_date = "2008/02/05";
  EXPECT_THROW(find_template_features(t.seq, t.parsed(), o), std::invalid_argument);
  o = t.options();
  o.mmcif_dir = test::temp_path("no-such-dir").string();
  EXPECT_THROW(find_template_features(t.seq, t.parsed(), o), std::invalid_argument);
  EXPECT_THROW(find_template_features("", t.parsed(), t.options()), std::invalid_argument);
}

}  // namespace
}  // namespace fold::data
