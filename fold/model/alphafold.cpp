#include "fold/model/alphafold.h"

#include <torch/torch.h>

#include <chrono>
#include <cmath>
#include <optional>

#include "data/residue_constants.h"
#include "fold/model/confidence.h"
#include "structure_module/all_atom.h"

namespace fold {

using data::FeatureDict;
using data::require_feature;

namespace {

constexpr const char* kWho = "AlphaFold";

// Reads of one section of the config (`prefix` ends in '.').
struct Section {
  const Config& c;
  std::string prefix;
  int64_t i(const std::string& k) const { return c.get_int(prefix + k); }
  double f(const std::string& k) const { return c.get_float(prefix + k); }
  bool b(const std::string& k) const { return c.get_bool(prefix + k); }
};

evoformer::EvoformerBlockOptions block_options(const Section& s) {
  return evoformer::EvoformerBlockOptions(s.i("c_m"), s.i("c_z"))
      .c_hidden_msa_att(s.i("c_hidden_msa_att"))
      .c_hidden_opm(s.i("c_hidden_opm"))
      .c_hidden_mul(s.i("c_hidden_mul"))
      .c_hidden_pair_att(s.i("c_hidden_pair_att"))
      .no_heads_msa(s.i("no_heads_msa"))
      .no_heads_pair(s.i("no_heads_pair"))
      .transition_n(s.i("transition_n"))
      .msa_dropout(s.f("msa_dropout"))
      .pair_dropout(s.f("pair_dropout"))
      .opm_first(s.b("opm_first"))
      .fuse_projection_weights(s.b("fuse_projection_weights"))
      .inf(s.f("inf"))
      .eps(s.f("eps"));
}

// Wall time of one stage, reported through RunOptions::on_stage.
class StageTimer {
 public:
  StageTimer(const RunOptions& run, int iteration) : run_(run), iteration_(iteration) {}
  void done(const std::string& stage) {
    const auto now = std::chrono::steady_clock::now();
    if (run_.on_stage) run_.on_stage(iteration_, stage, std::chrono::duration<double>(now - start_).count());
    start_ = now;
  }

