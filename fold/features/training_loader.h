// What the trainer draws samples from: data::SampleLoader's worker threads making AF2
// training samples (training_sample.h) from the chains of an HDF5 dataset, or with
// TrainingOptions::complexes AF-Multimer samples (complex_training_sample.h) of its
// entries, the sample refs naming entries. With a CUDA
// device, next() copies each (pinned) sample to the GPU on a side stream
// (kernels/device_copy.h), so the copy overlaps the running step.
#pragma once

#include <memory>
#include <optional>
#include <ostream>
#include <string>
#include <utility>
#include <vector>

#include "data/chain_dataset.h"
#include "data/sample_loader.h"
#include "fold/features/training_sample.h"

namespace fold::features {

// The sample of `id` in `dataset`: a chain's (make_training_sample), or with
// options.complexes an entry's, of all its chains (make_complex_training_sample).
// Throws SampleError for an id the dataset lacks or a sample it cannot make.
data::FeatureDict make_dataset_sample(const data::ChainDataset& dataset, const std::string& id,
                                      const TrainingOptions& options, uint64_t seed);

class TrainingLoader {
 public:
  TrainingLoader(std::shared_ptr<const data::ChainDataset> dataset, std::vector<data::SampleRef> schedule,
                 TrainingOptions options, data::LoaderOptions loader, std::ostream* log = nullptr);

  std::optional<data::LoadedSample> next();
  data::LoaderStats stats() const { return samples_.stats(); }
  std::vector<std::pair<data::SampleRef, std::string>> skipped() const { return samples_.skipped(); }

 private:
  at::Device device_;
  data::SampleLoader samples_;
};

}  // namespace fold::features
