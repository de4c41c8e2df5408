#include "fold/train/validation.h"

#include <torch/torch.h>

#include <cmath>
#include <ostream>

#include "data/chain_sampler.h"
#include "fold/features/training_loader.h"
#include "fold/loss/chain_permutation.h"
#include "fold/loss/validation_metrics.h"
#include "fold/model/params_io.h"
#include "fold/train/training_options.h"

namespace fold::train {

features::TrainingOptions evaluation_options(const Config& c) {
  features::TrainingOptions o = training_options(c);
  o.crop_size = c.get_bool("data.eval.crop") ? c.get_int("data.eval.crop_size") : 0;
  o.spatial_crop_prob = 0.0;
  o.sampling = features::SamplingOptions::from_config(c, "eval");
  o.subsample_templates = false;
  o.block_delete_msa = false;
  o.uniform_recycling = false;
  o.max_resolution = 0.0f;  // score every chain asked for
  return o;
}

Validator::Validator(std::shared_ptr<const data::ChainDataset> dataset, const std::vector<std::string>& chains,
                     const features::TrainingOptions& options, uint64_t seed) {
  for (size_t i = 0; i < chains.size(); ++i) {
    try {
      samples_.emplace_back(chains[i], features::make_dataset_sample(*dataset, chains[i], options,
                                                                   data::sample_seed(seed, -1, static_cast<int64_t>(i))));
    } catch (const std::exception& e) {
      excluded_.emplace_back(chains[i], e.what());
    }
  }
}

ValidationResult Validator::evaluate(AlphaFoldImpl& model, const std::map<std::string, at::Tensor>& weights,
                                     const RunOptions& run, const c10::Device& device, std::ostream* log) {
  torch::NoGradGuard no_grad;
  const std::map<std::string, at::Tensor> own = state_dict(model);
  std::map<std::string, at::Tensor> saved;
  for (const auto& [name, t] : own) saved[name] = t.clone();
  const bool was_training = model.is_training();
  load_state_dict(model, weights, "EMA weights");
  model.eval();
  ValidationResult result;
  int64_t interfaces = 0;
  scores_.clear();
  try {
    for (const auto& [chain, sample] : samples_) {
      const features::SampleParts parts = features::split_training_sample(sample);
      data::FeatureDict inputs;
      for (const auto& [name, t] : parts.inputs) inputs[name] = t.to(device);
      RunOptions eval_run = run;
      eval_run.memory.checkpoint = evoformer::CheckpointPolicy::none();
      data::FeatureDict out = model.forward(inputs, eval_run);
      for (auto& [name, t] : out) t = t.is_floating_point() ? t.to(torch::kCPU, torch::kFloat) : t.to(torch::kCPU);
      // A complex's true chains follow the prediction's (identity for one chain).
      const data::FeatureDict batch = loss::permute_ground_truth_chains(out, features::last_iteration_batch(parts));
      const at::Tensor truth = batch.at("all_atom_positions");
      const at::Tensor mask = batch.at("all_atom_mask");
      const at::Tensor predicted = out.at("final_atom_positions");
      ChainScore s;
      s.chain = chain;
      s.lddt_ca = lddt_ca(predicted, truth, mask, 15.0, 1e-10, /*per_residue=*/false).item<double>();
      const at::Tensor ca_mask = mask.select(-1, 1);
      s.gdt_ts = gdt_ts(predicted.select(-2, 1), truth.select(-2, 1), ca_mask).item<double>();
      s.drmsd = drmsd(predicted.select(-2, 1), truth.select(-2, 1), ca_mask).item<double>();
      if (const auto asym = batch.find("asym_id"); asym != batch.end()) {
        const double interface = interface_lddt_ca(predicted, truth, mask, asym->second).item<double>();
        if (!std::isnan(interface)) s.interface_lddt_ca = interface;
      }
      s.outputs = std::move(out);
      s.features = parts.inputs;
      if (log) {
        *log << "[validate] " << chain << ": lDDT-Ca " << s.lddt_ca << ", GDT-TS " << s.gdt_ts << ", drmsd " << s.drmsd
             << " A";
        if (s.interface_lddt_ca) *log << ", interface lDDT-Ca " << *s.interface_lddt_ca;
        *log << "\n";
      }
      result.lddt_ca += s.lddt_ca;
      result.gdt_ts += s.gdt_ts;
      result.drmsd += s.drmsd;
      if (s.interface_lddt_ca) {
        result.interface_lddt_ca = result.interface_lddt_ca.value_or(0.0) + *s.interface_lddt_ca;
        ++interfaces;
      }
      scores_.push_back(std::move(s));
    }
  } catch (...) {
    load_state_dict(model, saved, "training weights");
    model.train(was_training);
    throw;
  }
  load_state_dict(model, saved, "training weights");
  model.train(was_training);
  result.chains = static_cast<int64_t>(scores_.size());
  if (result.chains > 0) {
    result.lddt_ca /= result.chains;
    result.gdt_ts /= result.chains;
    result.drmsd /= result.chains;
  }
  if (interfaces > 0) *result.interface_lddt_ca /= static_cast<double>(interfaces);
  return result;
}

}  // namespace fold::train
