// Parameter import/export (fold/af2_params, fold/params_io, `fold import-params`) and
// `fold predict` end to end. Properties: round trip (AF2 npz -> native -> AF2-named
// tensors identical), rejects bad input naming the key, a real protein predicted from
// FASTA + MSAs gives structures gemmi reads back, templates from hhr + mmCIF reach the
// model and a saved feature batch predicts the same (round trip).
#include <gemmi/cif.hpp>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <map>
#include <set>

#include "data/fasta.h"
#include "data/msa.h"
#include "data/npz.h"
#include "data/protein.h"
#include "data/residue_constants.h"
#include "data/safetensors.h"
#include "fold/config.h"
#include "fold/model/af2_params.h"
#include "fold/model/alphafold.h"
#include "fold/model/params_io.h"
#include "fold/predict/prediction_run.h"
#include "test_paths.h"
#include "tests/hhr_text.h"

namespace fold {
namespace {

using test::run_fold;
using test::temp_path;

const std::vector<std::string> kTinyTemplates = {"model.template.enabled=true", "model.heads.tm.enabled=true"};

AlphaFold random_model(uint64_t seed) {
  torch::manual_seed(seed);
  AlphaFold m(AlphaFoldOptions::from_config(Config::load("tiny", kTinyTemplates)));
  torch::NoGradGuard g;
  for (auto& p : m->parameters()) p.normal_();
  return m;
}

// Weights a tenth of random_model's: predictions stay finite and vary with the seed.
AlphaFold tame_random_model(uint64_t seed) {
  AlphaFold m = random_model(seed);
  torch::NoGradGuard g;
  for (auto& p : m->parameters()) p.mul_(0.1);
  return m;
}

std::string set_args() {
  std::string s;
  for (const auto& o : kTinyTemplates) s += " --set " + o;
  return s;
}

TEST(Af2Params, EveryParameterMappedOnce) {
  AlphaFold m = random_model(0);
  std::set<std::string> names;
  for (const auto& e : af2::model_param_table(*m))
    for (const auto& n : e.names) EXPECT_TRUE(names.insert(n).second) << n << " mapped twice";
  for (const auto& p : m->named_parameters()) EXPECT_EQ(names.count(p.key()), 1u) << p.key() << " not mapped";
  EXPECT_EQ(names.size(), m->named_parameters().size());
}

TEST(Af2Params, ImportParamsRoundTripIsExact) {
  AlphaFold original = random_model(1);
  const auto arrays = af2::export_af2_params(*original);
  // Stacked blocks on axis 0, AF2's head split: [blocks, c_m, H, C].
  const auto& q = arrays.at("alphafold/alphafold_iteration/evoformer/evoformer_iteration/"
                            "msa_row_attention_with_pair_bias/attention//query_w");
  const auto& b = original->options.evoformer;
  EXPECT_EQ(q.sizes(), (std::vector<int64_t>{b.no_blocks(), b.block().c_m(), b.block().no_heads_msa(),
                                             b.block().c_hidden_msa_att()}));
  const auto npz = temp_path("params.npz"), out_dir = temp_path("native");
  data::write_npz(npz.string(), arrays);
  const auto r = run_fold("import-params '" + npz.string() + "' '" + out_dir.string() + "' --config tiny" + set_args());
  ASSERT_EQ(r.code, 0) << r.err;
  const auto native = out_dir / (npz.stem().string() + ".safetensors");
  ASSERT_TRUE(std::filesystem::exists(native)) << r.out;
  AlphaFold loaded = random_model(2);
  load_params(*loaded, native.string());
  const auto back = af2::export_af2_params(*loaded);
  ASSERT_EQ(back.size(), arrays.size());
  for (const auto& [key, t] : arrays) EXPECT_TRUE(torch::equal(back.at(key), t)) << key;
  test::remove_tree(out_dir);
  std::filesystem::remove(npz);
}

// AF-Multimer v3's .npz layout (OpenFold's import_weights, multimer): every parameter
// mapped once, under AF2's multimer names (relative encoding scope, fused triangle
// projections with the incoming halves swapped, the multimer IPA's head-split
// projections, quat_rigid, the template embedder's numbered pair linears), and a round
// trip through `fold import-params` is exact.
TEST(Af2Params, MultimerLayoutRoundTripIsExact) {
  torch::manual_seed(5);
  const Config config = Config::load("tiny_multimer");
  AlphaFold original(AlphaFoldOptions::from_config(config));
  {
    torch::NoGradGuard g;
    for (auto& p : original->parameters()) p.normal_();
  }
  std::set<std::string> names;
  for (const auto& e : af2::model_param_table(*original))
    for (const auto& n : e.names) EXPECT_TRUE(names.insert(n).second) << n << " mapped twice";
  EXPECT_EQ(names.size(), original->named_parameters().size());
  const auto arrays = af2::export_af2_params(*original);
  const std::string evo = "alphafold/alphafold_iteration/evoformer/";
  for (const std::string& key :
       {evo + "~_relative_encoding/position_activations//weights",
        evo + "evoformer_iteration/triangle_multiplication_incoming/projection//weights",
        evo + "template_embedding/single_template_embedding/template_pair_embedding_8//weights",
        evo + "template_embedding/single_template_embedding/template_embedding_iteration/"
              "triangle_multiplication_outgoing/center_norm//scale",
        evo + "template_embedding/output_linear//weights",
        std::string("alphafold/alphafold_iteration/structure_module/fold_iteration/quat_rigid/rigid//weights")})
    EXPECT_EQ(arrays.count(key), 1u) << key;
  // The IPA's scalar projections keep AF2's head axis: [c_s, H, C].
  const auto& o = original->options.structure_module;
  EXPECT_EQ(arrays
                .at("alphafold/alphafold_iteration/structure_module/fold_iteration/invariant_point_attention/"
                    "k_scalar_projection//weights")
                .sizes(),
            (std::vector<int64_t>{o.c_s(), o.no_heads_ipa(), o.c_ipa()}));
  // Incoming: AF2's first half is OpenFold's b, the second half of linear_ab_p.
  const auto& incoming = arrays.at(evo + "evoformer_iteration/triangle_multiplication_incoming/projection//bias")[0];
  const auto& ab = original->evoformer->blocks->at<evoformer::EvoformerBlockImpl>(0).pair_stack->tri_mul_in->linear_ab_p->bias;
  const int64_t h = ab.size(0) / 2;
  EXPECT_TRUE(torch::equal(incoming.narrow(0, 0, h), ab.narrow(0, h, h).detach()));
  const auto npz = temp_path("multimer.npz"), out_dir = temp_path("native_multimer");
  data::write_npz(npz.string(), arrays);
  const auto r = run_fold("import-params '" + npz.string() + "' '" + out_dir.string() + "' --config tiny_multimer");
  ASSERT_EQ(r.code, 0) << r.err;
  AlphaFold loaded(AlphaFoldOptions::from_config(config));
  load_params(*loaded, (out_dir / (npz.stem().string() + ".safetensors")).string());
  for (const auto& p : original->named_parameters())
    EXPECT_TRUE(torch::equal(loaded->named_parameters()[p.key()], p.value())) << p.key();
  test::remove_tree(out_dir);
  std::filesystem::remove(npz);
}

// `fold import-params` on a broken copy of a valid npz must fail naming `key`.
void expect_import_fails(const std::map<std::string, at::Tensor>& arrays, const std::string& key) {
  const auto npz = temp_path("broken.npz"), out_dir = temp_path("out");
  data::write_npz(npz.string(), arrays);
  const auto r = run_fold("import-params '" + npz.string() + "' '" + out_dir.string() + "' --config tiny" + set_args());
  EXPECT_NE(r.code, 0);
  EXPECT_NE(r.err.find(key), std::string::npos) << r.err;
  EXPECT_FALSE(std::filesystem::exists(out_dir / (npz.stem().string() + ".safetensors")));
  test::remove_tree(out_dir);
  std::filesystem::remove(npz);
}

TEST(Af2Params, BrokenNpzFailsNamingTheKey) {
  AlphaFold m = random_model(3);
  const auto good = af2::export_af2_params(*m);
  const std::string key = "alphafold/alphafold_iteration/structure_module/fold_iteration/affine_update//weights";
  auto missing = good;
  missing.erase(key);
  expect_import_fails(missing, key);
  auto misshaped = good;
  misshaped[key] = torch::zeros({3, 3});
  expect_import_fails(misshaped, key);
  auto extra = good;
  extra["alphafold/alphafold_iteration/evoformer/not_a_module//weights"] = torch::zeros({2});
  expect_import_fails(extra, "not_a_module");
  auto blocks = good;
  const std::string stacked = "alphafold/alphafold_iteration/evoformer/evoformer_iteration/pair_transition/"
                              "transition1//bias";
  blocks[stacked] = torch::cat({good.at(stacked), good.at(stacked)});
  expect_import_fails(blocks, "model.evoformer_stack.no_blocks");
}

TEST(ParamsIo, NativeCheckpointRejectsWrongModel) {
  AlphaFold m = random_model(4);
  const auto path = temp_path("w.safetensors");
  save_native_params(*m, path.string());
  AlphaFold other(AlphaFoldOptions::from_config(Config::load("tiny")));  // no templates, no TM head
  try {
    load_params(*other, path.string());
    FAIL() << "expected an error";
  } catch (const af2::ParamImportError& e) {
    EXPECT_NE(std::string(e.what()).find("template_embedder"), std::string::npos) << e.what();
    // The likeliest cause named: a _ptm model's parameters under a config without pTM.
    EXPECT_NE(std::string(e.what()).find("--config af2_model_1_ptm"), std::string::npos) << e.what();
  }
  std::filesystem::remove(path);
}

// The reverse, through the AF2 importer: a config with a pTM head and AF2 parameters
// without one.
TEST(Af2Params, PtmConfigWithPlainParametersNamesThePreset) {
  AlphaFold plain(AlphaFoldOptions::from_config(Config::load("tiny", {"model.template.enabled=true"})));
  const auto arrays = af2::export_af2_params(*plain);
  AlphaFold ptm = random_model(6);
  try {
    af2::load_af2_params(*ptm, arrays);
    FAIL() << "expected an error";
  } catch (const af2::ParamImportError& e) {
    EXPECT_NE(std::string(e.what()).find("preset without _ptm"), std::string::npos) << e.what();
  }
}

TEST(Predict, FromFastaAndMsasOnARealProtein) {
  const std::string fasta = test::shared_data("fasta/6kwc.fasta");
  const std::string a3m = test::shared_data("alignments/6KWC_1/bfd_uniref_hits.a3m");
  const std::string sto = test::shared_data("alignments/6KWC_1/mgnify_hits.sto");
  FOLD_REQUIRE_FILE(fasta);
  FOLD_REQUIRE_FILE(a3m);
  FOLD_REQUIRE_FILE(sto);
  AlphaFold m = tame_random_model(5);
  const auto params = temp_path("tiny.safetensors"), out = temp_path("pred");
  save_native_params(*m, params.string());
  const auto r = run_fold("predict --fasta '" + fasta + "' --msa '" + a3m + "' --msa '" + sto + "' --params '" +
                          params.string() + "' --config tiny" + set_args() + " --recycles 1 --out '" + out.string() +
                          "' --save-outputs '" + (out / "o.npz").string() + "'");
  ASSERT_EQ(r.code, 0) << r.err;
  const data::Protein pdb = data::read_protein((out / "6kwc.pdb").string());
  const data::Protein cif = data::read_protein((out / "6kwc.cif").string());
  const auto outputs = data::read_npz((out / "o.npz").string());
  const int64_t n = outputs.at("plddt").size(0);
  EXPECT_EQ(static_cast<int64_t>(pdb.num_residues()), n);
  EXPECT_EQ(cif.sequence(), pdb.sequence());
  EXPECT_NEAR(pdb.b_factors[0], outputs.at("plddt")[0].item<float>(), 0.01);
  const auto j = nlohmann::json::parse(test::slurp(out / "6kwc.json"));
  EXPECT_EQ(j.at("plddt").size(), static_cast<size_t>(n));
  EXPECT_EQ(j.at("recycles").get<int>(), 1);
  EXPECT_TRUE(j.contains("ptm"));
  EXPECT_GT(j.at("peak_memory_bytes").get<int64_t>(), 0);
  EXPECT_TRUE(j.at("timings_seconds").contains("evoformer"));
  EXPECT_TRUE(nlohmann::json::parse(test::slurp(out / "timings.json")).contains("evoformer"));

  // The PAE in AlphaFold DB's schema, as Python's json reads it: a list of one object, an
  // N x N matrix of numbers to one decimal, and its maximum.
  const std::string pae = (out / "6kwc_pae.json").string();
  ASSERT_TRUE(std::filesystem::exists(pae));
  const std::string check =
      "python3 -c \"import json; d = json.load(open('" + pae + "')); assert isinstance(d, list) and len(d) == 1; "
      "e = d[0]; m = e['predicted_aligned_error']; assert len(m) == " + std::to_string(n) +
      " and all(len(r) == len(m) for r in m); "
      "assert all(isinstance(v, (int, float)) and round(v, 1) == v for r in m for v in r); "
      "assert isinstance(e['max_predicted_aligned_error'], float) and max(max(r) for r in m) <= "
      "e['max_predicted_aligned_error'] + 0.05\"";
  EXPECT_EQ(std::system(check.c_str()), 0) << check;

  // The mmCIF's ModelCIF QA metrics, read back by gemmi: pLDDT per residue (equal to the
  // JSON's), its mean, and pTM.
  gemmi::cif::Document doc = gemmi::cif::read_file((out / "6kwc.cif").string());
  gemmi::cif::Block& block = doc.blocks.at(0);
  gemmi::cif::Table local = block.find("_ma_qa_metric_local.", {"label_seq_id", "metric_value"});
  ASSERT_EQ(local.length(), static_cast<size_t>(n));
  for (size_t i = 0; i < local.length(); ++i) {
    EXPECT_EQ(std::stoi(local[i][0]), static_cast<int>(i) + 1);
    EXPECT_NEAR(std::stod(local[i][1]), j.at("plddt")[i].get<double>(), 0.006);
  }
  gemmi::cif::Table global = block.find("_ma_qa_metric_global.", {"metric_id", "metric_value"});
  ASSERT_EQ(global.length(), 2u);
  EXPECT_NEAR(std::stod(global[0][1]), j.at("mean_plddt").get<double>(), 0.006);
  EXPECT_NEAR(std::stod(global[1][1]), j.at("ptm").get<double>(), 6e-5);

  // The same alignments through OpenFold's folder layout give the same prediction: the
  // a3m as BFD's, the Stockholm file under a name without AF2's depth limit (so nothing is
  // cut), and an hhr that is not used without an mmCIF folder.
  const auto layout = out / "alignments";
  std::filesystem::create_directories(layout);
  std::filesystem::create_symlink(a3m, layout / "bfd_uniref_hits.a3m");
  std::filesystem::create_symlink(sto, layout / "other_hits.sto");
  std::filesystem::create_symlink(std::filesystem::path(a3m).parent_path() / "hhsearch_output.hhr",
                                  layout / "hhsearch_output.hhr");
  const auto dir = run_fold("predict --fasta '" + fasta + "' --alignment-dir '" + layout.string() + "' --params '" +
                            params.string() +
                            "' --config tiny" + set_args() + " --recycles 1 --out '" + (out / "dir").string() +
                            "' --save-outputs '" + (out / "dir.npz").string() + "'");
  ASSERT_EQ(dir.code, 0) << dir.err;
  EXPECT_NE(dir.err.find("not used without --template-mmcif-dir"), std::string::npos) << dir.err;
  EXPECT_TRUE(torch::equal(data::read_npz((out / "dir.npz").string()).at("final_atom_positions"),
                           outputs.at("final_atom_positions")));

  // The bf16 trunk (structure module and heads in fp32) stays near the fp32 prediction.
  const auto bf16 = run_fold("predict --fasta '" + fasta + "' --msa '" + a3m + "' --msa '" + sto + "' --params '" +
                             params.string() + "' --config tiny" + set_args() + " --recycles 1 --precision bf16 --out '" +
                             out.string() + "' --save-outputs '" + (out / "bf16.npz").string() + "'");
  ASSERT_EQ(bf16.code, 0) << bf16.err;
  const auto low = data::read_npz((out / "bf16.npz").string());
  const auto mask = outputs.at("final_atom_mask");
  const double rms = torch::sqrt(((low.at("final_atom_positions") - outputs.at("final_atom_positions")).square().sum(-1) *
                                  mask).sum() / mask.sum()).item<double>();
  std::cout << "[ bf16 ] final atom RMS vs fp32 " << rms << " A, max |d pLDDT| "
            << (low.at("plddt") - outputs.at("plddt")).abs().max().item<double>() << "\n";
  EXPECT_LT(rms, 0.05);
  EXPECT_LT((low.at("plddt") - outputs.at("plddt")).abs().max().item<double>(), 0.5);
  test::remove_tree(out);
  std::filesystem::remove(params);
}

// Several queries, from a FASTA of several records or a folder of FASTA files, are each
// predicted as they would be alone (the same atoms), with the model loaded once and each
// query's alignments and files in its own folder; inputs that name one query's files are
// refused before the model loads.
TEST(Predict, SeveralQueriesEachPredictAsAloneWithTheModelLoadedOnce) {
  namespace fs = std::filesystem;
  const std::string kwc = test::shared_data("alignments/6KWC_1"), q2k = test::shared_data("alignments/2q2k_A");
  FOLD_REQUIRE_FILE(kwc + "/bfd_uniref_hits.a3m");
  FOLD_REQUIRE_FILE(q2k + "/bfd_uniclust_hits.a3m");
  const auto out = temp_path("queries"), params = out / "tiny.safetensors", layout = out / "alignments";
  fs::create_directories(layout);
  AlphaFold m = tame_random_model(7);
  save_native_params(*m, params.string());
  fs::create_directory_symlink(kwc, layout / "6KWC_1");
  fs::create_directory_symlink(q2k, layout / "2q2k_A");
  // Each query is its alignments' first row.
  const std::string records = ">6KWC_1 first\n" + data::read_fasta(kwc + "/bfd_uniref_hits.a3m").at(0).sequence +
                              "\n>2q2k_A second\n" + data::read_fasta(q2k + "/bfd_uniclust_hits.a3m").at(0).sequence +
                              "\n";
  std::ofstream(out / "two.fasta") << records;
  const std::string common = " --params '" + params.string() + "' --config tiny" + set_args() + " --recycles 0";

  const auto both = run_fold("predict --fasta '" + (out / "two.fasta").string() + "' --alignment-dir '" +
                             layout.string() + "' --out '" + (out / "both").string() + "'" + common);
  ASSERT_EQ(both.code, 0) << both.err;
  EXPECT_NE(both.out.find("6KWC_1/6KWC_1.pdb"), std::string::npos) << both.out;
  EXPECT_NE(both.out.find("2q2k_A/2q2k_A.pdb"), std::string::npos) << both.out;
  const auto load_seconds = [&](const char* name) {
    return nlohmann::json::parse(test::slurp(out / "both" / name / "timings.json")).at("load_params").get<double>();
  };
  EXPECT_EQ(load_seconds("6KWC_1"), load_seconds("2q2k_A")) << "one load, shared by both queries";

  std::ofstream(out / "alone.fasta") << records.substr(records.find(">2q2k_A"));
  const auto alone = run_fold("predict --fasta '" + (out / "alone.fasta").string() + "' --alignment-dir '" +
                              (layout / "2q2k_A").string() + "' --out '" + (out / "alone").string() + "'" + common);
  ASSERT_EQ(alone.code, 0) << alone.err;
  EXPECT_EQ(data::read_protein((out / "both" / "2q2k_A" / "2q2k_A.pdb").string()).atom_positions,
            data::read_protein((out / "alone" / "alone.pdb").string()).atom_positions);

  // A folder of one-record files: each named after its file.
  fs::create_directories(out / "folder");
  std::ofstream(out / "folder" / "6KWC_1.fasta") << records.substr(0, records.find(">2q2k_A"));
  fs::copy_file(out / "alone.fasta", out / "folder" / "2q2k_A.fa");
  const auto folder = run_fold("predict --fasta '" + (out / "folder").string() + "' --alignment-dir '" +
                               layout.string() + "' --out '" + (out / "from_folder").string() + "'" + common);
  ASSERT_EQ(folder.code, 0) << folder.err;
  for (const char* name : {"6KWC_1", "2q2k_A"}) {
    const std::string pdb = std::string(name) + "/" + name + ".pdb";
    EXPECT_EQ(data::read_protein((out / "from_folder" / pdb).string()).atom_positions,
              data::read_protein((out / "both" / pdb).string()).atom_positions)
        << name;
  }

  const auto with_msa = run_fold("predict --fasta '" + (out / "two.fasta").string() + "' --msa '" + kwc +
                                 "/bfd_uniref_hits.a3m' --out '" + (out / "bad").string() + "'" + common);
  EXPECT_NE(with_msa.code, 0);
  EXPECT_NE(with_msa.err.find("2 queries: --msa and --templates give one query's inputs"), std::string::npos)
      << with_msa.err;
  fs::remove(layout / "2q2k_A");
  const auto missing = run_fold("predict --fasta '" + (out / "two.fasta").string() + "' --alignment-dir '" +
                                layout.string() + "' --out '" + (out / "bad").string() + "'" + common);
  EXPECT_NE(missing.code, 0);
  EXPECT_NE(missing.err.find("no alignment folder " + (layout / "2q2k_A").string()), std::string::npos) << missing.err;
  EXPECT_FALSE(fs::exists(out / "bad" / "6KWC_1")) << "refused before any query ran";
  test::remove_tree(out);
}

// A complex from FASTA (multimer model): three records, the first and third one
// sequence. AF2 orders the chains by entity, so the structure has chains A and B (the
// copies) and C; the JSON names each chain's FASTA record and holds ipTM; the batch's
// chain features follow; the first MSA row pairs the queries, and the species both
// UniProt hit lists share pairs their rows. A chain folder without uniprot_hits.sto is
// refused, naming the chain.
TEST(Predict, ComplexFromFastaPairsChainsAndWritesThemInEntityOrder) {
  namespace fs = std::filesystem;
  const auto out = temp_path("complex"), aln = out / "alignments", params = out / "tiny_multimer.safetensors";
  const std::string h = "MKTAYIAKQRQISFVKSHFSRQ", g = "GSHMLEDPVDAFQ";
  fs::create_directories(aln / "h1");
  fs::create_directories(aln / "g1");
  std::ofstream(out / "complex.fasta") << ">h1\n" << h << "\n>g1\n" << g << "\n>h2\n" << h << "\n";
  std::ofstream(aln / "h1" / "uniref90_hits.a3m") << ">h1\n" << h << "\n>u1\nMKTAYIAKQRQISFVKSHFSKQ\n";
  std::ofstream(aln / "g1" / "uniref90_hits.a3m") << ">g1\n" << g << "\n>u2\nGSHMLEDPVDAFR\n";
  std::ofstream(aln / "h1" / "uniprot_hits.sto")
      << "# STOCKHOLM 1.0\n\nh1 " << h << "\ntr|A0A000AAA1|A0A000AAA1_HUMAN MKTAYIAKQRQISFVKSHFSKA\n"
      << "tr|A0A000AAA2|A0A000AAA2_MOUSE MKSAYIAKQRQISFVKSHFSRQ\n//\n";
  std::ofstream(aln / "g1" / "uniprot_hits.sto")
      << "# STOCKHOLM 1.0\n\ng1 " << g << "\nsp|P00001|ABC_HUMAN GSHMLEDPVDAYQ\n//\n";
  torch::manual_seed(10);
  AlphaFold m(AlphaFoldOptions::from_config(Config::load("tiny_multimer")));
  {
    torch::NoGradGuard no_grad;
    for (auto& p : m->parameters()) p.normal_(0.0, 0.1);
  }
  save_native_params(*m, params.string());
  const std::string common = " --params '" + params.string() + "' --config tiny_multimer --recycles 1";
  const auto res = run_fold("predict --fasta '" + (out / "complex.fasta").string() + "' --alignment-dir '" +
                            aln.string() + "' --out '" + (out / "pred").string() + "' --save-features '" +
                            (out / "batch.npz").string() + "'" + common);
  ASSERT_EQ(res.code, 0) << res.err;
  auto cif = gemmi::cif::read_file((out / "pred" / "complex.cif").string());
  std::map<std::string, std::set<std::string>> residues_of;
  for (auto row : cif.sole_block().find("_atom_site.", {"auth_asym_id", "auth_seq_id"})) residues_of[row[0]].insert(row[1]);
  ASSERT_EQ(residues_of.size(), 3u);
  EXPECT_EQ(residues_of.at("A").size(), h.size());
  EXPECT_EQ(residues_of.at("B").size(), h.size());
  EXPECT_EQ(residues_of.at("C").size(), g.size());
  const auto j = nlohmann::json::parse(test::slurp(out / "pred" / "complex.json"));
  EXPECT_TRUE(j.contains("iptm"));
  ASSERT_EQ(j.at("chains").size(), 3u);
  EXPECT_EQ(j.at("chains")[0].at("fasta_id"), "h1");
  EXPECT_EQ(j.at("chains")[1].at("fasta_id"), "h2");
  EXPECT_EQ(j.at("chains")[2].at("fasta_id"), "g1");
  EXPECT_EQ(j.at("chains")[2].at("sequence"), g);

  const data::FeatureDict batch = data::read_npz((out / "batch.npz").string());
  const auto n = static_cast<int64_t>(h.size()), k = static_cast<int64_t>(g.size());
  const auto chain_feature = [&](int64_t a, int64_t b, int64_t c) {
    return torch::cat({torch::full({n}, a), torch::full({n}, b), torch::full({k}, c)}).to(torch::kLong);
  };
  EXPECT_TRUE(batch.at("asym_id").select(-1, 0).equal(chain_feature(1, 2, 3)));
  EXPECT_TRUE(batch.at("entity_id").select(-1, 0).equal(chain_feature(1, 1, 2)));
  EXPECT_TRUE(batch.at("sym_id").select(-1, 0).equal(chain_feature(1, 2, 1)));
  // The true (uncorrupted) MSA's first centre is the queries' row. HUMAN pairs a row
  // across all three chains; MOUSE, in one entity's hits only, pairs its two copies over
  // gaps in the third chain.
  const torch::Tensor true_msa = batch.at("true_msa").select(-1, 0);
  EXPECT_TRUE(true_msa[0].equal(batch.at("aatype").select(-1, 0)));
  std::set<std::string> rows;
  for (int64_t r = 1; r < true_msa.size(0); ++r) {
    std::string row;
    for (int64_t i = 0; i < 2 * n + k; ++i) {
      const int id = true_msa[r][i].item<int>();
      row += id < 20 ? data::rc::restypes[id] : id == 20 ? 'X' : '-';
    }
    rows.insert(row);
  }
  const std::string human = "MKTAYIAKQRQISFVKSHFSKA", mouse = "MKSAYIAKQRQISFVKSHFSRQ";
  EXPECT_TRUE(rows.count(human + human + "GSHMLEDPVDAYQ")) << "no row pairs the HUMAN hits of both entities";
  EXPECT_TRUE(rows.count(mouse + mouse + std::string(k, '-'))) << "no row pairs the MOUSE hits of the copies";

  fs::remove(aln / "g1" / "uniprot_hits.sto");
  const auto refused = run_fold("predict --fasta '" + (out / "complex.fasta").string() + "' --alignment-dir '" +
                                aln.string() + "' --out '" + (out / "bad").string() + "'" + common);
  EXPECT_NE(refused.code, 0);
  EXPECT_NE(refused.err.find("chain g1: no uniprot_hits.sto"), std::string::npos) << refused.err;
  test::remove_tree(out);
}

// --models runs each model (AF2's params_model_N files from --params-dir) and ranks them
// as AF2 does: ranking_debug.json holds each model's mean pLDDT and the order best first,
// ranked_<i>.pdb is the i-th model's structure, and timings.json has each model's stages.
TEST(Predict, SeveralModelsAreRankedByMeanPlddtAsAf2Does) {
  namespace fs = std::filesystem;
  const std::string a3m = test::shared_data("alignments/2q2k_A/bfd_uniclust_hits.a3m");
  FOLD_REQUIRE_FILE(a3m);
  const auto out = temp_path("models"), params = out / "params";
  fs::create_directories(params);
  for (int n = 1; n <= 5; ++n) {
    AlphaFold m = tame_random_model(20 + n);
    save_native_params(*m, (params / ("params_model_" + std::to_string(n) + ".safetensors")).string());
  }
  std::ofstream(out / "q.fasta") << ">q\n" << data::read_fasta(a3m).at(0).sequence << "\n";
  const auto r = run_fold("predict --fasta '" + (out / "q.fasta").string() + "' --msa '" + a3m + "' --params-dir '" +
                          params.string() + "' --models 1,2,3,4,5 --config tiny" + set_args() +
                          " --recycles 0 --quiet --out '" + (out / "pred").string() + "'");
  ASSERT_EQ(r.code, 0) << r.err;
  const auto ranking = nlohmann::json::parse(test::slurp(out / "pred" / "ranking_debug.json"));
  std::vector<std::pair<double, std::string>> expected;
  for (int n = 1; n <= 5; ++n) {
    const std::string model = "model_" + std::to_string(n);
    const auto report = nlohmann::json::parse(test::slurp(out / "pred" / ("q_" + model + ".json")));
    EXPECT_EQ(report.at("params"), (params / ("params_model_" + std::to_string(n) + ".safetensors")).string());
    EXPECT_DOUBLE_EQ(ranking.at("plddts").at(model).get<double>(), report.at("mean_plddt").get<double>());
    expected.emplace_back(-report.at("mean_plddt").get<double>(), model);
  }
  std::sort(expected.begin(), expected.end());
  ASSERT_EQ(ranking.at("order").size(), 5u);
  for (size_t i = 0; i < expected.size(); ++i) {
    EXPECT_EQ(ranking.at("order")[i], expected[i].second);
    EXPECT_EQ(test::slurp(out / "pred" / ("ranked_" + std::to_string(i) + ".pdb")),
              test::slurp(out / "pred" / ("q_" + expected[i].second + ".pdb")));
  }
  EXPECT_NE(expected.front().first, expected.back().first) << "the models' confidences differ";
  const auto timings = nlohmann::json::parse(test::slurp(out / "pred" / "timings.json"));
  for (int n = 1; n <= 5; ++n) EXPECT_TRUE(timings.contains("features_model_" + std::to_string(n))) << timings;
  // A missing model file is named before anything runs.
  fs::remove(params / "params_model_4.safetensors");
  const auto missing = run_fold("predict --fasta '" + (out / "q.fasta").string() + "' --msa '" + a3m +
                                "' --params-dir '" + params.string() + "' --models 1,4 --config tiny" + set_args() +
                                " --out '" + (out / "bad").string() + "'");
  EXPECT_NE(missing.code, 0);
  EXPECT_NE(missing.err.find("no params_model_4.npz"), std::string::npos) << missing.err;
  test::remove_tree(out);
}

// --relax runs after the prediction's files are written: a structure relaxation refuses
// (an untrained model's collapsed one) fails the run with the reason, and loses nothing.
TEST(Predict, RelaxThatCannotRunFailsTheRunAndKeepsThePrediction) {
  namespace fs = std::filesystem;
  const std::string a3m = test::shared_data("alignments/2q2k_A/bfd_uniclust_hits.a3m");
  FOLD_REQUIRE_FILE(a3m);
  const auto out = temp_path("relax"), params = out / "tiny.safetensors";
  fs::create_directories(out);
  save_native_params(*random_model(7), params.string());
  std::ofstream(out / "q.fasta") << ">q\n" << data::read_fasta(a3m).at(0).sequence << "\n";
  const auto r = run_fold("predict --fasta '" + (out / "q.fasta").string() + "' --msa '" + a3m + "' --params '" +
                          params.string() + "' --config tiny" + set_args() + " --recycles 0 --relax --quiet --out '" +
                          (out / "pred").string() + "'");
  EXPECT_NE(r.code, 0);
  EXPECT_NE(r.err.find("--relax failed (the unrelaxed predictions are written)"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("collapsed"), std::string::npos) << r.err;
  EXPECT_TRUE(fs::exists(out / "pred" / "q.pdb"));
  EXPECT_FALSE(fs::exists(out / "pred" / "q_relaxed.pdb"));
  const auto report = nlohmann::json::parse(test::slurp(out / "pred" / "q.json"));
  EXPECT_NE(report.at("relax_error").get<std::string>().find("collapsed"), std::string::npos);
  test::remove_tree(out);
}

// Templates from hhr hits + mmCIF reach the model, and the batch saved with
// --save-features predicts the same through --features (round trip).
TEST(Predict, WithTemplatesAndSavedFeaturesRoundTrip) {
  const std::string a3m = test::shared_data("alignments/2q2k_A/bfd_uniclust_hits.a3m");
  const std::string mmcif = test::shared_data("mmcif");
  FOLD_REQUIRE_FILE(a3m);
  FOLD_REQUIRE_FILE(mmcif + "/2q2k.cif");
  const data::Msa msa = data::read_msa(a3m);
  std::string seq;
  for (char c : msa.sequences.at(0))
    if (c != '-') seq += c;
  const auto fasta = temp_path("2q2k_A.fasta"), hhr = temp_path("hits.hhr"), out = temp_path("pred");
  std::ofstream(fasta) << ">2q2k_A\n" << seq << "\n";
  std::ofstream(hhr) << test::hhr_text(seq, {{"2Q2K_B", 60, 20, seq.substr(20), seq.substr(20), 20},
                                             {"9ZZZ_A", 50, 0, seq.substr(0, 30), seq.substr(0, 30), 0}});
  AlphaFold m = tame_random_model(7);
  const auto params = temp_path("tiny.safetensors");
  save_native_params(*m, params.string());
  const std::string common = " --params '" + params.string() + "' --config tiny" + set_args() +
                             " --set data.common.use_templates=true --recycles 1 --out '" + out.string() + "'";
  const auto r = run_fold("predict --fasta '" + fasta.string() + "' --msa '" + a3m + "' --templates '" +
                          hhr.string() + "' --template-mmcif-dir '" + mmcif + "'" + common + " --save-features '" +
                          (out / "f.npz").string() + "' --save-outputs '" + (out / "a.npz").string() + "'");
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.err.find("template skipped: 9ZZZ_A"), std::string::npos) << r.err;
  const auto j = nlohmann::json::parse(test::slurp(out / (fasta.stem().string() + ".json")));
  EXPECT_EQ(j.at("templates"), nlohmann::json::array({"2q2k_B"}));
  EXPECT_EQ(j.at("skipped_templates").size(), 1u);
  const auto features = data::read_npz((out / "f.npz").string());
  EXPECT_EQ(features.at("template_aatype").size(0), 1);

  const auto again = run_fold("predict --features '" + (out / "f.npz").string() + "'" + common +
                              " --save-outputs '" + (out / "b.npz").string() + "'");
  ASSERT_EQ(again.code, 0) << again.err;
  const auto a = data::read_npz((out / "a.npz").string()), b = data::read_npz((out / "b.npz").string());
  for (const char* key : {"final_atom_positions", "plddt", "pair"})
    EXPECT_TRUE(torch::equal(a.at(key), b.at(key))) << key;
  // The template changes the prediction: without it the pair representation differs.
  const auto none = run_fold("predict --fasta '" + fasta.string() + "' --msa '" + a3m + "'" + common +
                             " --save-outputs '" + (out / "c.npz").string() + "'");
  ASSERT_EQ(none.code, 0) << none.err;
  EXPECT_FALSE(torch::allclose(a.at("pair"), data::read_npz((out / "c.npz").string()).at("pair")));

  // A damaged batch (a feature missing, of the wrong shape, or holding a NaN) is refused
  // before the model runs with one message naming the file and the feature, never the
  // C++ backtrace a c10::Error carries.
  struct Damage {
    std::string what, expected;
    std::function<void(data::FeatureDict&)> apply;
  };
  const std::vector<Damage> damages = {
      {"no recycling axis", "feature 'residue_index' has shape",
       [](data::FeatureDict& b) { b["residue_index"] = b.at("residue_index").select(-1, 0); }},
      {"missing", "missing input feature 'msa_mask'", [](data::FeatureDict& b) { b.erase("msa_mask"); }},
      {"wrong size", "feature 'msa_feat' has shape",
       [](data::FeatureDict& b) { b["msa_feat"] = b.at("msa_feat").narrow(2, 0, 48).contiguous(); }},
      {"NaN", "feature 'target_feat' holds 1 NaN or infinite value",
       [](data::FeatureDict& b) {
         b["target_feat"] = b.at("target_feat").clone();
         b["target_feat"].view(-1)[3] = std::nan("");
       }},
  };
  for (const Damage& d : damages) {
    auto broken = features;
    d.apply(broken);
    data::write_npz((out / "broken.npz").string(), broken);
    const auto bad = run_fold("predict --features '" + (out / "broken.npz").string() + "'" + common);
    EXPECT_EQ(bad.code, 1) << d.what;
    EXPECT_NE(bad.err.find((out / "broken.npz").string() + ": " + d.expected), std::string::npos) << d.what << ": "
                                                                                                  << bad.err;
    EXPECT_EQ(std::count(bad.err.begin(), bad.err.end(), '\n'), 1) << d.what << ": one line\n" << bad.err;
    EXPECT_EQ(bad.err.find("Exception raised from"), std::string::npos) << bad.err;
  }
  test::remove_tree(out);
  for (const auto& p : {fasta, hhr, params}) std::filesystem::remove(p);
}

// AF-Multimer through `fold predict --features`: a two-chain batch (6 and 5 residues,
// numbered from 0 in each, two templates) under tiny_multimer writes one chain per
// asym_id, A and B, which gemmi reads back, and the JSON carries ipTM and the ranking
// confidence 0.8 ipTM + 0.2 pTM.
TEST(Predict, MultimerFeaturesGiveOneChainPerAsymIdAndInterfaceScores) {
  constexpr int64_t n = 11, first = 6, s = 5, e = 7, t = 2, r = 2;
  torch::manual_seed(9);
  const auto per_iteration = [&](const torch::Tensor& x) {
    std::vector<int64_t> shape = x.sizes().vec();
    shape.push_back(r);
    return x.unsqueeze(-1).expand(shape).contiguous();
  };
  const auto aatype = torch::randint(0, 20, {n});
  const auto chain = torch::cat({torch::ones({first}), torch::full({n - first}, 2)}).to(torch::kLong);
  data::FeatureDict batch = {
      {"aatype", aatype},
      {"target_feat", torch::one_hot(aatype, 21).to(torch::kFloat)},
      {"residue_index", torch::cat({torch::arange(first), torch::arange(n - first)})},
      {"asym_id", chain},
      {"entity_id", chain},
      {"sym_id", torch::ones({n}, torch::kLong)},
      {"seq_mask", torch::ones({n})},
      {"msa_feat", torch::rand({s, n, 49})},
      {"msa_mask", torch::ones({s, n})},
      {"extra_msa", torch::randint(0, 23, {e, n})},
      {"extra_msa_mask", torch::ones({e, n})},
      {"extra_deletion_matrix", torch::randint(0, 4, {e, n}).to(torch::kFloat)},
      {"template_aatype", torch::randint(0, 22, {t, n})},
      {"template_all_atom_positions", torch::randn({t, n, 37, 3}) * 5},
      {"template_all_atom_mask", torch::ones({t, n, 37})},
  };
  for (auto& [name, x] : batch) x = per_iteration(x);
  const auto out = temp_path("multimer_pred"), features = temp_path("multimer_features.npz"),
             params = temp_path("tiny_multimer.safetensors");
  data::write_npz(features.string(), batch);
  torch::manual_seed(10);
  AlphaFold m(AlphaFoldOptions::from_config(Config::load("tiny_multimer")));
  {
    torch::NoGradGuard g;
    for (auto& p : m->parameters()) p.normal_(0.0, 0.1);
  }
  save_native_params(*m, params.string());
  const auto res = run_fold("predict --features '" + features.string() + "' --params '" + params.string() +
                            "' --config tiny_multimer --out '" + out.string() + "'");
  ASSERT_EQ(res.code, 0) << res.err;
  const std::string stem = features.stem().string();
  auto cif = gemmi::cif::read_file((out / (stem + ".cif")).string());
  std::map<std::string, std::set<std::string>> residues_of;  // chain -> residue numbers
  for (auto row : cif.sole_block().find("_atom_site.", {"auth_asym_id", "auth_seq_id"}))
    residues_of[row[0]].insert(row[1]);
  ASSERT_EQ(residues_of.size(), 2u);
  EXPECT_EQ(residues_of.at("A").size(), static_cast<size_t>(first));
  EXPECT_EQ(residues_of.at("B").size(), static_cast<size_t>(n - first));
  const auto j = nlohmann::json::parse(test::slurp(out / (stem + ".json")));
  EXPECT_NEAR(j.at("ranking_confidence").get<double>(), 0.8 * j.at("iptm").get<double>() + 0.2 * j.at("ptm").get<double>(),
              1e-6);
  // Each chain in the JSON: its name, sequence and mean pLDDT (the mean of its residues').
  const auto& chains = j.at("chains");
  ASSERT_EQ(chains.size(), 2u);
  const std::string sequence = j.at("sequence").get<std::string>();
  const auto plddt = j.at("plddt").get<std::vector<double>>();
  for (size_t c = 0; c < 2; ++c) {
    const size_t begin = c == 0 ? 0 : static_cast<size_t>(first), end = c == 0 ? static_cast<size_t>(first) : plddt.size();
    EXPECT_EQ(chains[c].at("id").get<std::string>(), c == 0 ? "A" : "B");
    EXPECT_EQ(chains[c].at("sequence").get<std::string>(), sequence.substr(begin, end - begin));
    double sum = 0;
    for (size_t i = begin; i < end; ++i) sum += plddt[i];
    EXPECT_NEAR(chains[c].at("mean_plddt").get<double>(), sum / static_cast<double>(end - begin), 1e-4);
  }

  // Several multimer models are ranked as AF2 ranks them: by ipTM+pTM, best first.
  const auto dir = out / "params";
  std::filesystem::create_directories(dir);
  for (int k = 1; k <= 2; ++k) {
    torch::NoGradGuard g;
    for (auto& p : m->parameters()) p.normal_(0.0, 0.1);
    save_native_params(*m, (dir / ("params_model_" + std::to_string(k) + ".safetensors")).string());
  }
  const auto ranked = run_fold("predict --features '" + features.string() + "' --params-dir '" + dir.string() +
                               "' --models 1,2 --config tiny_multimer --quiet --out '" + (out / "ranked").string() + "'");
  ASSERT_EQ(ranked.code, 0) << ranked.err;
  const auto ranking = nlohmann::json::parse(test::slurp(out / "ranked" / "ranking_debug.json"));
  std::vector<std::pair<double, std::string>> expected;
  for (const char* model : {"model_1", "model_2"}) {
    const auto report = nlohmann::json::parse(test::slurp(out / "ranked" / (stem + "_" + model + ".json")));
    EXPECT_DOUBLE_EQ(ranking.at("iptm+ptm").at(model).get<double>(), report.at("ranking_confidence").get<double>());
    expected.emplace_back(-report.at("ranking_confidence").get<double>(), model);
  }
  std::sort(expected.begin(), expected.end());
  EXPECT_EQ(ranking.at("order"), nlohmann::json::array({expected[0].second, expected[1].second}));
  // Ranking monomer models by ipTM is refused.
  const auto mixed = run_fold("predict --features '" + features.string() + "' --params-dir '" + dir.string() +
                              "' --models 1,2 --config tiny --rank-by iptm+ptm --out '" + (out / "bad").string() + "'");
  EXPECT_NE(mixed.code, 0);
  EXPECT_NE(mixed.err.find("is not a multimer model"), std::string::npos) << mixed.err;
  test::remove_tree(out);
  for (const auto& p : {features, params}) std::filesystem::remove(p);
}

// `--models` with an AF-Multimer preset reads AF2's params_model_N_multimer_v3 files, each
// model under its own preset (model_4 and 5 with 1152 extra MSA rows).
TEST(Predict, MultimerModelSetReadsAf2sMultimerFileNames) {
  const auto dir = temp_path("multimer_params");
  std::filesystem::create_directories(dir);
  for (int n : {1, 4}) std::ofstream(dir / ("params_model_" + std::to_string(n) + "_multimer_v3.npz")) << "";
  const auto specs = model_set("af2_model_1_multimer_v3", {}, {1, 4}, dir.string());
  ASSERT_EQ(specs.size(), 2u);
  EXPECT_EQ(specs[0].params, (dir / "params_model_1_multimer_v3.npz").string());
  EXPECT_EQ(specs[1].params, (dir / "params_model_4_multimer_v3.npz").string());
  EXPECT_TRUE(specs[1].config.get_bool("globals.is_multimer"));
  EXPECT_EQ(specs[0].config.get_int("data.predict.max_extra_msa"), 2048);
  EXPECT_EQ(specs[1].config.get_int("data.predict.max_extra_msa"), 1152);
  EXPECT_THROW(model_set("af2_model_1_multimer_v3", {}, {2}, dir.string()), std::invalid_argument);
  test::remove_tree(dir);
}

TEST(Predict, RejectsMsaOfAnotherSequence) {
  const std::string fasta = test::shared_data("fasta/6kwc.fasta");
  const std::string a3m = test::shared_data("alignments/2q2k_A/bfd_uniclust_hits.a3m");
  FOLD_REQUIRE_FILE(fasta);
  FOLD_REQUIRE_FILE(a3m);
  AlphaFold m = random_model(6);
  const auto params = temp_path("tiny.safetensors");
  save_native_params(*m, params.string());
  const auto r = run_fold("predict --fasta '" + fasta + "' --msa '" + a3m + "' --params '" + params.string() +
                          "' --config tiny" + set_args() + " --out '" + temp_path("x").string() + "'");
  EXPECT_NE(r.code, 0);
  EXPECT_NE(r.err.find("bfd_uniclust_hits.a3m"), std::string::npos) << r.err;
  std::filesystem::remove(params);
}

}  // namespace
}  // namespace fold
