#include "data/safetensors.h"

#include <ATen/ATen.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>
#include <utility>
#include <vector>

#include "data/claimed_size.h"
#include "data/parse_error.h"

namespace fold::data {

namespace {

const std::vector<std::pair<std::string, at::ScalarType>>& dtype_names() {
  static const std::vector<std::pair<std::string, at::ScalarType>> names = {
      {"F32", at::kFloat}, {"F64", at::kDouble}, {"F16", at::kHalf}, {"BF16", at::kBFloat16}, {"I64", at::kLong},
      {"I32", at::kInt},   {"I16", at::kShort},  {"I8", at::kChar},  {"U8", at::kByte},       {"BOOL", at::kBool}};
  return names;
}

std::string dtype_name(at::ScalarType t) {
  for (const auto& [name, type] : dtype_names())
    if (type == t) return name;
  throw std::invalid_argument(std::string("write_safetensors: unsupported dtype ") + c10::toString(t));
}

}  // namespace

void write_safetensors(const std::string& path, const std::map<std::string, at::Tensor>& tensors,
                       const std::map<std::string, std::string>& metadata) {
  nlohmann::json header = nlohmann::json::object();
  if (!metadata.empty()) header["__metadata__"] = metadata;
  std::vector<at::Tensor> data;
  int64_t offset = 0;
  for (const auto& [name, t] : tensors) {
    if (name == "__metadata__") throw std::invalid_argument("write_safetensors: '__metadata__' is reserved");
    at::Tensor c = t.detach().to(at::kCPU).contiguous();
    const int64_t bytes = static_cast<int64_t>(c.nbytes());
    header[name] = {{"dtype", dtype_name(c.scalar_type())}, {"shape", c.sizes().vec()},
                    {"data_offsets", {offset, offset + bytes}}};
    offset += bytes;
    data.push_back(std::move(c));
  }
  std::string text = header.dump();
  // The data starts 8-byte aligned, as the reference implementation pads it.
  text.append((8 - text.size() % 8) % 8, ' ');
  const std::string tmp = path + ".tmp" + std::to_string(::getpid());
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out) throw std::runtime_error("write_safetensors: cannot create " + tmp + ": " + std::strerror(errno));
    uint64_t n = text.size();
    unsigned char le[8];
    for (int i = 0; i < 8; ++i) le[i] = static_cast<unsigned char>(n >> (8 * i));
    out.write(reinterpret_cast<const char*>(le), 8);
    out.write(text.data(), static_cast<std::streamsize>(text.size()));
    for (const auto& c : data) out.write(static_cast<const char*>(c.data_ptr()), static_cast<std::streamsize>(c.nbytes()));
    // A full disk shows at the write or at the flush; the half-written file goes.
    if (!out.flush()) {
      const std::string reason = std::strerror(errno);
      out.close();
      std::remove(tmp.c_str());
      throw std::runtime_error("write_safetensors: writing " + path + " failed: " + reason);
    }
  }
  std::filesystem::rename(tmp, path);
}

SafetensorsFile read_safetensors(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw ParseError(path, 0, "cannot open");
  const auto file_size = static_cast<uint64_t>(std::filesystem::file_size(path));
  unsigned char le[8];
  if (file_size < 8 || !in.read(reinterpret_cast<char*>(le), 8)) throw ParseError(path, 0, "not a safetensors file (shorter than 8 bytes)");
  uint64_t header_size = 0;
  for (int i = 7; i >= 0; --i) header_size = (header_size << 8) | le[i];
  if (header_size > file_size - 8) throw ParseError(path, 0, "header length " + std::to_string(header_size) + " exceeds the file");
  std::string text(header_size, '\0');
  in.read(text.data(), static_cast<std::streamsize>(header_size));
  nlohmann::json header;
  try {
    header = nlohmann::json::parse(text);
  } catch (const std::exception& e) {
    throw ParseError(path, 0, std::string("malformed JSON header: ") + e.what());
  }
  if (!header.is_object()) throw ParseError(path, 0, "the header is not a JSON object");
  const uint64_t data_size = file_size - 8 - header_size;
  std::vector<char> data(data_size);
  if (!in.read(data.data(), static_cast<std::streamsize>(data_size))) throw ParseError(path, 0, "truncated data");

  SafetensorsFile out;
  for (const auto& [name, entry] : header.items()) {
    if (name == "__metadata__") {
      for (const auto& [k, v] : entry.items()) out.metadata[k] = v.is_string() ? v.get<std::string>() : v.dump();
      continue;
    }
    try {
      const std::string dtype = entry.at("dtype").get<std::string>();
      const auto it = std::find_if(dtype_names().begin(), dtype_names().end(),
                                   [&](const auto& p) { return p.first == dtype; });
      if (it == dtype_names().end()) throw ParseError(path, 0, "tensor '" + name + "': unknown dtype " + dtype);
      // Non-negative integers only: nlohmann converts a float to an integer with a plain
      // cast, undefined past the range (found by fuzz_safetensors).
      const auto counts = [&path, &e = entry, &name = name](const char* key) {
        const nlohmann::json& list = e.at(key);
        if (!list.is_array()) throw ParseError(path, 0, "tensor '" + name + "': " + key + " is not a list");
        std::vector<uint64_t> out;
        for (const auto& v : list) {
          if (!v.is_number_unsigned())
            throw ParseError(path, 0, "tensor '" + name + "': " + key + " holds " + v.dump() +
                                          ", not a non-negative integer");
          out.push_back(v.get<uint64_t>());
        }
        return out;
      };
      const std::vector<uint64_t> dims = counts("shape"), offsets = counts("data_offsets");
      // The shape's byte count (saturating past the file's data) is checked against the
      // offsets and the file before anything is allocated.
      for (uint64_t d : dims)
        if (d > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()))
          throw ParseError(path, 0, "tensor '" + name + "': dimension " + std::to_string(d) + " out of range");
      const uint64_t bytes = claimed_bytes(c10::elementSize(it->second), dims, data_size);
      if (offsets.size() != 2 || offsets[0] > offsets[1] || offsets[1] > data_size || offsets[1] - offsets[0] != bytes)
        throw ParseError(path, 0, "tensor '" + name + "': data_offsets do not fit its shape and dtype or the file");
      at::Tensor t = at::empty(std::vector<int64_t>(dims.begin(), dims.end()), at::TensorOptions().dtype(it->second));
      // (An empty tensor's storage pointer may be null, which memcpy must not get.)
      if (t.nbytes() > 0) std::memcpy(t.data_ptr(), data.data() + offsets[0], t.nbytes());
      out.tensors[name] = std::move(t);
    } catch (const nlohmann::json::exception& e) {
      throw ParseError(path, 0, "tensor '" + name + "': malformed entry (" + e.what() + ")");
    }
  }
  return out;
}

}  // namespace fold::data
