// The safetensors format (Hugging Face): our native checkpoint. An 8-byte little-endian
// header length, a JSON header {name: {dtype, shape, data_offsets}, "__metadata__":
// {string: string}}, then the raw little-endian tensor bytes. Chosen over pickles
// because it can be read without executing anything and mapped by any language.
#pragma once

#include <ATen/core/Tensor.h>

#include <map>
#include <string>

namespace fold::data {

struct SafetensorsFile {
  std::map<std::string, at::Tensor> tensors;
  std::map<std::string, std::string> metadata;
};

// Writes CPU copies of the tensors (F32, F64, F16, BF16, I64, I32, I8, U8, BOOL),
// atomically (temporary name, then rename).
void write_safetensors(const std::string& path, const std::map<std::string, at::Tensor>& tensors,
                       const std::map<std::string, std::string>& metadata = {});

// Throws ParseError naming the file and the problem (truncated data, overlapping or
// out-of-range offsets, unknown dtype, malformed header).
SafetensorsFile read_safetensors(const std::string& path);

}  // namespace fold::data
