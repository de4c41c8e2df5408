// The masked-MSA loss (AF2 Supplement 1.9.9, OpenFold's masked_msa_loss): BERT-style
// cross entropy of the masked-MSA head's logits against the true residue at the MSA
// positions the data pipeline corrupted.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>

#include "fold/config.h"

namespace fold::loss {

// OpenFold's config section loss.masked_msa: the term's settings and its weight in the total.
struct MaskedMsaLossOptions {
  int64_t num_classes = 23;
  double eps = 1e-8;
  double weight = 2.0;

  static MaskedMsaLossOptions from_config(const Config& config);
};

// logits [*, S, N, num_classes], true_msa [*, S, N] (class indices), bert_mask [*, S, N]
// (1 = corrupted, scored). Mean over the scored positions, then over the batch: [].
at::Tensor masked_msa_loss(const at::Tensor& logits, const at::Tensor& true_msa, const at::Tensor& bert_mask,
                           const MaskedMsaLossOptions& options = {});

}  // namespace fold::loss
