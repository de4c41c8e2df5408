#include "fold/predict/predict.h"

#include <map>

#include <torch/torch.h>

#include <iostream>
#include <sstream>

#include "fold/model/params_io.h"
#include "fold/predict/plan.h"
#include "kernels/device_memory.h"


namespace fold {

int64_t parse_chunk_size(const std::string& text) {
  if (text == "none" || text.empty() || text == "0") return 0;
  size_t used = 0;
  int64_t n = -1;
  try {
    n = std::stoll(text, &used);
  } catch (const std::exception&) {
  }
  if (used != text.size() || n <= 0)
    throw std::invalid_argument("--chunk-size: expected 'none', 'auto' or a positive integer, got '" + text + "'");
  return n;
}

features::PipelineOptions pipeline_options(const Config& c) {
  features::PipelineOptions o;
  o.sampling = features::SamplingOptions::from_config(c, "predict");
  o.resample_msa_in_recycling = c.get_bool("data.common.resample_msa_in_recycling");
  o.num_recycles = c.get_int("data.common.max_recycling_iters");
  o.seed = c.get_int("globals.seed");
  return o;
}

Predictor::Predictor(const Config& config, const std::string& params_path, const PredictOptions& options)
    : config_(config), options_(options), device_(options.device) {
  if (device_.is_cuda() && !torch::cuda::is_available())
    throw std::invalid_argument("--device " + options.device + ": this machine has no usable CUDA device");
  if (options.precision != "fp32" && options.precision != "bf16")
    throw std::invalid_argument("--precision: expected fp32 or bf16, got '" + options.precision + "'");
  policy_ = memory_policy_from_config(config);
  if (!options.chunk_size.empty()) {
    policy_.auto_chunk = options.chunk_size == "auto";
    policy_.chunk_size = policy_.auto_chunk ? 0 : parse_chunk_size(options.chunk_size);  // validates early
  }
  if (options.low_memory) {
    policy_.attention.low_memory = true;
    policy_.offload = true;
  }
  if (options.precision == "bf16") policy_.storage = torch::kBFloat16;
  model_ = AlphaFold(AlphaFoldOptions::from_config(config));
  load_params(*model_, params_path);
  model_->eval();
  model_->to(device_);
  if (policy_.storage) model_->set_trunk_dtype(*policy_.storage);
  model_->set_kernel_options(policy_.attention);
}

RunOptions Predictor::run_options(const data::FeatureDict& batch) {
  const at::Tensor& aatype = data::require_feature(batch, "aatype", "predict");
  const int64_t n_res = aatype.size(0);
  RunOptions run;
  run.memory = policy_;
  run.memory.auto_chunk = false;
  // The planner (fold/predict/plan.h) sizes `auto` chunks and refuses, before anything is
  // allocated, a run it predicts cannot fit the device's free memory (the weights are
  // already loaded, so what is free is what the run may use).
  PlanShape shape;
  shape.n_res = n_res;
  shape.n_seq = data::require_feature(batch, "msa_feat", "predict").size(0);
  shape.n_extra = batch.count("extra_msa") ? batch.at("extra_msa").size(0) : 0;
  shape.n_templ = batch.count("template_aatype") ? batch.at("template_aatype").size(0) : 0;
  const int64_t free_bytes = kernels::available_bytes(device_);
  if (policy_.auto_chunk) {
    auto it = auto_chunks_.find({n_res, shape.n_seq});
    if (it == auto_chunks_.end()) {
      const int64_t chunk = plan_chunk_size(model_->options, shape, policy_, device_.type(), free_bytes);
      it = auto_chunks_.emplace(std::make_pair(n_res, shape.n_seq), std::max<int64_t>(chunk, 1)).first;
    }
    run.memory.chunk_size = it->second;
  }
  if (policy_.inplace) {
    const MemoryPlan plan = plan_inference(model_->options, shape, run.memory, device_.type());
    if (plan.peak_bytes > free_bytes) {
      std::ostringstream why;
      why << "predict: N_res " << n_res << " under memory policy " << run.memory.to_string() << " is planned to need "
          << plan.peak_bytes / 1048576 << " MiB beyond the weights, and " << device_.str() << " has "
          << free_bytes / 1048576 << " MiB free (fold plan --n-res " << n_res
          << " shows the stages); try --chunk-size auto, --low-memory or --precision bf16";
      throw std::runtime_error(why.str());
    }
  }
  // Parking the recycled tensors on the host only frees device memory.
  run.memory.offload = policy_.offload && device_.is_cuda();
  const int64_t slices = aatype.size(-1);
  if (options_.recycles >= 0) {
    run.iterations = options_.recycles + 1;
    if (run.iterations > slices)
      throw std::invalid_argument("--recycles " + std::to_string(options_.recycles) + " needs " +
                                  std::to_string(run.iterations) + " slices of the features' recycling axis; they have " +
                                  std::to_string(slices));
  }
  if (run.iterations == 0) run.iterations = slices;
  return run;
}

data::FeatureDict Predictor::predict(const data::FeatureDict& batch, PredictionReport* report) {
  // Inference mode, not just no-grad: the kernels take their inference-only paths
  // (kernels/attention.h), which a checkpoint's no-grad forward must not.
  c10::InferenceMode inference;
  RunOptions run = run_options(batch);
  const int64_t iterations = run.iterations;
  PredictionReport local;
  PredictionReport& r = report ? *report : local;
  r = {};
  r.device = device_.str();
  r.chunk_size = run.memory.chunk_size;
  r.iterations = iterations;
  const bool tracking = device_.is_cpu() || device_.is_cuda();
  run.on_stage = [&](int iteration, const std::string& stage, double seconds) {
    r.stage_seconds[stage] += seconds;
    if (tracking) {
      // The stage's peak; the next stage measures from here.
      int64_t& peak = r.stage_peak_bytes[stage];
      peak = std::max(peak, kernels::memory_stats(device_).peak_bytes);
      r.peak_bytes = std::max(r.peak_bytes, peak);
      kernels::reset_peak_memory(device_);
    }
    if (options_.progress) {
      const int width = 20;
      const int filled = static_cast<int>(width * (iteration + 1) / iterations);
      std::cerr << "[" << std::string(filled, '#') << std::string(width - filled, '.') << "] iteration "
                << iteration + 1 << "/" << iterations << "  " << stage << " " << seconds << " s\n";
    }
  };

  if (device_.is_cpu()) kernels::enable_cpu_memory_tracking();
  if (tracking) kernels::reset_peak_memory(device_);
  data::FeatureDict on_device;
  for (const auto& [name, t] : batch) on_device[name] = t.to(device_);
  data::FeatureDict out = model_->forward(on_device, run);
  on_device = {};
  // AF-Multimer's early stop may have ended the recycling sooner.
  r.iterations = out.at("num_recycles").item<int64_t>();
  // To the host, wider floating types as fp32. Outputs stored in a narrower type (a bf16
  // trunk's pair and MSA, the pair heads' logits) keep it: an fp32 copy of a bf16 pair is
  // two pair tensors beside it. write_npz widens them as it writes them. Measured as
  // part of the run, since on the CPU the copies are made beside the originals.
  for (auto& [name, t] : out) {
    const bool widen = t.is_floating_point() && c10::elementSize(t.scalar_type()) >= 4;
    t = widen ? t.to(torch::kCPU, torch::kFloat) : t.to(torch::kCPU);
  }
  if (tracking) r.peak_bytes = std::max(r.peak_bytes, kernels::memory_stats(device_).peak_bytes);
  return out;
}

data::Protein prediction_to_protein(const std::string& name, const data::FeatureDict& batch, const data::FeatureDict& out) {
  data::Protein p;
  p.name = name;
  const at::Tensor aatype = batch.at("aatype").select(-1, 0).to(at::kInt).contiguous();
  const at::Tensor residue_index = batch.at("residue_index").select(-1, 0).to(at::kInt).contiguous();
  const int64_t n = aatype.size(0);
  p.aatype.assign(aatype.data_ptr<int32_t>(), aatype.data_ptr<int32_t>() + n);
  // PDB numbering starts at 1 (AF2 writes residue_index + 1).
  for (int64_t i = 0; i < n; ++i) p.residue_index.push_back(residue_index.data_ptr<int32_t>()[i] + 1);
  const at::Tensor pos = out.at("final_atom_positions").contiguous();
  const at::Tensor mask = out.at("final_atom_mask").to(at::kFloat).contiguous();
  p.atom_positions.assign(pos.data_ptr<float>(), pos.data_ptr<float>() + pos.numel());
  p.atom_mask.assign(mask.data_ptr<float>(), mask.data_ptr<float>() + mask.numel());
  const at::Tensor b = out.at("plddt").unsqueeze(-1).expand({n, 37}).contiguous();
  p.b_factors.assign(b.data_ptr<float>(), b.data_ptr<float>() + b.numel());
  const auto it = batch.find("asym_id");
  if (it == batch.end()) {
    p.chain_ids = {"A"};
    p.chain_index.assign(n, 0);
    return p;
  }
  // AF-Multimer: one chain per asym_id, in order of appearance, named as AF2's
  // int_id_to_str_id names them: A, B, ..., Z, AA, BA, ... (least significant first).
  const at::Tensor asym = it->second.select(-1, 0).to(at::kLong).contiguous();
  std::map<int64_t, int32_t> chain_of;
  for (int64_t i = 0; i < n; ++i) {
    const auto [entry, added] = chain_of.emplace(asym.data_ptr<int64_t>()[i], static_cast<int32_t>(chain_of.size()));
    if (added) {
      std::string id;
      for (int64_t k = entry->second; k >= 0; k = k / 26 - 1) id.push_back(static_cast<char>('A' + k % 26));
      p.chain_ids.push_back(id);
    }
    p.chain_index.push_back(entry->second);
  }
  return p;
}

}  // namespace fold
