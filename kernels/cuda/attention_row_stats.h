// The softmax statistics the CUDA attention forward saves per query row and from which
// backward recomputes the probabilities. Host and device code alike, so the CPU tests
// check the arithmetic the kernels run (tests/test_attention.cpp).
//
// The row max and the log of the shifted sum are kept apart rather than folded into one
// log-sum-exp: with AF2's finite -1e9 mask a fully masked row has logits near -1e9, where
// fp32 spacing is 64, so m + log(l) rounds to m and backward would recompute every
// probability as 1 instead of 1/K.
#pragma once

#include <cmath>

#ifdef __CUDACC__
#define FOLD_HOST_DEVICE __host__ __device__
#else
#define FOLD_HOST_DEVICE
#endif

namespace fold::kernels::cuda {

struct RowStats {
  float max;      // the shift of the row's exponentials; 0 for a fully masked (-inf) row
  float log_sum;  // log of the sum of exp(logit - max); -inf for a fully masked row
};

// From forward's running max and sum over the whole row. sum > 0 exactly when some logit
// is finite (the maximum contributes exp(0)).
FOLD_HOST_DEVICE inline RowStats finish_row_stats(float running_max, float sum) {
  return sum > 0.0f ? RowStats{running_max, logf(sum)} : RowStats{0.0f, -INFINITY};
}

// Backward's probability of one logit of the row: the difference to the max first, so a
// logit within the max's rounding never meets the large magnitude of the max again.
FOLD_HOST_DEVICE inline float recomputed_probability(float logit, RowStats s) {
  if (s.log_sum == -INFINITY) return 0.0f;  // no key is visible: no probability, no gradient
#ifdef __CUDA_ARCH__
  return __expf((logit - s.max) - s.log_sum);
#else
  return std::exp((logit - s.max) - s.log_sum);
#endif
}

}  // namespace fold::kernels::cuda
