// Model weights in and out: AlphaFold2's released .npz (through fold/af2_params), our
// native checkpoint (safetensors under OpenFold's state_dict names) and OpenFold's
// PyTorch state dicts (.pt, read with LibTorch's unpickler where it can).
#pragma once

#include <ATen/core/Tensor.h>

#include <map>
#include <string>

#include "fold/model/alphafold.h"

namespace fold {

// kTrainingRun: a `fold train` output or checkpoint directory, read as the EMA weights
// of its newest complete checkpoint (what AF2 evaluates; DIR/step-*/model.safetensors
// gives the raw weights).
enum class ParamsFormat { kAf2Npz, kNative, kOpenFoldPt, kTrainingRun };

// A directory is a training run; otherwise from the extension: .npz, .safetensors,
// .pt / .pth / .ckpt; anything else is an error that lists them.
ParamsFormat params_format(const std::string& path);

// Sets every parameter of `model` from `path` (any format above). All-or-nothing; the
// error lists every missing, extra and mis-shaped entry.
void load_params(AlphaFoldImpl& model, const std::string& path);

// The state_dict tensors by name, and their all-or-nothing inverse.
std::map<std::string, at::Tensor> state_dict(AlphaFoldImpl& model);
void load_state_dict(AlphaFoldImpl& model, const std::map<std::string, at::Tensor>& tensors,
                     const std::string& source);

// Writes the native checkpoint (fp32 safetensors; metadata recorded alongside).
void save_native_params(AlphaFoldImpl& model, const std::string& path,
                        const std::map<std::string, std::string>& metadata = {});

// OpenFold's .pt state dict (a plain state_dict, or a training checkpoint holding one
// under "ema"/"state_dict"/"model"), with OpenFold's prefixes ("model.", "module.")
// dropped and its v1 names renamed as OpenFold's convert_deprecated_v1_keys does.
// Throws std::runtime_error saying why when the unpickler cannot read the file.
std::map<std::string, at::Tensor> read_openfold_state_dict(const std::string& path);

}  // namespace fold
