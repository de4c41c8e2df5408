// The inference path of `fold predict`: a model-ready batch (OpenFold's processed
// features with the trailing recycling axis) -> the model's outputs, under a chosen
// device, precision and memory mode, with per-stage timings and peak memory.
#pragma once

#include <c10/core/Device.h>

#include <cstdint>
#include <functional>
#include <map>
#include <string>

#include "data/feature_dict.h"
#include "data/protein.h"
#include "fold/config.h"
#include "fold/features/feature_pipeline.h"
#include "fold/model/alphafold.h"

namespace fold {

struct PredictOptions {
  std::string device = "cpu";      // "cpu" | "cuda" | "cuda:N"
  std::string precision = "fp32";  // "fp32" | "bf16" (trunk in bf16; structure module and heads fp32)
  // "none" | "auto" | a positive integer; empty: the config's globals.chunk_size.
  std::string chunk_size;
  // Stream attention over keys, park recycled tensors on the host (on top of the
  // config's globals.low_memory_attention / offload_inference).
  bool low_memory = false;
  int64_t recycles = -1;            // < 0: one iteration per slice of the recycling axis
  bool progress = true;             // a progress line per stage on stderr
};

struct PredictionReport {
  std::map<std::string, double> stage_seconds;  // summed over iterations
  int64_t iterations = 0;
  int64_t chunk_size = 0;   // the one used (0 = none)
  int64_t peak_bytes = -1;  // tensor memory on the device, -1 when unknown
  // Per stage ("input_embedder", "extra_msa_stack", "evoformer", ...), the largest
  // over the iterations: what fold plan predicts.
  std::map<std::string, int64_t> stage_peak_bytes;
  std::string device;
};

// "none" (or "0") -> 0, a positive integer -> itself; anything else (also "auto", which
// only the predictor resolves) is std::invalid_argument naming the text.
int64_t parse_chunk_size(const std::string& text);

// data.predict.* / data.common.* / globals.seed -> the feature pipeline's options.
features::PipelineOptions pipeline_options(const Config& config);

// The predicted atom37 structure (final_atom_positions / final_atom_mask of `out`) as a
// Protein named `name`, with pLDDT as every atom's B-factor; `batch` supplies aatype and
// residue_index (trailing recycling axis).
data::Protein prediction_to_protein(const std::string& name, const data::FeatureDict& batch,
                                    const data::FeatureDict& out);

class Predictor {
 public:
  // Builds the model from `config` on the device and loads `params_path` (AF2 .npz,
  // native .safetensors or OpenFold .pt).
  Predictor(const Config& config, const std::string& params_path, const PredictOptions& options);
  // Runs the model; `batch` as AlphaFoldImpl::forward takes it. Outputs on the CPU, fp32,
  // except those a bf16 trunk stores in bf16 (pair, MSA, the pair heads' logits).
  data::FeatureDict predict(const data::FeatureDict& batch, PredictionReport* report = nullptr);

  AlphaFold& model() { return model_; }
  // The memory policy runs use: the config's (memory_policy_from_config) with the
  // options on top; auto_chunk is resolved per input shape.
  const evoformer::MemoryPolicy& memory_policy() const { return policy_; }

 private:
  // The run's memory policy (`auto` chunks sized by the planner, a run planned not to
  // fit refused) and iteration count for `batch`.
  RunOptions run_options(const data::FeatureDict& batch);

  Config config_;
  PredictOptions options_;
  evoformer::MemoryPolicy policy_;
  c10::Device device_;
  AlphaFold model_{nullptr};
  std::map<std::pair<int64_t, int64_t>, int64_t> auto_chunks_;  // per (N_res, N_seq)
};

}  // namespace fold
