// AlphaFold2's released parameters (params_model_*.npz, Haiku) <-> our (OpenFold)
// parameter names for the whole model: the per-module tables of
// data/af2_module_params composed under the AF2 scopes of Algorithm 2 (as OpenFold's
// import_weights.generate_translation_dict), with the stacks' blocks on a leading axis.
#pragma once

#include <torch/types.h>

#include <map>
#include <stdexcept>
#include <string>
#include <vector>

#include "data/af2_module_params.h"

namespace fold {
class AlphaFoldImpl;
}

namespace fold::af2 {

// ---- The whole model ---------------------------------------------------------------

// One AF2 array of the model: a plain array, or (blocks > 0) a stack whose slice b on
// axis 0 is our `names[b]`.
struct ModelParam {
  std::string af2_key;             // "alphafold/alphafold_iteration/evoformer/..."
  std::vector<std::string> names;  // one name, or one per block
  Transform transform;
  int64_t groups = 0;
  bool stacked = false;
  std::string config_key;  // stacked: the config key that sets the block count
};

// Every AF2 array of an AlphaFold model built with `model`'s options (templates and the
// TM head only when enabled), in a fixed order.
std::vector<ModelParam> model_param_table(const AlphaFoldImpl& model);

// Sets every parameter of `model` from AF2 arrays (keys as in the .npz). All-or-nothing:
// throws ParamImportError listing every missing key, unused (extra) key, mis-shaped
// array and block-count mismatch (a stack's leading axis against the config) before
// anything is copied.
void load_af2_params(AlphaFoldImpl& model, const std::map<std::string, at::Tensor>& arrays);

// The model's parameters under AF2's keys and layout (fp32, CPU): the inverse of
// load_af2_params.
std::map<std::string, at::Tensor> export_af2_params(AlphaFoldImpl& model);

class ParamImportError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Throws ParamImportError with `header` and every non-empty list of problems (title,
// items; at most 40 items shown per list); returns when all lists are empty.
void throw_if_problems(const std::string& header,
                       const std::vector<std::pair<std::string, std::vector<std::string>>>& lists);

// The likeliest cause of a mismatch, as a sentence for the header above: parameters of a
// _ptm model (which have a pTM head) under a config without one, or the reverse; "" when
// the file and the config agree.
std::string ptm_head_hint(bool file_has_tm, bool config_has_tm);

}  // namespace fold::af2
