#include "data/template_hit_features.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <filesystem>
#include <map>
#include <optional>
#include <stdexcept>

#include "data/protein.h"
#include "data/residue_constants.h"

namespace fold::data {

namespace {

constexpr double kMinRealignedIdentity = 0.9;  // AF2's _realign_pdb_template_to_query
constexpr float kMinTemplateAtoms = 5;         // alanine's atom count

// "1abc_A ..." -> {"1abc", "A"}: four alphanumerics, '_', then [A-Za-z0-9.]+.
std::optional<std::pair<std::string, std::string>> pdb_id_and_chain(const std::string& name) {
  if (name.size() < 6 || name[4] != '_') return std::nullopt;
  std::string id = name.substr(0, 4);
  for (char& c : id) {
    if (!std::isalnum(static_cast<unsigned char>(c))) return std::nullopt;
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  size_t end = 5;
  while (end < name.size() && (std::isalnum(static_cast<unsigned char>(name[end])) || name[end] == '.')) ++end;
  if (end == 5) return std::nullopt;
  return std::make_pair(id, name.substr(5, end - 5));
}

std::string without_gaps(const std::string& s) {
  std::string out;
  for (char c : s)
    if (c != '-') out += c;
  return out;
}

// Query residue -> hit residue (both 0-based in the gapless sequences), from the hhr
// columns; the hhr's query segment is located in the full query (AF2's
// _build_query_to_hit_index_mapping, which also drops pairs past either end).
std::map<int, int> query_to_hit(const TemplateHit& hit, const std::string& query) {
  std::map<int, int> mapping;
  const std::string hit_query = without_gaps(hit.query);
  if (hit_query.empty()) return mapping;
  const std::string hit_sequence = without_gaps(hit.hit_sequence);
  const size_t found = query.find(hit_query);
  // AF2 adds find()'s -1 when the segment is not in the query; keep that offset.
  const int offset = found == std::string::npos ? -1 : static_cast<int>(found);
  const auto min_index = [](const std::vector<int>& v) {
    int m = -1;
    for (int x : v)
      if (x > -1 && (m < 0 || x < m)) m = x;
    return m;
  };
  const int min_q = min_index(hit.indices_query), min_t = min_index(hit.indices_hit);
  for (size_t k = 0; k < hit.indices_query.size() && k < hit.indices_hit.size(); ++k) {
    if (hit.indices_query[k] < 0 || hit.indices_hit[k] < 0) continue;
    const int q = hit.indices_query[k] - min_q + offset, t = hit.indices_hit[k] - min_t;
    if (t >= static_cast<int>(hit_sequence.size()) || q >= static_cast<int>(query.size()) || q < 0) continue;
    mapping[q] = t;
  }
  return mapping;
}

// Overlap (free end gaps) alignment of a with b, linear gaps: the pairs (i, j) of
// aligned residues and how many of them are identical.
struct PairAlignment {
  std::vector<std::pair<int, int>> pairs;
  int identical = 0;
};

PairAlignment align_overlap(const std::string& a, const std::string& b) {
  constexpr int kMatch = 2, kMismatch = -1, kGap = -2;
  const size_t n = a.size(), m = b.size();
  std::vector<int> score((n + 1) * (m + 1), 0);
  const auto at = [&](size_t i, size_t j) -> int& { return score[i * (m + 1) + j]; };
  for (size_t i = 1; i <= n; ++i)
    for (size_t j = 1; j <= m; ++j)
      at(i, j) = std::max({at(i - 1, j - 1) + (a[i - 1] == b[j - 1] ? kMatch : kMismatch), at(i - 1, j) + kGap,
                           at(i, j - 1) + kGap});
  // Best end on the last row or column (trailing gaps are free).
  size_t bi = n, bj = m;
  for (size_t j = 0; j <= m; ++j)
    if (at(n, j) > at(bi, bj)) bi = n, bj = j;
  for (size_t i = 0; i <= n; ++i)
    if (at(i, m) > at(bi, bj)) bi = i, bj = m;
  PairAlignment out;
  size_t i = bi, j = bj;
  while (i > 0 && j > 0) {
    if (at(i, j) == at(i - 1, j - 1) + (a[i - 1] == b[j - 1] ? kMatch : kMismatch)) {
      out.pairs.emplace_back(static_cast<int>(i - 1), static_cast<int>(j - 1));
      out.identical += a[i - 1] == b[j - 1];
      --i, --j;
    } else if (at(i, j) == at(i - 1, j) + kGap) {
      --i;
    } else {
      --j;
    }
  }
  std::reverse(out.pairs.begin(), out.pairs.end());
  return out;
}

// Where `sequence` starts in `chain_sequence`, letting X on either side match anything.
std::optional<size_t> find_with_wildcards(const std::string& chain_sequence, const std::string& sequence) {
  if (sequence.size() > chain_sequence.size()) return std::nullopt;
  for (size_t s = 0; s + sequence.size() <= chain_sequence.size(); ++s) {
    bool ok = true;
    for (size_t k = 0; k < sequence.size() && ok; ++k)
      ok = sequence[k] == 'X' || chain_sequence[s + k] == 'X' || sequence[k] == chain_sequence[s + k];
    if (ok) return s;
  }
  return std::nullopt;
}

// A skipped hit: the reason travels as the exception's message.
struct SkipHit : std::runtime_error {
  using std::runtime_error::runtime_error;
};

struct Chain {
  std::string id, sequence;
  std::vector<float> positions, mask;  // [n, 37, 3], [n, 37], prepared as templates
  std::string unusable;                // why its atoms cannot serve, if they cannot
};

struct Entry {
  std::string release_date;
  std::vector<Chain> chains;
  const Chain* find(const std::string& id) const {
    for (const Chain& c : chains)
      if (c.id == id) return &c;
    return nullptr;
  }
};

float squared_distance(const float* a, const float* b) {
  float s = 0;
  for (int k = 0; k < 3; ++k) s += (a[k] - b[k]) * (a[k] - b[k]);
  return s;
}

// The chain's atoms as a template: arginine NH1/NH2 naming fixed, the CA trace
// checked, the observed atoms centred.
void prepare_chain_atoms(Chain& chain, const TemplateSearchOptions& o) {
  const size_t n = chain.sequence.size();
  const int cd = rc::atom_order("CD"), nh1 = rc::atom_order("NH1"), nh2 = rc::atom_order("NH2");
  const int ca = rc::atom_order("CA");
  float* pos = chain.positions.data();
  float* mask = chain.mask.data();
  for (size_t r = 0; r < n; ++r) {
    float* p = pos + r * rc::kAtom37 * 3;
    const float* m = mask + r * rc::kAtom37;
    if (chain.sequence[r] == 'R' && m[cd] > 0 && m[nh1] > 0 && m[nh2] > 0 &&
        squared_distance(p + 3 * nh1, p + 3 * cd) > squared_distance(p + 3 * nh2, p + 3 * cd))
      std::swap_ranges(p + 3 * nh1, p + 3 * nh1 + 3, p + 3 * nh2);
  }
  const float* prev_ca = nullptr;
  for (size_t r = 0; r < n; ++r) {
    const float* p = pos + (r * rc::kAtom37 + ca) * 3;
    if (mask[r * rc::kAtom37 + ca] > 0) {
      if (prev_ca && std::sqrt(squared_distance(p, prev_ca)) > o.max_ca_ca_distance)
        throw SkipHit("consecutive CA atoms of residues " + std::to_string(r) + " and " + std::to_string(r + 1) +
                      " are more than " + std::to_string(o.max_ca_ca_distance) + " A apart");
      prev_ca = p;
    } else {
      prev_ca = nullptr;
    }
  }
  if (!o.zero_center_positions) return;
  double sum[3] = {0, 0, 0};
  size_t count = 0;
  for (size_t k = 0; k < n * rc::kAtom37; ++k) {
    if (mask[k] <= 0) continue;
    for (int d = 0; d < 3; ++d) sum[d] += pos[3 * k + d];
    ++count;
  }
  if (count == 0) return;
  for (size_t k = 0; k < n * rc::kAtom37; ++k) {
    if (mask[k] <= 0) continue;
    for (int d = 0; d < 3; ++d) pos[3 * k + d] -= static_cast<float>(sum[d] / count);
  }
}

// Reads the entry's structure and prepares every protein chain's atoms once. mmCIF
// first, as AF2 reads; a PDB-format file serves where a local library holds those.
Entry load_entry(const std::string& pdb_id, const TemplateSearchOptions& o) {
  std::string path;
  for (const std::string& name : {pdb_id + ".cif", pdb_id + ".cif.gz", pdb_id + ".pdb", pdb_id + ".pdb.gz",
                                  pdb_id + ".ent", pdb_id + ".ent.gz", "pdb" + pdb_id + ".ent.gz"}) {
    const auto p = std::filesystem::path(o.mmcif_dir) / name;
    if (std::filesystem::exists(p)) {
      path = p.string();
      break;
    }
  }
  if (path.empty())
    throw SkipHit("no " + pdb_id + ".cif (or .cif.gz, .pdb, .pdb.gz, .ent, .ent.gz, pdb" + pdb_id + ".ent.gz) in " +
                  o.mmcif_dir);
  Protein p;
  try {
    p = read_protein(path);
  } catch (const std::exception& e) {
    throw SkipHit(e.what());
  }
  Entry entry;
  entry.release_date = p.release_date;
  for (size_t c = 0; c < p.chain_ids.size(); ++c) {
    Chain chain{p.chain_ids[c], p.chain_sequence(static_cast<int32_t>(c)), {}, {}, {}};
    for (size_t r = 0; r < p.num_residues(); ++r) {
      if (p.chain_index[r] != static_cast<int32_t>(c)) continue;
      chain.positions.insert(chain.positions.end(), p.atom_positions.begin() + r * rc::kAtom37 * 3,
                             p.atom_positions.begin() + (r + 1) * rc::kAtom37 * 3);
      chain.mask.insert(chain.mask.end(), p.atom_mask.begin() + r * rc::kAtom37,
                        p.atom_mask.begin() + (r + 1) * rc::kAtom37);
    }
    try {
      prepare_chain_atoms(chain, o);
    } catch (const SkipHit& e) {
      chain.unusable = e.what();
    }
    entry.chains.push_back(std::move(chain));
  }
  return entry;
}

// Step 3: the chain holding the hit, and per aligned query residue the chain residue
// with its letter (the hit's, or the chain's after a realignment, as AF2).
struct Aligned {
  int residue;
  char letter;
};
struct Placement {
  const Chain* chain = nullptr;
  std::map<int, Aligned> residues;  // by query residue
};

Placement place_hit(const Entry& entry, const std::string& chain_id, const std::string& hit_sequence,
                    const std::map<int, int>& query_to_hit_map) {
  const auto placed = [&](const Chain& chain, size_t offset) {
    Placement p{&chain, {}};
    for (const auto& [q, t] : query_to_hit_map) p.residues[q] = {t + static_cast<int>(offset), hit_sequence[t]};
    return p;
  };
  const Chain* named = entry.find(chain_id);
  if (named) {
    const size_t at = named->sequence.find(hit_sequence);
    if (at != std::string::npos) return placed(*named, at);
  }
  for (const Chain& c : entry.chains) {
    const size_t at = c.sequence.find(hit_sequence);
    if (at != std::string::npos) return placed(c, at);
  }
  for (const Chain& c : entry.chains)
    if (const auto at = find_with_wildcards(c.sequence, hit_sequence)) return placed(c, *at);

  // Realign the hit's sequence to the chain's (the search database held another
  // version of the entry).
  if (!named && entry.chains.size() == 1) named = &entry.chains.front();
  if (!named) throw SkipHit("no protein chain " + chain_id + " in the mmCIF file");
  const PairAlignment aln = align_overlap(hit_sequence, named->sequence);
  const size_t shorter = std::min(hit_sequence.size(), named->sequence.size());
  if (shorter == 0 || aln.identical < kMinRealignedIdentity * static_cast<double>(shorter))
    throw SkipHit("the hit's sequence " + hit_sequence + " is not in chain " + named->id + " (" + named->sequence +
                  ") and realigns with only " + std::to_string(aln.identical) + " of " + std::to_string(shorter) +
                  " residues identical (90% needed)");
  std::map<int, int> hit_to_chain;
  for (const auto& [i, j] : aln.pairs) hit_to_chain[i] = j;
  Placement p{named, {}};
  // Query residues whose hit residue has no partner in the chain stay gaps.
  for (const auto& [q, t] : query_to_hit_map) {
    const auto it = hit_to_chain.find(t);
    if (it != hit_to_chain.end()) p.residues[q] = {it->second, named->sequence[it->second]};
  }
  return p;
}

bool valid_date(const std::string& d) {
  if (d.size() != 10 || d[4] != '-' || d[7] != '-') return false;
  for (size_t k : {0, 1, 2, 3, 5, 6, 8, 9})
    if (!std::isdigit(static_cast<unsigned char>(d[k]))) return false;
  return true;
}

}  // namespace

TemplateSearchResult find_template_features(const std::string& query, const std::vector<TemplateHit>& hits,
                                            const TemplateSearchOptions& o) {
  if (query.empty()) throw std::invalid_argument("templates: empty query sequence");
  if (o.mmcif_dir.empty() || !std::filesystem::is_directory(o.mmcif_dir))
    throw std::invalid_argument("templates: the mmCIF folder '" + o.mmcif_dir + "' does not exist");
  if (!o.max_template_date.empty() && !valid_date(o.max_template_date))
    throw std::invalid_argument("templates: max template date '" + o.max_template_date + "' is not YYYY-MM-DD");
  const double n_query = static_cast<double>(query.size());

  std::vector<const TemplateHit*> candidates;
  for (const TemplateHit& hit : hits) {
    if (!pdb_id_and_chain(hit.name)) continue;
    const std::string seq = without_gaps(hit.hit_sequence);
    const bool duplicate = query.find(seq) != std::string::npos && seq.size() / n_query > o.max_subsequence_ratio;
    if (hit.aligned_cols / n_query <= o.min_align_ratio || duplicate ||
        static_cast<int>(seq.size()) < o.min_length)
      continue;
    candidates.push_back(&hit);
  }
  std::stable_sort(candidates.begin(), candidates.end(),
                   [](const TemplateHit* a, const TemplateHit* b) { return a->sum_probs > b->sum_probs; });

  TemplateSearchResult result;
  std::map<std::string, Entry> entries;           // per PDB id, read once
  std::map<std::string, std::string> unreadable;  // per PDB id, why it could not be read
  for (const TemplateHit* hit : candidates) {
    if (static_cast<int64_t>(result.templates.size()) >= o.max_hits) break;
    const auto [pdb_id, chain_id] = *pdb_id_and_chain(hit->name);
    try {
      if (unreadable.count(pdb_id)) throw SkipHit(unreadable[pdb_id]);
      if (!entries.count(pdb_id)) {
        try {
          entries.emplace(pdb_id, load_entry(pdb_id, o));
        } catch (const SkipHit& e) {
          unreadable[pdb_id] = e.what();
          throw;
        }
      }
      const Entry& entry = entries.at(pdb_id);
      if (!o.max_template_date.empty() && !entry.release_date.empty() && entry.release_date > o.max_template_date)
        throw SkipHit("released " + entry.release_date + ", after the max template date " + o.max_template_date);
      const std::string hit_sequence = without_gaps(hit->hit_sequence);
      const Placement place = place_hit(entry, chain_id, hit_sequence, query_to_hit(*hit, query));
      const Chain& chain = *place.chain;
      if (!chain.unusable.empty()) throw SkipHit(chain.unusable);

      TemplateFeatures t;
      t.domain_name = pdb_id + "_" + chain.id;
      t.sum_probs = hit->sum_probs;
      t.sequence.assign(query.size(), '-');
      t.atom_positions.assign(query.size() * rc::kAtom37 * 3, 0.0f);
      t.atom_mask.assign(query.size() * rc::kAtom37, 0.0f);
      float observed = 0;
      for (const auto& [q, a] : place.residues) {
        if (a.residue >= static_cast<int>(chain.sequence.size()))
          throw SkipHit("the alignment reaches residue " + std::to_string(a.residue + 1) + " of chain " + chain.id +
                        ", which has " + std::to_string(chain.sequence.size()));
        t.sequence[q] = a.letter;
        std::copy_n(chain.positions.begin() + a.residue * rc::kAtom37 * 3, rc::kAtom37 * 3,
                    t.atom_positions.begin() + q * rc::kAtom37 * 3);
        std::copy_n(chain.mask.begin() + a.residue * rc::kAtom37, rc::kAtom37, t.atom_mask.begin() + q * rc::kAtom37);
        for (int k = 0; k < rc::kAtom37; ++k) observed += chain.mask[a.residue * rc::kAtom37 + k];
      }
      if (observed < kMinTemplateAtoms)
        throw SkipHit("fewer than 5 observed atoms on the aligned residues of " + t.domain_name);
      const bool seen = std::any_of(result.templates.begin(), result.templates.end(),
                                    [&](const TemplateFeatures& other) { return other.sequence == t.sequence; });
      if (seen) throw SkipHit("the same aligned sequence as an earlier template");
      result.templates.push_back(std::move(t));
    } catch (const SkipHit& e) {
      result.skipped.push_back(hit->name + ": " + e.what());
    }
  }
  return result;
}

}  // namespace fold::data
