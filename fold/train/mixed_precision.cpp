#include "fold/train/mixed_precision.h"

#include <torch/torch.h>

#include <stdexcept>

namespace fold::train {

Precision parse_precision(const std::string& text) {
  if (text == "fp32") return Precision::kFp32;
  if (text == "bf16") return Precision::kBf16;
  if (text == "fp16") return Precision::kFp16;
  throw std::invalid_argument("precision: expected fp32, bf16 or fp16, got '" + text + "'");
}

c10::ScalarType trunk_dtype(Precision precision) {
  switch (precision) {
    case Precision::kBf16: return torch::kBFloat16;
    case Precision::kFp16: return torch::kHalf;
    default: return torch::kFloat;
  }
}

MixedPrecisionModel::MixedPrecisionModel(AlphaFold master, Precision precision)
    : precision_(precision), master_(std::move(master)), working_(master_) {
  for (const auto& p : master_->parameters())
    if (p.scalar_type() != torch::kFloat) throw std::invalid_argument("mixed precision: master weights must be fp32");
  if (precision_ != Precision::kFp32) {
    working_ = AlphaFold(std::dynamic_pointer_cast<AlphaFoldImpl>(master_->clone()));
    working_->set_trunk_dtype(trunk_dtype(precision_));
  }
}

std::vector<std::pair<std::string, at::Tensor>> MixedPrecisionModel::master_parameters() {
  std::vector<std::pair<std::string, at::Tensor>> out;
  for (const auto& item : master_->named_parameters(/*recurse=*/true)) out.emplace_back(item.key(), item.value());
  return out;
}

void MixedPrecisionModel::zero_grad() {
  master_->zero_grad(/*set_to_none=*/true);
  if (working_.get() != master_.get()) working_->zero_grad(/*set_to_none=*/true);
}

bool MixedPrecisionModel::gradients_to_master(double factor) {
  torch::NoGradGuard no_grad;
  const auto masters = master_->parameters(), copies = working_->parameters();
  bool finite = true;
  for (size_t i = 0; i < masters.size(); ++i) {
    at::Tensor g = copies[i].grad();
    if (!g.defined()) continue;
    g = g.to(torch::kFloat);
    if (factor != 1.0) g = g * factor;
    // One reduction per tensor; the step is skipped as a whole anyway on the first bad one.
    if (finite && !torch::isfinite(g).all().item<bool>()) finite = false;
    masters[i].mutable_grad() = g;
  }
  return finite;
}

void MixedPrecisionModel::master_to_working() {
  if (working_.get() == master_.get()) return;
  torch::NoGradGuard no_grad;
  const auto masters = master_->parameters(), copies = working_->parameters();
  for (size_t i = 0; i < masters.size(); ++i) copies[i].copy_(masters[i]);
}

}  // namespace fold::train
