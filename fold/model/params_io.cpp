#include "fold/model/params_io.h"

#include <torch/serialize.h>
#include <torch/torch.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <set>
#include <sstream>
#include <stdexcept>
#include <utility>
#include <vector>

#include "data/npz.h"
#include "data/safetensors.h"
#include "data/training_checkpoint.h"
#include "fold/model/af2_params.h"

namespace fold {

namespace {

std::string extension(const std::string& path) {
  std::string ext = std::filesystem::path(path).extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return std::tolower(c); });
  return ext;
}

std::string shape_str(at::IntArrayRef s) {
  std::ostringstream os;
  os << s;
  return os.str();
}

bool starts_with(const std::string& s, const std::string& prefix) { return s.rfind(prefix, 0) == 0; }

// OpenFold's convert_deprecated_v1_keys: v1 checkpoints named the template modules at
// the top level and kept the pair updates under `core.`.
std::string convert_v1_name(std::string key) {
  static const std::vector<std::pair<std::string, std::string>> replacements = {
      {"template_angle_embedder", "template_single_embedder"},
      {"core.msa_transition", "msa_transition"},
      {"core.outer_product_mean", "outer_product_mean"},
      {"core.tri_", "pair_stack.tri_"},
      {"core.pair_transition", "pair_stack.pair_transition"},
      {"ipa.linear_q_points", "ipa.linear_q_points.linear"},
      {"ipa.linear_kv_points", "ipa.linear_kv_points.linear"},
  };
  for (const auto& [from, to] : replacements) {
    // Already-converted names contain the replacement (e.g. ".linear_q_points.linear").
    const size_t at = key.find(from);
    if (at != std::string::npos && key.compare(at, to.size(), to) != 0) key.replace(at, from.size(), to);
  }
  if (starts_with(key, "template") && !starts_with(key, "template_embedder.")) key = "template_embedder." + key;
  return key;
}

}  // namespace

ParamsFormat params_format(const std::string& path) {
  if (std::filesystem::is_directory(path)) return ParamsFormat::kTrainingRun;
  const std::string ext = extension(path);
  if (ext == ".npz") return ParamsFormat::kAf2Npz;
  if (ext == ".safetensors") return ParamsFormat::kNative;
  if (ext == ".pt" || ext == ".pth" || ext == ".ckpt") return ParamsFormat::kOpenFoldPt;
  throw std::invalid_argument("parameters " + path +
                              ": unknown format (expected .npz = AlphaFold2 release, .safetensors = native "
                              "checkpoint, .pt/.pth/.ckpt = OpenFold state dict)");
}

std::map<std::string, at::Tensor> state_dict(AlphaFoldImpl& model) {
  std::map<std::string, at::Tensor> out;
  for (const auto& item : model.named_parameters(/*recurse=*/true)) out[item.key()] = item.value().detach();
  return out;
}

void load_state_dict(AlphaFoldImpl& model, const std::map<std::string, at::Tensor>& tensors,
                     const std::string& source) {
  const auto params = model.named_parameters(/*recurse=*/true);
  std::vector<std::string> missing, extra, misshaped;
  for (const auto& item : params) {
    const auto it = tensors.find(item.key());
    if (it == tensors.end())
      missing.push_back(item.key() + " " + shape_str(item.value().sizes()));
    else if (it->second.sizes() != item.value().sizes())
      misshaped.push_back(item.key() + ": " + shape_str(it->second.sizes()) + " in the file, the model has " +
                          shape_str(item.value().sizes()));
  }
  for (const auto& [name, t] : tensors)
    if (params.find(name) == nullptr) extra.push_back(name + " " + shape_str(t.sizes()));
  const bool file_tm = std::any_of(tensors.begin(), tensors.end(),
                                  [](const auto& kv) { return kv.first.rfind("aux_heads.tm.", 0) == 0; });
  af2::throw_if_problems(source + ": the parameters do not match the model built from the config." +
                             af2::ptm_head_hint(file_tm, model.options.heads.tm_enabled()),
                         {{"missing", missing}, {"extra (not in this config's model)", extra}, {"mis-shaped", misshaped}});
  torch::NoGradGuard no_grad;
  for (const auto& item : params) {
    at::Tensor p = item.value();
    p.copy_(tensors.at(item.key()).to(p.options()));
  }
}

