// One `fold predict` run end to end: a FASTA with its alignments (and template hits), or
// a model-ready batch, through the feature pipeline and the Predictor to the files AF2
// and OpenFold write: <name>.pdb, <name>.cif (pLDDT as ModelCIF QA metrics), <name>.json,
// <name>_pae.json (AlphaFold DB's format, for models with a PAE head) and timings.json.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "fold/config.h"
#include "fold/predict/predict.h"

namespace fold {

struct PredictionRequest {
  // Inputs: `features` (an .npz batch) or `fasta` with `msas` or `alignment_dir`;
  // templates from `template_hits` (or the alignment folder's .hhr) need `mmcif_dir`.
  std::string fasta;
  std::vector<std::string> msas;
  std::string alignment_dir;
  std::string template_hits, mmcif_dir, max_template_date;
  std::string features;
  int64_t seed = 0;  // of the feature sampling (MSA clusters, masks)

  std::string params;  // as Predictor takes them
  PredictOptions predict;

  std::string out_dir;
  std::string save_outputs, save_features;  // optional .npz of the outputs / the batch
  // The training loss of the outputs against the batch's ground truth (needs `features`).
  bool loss = false;
};

struct PredictionFiles {
  std::string pdb, cif, json;
  double mean_plddt = 0;
};

// Throws std::invalid_argument on inputs that cannot run (no sequence, several FASTA
// records, templates without structures, --loss without ground truth), naming the input.
PredictionFiles run_prediction(const Config& config, PredictionRequest request);

}  // namespace fold
