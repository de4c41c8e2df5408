#include "fold/loss/masked_msa_loss.h"

#include <ATen/ATen.h>

#include <stdexcept>
#include <string>

#include "fold/config_section.h"
#include "fold/loss/common.h"

namespace fold::loss {

MaskedMsaLossOptions MaskedMsaLossOptions::from_config(const Config& c) {
  MaskedMsaLossOptions o;
  read_section(c, "loss.masked_msa", {{"num_classes", &o.num_classes}, {"eps", &o.eps}, {"weight", &o.weight}});
  return o;
}

at::Tensor masked_msa_loss(const at::Tensor& logits_in, const at::Tensor& true_msa, const at::Tensor& bert_mask,
                           const MaskedMsaLossOptions& o) {
  const at::Tensor logits = loss_precision(logits_in);
  if (logits.size(-1) != o.num_classes)
    throw std::invalid_argument("masked_msa_loss: logits have " + std::to_string(logits.size(-1)) +
                                " classes, loss.masked_msa.num_classes is " + std::to_string(o.num_classes));
  const at::Tensor errors = softmax_cross_entropy(logits, true_msa);
  const at::Tensor m = loss_precision(bert_mask).to(logits.scalar_type());
  // OpenFold's fp16-friendly form: per-row sums over a half-scaled count, scaled back.
  constexpr double scale = 0.5;
  const at::Tensor denom = o.eps + (scale * m).sum({-1, -2});
  return ((errors * m).sum(-1) / denom.unsqueeze(-1)).sum(-1).mul(scale).mean();
}

}  // namespace fold::loss
