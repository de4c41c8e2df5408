// Seeds for the fuzz targets of binary formats, written by the project's own writers
// from one real chain (2q2k chain A with its alignments, from ../shared/data), so that
// fuzzing starts from files as fold prepare, fold train and the weight tools write them:
//   fuzz_seeds OUT SHARED_DATA CONFIG_TOML
// writes OUT/<target>/<file> for fuzz_chain_dataset, fuzz_npz, fuzz_safetensors and
// fuzz_training_state.
#include <ATen/ATen.h>

#include <algorithm>
#include <filesystem>
#include <iostream>
#include <map>
#include <string>
#include <vector>

#include "data/chain_dataset.h"
#include "data/hhr.h"
#include "data/npz.h"
#include "data/prepare_dataset.h"
#include "data/protein.h"
#include "data/safetensors.h"
#include "data/text_file.h"
#include "data/training_checkpoint.h"

namespace fs = std::filesystem;
using namespace fold::data;

int main(int argc, char** argv) {
  if (argc != 4) {
    std::cerr << "usage: fuzz_seeds OUT SHARED_DATA CONFIG_TOML\n";
    return 2;
  }
  const fs::path out = argv[1], shared = argv[2];
  try {
    for (const char* target : {"fuzz_chain_dataset", "fuzz_npz", "fuzz_safetensors", "fuzz_training_state"})
      fs::create_directories(out / target);

    const Protein chain = read_protein((shared / "mmcif" / "2q2k.cif").string(), {"A"});
    ChainRecord record =
        make_chain_record("2q2k_A", chain, (shared / "alignments" / "2q2k_A").string(), nullptr);
    // A few MSA rows are enough to reach every code path, and keep the seed small.
    const int64_t rows = std::min<int64_t>(record.msa_depth(), 8);
    record.msa = record.msa.narrow(0, 0, rows).contiguous();
    record.deletion_matrix = record.deletion_matrix.narrow(0, 0, rows).contiguous();
    record.msa_source = record.msa_source.narrow(0, 0, rows).contiguous();
    // Template hits from a real hhr, their alignments clipped to this chain's length.
    for (TemplateHit hit : read_hhr((shared / "alignments" / "6KWC_1" / "hhsearch_output.hhr").string())) {
      if (record.template_hits.size() == 2) break;
      TemplateHit clipped = hit;
      clipped.indices_query.clear();
      clipped.indices_hit.clear();
      for (size_t i = 0; i < hit.indices_query.size(); ++i)
        if (hit.indices_query[i] < record.length()) {
          clipped.indices_query.push_back(hit.indices_query[i]);
          clipped.indices_hit.push_back(hit.indices_hit[i]);
        }
      record.template_hits.push_back(clipped);
    }
    const fs::path h5 = out / "fuzz_chain_dataset" / "2q2k_A.h5";
    fs::remove(h5);
    {
      ChainDatasetWriter writer(h5.string());
      writer.add(record);
      writer.commit();
    }

    const std::map<std::string, at::Tensor> arrays = {
        {"aatype", record.aatype},
        {"residue_index", record.residue_index},
        {"all_atom_positions", record.atom_positions},
        {"all_atom_mask", record.atom_mask},
        {"msa", record.msa},
        {"deletion_matrix", record.deletion_matrix.to(at::kFloat)},
        {"resolution", at::full({1}, record.resolution, at::kDouble)},
        {"seq_length", at::full({1}, record.length(), at::kLong)}};
    write_npz((out / "fuzz_npz" / "2q2k_A.npz").string(), arrays);
    write_safetensors((out / "fuzz_safetensors" / "2q2k_A.safetensors").string(), arrays,
                      {{"format", "pt"}, {"source", "2q2k_A"}});

    TrainingCheckpoint checkpoint;
    checkpoint.model = {{"w", at::zeros({2, 2})}};
    checkpoint.optimizer = {{"w.exp_avg", at::zeros({2, 2})}};
    checkpoint.ema = checkpoint.model;
    checkpoint.state.step = 3;
    checkpoint.state.epoch = 1;
    checkpoint.state.position = 2;
    checkpoint.state.cpu_rng = cpu_rng_state();
    checkpoint.state.config_toml = read_text_file(argv[3]);
    const fs::path scratch = out / "checkpoint.tmp";
    const std::string dir = save_training_checkpoint(scratch.string(), checkpoint, 1);
    fs::copy_file(fs::path(dir) / "state.json", out / "fuzz_training_state" / "state.json",
                  fs::copy_options::overwrite_existing);
    // remove_tree, not fs::remove_all (data/text_file.h says why).
    remove_tree(scratch.string());
  } catch (const std::exception& e) {
    std::cerr << "fuzz_seeds: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
