#include "evoformer/memory_policy.h"

#include <algorithm>
#include <sstream>
#include <stdexcept>
#include <vector>

namespace fold::evoformer {

namespace {

// "dap4" with prefix "dap" -> 4; -1 when `part` is not prefix + digits.
int64_t numbered(const std::string& part, const std::string& prefix) {
  if (part.rfind(prefix, 0) != 0) return -1;
  const std::string digits = part.substr(prefix.size());
  if (digits.empty() || digits.size() > 9 || digits.find_first_not_of("0123456789") != std::string::npos) return -1;
  return std::stoll(digits);
}

}  // namespace

MemoryPolicy MemoryPolicy::parse(const std::string& text) {
  MemoryPolicy p;
  if (text == "none") return p;
  const auto fail = [&](const std::string& why) {
    return std::invalid_argument("memory policy '" + text + "': " + why +
                                 " (parts: none, checkpoint, checkpoint<K>, dap<K>, chunk<N>, chunkauto, lowmem, "
                                 "offload, bf16, copy, exactchunk; each once, joined by '+')");
  };
  if (text.empty() || text.back() == '+') throw fail("empty part");
  std::istringstream in(text);
  std::vector<std::string> seen;
  for (std::string part; std::getline(in, part, '+');) {
    if (part.empty()) throw fail("empty part");
    // The kind of a part is its letters; each kind may appear once.
    const std::string kind = part.substr(0, part.find_first_of("0123456789"));
    const std::string family = kind == "chunkauto" ? "chunk" : kind;
    for (const auto& s : seen)
      if (s == family) throw fail("'" + part + "' repeats a part");
    seen.push_back(family);
    int64_t n = -1;
    if (part == "checkpoint") {
      p.checkpoint = CheckpointPolicy::every(1);
    } else if ((n = numbered(part, "checkpoint")) >= 1) {
      p.checkpoint = CheckpointPolicy::every(n);
    } else if ((n = numbered(part, "dap")) >= 1) {
      p.dap = n;
    } else if ((n = numbered(part, "chunk")) >= 1) {
      p.chunk_size = n;
    } else if (part == "chunkauto") {
      p.auto_chunk = true;
    } else if (part == "lowmem") {
      p.attention.low_memory = true;
    } else if (part == "offload") {
      p.offload = true;
    } else if (part == "bf16") {
      p.storage = c10::ScalarType::BFloat16;
    } else if (part == "copy") {
      p.inplace = false;
    } else if (part == "exactchunk") {
      p.exact_chunks = true;
    } else {
      throw fail("cannot read '" + part + "'");
    }
  }
  return p;
}

std::string MemoryPolicy::to_string() const {
  std::vector<std::string> parts;
  if (dap > 1) parts.push_back("dap" + std::to_string(dap));
  if (checkpoint.enabled())
    parts.push_back(checkpoint.blocks_per_checkpoint == 1 ? "checkpoint"
                                                          : "checkpoint" + std::to_string(checkpoint.blocks_per_checkpoint));
  if (auto_chunk) parts.push_back("chunkauto");
  else if (chunk_size > 0) parts.push_back("chunk" + std::to_string(chunk_size));
  if (attention.low_memory) parts.push_back("lowmem");
  if (offload) parts.push_back("offload");
  if (storage == c10::ScalarType::BFloat16) parts.push_back("bf16");
  if (!inplace) parts.push_back("copy");
  if (exact_chunks) parts.push_back("exactchunk");
  if (parts.empty()) return "none";
  std::string out = parts[0];
  for (size_t i = 1; i < parts.size(); ++i) out += "+" + parts[i];
  return out;
}

bool MemoryPolicy::operator==(const MemoryPolicy& o) const {
  return chunk_size == o.chunk_size && auto_chunk == o.auto_chunk && attention.path == o.attention.path &&
         attention.low_memory == o.attention.low_memory && attention.scale == o.attention.scale &&
         attention.query_chunk == o.attention.query_chunk && attention.key_chunk == o.attention.key_chunk &&
         checkpoint.blocks_per_checkpoint == o.checkpoint.blocks_per_checkpoint && dap == o.dap &&
         offload == o.offload && storage == o.storage && inplace == o.inplace && exact_chunks == o.exact_chunks;
}

int64_t MemoryPolicy::rows(int64_t row_bytes, int64_t extent, c10::DeviceType device) const {
  const int64_t floor = std::min(extent, (kMinChunkBytes + row_bytes - 1) / std::max<int64_t>(row_bytes, 1));
  if (chunk_size <= 0) return exact_chunks || device != c10::DeviceType::CPU ? extent : floor;
  if (exact_chunks) return std::min(extent, chunk_size);
  return std::min(extent, std::max(chunk_size, floor));
}

}  // namespace fold::evoformer