void save_native_params(AlphaFoldImpl& model, const std::string& path,
                        const std::map<std::string, std::string>& metadata) {
  std::map<std::string, at::Tensor> tensors;
  for (const auto& [name, t] : state_dict(model)) tensors[name] = t.to(torch::kCPU, torch::kFloat);
  std::map<std::string, std::string> meta = metadata;
  meta["format"] = "fold-native-v1";
  data::write_safetensors(path, tensors, meta);
}

std::map<std::string, at::Tensor> read_openfold_state_dict(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error(path + ": cannot open");
  const std::vector<char> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  c10::IValue value;
  try {
    value = torch::pickle_load(bytes);
  } catch (const std::exception& e) {
    // Measured with torch 2.11: a plain dict of tensors loads; the OrderedDict that
    // model.state_dict() returns (it carries a _metadata attribute) does not.
    throw std::runtime_error(
        path + ": LibTorch's unpickler cannot read this file. It reads a torch.save'd plain dict of tensors, "
               "but not the OrderedDict of model.state_dict() (its _metadata attribute), Lightning "
               "checkpoints or other Python objects. Re-save it in Python as a plain dict: "
               "sd = torch.load(p, map_location='cpu'); sd = sd.get('state_dict', sd); "
               "torch.save({k: v for k, v in sd.items()}, 'weights.pt'), or convert the AF2 .npz with "
               "`fold import-params`. Unpickler said: " +
        std::string(e.what()).substr(0, 200));
  }
  // A training checkpoint keeps the weights one level down; prefer the EMA weights.
  for (const char* key : {"ema", "state_dict", "model"}) {
    if (!value.isGenericDict()) break;
    const auto dict = value.toGenericDict();
    const auto it = dict.find(c10::IValue(std::string(key)));
    if (it == dict.end()) continue;
    value = it->value();
    if (std::string(key) == "ema" && value.isGenericDict()) {
      const auto inner = value.toGenericDict();
      const auto params = inner.find(c10::IValue(std::string("params")));
      if (params != inner.end()) value = params->value();
    }
    break;
  }
  if (!value.isGenericDict())
    throw std::runtime_error(path + ": expected a state dict (name -> tensor), found " + value.tagKind());
  std::map<std::string, at::Tensor> out;
  for (const auto& item : value.toGenericDict()) {
    if (!item.key().isString() || !item.value().isTensor()) continue;
    std::string name = item.key().toStringRef();
    for (const char* prefix : {"module.", "model."})
      if (starts_with(name, prefix)) name = name.substr(std::string(prefix).size());
    out[convert_v1_name(name)] = item.value().toTensor();
  }
  if (out.empty()) throw std::runtime_error(path + ": the state dict holds no tensors");
  return out;
}

void load_params(AlphaFoldImpl& model, const std::string& path) {
  if (!std::filesystem::exists(path)) throw std::invalid_argument("parameters " + path + ": no such file");
  switch (params_format(path)) {
    case ParamsFormat::kAf2Npz:
      try {
        af2::load_af2_params(model, data::read_npz(path));
      } catch (const af2::ParamImportError& e) {
        throw af2::ParamImportError(path + ": " + e.what());
      }
      return;
    case ParamsFormat::kNative:
      load_state_dict(model, data::read_safetensors(path).tensors, path);
      return;
    case ParamsFormat::kOpenFoldPt:
      load_state_dict(model, read_openfold_state_dict(path), path);
      return;
    case ParamsFormat::kTrainingRun: {
      const std::string checkpoint = data::latest_checkpoint(path);
      if (checkpoint.empty())
        throw std::invalid_argument("parameters " + path + ": a directory, but no complete training checkpoint in it");
      const std::string ema = (std::filesystem::path(checkpoint) / "ema.safetensors").string();
      load_state_dict(model, data::read_safetensors(ema).tensors, ema);
      return;
    }
  }
}

}  // namespace fold
