// AF2 Supplement Algorithm 20: the structure module, as OpenFold's StructureModule
// (openfold/model/structure_module.py, monomer) with its parameter names: layer_norm_s,
// layer_norm_z, linear_in, ipa (Algorithm 22; one set of weights shared by all
// iterations), layer_norm_ipa, transition, bb_update (Algorithm 23), angle_resnet.
//
//   s_initial = layer_norm_s(s); z = layer_norm_z(z); s = linear_in(s_initial)
//   T = identity (quaternion (1, 0, 0, 0), translation 0, in nm: Angstrom / 10)
//   no_blocks times:
//     s = layer_norm_ipa(dropout(s + ipa(s, z, T, mask)))
//     s = transition(s)
//     T = T * (normalise(1, b, c, d), t)            (b, c, d, t) = bb_update(s)
//     alpha = angle_resnet(s, s_initial)
//     sidechain frames / atom14 positions from T (scaled to Angstrom), alpha (Alg. 24)
//     T = stop_gradient on the rotation (AF2 / OpenFold)
//
// Like OpenFold's quaternion-format Rigid, the frames are carried as a quaternion, so the
// emitted 7-vectors carry OpenFold's quaternion sign (not made canonical).
#pragma once

#include <torch/nn/cloneable.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/pimpl.h>
#include <torch/types.h>

#include "evoformer/primitives.h"
#include "structure_module/angle_resnet.h"
#include "structure_module/backbone_update.h"
#include "structure_module/invariant_point_attention.h"
#include "structure_module/structure_module_transition.h"

namespace fold::structure {

struct StructureModuleOptions {
  TORCH_ARG(int64_t, c_s) = 384;
  TORCH_ARG(int64_t, c_z) = 128;
  TORCH_ARG(int64_t, c_ipa) = 16;
  TORCH_ARG(int64_t, c_resnet) = 128;
  TORCH_ARG(int64_t, no_heads_ipa) = 12;
  TORCH_ARG(int64_t, no_qk_points) = 4;
  TORCH_ARG(int64_t, no_v_points) = 8;
  TORCH_ARG(double, dropout_rate) = 0.1;
  TORCH_ARG(int64_t, no_blocks) = 8;
  TORCH_ARG(int64_t, no_transition_layers) = 1;
  TORCH_ARG(int64_t, no_resnet_blocks) = 2;
  TORCH_ARG(int64_t, no_angles) = 7;
  TORCH_ARG(double, trans_scale_factor) = 10.0;
  TORCH_ARG(double, epsilon) = 1e-8;  // angle normalisation clamp
  TORCH_ARG(double, inf) = 1e5;       // IPA mask bias
  // AF-Multimer's IPA (InvariantPointAttentionOptions::multimer). The frames are still
  // composed as quaternions and reported as [.., 7] (OpenFold's multimer reports 3x3
  // rotation + translation, [.., 12]; the same transforms).
  TORCH_ARG(bool, multimer) = false;
};

// Per-iteration outputs are stacked on a leading dim L = no_blocks (OpenFold's
// dict_multimap(torch.stack, outputs)); `*` is the batch shape of the inputs.
struct StructureModuleOutput {
  torch::Tensor frames;               // [L, *, N, 7] quaternion (w, x, y, z) + translation (Angstrom)
  torch::Tensor sidechain_frames;     // [L, *, N, 8, 4, 4] rigid-group frames to global (Angstrom)
  torch::Tensor unnormalized_angles;  // [L, *, N, 7, 2]
  torch::Tensor angles;               // [L, *, N, 7, 2] (sin, cos)
  torch::Tensor positions;            // [L, *, N, 14, 3] atom14 (Angstrom)
  torch::Tensor states;               // [L, *, N, c_s]
  torch::Tensor single;               // [*, N, c_s] the final s
};

class StructureModuleImpl : public torch::nn::Cloneable<StructureModuleImpl> {
 public:
  explicit StructureModuleImpl(const StructureModuleOptions& options = {});
  void reset() override;
  // single [*, N, c_s] and pair [*, N, N, c_z] (the Evoformer's outputs, before this
  // module's layer norms), aatype [*, N] (int64), mask [*, N] (float; all ones if
  // undefined). The inputs are cast to the parameters' dtype (fp32: the structure module
  // never runs in low precision, ARCHITECTURE.md, Precision). Without autograd and with chunk_size > 0
  // IPA works chunk_size query rows at a time, normalising just those rows of the pair
  // (NormalisedPair): a long protein's pair is not held twice (nor converted whole from
  // bf16) and its [H, N, N] logits never exist.
  StructureModuleOutput forward(const torch::Tensor& single, const torch::Tensor& pair, const torch::Tensor& aatype,
                                const torch::Tensor& mask = {}, int64_t chunk_size = 0);

  StructureModuleOptions options;
  evoformer::LayerNorm layer_norm_s{nullptr}, layer_norm_z{nullptr}, layer_norm_ipa{nullptr};
  torch::nn::Linear linear_in{nullptr};
  InvariantPointAttention ipa{nullptr};
  StructureModuleTransition transition{nullptr};
  BackboneUpdate bb_update{nullptr};
  AngleResnet angle_resnet{nullptr};
};
TORCH_MODULE(StructureModule);

}  // namespace fold::structure
