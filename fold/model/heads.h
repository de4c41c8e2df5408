// The auxiliary heads of AF2 (Supplement 1.9.6 pLDDT, 1.9.7 TM/PAE, 1.9.8 distogram,
// 1.9.9 masked MSA, 1.9.10 experimentally resolved), as OpenFold's AuxiliaryHeads
// (openfold/model/heads.py) with its state_dict names: plddt.{layer_norm, linear_1,
// linear_2, linear_3}, distogram.linear, masked_msa.linear,
// experimentally_resolved.linear, tm.linear (the _ptm presets only). The confidence
// numbers computed from their logits are in fold/confidence.h.
#pragma once

#include <torch/nn/cloneable.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/pimpl.h>
#include <torch/types.h>

#include "evoformer/primitives.h"

namespace fold {

// model.heads.*
struct AuxiliaryHeadsOptions {
  TORCH_ARG(int64_t, c_s) = 384;
  TORCH_ARG(int64_t, c_z) = 128;
  TORCH_ARG(int64_t, c_m) = 256;
  TORCH_ARG(int64_t, lddt_no_bins) = 50;
  TORCH_ARG(int64_t, lddt_c_hidden) = 128;
  TORCH_ARG(int64_t, distogram_no_bins) = 64;
  TORCH_ARG(int64_t, masked_msa_c_out) = 23;
  TORCH_ARG(int64_t, experimentally_resolved_c_out) = 37;
  TORCH_ARG(bool, tm_enabled) = false;
  TORCH_ARG(int64_t, tm_no_bins) = 64;
};

// pLDDT head: LayerNorm, Linear-ReLU, Linear-ReLU, Linear to no_bins lDDT-Ca bins.
class PerResidueLddtCaPredictorImpl : public torch::nn::Cloneable<PerResidueLddtCaPredictorImpl> {
 public:
  PerResidueLddtCaPredictorImpl(int64_t c_in, int64_t c_hidden, int64_t no_bins);
  void reset() override;
  torch::Tensor forward(const torch::Tensor& s);  // [*, N, c_s] -> [*, N, no_bins]

  int64_t c_in, c_hidden, no_bins;
  evoformer::LayerNorm layer_norm{nullptr};
  torch::nn::Linear linear_1{nullptr}, linear_2{nullptr}, linear_3{nullptr};
};
TORCH_MODULE(PerResidueLddtCaPredictor);

struct AuxiliaryLogits {
  torch::Tensor lddt_logits;                     // [*, N, 50]
  torch::Tensor distogram_logits;                // [*, N, N, 64]
  torch::Tensor masked_msa_logits;               // [*, S, N, 23]
  torch::Tensor experimentally_resolved_logits;  // [*, N, 37]
  torch::Tensor tm_logits;                       // [*, N, N, 64]; undefined unless tm_enabled
};

class AuxiliaryHeadsImpl : public torch::nn::Cloneable<AuxiliaryHeadsImpl> {
 public:
  explicit AuxiliaryHeadsImpl(const AuxiliaryHeadsOptions& options = {});
  void reset() override;
  // sm_single: the structure module's final s; single: the Evoformer's s; pair: the
  // Evoformer's z; msa: its MSA rows (without the template rows). The heads compute in
  // their own type (fp32); a pair or MSA stored in bf16 is converted by rows, and the
  // pair heads' logits are stored in the pair's type.
  AuxiliaryLogits forward(const torch::Tensor& sm_single, const torch::Tensor& single, const torch::Tensor& pair,
                          const torch::Tensor& msa);

  AuxiliaryHeadsOptions options;
  PerResidueLddtCaPredictor plddt{nullptr};
  // One Linear each (final init): the distogram's logits are symmetrised in forward.
  evoformer::LinearModule distogram{nullptr}, masked_msa{nullptr}, experimentally_resolved{nullptr}, tm{nullptr};
};
TORCH_MODULE(AuxiliaryHeads);

}  // namespace fold
