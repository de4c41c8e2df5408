#include "fold/features/training_loader.h"

#include <map>

#include "fold/features/complex_training_sample.h"
#include "kernels/device_copy.h"

namespace fold::features {

namespace {

// A chain's sample, or with options.complexes an entry's: its chains in the dataset.
data::SampleLoader::MakeSample sample_function(std::shared_ptr<const data::ChainDataset> dataset,
                                               TrainingOptions options) {
  if (!options.complexes)
    return [dataset, options](const data::SampleRef& ref, uint64_t seed) {
      return make_training_sample(dataset->read(ref.chain), options, seed);
    };
  std::map<std::string, std::vector<std::string>> chains_of;
  for (const auto& e : dataset->entries()) chains_of[data::entry_of(e.id)].push_back(e.id);
  return [dataset, options, chains_of](const data::SampleRef& ref, uint64_t seed) {
    const auto it = chains_of.find(ref.chain);
    if (it == chains_of.end()) throw SampleError("no complex '" + ref.chain + "' in " + dataset->path());
    std::vector<data::ChainRecord> records;
    for (const auto& id : it->second) records.push_back(dataset->read(id));
    return make_complex_training_sample(records, options, seed);
  };
}

}  // namespace

TrainingLoader::TrainingLoader(std::shared_ptr<const data::ChainDataset> dataset,
                               std::vector<data::SampleRef> schedule, TrainingOptions options,
                               data::LoaderOptions loader, std::ostream* log)
    : device_(loader.device),
      samples_(std::move(schedule), sample_function(std::move(dataset), std::move(options)), loader, log) {}

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
