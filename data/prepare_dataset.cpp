#include "data/prepare_dataset.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <filesystem>
#include <map>
#include <mutex>
#include <set>
#include <sstream>
#include <thread>

#include "data/hhr.h"
#include "data/msa.h"
#include "data/msa_ids.h"
#include "data/msa_pairing.h"
#include "data/parse_error.h"
#include "data/progress_bar.h"
#include "data/residue_constants.h"
#include "data/text_file.h"

namespace fold::data {

namespace {

namespace fs = std::filesystem;

// "1abc.cif.gz" -> ("1abc", true); "pdb1abc.ent" -> ("1abc", true); "notes.txt" -> false.
bool structure_entry(const fs::path& file, std::string* entry) {
  const std::string ext = format_extension(file.string());
  if (ext != "cif" && ext != "mmcif" && ext != "pdb" && ext != "ent") return false;
  std::string lower = file.filename().string();
  std::transform(lower.begin(), lower.end(), lower.begin(), [](unsigned char c) { return std::tolower(c); });
  const size_t gz = lower.size() > 3 && lower.compare(lower.size() - 3, 3, ".gz") == 0 ? 3 : 0;
  const size_t stem_size = lower.size() - gz - ext.size() - 1;
  if (stem_size == 0) return false;
  std::string stem = file.filename().string().substr(0, stem_size);
  if (ext == "ent" && stem.size() == 7 && lower.compare(0, 3, "pdb") == 0) stem = stem.substr(3);
  *entry = stem;
  return true;
}

// The alignment files of a chain folder, by kind, in name order. uniprot_hits.sto is
// AF-Multimer's pairing MSA, not part of the chain's MSA (OpenFold leaves it out of
// both pipelines' MSAs), and hmm_output.sto holds template hits.
struct AlignmentFiles {
  std::vector<fs::path> msas, hhrs;
  fs::path pairing;
};

AlignmentFiles alignment_files(const fs::path& dir) {
  AlignmentFiles files;
  for (const auto& e : fs::directory_iterator(dir)) {
    if (!e.is_regular_file()) continue;
    const std::string ext = format_extension(e.path().string());
    const std::string name = e.path().filename().string();
    if (name.rfind("uniprot_hits.sto", 0) == 0) files.pairing = e.path();
    else if (name.rfind("hmm_output.sto", 0) == 0) continue;
    else if (ext == "a3m" || ext == "a2m" || ext == "sto") files.msas.push_back(e.path());
    if (ext == "hhr") files.hhrs.push_back(e.path());
  }
  std::sort(files.msas.begin(), files.msas.end());
  std::sort(files.hhrs.begin(), files.hhrs.end());
  return files;
}

// AF2's training-set filter (Supplement 1.2.5): no residue type may make up more than
// 80% of the chain.
void check_composition(const std::string& id, const std::string& sequence) {
  std::map<char, size_t> counts;
  for (char c : sequence) ++counts[c];
  for (const auto& [c, k] : counts)
    if (k * 5 > sequence.size() * 4)
      throw std::invalid_argument("chain " + id + ": " + std::to_string(k) + " of " +
                                  std::to_string(sequence.size()) + " residues are '" + std::string(1, c) +
                                  "' (AF2 drops chains with one residue type above 80%)");
}

}  // namespace

ChainRecord make_chain_record(const std::string& id, const Protein& chain, const std::string& chain_alignment_dir,
                              std::vector<std::string>* warnings) {
  chain.check_consistent();
  const std::string sequence = chain.sequence();
  const auto l = static_cast<int64_t>(sequence.size());
  if (l == 0) throw std::invalid_argument("chain " + id + ": no residues");
  check_composition(id, sequence);

  ChainRecord r;
  r.id = id;
  r.sequence = sequence;
  r.source = chain.name;
  r.resolution = chain.resolution;
  r.release_date = chain.release_date;
  r.method = chain.method;
  r.aatype = at::empty({l}, at::kByte);
  for (int64_t i = 0; i < l; ++i) r.aatype[i] = static_cast<uint8_t>(chain.aatype[i]);
  r.residue_index = at::tensor(at::ArrayRef<int32_t>(chain.residue_index), at::kInt);
  r.atom_positions = at::tensor(at::ArrayRef<float>(chain.atom_positions), at::kFloat).view({l, 37, 3});
  r.atom_mask = (at::tensor(at::ArrayRef<float>(chain.atom_mask), at::kFloat).view({l, 37}) > 0).to(at::kByte);
  r.b_factors = at::tensor(at::ArrayRef<float>(chain.b_factors), at::kFloat).view({l, 37});
  if (!(r.atom_mask.select(1, rc::atom_order("CA")) > 0).any().item<bool>())
    throw std::invalid_argument("chain " + id + ": no resolved residues (no CA atom observed)");

  Msa msa;
  std::vector<int32_t> row_source;
  const bool has_dir = !chain_alignment_dir.empty() && fs::is_directory(chain_alignment_dir);
  const AlignmentFiles files = has_dir ? alignment_files(chain_alignment_dir) : AlignmentFiles{};
  if (files.msas.empty()) {
    if (warnings)
      warnings->push_back("chain " + id + ": no alignments in " +
                          (chain_alignment_dir.empty() ? std::string("(no alignment folder)") : chain_alignment_dir) +
                          "; its sequence alone is the MSA");
    msa.sequences = {sequence};
    msa.deletion_matrix = {std::vector<int32_t>(l, 0)};
    msa.descriptions = {id};
    row_source = {0};
    r.msa_sources = {"query"};
  } else {
    if (files.msas.size() > 255)
      throw std::invalid_argument("chain " + id + ": more than 255 alignment files in " + chain_alignment_dir);
    std::vector<Msa> msas;
    for (const auto& f : files.msas) {
      msas.push_back(read_msa(f.string()));
      try {
        check_msa_query(sequence, msas.back());
      } catch (const std::invalid_argument& e) {
        throw ParseError(f.string(), 0, e.what());
      }
      r.msa_sources.push_back(f.filename().string());
    }
    msa = merge_msas(msas, &row_source);
  }
  if (!files.pairing.empty()) {
    const Msa hits = merge_msas({read_msa(files.pairing.string())});  // AF2 drops repeated rows
    try {
      check_msa_query(sequence, hits);
    } catch (const std::invalid_argument& e) {
      throw ParseError(files.pairing.string(), 0, e.what());
    }
    const MsaIds pairing = msa_ids(hits);
    r.pairing_msa = pairing.ids;
    r.pairing_deletions = pairing.deletions;
    for (const std::string& d : hits.descriptions) r.pairing_species.push_back(uniprot_species(d));
  }
  for (const auto& f : files.hhrs) {
    auto hits = read_hhr(f.string());
    r.template_hits.insert(r.template_hits.end(), hits.begin(), hits.end());
  }
  const MsaIds ids = msa_ids(msa);
  r.msa = ids.ids;
  r.deletion_matrix = ids.deletions;
  r.msa_source = at::tensor(at::ArrayRef<int32_t>(row_source), at::kInt).to(at::kByte);
  r.check();
  return r;
}

namespace {

// What converting one structure file gave.
struct FileOutcome {
  std::vector<PrepareProblem> failed, filtered;
  std::vector<std::string> warnings, added;
  size_t already = 0;  // chains the dataset already holds
};

// The chains of one structure file into `writer`: those in `wanted` (all when empty)
// and not in `present`, within the resolution limit; a chain or file that fails is
// listed with its reason, never thrown.
FileOutcome convert_structure_file(const fs::path& file, const std::string& entry, const PrepareOptions& o,
                                   const std::set<std::string>& wanted, const std::set<std::string>& present,
                                   ChainDatasetWriter& writer) {
  FileOutcome out;
  try {
    const StructureSummary s = summarize_structure(file.string());
    if (std::none_of(s.chains.begin(), s.chains.end(), [](const ChainSummary& c) { return c.polymer_residues > 0; }))
      throw std::invalid_argument("no protein chain with observed residues");
    for (const auto& c : s.chains) {
      if (c.polymer_residues == 0) continue;
      const std::string id = entry + "_" + c.id;
      if (!wanted.empty() && !wanted.count(id)) continue;
      if (present.count(id)) {
        ++out.already;
        continue;
      }
      if (o.max_resolution > 0 && s.resolution > o.max_resolution) {
        std::ostringstream why;
        why << "chain " << c.id << ": resolution " << s.resolution << " A is worse than " << o.max_resolution << " A";
        out.filtered.push_back({file.string(), why.str()});
        continue;
      }
      try {
        Protein chain = read_protein(file.string(), {c.id});
        chain.name = file.filename().string();
        const std::string dir = o.alignment_dir.empty() ? "" : (fs::path(o.alignment_dir) / id).string();
        writer.add(make_chain_record(id, chain, dir, &out.warnings));
        out.added.push_back(id);
      } catch (const ParseError& e) {
        out.failed.push_back({e.file(), "chain " + id + ": " + e.problem()});
      } catch (const std::exception& e) {
        out.failed.push_back({file.string(), e.what()});
      }
    }
  } catch (const ParseError& e) {
    out.failed.push_back({file.string(), e.problem()});
  } catch (const std::exception& e) {
    out.failed.push_back({file.string(), e.what()});
  }
  return out;
}

template <typename T>
void append(std::vector<T>& to, const std::vector<T>& from) {
  to.insert(to.end(), from.begin(), from.end());
}

}  // namespace

PrepareSummary prepare_dataset(const PrepareOptions& o, std::ostream& log) {
  if (o.structure_dir.empty() || !fs::is_directory(o.structure_dir))
    throw std::invalid_argument("fold prepare: structure folder '" + o.structure_dir + "' does not exist");
  if (!o.alignment_dir.empty() && !fs::is_directory(o.alignment_dir))
    throw std::invalid_argument("fold prepare: alignment folder '" + o.alignment_dir + "' does not exist");
  if (o.jobs < 1) throw std::invalid_argument("fold prepare: --jobs must be at least 1");

  std::vector<std::pair<fs::path, std::string>> inputs;
  for (const auto& e : fs::directory_iterator(o.structure_dir)) {
    std::string entry;
    if (e.is_regular_file() && structure_entry(e.path(), &entry)) inputs.emplace_back(e.path(), entry);
  }
  std::sort(inputs.begin(), inputs.end());
  const std::set<std::string> wanted(o.chains.begin(), o.chains.end());

  ChainDatasetWriter writer(o.out);
  const std::vector<std::string> present_ids = writer.ids();
  const std::set<std::string> present(present_ids.begin(), present_ids.end());

  PrepareSummary summary;
  summary.files = inputs.size();
  std::mutex summary_mutex;
  ProgressBar bar(log, static_cast<int64_t>(inputs.size()), o.progress);
  std::atomic<size_t> chains_added{0};
  std::atomic<size_t> next{0};
  const auto worker = [&] {
    for (size_t i = next++; i < inputs.size(); i = next++) {
      const FileOutcome r = convert_structure_file(inputs[i].first, inputs[i].second, o, wanted, present, writer);
      bar.advance("files, " + std::to_string(chains_added += r.added.size()) + " chains");
      std::lock_guard<std::mutex> lock(summary_mutex);
      summary.already_present += r.already;
      append(summary.added, r.added);
      append(summary.failed, r.failed);
      append(summary.filtered, r.filtered);
      append(summary.warnings, r.warnings);
    }
  };
  std::vector<std::thread> threads;
  for (int t = 1; t < std::min<int>(o.jobs, static_cast<int>(inputs.size())); ++t) threads.emplace_back(worker);
  worker();
  for (auto& t : threads) t.join();

  writer.commit();
  std::sort(summary.added.begin(), summary.added.end());
  const auto by_file = [](const PrepareProblem& a, const PrepareProblem& b) {
    return std::tie(a.file, a.reason) < std::tie(b.file, b.reason);
  };
  std::sort(summary.failed.begin(), summary.failed.end(), by_file);
  std::sort(summary.filtered.begin(), summary.filtered.end(), by_file);
  std::sort(summary.warnings.begin(), summary.warnings.end());
  return summary;
}

}  // namespace fold::data
