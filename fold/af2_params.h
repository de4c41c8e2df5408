// AlphaFold2's released parameters (params_model_*.npz, Haiku) <-> our (OpenFold)
// parameter names: the one explicit mapping table, per module kind and for the whole
// model.
//
// AF2 names a module's weights `<scope>/<submodule>//<name>` (e.g. `.../
// msa_row_attention_with_pair_bias/attention//query_w`), stores linear weights as
// [in, ..., out] with heads split out, and stacks the blocks of a stack on a leading
// axis. One table per module kind lists, for every parameter, the AF2 leaf suffix (the
// part after `<scope>/`), our state_dict name, the transform between the two layouts
// and how AF2 splits the flattened dimension; the model table composes them under the
// AF2 scopes of Algorithm 2 (as OpenFold's import_weights.generate_translation_dict).
#pragma once

#include <torch/nn/module.h>
#include <torch/types.h>

#include <map>
#include <stdexcept>
#include <string>
#include <vector>

namespace fold {
class AlphaFoldImpl;
}

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
