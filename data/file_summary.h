// `fold inspect`'s summary of a sequence, alignment, template-hit or structure file, or
// of a chain dataset, read by the same parsers the pipeline uses (so a file that
// summarises cleanly is a file the pipeline accepts).
#pragma once

#include <cstddef>
#include <stdexcept>
#include <string>

namespace fold::data {

struct FileSummary {
  std::string json;     // indented JSON: the format, counts, the first records, and "problems"
  size_t problems = 0;  // chains that cannot be used: non-finite coordinates, unreadable dataset chains
};

// The file's extension names no format the pipeline reads.
class UnknownFileFormat : public std::invalid_argument {
 public:
  using std::invalid_argument::invalid_argument;
};

// The format from the extension (fasta/fa/faa/fas, a3m, a2m, sto/stockholm, hhr,
// cif/mmcif/pdb/ent, each optionally .gz; h5/hdf5 for a chain dataset); every record
// counted, the first `max_records` listed one by one. A dataset has every chain read
// and checked, so a corrupted group, inconsistent shapes or NaN coordinates are reported
// by chain rather than found in the middle of training.
FileSummary summarize_file(const std::string& path, size_t max_records);

}  // namespace fold::data
