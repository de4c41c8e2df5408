// mmCIF / PDB <-> Protein through gemmi. The only translation unit that instantiates
// gemmi's writers (GEMMI_WRITE_IMPLEMENTATION), which keeps the heavy headers in one place.
#define GEMMI_WRITE_IMPLEMENTATION
#include <gemmi/align.hpp>
#include <gemmi/cif.hpp>
#include <gemmi/mmcif.hpp>
#include <gemmi/mmread.hpp>
#include <gemmi/modify.hpp>
#include <gemmi/pdb.hpp>
#include <gemmi/polyheur.hpp>
#include <gemmi/resinfo.hpp>
#include <gemmi/to_cif.hpp>
#include <gemmi/to_mmcif.hpp>
#include <gemmi/to_pdb.hpp>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <set>
#include <sstream>
#include <unistd.h>

#include "data/parse_error.h"
#include "data/protein.h"
#include "data/residue_constants.h"
#include "data/text_file.h"

namespace fold::data {

namespace {

struct Loaded {
  gemmi::Structure st;
  std::string format;
  std::string release_date;
  std::string method;
};

std::string lowercase(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  return s;
}

std::string first_value(const gemmi::cif::Block& block, const std::string& tag) {
  const std::string* v = block.find_value(tag);
  if (!v || gemmi::cif::is_null(*v)) return {};
  return gemmi::cif::as_string(*v);
}

// AF2 takes the earliest revision date as the release date (mmcif_parsing).
std::string earliest_revision_date(gemmi::cif::Block& block) {
  std::string best;
  for (const std::string& v : block.find_values("_pdbx_audit_revision_history.revision_date")) {
    if (gemmi::cif::is_null(v)) continue;
    std::string d = gemmi::cif::as_string(v);
    if (best.empty() || d < best) best = d;
  }
  return best;
}

// The position of the first byte past ASCII in `s`, or npos.
size_t first_non_ascii(std::string_view s) {
  const auto it = std::find_if(s.begin(), s.end(), [](char c) { return static_cast<unsigned char>(c) >= 128; });
  return it == s.end() ? std::string_view::npos : static_cast<size_t>(it - s.begin());
}

// gemmi hashes residue and record names as signed chars (ialpha4_id and friends), which
// is undefined for bytes past ASCII (found by fuzz_pdb and fuzz_mmcif), and it does so
// while it builds the structure. The categories it builds from are therefore checked
// first; CIF itself is ASCII, and free text elsewhere may hold UTF-8.

// Items are checked by tag, whatever loop holds them: gemmi finds a category's columns
// by tag too, also in a loop that mixes categories (found by fuzz_mmcif).
void check_mmcif_ascii(const gemmi::cif::Block& block, const std::string& path) {
  const auto structural = [](const std::string& tag) {
    const std::string lc = lowercase(tag);
    for (const char* category : {"_atom_site.", "_entity_poly_seq.", "_pdbx_poly_seq_scheme.", "_struct_conn."})
      if (lc.rfind(category, 0) == 0) return true;
    return false;
  };
  const auto check = [&](const std::string& tag, const std::string& value, size_t row) {
    if (first_non_ascii(value) != std::string_view::npos)
      throw ParseError(path, 0, tag + ", row " + std::to_string(row) + ": a byte that is not ASCII");
  };
  for (const gemmi::cif::Item& item : block.items) {
    if (item.type == gemmi::cif::ItemType::Pair && structural(item.pair[0])) check(item.pair[0], item.pair[1], 1);
    if (item.type != gemmi::cif::ItemType::Loop) continue;
    const gemmi::cif::Loop& loop = item.loop;
    const size_t width = loop.width();
    for (size_t c = 0; c < width; ++c)
      if (structural(loop.tags[c]))
        for (size_t r = 0; r < loop.length(); ++r) check(loop.tags[c], loop.values[r * width + c], r + 1);
  }
}

Loaded load_mmcif(const std::string& text, const std::string& path) {
  gemmi::cif::Document doc = gemmi::cif::read_memory(text.data(), text.size(), path.c_str());
  if (doc.blocks.empty()) throw ParseError(path, 0, "mmCIF file has no data block");
  gemmi::cif::Block& block = doc.blocks[0];
  check_mmcif_ascii(block, path);
  Loaded out{gemmi::make_structure_from_block(block), "mmcif", earliest_revision_date(block),
             first_value(block, "_exptl.method")};
  if (out.st.resolution <= 0) {
    std::string em = first_value(block, "_em_3d_reconstruction.resolution");
    if (!em.empty()) out.st.resolution = gemmi::cif::as_number(em);
  }
  return out;
}

// Checks gemmi needs done before it reads PDB text:
// - every byte is ASCII, as the format defines. gemmi hashes record and residue names as
//   signed chars, undefined past ASCII, and such bytes reach those names from anywhere in
//   a line: gemmi skips the rest of a long line only up to the first of them, and a short
//   SEQRES line is read with the longer previous line's bytes still behind it (all
//   found by fuzz_pdb);
// - gemmi reads a malformed coordinate field as whatever number prefix it finds; the three
//   fixed-width fields (columns 31-54) of every ATOM/HETATM record must be numbers.
void check_pdb_records(const std::string& text, const std::string& path) {
  LineReader lines(text);
  std::string_view line;
  while (lines.next(line)) {
    if (const size_t at = first_non_ascii(line); at != std::string_view::npos)
      throw ParseError(path, lines.line_number(),
                       "column " + std::to_string(at + 1) + ": a byte that is not ASCII (PDB format is ASCII)");
    if (line.substr(0, 6) != "ATOM  " && line.substr(0, 6) != "HETATM") continue;
    if (line.size() < 54)
      throw ParseError(path, lines.line_number(), "ATOM/HETATM record shorter than 54 columns");
    for (int field = 0; field < 3; ++field) {
      const std::string value(line.substr(30 + 8 * field, 8));
      char* end = nullptr;
      std::strtod(value.c_str(), &end);
      const bool rest_blank = std::all_of(static_cast<const char*>(end), value.c_str() + value.size(),
                                          [](char c) { return c == ' '; });
      if (end == value.c_str() || !rest_blank)
        throw ParseError(path, lines.line_number(),
                         std::string("coordinate ") + "xyz"[field] + " is not a number: '" + value + "'");
    }
  }
}

Loaded load_pdb(const std::string& text, const std::string& path) {
  check_pdb_records(text, path);
  gemmi::PdbReadOptions options;
  gemmi::Structure st;
  try {
    st = gemmi::read_pdb_string(text, path, options);
  } catch (const std::exception&) {
    // Old-style files carry segment ids and junk in columns 73-80 that gemmi reads as
    // element/charge; reading the first 72 columns only is the documented cure.
    options.max_line_length = 72;
    st = gemmi::read_pdb_string(text, path, options);
  }
  gemmi::setup_entities(st);
  gemmi::assign_label_seq_id(st, false);
  Loaded out{std::move(st), "pdb", "", ""};
  auto it = out.st.info.find("_exptl.method");
  if (it != out.st.info.end()) out.method = it->second;
  return out;
}

std::string read_structure_text(const std::string& path) {
  std::string text = read_text_file(path);
  if (is_blank(text)) throw ParseError(path, 0, "file is empty");
  require_text(text, path);
  return text;
}

Loaded load(const std::string& path) {
  std::string base = lowercase(path);
  if (gemmi::iends_with(base, ".gz")) base.resize(base.size() - 3);
  try {
    switch (gemmi::coor_format_from_ext(base)) {
      case gemmi::CoorFormat::Mmcif: return load_mmcif(read_structure_text(path), path);
      case gemmi::CoorFormat::Pdb: return load_pdb(read_structure_text(path), path);
      default:
        throw ParseError(path, 0,
                         "unknown structure format (expected .cif, .mmcif, .pdb or .ent, "
                         "optionally .gz)");
    }
  } catch (const ParseError&) {
    throw;
  } catch (const std::exception& e) {
    // gemmi's messages usually start with the file name already; keep them whole.
    throw ParseError(path, 0, e.what());
  }
}

bool is_peptide_residue(const gemmi::Residue& res) {
  const gemmi::ResidueInfo ri = gemmi::find_tabulated_residue(res.name);
  if (ri.found()) return ri.is_amino_acid();
  return res.entity_type == gemmi::EntityType::Polymer && res.find_atom("CA", '*') != nullptr;
}

// Modified residues take their parent's type (gemmi tabulates the parent letter in
// lower case, e.g. 'm' for MSE), as AF2 does through SCOP's 3-to-1 table.
int32_t residue_aatype(const std::string& name) {
  const gemmi::ResidueInfo ri = gemmi::find_tabulated_residue(name);
  if (!ri.found() || !ri.is_amino_acid() || ri.one_letter_code == ' ') return rc::kUnkRestype;
  return rc::restype_order(static_cast<char>(std::toupper(ri.one_letter_code)));
}

void fill_atoms(const gemmi::Residue& res, size_t row, Protein& p) {
  std::set<int> seen;  // the first alternative conformation of an atom wins
  for (const gemmi::Atom& atom : res.atoms) {
    std::string name = atom.name;
    if (res.name == "MSE" && name == "SE") name = "SD";
    const int a = rc::atom_order(name);
    if (a < 0 || !seen.insert(a).second) continue;
    const size_t k = row * rc::kAtom37 + a;
    p.atom_positions[3 * k + 0] = static_cast<float>(atom.pos.x);
    p.atom_positions[3 * k + 1] = static_cast<float>(atom.pos.y);
    p.atom_positions[3 * k + 2] = static_cast<float>(atom.pos.z);
    p.atom_mask[k] = 1.0f;
    p.b_factors[k] = atom.b_iso;
  }
}

void grow(Protein& p, size_t rows) {
  const size_t n = p.aatype.size() + rows;
  p.aatype.resize(n, rc::kUnkRestype);
  p.residue_index.resize(n, 0);
  p.chain_index.resize(n, 0);
  p.atom_positions.resize(n * rc::kAtom37 * 3, 0.0f);
  p.atom_mask.resize(n * rc::kAtom37, 0.0f);
  p.b_factors.resize(n * rc::kAtom37, 0.0f);
}

const gemmi::Entity* sequence_record(const gemmi::Structure& st,
                                     const std::vector<const gemmi::Residue*>& residues) {
  for (const gemmi::Residue* r : residues)
    if (!r->label_seq) return nullptr;
  const std::string& sub = residues.front()->subchain;
  for (const gemmi::Entity& e : st.entities) {
    if (e.full_sequence.empty()) continue;
    if (std::find(e.subchains.begin(), e.subchains.end(), sub) != e.subchains.end()) return &e;
  }
  return nullptr;
}

// Appends one chain's amino-acid residues; false when the chain has none.
bool append_chain(const gemmi::Structure& st, const gemmi::Chain& chain, Protein& p) {
  std::vector<const gemmi::Residue*> residues;
  for (const gemmi::Residue& r : chain.residues)
    if (is_peptide_residue(r)) residues.push_back(&r);
  if (residues.empty()) return false;
  const int32_t chain_no = static_cast<int32_t>(p.chain_ids.size());
  p.chain_ids.push_back(chain.name);
  const size_t start = p.aatype.size();

  if (const gemmi::Entity* entity = sequence_record(st, residues)) {
    const size_t len = entity->full_sequence.size();
    grow(p, len);
    for (size_t k = 0; k < len; ++k) {
      p.aatype[start + k] = residue_aatype(gemmi::Entity::first_mon(entity->full_sequence[k]));
      p.residue_index[start + k] = static_cast<int32_t>(k + 1);
      p.chain_index[start + k] = chain_no;
    }
    std::vector<bool> filled(len, false);
    for (const gemmi::Residue* r : residues) {
      const int seq = *r->label_seq;
      if (seq < 1 || static_cast<size_t>(seq) > len || filled[seq - 1]) continue;
      filled[seq - 1] = true;
      fill_atoms(*r, start + seq - 1, p);
    }
  } else {
    grow(p, residues.size());
    for (size_t k = 0; k < residues.size(); ++k) {
      p.aatype[start + k] = residue_aatype(residues[k]->name);
      p.residue_index[start + k] = residues[k]->seqid.num.value;
      p.chain_index[start + k] = chain_no;
      fill_atoms(*residues[k], start + k, p);
    }
  }
  return true;
}

std::string chain_list(const gemmi::Model& model) {
  std::string s;
  for (const gemmi::Chain& c : model.chains) s += (s.empty() ? "" : ", ") + c.name;
  return s.empty() ? "none" : s;
}

std::string file_stem(const std::string& path) {
  std::string name = std::filesystem::path(path).filename().string();
  for (const char* ext : {".gz", ".cif", ".mmcif", ".pdb", ".ent"}) {
    const std::string e(ext);
    if (name.size() > e.size() && lowercase(name.substr(name.size() - e.size())) == e)
      name.resize(name.size() - e.size());
  }
  return name;
}

gemmi::Structure to_gemmi(const Protein& p) {
  p.check_consistent();
  gemmi::Structure st;
  st.name = p.name.empty() ? "fold" : p.name;
  st.resolution = p.resolution;
  st.models.emplace_back("1");
  gemmi::Model& model = st.models.back();
  for (size_t c = 0; c < p.chain_ids.size(); ++c) {
    gemmi::Chain chain(p.chain_ids[c]);
    gemmi::Entity entity(std::to_string(c + 1));
    entity.entity_type = gemmi::EntityType::Polymer;
    entity.polymer_type = gemmi::PolymerType::PeptideL;
    const std::string subchain = p.chain_ids[c];
    entity.subchains.push_back(subchain);
    for (size_t i = 0; i < p.num_residues(); ++i) {
      if (p.chain_index[i] != static_cast<int32_t>(c)) continue;
      const std::string resname(rc::resnames[p.aatype[i]]);
      entity.full_sequence.push_back(resname);
      gemmi::Residue res;
      res.name = resname;
      res.seqid = gemmi::SeqId(p.residue_index[i], ' ');
      res.label_seq = static_cast<int>(entity.full_sequence.size());
      res.subchain = subchain;
      res.entity_id = entity.name;
      res.entity_type = gemmi::EntityType::Polymer;
      res.het_flag = 'A';
      for (int a = 0; a < rc::kAtom37; ++a) {
        const size_t k = i * rc::kAtom37 + a;
        if (p.atom_mask[k] <= 0.5f) continue;
        gemmi::Atom atom;
        atom.name = std::string(rc::atom_types[a]);
        atom.element = gemmi::Element(std::string(1, atom.name[0]));
        atom.pos = gemmi::Position(p.atom_positions[3 * k], p.atom_positions[3 * k + 1],
                                   p.atom_positions[3 * k + 2]);
        atom.occ = 1.0f;
        atom.b_iso = p.b_factors[k];
        res.atoms.push_back(atom);
      }
      if (!res.atoms.empty()) chain.residues.push_back(std::move(res));
    }
    model.chains.push_back(std::move(chain));
    st.entities.push_back(std::move(entity));
  }
  gemmi::assign_serial_numbers(model);
  return st;
}

}  // namespace

Protein read_protein(const std::string& path, const ReadOptions& options) {
  Loaded loaded = load(path);
  const gemmi::Structure& st = loaded.st;
  if (st.models.empty()) throw ParseError(path, 0, "no models (no ATOM/HETATM records)");
  const gemmi::Model& model = st.models.front();
  Protein p;
  p.name = st.name.empty() ? file_stem(path) : st.name;
  p.resolution = static_cast<float>(st.resolution > 0 ? st.resolution : 0.0);
  p.release_date = loaded.release_date;
  p.method = loaded.method;
  // gemmi splits a PDB chain at TER: waters after it form a second chain of that name.
  bool found_chain = false;
  for (const gemmi::Chain& chain : model.chains) {
    if (!options.chain.empty() && chain.name != options.chain) continue;
    found_chain = true;
    append_chain(st, chain, p);
  }
  if (!options.chain.empty() && !found_chain)
    throw ParseError(path, 0,
                     "chain " + options.chain + " not found (chains: " + chain_list(model) + ")");
  if (!options.chain.empty() && p.aatype.empty())
    throw ParseError(path, 0, "chain " + options.chain + " holds no amino-acid residues");
  if (p.aatype.empty()) throw ParseError(path, 0, "no protein chain (no amino-acid residues)");
  return p;
}

StructureSummary summarize_structure(const std::string& path) {
  Loaded loaded = load(path);
  const gemmi::Structure& st = loaded.st;
  StructureSummary s;
  s.path = path;
  s.format = loaded.format;
  s.models = st.models.size();
  s.resolution = static_cast<float>(st.resolution > 0 ? st.resolution : 0.0);
  s.release_date = loaded.release_date;
  s.method = loaded.method;
  if (st.models.empty()) throw ParseError(path, 0, "no models (no ATOM/HETATM records)");
  for (const gemmi::Chain& chain : st.models.front().chains) {
    // One entry per chain id, also where gemmi split a PDB chain at TER.
    auto same = std::find_if(s.chains.begin(), s.chains.end(),
                             [&](const ChainSummary& c) { return c.id == chain.name; });
    ChainSummary& c = same != s.chains.end() ? *same : s.chains.emplace_back();
    c.id = chain.name;
    c.residues += chain.residues.size();
    for (const gemmi::Residue& r : chain.residues) {
      c.atoms += r.atoms.size();
      for (const gemmi::Atom& a : r.atoms)
        c.nonfinite_atoms += !(std::isfinite(a.pos.x) && std::isfinite(a.pos.y) && std::isfinite(a.pos.z));
      if (is_peptide_residue(r)) ++c.polymer_residues;
    }
    Protein one;
    if (append_chain(st, chain, one)) {
      c.sequence += one.sequence();
      c.sequence_length += one.num_residues();
    }
  }
  return s;
}

std::string to_pdb(const Protein& protein) {
  std::ostringstream os;
  gemmi::PdbWriteOptions options;
  options.cryst1_record = false;  // predictions have no unit cell
  gemmi::write_pdb(to_gemmi(protein), os, options);
  return os.str();
}

namespace {

// ModelCIF's QA metric categories for one model: pLDDT per residue and its mean, and pTM
// where the model has it. Residues are named as to_gemmi() writes them: label_asym_id the
// chain's subchain, label_seq_id the 1-based position in the chain's sequence.
void add_qa_metrics(gemmi::cif::Block& block, const Protein& p, const ModelQuality& q) {
  if (q.plddt.size() != p.num_residues())
    throw std::invalid_argument("ModelQuality: " + std::to_string(q.plddt.size()) + " pLDDT values for " +
                                std::to_string(p.num_residues()) + " residues");
  const auto number = [](double v, int digits) {
    std::ostringstream os;
    os << std::fixed << std::setprecision(digits) << v;
    return os.str();
  };
  gemmi::cif::Loop& metrics =
      block.init_mmcif_loop("_ma_qa_metric.", {"id", "name", "description", "type", "mode"});
  metrics.add_row({"1", "pLDDT", "'Predicted lDDT-Ca per residue'", "pLDDT", "local"});
  metrics.add_row({"2", "pLDDT", "'Mean predicted lDDT-Ca'", "pLDDT", "global"});
  if (q.ptm) metrics.add_row({"3", "pTM", "'Predicted TM-score'", "pTM", "global"});
  double sum = 0;
  for (float v : q.plddt) sum += v;
  gemmi::cif::Loop& global =
      block.init_mmcif_loop("_ma_qa_metric_global.", {"ordinal_id", "model_id", "metric_id", "metric_value"});
  global.add_row({"1", "1", "2", number(q.plddt.empty() ? 0.0 : sum / q.plddt.size(), 2)});
  if (q.ptm) global.add_row({"2", "1", "3", number(*q.ptm, 4)});
  gemmi::cif::Loop& local = block.init_mmcif_loop(
      "_ma_qa_metric_local.",
      {"ordinal_id", "model_id", "label_asym_id", "label_seq_id", "label_comp_id", "metric_id", "metric_value"});
  size_t ordinal = 0;
  for (size_t c = 0; c < p.chain_ids.size(); ++c) {
    int seq = 0;
    for (size_t i = 0; i < p.num_residues(); ++i) {
      if (p.chain_index[i] != static_cast<int32_t>(c)) continue;
      local.add_row({std::to_string(++ordinal), "1", p.chain_ids[c], std::to_string(++seq),
                     std::string(rc::resnames[p.aatype[i]]), "1", number(q.plddt[i], 2)});
    }
  }
}

}  // namespace

std::string to_mmcif(const Protein& protein, const ModelQuality* quality) {
  gemmi::cif::Document doc = gemmi::make_mmcif_document(to_gemmi(protein));
  if (quality) add_qa_metrics(doc.blocks.at(0), protein, *quality);
  std::ostringstream os;
  gemmi::cif::write_cif_to_stream(os, doc);
  return os.str();
}

void write_protein(const Protein& protein, const std::string& path, const ModelQuality* quality) {
  const std::string base = lowercase(path);
  std::string text;
  if (gemmi::iends_with(base, ".pdb") || gemmi::iends_with(base, ".ent"))
    text = to_pdb(protein);
  else if (gemmi::iends_with(base, ".cif") || gemmi::iends_with(base, ".mmcif"))
    text = to_mmcif(protein, quality);
  else
    throw std::invalid_argument("cannot tell the structure format of '" + path +
                                "' (use .pdb or .cif)");
  write_text_file(path, text);
}

}  // namespace fold::data
