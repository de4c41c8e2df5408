// OpenFold's Linear initialisers (openfold/model/primitives.py, AF2 Supplement 1.11.4)
// for the structure module's layers. The structure module depends only on kernels
// (DESIGN.md 1), so it keeps this small copy instead of using evoformer/primitives.
#pragma once

#include <torch/nn/modules/linear.h>

namespace fold::structure {

// default: LeCun truncated normal; relu: He truncated normal; final: weight 0.
// Biases start at 0.
enum class LinearInit { kDefault, kRelu, kFinal };

void init_linear(torch::nn::LinearImpl& linear, LinearInit init);
// A torch::nn::Linear (`weight` [out, in], `bias` [out]) initialised as OpenFold does.
torch::nn::Linear make_linear(int64_t in, int64_t out, bool bias, LinearInit init);

}  // namespace fold::structure
