#include "fold/predict/plan.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>

#include "evoformer/evoformer_block.h"
#include "kernels/attention.h"

namespace fold {

namespace {

// Sizes of one Evoformer-like block and the running dimensions, in elements; `s` is
// the storage type's size, `f` fp32's (the structure module and heads), `l` int64's.
struct Sizes {
  int64_t n, s, f = 4, l = 8;
  int64_t chunk;
  evoformer::MemoryPolicy policy;
  c10::DeviceType device;
  at::ScalarType storage;

  int64_t c_z = 0;
  // Pair rows the embedders (elem: the storage's size) and the structure module (fp32)
  // take at once, as fold/alphafold.cpp asks for them.
  int64_t pair_rows(int64_t elem) const { return rows_of(n * c_z * elem, n); }
  int64_t rows_of(int64_t row_bytes, int64_t extent) const {
    const int64_t r = policy.chunked_rows(row_bytes, extent, device);
    return r > 0 ? r : extent;
  }
  // One attention call over `r` rows of `len` positions of `c_in` channels: the
  // normalised rows, q, k, v (and the gate), the kernel's workspace and output.
  // `biases` counts the key mask's: fold predict's inputs are unpadded, so their masks
  // are all ones, whose bias the kernels drop (a padded batch would need more).
  int64_t attention(int64_t r, int64_t len, int64_t c_in, int64_t heads, int64_t c, bool gated, int biases) const {
    const int64_t projections = (gated ? 4 : 3) * r * len * heads * c;
    return (r * len * c_in + projections) * s +
           kernels::attention_workspace_bytes(r * heads, len, len, c, storage, device, gated, biases - 1,
                                              policy.attention);
  }
};

struct Step {
  int64_t bytes;
  std::string what;
};
Step largest(std::initializer_list<Step> steps) {
  Step best{0, ""};
  for (const Step& st : steps)
    if (st.bytes > best.bytes) best = st;
  return best;
}

// The largest transient of one block's pair half (evoformer_block.h) in place, each
// module chunked by block_rows, as the block runs it.
Step pair_transient(const evoformer::EvoformerBlockOptions& b, const Sizes& z) {
  const int64_t n = z.n, s = z.s, c_z = b.c_z();
  const evoformer::BlockRows r = evoformer::block_rows(b, z.policy, n, 0, z.storage, z.device);
  // Triangle attention: its bias and the mask bias whole, then a chunk of rows.
  const int64_t tri_bias = (b.no_heads_pair() + 1) * n * n * s;
  const int64_t ra = r.triangle_attention;
  const Step tri_att{tri_bias + std::max(ra * n * (c_z + b.no_heads_pair()) * s,
                                         z.attention(ra, n, c_z, b.no_heads_pair(), b.c_hidden_pair_att(), true, 2)),
                     "triangle attention"};
  // Triangle multiplication: the held projection, then per chunk the normalised rows
  // with the projection (gate, product, mask; in place) and its channels-first copy,
  // or the normalised rows, that copy, the product, its normalisation, the output and
  // its gate.
  const int64_t c_h = b.c_hidden_mul();
  Step tri_mul{c_h * n * n * s + r.triangle_multiplication * n * s * std::max(c_z + 3 * c_h + 1, 3 * c_z + 3 * c_h),
               "triangle multiplication (held projection)"};
  if (const int64_t rt = r.triangle_multiplication_tile; rt > 0) {
    // In tiles: the finished products waiting for their rows (most after the middle
    // step), tile t's normalised rows and projections; a block of a later tile's
    // normalised entries with its two projections and one being made (gate,
    // projection, channels-first copy); the two fp32 sums, a product and its converted
    // operands; and a finished product being made.
    const int64_t tiles = (n + rt - 1) / rt;
    int64_t waiting = 0;
    for (int64_t t = 0; t < tiles; ++t) waiting = std::max(waiting, (tiles - 1 - t) * (t + 1));
    tri_mul = {(waiting * rt * rt * c_z + rt * n * (c_z + 2 * c_h) + rt * rt * (c_z + 5 * c_h) +
                rt * rt * (2 * c_h + 3 * c_z)) * s + 5 * rt * rt * c_h * z.f,
               "triangle multiplication (tiles)"};
  }
  const Step pair_transition{r.pair_transition * n * c_z * (2 + 2 * b.transition_n()) * s, "pair transition"};
  return largest({tri_att, tri_mul, pair_transition});
}

// The same for the MSA half over `msa_rows` rows of the MSA (S, or the extra MSA's;
// global column attention for the extra-MSA stack).
Step msa_transient(const evoformer::EvoformerBlockOptions& b, const Sizes& z, int64_t msa_rows) {
  const int64_t n = z.n, s = z.s, c_z = b.c_z();
  const evoformer::BlockRows r = evoformer::block_rows(b, z.policy, n, msa_rows, z.storage, z.device);
  const int64_t m = msa_rows, c_m = b.c_m(), h = b.no_heads_msa(), c = b.c_hidden_msa_att();
  // Row attention: its pair bias computed over chunks of the row attention's rows of z.
  const int64_t rm = r.msa_row;
  const Step row{h * n * n * s + m * n * s + std::max(std::min(rm, n) * n * (c_z + h) * s, z.attention(rm, n, c_m, h, c, true, 2)),
                 "MSA row attention"};
  const int64_t rc = r.msa_column;
  Step column;
  if (b.column() == evoformer::MsaColumnKind::kAttention) {
    column = {n * m * s + z.attention(rc, m, c_m, h, c, true, 1), "MSA column attention"};
  } else {
    column = {rc * m * (3 * c_m + 2 * c + 3 * h * c) * s, "MSA column global attention"};
  }
  const Step msa_transition{r.msa_transition * n * c_m * (2 + 2 * b.transition_n()) * s, "MSA transition"};
  const int64_t c_o = b.c_hidden_opm(), ro = r.outer_product_mean;
  // Outer product mean: b held; per chunk of rows the normalised MSA columns, a and its
  // flattened copy, and per column block (kMinChunkBytes of outer products) the outer
  // products, their relayout and the update.
  const int64_t cols = std::clamp<int64_t>(evoformer::kMinChunkBytes / (ro * c_o * c_o * s), 1, n);
  const Step opm{(n * m * c_o + 2 * n * n +
                  std::max(std::min(ro, m) * n * (c_m + 2 * c_o),
                           ro * m * (c_m + 3 * c_o) + 2 * ro * cols * c_o * c_o + 2 * ro * cols * c_z)) * s,
                 "outer product mean"};
  return largest({row, column, msa_transition, opm});
}

// The template embedder's largest transient beyond the pair: the pair stack on the
// stacked templates, their pair features, or the pointwise attention.
Step templates_step(const AlphaFoldOptions& model, int64_t n_templ, const Sizes& z) {
  const int64_t n = z.n, s = z.s, pair = n * n * z.c_z * s;
  const auto& t = model.template_embedder.pair_stack();
  const int64_t c_t = t.c_t(), templ = n_templ * n * n * c_t * s;
  const Step stack{2 * templ + n * n * c_t * s + pair_transient(t.block(), z).bytes, "template pair stack"};
  const Step features{2 * templ + 3 * 88 * n * n * s, "template pair features"};
  const Step pointwise{templ + 2 * pair, "template pointwise attention"};
  return largest({stack, features, pointwise});
}

// The extra-MSA stack's largest transient beyond the pair: embedding the features, or a
// block's MSA or pair half beside the extra MSA's activations.
Step extra_msa_step(const AlphaFoldOptions& model, int64_t n_extra, const Sizes& z) {
  const int64_t n = z.n, s = z.s, f = z.f;
  const auto& b = model.extra_msa_stack.block();
  const int64_t e = n_extra, a = e * n * b.c_m() * s;
  // Embedded chunk by chunk of sequences (alphafold.cpp): the int64 one-hot, its fp32
  // copy, the features joined and cast.
  const int64_t er = z.rows_of(n * 23 * z.l, e);
  const Step embed{a + er * n * (23 * z.l + 23 * f + 25 * f + 25 * s), "extra-MSA features"};
  const Step msa_half = msa_transient(b, z, e), pair_half = pair_transient(b, z);
  // The last block's pair half runs without the extra MSA (stack_runner.h).
  const int64_t a_in_pair_half = model.extra_msa_stack.no_blocks() > 1 ? a : 0;
  return largest({embed, {a + msa_half.bytes, msa_half.what}, {a_in_pair_half + pair_half.bytes, pair_half.what}});
}

}  // namespace

MemoryPlan plan_inference(const AlphaFoldOptions& model, const PlanShape& shape, const evoformer::MemoryPolicy& policy,
                          c10::DeviceType device) {
  if (shape.n_res < 1 || shape.n_seq < 1 || shape.n_extra < 0 || shape.n_templ < 0)
    throw std::invalid_argument("plan: N_res and N_seq must be positive and N_extra, N_templ not negative");
  Sizes z;
  z.n = shape.n_res;
  z.storage = policy.storage.value_or(at::kFloat);
  z.s = static_cast<int64_t>(c10::elementSize(z.storage));
  z.chunk = policy.chunk_size;
  z.policy = policy;
  z.device = device;
  const int64_t n = z.n, s = z.s, f = z.f;
  const auto& evo_block = model.evoformer.block();
  const int64_t c_z = evo_block.c_z(), c_m = evo_block.c_m();
  z.c_z = c_z;
  const bool templates = model.templates_enabled && shape.n_templ > 0;
  const int64_t rows = shape.n_seq + (templates && model.template_embedder.embed_angles() ? shape.n_templ : 0);
  const int64_t pair = n * n * c_z * s, msa = rows * n * c_m * s;
  // Masks in the trunk's type (the pair mask, the MSA masks), and the cast features.
  int64_t masks = n * n * s + rows * n * s;
  if (z.storage != at::kFloat) masks += shape.n_seq * n * 49 * s;

  MemoryPlan plan;
  plan.pair_bytes = pair;
  plan.chunk_size = z.chunk;
  const auto add = [&](const std::string& stage, int64_t resident, const Step& step) {
    plan.stages.push_back({stage, resident, step.bytes, step.what});
    plan.peak_bytes = std::max(plan.peak_bytes, resident + step.bytes);
  };

  // Input embedder: the pair built chunk by chunk (one-hot relative positions, their
  // projection and the two target-feature sums) and the recycling update (the distogram
  // one-hot whole, a chunk of the pair update). The MSA comes after the extra-MSA stack
  // (alphafold.cpp).
  {
    const int64_t rn = z.pair_rows(s);
    const Step relpos{rn * n * (65 * z.l + 65 * s + 3 * c_z * s + 3 * z.l), "relative positions"};
    const Step recycle{std::max(n * n * (16 * s + 45), 15 * n * n * s + 4 * rn * n * c_z * s), "recycling"};
    add("input_embedder", pair, largest({relpos, recycle}));
  }
  // The templates' single rows wait for the MSA.
  const int64_t template_single = (rows - shape.n_seq) * n * c_m * s;
  if (templates) add("templates", pair + masks, templates_step(model, shape.n_templ, z));
  if (model.extra_msa_enabled && shape.n_extra > 0)
    add("extra_msa_stack", pair + masks + template_single + shape.n_extra * n * s,
        extra_msa_step(model, shape.n_extra, z));
  const Step evo = largest({msa_transient(evo_block, z, rows), pair_transient(evo_block, z)});
  add("evoformer", pair + masks, largest({{template_single > 0 ? 2 * msa : msa, "MSA embedding (and the templates' rows joined)"},
                                                {msa + evo.bytes, evo.what}}));

  // The structure module and the heads run in fp32. The pair stays in the trunk's type
  // (in place) and is normalised row by row where IPA reads it when chunked, else whole;
  // so does the MSA, which the masked-MSA head converts by rows; an IPA layer holds up to seven logit-sized
  // tensors ([H, rows, N]: the pair bias, the logits, the squared point distances and the
  // temporaries of the expression summing them); the pair heads convert 64 rows at a
  // time and symmetrise the distogram in place (heads.cpp).
  const int64_t pair_f = n * n * c_z * f;
  const int64_t outputs = pair + msa;
  const int64_t h_ipa = model.structure_module.no_heads_ipa();
  // By rows, IPA computes its logits for a chunk of query rows at a time.
  const bool by_rows = z.pair_rows(f) < n;
  const int64_t normalised = by_rows ? 2 * z.pair_rows(f) * n * c_z * f : pair_f;
  const int64_t logits = 7 * z.pair_rows(f) * n * h_ipa * f;
  add("structure_module", outputs + masks,
      {normalised + logits, by_rows ? "IPA logits of a chunk of rows" : "normalised pair and IPA logits"});
  const int64_t bins = model.heads.distogram_no_bins();
  // The distogram in the pair's type, its rows converted to fp32 when stored otherwise:
  // 64 rows planned, an upper bound on the kMinChunkBytes blocks heads.cpp takes.
  add("heads", outputs,
      {n * n * bins * s + shape.n_seq * n * model.heads.masked_msa_c_out() * f +
           (z.storage == at::kFloat ? 0 : 64 * n * (c_z + bins) * f),
       "distogram"});
  return plan;
}

int64_t plan_chunk_size(const AlphaFoldOptions& model, const PlanShape& shape, evoformer::MemoryPolicy policy,
                        c10::DeviceType device, int64_t budget) {
  int64_t best = 0;
  for (int64_t chunk = 1; chunk <= std::max<int64_t>(1, shape.n_res); chunk *= 2) {
    policy.chunk_size = chunk;
    if (plan_inference(model, shape, policy, device).peak_bytes > budget) break;
    best = chunk;
  }
  return best;
}

int64_t largest_fitting_n_res(const AlphaFoldOptions& model, const PlanShape& depths,
                              const evoformer::MemoryPolicy& policy, c10::DeviceType device, int64_t budget) {
  const auto fits = [&](int64_t n) {
    PlanShape shape = depths;
    shape.n_res = n;
    return plan_chunk_size(model, shape, policy, device, budget) > 0;
  };
  if (!fits(16)) return 0;
  int64_t lo = 16, hi = 32;
  while (fits(hi)) {
    lo = hi;
    hi *= 2;
  }
  while (hi - lo > std::max<int64_t>(1, lo / 100)) {
    const int64_t mid = lo + (hi - lo) / 2;
    (fits(mid) ? lo : hi) = mid;
  }
  return lo;
}

int64_t resident_weight_bytes(const AlphaFoldOptions& model, const evoformer::MemoryPolicy& policy) {
  AlphaFold af(model);
  int64_t bytes = 0;
  for (const auto& child : af->named_children()) {
    const bool fp32 = child.key() == "structure_module" || child.key() == "aux_heads" || !policy.storage;
    for (const auto& p : child.value()->parameters()) bytes += p.numel() * (fp32 ? 4 : 2);
  }
  return bytes;
}

int64_t parse_memory_size(const std::string& text) {
  size_t used = 0;
  double value = -1;
  try {
    value = std::stod(text, &used);
  } catch (const std::exception&) {
  }
  const std::string unit = text.substr(std::min(used, text.size()));
  double scale = 0;
  if (unit.empty() || unit == "B") scale = 1;
  else if (unit == "K" || unit == "KiB") scale = 1024.0;
  else if (unit == "M" || unit == "MiB") scale = 1024.0 * 1024;
  else if (unit == "G" || unit == "GiB") scale = 1024.0 * 1024 * 1024;
  else if (unit == "T" || unit == "TiB") scale = 1024.0 * 1024 * 1024 * 1024;
  if (used == 0 || value <= 0 || scale == 0 || !std::isfinite(value))
    throw std::invalid_argument("memory size '" + text + "': expected a positive number with an optional unit K, M, G or T");
  return static_cast<int64_t>(value * scale);
}

}  // namespace fold
