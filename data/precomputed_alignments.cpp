#include "data/precomputed_alignments.h"

#include <algorithm>
#include <filesystem>
#include <stdexcept>

namespace fold::data {

namespace fs = std::filesystem;

namespace {

// AF2's monomer pipeline (alphafold/data/pipeline.py): uniref_max_hits and mgnify_max_hits.
constexpr size_t kUniref90MaxRows = 10000;
constexpr size_t kMgnifyMaxRows = 501;

}  // namespace

PrecomputedAlignments read_precomputed_alignments(const std::string& dir) {
  if (!fs::is_directory(dir)) throw std::invalid_argument("--alignment-dir '" + dir + "' is not a folder");
  struct Known {
    std::vector<const char*> names;  // the first present is taken
    size_t max_rows;
  };
  const Known known[] = {{{"uniref90_hits.sto"}, kUniref90MaxRows},
                         {{"bfd_uniclust_hits.a3m", "bfd_uniref_hits.a3m", "small_bfd_hits.sto"}, 0},
                         {{"mgnify_hits.sto"}, kMgnifyMaxRows}};
  PrecomputedAlignments out;
  std::vector<std::string> taken{"uniprot_hits.sto", "hmm_output.sto"};
  for (const Known& k : known)
    for (const char* name : k.names)
      if (fs::is_regular_file(fs::path(dir) / name)) {
        out.msa_paths.push_back((fs::path(dir) / name).string());
        out.max_rows.push_back(k.max_rows);
        for (const char* n : k.names) taken.emplace_back(n);
        break;
      }
  std::vector<fs::path> others;
  for (const auto& e : fs::directory_iterator(dir)) {
    const std::string name = e.path().filename().string(), ext = e.path().extension().string();
    if (e.is_regular_file() && (ext == ".a3m" || ext == ".sto") &&
        std::find(taken.begin(), taken.end(), name) == taken.end())
      others.push_back(e.path());
  }
  std::sort(others.begin(), others.end());
  for (const auto& p : others) {
    out.msa_paths.push_back(p.string());
    out.max_rows.push_back(0);
  }
  if (out.msa_paths.empty())
    throw std::invalid_argument("--alignment-dir '" + dir +
                                "' holds no MSA (uniref90_hits.sto, bfd_uniclust_hits.a3m, bfd_uniref_hits.a3m, "
                                "small_bfd_hits.sto, mgnify_hits.sto or other .a3m / .sto files)");
  if (fs::is_regular_file(fs::path(dir) / "uniprot_hits.sto"))
    out.pairing_msa = (fs::path(dir) / "uniprot_hits.sto").string();
  for (const char* name : {"pdb70_hits.hhr", "hhsearch_output.hhr"})
    if (fs::is_regular_file(fs::path(dir) / name)) {
      out.template_hits = (fs::path(dir) / name).string();
      break;
    }
  return out;
}

}  // namespace fold::data