 private:
  const RunOptions& run_;
  int iteration_;
  std::chrono::steady_clock::time_point start_ = std::chrono::steady_clock::now();
};

TemplateEmbedderOptions template_embedder_options(const Section& m) {
  const std::string tps = "template.template_pair_stack.";
  const std::string tpa = "template.template_pointwise_attention.";
  TORCH_CHECK(m.i("template.template_pair_embedder.c_out") == m.i(tps + "c_t"),
              "config: model.template.template_pair_embedder.c_out must equal template_pair_stack.c_t");
  return TemplateEmbedderOptions()
      .c_m(m.i("template.template_single_embedder.c_out"))
      .angle_c_in(m.i("template.template_single_embedder.c_in"))
      .pair_c_in(m.i("template.template_pair_embedder.c_in"))
      .distogram_min_bin(m.f("template.distogram.min_bin"))
      .distogram_max_bin(m.f("template.distogram.max_bin"))
      .distogram_no_bins(m.i("template.distogram.no_bins"))
      .use_unit_vector(m.b("template.use_unit_vector"))
      .embed_angles(m.b("template.embed_angles"))
      .inf(m.f("template.inf"))
      .eps(m.f("template.eps"))
      .pair_stack(evoformer::TemplatePairStackOptions()
                      .c_t(m.i(tps + "c_t"))
                      .c_hidden_tri_att(m.i(tps + "c_hidden_tri_att"))
                      .c_hidden_tri_mul(m.i(tps + "c_hidden_tri_mul"))
                      .no_blocks(m.i(tps + "no_blocks"))
                      .no_heads(m.i(tps + "no_heads"))
                      .pair_transition_n(m.i(tps + "pair_transition_n"))
                      .dropout_rate(m.f(tps + "dropout_rate"))
                      .inf(m.f(tps + "inf"))
                      .tri_mul_first(m.b(tps + "tri_mul_first"))
                      .fuse_projection_weights(m.b(tps + "fuse_projection_weights")))
      .pointwise(evoformer::TemplatePointwiseAttentionOptions()
                     .c_t(m.i(tpa + "c_t"))
                     .c_z(m.i(tpa + "c_z"))
                     .c_hidden(m.i(tpa + "c_hidden"))
                     .no_heads(m.i(tpa + "no_heads"))
                     .inf(m.f(tpa + "inf")));
}

structure::StructureModuleOptions structure_module_options(const Section& m) {
  const std::string sm = "structure_module.";
  return structure::StructureModuleOptions()
      .c_s(m.i(sm + "c_s"))
      .c_z(m.i(sm + "c_z"))
      .c_ipa(m.i(sm + "c_ipa"))
      .c_resnet(m.i(sm + "c_resnet"))
      .no_heads_ipa(m.i(sm + "no_heads_ipa"))
      .no_qk_points(m.i(sm + "no_qk_points"))
      .no_v_points(m.i(sm + "no_v_points"))
      .dropout_rate(m.f(sm + "dropout_rate"))
      .no_blocks(m.i(sm + "no_blocks"))
      .no_transition_layers(m.i(sm + "no_transition_layers"))
      .no_resnet_blocks(m.i(sm + "no_resnet_blocks"))
      .no_angles(m.i(sm + "no_angles"))
      .trans_scale_factor(m.f(sm + "trans_scale_factor"))
      .epsilon(m.f(sm + "epsilon"))
      .inf(m.f(sm + "inf"));
}

}  // namespace

AlphaFoldOptions AlphaFoldOptions::from_config(const Config& c) {
  const Section m{c, "model."};
  AlphaFoldOptions o;
  o.input_embedder = InputEmbedderOptions(m.i("input_embedder.c_m"), m.i("input_embedder.c_z"))
                         .tf_dim(m.i("input_embedder.tf_dim"))
                         .msa_dim(m.i("input_embedder.msa_dim"))
                         .relpos_k(m.i("input_embedder.relpos_k"))
                         .use_chain_relative(m.b("input_embedder.use_chain_relative"))
                         .max_relative_chain(m.i("input_embedder.max_relative_chain"));
  o.recycling_embedder = RecyclingEmbedderOptions(m.i("recycling_embedder.c_m"), m.i("recycling_embedder.c_z"))
                             .min_bin(m.f("recycling_embedder.min_bin"))
                             .max_bin(m.f("recycling_embedder.max_bin"))
                             .no_bins(m.i("recycling_embedder.no_bins"))
                             .inf(m.f("recycling_embedder.inf"));

  o.templates_enabled = m.b("template.enabled");
  o.template_embedder = template_embedder_options(m);

  o.extra_msa_enabled = m.b("extra_msa.enabled");
  o.extra_msa_c_in = m.i("extra_msa.extra_msa_embedder.c_in");
  TORCH_CHECK(m.i("extra_msa.extra_msa_embedder.c_out") == m.i("extra_msa.extra_msa_stack.c_m"),
              "config: model.extra_msa.extra_msa_embedder.c_out must equal extra_msa_stack.c_m");
  o.extra_msa_stack = evoformer::ExtraMsaStackOptions(block_options({c, "model.extra_msa.extra_msa_stack."}),
                                                      m.i("extra_msa.extra_msa_stack.no_blocks"));
  o.evoformer = evoformer::EvoformerStackOptions(block_options({c, "model.evoformer_stack."}),
                                                 m.i("evoformer_stack.no_blocks"), m.i("evoformer_stack.c_s"));

  o.structure_module = structure_module_options(m);
  o.heads = AuxiliaryHeadsOptions()
                .c_s(m.i("heads.lddt.c_in"))
                .lddt_c_hidden(m.i("heads.lddt.c_hidden"))
                .lddt_no_bins(m.i("heads.lddt.no_bins"))
                .c_z(m.i("heads.distogram.c_z"))
                .distogram_no_bins(m.i("heads.distogram.no_bins"))
                .c_m(m.i("heads.masked_msa.c_m"))
                .masked_msa_c_out(m.i("heads.masked_msa.c_out"))
                .experimentally_resolved_c_out(m.i("heads.experimentally_resolved.c_out"))
                .tm_enabled(m.b("heads.tm.enabled"))
                .tm_no_bins(m.i("heads.tm.no_bins"));
  o.tm_max_bin = c.get_float("loss.tm.max_bin");
  o.is_multimer = c.get_bool("globals.is_multimer");
  if (o.is_multimer) {
    // OpenFold's multimer template keys: the pair embedder's c_in is the query pair's c_z.
    TORCH_CHECK(m.i("template.template_pair_embedder.c_in") == o.input_embedder.c_z(),
                "config: a multimer model's model.template.template_pair_embedder.c_in must be c_z (",
                o.input_embedder.c_z(), ")");
    o.template_embedder_multimer = TemplateEmbedderMultimerOptions()
                                       .c_z(o.input_embedder.c_z())
                                       .c_m(o.template_embedder.c_m())
                                       .single_c_in(o.template_embedder.angle_c_in())
                                       .distogram_min_bin(o.template_embedder.distogram_min_bin())
                                       .distogram_max_bin(o.template_embedder.distogram_max_bin())
                                       .distogram_no_bins(o.template_embedder.distogram_no_bins())
                                       .inf(o.template_embedder.inf())
                                       .pair_stack(o.template_embedder.pair_stack());
  }
  o.structure_module.multimer(o.is_multimer);
  o.recycle_early_stop_tolerance = m.f("recycle_early_stop_tolerance");
  o.iptm_weight = m.f("heads.tm.iptm_weight");
  o.ptm_weight = m.f("heads.tm.ptm_weight");
  return o;
}

evoformer::MemoryPolicy memory_policy_from_config(const Config& c) {
  evoformer::MemoryPolicy p;
  // Config::validate() has checked the values' forms.
  const std::string chunk = c.get_string("globals.chunk_size");
  if (chunk == "auto") p.auto_chunk = true;
  else if (chunk != "none") p.chunk_size = std::stoll(chunk);
  p.attention.path = kernels::parse_attention_path(c.get_string("kernels.attention"));
  p.attention.low_memory = c.get_bool("globals.low_memory_attention");
  p.offload = c.get_bool("globals.offload_inference");
  p.checkpoint = evoformer::CheckpointPolicy::parse(c.get_string("train.checkpoint"));
  p.dap = c.get_int("dist.dap");
  return p;
}

AlphaFoldImpl::AlphaFoldImpl(const AlphaFoldOptions& options_) : options(options_) { reset(); }

void AlphaFoldImpl::reset() {
  const auto& o = options;
  input_embedder = register_module("input_embedder", InputEmbedder(o.input_embedder));
  recycling_embedder = register_module("recycling_embedder", RecyclingEmbedder(o.recycling_embedder));
  if (o.templates_enabled && o.is_multimer)
    template_embedder_multimer =
        register_module("template_embedder", TemplateEmbedderMultimer(o.template_embedder_multimer));
  else if (o.templates_enabled)
    template_embedder = register_module("template_embedder", TemplateEmbedder(o.template_embedder));
  if (o.extra_msa_enabled) {
    extra_msa_embedder = register_module(
        "extra_msa_embedder",
        evoformer::LinearModule(o.extra_msa_c_in, o.extra_msa_stack.block().c_m(), evoformer::LinearInit::kDefault));
    extra_msa_stack = register_module("extra_msa_stack", evoformer::ExtraMsaStack(o.extra_msa_stack));
  }
  evoformer = register_module("evoformer", evoformer::EvoformerStack(o.evoformer));
  structure_module = register_module("structure_module", structure::StructureModule(o.structure_module));
  aux_heads = register_module("aux_heads", AuxiliaryHeads(o.heads));
}

void AlphaFoldImpl::set_kernel_options(const kernels::AttentionOptions& kernel) {
  if (template_embedder) template_embedder->set_kernel_options(kernel);
  if (template_embedder_multimer) template_embedder_multimer->set_kernel_options(kernel);
  if (extra_msa_stack) extra_msa_stack->set_kernel_options(kernel);
  evoformer->set_kernel_options(kernel);
}

void AlphaFoldImpl::set_trunk_dtype(c10::ScalarType dtype) {
  for (auto& child : named_children())
    if (child.key() != "structure_module" && child.key() != "aux_heads") child.value()->to(dtype);
}

struct AlphaFoldImpl::Trunk {
  torch::Device device;
  torch::ScalarType dtype;
  const evoformer::MemoryPolicy& memory;
  const RunOptions& run;
  // Without autograd (and without dropout: in eval mode) the residual updates of the
  // trunk happen in place (memory_policy.h).
  bool inplace;
  int64_t n;     // residues
  int64_t c_z;
  // Rows of the pair the embedders take at once (pair rows in the trunk's type).
  int64_t pair_rows;

