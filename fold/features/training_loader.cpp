#include "fold/features/training_loader.h"

#include "kernels/device_copy.h"

namespace fold::features {

TrainingLoader::TrainingLoader(std::shared_ptr<const data::ChainDataset> dataset,
                               std::vector<data::SampleRef> schedule, TrainingOptions options,
                               data::LoaderOptions loader, std::ostream* log)
    : device_(loader.device),
      samples_(
          std::move(schedule),
          [dataset = std::move(dataset), options = std::move(options)](const data::SampleRef& ref, uint64_t seed) {
            return make_training_sample(dataset->read(ref.chain), options, seed);
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
