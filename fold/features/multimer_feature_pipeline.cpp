#include "fold/features/multimer_feature_pipeline.h"

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>

#include <algorithm>
#include <map>
#include <numeric>
#include <stdexcept>

#include "data/msa_ids.h"
#include "data/msa_pairing.h"

namespace fold::features {

using namespace data;

namespace {

constexpr int64_t kMsaClasses = 23;  // 20 residues, X, gap, mask token
constexpr double kInf = 1e6;         // AF2's logit offset that forces or forbids a row

at::Tensor one_hot_f(const at::Tensor& ids, int64_t classes) { return at::one_hot(ids, classes).to(at::kFloat); }

// Gumbel(0, 1) noise as AF2 draws it (the 1e-6 keeps the logs finite).
at::Tensor gumbel_noise(at::IntArrayRef shape, at::Generator& gen) {
  const at::Tensor u = at::rand(shape, gen, at::kFloat);
  return -at::log(-at::log(u + 1e-6) + 1e-6);
}

// One entity: the features of the first chain with its sequence.
struct Entity {
  size_t first_chain = 0;
  FeatureDict sequence_and_msa = {};  // aatype, msa, deletion_matrix
  ComplexChainMsa msa = {};
  FeatureDict templates = {};
};

}  // namespace

FeatureDict pad_template_slots(const FeatureDict& found, int64_t n_res, int64_t slots) {
  const int64_t t = found.empty() ? 0 : found.at("template_aatype").size(0);
  FeatureDict f;
  f["template_aatype"] = at::zeros({slots, n_res}, at::kLong);
  f["template_all_atom_positions"] = at::zeros({slots, n_res, 37, 3}, at::kFloat);
  f["template_all_atom_mask"] = at::zeros({slots, n_res, 37}, at::kFloat);
  for (auto& [name, padded] : f)
    if (t > 0) padded.slice(0, 0, std::min(t, slots)).copy_(found.at(name).slice(0, 0, slots));
  return f;
}

ChainAssembly assemble_chains(const std::vector<std::string>& sequences) {
  ChainAssembly a;
  std::vector<std::string> seen;
  for (const std::string& seq : sequences) {
    const auto it = std::find(seen.begin(), seen.end(), seq);
    a.entity_of.push_back(std::distance(seen.begin(), it) + 1);
    if (it == seen.end()) seen.push_back(seq);
  }
  a.entities = static_cast<int64_t>(seen.size());
  a.order.resize(sequences.size());
  std::iota(a.order.begin(), a.order.end(), 0);
  std::stable_sort(a.order.begin(), a.order.end(),
                   [&](size_t x, size_t y) { return a.entity_of[x] < a.entity_of[y]; });
  return a;
}

FeatureDict chain_identity_features(const std::vector<int64_t>& lengths, const std::vector<int64_t>& entities) {
  std::map<std::string, std::vector<at::Tensor>> parts;
  std::map<int64_t, int64_t> copies;
  for (size_t k = 0; k < lengths.size(); ++k) {
    const int64_t n = lengths[k], e = entities[k];
    parts["residue_index"].push_back(at::arange(n, at::kLong));
    parts["asym_id"].push_back(at::full({n}, static_cast<int64_t>(k) + 1, at::kLong));
    parts["entity_id"].push_back(at::full({n}, e, at::kLong));
    parts["sym_id"].push_back(at::full({n}, ++copies[e], at::kLong));
  }
  FeatureDict f;
  for (const auto& [name, p] : parts) f[name] = at::cat(p);
  return f;
}

FeatureDict merge_complex_features(const ComplexInputs& in, const SamplingOptions& o, PipelineReport* report) {
  if (in.chains.empty()) throw std::invalid_argument("complex: no chains");
  std::vector<std::string> sequences;
  for (const auto& c : in.chains) sequences.push_back(c.sequence);
  const ChainAssembly assembly = assemble_chains(sequences);
  std::vector<Entity> entities(assembly.entities);
  for (size_t c = in.chains.size(); c-- > 0;) entities[assembly.entity_of[c] - 1].first_chain = c;
  const bool pair = entities.size() > 1;
  for (size_t e = 0; e < entities.size(); ++e) {
    Entity& entity = entities[e];
    const ComplexChainInputs& c = in.chains[entity.first_chain];
    const std::string who = "chain " + c.name + ": ";
    try {
      entity.sequence_and_msa =
          make_sequence_and_msa_features(c.sequence, read_query_msas(c.sequence, c.msa_paths, c.msa_max_rows));
      entity.msa.entity_id = static_cast<int64_t>(e) + 1;
      entity.msa.msa = entity.sequence_and_msa.at("msa");
      entity.msa.deletions = entity.sequence_and_msa.at("deletion_matrix");
      if (pair) {
        if (c.pairing_msa.empty())
          throw std::invalid_argument(
              "no uniprot_hits.sto: pairing the MSAs of a complex of different chains needs each chain's UniProt "
              "hits (with UniProt names, which carry the species)");
        // Duplicate rows go, as in AF2's make_msa_features of the UniProt hits.
        const Msa hits = merge_msas({read_msa(c.pairing_msa)});
        check_msa_query(c.sequence, hits);
        const MsaIds ids = msa_ids(hits);
        entity.msa.pairing_msa = ids.ids;
        entity.msa.pairing_deletions = ids.deletions;
        for (const std::string& d : hits.descriptions) entity.msa.pairing_species.push_back(uniprot_species(d));
      }
      const FeatureDict found =
          o.use_templates && !c.template_hits.empty()
              ? find_templates(c.sequence, c.template_hits, in.template_mmcif_dir, in.max_template_date,
                               o.max_templates, report)
              : FeatureDict();
      entity.templates = pad_template_slots(found, static_cast<int64_t>(c.sequence.size()), o.max_templates);
    } catch (const std::invalid_argument& e) {
      throw std::invalid_argument(who + e.what());
    }
  }

  std::vector<ComplexChainMsa> chain_msas;
  std::vector<at::Tensor> aatypes;
  std::map<std::string, std::vector<at::Tensor>> templates;
  std::vector<int64_t> lengths, chain_entities;
  for (const size_t c : assembly.order) {
    const int64_t e = assembly.entity_of[c];
    const Entity& entity = entities[e - 1];
    aatypes.push_back(entity.sequence_and_msa.at("aatype"));
    lengths.push_back(aatypes.back().size(0));
    chain_entities.push_back(e);
    chain_msas.push_back(entity.msa);
    for (const auto& [name, t] : entity.templates) templates[name].push_back(t);
    if (report) report->chains.push_back(in.chains[c].name);
  }
  FeatureDict f = chain_identity_features(lengths, chain_entities);
  f["aatype"] = at::cat(aatypes);
  for (const auto& [name, parts] : templates) f[name] = at::cat(parts, 1);
  add_complex_msa_features(f, chain_msas);
  return f;
}

void add_complex_msa_features(FeatureDict& f, const std::vector<ComplexChainMsa>& chains) {
  f["seq_mask"] = at::ones({f.at("aatype").size(0)}, at::kFloat);
  const ComplexMsa msa = pair_and_merge_msas(chains);
  f["msa"] = msa.msa;
  f["deletion_matrix"] = msa.deletion_matrix;
  f["msa_mask"] = msa.msa_mask;
  f["bert_mask"] = msa.bert_mask;
  f["cluster_bias_mask"] = msa.cluster_bias_mask;
}

FeatureDict sample_complex_msa_features(const FeatureDict& merged, const SamplingOptions& o, uint64_t seed) {
  at::Generator gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  const at::Tensor& msa_all = merged.at("msa");
  const at::Tensor& mask_all = merged.at("msa_mask");

  // The whole MSA's profile, for the masked-MSA draws.
  const at::Tensor profile_all = (mask_all.unsqueeze(-1) * one_hot_f(msa_all, 22)).sum(0) /
                                 (mask_all.sum(0).unsqueeze(-1) + 1e-4);

  // Cluster centres: a random order, rows of cluster_bias_mask first and all-masked
  // rows last; the next max_extra_msa rows are the extra MSA.
  const at::Tensor logits = (mask_all.sum(-1).clamp(0, 1) - 1) * kInf + merged.at("cluster_bias_mask") * kInf;
  const at::Tensor order = at::argsort(logits + gumbel_noise(logits.sizes(), gen), /*stable=*/false, 0, true);
  const at::Tensor centre_rows = order.slice(0, 0, o.max_msa_clusters);
  const at::Tensor extra_rows = order.slice(0, o.max_msa_clusters).slice(0, 0, o.max_extra_msa);
  const auto rows = [](const at::Tensor& t, const at::Tensor& r) { return t.index_select(0, r); };
  at::Tensor centres = rows(msa_all, centre_rows);
  const at::Tensor centre_deletions = rows(merged.at("deletion_matrix"), centre_rows);
  const at::Tensor centre_mask = rows(mask_all, centre_rows);
  const at::Tensor extra = rows(msa_all, extra_rows);
  const at::Tensor extra_deletions = rows(merged.at("deletion_matrix"), extra_rows);
  const at::Tensor extra_mask = rows(mask_all, extra_rows);

  // Masked MSA: a fraction of the centres' residues replaced by a draw from the
  // uniform / profile / same / mask-token mixture.
  const at::Tensor uniform = at::cat({at::full({20}, 0.05, at::kFloat), at::zeros({2}, at::kFloat)});
  at::Tensor probs = o.uniform_prob * uniform + o.profile_prob * profile_all + o.same_prob * one_hot_f(centres, 22);
  const double mask_prob = 1.0 - o.profile_prob - o.same_prob - o.uniform_prob;
  probs = at::cat({probs, at::full({centres.size(0), centres.size(1), 1}, mask_prob, at::kFloat)}, -1);
  const at::Tensor replace =
      (at::rand(centres.sizes(), gen, at::kFloat) < o.masked_msa_replace_fraction).logical_and(centre_mask > 0);
  const at::Tensor draws = (at::log(probs + 1e-6) + gumbel_noise(probs.sizes(), gen)).argmax(-1);
  FeatureDict f;
  f["bert_mask"] = rows(merged.at("bert_mask"), centre_rows) * replace.to(at::kFloat);
  f["true_msa"] = centres;
  centres = at::where(replace, draws, centres) * centre_mask.to(at::kLong);

  // Every extra row shares itself among the centres it agrees with most (agreement
  // counts residues and X, not gaps or mask tokens); each profile includes its centre.
  const at::Tensor weights = at::cat({at::ones({21}), at::zeros({2})});
  const int64_t n_res = centres.size(1), width = n_res * kMsaClasses;
  const at::Tensor centre_hot = centre_mask.unsqueeze(-1) * one_hot_f(centres, kMsaClasses);
  const at::Tensor extra_hot = extra_mask.unsqueeze(-1) * one_hot_f(extra, kMsaClasses);
  const at::Tensor agreement =
      at::matmul((centre_hot * weights).reshape({centres.size(0), width}), extra_hot.reshape({extra.size(0), width}).t());
  const at::Tensor assignment =
      at::softmax(1e3 * agreement, 0) * at::matmul(centre_mask, extra_mask.t());  // [centres, extra]
  const at::Tensor counts = assignment.sum(-1) + 1;
  const at::Tensor profile =
      (at::matmul(assignment, extra_hot.reshape({extra.size(0), width})).reshape({centres.size(0), n_res, kMsaClasses}) +
       centre_hot) /
      counts.view({-1, 1, 1});
  const at::Tensor deletion_mean =
      (at::matmul(assignment, extra_mask * extra_deletions) + centre_deletions) / counts.unsqueeze(-1);

  for (const char* name : {"aatype", "residue_index", "seq_mask", "asym_id", "entity_id", "sym_id"})
    f[name] = merged.at(name);
  f["target_feat"] = one_hot_f(merged.at("aatype"), 21);
  f["msa_feat"] = make_msa_feat(centres, centre_deletions, profile, deletion_mean);
  f["msa_mask"] = centre_mask;
  f["deletion_matrix"] = centre_deletions;
  f["extra_msa"] = extra;
  f["extra_msa_mask"] = extra_mask;
  f["extra_deletion_matrix"] = extra_deletions;
  return f;
}

FeatureDict build_complex_features(const ComplexInputs& inputs, const PipelineOptions& o, PipelineReport* report) {
  const FeatureDict merged = merge_complex_features(inputs, o.sampling, report);
  std::vector<FeatureDict> slices;
  for (int64_t r = 0; r <= o.num_recycles; ++r) {
    const uint64_t seed = static_cast<uint64_t>(o.seed) * 1000003u + (o.resample_msa_in_recycling ? r : 0);
    slices.push_back(sample_complex_msa_features(merged, o.sampling, seed));
  }
  FeatureDict fixed;
  for (const char* name : {"template_aatype", "template_all_atom_positions", "template_all_atom_mask"})
    fixed[name] = merged.at(name);
  return stack_recycling_slices(slices, fixed);
}

}  // namespace fold::features
