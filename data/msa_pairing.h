// AlphaFold-Multimer's MSA of a complex (AF-Multimer paper, section 2.1; AF2's
// msa_pairing and feature_processing.pair_and_merge, which OpenFold copies): rows of the
// chains' UniProt hits from the same species are paired into rows that span the whole
// complex, and each chain's own MSA is added below them, block-diagonally, so that no
// row pairs sequences that were not paired on evidence.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <string>
#include <vector>

namespace fold::data {

// AF2's species code of an MSA row (msa_identifiers.get_identifiers): the mnemonic after
// the last '_' of a UniProt entry name, "tr|A0A146SKV9|A0A146SKV9_FUNHE/1-141" -> "FUNHE".
// Empty where the row's name is not a UniProt entry (then the row never pairs).
std::string uniprot_species(const std::string& description);

// One chain of a complex, in the order of its asym_id (chains of one entity together).
struct ComplexChainMsa {
  int64_t entity_id = 0;  // 1-based; chains with one sequence share it
  // The chain's own MSA: AF2 residue ids [N, L] (query first) and deletion counts [N, L].
  at::Tensor msa, deletions;
  // Its UniProt hits for pairing (uniprot_hits.sto, query first) with each row's species;
  // read only when the complex has two or more entities.
  at::Tensor pairing_msa, pairing_deletions;
  std::vector<std::string> pairing_species;
};

// AF2's pair_sequences + reorder_paired_rows: [R, K] row indices into each of the K
// chains' pairing MSA, -1 for an all-gap row. Row 0 pairs the queries. A species pairs
// when at least two chains have it and none has over 600 rows of it; each chain's rows
// of the species are sorted by identity to its query, best first, and zipped up to the
// shortest list. Rows spanning more chains come first; within that, by the product of
// the row indices. Ties in either sort keep the earlier row first: AF2 sorts with
// pandas' and numpy's default (unstable) sorts, which leave tie order undefined; for
// small groups those are stable, as here.
at::Tensor paired_row_indices(const std::vector<ComplexChainMsa>& chains);

// The complex's MSA, AF2's names: msa [M, sum L] (AF2 ids), deletion_matrix, msa_mask,
// bert_mask [M, sum L] and cluster_bias_mask [M] (1 on the rows the sampler must keep as
// cluster centres: the query row, or with a single entity each chain block's first row).
struct ComplexMsa {
  at::Tensor msa, deletion_matrix, msa_mask, bert_mask, cluster_bias_mask;
  int64_t paired_rows = 0;  // rows spanning the complex, above the block-diagonal part
};

// pair_and_merge and pad_msa: with two or more entities, the paired rows (cropped to
// crop_rows / 2), then each chain's MSA less the rows already in its paired rows;
// each chain keeps at most crop_rows rows in all. Chains of one entity sit side by side
// in one block (their MSAs are the same). Rows are added, masked, up to min_rows.
// Throws std::invalid_argument on chains out of entity order, or MSAs whose widths
// disagree with their chain.
ComplexMsa pair_and_merge_msas(const std::vector<ComplexChainMsa>& chains, int64_t crop_rows = 2048,
                               int64_t min_rows = 512);

}  // namespace fold::data