  torch::Tensor cast(const torch::Tensor& t) const { return t.to(device, dtype); }
};

torch::Tensor AlphaFoldImpl::embed_pair(const FeatureDict& f, const Recycled& recycled, const torch::Tensor& aatype,
                                        const Trunk& t, torch::Tensor& m_first_row_update) {
  const torch::Tensor residue_index = require_feature(f, "residue_index", kWho).to(t.device);
  const ResiduePositions positions =
      options.input_embedder.use_chain_relative()
          ? ResiduePositions(residue_index, require_feature(f, "asym_id", kWho).to(t.device),
                             require_feature(f, "entity_id", kWho).to(t.device),
                             require_feature(f, "sym_id", kWho).to(t.device))
          : ResiduePositions(residue_index);
  torch::Tensor z = input_embedder->pair(t.cast(require_feature(f, "target_feat", kWho)), positions, t.pair_rows);
  const torch::Tensor m_prev = recycled.m_first_row.defined()
                                   ? t.cast(recycled.m_first_row)
                                   : torch::zeros({t.n, options.input_embedder.c_m()}, z.options());
  const torch::Tensor x_prev = structure::pseudo_beta(
      aatype, recycled.x.defined() ? t.cast(recycled.x) : torch::zeros({t.n, 37, 3}, z.options()));
  if (t.inplace) {
    recycling_embedder->add_pair_update_(z, recycled.z, x_prev, t.pair_rows);
    m_first_row_update = recycling_embedder->layer_norm_m(m_prev);
    return z;
  }
  const torch::Tensor z_prev = recycled.z.defined() ? t.cast(recycled.z) : torch::zeros({t.n, t.n, t.c_z}, z.options());
  torch::Tensor z_update;
  std::tie(m_first_row_update, z_update) = recycling_embedder(m_prev, z_prev, x_prev);
  return z + z_update;
}

torch::Tensor AlphaFoldImpl::add_templates(const FeatureDict& f, torch::Tensor z, const torch::Tensor& pair_mask,
                                           const Trunk& t, torch::Tensor& single, torch::Tensor& single_mask) {
  FeatureDict templates;
  for (const auto& [name, x] : f)
    if (name.rfind("template_", 0) == 0) templates[name] = x.is_floating_point() ? t.cast(x) : x.to(t.device);
  if (template_embedder_multimer) templates["asym_id"] = require_feature(f, "asym_id", kWho).to(t.device);
  const TemplateEmbedding te = template_embedder_multimer
                                   ? template_embedder_multimer(templates, z, pair_mask, t.memory, t.run.dap)
                                   : template_embedder(templates, z, pair_mask, t.memory, t.run.dap);
  single = te.single;
  single_mask = te.single_mask;
  return t.inplace ? z.add_(te.pair) : z + te.pair;
}

torch::Tensor AlphaFoldImpl::add_extra_msa(const FeatureDict& f, torch::Tensor z, const torch::Tensor& pair_mask,
                                           const Trunk& t) {
  FeatureDict extra;
  const std::vector<const char*> names = options.is_multimer
                                             ? std::vector<const char*>{"extra_msa", "extra_deletion_matrix"}
                                             : std::vector<const char*>{"extra_msa", "extra_has_deletion",
                                                                        "extra_deletion_value"};
  for (const char* name : names) extra[name] = require_feature(f, name, kWho).to(t.device);
  // In place, embedded chunk by chunk of sequences: the features (an int64 one-hot
  // first) are several times the embedding's size.
  const int64_t n_extra = extra["extra_msa"].size(-2);
  const int64_t extra_rows = t.inplace ? t.memory.chunked_rows(t.n * 23 * 8, n_extra, t.device.type()) : 0;
  torch::Tensor a = evoformer::chunked(n_extra, extra_rows, -3, [&](int64_t start, int64_t len) {
    FeatureDict rows;
    for (const auto& [name, x] : extra) rows[name] = x.narrow(-2, start, len);
    return extra_msa_embedder(t.cast(build_extra_msa_feat(rows)));
  });
  // Moved in: an in-place stack overwrites them instead of copying.
  return extra_msa_stack(std::move(a), std::move(z), t.cast(require_feature(f, "extra_msa_mask", kWho)), pair_mask,
                         t.memory, t.run.dap);
}

FeatureDict AlphaFoldImpl::structure_outputs(const torch::Tensor& m, const torch::Tensor& z, const torch::Tensor& s,
                                             const torch::Tensor& aatype, const torch::Tensor& seq_mask, int64_t n_seq,
                                             const Trunk& t) {
  FeatureDict out;
  // The structure module and heads run in fp32 whatever the trunk's precision. In place,
  // the pair and the MSA stay in the trunk's type: the structure module and the heads
  // convert them row by row (a bf16 pair is not copied whole into fp32).
  out["msa"] = t.inplace ? m.narrow(-3, 0, n_seq) : m.narrow(-3, 0, n_seq).to(torch::kFloat);
  out["msa_first_row"] = m.select(-3, 0).to(torch::kFloat);
  out["pair"] = t.inplace ? z : z.to(torch::kFloat);
  out["single"] = s.to(torch::kFloat);
  // Query rows of the structure module's pair input at once (in fp32).
  const int64_t query_rows = t.inplace ? t.memory.chunked_rows(t.n * t.c_z * 4, t.n, t.device.type()) : 0;
  const structure::StructureModuleOutput sm =
      structure_module(out["single"], out["pair"], aatype, seq_mask.to(torch::kFloat), query_rows);
  out["sm/frames"] = sm.frames;
  out["sm/sidechain_frames"] = sm.sidechain_frames;
  out["sm/unnormalized_angles"] = sm.unnormalized_angles;
  out["sm/angles"] = sm.angles;
  out["sm/positions"] = sm.positions;
  out["sm/states"] = sm.states;
  out["sm/single"] = sm.single;
  out["final_atom_positions"] = structure::atom14_to_atom37(sm.positions.select(0, -1), aatype);
  out["final_atom_mask"] = structure::atom37_mask(aatype);
  out["final_affine_tensor"] = sm.frames.select(0, -1);
  return out;
}

FeatureDict AlphaFoldImpl::iteration(const FeatureDict& f, Recycled& recycled, int index, const RunOptions& run) {
  StageTimer timer(run, index);
  const torch::Tensor& target_feat = require_feature(f, "target_feat", kWho);
  const torch::Tensor& msa_feat = require_feature(f, "msa_feat", kWho);
  const auto dtype = input_embedder->linear_tf_m->weight.scalar_type();
  const auto device = input_embedder->linear_tf_m->weight.device();
  const int64_t n = target_feat.size(-2);
  const int64_t c_z = options.input_embedder.c_z();
  const evoformer::MemoryPolicy& memory = run.memory;
  const Trunk t{device,
                dtype,
                memory,
                run,
                memory.inplace && !torch::GradMode::is_enabled() && !is_training(),
                n,
                c_z,
                memory.chunked_rows(n * c_z * static_cast<int64_t>(c10::elementSize(dtype)), n, device.type())};
  const torch::Tensor seq_mask = t.cast(require_feature(f, "seq_mask", kWho));
  const torch::Tensor pair_mask = seq_mask.unsqueeze(-1) * seq_mask.unsqueeze(-2);
  torch::Tensor msa_mask = t.cast(require_feature(f, "msa_mask", kWho));
  const torch::Tensor aatype = require_feature(f, "aatype", kWho).to(device);

  // The pair first: the MSA is built only after the extra-MSA stack, which needs just
  // the pair, so that it and the extra MSA are never held together (the peak of a long
  // protein; fold/predict/plan.cpp models the same order).
  torch::Tensor m_first_row_update;
  torch::Tensor z = embed_pair(f, recycled, aatype, t, m_first_row_update);
  recycled = {};
  timer.done("input_embedder");
  // No template features, or zero templates (no hits): nothing to add, exactly as
  // all-masked templates would give.
  torch::Tensor template_single, template_single_mask;
  const auto templ = f.find("template_aatype");
  if ((template_embedder || template_embedder_multimer) && templ != f.end() && templ->second.size(0) > 0) {
    z = add_templates(f, std::move(z), pair_mask, t, template_single, template_single_mask);
    timer.done("templates");
  }
  // An MSA no deeper than the cluster count leaves no extra sequences: no update.
  if (extra_msa_stack && require_feature(f, "extra_msa", kWho).size(0) > 0) {
    z = add_extra_msa(f, std::move(z), pair_mask, t);
    timer.done("extra_msa_stack");
  }

  torch::Tensor m = input_embedder->msa(t.cast(target_feat), t.cast(msa_feat));
  if (t.inplace) {
    m.select(-3, 0).add_(m_first_row_update);
  } else {
    m = torch::cat({m.narrow(-3, 0, 1) + m_first_row_update.unsqueeze(-3), m.narrow(-3, 1, m.size(-3) - 1)}, -3);
  }
  if (template_single.defined()) {
    m = torch::cat({m, template_single}, -3);
    msa_mask = torch::cat({msa_mask, template_single_mask.to(dtype)}, -2);
  }
  auto [m_out, z_out, s] = evoformer(std::move(m), std::move(z), msa_mask, pair_mask, memory, run.dap);
  timer.done("evoformer");

  FeatureDict out = structure_outputs(m_out, z_out, s, aatype, seq_mask, msa_feat.size(-3), t);
  timer.done("structure_module");

  // Stop-gradient on everything recycled; optionally parked on the host.
  const auto keep = [&](const torch::Tensor& x) { return memory.offload ? x.detach().to(torch::kCPU) : x.detach(); };
  recycled.m_first_row = keep(out["msa_first_row"]);
  recycled.z = keep(out["pair"]);
  recycled.x = keep(out["final_atom_positions"]);
  return out;
}

namespace {

// OpenFold's tolerance_reached: whether the CA-CA distances of the residues in `mask`
// moved by at most `tolerance` (RMS over residue pairs) from `before` (undefined before
// the first iteration: the origin, as OpenFold's zero positions) to `after`.
bool distances_settled(const torch::Tensor& before, const torch::Tensor& after, const torch::Tensor& mask,
                       double tolerance) {
  const int64_t ca = data::rc::atom_order("CA");
  const auto distances = [ca](const torch::Tensor& x) {
    const torch::Tensor p = x.select(-2, ca).to(torch::kFloat);
    return (p.unsqueeze(-2) - p.unsqueeze(-3)).square().sum(-1).sqrt();
  };
  const torch::Tensor sq = (distances(before.defined() ? before : torch::zeros_like(after)) - distances(after)).square();
  const torch::Tensor pairs = (mask.unsqueeze(-1) * mask.unsqueeze(-2)).to(sq.device(), torch::kFloat);
  // OpenFold's masked_mean (eps 1e-4), then sqrt(. + 1e-8).
  const double mean = ((pairs * sq).sum() / (pairs.sum() + 1e-4)).item<double>();
  return std::sqrt(mean + 1e-8) <= tolerance;
}

}  // namespace

FeatureDict AlphaFoldImpl::forward(const FeatureDict& batch, const RunOptions& run) {
  const torch::Tensor& aatype = require_feature(batch, "aatype", kWho);
  TORCH_CHECK(aatype.dim() == 2, kWho, ": aatype must be [N_res, N_recycle] (one protein, trailing recycling axis), got ",
              aatype.sizes());
  const int64_t slices = aatype.size(-1);
  const int64_t iterations = run.iterations > 0 ? run.iterations : slices;
  TORCH_CHECK(iterations <= slices, kWho, ": ", iterations, " iterations need as many slices of the recycling axis; the batch has ",
              slices);
  for (const auto& [name, t] : batch)
    TORCH_CHECK(t.dim() >= 1 && t.size(-1) == slices, kWho, ": feature '", name, "' ", t.sizes(),
                " lacks the trailing recycling axis of length ", slices);

  const bool grad = torch::GradMode::is_enabled();
  const bool early_stop = options.is_multimer && options.recycle_early_stop_tolerance >= 0;
  Recycled recycled;
  FeatureDict out;
  int64_t done = 0;  // iterations run
  for (bool settled = false; done < iterations;) {
    FeatureDict features;
    for (const auto& [name, t] : batch) features[name] = t.select(-1, done);
    const bool last = done + 1 == iterations || settled;
    // Only the last iteration may build a graph (AF2 trains through the last one).
    torch::AutoGradMode mode(grad && last);
    const torch::Tensor x_before = recycled.x;
    out = {};  // the last iteration's outputs are in `recycled`; not held through this one
    out = iteration(features, recycled, static_cast<int>(done), run);
    ++done;
    if (last) break;
    if (early_stop)
      settled = distances_settled(x_before, recycled.x, features.at("seq_mask"), options.recycle_early_stop_tolerance);
  }

  StageTimer timer(run, static_cast<int>(done) - 1);
  const AuxiliaryLogits logits = aux_heads(out["sm/single"], out["single"], out["pair"], out["msa"]);
  out["lddt_logits"] = logits.lddt_logits;
  out["plddt"] = compute_plddt(logits.lddt_logits);
  out["distogram_logits"] = logits.distogram_logits;
  out["masked_msa_logits"] = logits.masked_msa_logits;
  out["experimentally_resolved_logits"] = logits.experimentally_resolved_logits;
  if (logits.tm_logits.defined()) {
    out["tm_logits"] = logits.tm_logits;
    const torch::Tensor tm_logits = logits.tm_logits.to(torch::kFloat);
    out["ptm_score"] = compute_tm(tm_logits, {}, options.tm_max_bin);
    if (options.is_multimer) {
      const torch::Tensor asym_id = require_feature(batch, "asym_id", kWho).select(-1, done - 1);
      out["iptm_score"] = compute_tm(tm_logits, {}, options.tm_max_bin, 1e-8, asym_id.to(tm_logits.device()));
      out["weighted_ptm_score"] = options.iptm_weight * out["iptm_score"] + options.ptm_weight * out["ptm_score"];
    }
    AlignedError pae = compute_predicted_aligned_error(tm_logits, options.tm_max_bin);
    out["predicted_aligned_error"] = pae.predicted_aligned_error;
    out["aligned_confidence_probs"] = pae.aligned_confidence_probs;
    out["max_predicted_aligned_error"] = pae.max_predicted_aligned_error;
  }
  out["num_recycles"] = torch::tensor(done);
  timer.done("heads");
  return out;
}

std::vector<torch::Tensor> AlphaFoldImpl::axially_split_parameters() {
  std::vector<torch::Tensor> out = evoformer->blocks->parameters();
  if (extra_msa_stack)
    for (const auto& p : extra_msa_stack->blocks->parameters()) out.push_back(p);
  const evoformer::TemplatePairStack stack = template_embedder            ? template_embedder->template_pair_stack
                                            : template_embedder_multimer ? template_embedder_multimer->template_pair_stack
                                                                         : nullptr;
  if (stack)
    for (const auto& p : stack->blocks->parameters()) out.push_back(p);
  return out;
}

}  // namespace fold
