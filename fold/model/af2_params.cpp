#include "fold/model/af2_params.h"

#include <torch/torch.h>

#include <algorithm>
#include <set>
#include <sstream>
#include <stdexcept>

#include "fold/model/alphafold.h"

namespace fold::af2 {

// ---- The whole model ---------------------------------------------------------------

namespace {

const std::string kIteration = "alphafold/alphafold_iteration";
const std::string kEvoformer = kIteration + "/evoformer";

TableDims block_dims(const evoformer::EvoformerBlockOptions& o) {
  TableDims d{o.no_heads_msa(), o.no_heads_pair(), o.c_hidden_opm()};
  d.fused_triangle = o.fuse_projection_weights();
  return d;
}

TableDims template_block_dims(const evoformer::TemplatePairStackOptions& stack) {
  TableDims d{0, stack.no_heads(), 0};
  d.fused_triangle = stack.fuse_projection_weights();
  return d;
}

class ModelTableBuilder {
 public:
  // A module's table under AF2 `scope` and our `prefix`.
  void add(const std::string& scope, const std::vector<ParamMapping>& table, const std::string& prefix) {
    for (const auto& e : table)
      out.push_back({scope + "/" + e.af2_suffix, {prefix + e.name}, e.transform, e.groups, false, ""});
  }
  // A stack of `blocks` blocks: block b's parameters under `prefix` + b + ".".
  void add_stacked(const std::string& scope, const std::vector<ParamMapping>& table, const std::string& prefix,
                   int64_t blocks, const std::string& config_key) {
    for (const auto& e : table) {
      ModelParam p{scope + "/" + e.af2_suffix, {}, e.transform, e.groups, true, config_key};
      for (int64_t b = 0; b < blocks; ++b) p.names.push_back(prefix + std::to_string(b) + "." + e.name);
      out.push_back(std::move(p));
    }
  }
  std::vector<ModelParam> out;
};

}  // namespace

void throw_if_problems(const std::string& header,
                       const std::vector<std::pair<std::string, std::vector<std::string>>>& lists) {
  std::ostringstream os;
  os << header;
  bool any = false;
  for (const auto& [what, items] : lists) {
    if (items.empty()) continue;
    any = true;
    os << "\n  " << what << " (" << items.size() << "):";
    const size_t shown = std::min<size_t>(items.size(), 40);
    for (size_t i = 0; i < shown; ++i) os << "\n    " << items[i];
    if (shown < items.size()) os << "\n    ... and " << items.size() - shown << " more";
  }
  if (any) throw ParamImportError(os.str());
}

std::string ptm_head_hint(bool file_has_tm, bool config_has_tm) {
  if (file_has_tm && !config_has_tm)
    return " The file has a pTM head (a _ptm model) and the config has none: use the _ptm preset (e.g. --config "
           "af2_model_1_ptm).";
  if (!file_has_tm && config_has_tm)
    return " The config has a pTM head and the file has none: use the preset without _ptm (e.g. --config "
           "af2_model_1).";
  return "";
}

std::vector<ModelParam> model_param_table(const AlphaFoldImpl& model) {
  const AlphaFoldOptions& o = model.options;
  ModelTableBuilder t;
  t.add(kEvoformer,
        concat({linear_entries("preprocess_1d", "linear_tf_m"), linear_entries("preprocess_msa", "linear_msa_m"),
                linear_entries("left_single", "linear_tf_z_i"), linear_entries("right_single", "linear_tf_z_j"),
                // (sic) AF2's spelling; AF-Multimer's chain-aware encoding has its own scope.
                linear_entries(o.is_multimer ? "~_relative_encoding/position_activations" : "pair_activiations",
                               "linear_relpos")}),
        "input_embedder.");
  t.add(kEvoformer,
        concat({linear_entries("prev_pos_linear", "linear"), layer_norm_entries("prev_msa_first_row_norm", "layer_norm_m"),
                layer_norm_entries("prev_pair_norm", "layer_norm_z")}),
        "recycling_embedder.");
  if (o.templates_enabled && o.is_multimer) {
    // OpenFold's import_weights, multimer: the per-feature pair embedding linears are
    // template_pair_embedding_0..8 in its order.
    const std::string single = kEvoformer + "/template_embedding/single_template_embedding";
    const std::string ours = "template_embedder.";
    const char* pair_linears[] = {"dgram_linear", "pseudo_beta_mask_linear", "aatype_linear_1",
                                  "aatype_linear_2", "x_linear", "y_linear",
                                  "z_linear", "backbone_mask_linear", "query_embedding_linear"};
    std::vector<ParamMapping> pair_embedder = layer_norm_entries("query_embedding_norm", "query_embedding_layer_norm");
    for (int i = 0; i < 9; ++i) {
      const auto entries = linear_entries("template_pair_embedding_" + std::to_string(i), pair_linears[i]);
      pair_embedder.insert(pair_embedder.end(), entries.begin(), entries.end());
    }
    t.add(single, pair_embedder, ours + "template_pair_embedder.");
    const auto& stack = o.template_embedder_multimer.pair_stack();
    t.add_stacked(single + "/template_embedding_iteration",
                  param_table(ModuleKind::kTemplatePairBlock, template_block_dims(stack)),
                  ours + "template_pair_stack.blocks.", stack.no_blocks(), "model.template.template_pair_stack.no_blocks");
    t.add(single, layer_norm_entries("output_layer_norm", "layer_norm"), ours + "template_pair_stack.");
    t.add(kEvoformer + "/template_embedding", linear_entries("output_linear", "linear_t"), ours);
    t.add(kEvoformer,
          concat({linear_entries("template_single_embedding", "template_single_embedder"),
                  linear_entries("template_projection", "template_projector")}),
          ours + "template_single_embedder.");
  } else if (o.templates_enabled) {
    const std::string single = kEvoformer + "/template_embedding/single_template_embedding";
    const std::string ours = "template_embedder.";
    t.add(single, linear_entries("embedding2d", "linear"), ours + "template_pair_embedder.");
    const auto& stack = o.template_embedder.pair_stack();
    t.add_stacked(single + "/template_pair_stack/__layer_stack_no_state",
                  param_table(ModuleKind::kTemplatePairBlock, template_block_dims(stack)),
                  ours + "template_pair_stack.blocks.", stack.no_blocks(), "model.template.template_pair_stack.no_blocks");
    t.add(single, layer_norm_entries("output_layer_norm", "layer_norm"), ours + "template_pair_stack.");
    t.add(kEvoformer + "/template_embedding",
          param_table(ModuleKind::kTemplatePointwiseAttention, {0, o.template_embedder.pointwise().no_heads(), 0}),
          ours + "template_pointwise_att.");
    t.add(kEvoformer,
          concat({linear_entries("template_single_embedding", "linear_1"), linear_entries("template_projection", "linear_2")}),
          ours + "template_single_embedder.");
  }
  if (o.extra_msa_enabled) {
    t.add(kEvoformer, linear_entries("extra_msa_activations", "linear"), "extra_msa_embedder.");
    const auto& block = o.extra_msa_stack.block();
    t.add_stacked(kEvoformer + "/extra_msa_stack", param_table(ModuleKind::kExtraMsaBlock, block_dims(block)),
                  "extra_msa_stack.blocks.", o.extra_msa_stack.no_blocks(), "model.extra_msa.extra_msa_stack.no_blocks");
  }
  t.add_stacked(kEvoformer + "/evoformer_iteration",
                param_table(ModuleKind::kEvoformerBlock, block_dims(o.evoformer.block())), "evoformer.blocks.",
                o.evoformer.no_blocks(), "model.evoformer_stack.no_blocks");
  t.add(kEvoformer, linear_entries("single_activations", "linear"), "evoformer.");
  TableDims structure_dims;
  structure_dims.multimer_ipa = o.is_multimer;
  structure_dims.ipa_heads = o.structure_module.no_heads_ipa();
  t.add(kIteration + "/structure_module", param_table(ModuleKind::kStructureModule, structure_dims),
        "structure_module.");
  t.add(kIteration + "/predicted_lddt_head",
        concat({layer_norm_entries("input_layer_norm", "layer_norm"), linear_entries("act_0", "linear_1"),
                linear_entries("act_1", "linear_2"), linear_entries("logits", "linear_3")}),
        "aux_heads.plddt.");
  t.add(kIteration + "/distogram_head", linear_entries("half_logits", "linear"), "aux_heads.distogram.");
  t.add(kIteration + "/experimentally_resolved_head", linear_entries("logits", "linear"),
        "aux_heads.experimentally_resolved.");
  t.add(kIteration + "/masked_msa_head", linear_entries("logits", "linear"), "aux_heads.masked_msa.");
  if (o.heads.tm_enabled()) t.add(kIteration + "/predicted_aligned_error_head", linear_entries("logits", "linear"), "aux_heads.tm.");
  return std::move(t.out);
}

void load_af2_params(AlphaFoldImpl& model, const std::map<std::string, at::Tensor>& arrays) {
  const auto params = model.named_parameters(/*recurse=*/true);
  std::vector<std::string> missing, unused, misshaped, blocks, unset;
  std::set<std::string> used, assigned;
  std::vector<std::pair<at::Tensor, at::Tensor>> copies;
  const auto assign = [&](const std::string& key, const at::Tensor& af2, const std::string& name, Transform transform,
                          const std::string& where) {
    const at::Tensor* param = params.find(name);
    TORCH_CHECK(param != nullptr, "af2 table names a parameter the model lacks: ", name);
    assigned.insert(name);
    const at::Tensor value = to_torch_layout(af2, transform);
    if (value.sizes() != param->sizes()) {
      misshaped.push_back(key + where + " " + shape_str(af2.sizes()) + " -> " + shape_str(value.sizes()) +
                          ", but " + name + " is " + shape_str(param->sizes()));
      return;
    }
    copies.emplace_back(*param, value);
  };
  for (const ModelParam& e : model_param_table(model)) {
    const auto it = arrays.find(e.af2_key);
    if (it == arrays.end()) {
      missing.push_back(e.af2_key);
      for (const auto& n : e.names) assigned.insert(n);  // reported as missing, not unset
      continue;
    }
    used.insert(e.af2_key);
    const at::Tensor& a = it->second;
    if (!e.stacked) {
      assign(e.af2_key, a, e.names[0], e.transform, "");
      continue;
    }
    const auto expected = static_cast<int64_t>(e.names.size());
    if (a.dim() == 0 || a.size(0) != expected) {
      const std::string in_file = a.dim() == 0 ? std::string("no") : std::to_string(a.size(0));
      blocks.push_back(e.af2_key + " stacks " + in_file + " blocks on axis 0, the config has " + e.config_key +
                       " = " + std::to_string(expected) + " (pass --set " + e.config_key + "=" + in_file +
                       " or the matching preset)");
      for (const auto& n : e.names) assigned.insert(n);
      continue;
    }
    for (int64_t b = 0; b < expected; ++b)
      assign(e.af2_key, a[b], e.names[b], e.transform, "[" + std::to_string(b) + "]");
  }
  for (const auto& [key, value] : arrays)
    if (used.count(key) == 0) unused.push_back(key + " " + shape_str(value.sizes()));
  for (const auto& item : params)
    if (assigned.count(item.key()) == 0) unset.push_back(item.key());
  const bool file_tm = std::any_of(arrays.begin(), arrays.end(), [](const auto& kv) {
    return kv.first.find("predicted_aligned_error_head") != std::string::npos;
  });
  throw_if_problems("AF2 parameters do not match the model:" + ptm_head_hint(file_tm, model.options.heads.tm_enabled()),
                    {{"block counts differ from the config", blocks},
                     {"missing AF2 keys", missing},
                     {"extra AF2 keys (not used by this config)", unused},
                     {"mis-shaped", misshaped},
                     {"model parameters not set", unset}});
  torch::NoGradGuard no_grad;
  for (auto& [param, value] : copies) param.copy_(value.to(param.options()));
}

std::map<std::string, at::Tensor> export_af2_params(AlphaFoldImpl& model) {
  const auto params = model.named_parameters(/*recurse=*/true);
  std::map<std::string, at::Tensor> out;
  const auto get = [&](const std::string& name, const ModelParam& e) {
    const at::Tensor* p = params.find(name);
    TORCH_CHECK(p != nullptr, "af2 table names a parameter the model lacks: ", name);
    return to_af2_layout(p->detach().to(torch::kCPU, torch::kFloat), e.transform, e.groups).contiguous();
  };
  for (const ModelParam& e : model_param_table(model)) {
    if (!e.stacked) {
      out[e.af2_key] = get(e.names[0], e);
      continue;
    }
    std::vector<at::Tensor> slices;
    for (const auto& n : e.names) slices.push_back(get(n, e));
    out[e.af2_key] = torch::stack(slices);
  }
  return out;
}

}  // namespace fold::af2
