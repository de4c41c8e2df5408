#include "data/af2_module_params.h"

#include <torch/torch.h>

#include <algorithm>
#include <set>
#include <sstream>
#include <stdexcept>

namespace fold::af2 {

namespace {

using T = Transform;

// AF2's Attention (modules.py): query_w/key_w/value_w [c, H, C], gating_w [c, H, C],
// gating_b [H, C], output_w [H, C, c], output_b [c]; ours: OpenFold's Attention.
// AF2's GlobalAttention differs only in its single key/value head: key_w, value_w
// [c, C].
std::vector<ParamMapping> attention_entries(const std::string& af2, const std::string& ours, int64_t heads,
                                            bool gating = true, bool global = false) {
  const int64_t kv_groups = global ? 0 : heads;
  std::vector<ParamMapping> out = {
      {af2 + "//query_w", ours + ".linear_q.weight", T::kLinearInFirst, heads},
      {af2 + "//key_w", ours + ".linear_k.weight", T::kLinearInFirst, kv_groups},
      {af2 + "//value_w", ours + ".linear_v.weight", T::kLinearInFirst, kv_groups},
      {af2 + "//output_w", ours + ".linear_o.weight", T::kLinearOutLast, heads},
      {af2 + "//output_b", ours + ".linear_o.bias", T::kFlat},
  };
  if (gating) {
    out.push_back({af2 + "//gating_w", ours + ".linear_g.weight", T::kLinearInFirst, heads});
    out.push_back({af2 + "//gating_b", ours + ".linear_g.bias", T::kFlat, heads});
  }
  return out;
}



// AF2 names the triangle projections left/right; OpenFold's a/b follow the supplement's
// pseudocode, which AF2's code swaps for the incoming update (OpenFold's
// import_weights, after AF2 commit b88f8da): incoming maps left -> b, right -> a.
std::vector<ParamMapping> triangle_multiplication_entries(bool outgoing, bool fused) {
  const std::string left = outgoing ? "a" : "b", right = outgoing ? "b" : "a";
  if (fused) {
    // One projection for both: AF2's halves are (left, right), so incoming swaps them.
    const T weight = outgoing ? T::kLinearInFirst : T::kLinearInFirstSwapHalves;
    const T bias = outgoing ? T::kFlat : T::kFlatSwapHalves;
    return concat({
        layer_norm_entries("left_norm_input", "layer_norm_in"),
        {{"projection//weights", "linear_ab_p.weight", weight}, {"projection//bias", "linear_ab_p.bias", bias}},
        {{"gate//weights", "linear_ab_g.weight", weight}, {"gate//bias", "linear_ab_g.bias", bias}},
        layer_norm_entries("center_norm", "layer_norm_out"),
        linear_entries("output_projection", "linear_z"),
        linear_entries("gating_linear", "linear_g"),
    });
  }
  return concat({
      layer_norm_entries("layer_norm_input", "layer_norm_in"),
      linear_entries("left_projection", "linear_" + left + "_p"),
      linear_entries("right_projection", "linear_" + right + "_p"),
      linear_entries("left_gate", "linear_" + left + "_g"),
      linear_entries("right_gate", "linear_" + right + "_g"),
      layer_norm_entries("center_layer_norm", "layer_norm_out"),
      linear_entries("output_projection", "linear_z"),
      linear_entries("gating_linear", "linear_g"),
  });
}

// A sub-module's table inside a composite: its AF2 suffixes under the sub-scope
// `af2_scope` and its names under our `name_prefix` (e.g. "pair_stack.tri_mul_out.").
std::vector<ParamMapping> scoped(const std::string& af2_scope, const std::string& name_prefix,
                                 const std::vector<ParamMapping>& table) {
  std::vector<ParamMapping> out;
  out.reserve(table.size());
  for (const auto& e : table)
    out.push_back({af2_scope + "/" + e.af2_suffix, name_prefix + e.name, e.transform, e.groups});
  return out;
}

}  // namespace

std::vector<ParamMapping> concat(std::initializer_list<std::vector<ParamMapping>> parts) {
  std::vector<ParamMapping> out;
  for (const auto& p : parts) out.insert(out.end(), p.begin(), p.end());
  return out;
}

std::vector<ParamMapping> layer_norm_entries(const std::string& af2, const std::string& ours) {
  return {{af2 + "//scale", ours + ".weight", Transform::kFlat}, {af2 + "//offset", ours + ".bias", Transform::kFlat}};
}

std::vector<ParamMapping> linear_entries(const std::string& af2, const std::string& ours) {
  return {{af2 + "//weights", ours + ".weight", Transform::kLinearInFirst}, {af2 + "//bias", ours + ".bias", Transform::kFlat}};
}

std::string shape_str(at::IntArrayRef s) {
  std::ostringstream os;
  os << s;
  return os.str();
}

std::vector<ParamMapping> param_table(ModuleKind kind, const TableDims& dims) {
  const std::vector<ParamMapping> msa_row = concat({
      layer_norm_entries("query_norm", "layer_norm_m"),
      layer_norm_entries("feat_2d_norm", "layer_norm_z"),
      {{"/feat_2d_weights", "linear_z.weight", T::kLinearInFirst}},
      attention_entries("attention", "mha", dims.msa_heads),
  });
  const std::vector<ParamMapping> msa_column = concat({
      layer_norm_entries("query_norm", "_msa_att.layer_norm_m"),
      attention_entries("attention", "_msa_att.mha", dims.msa_heads),
  });
  // AF2's GlobalAttention: query_w [c, H, C], key_w / value_w [c, C] (one shared head),
  // gating as Attention, output_w [H, C, c].
  const std::vector<ParamMapping> msa_column_global = concat({
      layer_norm_entries("query_norm", "layer_norm_m"),
      attention_entries("attention", "global_attention", dims.msa_heads, true, true),
  });
  const std::vector<ParamMapping> triangle = concat({
      layer_norm_entries("query_norm", "layer_norm"),
      {{"/feat_2d_weights", "linear.weight", T::kLinearInFirst}},
      attention_entries("attention", "mha", dims.pair_heads),
  });
  const std::vector<ParamMapping> transition = concat({
      layer_norm_entries("input_layer_norm", "layer_norm"),
      linear_entries("transition1", "linear_1"),
      linear_entries("transition2", "linear_2"),
  });
  const std::vector<ParamMapping> tri_mul_out = triangle_multiplication_entries(true, dims.fused_triangle);
  const std::vector<ParamMapping> tri_mul_in = triangle_multiplication_entries(false, dims.fused_triangle);
  // AF2's output_w [c, c, c_z] flattens its inputs as c_a * c + c_b, as linear_out reads them.
  const std::vector<ParamMapping> outer_product_mean = concat({
      layer_norm_entries("layer_norm_input", "layer_norm"),
      linear_entries("left_projection", "linear_1"),
      linear_entries("right_projection", "linear_2"),
      {{"/output_w", "linear_out.weight", T::kLinearOutLast, dims.opm_hidden},
       {"/output_b", "linear_out.bias", T::kFlat}},
  });
  // One Evoformer / extra-MSA block (OpenFold's EvoformerBlock / ExtraMSABlock names):
  // AF2 keeps the sub-modules flat under the iteration's scope; OpenFold nests the pair
  // updates under pair_stack.
  const auto block = [&](const std::vector<ParamMapping>& column_table, const char* column_scope) {
    return concat({
        scoped("msa_row_attention_with_pair_bias", "msa_att_row.", msa_row),
        scoped(column_scope, "msa_att_col.", column_table),
        scoped("msa_transition", "msa_transition.", transition),
        scoped("outer_product_mean", "outer_product_mean.", outer_product_mean),
        scoped("triangle_multiplication_outgoing", "pair_stack.tri_mul_out.", tri_mul_out),
        scoped("triangle_multiplication_incoming", "pair_stack.tri_mul_in.", tri_mul_in),
        scoped("triangle_attention_starting_node", "pair_stack.tri_att_start.", triangle),
        scoped("triangle_attention_ending_node", "pair_stack.tri_att_end.", triangle),
        scoped("pair_transition", "pair_stack.pair_transition.", transition),
    });
  };
  // AF2's template pair stack block: the pair half in the template's order.
  const auto template_pair_block = [&] {
    return concat({
        scoped("triangle_attention_starting_node", "tri_att_start.", triangle),
        scoped("triangle_attention_ending_node", "tri_att_end.", triangle),
        scoped("triangle_multiplication_outgoing", "tri_mul_out.", tri_mul_out),
        scoped("triangle_multiplication_incoming", "tri_mul_in.", tri_mul_in),
        scoped("pair_transition", "pair_transition.", transition),
    });
  };
  // AF2's IPA (folding.py InvariantPointAttention, OpenFold's import_weights IPAParams):
  // plain Linears [in, out]. The point projections' outputs are 3 blocks (x, y, z) of
  // H * P, as OpenFold's PointProjection reads them, so the weights map unchanged;
  // output_projection's input is [scalar, points x, y, z, point norms, pair], OpenFold's
  // concatenation order.
  const auto af2_ipa = concat({
      linear_entries("q_scalar", "linear_q"),
      linear_entries("kv_scalar", "linear_kv"),
      linear_entries("q_point_local", "linear_q_points.linear"),
      linear_entries("kv_point_local", "linear_kv_points.linear"),
  });
  // AF-Multimer's IPA (OpenFold's IPAParamsMultimer): bias-free scalar projections
  // [c_s, H, C]; point projections [c_s, H, 3 P] with biases [H, 3 P], per head x, y, z
  // blocks of P as the multimer PointProjection reads them.
  const int64_t h = dims.ipa_heads;
  const auto point_projection = [h](const std::string& af2, const std::string& ours) {
    return std::vector<ParamMapping>{{af2 + "/point_projection//weights", ours + ".linear.weight", T::kLinearInFirst, h},
                                     {af2 + "/point_projection//bias", ours + ".linear.bias", T::kFlat, h}};
  };
  const auto multimer_ipa = concat({
      {{"q_scalar_projection//weights", "linear_q.weight", T::kLinearInFirst, h},
       {"k_scalar_projection//weights", "linear_k.weight", T::kLinearInFirst, h},
       {"v_scalar_projection//weights", "linear_v.weight", T::kLinearInFirst, h}},
      point_projection("q_point_projection", "linear_q_points"),
      point_projection("k_point_projection", "linear_k_points"),
      point_projection("v_point_projection", "linear_v_points"),
  });
  const auto ipa = concat({
      dims.multimer_ipa ? multimer_ipa : af2_ipa,
      {{"/trainable_point_weights", "head_weights", T::kFlat}},
      linear_entries("attention_2d", "linear_b"),
      linear_entries("output_projection", "linear_out"),
  });
  // AF2's StructureModule / FoldIteration (folding.py; OpenFold's import_weights): the
  // transition's three Linears are transition, transition_1, transition_2 (layer 0); the
  // side-chain resnet's blocks resblock1 / resblock2 (block 0) and resblock1_1 /
  // resblock2_1 (block 1); input_projection acts on s, input_projection_1 on s_initial.
  const auto structure_module = [&] {
    return concat({
      layer_norm_entries("single_layer_norm", "layer_norm_s"),
      layer_norm_entries("pair_layer_norm", "layer_norm_z"),
      linear_entries("initial_projection", "linear_in"),
      scoped("fold_iteration/invariant_point_attention", "ipa.", ipa),
      layer_norm_entries("fold_iteration/attention_layer_norm", "layer_norm_ipa"),
      linear_entries("fold_iteration/transition", "transition.layers.0.linear_1"),
      linear_entries("fold_iteration/transition_1", "transition.layers.0.linear_2"),
      linear_entries("fold_iteration/transition_2", "transition.layers.0.linear_3"),
      layer_norm_entries("fold_iteration/transition_layer_norm", "transition.layer_norm"),
      // AF-Multimer's QuatRigid is the same 6-output Linear under another name.
      linear_entries(dims.multimer_ipa ? "fold_iteration/quat_rigid/rigid" : "fold_iteration/affine_update",
                     "bb_update.linear"),
      linear_entries("fold_iteration/rigid_sidechain/input_projection", "angle_resnet.linear_in"),
      linear_entries("fold_iteration/rigid_sidechain/input_projection_1", "angle_resnet.linear_initial"),
      linear_entries("fold_iteration/rigid_sidechain/resblock1", "angle_resnet.layers.0.linear_1"),
      linear_entries("fold_iteration/rigid_sidechain/resblock2", "angle_resnet.layers.0.linear_2"),
      linear_entries("fold_iteration/rigid_sidechain/resblock1_1", "angle_resnet.layers.1.linear_1"),
      linear_entries("fold_iteration/rigid_sidechain/resblock2_1", "angle_resnet.layers.1.linear_2"),
      linear_entries("fold_iteration/rigid_sidechain/unnormalized_angles", "angle_resnet.linear_out"),
    });
  };
  switch (kind) {
    case ModuleKind::kStructureModule: return structure_module();
    case ModuleKind::kEvoformerBlock: return block(msa_column, "msa_column_attention");
    case ModuleKind::kExtraMsaBlock: return block(msa_column_global, "msa_column_global_attention");
    case ModuleKind::kTemplatePairBlock: return template_pair_block();
    case ModuleKind::kTemplatePointwiseAttention:
      return attention_entries("attention", "mha", dims.pair_heads, /*gating=*/false);
    case ModuleKind::kMsaRowAttentionWithPairBias: return msa_row;
    case ModuleKind::kMsaColumnAttention: return msa_column;
    case ModuleKind::kMsaColumnGlobalAttention: return msa_column_global;
    case ModuleKind::kTriangleAttention: return triangle;
    case ModuleKind::kTransition: return transition;
    case ModuleKind::kTriangleMultiplicationOutgoing: return tri_mul_out;
    case ModuleKind::kTriangleMultiplicationIncoming: return tri_mul_in;
    case ModuleKind::kOuterProductMean: return outer_product_mean;
    case ModuleKind::kInvariantPointAttention: return ipa;
  }
  throw std::invalid_argument("af2::param_table: unknown module kind");
}

namespace {

// The two halves of axis 0 exchanged (an involution).
at::Tensor swap_halves(const at::Tensor& t) {
  const int64_t half = t.size(0) / 2;
  TORCH_CHECK(t.size(0) == 2 * half, "af2: cannot swap the halves of an odd axis of ", t.size(0));
  return at::cat({t.narrow(0, half, half), t.narrow(0, 0, half)});
}

}  // namespace

at::Tensor to_torch_layout(const at::Tensor& af2, Transform transform) {
  switch (transform) {
    case Transform::kLinearInFirstSwapHalves: return swap_halves(to_torch_layout(af2, Transform::kLinearInFirst));
    case Transform::kFlatSwapHalves: return swap_halves(to_torch_layout(af2, Transform::kFlat));
    case Transform::kFlat: return af2.reshape({-1});
    case Transform::kLinearInFirst:
      TORCH_CHECK(af2.dim() >= 2, "linear weight needs >= 2 dims, got ", af2.sizes());
      return af2.reshape({af2.size(0), -1}).t();
    case Transform::kLinearOutLast:
      TORCH_CHECK(af2.dim() >= 2, "linear weight needs >= 2 dims, got ", af2.sizes());
      return af2.reshape({-1, af2.size(-1)}).t();
  }
  throw std::invalid_argument("af2::to_torch_layout: unknown transform");
}

at::Tensor to_af2_layout(const at::Tensor& ours, Transform transform, int64_t groups) {
  const auto split = [groups](const at::Tensor& t, int64_t dim) {
    if (groups <= 0) return t;
    std::vector<int64_t> shape = t.sizes().vec();
    const int64_t d = dim < 0 ? dim + t.dim() : dim;
    TORCH_CHECK(shape[d] % groups == 0, "to_af2_layout: ", shape[d], " does not split into ", groups, " groups");
    shape[d] /= groups;
    shape.insert(shape.begin() + d, groups);
    return t.reshape(shape);
  };
  switch (transform) {
    case Transform::kLinearInFirstSwapHalves: return to_af2_layout(swap_halves(ours), Transform::kLinearInFirst, groups);
    case Transform::kFlatSwapHalves: return to_af2_layout(swap_halves(ours), Transform::kFlat, groups);
    case Transform::kFlat: return split(ours.reshape({-1}), 0);
    case Transform::kLinearInFirst: return split(ours.t(), 1);   // [in, groups, out / groups]
    case Transform::kLinearOutLast: return split(ours.t(), 0);   // [groups, in / groups, out]
  }
  throw std::invalid_argument("af2::to_af2_layout: unknown transform");
}

void load_module_params(torch::nn::Module& module, const std::map<std::string, at::Tensor>& arrays,
                        const std::string& scope, const std::vector<ParamMapping>& table,
                        const std::string& key_prefix, const std::string& name_prefix) {
  const auto params = module.named_parameters(/*recurse=*/true);
  const std::string scope_prefix = key_prefix + scope + "/";
  std::vector<std::string> missing, unused, misshaped, unknown, unset;
  std::set<std::string> used_keys, set_names;
  // Convert and check everything first, so that a failed load leaves the module as it was.
  std::vector<std::pair<at::Tensor, at::Tensor>> copies;
  for (const ParamMapping& e : table) {
    const std::string key = scope_prefix + e.af2_suffix;
    const std::string name = name_prefix + e.name;
    const auto it = arrays.find(key);
    const at::Tensor* param = params.find(name);
    if (it == arrays.end()) missing.push_back(key);
    if (param == nullptr) unknown.push_back(name);
    if (it == arrays.end() || param == nullptr) continue;
    used_keys.insert(key);
    set_names.insert(name);
    const at::Tensor value = to_torch_layout(it->second, e.transform);
    if (value.sizes() != param->sizes()) {
      misshaped.push_back(key + " " + shape_str(it->second.sizes()) + " -> " + shape_str(value.sizes()) + " vs " +
                          name + " " + shape_str(param->sizes()));
      continue;
    }
    copies.emplace_back(*param, value);
  }
  for (const auto& [key, value] : arrays) {
    if (key.rfind(scope_prefix, 0) == 0 && used_keys.count(key) == 0) unused.push_back(key);
  }
  for (const auto& item : params) {
    if (item.key().rfind(name_prefix, 0) == 0 && set_names.count(item.key()) == 0) unset.push_back(item.key());
  }
  if (!missing.empty() || !unused.empty() || !misshaped.empty() || !unknown.empty() || !unset.empty()) {
    std::ostringstream os;
    os << "AF2 parameters under '" << scope_prefix << "' do not match the module:";
    const auto list = [&os](const char* what, const std::vector<std::string>& items) {
      if (items.empty()) return;
      os << "\n  " << what << " (" << items.size() << "):";
      for (const auto& i : items) os << "\n    " << i;
    };
    list("missing AF2 keys", missing);
    list("unused AF2 keys", unused);
    list("mis-shaped", misshaped);
    list("table names the module lacks", unknown);
    list("module parameters not set", unset);
    throw std::runtime_error(os.str());
  }
  torch::NoGradGuard no_grad;
  for (auto& [param, value] : copies) param.copy_(value.to(param.options()));
}

}  // namespace fold::af2
