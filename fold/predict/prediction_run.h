// One `fold predict` run end to end: the queries of a FASTA (or of a folder of them) with
// their alignments (and template hits), or a model-ready batch, through the feature
// pipeline and one loaded Predictor to the files AF2 and OpenFold write: <name>.pdb,
// <name>.cif (pLDDT as ModelCIF QA metrics), <name>.json, <name>_pae.json (AlphaFold DB's
// format, for models with a PAE head), timings.json and, when asked, <name>_relaxed.pdb
// (AF2's Amber relaxation, fold/predict/amber_relax).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "fold/config.h"
#include "fold/predict/amber_relax.h"
#include "fold/predict/predict.h"

namespace fold {

struct PredictionRequest {
  // Inputs: `features` (an .npz batch) or `fasta` with `msas` or `alignment_dir`;
  // templates from `template_hits` (or the alignment folder's .hhr) need `mmcif_dir`.
  // `fasta` may hold several records, or be a folder of FASTA files: each query (a record;
  // a one-record file is named after the file, as AF2 does) is predicted in turn with
  // the model loaded once. Several queries take their alignments from
  // `alignment_dir`/<name>/ (OpenFold's layout) and write to `out_dir`/<name>/.
  std::string fasta;
  std::vector<std::string> msas;
  std::string alignment_dir;
  std::string template_hits, mmcif_dir, max_template_date;
  std::string features;
  int64_t seed = 0;  // of the feature sampling (MSA clusters, masks)

  std::string params;  // as Predictor takes them (a run of one model; see ModelSpec)
  PredictOptions predict;

  std::string out_dir;
  std::string save_outputs, save_features;  // optional .npz of the outputs / the batch
  // The training loss of the outputs against the batch's ground truth (needs `features`).
  bool loss = false;
  // AF2's Amber relaxation of each prediction: <name>_relaxed.pdb, its numbers in <name>.json.
  bool relax = false;
  RelaxOptions relax_options;
  // With several models: "auto" (AF2's: mean pLDDT for monomer models, ipTM+pTM for
  // multimer ones), "plddt", "ptm" (models with a PAE head) or "iptm+ptm" (multimer).
  std::string rank_by = "auto";
};

struct PredictionFiles {
  std::string model;  // the ModelSpec's name
  std::string pdb, cif, json;
  std::string relaxed_pdb;  // with `relax`
  std::string relax_error;  // why relaxation failed (run_prediction then throws at its end)
  double mean_plddt = 0;
  std::optional<double> ptm;  // models with a PAE head
  // AF-Multimer's ranking confidence, 0.8 ipTM + 0.2 pTM (multimer models).
  std::optional<double> ranking_confidence;
};

// One model of a run: its name in the file names ("model_1"; empty for a run of one
// model, whose files are <name>.*), its config and its weights (as Predictor takes them).
struct ModelSpec {
  std::string name;
  Config config;
  std::string params;
};

// AF2's model set (--models 1,2,3,4,5 --params-dir DIR): model N runs the preset
// af2_model_N, or af2_model_N_ptm when `config` is a _ptm preset (any other config runs
// every model), with `overrides`, and the weights <params_dir>/params_model_N[_ptm].npz
// (AF2's names) or .safetensors (`fold import-params` of those). Throws
// std::invalid_argument naming a model number outside 1-5 or missing weights.
std::vector<ModelSpec> model_set(const std::string& config, const std::vector<std::string>& overrides,
                                 const std::vector<int>& models, const std::string& params_dir);

// The files of each query, in the FASTA's order (files sorted by name). Throws
// std::invalid_argument, before the model loads, on inputs that cannot run (no sequence,
// several queries with one query's --msa / --templates / --save-* files or a missing
// alignment folder, templates without structures, --loss without ground truth), naming
// the input.
std::vector<PredictionFiles> run_prediction(const Config& config, const PredictionRequest& request);

// Each model in turn (loaded once) over every query. With several models a query's
// files are <name>_<model>.*, ranked_0.pdb (best) ... copies of them (relaxed where
// relaxed) and ranking_debug.json, AF2's: {"plddts": {model: mean pLDDT}, "order": [...]}
// (AF2 ranks monomer models, _ptm ones too, by mean pLDDT), {"iptm+ptm": ...} (AF2's
// ranking of multimer models), or {"ptm": ...} with rank_by "ptm". timings.json has each
// model's stages as <stage>_<model>.
std::vector<PredictionFiles> run_prediction(const std::vector<ModelSpec>& models, const PredictionRequest& request);

}  // namespace fold
