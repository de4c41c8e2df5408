#include "fold/features/complex_training_sample.h"

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>

#include <algorithm>
#include <limits>
#include <map>
#include <numeric>

#include "data/residue_constants.h"
#include "fold/features/multimer_feature_pipeline.h"

namespace fold::features {

using namespace data;

namespace {

// OpenFold's get_contiguous_crop_idx: chains in random order, each a random length
// within what the budget allows given the residues still to come, at a random start.
at::Tensor contiguous_crop(const std::vector<int64_t>& offsets, const std::vector<int64_t>& lengths, int64_t crop_size,
                           at::Generator& gen) {
  const at::Tensor order = at::randperm(static_cast<int64_t>(lengths.size()), gen, at::kLong);
  int64_t budget = crop_size, remaining = std::accumulate(lengths.begin(), lengths.end(), int64_t{0});
  std::vector<at::Tensor> parts;
  for (int64_t i = 0; i < order.size(0); ++i) {
    const int64_t c = order[i].item<int64_t>(), length = lengths[c];
    remaining -= length;
    const int64_t most = std::min(budget, length), least = std::min(length, std::max<int64_t>(0, budget - remaining));
    const int64_t size = uniform_int(gen, least, most);
    budget -= size;
    const int64_t start = uniform_int(gen, 0, length - size);
    parts.push_back(at::arange(offsets[c] + start, offsets[c] + start + size, at::kLong));
  }
  return std::get<0>(at::sort(at::cat(parts)));
}

}  // namespace

at::Tensor interface_residues(const at::Tensor& asym_id, const at::Tensor& positions, const at::Tensor& mask,
                              double threshold) {
  const int64_t n = asym_id.size(0), atoms = positions.size(1);
  const at::Tensor all = positions.reshape({n * atoms, 3}).to(at::kFloat);
  const at::Tensor resolved = mask.reshape({n * atoms}) > 0;
  const at::Tensor chain = asym_id.to(at::kLong).repeat_interleave(atoms);
  std::vector<int64_t> found;
  // Residue tiles: the [tile x 37, N x 37] distances, not OpenFold's [N, N, 37, 37].
  constexpr int64_t kTile = 16;
  for (int64_t start = 0; start < n; start += kTile) {
    const int64_t end = std::min(n, start + kTile);
    const at::Tensor d = at::cdist(all.slice(0, start * atoms, end * atoms), all);
    const at::Tensor counts = resolved.slice(0, start * atoms, end * atoms).unsqueeze(1) & resolved.unsqueeze(0) &
                              (chain.slice(0, start * atoms, end * atoms).unsqueeze(1) != chain.unsqueeze(0));
    const at::Tensor near = ((d < threshold) & counts).any(1).reshape({end - start, atoms}).any(1);
    for (int64_t r = 0; r < end - start; ++r)
      if (near[r].item<bool>()) found.push_back(start + r);
  }
  return at::tensor(found, at::kLong);
}

at::Tensor complex_crop_indices(const at::Tensor& asym_id, const at::Tensor& positions, const at::Tensor& mask,
                                const TrainingOptions& o, at::Generator& gen) {
  const int64_t n = asym_id.size(0);
  const bool spatial = uniform01(gen) < o.spatial_crop_prob;
  if (o.crop_size <= 0 || n <= o.crop_size) return at::arange(n, at::kLong);
  std::vector<int64_t> offsets, lengths;
  const at::Tensor asym = asym_id.to(at::kLong).contiguous();
  for (int64_t r = 0; r < n; ++r) {
    if (r == 0 || asym[r].item<int64_t>() != asym[r - 1].item<int64_t>()) offsets.push_back(r), lengths.push_back(0);
    ++lengths.back();
  }
  if (!spatial) return contiguous_crop(offsets, lengths, o.crop_size, gen);
  const at::Tensor candidates = interface_residues(asym_id, positions, mask, o.interface_threshold);
  if (candidates.size(0) == 0) return contiguous_crop(offsets, lengths, o.crop_size, gen);
  const int64_t centre = candidates[uniform_int(gen, 0, candidates.size(0) - 1)].item<int64_t>();
  const int64_t ca = rc::atom_order("CA");
  const at::Tensor ca_pos = positions.select(1, ca).to(at::kDouble);
  const at::Tensor resolved = mask.select(1, ca) > 0;
  at::Tensor distance = (ca_pos - ca_pos[centre]).norm(2, -1);
  distance = at::where(resolved, distance, at::full_like(distance, std::numeric_limits<double>::infinity())) +
             at::arange(n, at::kDouble) * 1e-3;
  return std::get<0>(at::sort(std::get<1>(at::topk(distance, o.crop_size, 0, /*largest=*/false))));
}

FeatureDict make_complex_training_sample(const std::vector<ChainRecord>& records, const TrainingOptions& o,
                                         uint64_t seed) {
  if (records.empty()) throw SampleError("a complex without chains");
  const std::string name = records.front().id.substr(0, records.front().id.rfind('_'));
  const int64_t ca = rc::atom_order("CA");
  bool resolved = false;
  for (const ChainRecord& r : records) {
    if (o.max_resolution > 0 && r.resolution > o.max_resolution)
      throw SampleError("complex " + name + ": resolution " + std::to_string(r.resolution) + " A is worse than " +
                        std::to_string(o.max_resolution) + " A");
    resolved = resolved || (r.atom_mask.select(1, ca) > 0).any().item<bool>();
  }
  if (!resolved) throw SampleError("complex " + name + ": no resolved residues");
  at::Generator gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  const int64_t slices = o.uniform_recycling ? uniform_int(gen, 1, o.max_recycling_iters + 1) : o.max_recycling_iters + 1;
  const bool clamped = uniform01(gen) < o.clamp_prob;

  std::vector<std::string> sequences;
  for (const ChainRecord& r : records) sequences.push_back(r.sequence);
  const ChainAssembly assembly = assemble_chains(sequences);
  std::vector<ComplexChainMsa> msas;
  std::map<std::string, std::vector<at::Tensor>> parts, template_parts;
  // Copies of a sequence share the templates of its first chain, as OpenFold's multimer
  // pipeline shares one sequence's features.
  std::map<int64_t, FeatureDict> entity_templates;
  std::vector<int64_t> lengths, chain_entities;
  for (const size_t i : assembly.order) {
    const ChainRecord& r = records[i];
    ComplexChainMsa c;
    c.entity_id = assembly.entity_of[i];
    c.msa = r.msa.to(at::kLong);
    c.deletions = r.deletion_matrix.to(at::kFloat);
    if (r.pairing_msa.defined()) {
      c.pairing_msa = r.pairing_msa.to(at::kLong);
      c.pairing_deletions = r.pairing_deletions.to(at::kFloat);
      c.pairing_species = r.pairing_species;
    } else {  // no UniProt hits stored: nothing to pair but the query
      c.pairing_msa = c.msa.slice(0, 0, 1);
      c.pairing_deletions = c.deletions.slice(0, 0, 1);
      c.pairing_species = {""};
    }
    msas.push_back(std::move(c));
    lengths.push_back(r.length());
    chain_entities.push_back(assembly.entity_of[i]);
    parts["aatype"].push_back(r.aatype.to(at::kLong));
    parts["all_atom_positions"].push_back(r.atom_positions);
    parts["all_atom_mask"].push_back(r.atom_mask.to(at::kFloat));
    auto [templates, first] = entity_templates.try_emplace(assembly.entity_of[i]);
    if (first)
      templates->second = pad_template_slots(chain_template_features(r, o, gen), r.length(), o.sampling.max_templates);
    for (const auto& [key, t] : templates->second) template_parts[key].push_back(t);
  }
  FeatureDict merged = chain_identity_features(lengths, chain_entities);
  for (const auto& [key, p] : parts) merged[key] = at::cat(p);
  add_complex_msa_features(merged, msas);

  const at::Tensor keep =
      complex_crop_indices(merged.at("asym_id"), merged.at("all_atom_positions"), merged.at("all_atom_mask"), o, gen);
  std::vector<FeatureDict> per_slice;
  for (int64_t s = 0; s < slices; ++s) {
    per_slice.push_back(sample_complex_msa_features(merged, o.sampling, draw_seed(gen)));
    crop_residues(per_slice.back(), keep);
  }
  const int64_t kept = keep.size(0);
  FeatureDict templates;
  for (const auto& [key, p] : template_parts) templates[key] = at::cat(p, 1).index_select(1, keep);
  FeatureDict sample = stack_recycling_slices(per_slice, templates);
  const at::Tensor& aatype = merged.at("aatype");
  const at::Tensor &positions = merged.at("all_atom_positions"), &mask = merged.at("all_atom_mask");
  const FeatureDict truth = make_ground_truth_features(aatype.index_select(0, keep), positions.index_select(0, keep),
                                                       mask.index_select(0, keep));
  sample.insert(truth.begin(), truth.end());
  for (const auto& [key, t] : make_ground_truth_features(aatype, positions, mask)) sample["gt_" + key] = t;
  for (const char* key : {"asym_id", "entity_id", "residue_index"}) sample[std::string("gt_") + key] = merged.at(key);
  sample["resolution"] = at::full({1}, records.front().resolution, at::kFloat);
  sample["use_clamped_fape"] = at::full({1}, clamped ? 1.0f : 0.0f, at::kFloat);
  sample["is_distillation"] = at::zeros({1}, at::kFloat);
  sample["seq_length"] = at::full({1}, kept, at::kLong);
  sample["num_recycling_iters"] = at::full({1}, slices - 1, at::kLong);
  return sample;
}

}  // namespace fold::features
