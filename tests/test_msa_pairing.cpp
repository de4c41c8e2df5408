// AF-Multimer's MSA pairing and merging (data/msa_pairing) on small hand-made chains.
// Properties: species read as AF2 reads UniProt names; rows paired by species exactly as
// worked out by hand (identity order, rows spanning more chains first, product order,
// crowded species skipped); the merged MSA's layout (paired rows on top, each entity's
// own rows block-diagonal below, rows already paired removed, crops, padding, masks);
// homomer copies side by side without pairing; rejects chains it cannot merge.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "data/msa_pairing.h"

namespace fold::data {
namespace {

constexpr int64_t kGap = 21;

// A chain whose pairing rows have the given species; row r agrees with the query at
// identity[r] of its `width` positions (the rest are residue 19, never in the query).
ComplexChainMsa chain(int64_t entity, const std::vector<std::string>& species, const std::vector<int64_t>& identity,
                      int64_t width = 8) {
  ComplexChainMsa c;
  c.entity_id = entity;
  const auto query = torch::arange(width, torch::kLong) % 10;
  c.pairing_msa = torch::full({static_cast<int64_t>(species.size()), width}, 19, torch::kLong);
  for (size_t r = 0; r < species.size(); ++r)
    c.pairing_msa[static_cast<int64_t>(r)].slice(0, 0, identity[r]).copy_(query.slice(0, 0, identity[r]));
  c.pairing_deletions = torch::zeros(c.pairing_msa.sizes());
  c.pairing_species = species;
  c.msa = c.pairing_msa.slice(0, 0, 1).clone();  // the query
  c.deletions = torch::zeros(c.msa.sizes());
  return c;
}

std::vector<std::vector<int64_t>> rows_of(const torch::Tensor& t) {
  std::vector<std::vector<int64_t>> out;
  for (int64_t r = 0; r < t.size(0); ++r) {
    const torch::Tensor row = t[r].contiguous();
    out.emplace_back(row.data_ptr<int64_t>(), row.data_ptr<int64_t>() + row.numel());
  }
  return out;
}

TEST(MsaPairing, ReadsSpeciesFromUniprotNamesAsAf2Does) {
  EXPECT_EQ(uniprot_species("tr|A0A146SKV9|A0A146SKV9_FUNHE/1-141"), "FUNHE");
  EXPECT_EQ(uniprot_species("sp|P69905|HBA_HUMAN"), "HUMAN");
  EXPECT_EQ(uniprot_species("tr|A0A0K0ME10|A0A0K0ME10_9STAP/1-51 DE [subseq from] ParR OS=..."), "9STAP");
  EXPECT_EQ(uniprot_species("sp|P12345_1|ABC_MOUSE_12"), "MOUSE");  // isoform and small-BFD suffixes
  EXPECT_EQ(uniprot_species("4hhb_A"), "");                         // a query's name
  EXPECT_EQ(uniprot_species("UniRef90_A0A146SKV9/3-50"), "");
  EXPECT_EQ(uniprot_species("tr|SHORT|X_HUMAN"), "");  // an accession has 6 to 10 characters
  EXPECT_EQ(uniprot_species(""), "");
}

// Worked by hand. Species A: chain 1 rows 1 (identity 3) and 3 (identity 5), sorted
// best first [3, 1]; chain 2 row 2: one pair (3, 2). Species B: (2, 1). C and D are in
// one chain each. The span-2 group sorted by product: (0,0), (2,1) = 2, (3,2) = 6.
TEST(MsaPairing, PairsRowsBySpeciesAsWorkedOutByHand) {
  const auto one = chain(1, {"", "A", "B", "A", "C"}, {8, 3, 4, 5, 8});
  const auto two = chain(2, {"", "B", "A", "D"}, {8, 2, 6, 7});
  EXPECT_EQ(rows_of(paired_row_indices({one, two})), (std::vector<std::vector<int64_t>>{{0, 0}, {2, 1}, {3, 2}}));

  // Three chains: A and B span all three; E spans chains 1 and 3 only, after them, with a
  // gap row (-1) for chain 2; F has over 600 rows in chain 3 and is not paired.
  std::vector<std::string> s3 = {"", "B", "E", "A"};
  std::vector<int64_t> id3 = {8, 1, 2, 3};
  for (int i = 0; i < 601; ++i) s3.push_back("F"), id3.push_back(1);
  auto one_e = chain(1, {"", "A", "B", "A", "C", "E", "F"}, {8, 3, 4, 5, 8, 1, 1});
  const auto three = chain(3, s3, id3);
  // Span 3: (0,0,0); A: (3,2,3) product 18; B: (2,1,1) product 2.
  EXPECT_EQ(rows_of(paired_row_indices({one_e, two, three})),
            (std::vector<std::vector<int64_t>>{{0, 0, 0}, {2, 1, 1}, {3, 2, 3}, {5, -1, 2}}));
}

// Ties keep the earlier row: two rows of species A with equal identity pair in row order.
TEST(MsaPairing, TiedRowsKeepTheirOrder) {
  const auto one = chain(1, {"", "A", "A"}, {8, 4, 4});
  const auto two = chain(2, {"", "A", "A"}, {8, 5, 5});
  EXPECT_EQ(rows_of(paired_row_indices({one, two})), (std::vector<std::vector<int64_t>>{{0, 0}, {1, 1}, {2, 2}}));
}

TEST(MsaPairing, MergedHeteromerHasPairedRowsOverBlockDiagonalOwnRows) {
  auto one = chain(1, {"", "A", "B"}, {4, 2, 3}, 4);
  auto two = chain(2, {"", "B", "A"}, {3, 1, 2}, 3);
  // Own MSAs: the query, the species-A row (already paired: removed) and a new row.
  one.msa = torch::cat({one.pairing_msa.slice(0, 0, 2), torch::full({1, 4}, 7, torch::kLong)});
  one.deletions = torch::ones(one.msa.sizes());
  two.msa = torch::cat({two.pairing_msa.slice(0, 0, 1), torch::full({2, 3}, 5, torch::kLong)});
  two.deletions = torch::full(two.msa.sizes(), 2.0);
  const ComplexMsa m = pair_and_merge_msas({one, two}, 2048, 10);
  // Pairs: (0,0); A: (1,2); B: (2,1).
  ASSERT_EQ(m.paired_rows, 3);
  EXPECT_TRUE(m.msa[0].equal(torch::cat({one.pairing_msa[0], two.pairing_msa[0]})));
  EXPECT_TRUE(m.msa[1].equal(torch::cat({one.pairing_msa[1], two.pairing_msa[2]})));
  EXPECT_TRUE(m.msa[2].equal(torch::cat({one.pairing_msa[2], two.pairing_msa[1]})));
  // Chain 1 keeps only its new row (its query and A row are paired); chain 2 keeps its
  // two own rows (duplicates among them are merge_msas' business, upstream).
  const auto own = m.msa.slice(0, 3, 3 + 1 + 2);
  EXPECT_TRUE(own[0].equal(torch::tensor(std::vector<int64_t>{7, 7, 7, 7, kGap, kGap, kGap})));
  EXPECT_TRUE(own[1].equal(torch::tensor(std::vector<int64_t>{kGap, kGap, kGap, kGap, 5, 5, 5})));
  EXPECT_TRUE(own[2].equal(own[1]));
  EXPECT_TRUE(m.deletion_matrix[3].equal(torch::tensor({1., 1., 1., 1., 0., 0., 0.})));
  EXPECT_TRUE(m.deletion_matrix[4].equal(torch::tensor({0., 0., 0., 0., 2., 2., 2.})));
  EXPECT_TRUE(m.bert_mask.slice(0, 0, 3).eq(1).all().item<bool>());
  EXPECT_TRUE(m.bert_mask[3].equal(torch::tensor({1., 1., 1., 1., 0., 0., 0.})));
  // Padded with masked rows up to 10; only the queries' row is a forced cluster centre.
  ASSERT_EQ(m.msa.size(0), 10);
  EXPECT_TRUE(m.msa_mask.slice(0, 0, 6).eq(1).all().item<bool>());
  EXPECT_TRUE(m.msa_mask.slice(0, 6).eq(0).all().item<bool>());
  EXPECT_TRUE(m.bert_mask.slice(0, 6).eq(0).all().item<bool>());
  EXPECT_TRUE(m.cluster_bias_mask.equal(torch::tensor({1., 0., 0., 0., 0., 0., 0., 0., 0., 0.})));

  // Crops: 2 rows per chain in all. Paired rows are cut to 1 (2 / 2), leaving 1 of chain
  // 1's and chain 2's own rows each.
  const ComplexMsa c = pair_and_merge_msas({one, two}, 2, 0);
  EXPECT_EQ(c.paired_rows, 1);
  EXPECT_EQ(c.msa.size(0), 1 + 1 + 1);
}

// Copies of one sequence: no pairing; their rows side by side, the query row forced.
TEST(MsaPairing, HomomerCopiesSitSideBySide) {
  auto a = chain(1, {""}, {5}, 5);
  a.msa = torch::cat({a.msa, torch::full({2, 5}, 3, torch::kLong)});
  a.deletions = torch::arange(15, torch::kFloat).reshape({3, 5});
  a.pairing_msa = torch::Tensor();  // never read for a homomer
  a.pairing_species.clear();
  const ComplexMsa m = pair_and_merge_msas({a, a}, 2048, 0);
  EXPECT_EQ(m.paired_rows, 0);
  EXPECT_TRUE(m.msa.equal(torch::cat({a.msa, a.msa}, 1)));
  EXPECT_TRUE(m.deletion_matrix.equal(torch::cat({a.deletions, a.deletions}, 1)));
  EXPECT_TRUE(m.cluster_bias_mask.equal(torch::tensor({1., 0., 0.})));
  EXPECT_TRUE(m.bert_mask.eq(1).all().item<bool>());
}

TEST(MsaPairing, RejectsChainsItCannotMerge) {
  const auto one = chain(1, {"", "A"}, {8, 3}), two = chain(2, {"", "A"}, {8, 3});
  EXPECT_THROW(pair_and_merge_msas({two, one}), std::invalid_argument);  // entities out of order
  auto no_species = two;
  no_species.pairing_species.pop_back();
  EXPECT_THROW(pair_and_merge_msas({one, no_species}), std::invalid_argument);
  auto narrow = two;
  narrow.pairing_msa = narrow.pairing_msa.slice(1, 0, 4);
  EXPECT_THROW(pair_and_merge_msas({one, narrow}), std::invalid_argument);
  EXPECT_THROW(pair_and_merge_msas({}), std::invalid_argument);
}

}  // namespace
}  // namespace fold::data
