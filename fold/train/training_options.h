// The training data options of a configuration: data.train.*, data.common.* and the
// shared masked-MSA / block-deletion sections -> features::TrainingOptions (fold_features
// cannot read a Config itself: fold_core depends on it).
#pragma once

#include "fold/config.h"
#include "fold/features/training_sample.h"

namespace fold {

features::TrainingOptions training_options(const Config& config);

}  // namespace fold
