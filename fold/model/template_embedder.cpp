#include "fold/model/template_embedder.h"

#include <torch/torch.h>

#include <string>

#include "data/residue_constants.h"
#include "evoformer/primitives.h"
#include "structure_module/rigid.h"

namespace fold {

using data::require_feature;
using evoformer::LinearInit;
using evoformer::make_linear;
namespace rc = data::rc;

namespace {

constexpr const char* kWho = "TemplateEmbedder";
// Residue types plus gap: the one-hot width of template_aatype (AF2's 22).
constexpr int64_t kTemplateAatypeClasses = rc::kNumRestypesWithX + 1;

// The 2-D product mask [*, N] -> [*, N, N].
torch::Tensor outer_mask(const torch::Tensor& mask) { return mask.unsqueeze(-1) * mask.unsqueeze(-2); }

}  // namespace

at::Tensor dgram_from_positions(const at::Tensor& positions, double min_bin, double max_bin, int64_t no_bins,
                                double inf) {
  // Squared distances and bin edges in fp32 whatever the positions' type: fp16 overflows
  // past 256 A and cannot hold the last edge (1e5, 1e8) at all.
  const at::Tensor p = positions.to(at::kFloat);
  const at::Tensor d2 = (p.unsqueeze(-2) - p.unsqueeze(-3)).square().sum(-1, true);
  const at::Tensor lower = torch::linspace(min_bin, max_bin, no_bins, p.options()).square();
  const at::Tensor upper = torch::cat({lower.slice(0, 1), torch::full({1}, inf, p.options())});
  return ((d2 > lower) * (d2 < upper)).to(positions.scalar_type());
}

at::Tensor build_template_pair_feat(const data::FeatureDict& f, const TemplateEmbedderOptions& o) {
  const at::Tensor& aatype = require_feature(f, "template_aatype", kWho);
  const at::Tensor& positions = require_feature(f, "template_all_atom_positions", kWho);
  const at::Tensor& atom_mask = require_feature(f, "template_all_atom_mask", kWho);
  const at::Tensor& pb = require_feature(f, "template_pseudo_beta", kWho);
  const at::Tensor& pb_mask = require_feature(f, "template_pseudo_beta_mask", kWho);
  const int64_t n = aatype.size(-1);
  const auto dtype = positions.scalar_type();

  std::vector<at::Tensor> parts;
  parts.push_back(dgram_from_positions(pb, o.distogram_min_bin(), o.distogram_max_bin(), o.distogram_no_bins(),
                                       o.inf()));
  parts.push_back(outer_mask(pb_mask.to(dtype)).unsqueeze(-1));
  const at::Tensor one_hot = torch::one_hot(aatype.to(torch::kLong), kTemplateAatypeClasses).to(dtype);
  std::vector<int64_t> rows = one_hot.sizes().vec();
  rows.insert(rows.end() - 2, n);
  parts.push_back(one_hot.unsqueeze(-3).expand(rows));  // [.., i, j, :] = aatype of j
  std::vector<int64_t> cols = one_hot.sizes().vec();
  cols.insert(cols.end() - 1, n);
  parts.push_back(one_hot.unsqueeze(-2).expand(cols));  // [.., i, j, :] = aatype of i

  const auto atom = [&](const char* name) { return positions.select(-2, rc::atom_order(name)); };
  const auto atom_m = [&](const char* name) { return atom_mask.select(-1, rc::atom_order(name)).to(dtype); };
  const at::Tensor backbone_mask_2d = outer_mask(atom_m("N") * atom_m("CA") * atom_m("C"));
  at::Tensor unit_vector;
  if (o.use_unit_vector()) {
    const structure::Rigid frames = structure::Rigid::from_backbone(atom("N"), atom("CA"), atom("C"), o.eps());
    // CA_j in the frame of residue i: [*, N (i), N (j), 3].
    const at::Tensor local = frames.unsqueeze(-1).invert_apply(frames.trans().unsqueeze(-3));
    const at::Tensor inv_distance = torch::rsqrt(o.eps() + local.square().sum(-1)) * backbone_mask_2d;
    unit_vector = local * inv_distance.unsqueeze(-1);
  } else {
    std::vector<int64_t> shape = backbone_mask_2d.sizes().vec();
    shape.push_back(3);
    unit_vector = torch::zeros(shape, positions.options());
  }
  parts.push_back(unit_vector);
  parts.push_back(backbone_mask_2d.unsqueeze(-1));
  return torch::cat(parts, -1) * backbone_mask_2d.unsqueeze(-1);
}

at::Tensor build_template_angle_feat(const data::FeatureDict& f) {
  const at::Tensor& aatype = require_feature(f, "template_aatype", kWho);
  const at::Tensor& sin_cos = require_feature(f, "template_torsion_angles_sin_cos", kWho);
  const at::Tensor& alt_sin_cos = require_feature(f, "template_alt_torsion_angles_sin_cos", kWho);
  const at::Tensor& mask = require_feature(f, "template_torsion_angles_mask", kWho);
  const auto dtype = sin_cos.scalar_type();
  return torch::cat({torch::one_hot(aatype.to(torch::kLong), kTemplateAatypeClasses).to(dtype), sin_cos.flatten(-2),
                     alt_sin_cos.flatten(-2), mask.to(dtype)},
                    -1);
}

TemplateAngleEmbedderImpl::TemplateAngleEmbedderImpl(int64_t c_in_, int64_t c_out_) : c_in(c_in_), c_out(c_out_) {
  reset();
}

void TemplateAngleEmbedderImpl::reset() {
  linear_1 = register_module("linear_1", make_linear(c_in, c_out, true, LinearInit::kRelu));
  linear_2 = register_module("linear_2", make_linear(c_out, c_out, true, LinearInit::kRelu));
}

torch::Tensor TemplateAngleEmbedderImpl::forward(const torch::Tensor& x) { return linear_2(torch::relu(linear_1(x))); }

TemplateEmbedderImpl::TemplateEmbedderImpl(const TemplateEmbedderOptions& options_) : options(options_) { reset(); }

void TemplateEmbedderImpl::reset() {
  const auto& o = options;
  TORCH_CHECK(o.pointwise().c_t() == o.pair_stack().c_t(), "TemplateEmbedder: the pair stack's c_t (",
              o.pair_stack().c_t(), ") and the pointwise attention's (", o.pointwise().c_t(), ") differ");
  template_single_embedder = register_module("template_single_embedder", TemplateAngleEmbedder(o.angle_c_in(), o.c_m()));
  template_pair_embedder =
      register_module("template_pair_embedder",
                      evoformer::LinearModule(o.pair_c_in(), o.pair_stack().c_t(), LinearInit::kRelu));
  template_pair_stack = register_module("template_pair_stack", evoformer::TemplatePairStack(o.pair_stack()));
  template_pointwise_att =
      register_module("template_pointwise_att", evoformer::TemplatePointwiseAttention(o.pointwise()));
}

void TemplateEmbedderImpl::set_kernel_options(const kernels::AttentionOptions& kernel) {
  template_pair_stack->set_kernel_options(kernel);
  template_pointwise_att->set_kernel_options(kernel);
}

TemplateEmbedding TemplateEmbedderImpl::forward(const data::FeatureDict& f, const torch::Tensor& z,
                                                const torch::Tensor& pair_mask, const evoformer::MemoryPolicy& policy,
                                                const dist::Group& dap) {
  const at::Tensor& aatype = require_feature(f, "template_aatype", kWho);
  const at::Tensor template_mask = require_feature(f, "template_mask", kWho).to(z.scalar_type());
  TORCH_CHECK(aatype.dim() >= 2 && aatype.size(-1) == z.size(-2), kWho, ": template_aatype must be [*, N_templ, ",
              z.size(-2), "], got ", aatype.sizes());
  const int64_t templ_dim = aatype.dim() - 2;
  // The pair features of one template at a time: [*, N, N, 88] is the largest input.
  std::vector<torch::Tensor> embedded;
  for (int64_t i = 0; i < aatype.size(templ_dim); ++i) {
    data::FeatureDict one;
    for (const char* name : {"template_aatype", "template_all_atom_positions", "template_all_atom_mask",
                             "template_pseudo_beta", "template_pseudo_beta_mask"})
      one[name] = require_feature(f, name, kWho).select(templ_dim, i);
    embedded.push_back(template_pair_embedder(build_template_pair_feat(one, options).to(z.scalar_type())));
  }
  torch::Tensor t = torch::stack(embedded, templ_dim);
  t = template_pair_stack(t, pair_mask, policy, dap);
  t = template_pointwise_att(t, z, template_mask, policy.chunk_size);
  // No template at all: no update (the attention would average padding).
  const torch::Tensor any_template = (template_mask.sum(-1) > 0).to(t.scalar_type());
  TemplateEmbedding out;
  std::vector<int64_t> shape = any_template.sizes().vec();
  shape.insert(shape.end(), {1, 1, 1});
  out.pair = t * any_template.reshape(shape);
  if (options.embed_angles()) {
    out.single = template_single_embedder(build_template_angle_feat(f).to(z.scalar_type()));
    out.single_mask = require_feature(f, "template_torsion_angles_mask", kWho).select(-1, 2);
  }
  return out;
}

}  // namespace fold
