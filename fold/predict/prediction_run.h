// One `fold predict` run end to end: the queries of a FASTA (or of a folder of them) with
// their alignments (and template hits), or a model-ready batch, through the feature
// pipeline and one loaded Predictor to the files AF2 and OpenFold write: <name>.pdb,
// <name>.cif (pLDDT as ModelCIF QA metrics), <name>.json, <name>_pae.json (AlphaFold DB's
// format, for models with a PAE head) and timings.json.
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

// The files of each query, in the FASTA's order (files sorted by name). Throws
// std::invalid_argument, before the model loads, on inputs that cannot run (no sequence,
// several queries with one query's --msa / --templates / --save-* files or a missing
// alignment folder, templates without structures, --loss without ground truth), naming
// the input.
std::vector<PredictionFiles> run_prediction(const Config& config, const PredictionRequest& request);

}  // namespace fold
