// NumPy .npz archives: AlphaFold2's released parameters, OpenFold-layout feature
// batches (`fold predict --features`) and saved outputs (`--save-outputs`) all use it.
// Reads stored and deflated (np.savez_compressed) members, .npy format 1.0-3.0, C or
// Fortran order, streaming each member into its tensor; writes stored members straight
// from the tensors, atomically (temporary name, then rename). Both take zip64 archives,
// so members and archives may pass 4 GiB.
#pragma once

#include <ATen/core/Tensor.h>

#include <map>
#include <string>

namespace fold::data {

// Every numeric / bool array as a CPU tensor of the stored dtype, keyed by member name
// without ".npy" ("in/m", "param/alphafold/.../query_w"). String arrays are skipped
// (read_npz_text). Throws ParseError naming the file and member on malformed input.
std::map<std::string, at::Tensor> read_npz(const std::string& path);

// A string array ('<U' or '|S') member as UTF-8 text (elements joined by newlines).
std::string read_npz_text(const std::string& path, const std::string& name);

// Writes the tensors (made contiguous, moved to the CPU) as `<name>.npy` members; bf16,
// which NumPy lacks, as float32.
void write_npz(const std::string& path, const std::map<std::string, at::Tensor>& arrays);

}  // namespace fold::data
