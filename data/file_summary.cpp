#include "data/file_summary.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "data/chain_dataset.h"
#include "data/fasta.h"
#include "data/hhr.h"
#include "data/msa.h"
#include "data/protein.h"
#include "data/text_file.h"

namespace fold::data {

namespace {

using nlohmann::json;

json length_stats(const std::vector<size_t>& lengths) {
  if (lengths.empty()) return {{"min", 0}, {"max", 0}, {"mean", 0.0}};
  size_t total = 0;
  for (size_t l : lengths) total += l;
  return {{"min", *std::min_element(lengths.begin(), lengths.end())},
          {"max", *std::max_element(lengths.begin(), lengths.end())},
          {"mean", static_cast<double>(total) / lengths.size()}};
}

// Resolution as stored (float, as AF2), printed to the 0.001 A the files give; none
// where the entry has none.
json resolution_json(double resolution) {
  return resolution > 0 ? json(std::round(resolution * 1000.0) / 1000.0) : json(nullptr);
}

json text_or_null(const std::string& text) { return text.empty() ? json(nullptr) : json(text); }

json fasta_summary(const std::string& path, size_t max_records) {
  const auto records = read_fasta(path);
  json list = json::array();
  std::vector<size_t> lengths;
  for (const auto& r : records) {
    lengths.push_back(r.sequence.size());
    if (list.size() < max_records)
      list.push_back({{"id", r.id}, {"description", r.description}, {"length", r.sequence.size()},
                      {"sequence", r.sequence}});
  }
  return {{"format", "fasta"}, {"records", records.size()}, {"lengths", length_stats(lengths)},
          {"sequences", list}};
}

json msa_summary(const std::string& path, const std::string& format, size_t max_records) {
  const Msa msa = read_msa(path);
  const std::string& query = msa.sequences.front();
  json rows = json::array();
  size_t rows_with_deletions = 0;
  for (size_t i = 0; i < msa.depth(); ++i) {
    const auto& del = msa.deletion_matrix[i];
    const bool any = std::any_of(del.begin(), del.end(), [](int32_t d) { return d > 0; });
    rows_with_deletions += any;
    if (rows.size() >= max_records) continue;
    size_t same = 0, aligned = 0;
    for (size_t c = 0; c < query.size(); ++c) {
      if (msa.sequences[i][c] == '-') continue;
      ++aligned;
      same += msa.sequences[i][c] == query[c];
    }
    rows.push_back({{"description", msa.descriptions[i]},
                    {"aligned_residues", aligned},
                    {"identity_to_query", aligned ? static_cast<double>(same) / aligned : 0.0}});
  }
  return {{"format", format},
          {"depth", msa.depth()},
          {"query_length", msa.length()},
          {"query", query},
          {"rows_with_deletions", rows_with_deletions},
          {"rows", rows}};
}

json hhr_summary(const std::string& path, size_t max_records) {
  const auto hits = read_hhr(path);
  json list = json::array();
  for (const auto& h : hits) {
    if (list.size() >= max_records) break;
    list.push_back({{"index", h.index},
                    {"name", h.name},
                    {"aligned_cols", h.aligned_cols},
                    {"sum_probs", h.sum_probs},
                    {"query_length", h.query.size()}});
  }
  return {{"format", "hhr"}, {"hits", hits.size()}, {"top_hits", list}};
}

// Atoms with non-finite coordinates (a broken converter's "nan") make a chain a problem,
// as an unreadable chain of a dataset is: listed, and the command fails.
json structure_summary(const std::string& path, bool* ok) {
  const StructureSummary s = summarize_structure(path);
  json chains = json::array(), problems = json::array();
  size_t protein_chains = 0;
  for (const auto& c : s.chains) {
    protein_chains += c.sequence_length > 0;
    chains.push_back({{"id", c.id},
                      {"residues", c.residues},
                      {"amino_acid_residues", c.polymer_residues},
                      {"sequence_length", c.sequence_length},
                      {"atoms", c.atoms},
                      {"nonfinite_atoms", c.nonfinite_atoms},
                      {"sequence", c.sequence}});
    if (c.nonfinite_atoms > 0)
      problems.push_back({{"chain", c.id},
                          {"error", std::to_string(c.nonfinite_atoms) + " of " + std::to_string(c.atoms) +
                                        " atoms have non-finite coordinates"}});
  }
  *ok = problems.empty();
  json j = {{"format", s.format},
            {"models", s.models},
            {"resolution", resolution_json(s.resolution)},
            {"release_date", text_or_null(s.release_date)},
            {"method", text_or_null(s.method)},
            {"protein_chains", protein_chains},
            {"chains", chains},
            {"problems", problems}};
  return j;
}

// A chain dataset: every chain's size from its attributes, then every chain read and
// checked, so a corrupted group, inconsistent shapes or NaN coordinates are reported
// by chain (and make the command fail) rather than found in the middle of training.
json dataset_summary(const std::string& path, size_t max_records, bool* ok) {
  const ChainDataset dataset(path);
  json chains = json::array(), problems = json::array();
  std::vector<size_t> lengths, depths;
  size_t templates = 0, unknown = 0;
  for (const auto& e : dataset.entries()) {
    lengths.push_back(static_cast<size_t>(e.length));
    depths.push_back(static_cast<size_t>(e.msa_depth));
    templates += static_cast<size_t>(e.templates);
    unknown += static_cast<size_t>(e.unknown_residues);
    try {
      dataset.read(e.id);
    } catch (const std::exception& err) {
      problems.push_back({{"chain", e.id}, {"error", err.what()}});
    }
    if (chains.size() < max_records)
      chains.push_back({{"id", e.id},
                        {"length", e.length},
                        {"msa_depth", e.msa_depth},
                        {"templates", e.templates},
                        {"observed_residues", e.observed_residues},
                        {"unknown_residues", e.unknown_residues},
                        {"resolution", resolution_json(e.resolution)},
                        {"release_date", text_or_null(e.release_date)},
                        {"method", text_or_null(e.method)},
                        {"source", e.source}});
  }
  *ok = problems.empty();
  return {{"format", "chain-dataset"},
          {"format_version", kChainDatasetFormatVersion},
          {"chains", dataset.size()},
          {"lengths", length_stats(lengths)},
          {"msa_depths", length_stats(depths)},
          {"template_hits", templates},
          {"unknown_residues", unknown},
          {"chain_list", chains},
          {"problems", problems}};
}

}  // namespace

FileSummary summarize_file(const std::string& path, size_t max_records) {
  const std::string ext = format_extension(path);
  json j;
  bool ok = true;
  if (ext == "h5" || ext == "hdf5")
    j = dataset_summary(path, max_records, &ok);
  else if (ext == "fasta" || ext == "fa" || ext == "faa" || ext == "fas")
    j = fasta_summary(path, max_records);
  else if (ext == "a3m" || ext == "a2m")
    j = msa_summary(path, ext, max_records);
  else if (ext == "sto" || ext == "stockholm")
    j = msa_summary(path, "stockholm", max_records);
  else if (ext == "hhr")
    j = hhr_summary(path, max_records);
  else if (ext == "cif" || ext == "mmcif" || ext == "pdb" || ext == "ent")
    j = structure_summary(path, &ok);
  else
    throw UnknownFileFormat("cannot tell the format of '" + path +
                            "' from its extension (fasta, a3m, a2m, sto, hhr, "
                            "cif, pdb, ent; optionally .gz; h5)");
  j["path"] = path;
  return {j.dump(2), ok ? 0 : j["problems"].size()};
}

}  // namespace fold::data
