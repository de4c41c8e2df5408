#include "fold/model/template_embedder_multimer.h"

#include <torch/torch.h>

#include <vector>

#include "data/residue_constants.h"
#include "structure_module/all_atom.h"
#include "structure_module/rigid.h"

namespace fold {

using data::require_feature;
using evoformer::LinearInit;
using evoformer::make_linear;

namespace {

constexpr const char* kWho = "TemplateEmbedderMultimer";

torch::Tensor outer_mask(const torch::Tensor& mask) { return mask.unsqueeze(-1) * mask.unsqueeze(-2); }

// Vec3Array.normalized: v / sqrt(max(|v|^2, 1e-12)).
torch::Tensor normalized(const torch::Tensor& v) { return v / torch::sqrt(v.square().sum(-1, true).clamp_min(1e-12)); }

}  // namespace

TemplatePairEmbedderMultimerImpl::TemplatePairEmbedderMultimerImpl(const TemplateEmbedderMultimerOptions& o)
    : options(o) {
  reset();
}

void TemplatePairEmbedderMultimerImpl::reset() {
  const int64_t c_t = options.pair_stack().c_t();
  const auto relu_linear = [&](const char* name, int64_t c_in) {
    return register_module(name, make_linear(c_in, c_t, true, LinearInit::kRelu));
  };
  dgram_linear = relu_linear("dgram_linear", options.distogram_no_bins());
  aatype_linear_1 = relu_linear("aatype_linear_1", options.c_aatype());
  aatype_linear_2 = relu_linear("aatype_linear_2", options.c_aatype());
  query_embedding_layer_norm = register_module("query_embedding_layer_norm", evoformer::LayerNorm(options.c_z()));
  query_embedding_linear = relu_linear("query_embedding_linear", options.c_z());
  pseudo_beta_mask_linear = relu_linear("pseudo_beta_mask_linear", 1);
  x_linear = relu_linear("x_linear", 1);
  y_linear = relu_linear("y_linear", 1);
  z_linear = relu_linear("z_linear", 1);
  backbone_mask_linear = relu_linear("backbone_mask_linear", 1);
}

torch::Tensor TemplatePairEmbedderMultimerImpl::forward(const torch::Tensor& aatype, const torch::Tensor& positions,
                                                        const torch::Tensor& atom_mask, const torch::Tensor& z,
                                                        const torch::Tensor& multichain_mask_2d) {
  const auto dtype = z.scalar_type();
  // Geometry in fp32 (OpenFold's Vec3Arrays are fp32), whatever the trunk's type.
  const torch::Tensor pos = positions.to(torch::kFloat), mask = atom_mask.to(torch::kFloat);
  const torch::Tensor same_chain = multichain_mask_2d.to(torch::kFloat);
  const auto pair_input = [&](const torch::Tensor& x) { return x.unsqueeze(-1).to(dtype); };

  const torch::Tensor pseudo_beta_2d = outer_mask(structure::pseudo_beta_mask(aatype, mask)) * same_chain;
  const torch::Tensor dgram =
      dgram_from_positions(structure::pseudo_beta(aatype, pos), options.distogram_min_bin(),
                           options.distogram_max_bin(), options.distogram_no_bins(), options.inf()) *
      pseudo_beta_2d.unsqueeze(-1);
  torch::Tensor act = dgram_linear(dgram.to(dtype)) + pseudo_beta_mask_linear(pair_input(pseudo_beta_2d));

  const torch::Tensor one_hot = torch::one_hot(aatype.to(torch::kLong), options.c_aatype()).to(dtype);
  act = act + aatype_linear_1(one_hot.unsqueeze(-3)) + aatype_linear_2(one_hot.unsqueeze(-2));  // of j, of i

  // CA_j in the backbone frame of i (x along C - CA, N in the xy plane), as a unit
  // vector, within a chain and where both backbones are observed.
  const auto atom = [&](const char* name) { return pos.select(-2, data::rc::atom_order(name)); };
  const auto atom_m = [&](const char* name) { return mask.select(-1, data::rc::atom_order(name)); };
  const torch::Tensor backbone_2d = outer_mask(atom_m("N") * atom_m("CA") * atom_m("C")) * same_chain;
  const structure::Rigid frames = structure::Rigid::from_backbone(atom("N"), atom("CA"), atom("C"));
  const torch::Tensor unit =
      normalized(frames.unsqueeze(-1).invert_apply(frames.trans().unsqueeze(-3))) * backbone_2d.unsqueeze(-1);
  act = act + x_linear(pair_input(unit.select(-1, 0))) + y_linear(pair_input(unit.select(-1, 1))) +
        z_linear(pair_input(unit.select(-1, 2))) + backbone_mask_linear(pair_input(backbone_2d));
  return act + query_embedding_linear(query_embedding_layer_norm(z));
}

TemplateSingleEmbedderMultimerImpl::TemplateSingleEmbedderMultimerImpl(int64_t c_in_, int64_t c_out_)
    : c_in(c_in_), c_out(c_out_) {
  reset();
}

void TemplateSingleEmbedderMultimerImpl::reset() {
  template_single_embedder = register_module("template_single_embedder", make_linear(c_in, c_out, true, LinearInit::kDefault));
  template_projector = register_module("template_projector", make_linear(c_out, c_out, true, LinearInit::kDefault));
}

std::pair<torch::Tensor, torch::Tensor> TemplateSingleEmbedderMultimerImpl::forward(const torch::Tensor& aatype,
                                                                                    const torch::Tensor& positions,
                                                                                    const torch::Tensor& atom_mask) {
  const auto dtype = positions.scalar_type();
  const auto [chi, chi_mask] =
      structure::multimer_chi_angles(aatype, positions.to(torch::kFloat), atom_mask.to(torch::kFloat));
  const int64_t classes = c_in - 3 * chi.size(-1);
  const torch::Tensor features = torch::cat({torch::one_hot(aatype.to(torch::kLong), classes).to(torch::kFloat),
                                             torch::sin(chi) * chi_mask, torch::cos(chi) * chi_mask, chi_mask},
                                            -1)
                                     .to(dtype);
  return {template_projector(torch::relu(template_single_embedder(features))), chi_mask.select(-1, 0).to(dtype)};
}

TemplateEmbedderMultimerImpl::TemplateEmbedderMultimerImpl(const TemplateEmbedderMultimerOptions& options_)
    : options(options_) {
  reset();
}

void TemplateEmbedderMultimerImpl::reset() {
  template_pair_embedder = register_module("template_pair_embedder", TemplatePairEmbedderMultimer(options));
  template_single_embedder = register_module("template_single_embedder",
                                             TemplateSingleEmbedderMultimer(options.single_c_in(), options.c_m()));
  template_pair_stack = register_module("template_pair_stack", evoformer::TemplatePairStack(options.pair_stack()));
  linear_t = register_module("linear_t",
                             make_linear(options.pair_stack().c_t(), options.c_z(), true, LinearInit::kDefault));
}

void TemplateEmbedderMultimerImpl::set_kernel_options(const kernels::AttentionOptions& kernel) {
  template_pair_stack->set_kernel_options(kernel);
}

TemplateEmbedding TemplateEmbedderMultimerImpl::forward(const data::FeatureDict& f, const torch::Tensor& z,
                                                        const torch::Tensor& pair_mask,
                                                        const evoformer::MemoryPolicy& policy, const dist::Group& dap) {
  const torch::Tensor& aatype = require_feature(f, "template_aatype", kWho);
  const torch::Tensor& positions = require_feature(f, "template_all_atom_positions", kWho);
  const torch::Tensor& atom_mask = require_feature(f, "template_all_atom_mask", kWho);
  const torch::Tensor& asym_id = require_feature(f, "asym_id", kWho);
  TORCH_CHECK(aatype.dim() >= 2 && aatype.size(-1) == z.size(-2), kWho, ": template_aatype must be [*, N_templ, ",
              z.size(-2), "], got ", aatype.sizes());
  TORCH_CHECK(asym_id.size(-1) == z.size(-2), kWho, ": asym_id has ", asym_id.size(-1), " residues, the pair ",
              z.size(-2));
  const int64_t templ_dim = aatype.dim() - 2, n_templ = aatype.size(templ_dim);
  const torch::Tensor same_chain = asym_id.unsqueeze(-1) == asym_id.unsqueeze(-2);
  // One template's pair features at a time, as OpenFold does.
  std::vector<torch::Tensor> embedded;
  for (int64_t i = 0; i < n_templ; ++i)
    embedded.push_back(template_pair_embedder(aatype.select(templ_dim, i), positions.select(templ_dim, i),
                                              atom_mask.select(templ_dim, i), z, same_chain));
  torch::Tensor t = template_pair_stack(torch::stack(embedded, templ_dim), pair_mask, policy, dap);
  // Every template slot is averaged, padding included (AF-Multimer has no template mask here).
  t = linear_t(torch::relu(t.sum(templ_dim) / static_cast<double>(n_templ)));
  TemplateEmbedding out;
  out.pair = t;
  std::tie(out.single, out.single_mask) = template_single_embedder(aatype, positions.to(z.scalar_type()), atom_mask);
  return out;
}

}  // namespace fold
