// The training data options of a configuration: data.train.*, data.common.* and the
// shared masked-MSA / block-deletion sections -> data::TrainingOptions (fold_features
// cannot read a Config itself: fold_core depends on it).
#pragma once

#include "data/training_sample.h"
#include "fold/config.h"

namespace fold {

data::TrainingOptions training_options(const Config& config);

}  // namespace fold
