// Validation during training (AF2 Supplement 1.11.7, OpenFold's validation_step): the
// EMA weights predict every validation chain (eval-mode features: no crop, no block
// deletion, every recycling iteration) and the C-alpha trace is scored against the
// true structure with lDDT-Ca, GDT-TS and drmsd (fold/loss/validation_metrics.h).
// With a multimer config the samples are complexes (all chains of an entry): the true
// chains are first assigned to the predicted ones by the loss's chain permutation (as
// OpenFold's multimer validation step), and the placement of the chains against each
// other is scored too, by interface lDDT-Ca.
#pragma once

#include <ATen/core/Tensor.h>
#include <c10/core/Device.h>

#include <iosfwd>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "data/chain_dataset.h"
#include "data/feature_dict.h"
#include "fold/config.h"
#include "fold/features/training_sample.h"
#include "fold/model/alphafold.h"

namespace fold::train {

// data.eval.* over the training transforms: the whole chain, fixed recycling, no block
// deletion or template subsampling.
features::TrainingOptions evaluation_options(const Config& config);

struct ValidationResult {
  double lddt_ca = 0, gdt_ts = 0, drmsd = 0;  // means over the chains
  int64_t chains = 0;
  // Complexes: the mean over those with an observed interface.
  std::optional<double> interface_lddt_ca;
};

struct ChainScore {
  std::string chain;  // or the complex's entry
  double lddt_ca = 0, gdt_ts = 0, drmsd = 0;
  std::optional<double> interface_lddt_ca;
  data::FeatureDict outputs;  // the prediction (CPU), for writing it out
  data::FeatureDict features;  // its input features (CPU)
};

class Validator {
 public:
  // Builds each chain's features once (seeded by `seed` and the chain's position); with
  // options.complexes, `chains` names entries and each is a complex.
  Validator(std::shared_ptr<const data::ChainDataset> dataset, const std::vector<std::string>& chains,
            const features::TrainingOptions& options, uint64_t seed);
  // Chains that cannot be evaluated (e.g. nothing resolved), with the reason.
  const std::vector<std::pair<std::string, std::string>>& excluded() const { return excluded_; }

  // Predicts with `weights` (by state_dict name) swapped into `model` for the duration,
  // in eval mode without gradients; the model's own weights and mode are restored.
  // Averages over chains; per-chain scores in last_scores().
  ValidationResult evaluate(AlphaFoldImpl& model, const std::map<std::string, at::Tensor>& weights,
                            const RunOptions& run, const c10::Device& device, std::ostream* log);
  const std::vector<ChainScore>& last_scores() const { return scores_; }

 private:
  std::vector<std::pair<std::string, data::FeatureDict>> samples_;
  std::vector<std::pair<std::string, std::string>> excluded_;
  std::vector<ChainScore> scores_;
};

}  // namespace fold::train
