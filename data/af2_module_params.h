// AlphaFold2's released parameters (params_model_*.npz, Haiku) per module: the table
// from AF2's names and layouts to ours (OpenFold's state_dict names), one per module kind,
// and the loader that applies one. fold/model/af2_params composes them into the whole
// model's table; the module tests load reference weights with them.
//
// AF2 names a module's weights `<scope>/<submodule>//<name>` (e.g. `.../
// msa_row_attention_with_pair_bias/attention//query_w`), stores linear weights as
// [in, ..., out] with heads split out, and stacks the blocks of a stack on a leading
// axis. One table per module kind lists, for every parameter, the AF2 leaf suffix (the
// part after `<scope>/`), our state_dict name, the transform between the two layouts
// and how AF2 splits the flattened dimension. The tables are names and layouts only: this
// file is part of the parameter file format, below the modules it names.
#pragma once

#include <torch/nn/module.h>
#include <torch/types.h>

#include <initializer_list>
#include <map>
#include <string>
#include <vector>

namespace fold::af2 {

enum class Transform {
  // Same values, reshaped to our shape (LayerNorm scale -> weight, offset -> bias;
  // biases, e.g. gating_b [H, C] -> [H*C]).
  kFlat,
  // A linear weight whose FIRST AF2 dim is the input: [in, d1, ..., dk] -> [d1*...*dk, in]
  // (query_w [c, H, C] -> [H*C, c], transition1//weights [c, 4c] -> [4c, c]).
  kLinearInFirst,
  // A linear weight whose LAST AF2 dim is the output: [d1, ..., dk, out] -> [out, d1*...*dk]
  // (output_w [H, C, c] -> [c, H*C]).
  kLinearOutLast,
  // kLinearInFirst / kFlat, then the two halves of the output swapped: AF-Multimer v3's
  // fused incoming triangle projections, whose first half AF2 applies as OpenFold's b
  // (OpenFold's import_weights: LinearParamsSwap).
  kLinearInFirstSwapHalves,
  kFlatSwapHalves,
};

struct ParamMapping {
  std::string af2_suffix;  // after "<scope>/": "attention//query_w", "/feat_2d_weights"
  std::string name;        // ours (OpenFold's state_dict name): "mha.linear_q.weight"
  Transform transform;
  // > 0: AF2 keeps the flattened dimension (the output of kLinearInFirst / kFlat, the
  // input of kLinearOutLast) as [groups, n / groups] (heads x channels, or the outer
  // product's c x c). Only exporting needs it; importing reshapes to our shape.
  int64_t groups = 0;
};

// The head counts (and outer-product width) that shape the AF2 layout of a table.
// Single-attention kinds use msa_heads (MSA attentions) or pair_heads (triangle and
// template pointwise attention). Defaults: AF2's monomer sizes.
struct TableDims {
  int64_t msa_heads = 8;
  int64_t pair_heads = 4;
  int64_t opm_hidden = 32;
  // AF-Multimer v3's fused triangle projections (AF2 `projection`, `gate`,
  // `left_norm_input`, `center_norm`).
  bool fused_triangle = false;
  // AF-Multimer's IPA (q/k/v_scalar_projection, q/k/v_point_projection, no scalar
  // biases) and backbone update (quat_rigid/rigid) in the structure module; ipa_heads
  // splits their head axis on export.
  bool multimer_ipa = false;
  int64_t ipa_heads = 12;
};

enum class ModuleKind {
  kMsaRowAttentionWithPairBias,  // AF2 msa_row_attention_with_pair_bias
  kMsaColumnAttention,           // AF2 msa_column_attention
  kMsaColumnGlobalAttention,     // AF2 msa_column_global_attention (extra-MSA stack)
  kTriangleAttention,            // AF2 triangle_attention_{starting,ending}_node
  kTransition,                   // AF2 msa_transition, pair_transition
  kTriangleMultiplicationOutgoing,  // AF2 triangle_multiplication_outgoing
  kTriangleMultiplicationIncoming,  // AF2 triangle_multiplication_incoming
  kOuterProductMean,                // AF2 outer_product_mean
  kInvariantPointAttention,         // AF2 structure_module/fold_iteration/invariant_point_attention
  // Whole blocks, composed from the tables above under the sub-modules' AF2 scopes and
  // our prefixes (msa_att_row., pair_stack.tri_mul_out., ...).
  kEvoformerBlock,  // AF2 evoformer_iteration (scope .../evoformer/evoformer_iteration)
  kExtraMsaBlock,   // AF2 extra_msa_stack (scope .../evoformer/extra_msa_stack)
  // The whole structure module (scope .../alphafold_iteration/structure_module; one
  // transition layer, two resnet blocks): OpenFold's StructureModule names, the IPA
  // table under fold_iteration/invariant_point_attention -> ipa.
  kStructureModule,
  // One template pair stack block (AF2 template_pair_stack/__layer_stack_no_state;
  // our PairStack names: tri_att_start, ..., pair_transition) and the template
  // pointwise attention (AF2 template_embedding/attention, no gating).
  kTemplatePairBlock,
  kTemplatePointwiseAttention,
};

std::vector<ParamMapping> param_table(ModuleKind kind, const TableDims& dims = {});

// Building blocks of tables: AF2's Linear (weights [in, out], bias [out]) and LayerNorm
// (scale, offset) as one table each, and tables joined in order.
std::vector<ParamMapping> linear_entries(const std::string& af2, const std::string& ours);
std::vector<ParamMapping> layer_norm_entries(const std::string& af2, const std::string& ours);
std::vector<ParamMapping> concat(std::initializer_list<std::vector<ParamMapping>> parts);

// A shape as the loaders' messages print it: [2, 3].
std::string shape_str(at::IntArrayRef shape);

// An AF2 array in our layout (shape-agnostic; the loader checks the shape) and back.
at::Tensor to_torch_layout(const at::Tensor& af2, Transform transform);
at::Tensor to_af2_layout(const at::Tensor& ours, Transform transform, int64_t groups);

// Copies every parameter of `module` named in `table` (prefixed by `name_prefix`) from
// arrays[key_prefix + scope + "/" + af2_suffix], converted to the parameter's dtype and
// device. Throws std::runtime_error listing every problem at once: AF2 keys missing from
// `arrays`, arrays under `key_prefix + scope + "/"` the table does not use, arrays whose
// converted shape differs from the parameter's, table names the module lacks, and
// parameters under `name_prefix` the table does not set.
void load_module_params(torch::nn::Module& module, const std::map<std::string, at::Tensor>& arrays,
                        const std::string& scope, const std::vector<ParamMapping>& table,
                        const std::string& key_prefix = "param/", const std::string& name_prefix = "");

}  // namespace fold::af2
