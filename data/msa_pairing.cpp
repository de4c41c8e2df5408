#include "data/msa_pairing.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <map>
#include <regex>
#include <set>
#include <stdexcept>

namespace fold::data {

namespace {

constexpr int64_t kGapId = 21;
// A species with more rows than this in any chain is left unpaired (AF2's limit).
constexpr size_t kMaxRowsPerSpecies = 600;

// The rows of `t` at `rows` (int64 [R]).
at::Tensor take(const at::Tensor& t, const std::vector<int64_t>& rows) {
  return t.index_select(0, at::tensor(rows, at::kLong));
}

// Arrays placed along a block diagonal; `pad` everywhere else.
at::Tensor block_diagonal(const std::vector<at::Tensor>& blocks, double pad) {
  int64_t rows = 0, cols = 0;
  for (const auto& b : blocks) rows += b.size(0), cols += b.size(1);
  at::Tensor out = at::full({rows, cols}, pad, blocks.at(0).options());
  int64_t r = 0, c = 0;
  for (const auto& b : blocks) {
    out.slice(0, r, r + b.size(0)).slice(1, c, c + b.size(1)).copy_(b);
    r += b.size(0), c += b.size(1);
  }
  return out;
}

// One entity's block: its chains' rows side by side, or stacked above another block.
struct Block {
  at::Tensor msa, deletions;
};

}  // namespace

std::string uniprot_species(const std::string& description) {
  // The sequence identifier is the first word, without a "/start-end" suffix.
  const size_t begin = description.find_first_not_of(" \t");
  if (begin == std::string::npos) return "";
  const std::string word = description.substr(begin, description.find_first_of(" \t", begin) - begin);
  const std::string id = word.substr(0, word.find('/'));
  // UniProtKB/TrEMBL or Swiss-Prot: accession (an isoform suffix _N is ignored), then the
  // entry name, whose part after its last '_' is the species mnemonic (a small-BFD
  // "_N" counter after it is ignored).
  static const std::regex kUniprot(R"(^(?:tr|sp)\|[A-Za-z0-9]{6,10}(?:_\d)?\|[A-Za-z0-9]+_([A-Za-z0-9]{1,5})(?:_\d+)?$)");
  std::smatch m;
  return std::regex_search(id, m, kUniprot) ? m[1].str() : "";
}

at::Tensor paired_row_indices(const std::vector<ComplexChainMsa>& chains) {
  const auto k_chains = static_cast<int64_t>(chains.size());
  std::vector<std::map<std::string, std::vector<int64_t>>> rows_of(chains.size());
  std::vector<std::vector<int64_t>> identity(chains.size());
  std::set<std::string> species;
  for (size_t k = 0; k < chains.size(); ++k) {
    const at::Tensor m = chains[k].pairing_msa.to(at::kLong).contiguous();
    if (m.dim() != 2 || m.size(0) < 1 || static_cast<size_t>(m.size(0)) != chains[k].pairing_species.size())
      throw std::invalid_argument("MSA pairing: chain " + std::to_string(k + 1) +
                                  " needs a pairing MSA with one species per row, the query first");
    // Identity to the query, as a count: AF2's fraction over the same length sorts alike.
    const at::Tensor same = (m == m[0]).sum(1).contiguous();
    identity[k].assign(same.data_ptr<int64_t>(), same.data_ptr<int64_t>() + same.numel());
    for (int64_t r = 0; r < m.size(0); ++r) rows_of[k][chains[k].pairing_species[r]].push_back(r);
    for (const auto& [s, rows] : rows_of[k]) species.insert(s);
  }
  // By the number of chains a row spans; the queries' row spans them all.
  std::map<int64_t, std::vector<std::vector<int64_t>>, std::greater<>> by_span;
  by_span[k_chains].push_back(std::vector<int64_t>(chains.size(), 0));
  for (const std::string& s : species) {  // byte order, as AF2's sorted() of bytes
    if (s.empty()) continue;              // the queries, and rows of no known species
    std::vector<const std::vector<int64_t>*> found(chains.size(), nullptr);
    int64_t present = 0;
    size_t take = SIZE_MAX;
    bool too_many = false;
    for (size_t k = 0; k < chains.size(); ++k) {
      const auto it = rows_of[k].find(s);
      if (it == rows_of[k].end()) continue;
      found[k] = &it->second;
      ++present;
      take = std::min(take, it->second.size());
      too_many = too_many || it->second.size() > kMaxRowsPerSpecies;
    }
    if (present <= 1 || too_many) continue;
    std::vector<std::vector<int64_t>> sorted(chains.size());
    for (size_t k = 0; k < chains.size(); ++k) {
      if (!found[k]) continue;
      sorted[k] = *found[k];
      std::stable_sort(sorted[k].begin(), sorted[k].end(),
                       [&](int64_t a, int64_t b) { return identity[k][a] > identity[k][b]; });
    }
    for (size_t i = 0; i < take; ++i) {
      std::vector<int64_t> row(chains.size(), -1);
      for (size_t k = 0; k < chains.size(); ++k)
        if (found[k]) row[k] = sorted[k][i];
      by_span[present].push_back(std::move(row));
    }
  }
  std::vector<int64_t> flat;
  for (auto& [span, rows] : by_span) {
    // AF2's stand-in for e-values: |product of the row indices| (a gap row counts -1).
    const auto product = [](const std::vector<int64_t>& row) {
      __int128 p = 1;
      for (int64_t r : row) p *= r;
      return p < 0 ? -p : p;
    };
    std::stable_sort(rows.begin(), rows.end(), [&](const auto& a, const auto& b) { return product(a) < product(b); });
    for (const auto& row : rows) flat.insert(flat.end(), row.begin(), row.end());
  }
  return at::tensor(flat, at::kLong).reshape({-1, k_chains});
}

ComplexMsa pair_and_merge_msas(const std::vector<ComplexChainMsa>& chains, int64_t crop_rows, int64_t min_rows) {
  if (chains.empty()) throw std::invalid_argument("MSA pairing: a complex needs at least one chain");
  std::set<int64_t> entities;
  for (size_t k = 0; k < chains.size(); ++k) {
    const ComplexChainMsa& c = chains[k];
    if (c.entity_id < 1 || (k > 0 && c.entity_id < chains[k - 1].entity_id))
      throw std::invalid_argument("MSA pairing: chains must come in entity order, entity ids from 1");
    if (c.msa.dim() != 2 || c.msa.size(0) < 1 || !c.deletions.sizes().equals(c.msa.sizes()))
      throw std::invalid_argument("MSA pairing: chain " + std::to_string(k + 1) + " needs an MSA and deletions [N, L]");
    entities.insert(c.entity_id);
  }
  const bool pair = entities.size() > 1;
  const at::Tensor paired = pair ? paired_row_indices(chains) : at::Tensor();

  struct Cropped {
    at::Tensor msa, deletions, paired_msa, paired_deletions;
  };
  std::vector<Cropped> cropped;
  for (size_t k = 0; k < chains.size(); ++k) {
    const ComplexChainMsa& c = chains[k];
    const int64_t n_res = c.msa.size(1);
    at::Tensor msa = c.msa.to(at::kLong), deletions = c.deletions.to(at::kFloat);
    Cropped out;
    int64_t unpaired_rows = std::min(msa.size(0), crop_rows);
    if (pair) {
      if (c.pairing_msa.size(1) != n_res)
        throw std::invalid_argument("MSA pairing: chain " + std::to_string(k + 1) +
                                    "'s pairing MSA is not as wide as its MSA");
      // Row -1 picks an appended all-gap row: a chain with no hit of the species.
      const at::Tensor rows = paired.select(1, static_cast<int64_t>(k));
      const at::Tensor with_gap_row = at::cat({c.pairing_msa.to(at::kLong), at::full({1, n_res}, kGapId, at::kLong)});
      const at::Tensor with_zero_row = at::cat({c.pairing_deletions.to(at::kFloat), at::zeros({1, n_res})});
      const at::Tensor index = at::where(rows < 0, rows + with_gap_row.size(0), rows);
      const int64_t keep_paired = std::min(rows.size(0), crop_rows / 2);
      out.paired_msa = with_gap_row.index_select(0, index).slice(0, 0, keep_paired);
      out.paired_deletions = with_zero_row.index_select(0, index).slice(0, 0, keep_paired);
      // The chain's own rows that already sit among its paired rows go (the query too).
      std::set<std::vector<int64_t>> seen;
      const at::Tensor all_paired = with_gap_row.index_select(0, index).contiguous();
      for (int64_t r = 0; r < all_paired.size(0); ++r) {
        const int64_t* p = all_paired[r].data_ptr<int64_t>();
        seen.emplace(p, p + n_res);
      }
      const at::Tensor own = msa.contiguous();
      std::vector<int64_t> kept;
      for (int64_t r = 0; r < own.size(0); ++r) {
        const int64_t* p = own[r].data_ptr<int64_t>();
        if (!seen.count(std::vector<int64_t>(p, p + n_res))) kept.push_back(r);
      }
      msa = take(msa, kept), deletions = take(deletions, kept);
      // Each chain keeps about crop_rows rows: its non-gap paired rows count against it.
      const int64_t non_gap_paired = (out.paired_msa != kGapId).any(1).sum().item<int64_t>();
      unpaired_rows = std::min(msa.size(0), std::max<int64_t>(crop_rows - non_gap_paired, 0));
    }
    out.msa = msa.slice(0, 0, unpaired_rows);
    out.deletions = deletions.slice(0, 0, unpaired_rows);
    cropped.push_back(std::move(out));
  }

  // Chains of one entity side by side (their MSAs have the same rows), then the
  // entities' blocks along the diagonal, gaps elsewhere.
  std::vector<Block> blocks;
  std::vector<at::Tensor> paired_msa, paired_deletions;
  for (size_t k = 0; k < chains.size(); ++k) {
    if (k == 0 || chains[k].entity_id != chains[k - 1].entity_id) blocks.push_back({});
    Block& b = blocks.back();
    if (b.msa.defined() && b.msa.size(0) != cropped[k].msa.size(0))
      throw std::invalid_argument("MSA pairing: chains of entity " + std::to_string(chains[k].entity_id) +
                                  " have MSAs of different depths");
    b.msa = b.msa.defined() ? at::cat({b.msa, cropped[k].msa}, 1) : cropped[k].msa;
    b.deletions = b.deletions.defined() ? at::cat({b.deletions, cropped[k].deletions}, 1) : cropped[k].deletions;
    if (pair) paired_msa.push_back(cropped[k].paired_msa), paired_deletions.push_back(cropped[k].paired_deletions);
  }
  std::vector<at::Tensor> block_msa, block_deletions, block_ones;
  for (const Block& b : blocks) {
    block_msa.push_back(b.msa), block_deletions.push_back(b.deletions);
    block_ones.push_back(at::ones(b.msa.sizes(), at::kFloat));
  }
  ComplexMsa out;
  out.msa = block_diagonal(block_msa, kGapId);
  out.deletion_matrix = block_diagonal(block_deletions, 0);
  out.bert_mask = block_diagonal(block_ones, 0);
  out.cluster_bias_mask = at::zeros({out.msa.size(0)}, at::kFloat);
  if (pair) {
    const at::Tensor pm = at::cat(paired_msa, 1);
    out.paired_rows = pm.size(0);
    out.msa = at::cat({pm, out.msa});
    out.deletion_matrix = at::cat({at::cat(paired_deletions, 1), out.deletion_matrix});
    out.bert_mask = at::cat({at::ones(pm.sizes(), at::kFloat), out.bert_mask});
    out.cluster_bias_mask = at::zeros({out.msa.size(0)}, at::kFloat);
    out.cluster_bias_mask[0] = 1;  // the queries' row
  } else {
    int64_t row = 0;  // each block's first row is its entity's query
    for (const Block& b : blocks) out.cluster_bias_mask[row] = 1, row += b.msa.size(0);
  }
  out.msa_mask = at::ones(out.msa.sizes(), at::kFloat);
  // Masked rows up to min_rows, so that the sampler always leaves an extra MSA.
  if (const int64_t missing = min_rows - out.msa.size(0); missing > 0) {
    const auto pad = [missing](const at::Tensor& t) {
      std::vector<int64_t> shape = t.sizes().vec();
      shape[0] = missing;
      return at::cat({t, at::zeros(shape, t.options())});
    };
    out.msa = pad(out.msa), out.deletion_matrix = pad(out.deletion_matrix), out.msa_mask = pad(out.msa_mask);
    out.bert_mask = pad(out.bert_mask), out.cluster_bias_mask = pad(out.cluster_bias_mask);
  }
  return out;
}

}  // namespace fold::data
