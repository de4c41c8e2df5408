#include "structure_module/structure_module.h"

#include <torch/torch.h>

#include <vector>

#include "structure_module/all_atom.h"
#include "structure_module/rigid.h"

namespace fold::structure {

using evoformer::LinearInit;
using evoformer::make_linear;

StructureModuleImpl::StructureModuleImpl(const StructureModuleOptions& o) : options(o) { reset(); }

void StructureModuleImpl::reset() {
  const auto& o = options;
  // Registration order = OpenFold's state_dict order.
  layer_norm_s = register_module("layer_norm_s", evoformer::LayerNorm(o.c_s()));
  layer_norm_z = register_module("layer_norm_z", evoformer::LayerNorm(o.c_z()));
  linear_in = register_module("linear_in", make_linear(o.c_s(), o.c_s(), true, LinearInit::kDefault));
  ipa = register_module("ipa", InvariantPointAttention(InvariantPointAttentionOptions(
                                                           o.c_s(), o.c_z(), o.c_ipa(), o.no_heads_ipa(),
                                                           o.no_qk_points(), o.no_v_points())
                                                           .inf(o.inf())
                                                           .eps(o.epsilon())
                                                           .multimer(o.multimer())));
  layer_norm_ipa = register_module("layer_norm_ipa", evoformer::LayerNorm(o.c_s()));
  transition = register_module("transition", StructureModuleTransition(StructureModuleTransitionOptions(o.c_s())
                                                                          .no_layers(o.no_transition_layers())
                                                                          .dropout_rate(o.dropout_rate())));
  bb_update = register_module("bb_update", BackboneUpdate(o.c_s()));
  angle_resnet = register_module("angle_resnet", AngleResnet(AngleResnetOptions(o.c_s(), o.c_resnet())
                                                                 .no_blocks(o.no_resnet_blocks())
                                                                 .no_angles(o.no_angles())
                                                                 .epsilon(o.epsilon())));
}

StructureModuleOutput StructureModuleImpl::forward(const torch::Tensor& single, const torch::Tensor& pair,
                                                   const torch::Tensor& aatype, const torch::Tensor& mask,
                                                   int64_t chunk_size) {
  const auto& o = options;
  TORCH_CHECK(single.dim() >= 2 && single.size(-1) == o.c_s(), "StructureModule: single must be [*, N, ", o.c_s(),
              "], got ", single.sizes());
  const auto batch = single.sizes().slice(0, single.dim() - 1);  // [*, N]
  TORCH_CHECK(aatype.sizes() == batch, "StructureModule: aatype ", aatype.sizes(), " must be [*, N] = ", batch);
  // The parameters' dtype (fp32 master weights): the structure module never runs in low
  // precision, whatever the Evoformer's output dtype.
  const auto dtype = linear_in->weight.scalar_type();
  const torch::Tensor m = mask.defined() ? mask.to(dtype) : torch::ones(batch, single.options().dtype(dtype));

  torch::Tensor s = layer_norm_s(single.to(dtype));
  NormalisedPair z;
  if (chunk_size > 0 && !torch::GradMode::is_enabled()) {
    z.n = pair.size(-2);
    z.chunk_size = chunk_size;
    z.rows = [&](int64_t start, int64_t length) { return layer_norm_z(pair.narrow(-3, start, length).to(dtype)); };
  } else {
    z.whole = layer_norm_z(pair.to(dtype));
  }
  const torch::Tensor s_initial = s;
  s = linear_in(s);

  // Frames as OpenFold's quaternion-format Rigid: unit quaternion [*, N, 4] + translation.
  auto quat_shape = batch.vec();
  quat_shape.push_back(4);
  torch::Tensor quat = torch::zeros(quat_shape, s.options());
  quat.select(-1, 0).fill_(1.0);
  torch::Tensor trans = torch::zeros_like(quat.narrow(-1, 0, 3));

  std::vector<torch::Tensor> frames, sidechain_frames, unnormalized_angles, angles, positions, states;
  for (int64_t i = 0; i < o.no_blocks(); ++i) {
    const Rigid rigid(Rotation(quat_to_rot(quat)), trans);
    s = s + ipa->attend(s, z, rigid, m);
    s = layer_norm_ipa(torch::dropout(s, o.dropout_rate(), is_training()));
    s = transition(s);

    // Algorithm 23: T <- T * (normalise(1, b, c, d), t); the translation update is
    // rotated by the old rotation, the quaternion composed as q (1, b, c, d) = q + q (0, b, c, d).
    const torch::Tensor update = bb_update(s);
    const torch::Tensor vec = update.narrow(-1, 0, 3);
    const torch::Tensor zeros = torch::zeros_like(vec.narrow(-1, 0, 1));
    torch::Tensor new_quat = quat + quat_multiply(quat, torch::cat({zeros, vec}, -1));
    new_quat = new_quat / new_quat.norm(2, -1, true);
    trans = trans + rigid.rots().apply(update.narrow(-1, 3, 3));
    quat = new_quat;

    const Rigid backbone_to_global = Rigid(Rotation(quat_to_rot(quat)), trans).scale_translation(o.trans_scale_factor());
    auto [unnormalized, normalized] = angle_resnet(s, s_initial);
    const Rigid groups = torsion_angles_to_frames(backbone_to_global, normalized, aatype);
    positions.push_back(frames_and_literature_positions_to_atom14_pos(groups, aatype));
    frames.push_back(torch::cat({quat, trans * o.trans_scale_factor()}, -1));
    sidechain_frames.push_back(groups.to_tensor_4x4());
    unnormalized_angles.push_back(unnormalized);
    angles.push_back(normalized);
    states.push_back(s);

    quat = quat.detach();  // stop_rot_gradient
  }
  StructureModuleOutput out;
  out.frames = torch::stack(frames);
  out.sidechain_frames = torch::stack(sidechain_frames);
  out.unnormalized_angles = torch::stack(unnormalized_angles);
  out.angles = torch::stack(angles);
  out.positions = torch::stack(positions);
  out.states = torch::stack(states);
  out.single = s;
  return out;
}

}  // namespace fold::structure
