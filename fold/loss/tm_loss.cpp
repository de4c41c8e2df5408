#include "fold/loss/tm_loss.h"

#include <ATen/ATen.h>

#include "fold/config_section.h"
#include "fold/loss/common.h"
#include "fold/loss/fape.h"

namespace fold::loss {

TmLossOptions TmLossOptions::from_config(const Config& c) {
  TmLossOptions o;
  read_section(c, "loss.tm", {{"enabled", &o.enabled}, {"max_bin", &o.max_bin}, {"no_bins", &o.no_bins},
                              {"min_resolution", &o.min_resolution}, {"max_resolution", &o.max_resolution},
                              {"eps", &o.eps}, {"weight", &o.weight}});
  return o;
}

at::Tensor tm_loss(const at::Tensor& logits_in, const at::Tensor& final_affine_tensor,
                   const at::Tensor& backbone_rigid_tensor, const at::Tensor& backbone_rigid_mask,
                   const at::Tensor& resolution, const TmLossOptions& o) {
  const at::Tensor logits = loss_precision(logits_in);
  const auto dtype = logits.scalar_type();
  at::Tensor true_bins;
  {
    at::NoGradGuard no_grad;
    const auto aligned = [](const structure::Rigid& t) { return points_in_frames(t, t.trans()); };  // [*, N, N, 3]
    const structure::Rigid pred = frames_from_tensor(loss_precision(final_affine_tensor).detach().to(dtype), "tm_loss");
    const structure::Rigid truth = structure::Rigid::from_tensor_4x4(loss_precision(backbone_rigid_tensor).to(dtype));
    const at::Tensor sq_error = (aligned(pred) - aligned(truth)).pow(2).sum(-1, true);
    const at::Tensor edges = at::linspace(0.0, o.max_bin, o.no_bins - 1, logits.options()).pow(2);
    true_bins = (sq_error > edges).sum(-1);
  }
  const at::Tensor errors = softmax_cross_entropy(logits, true_bins);
  const at::Tensor m = loss_precision(backbone_rigid_mask).to(dtype);
  const at::Tensor square_mask = m.unsqueeze(-1) * m.unsqueeze(-2);
  constexpr double scale = 0.5;  // OpenFold's fp16 guard, scaled back below
  const at::Tensor denom = o.eps + (scale * square_mask).sum({-1, -2});
  const at::Tensor loss = ((errors * square_mask).sum(-1) / denom.unsqueeze(-1)).sum(-1) * scale;
  return (loss * resolution_filter(loss_precision(resolution), o.min_resolution, o.max_resolution, loss)).mean();
}

}  // namespace fold::loss
