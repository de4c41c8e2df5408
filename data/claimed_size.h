// Sizes that come from a file (a header's shape, a dataset's extent) are checked against
// what the file can hold before anything is allocated; this is the one byte count every
// reader uses for it, safe from overflow whatever a corrupt header claims.
#pragma once

#include <cstdint>

namespace fold::data {

// The bytes of an array of `dims` (non-negative) with `element`-byte elements: 0 when a
// dimension is 0, and any count above `cap` saturates at cap + 1.
template <class Dims>
uint64_t claimed_bytes(uint64_t element, const Dims& dims, uint64_t cap) {
  for (const auto d : dims)
    if (d == 0) return 0;
  uint64_t bytes = element;
  for (const auto d : dims) {
    const auto n = static_cast<uint64_t>(d);
    bytes = bytes > cap / n ? cap + 1 : bytes * n;
  }
  return bytes;
}

}  // namespace fold::data
