#include "fold/features/training_loader.h"

#include "fold/features/complex_training_sample.h"
#include "kernels/device_copy.h"

namespace fold::features {

data::FeatureDict make_dataset_sample(const data::ChainDataset& dataset, const std::string& id,
                                      const TrainingOptions& options, uint64_t seed) {
  if (!options.complexes) return make_training_sample(dataset.read(id), options, seed);
  std::vector<data::ChainRecord> records;
  for (const auto& e : dataset.entries())
    if (data::entry_of(e.id) == id) records.push_back(dataset.read(e.id));
  if (records.empty()) throw SampleError("no complex '" + id + "' in " + dataset.path());
  return make_complex_training_sample(records, options, seed);
}

TrainingLoader::TrainingLoader(std::shared_ptr<const data::ChainDataset> dataset,
                               std::vector<data::SampleRef> schedule, TrainingOptions options,
                               data::LoaderOptions loader, std::ostream* log)
    : device_(loader.device),
      samples_(std::move(schedule),
               [dataset = std::move(dataset), options = std::move(options)](const data::SampleRef& ref, uint64_t seed) {
                 return make_dataset_sample(*dataset, ref.chain, options, seed);
               },
               loader, log) {}

std::optional<data::LoadedSample> TrainingLoader::next() {
  std::optional<data::LoadedSample> sample = samples_.next();
  if (sample && device_.is_cuda()) {
    std::vector<at::Tensor> host;
    for (const auto& [name, t] : sample->features) host.push_back(t);
    const auto on_device = kernels::copy_to_device_on_side_stream(host, device_);
    size_t i = 0;
    for (auto& [name, t] : sample->features) t = on_device[i++];
  }
  return sample;
}

}  // namespace fold::features
