// The HDF5 chain dataset (data/chain_dataset) and `fold prepare` / `fold inspect` on it.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "data/chain_dataset.h"
#include "data/msa.h"
#include "data/prepare_dataset.h"
#include "data/protein.h"
#include "data/residue_constants.h"
#include "tests/test_paths.h"
#include "tests/train_data_fixtures.h"

namespace fold::data {
namespace {

namespace fs = std::filesystem;
using fold::test::expect_parse_error;
using fold::test::overwrite_dataset;
using fold::test::replace_dataset;
using fold::test::write_real_dataset;
using fold::test::real_record;
using fold::test::remove_tree;
using fold::test::run_fold;
using fold::test::shared_data;
using fold::test::temp_path;
using nlohmann::json;

TEST(ChainDataset, RoundTripKeepsEveryField) {
  REQUIRE_2Q2K();
  const ChainRecord r = real_record();
  const fs::path path = temp_path("round_trip.h5");
  {
    ChainDatasetWriter w(path.string());
    w.add(r);
    EXPECT_FALSE(fs::exists(path)) << "nothing is visible before commit";
    w.commit();
  }
  EXPECT_FALSE(fs::exists(path.string() + ".partial"));
  const ChainDataset d(path.string());
  ASSERT_EQ(d.size(), 1u);
  const ChainEntry& e = d.entries()[0];
  EXPECT_EQ(e.id, "2q2k_A");
  EXPECT_EQ(e.length, 70);
  EXPECT_EQ(e.msa_depth, r.msa_depth());
  EXPECT_EQ(e.templates, 1);
  EXPECT_EQ(e.release_date, "2008-02-05");
  const ChainRecord back = d.read("2q2k_A");
  EXPECT_EQ(back.sequence, r.sequence);
  EXPECT_EQ(back.source, "2q2k.cif");
  EXPECT_EQ(back.method, r.method);
  EXPECT_FLOAT_EQ(back.resolution, r.resolution);
  for (const auto& [a, b] : {std::pair{back.aatype, r.aatype}, {back.residue_index, r.residue_index},
                             {back.atom_positions, r.atom_positions}, {back.atom_mask, r.atom_mask},
                             {back.b_factors, r.b_factors}, {back.msa, r.msa},
                             {back.deletion_matrix, r.deletion_matrix}, {back.msa_source, r.msa_source}})
    EXPECT_TRUE(torch::equal(a, b));
  EXPECT_EQ(back.msa_sources, r.msa_sources);
  ASSERT_TRUE(back.pairing_msa.defined());
  EXPECT_TRUE(torch::equal(back.pairing_msa, r.pairing_msa));
  EXPECT_TRUE(torch::equal(back.pairing_deletions, r.pairing_deletions));
  EXPECT_EQ(back.pairing_species, r.pairing_species);
  ASSERT_EQ(back.template_hits.size(), 1u);
  const TemplateHit& h = back.template_hits[0];
  EXPECT_EQ(h.name, "1abc_A some template");
  EXPECT_EQ(h.hit_sequence, "ACKD");
  EXPECT_EQ(h.query, "AC-D");
  EXPECT_EQ(h.indices_query, (std::vector<int>{0, 1, -1, 2}));
  EXPECT_EQ(h.indices_hit, (std::vector<int>{4, 5, 6, 7}));
  EXPECT_DOUBLE_EQ(h.e_value, 1.5e-120);
  EXPECT_FLOAT_EQ(h.sum_probs, 2.5f);
  remove_tree(path);
}

TEST(ChainDataset, RecordKeepsEachMsaRowsSourceFile) {
  REQUIRE_2Q2K();
  const ChainRecord r = real_record();
  std::vector<Msa> msas;
  for (const auto& name : r.msa_sources) msas.push_back(read_msa(shared_data("alignments/2q2k_A/" + name)));
  std::vector<int32_t> sources;
  const Msa merged = merge_msas(msas, &sources);
  ASSERT_EQ(r.msa_depth(), static_cast<int64_t>(merged.depth()));
  // uniprot_hits.sto is the pairing MSA, not one of the MSA's sources.
  EXPECT_EQ(r.msa_sources, (std::vector<std::string>{"bfd_uniclust_hits.a3m", "mgnify_hits.sto", "uniref90_hits.sto"}));
  for (int64_t i = 0; i < r.msa_depth(); ++i) {
    EXPECT_EQ(r.msa_source[i].item<int64_t>(), sources[i]);
    for (int64_t j = 0; j < r.length(); ++j) {
      const int code = rc::msa_char_to_id(merged.sequences[i][j]);
      ASSERT_EQ(r.msa[i][j].item<int64_t>(), code < 0 ? 20 : code) << "row " << i << " column " << j;
      ASSERT_EQ(r.deletion_matrix[i][j].item<int64_t>(), merged.deletion_matrix[i][j]);
    }
  }
}

TEST(ChainDataset, RejectsBadRecordsBeforeWriting) {
  REQUIRE_2Q2K();
  const ChainRecord good = real_record();
  const auto rejects = [&](const std::function<void(ChainRecord&)>& spoil, const std::string& needle) {
    ChainRecord r = good;
    r.atom_positions = good.atom_positions.clone();
    r.msa = good.msa.clone();
    spoil(r);
    try {
      r.check();
      ADD_FAILURE() << "accepted a record that should fail with '" << needle << "'";
    } catch (const std::invalid_argument& e) {
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    }
  };
  rejects(
      [](ChainRecord& r) {
        const int64_t observed = r.atom_mask.select(1, 1).nonzero()[0][0].item<int64_t>();
        r.atom_positions[observed][1][0] = std::nanf("");
      },
      "non-finite coordinates");
  // An unobserved atom's coordinates are never used, whatever they hold.
  ChainRecord unobserved = good;
  unobserved.atom_positions = good.atom_positions.clone();
  const int64_t missing = (good.atom_mask.select(1, 1) == 0).nonzero()[0][0].item<int64_t>();
  unobserved.atom_positions[missing][1][0] = std::nanf("");
  EXPECT_NO_THROW(unobserved.check());
  rejects([](ChainRecord& r) { r.msa = r.msa.narrow(1, 0, 60).contiguous(); }, "msa has shape");
  rejects([](ChainRecord& r) { r.msa[2][5] = 40; }, "msa holds a residue code above 21");
  rejects([](ChainRecord& r) { r.msa[0][0] = (r.msa[0][0].item<int>() + 1) % 20; }, "first row");
  rejects([](ChainRecord& r) { r.sequence[4] = 'W' == r.sequence[4] ? 'A' : 'W'; }, "disagree at residue 5");
  rejects([](ChainRecord& r) { r.pairing_species.pop_back(); }, "pairing_species has");
  rejects([](ChainRecord& r) { r.pairing_msa = r.pairing_msa.flip(0).contiguous(); }, "pairing MSA's first row");
  rejects([](ChainRecord& r) { r.pairing_deletions = r.pairing_deletions.to(at::kLong); }, "pairing_deletions has dtype");
}

// The UniProt hits keep each row's species for pairing (AF2's reading of UniProt names),
// the query's row first with none.
TEST(ChainDataset, RecordKeepsTheUniprotHitsApartWithTheirSpecies) {
  REQUIRE_2Q2K();
  const ChainRecord r = real_record();
  const Msa hits = merge_msas({read_msa(shared_data("alignments/2q2k_A/uniprot_hits.sto"))});
  ASSERT_TRUE(r.pairing_msa.defined());
  ASSERT_EQ(r.pairing_msa.size(0), static_cast<int64_t>(hits.depth()));
  ASSERT_EQ(r.pairing_species.size(), hits.depth());
  EXPECT_EQ(r.pairing_species[0], "");
  for (size_t i = 1; i < hits.depth(); ++i) {
    const std::string& name = hits.descriptions[i];
    const std::string species = name.substr(0, name.find('/')).substr(name.substr(0, name.find('/')).rfind('_') + 1);
    EXPECT_EQ(r.pairing_species[i], species) << name;
    for (int64_t j = 0; j < r.length(); ++j) {
      const int code = rc::msa_char_to_id(hits.sequences[i][j]);
      ASSERT_EQ(r.pairing_msa[i][j].item<int64_t>(), code < 0 ? 20 : code) << "row " << i;
      ASSERT_EQ(r.pairing_deletions[i][j].item<int64_t>(), hits.deletion_matrix[i][j]);
    }
  }
}

TEST(ChainDataset, ReportsCorruptedFilesAndGroupsWithFileAndChain) {
  REQUIRE_2Q2K();
  const fs::path path = temp_path("corrupt.h5");
  write_real_dataset(path);
  // Inconsistent shapes: atom_mask of 69 residues for a 70-residue chain.
  const fs::path shapes = temp_path("shapes.h5");
  fs::copy_file(path, shapes);
  overwrite_dataset(shapes, "chains/2q2k_A/atom_mask", {69, 37}, std::vector<float>(69 * 37, 1.0f));
  {
    const ChainDataset d(shapes.string());  // attributes still read
    const ParseError e = expect_parse_error([&] { d.read("2q2k_A"); });
    EXPECT_NE(std::string(e.what()).find("chain 2q2k_A: atom_mask has shape [69,37,]"), std::string::npos) << e.what();
  }
  // NaN coordinates of observed atoms.
  const fs::path nan = temp_path("nan.h5");
  fs::copy_file(path, nan);
  {
    const ChainRecord r = real_record();
    std::vector<float> pos(r.atom_positions.data_ptr<float>(), r.atom_positions.data_ptr<float>() + 70 * 37 * 3);
    const int64_t observed = r.atom_mask.select(1, 1).nonzero()[0][0].item<int64_t>();
    pos[(observed * 37 + 1) * 3] = std::nanf("");
    overwrite_dataset(nan, "chains/2q2k_A/atom_positions", {70, 37, 3}, pos);
    const ChainDataset d(nan.string());
    const ParseError e = expect_parse_error([&] { d.read("2q2k_A"); });
    EXPECT_NE(std::string(e.what()).find("non-finite coordinates"), std::string::npos) << e.what();
  }
  // Truncated: the file cut in half.
  const fs::path cut = temp_path("cut.h5");
  fs::copy_file(path, cut);
  fs::resize_file(cut, fs::file_size(cut) / 2);
  EXPECT_NE(std::string(expect_parse_error([&] { ChainDataset d(cut.string()); }).what()).find(cut.string()),
            std::string::npos);
  // Not HDF5 at all, and HDF5 that is not a chain dataset.
  const fs::path text = temp_path("text.h5");
  std::ofstream(text) << "not a dataset\n";
  EXPECT_NE(std::string(expect_parse_error([&] { ChainDataset d(text.string()); }).what()).find("not an HDF5 file"),
            std::string::npos);
  const fs::path other = temp_path("other.h5");
  H5Fclose(H5Fcreate(other.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT));
  EXPECT_NE(std::string(expect_parse_error([&] { ChainDataset d(other.string()); }).what()).find("not a chain dataset"),
            std::string::npos);
  for (const auto& p : {path, shapes, nan, cut, text, other}) remove_tree(p);
}

// The message of the ParseError that reading chain `id` of the dataset at `path` raises.
std::string read_error(const fs::path& path, const std::string& id) {
  const ChainDataset dataset(path.string());
  return expect_parse_error([&] { dataset.read(id); }).what();
}

// The same file read from memory (HDF5's core driver, as the fuzz target reads it) gives
// the same records; a dataset whose header claims more data than it stores is refused
// before anything is allocated.
TEST(ChainDataset, FileImageReadsAsTheFileAndOversizedClaimsAreRefused) {
  REQUIRE_2Q2K();
  const fs::path path = temp_path("image.h5");
  write_real_dataset(path);
  {
    // (Closed before the file is modified below: HDF5 refuses a second, writable open.)
    const ChainDataset from_file(path.string());
    const ChainDataset from_image("image.h5", fold::test::slurp(path.string()));
    ASSERT_EQ(from_image.size(), 1u);
    const ChainRecord a = from_file.read("2q2k_A"), b = from_image.read("2q2k_A");
    EXPECT_EQ(a.sequence, b.sequence);
    EXPECT_TRUE(at::equal(a.msa, b.msa));
    EXPECT_TRUE(at::equal(a.atom_positions, b.atom_positions));
    EXPECT_EQ(a.template_hits.size(), b.template_hits.size());
  }
  EXPECT_NE(std::string(expect_parse_error([] { ChainDataset d("junk.h5", "not hdf5"); }).what()).find("junk.h5"),
            std::string::npos);

  // An MSA of 2^40 rows, chunked, with no chunk written: 70 TB claimed, 0 bytes stored.
  const hsize_t chunk[2] = {1024, 70};
  const hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
  H5Pset_chunk(dcpl, 2, chunk);
  replace_dataset(path, "chains/2q2k_A/msa", H5T_STD_U8LE, {hsize_t{1} << 40, 70}, dcpl);
  H5Pclose(dcpl);
  const std::string claimed = read_error(path, "2q2k_A");
  EXPECT_NE(claimed.find("dataset 'msa' claims more data than the 0 bytes it stores"), std::string::npos) << claimed;
  remove_tree(path);
}

// String lists are fixed-length strings in checksummed chunks; HDF5's variable-length
// strings (kept in its unchecksummed global heap, where fuzz_chain_dataset found HDF5
// copying past its buffers) are refused before HDF5 reads them.
TEST(ChainDataset, VariableLengthStringListsAreRefused) {
  REQUIRE_2Q2K();
  const fs::path path = temp_path("vlen.h5");
  write_real_dataset(path);
  const hid_t type = H5Tcopy(H5T_C_S1);
  H5Tset_size(type, H5T_VARIABLE);
  const char* value = "bfd_uniclust_hits.a3m";
  replace_dataset(path, "chains/2q2k_A/msa_sources", type, {1}, H5P_DEFAULT, type, &value);
  H5Tclose(type);
  const std::string refused = read_error(path, "2q2k_A");
  EXPECT_NE(refused.find("dataset 'msa_sources' is not a list of fixed-length strings"), std::string::npos) << refused;
  remove_tree(path);
}

// A chain of unknown residues (more than 80% one type, AF2's filter) is refused with
// the reason; a few unknown residues are kept and counted.
TEST(ChainDataset, ChainsOfUnknownResiduesAreRefusedAFewAreCounted) {
  REQUIRE_2Q2K();
  Protein chain = read_protein(shared_data("mmcif/2q2k.cif"), {"A"});
  Protein unknown = chain;
  std::fill(unknown.aatype.begin(), unknown.aatype.end(), rc::kUnkRestype);
  try {
    make_chain_record("2q2k_A", unknown, "", nullptr);
    ADD_FAILURE() << "a chain of unknown residues was accepted";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("70 of 70 residues are 'X'"), std::string::npos) << e.what();
  }
  Protein some = chain;
  some.aatype[10] = some.aatype[20] = rc::kUnkRestype;
  std::vector<std::string> warnings;
  const ChainRecord r = make_chain_record("2q2k_A", some, "", &warnings);
  EXPECT_EQ(r.sequence[10], 'X');
  ASSERT_EQ(warnings.size(), 1u) << "no alignment folder: single-sequence MSA";
  const fs::path path = temp_path("unknown.h5");
  {
    ChainDatasetWriter w(path.string());
    w.add(r);
    w.commit();
  }
  EXPECT_EQ(ChainDataset(path.string()).entries()[0].unknown_residues, 2);
  remove_tree(path);
}

TEST(ChainDataset, WriterWithoutCommitLeavesTheDatasetUnchanged) {
  REQUIRE_2Q2K();
  const fs::path path = temp_path("uncommitted.h5");
  { ChainDatasetWriter(path.string()).add(real_record()); }
  EXPECT_FALSE(fs::exists(path));
  EXPECT_FALSE(fs::exists(path.string() + ".partial"));
}

// `fold prepare` on real mmCIF files and alignment folders, then `fold inspect`: every
// chain with its real length and merged MSA depth, single-sequence MSAs where no
// alignments exist; a rerun adds nothing; a corrupted file is reported, not fatal.
TEST(PrepareDataset, PrepareThenInspectDescribesTheInputs) {
  REQUIRE_2Q2K();
  const fs::path work = temp_path("prepare");
  const fs::path structures = work / "mmcif";
  fs::create_directories(structures);
  for (const char* f : {"2q2k.cif", "3zee.cif", "4i6p.cif"}) fs::copy_file(shared_data(std::string("mmcif/") + f), structures / f);
  const std::string out = (work / "train.h5").string();
  const std::string args = "prepare --mmcif-dir '" + structures.string() + "' --alignment-dir '" +
                           shared_data("alignments") + "' --out '" + out + "' --jobs 2";
  // An empty chain list (an empty @FILE) is refused, not read as "every chain".
  const fs::path empty_list = work / "none.txt";
  std::ofstream(empty_list) << "# no chains\n";
  const auto refused = run_fold(args + " --chains '@" + empty_list.string() + "'");
  EXPECT_NE(refused.code, 0);
  EXPECT_NE(refused.err.find("names no chain"), std::string::npos) << refused.err;
  EXPECT_FALSE(fs::exists(out));
  const auto first = run_fold(args);
  ASSERT_EQ(first.code, 0) << first.err;
  EXPECT_EQ(json::parse(first.out)["added"], 5);
  EXPECT_NE(first.err.find("chain 3zee_A: no alignments"), std::string::npos) << first.err;

  const auto inspected = run_fold("inspect '" + out + "' --max-records 100");
  ASSERT_EQ(inspected.code, 0) << inspected.err;
  const json j = json::parse(inspected.out);
  EXPECT_EQ(j["chains"], 5);
  EXPECT_TRUE(j["problems"].empty());
  std::map<std::string, json> by_id;
  for (const auto& c : j["chain_list"]) by_id[c["id"]] = c;
  for (const auto& [entry, chain] : {std::pair{"2q2k", "A"}, {"2q2k", "B"}, {"3zee", "A"}, {"4i6p", "A"}, {"4i6p", "B"}}) {
    const std::string id = std::string(entry) + "_" + chain;
    ASSERT_TRUE(by_id.count(id)) << id;
    const Protein p = read_protein(shared_data(std::string("mmcif/") + entry + ".cif"), {chain});
    EXPECT_EQ(by_id[id]["length"], p.num_residues()) << id;
    size_t depth = 1;
    const fs::path dir = shared_data("alignments/" + id);
    if (fs::exists(dir)) {
      std::vector<Msa> msas;
      std::vector<fs::path> files;
      for (const auto& f : fs::directory_iterator(dir))
        if ((f.path().extension() == ".a3m" || f.path().extension() == ".sto") &&
            f.path().filename() != "uniprot_hits.sto")  // the pairing MSA, kept apart
          files.push_back(f.path());
      std::sort(files.begin(), files.end());
      for (const auto& f : files) msas.push_back(read_msa(f.string()));
      depth = merge_msas(msas).depth();
      EXPECT_GT(depth, 1u);
    }
    EXPECT_EQ(by_id[id]["msa_depth"], depth) << id;
  }

  // A rerun converts nothing; a new corrupted file is reported and the good new file added.
  const auto bytes_before = fs::file_size(out);
  const auto second = run_fold(args);
  ASSERT_EQ(second.code, 0) << second.err;
  EXPECT_EQ(json::parse(second.out)["added"], 0);
  EXPECT_EQ(json::parse(second.out)["already_present"], 5);
  EXPECT_EQ(fs::file_size(out), bytes_before);

  const std::string cif = fold::test::slurp(shared_data("mmcif/4i6p.cif"));
  std::ofstream(structures / "9bad.cif") << cif.substr(0, cif.size() / 3) << "\n_atom_site.broken\n1 2 3\n";
  std::ofstream(structures / "9zzz.cif") << "data_9zzz\n#\n";
  fs::copy_file(shared_data("mmcif/3zee.cif"), structures / "1new.cif");
  const auto third = run_fold(args);
  EXPECT_EQ(third.code, 1) << "failures make the exit status 1";
  const json t = json::parse(third.out);
  EXPECT_EQ(t["added"], 1);
  EXPECT_EQ(t["added_chains"][0], "1new_A");
  std::set<std::string> failed_files;
  for (const auto& f : t["failed"]) failed_files.insert(fs::path(f["file"].get<std::string>()).filename().string());
  EXPECT_EQ(failed_files, (std::set<std::string>{"9bad.cif", "9zzz.cif"})) << t.dump(2);
  EXPECT_NE(third.err.find("not converted: "), std::string::npos);
  EXPECT_EQ(json::parse(run_fold("inspect '" + out + "'").out)["chains"], 6);
  remove_tree(work);
}

// fold prepare's options for <work>/mmcif and <work>/aln -> <work>/train.h5, no progress bar.
PrepareOptions options_in(const fs::path& work) {
  PrepareOptions o;
  o.structure_dir = (work / "mmcif").string();
  o.alignment_dir = (work / "aln").string();
  o.out = (work / "train.h5").string();
  o.progress = false;
  return o;
}

// Good and corrupt structures and alignments in one run: the good chains are converted,
// every bad file is listed with its reason (a chain whose alignment folder holds a corrupt
// file is not converted: its MSA would silently lack that file's rows).
TEST(PrepareDataset, MixedGoodAndCorruptInputsConvertTheGoodAndListTheBad) {
  REQUIRE_2Q2K();
  const fs::path work = temp_path("prepare_mixed");
  fs::create_directories(work / "mmcif");
  fs::copy_file(shared_data("mmcif/2q2k.cif"), work / "mmcif" / "2q2k.cif");
  const std::string cif = fold::test::slurp(shared_data("mmcif/4i6p.cif"));
  std::ofstream(work / "mmcif" / "8cut.cif") << cif.substr(0, cif.size() / 2);
  std::string junk;
  for (int i = 0; i < 2048; ++i) junk += static_cast<char>((i * 7919) % 256);
  std::ofstream(work / "mmcif" / "8bin.pdb", std::ios::binary) << junk;
  for (const char* chain : {"2q2k_A", "2q2k_B"}) {
    fs::create_directories(work / "aln" / chain);
    for (const auto& f : fs::directory_iterator(shared_data(std::string("alignments/") + chain)))
      fs::copy_file(f.path(), work / "aln" / chain / f.path().filename());
  }
  // 2q2k_B's a3m with one row cut short, as a write interrupted mid-file leaves it.
  const fs::path a3m = work / "aln" / "2q2k_B" / "bfd_uniclust_hits.a3m";
  const std::string text = fold::test::slurp(a3m.string());
  std::ofstream(a3m) << text.substr(0, text.size() - 10) << "\n";

  PrepareOptions o = options_in(work);
  std::ostringstream log;
  const PrepareSummary s = prepare_dataset(o, log);
  EXPECT_EQ(s.added, std::vector<std::string>{"2q2k_A"});
  std::map<std::string, std::string> reasons;
  for (const auto& f : s.failed) reasons[fs::path(f.file).filename().string()] = f.reason;
  ASSERT_EQ(reasons.size(), 3u) << log.str();
  EXPECT_FALSE(reasons["8cut.cif"].empty());
  EXPECT_FALSE(reasons["8bin.pdb"].empty());
  EXPECT_NE(reasons["bfd_uniclust_hits.a3m"].find("aligned columns after removing insertions"), std::string::npos)
      << reasons["bfd_uniclust_hits.a3m"];
  const ChainDataset written(o.out);
  ASSERT_EQ(written.size(), 1u);
  EXPECT_NO_THROW(written.read("2q2k_A"));
  remove_tree(work);
}

TEST(PrepareDataset, RejectsAlignmentsOfAnotherSequenceAndMissingFolders) {
  REQUIRE_2Q2K();
  const fs::path work = temp_path("prepare_mismatch");
  fs::create_directories(work / "mmcif");
  fs::create_directories(work / "aln" / "4i6p_A");
  fs::copy_file(shared_data("mmcif/4i6p.cif"), work / "mmcif" / "4i6p.cif");
  // 2q2k A's alignment filed under 4i6p A.
  fs::copy_file(shared_data("alignments/2q2k_A/bfd_uniclust_hits.a3m"), work / "aln" / "4i6p_A" / "bfd.a3m");
  PrepareOptions o = options_in(work);
  std::ostringstream log;
  const PrepareSummary s = prepare_dataset(o, log);
  EXPECT_EQ(s.added, std::vector<std::string>{"4i6p_B"});
  ASSERT_EQ(s.failed.size(), 1u);
  EXPECT_EQ(fs::path(s.failed[0].file).filename(), "bfd.a3m");
  EXPECT_NE(s.failed[0].reason.find("4i6p_A"), std::string::npos) << s.failed[0].reason;
  o.max_resolution = 1.0f;
  o.out = (work / "strict.h5").string();
  const PrepareSummary strict = prepare_dataset(o, log);
  EXPECT_TRUE(strict.added.empty());
  EXPECT_EQ(strict.filtered.size(), 2u) << "both chains resolved worse than 1 A";
  o.structure_dir = (work / "missing").string();
  EXPECT_THROW(prepare_dataset(o, log), std::invalid_argument);
  remove_tree(work);
}

}  // namespace
}  // namespace fold::data
