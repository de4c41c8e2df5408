// AlphaFold-Multimer's inference feature pipeline (OpenFold's DataPipelineMultimer and
// its multimer input pipeline in predict mode): the chains of a complex with one
// alignment set each -> the model's input batch, one slice per recycling iteration on a
// trailing axis.
//
// Merged once: chains grouped by sequence into entities (asym_id, entity_id, sym_id;
// AF2 orders the chains by entity, in order of first appearance), residue_index from 0
// in each chain, the complex MSA of data/msa_pairing (paired by species when there are
// two or more entities) and each chain's templates, max_templates slots per chain
// (unfilled slots masked, as AF2 pads them: the multimer template embedder averages over
// slots). Per recycling iteration (resampled, seeded): the cluster centres drawn by
// Gumbel sort, the rows of cluster_bias_mask (the queries) always first; masked-MSA
// corruption drawn from the whole MSA's profile; every extra row's soft assignment to
// the centres it agrees with most (softmax of 1000 x agreement) and the cluster
// profiles and deletion means that include the centre itself; msa_feat (49 channels)
// and target_feat (21). The extra MSA is the next max_extra_msa rows of the same draw.
#pragma once

#include <string>
#include <vector>

#include "data/feature_dict.h"
#include "data/msa_pairing.h"
#include "fold/features/feature_pipeline.h"

namespace fold::features {

// One chain of a complex: a FASTA record, and its alignments (OpenFold's per-chain
// folder: the MSAs, uniprot_hits.sto for pairing, template hits).
struct ComplexChainInputs {
  std::string name;  // the record's id
  std::string sequence;
  std::vector<std::string> msa_paths = {};  // merged in this order (AF2's, with msa_max_rows)
  std::vector<size_t> msa_max_rows = {};
  std::string pairing_msa = {};    // uniprot_hits.sto; needed when the complex has several entities
  std::string template_hits = {};  // .hhr; empty = no templates
};

struct ComplexInputs {
  std::vector<ComplexChainInputs> chains;  // as in the FASTA file
  std::string template_mmcif_dir;
  std::string max_template_date;
};

// OpenFold's DataPipelineMultimer.process_fasta output (before sampling), under its
// names: aatype, residue_index, asym_id, entity_id, sym_id, seq_mask, msa,
// deletion_matrix, msa_mask, bert_mask, cluster_bias_mask, template_aatype,
// template_all_atom_positions, template_all_atom_mask. `report->chains` receives the
// FASTA record of each chain in asym_id order. A chain whose sequence came earlier takes
// that chain's alignments.
data::FeatureDict merge_complex_features(const ComplexInputs& inputs, const SamplingOptions& options,
                                         PipelineReport* report = nullptr);

// The multimer template features of one chain of n_res residues: make_template_features'
// aatype, positions and atom mask of `found` (which may be empty), padded with empty
// slots (or cut) to `slots`.
data::FeatureDict pad_template_slots(const data::FeatureDict& found, int64_t n_res, int64_t slots);

// AF2's assembly of a complex (add_assembly_features): chains with one sequence form an
// entity, numbered from 1 in order of first appearance; `order` lists the chains in
// asym_id order, by entity and then as given.
struct ChainAssembly {
  std::vector<int64_t> entity_of;  // per chain as given
  std::vector<size_t> order;
  int64_t entities = 0;
};
ChainAssembly assemble_chains(const std::vector<std::string>& sequences);

// residue_index (from 0 in each chain), asym_id, entity_id and sym_id of chains in
// asym_id order, of the given lengths and entities.
data::FeatureDict chain_identity_features(const std::vector<int64_t>& lengths, const std::vector<int64_t>& entities);

// seq_mask and the complex's MSA (pair_and_merge_msas of `chains`, in asym_id order)
// under AF2's names: msa, deletion_matrix, msa_mask, bert_mask, cluster_bias_mask. `f`
// holds the complex's aatype.
void add_complex_msa_features(data::FeatureDict& f, const std::vector<data::ComplexChainMsa>& chains);

// One recycling iteration's sampled MSA features of merge_complex_features' output.
data::FeatureDict sample_complex_msa_features(const data::FeatureDict& merged, const SamplingOptions& options,
                                              uint64_t seed);

// The whole batch, every feature with its trailing recycling axis.
data::FeatureDict build_complex_features(const ComplexInputs& inputs, const PipelineOptions& options,
                                         PipelineReport* report = nullptr);

}  // namespace fold::features
