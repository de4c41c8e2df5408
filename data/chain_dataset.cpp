#include "data/chain_dataset.h"

#include <ATen/ATen.h>
#include <hdf5.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <stdexcept>
#include <string_view>

#include "data/claimed_size.h"
#include "data/parse_error.h"
#include "data/residue_constants.h"

namespace fold::data {

namespace {

namespace fs = std::filesystem;
namespace rc = fold::data::rc;

constexpr const char* kFormatName = "fold-chain-dataset";

std::mutex& hdf5_mutex() {
  static std::mutex m;
  return m;
}

// HDF5 prints its error stack to stderr by default; we turn failures into exceptions
// with our own message instead.
void silence_hdf5_errors() {
  static const bool done = [] {
    H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
    return true;
  }();
  (void)done;
}

// Owns one hid_t and closes it with the matching H5*close.
class Handle {
 public:
  Handle(hid_t id, herr_t (*close)(hid_t)) : id_(id), close_(close) {}
  ~Handle() {
    if (id_ >= 0) close_(id_);
  }
  Handle(const Handle&) = delete;
  Handle& operator=(const Handle&) = delete;
  Handle(Handle&& other) noexcept : id_(other.id_), close_(other.close_) { other.id_ = -1; }
  hid_t get() const { return id_; }
  bool ok() const { return id_ >= 0; }

 private:
  hid_t id_;
  herr_t (*close_)(hid_t);
};

// Every HDF5 failure becomes this, caught at the public boundary and re-thrown as a
// ParseError naming the file and chain.
struct Hdf5Failure : std::runtime_error {
  using std::runtime_error::runtime_error;
};

hid_t check(hid_t id, const std::string& what) {
  if (id < 0) throw Hdf5Failure(what);
  return id;
}

void check_status(herr_t status, const std::string& what) {
  if (status < 0) throw Hdf5Failure(what);
}

hid_t memory_type(at::ScalarType t) {
  switch (t) {
    case at::kByte: return H5T_NATIVE_UINT8;
    case at::kInt: return H5T_NATIVE_INT32;
    case at::kLong: return H5T_NATIVE_INT64;
    case at::kFloat: return H5T_NATIVE_FLOAT;
    case at::kDouble: return H5T_NATIVE_DOUBLE;
    default: throw std::invalid_argument("chain dataset: no HDF5 type for this tensor dtype");
  }
}

hid_t file_type(at::ScalarType t) {
  switch (t) {
    case at::kByte: return H5T_STD_U8LE;
    case at::kInt: return H5T_STD_I32LE;
    case at::kLong: return H5T_STD_I64LE;
    case at::kFloat: return H5T_IEEE_F32LE;
    case at::kDouble: return H5T_IEEE_F64LE;
    default: throw std::invalid_argument("chain dataset: no HDF5 type for this tensor dtype");
  }
}

// Writes n rows of `row_bytes` each (dims[0] = n) as dataset `name` of `file_type`, in
// chunks of at most ~1 MiB along the first axis, shuffled and deflated (MSAs and masks
// are mostly repeated bytes and compress several-fold) and checksummed (Fletcher-32).
void write_rows(hid_t loc, const std::string& name, const std::vector<hsize_t>& dims, size_t row_bytes,
                hid_t file_type, hid_t memory_type, const void* data) {
  Handle space(check(H5Screate_simple(static_cast<int>(dims.size()), dims.data(), nullptr), "dataspace " + name),
               H5Sclose);
  Handle dcpl(check(H5Pcreate(H5P_DATASET_CREATE), "property list"), H5Pclose);
  const bool empty = std::find(dims.begin(), dims.end(), 0) != dims.end();
  if (!empty) {
    std::vector<hsize_t> chunk = dims;
    chunk[0] = std::clamp<hsize_t>((1u << 20) / std::max<size_t>(1, row_bytes), 1, dims[0]);
    check_status(H5Pset_chunk(dcpl.get(), static_cast<int>(chunk.size()), chunk.data()), "chunking " + name);
    check_status(H5Pset_shuffle(dcpl.get()), "shuffle filter " + name);
    check_status(H5Pset_deflate(dcpl.get(), 4), "deflate filter " + name);
    check_status(H5Pset_fletcher32(dcpl.get()), "checksum filter " + name);
  }
  Handle ds(check(H5Dcreate2(loc, name.c_str(), file_type, space.get(), H5P_DEFAULT, dcpl.get(), H5P_DEFAULT),
                  "creating dataset " + name),
            H5Dclose);
  if (!empty)
    check_status(H5Dwrite(ds.get(), memory_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, data), "writing " + name);
}

void write_tensor(hid_t loc, const std::string& name, const at::Tensor& tensor) {
  const at::Tensor t = tensor.contiguous();
  const std::vector<hsize_t> dims(t.sizes().begin(), t.sizes().end());
  const size_t row_bytes = t.numel() > 0 ? t.numel() / dims[0] * t.element_size() : 0;
  write_rows(loc, name, dims, row_bytes, file_type(t.scalar_type()), memory_type(t.scalar_type()), t.data_ptr());
}

// The sizes in a dataset's header come from the file: a corrupt one can claim terabytes.
// What it claims must fit in what it stores: deflate expands at most 1032-fold, and this
// writer stores every chunk (no unwritten fill-value chunks), so a larger claim is
// refused before anything is allocated.
void check_stored_size(hid_t ds, const std::vector<hsize_t>& dims, const std::string& name) {
  Handle type(check(H5Dget_type(ds), "type of " + name), H5Tclose);
  const uint64_t element = H5Tget_size(type.get());
  if (element == 0) throw Hdf5Failure("dataset '" + name + "' has a zero-size element type");
  const uint64_t stored = H5Dget_storage_size(ds);
  const uint64_t limit = stored * 1032 + (uint64_t{1} << 20);
  if (claimed_bytes(element, dims, limit) > limit)
    throw Hdf5Failure("dataset '" + name + "' claims more data than the " + std::to_string(stored) +
                      " bytes it stores (corrupt header)");
}

// The dataset `name` as a tensor of `type` (HDF5 converts from the stored type); its
// rank must be `rank`.
at::Tensor read_tensor(hid_t loc, const std::string& name, at::ScalarType type, int rank) {
  Handle ds(check(H5Dopen2(loc, name.c_str(), H5P_DEFAULT), "missing dataset '" + name + "'"), H5Dclose);
  Handle space(check(H5Dget_space(ds.get()), "dataspace of " + name), H5Sclose);
  const int stored_rank = H5Sget_simple_extent_ndims(space.get());
  if (stored_rank != rank)
    throw Hdf5Failure("dataset '" + name + "' has rank " + std::to_string(stored_rank) + ", expected " +
                      std::to_string(rank));
  std::vector<hsize_t> dims(rank);
  H5Sget_simple_extent_dims(space.get(), dims.data(), nullptr);
  check_stored_size(ds.get(), dims, name);
  at::Tensor t = at::empty(std::vector<int64_t>(dims.begin(), dims.end()), at::TensorOptions().dtype(type));
  if (t.numel() > 0)
    check_status(H5Dread(ds.get(), memory_type(type), H5S_ALL, H5S_ALL, H5P_DEFAULT, t.data_ptr()),
                 "reading dataset '" + name + "' (truncated or corrupted data)");
  return t;
}

hid_t string_type(size_t size) {
  hid_t t = H5Tcopy(H5T_C_S1);
  H5Tset_size(t, size);
  H5Tset_strpad(t, H5T_STR_NULLTERM);
  return t;
}

void write_string_attr(hid_t loc, const char* name, const std::string& value) {
  Handle type(string_type(value.size() + 1), H5Tclose);
  Handle space(H5Screate(H5S_SCALAR), H5Sclose);
  Handle attr(check(H5Acreate2(loc, name, type.get(), space.get(), H5P_DEFAULT, H5P_DEFAULT),
                    std::string("attribute ") + name),
              H5Aclose);
  check_status(H5Awrite(attr.get(), type.get(), value.c_str()), std::string("writing attribute ") + name);
}

template <class T>
void write_number_attr(hid_t loc, const char* name, T value) {
  const hid_t type = std::is_floating_point_v<T> ? H5T_NATIVE_DOUBLE : H5T_NATIVE_INT64;
  const hid_t stored = std::is_floating_point_v<T> ? H5T_IEEE_F64LE : H5T_STD_I64LE;
  Handle space(H5Screate(H5S_SCALAR), H5Sclose);
  Handle attr(check(H5Acreate2(loc, name, stored, space.get(), H5P_DEFAULT, H5P_DEFAULT),
                    std::string("attribute ") + name),
              H5Aclose);
  if constexpr (std::is_floating_point_v<T>) {
    const double v = value;
    check_status(H5Awrite(attr.get(), type, &v), std::string("writing attribute ") + name);
  } else {
    const int64_t v = value;
    check_status(H5Awrite(attr.get(), type, &v), std::string("writing attribute ") + name);
  }
}

std::string read_string_attr(hid_t loc, const char* name) {
  Handle attr(check(H5Aopen(loc, name, H5P_DEFAULT), std::string("missing attribute '") + name + "'"), H5Aclose);
  Handle type(H5Aget_type(attr.get()), H5Tclose);
  if (H5Tget_class(type.get()) != H5T_STRING || H5Tis_variable_str(type.get()) > 0)
    throw Hdf5Failure(std::string("attribute '") + name + "' is not a fixed-length string");
  // The longest real attribute is a chain's sequence; 16 MiB is far past any protein.
  if (H5Tget_size(type.get()) > (size_t{1} << 24))
    throw Hdf5Failure(std::string("attribute '") + name + "' claims " + std::to_string(H5Tget_size(type.get())) +
                      " bytes (corrupt header)");
  std::string value(H5Tget_size(type.get()), '\0');
  Handle mem(string_type(value.size()), H5Tclose);
  check_status(H5Aread(attr.get(), mem.get(), value.data()), std::string("reading attribute ") + name);
  value.resize(std::strlen(value.c_str()));
  return value;
}

double read_number_attr(hid_t loc, const char* name) {
  Handle attr(check(H5Aopen(loc, name, H5P_DEFAULT), std::string("missing attribute '") + name + "'"), H5Aclose);
  double v = 0;
  check_status(H5Aread(attr.get(), H5T_NATIVE_DOUBLE, &v), std::string("reading attribute ") + name);
  return v;
}

// A count (length, depth, ...) stored as a number attribute: a corrupt value (NaN,
// negative, fractional, huge) is an error, not an undefined conversion.
int64_t read_count_attr(hid_t loc, const char* name) {
  const double v = read_number_attr(loc, name);
  if (!(v >= 0 && v <= 9007199254740992.0) || v != std::floor(v))
    throw Hdf5Failure(std::string("attribute '") + name + "' is not a count");
  return static_cast<int64_t>(v);
}

// A string list as fixed-length strings (the longest one's length + 1) in checksummed
// chunks. Not HDF5's variable-length strings: those live in the global heap, which has no
// checksum, and fuzzing found HDF5 1.10.8 copying past its buffers on a corrupt one.
void write_strings(hid_t loc, const std::string& name, const std::vector<std::string>& values) {
  size_t width = 1;
  for (const auto& v : values) width = std::max(width, v.size() + 1);
  std::vector<char> rows(values.size() * width, '\0');
  for (size_t i = 0; i < values.size(); ++i) std::copy(values[i].begin(), values[i].end(), rows.begin() + i * width);
  Handle type(string_type(width), H5Tclose);
  write_rows(loc, name, {values.size()}, width, type.get(), type.get(), rows.data());
}

std::vector<std::string> read_strings(hid_t loc, const std::string& name) {
  Handle ds(check(H5Dopen2(loc, name.c_str(), H5P_DEFAULT), "missing dataset '" + name + "'"), H5Dclose);
  Handle space(check(H5Dget_space(ds.get()), "dataspace of " + name), H5Sclose);
  if (H5Sget_simple_extent_ndims(space.get()) != 1) throw Hdf5Failure("dataset '" + name + "' is not a string list");
  Handle stored(check(H5Dget_type(ds.get()), "type of " + name), H5Tclose);
  if (H5Tget_class(stored.get()) != H5T_STRING || H5Tis_variable_str(stored.get()) != 0)
    throw Hdf5Failure("dataset '" + name + "' is not a list of fixed-length strings");
  hsize_t n = 0;
  H5Sget_simple_extent_dims(space.get(), &n, nullptr);
  check_stored_size(ds.get(), {n}, name);
  const size_t width = H5Tget_size(stored.get());
  std::vector<char> rows(n * width);
  Handle type(string_type(width), H5Tclose);
  if (n > 0) check_status(H5Dread(ds.get(), type.get(), H5S_ALL, H5S_ALL, H5P_DEFAULT, rows.data()), "reading " + name);
  std::vector<std::string> out;
  for (size_t i = 0; i < n; ++i) {
    const char* row = rows.data() + i * width;
    out.emplace_back(row, std::find(row, row + width, '\0'));
  }
  return out;
}

at::Tensor int_tensor(const std::vector<int32_t>& v) {
  return at::tensor(at::ArrayRef<int32_t>(v), at::kInt);
}

void write_template_hits(hid_t chain, const std::vector<TemplateHit>& hits) {
  Handle group(check(H5Gcreate2(chain, "template_hits", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT), "template_hits"),
               H5Gclose);
  std::vector<std::string> names, query, hit_seq;
  std::vector<int32_t> index, aligned_cols, indices_query, indices_hit;
  std::vector<float> sum_probs, probability;
  std::vector<double> e_value;
  std::vector<int64_t> offsets{0};
  for (const auto& h : hits) {
    names.push_back(h.name);
    query.push_back(h.query);
    hit_seq.push_back(h.hit_sequence);
    index.push_back(h.index);
    aligned_cols.push_back(h.aligned_cols);
    sum_probs.push_back(h.sum_probs);
    probability.push_back(h.probability);
    e_value.push_back(h.e_value);
    indices_query.insert(indices_query.end(), h.indices_query.begin(), h.indices_query.end());
    indices_hit.insert(indices_hit.end(), h.indices_hit.begin(), h.indices_hit.end());
    offsets.push_back(static_cast<int64_t>(indices_query.size()));
  }
  write_strings(group.get(), "name", names);
  write_strings(group.get(), "query", query);
  write_strings(group.get(), "hit_sequence", hit_seq);
  write_tensor(group.get(), "index", int_tensor(index));
  write_tensor(group.get(), "aligned_cols", int_tensor(aligned_cols));
  write_tensor(group.get(), "sum_probs", at::tensor(at::ArrayRef<float>(sum_probs), at::kFloat));
  write_tensor(group.get(), "probability", at::tensor(at::ArrayRef<float>(probability), at::kFloat));
  write_tensor(group.get(), "e_value", at::tensor(at::ArrayRef<double>(e_value), at::kDouble));
  write_tensor(group.get(), "alignment_offsets", at::tensor(at::ArrayRef<int64_t>(offsets), at::kLong));
  write_tensor(group.get(), "indices_query", int_tensor(indices_query));
  write_tensor(group.get(), "indices_hit", int_tensor(indices_hit));
}

std::vector<TemplateHit> read_template_hits(hid_t chain) {
  Handle group(check(H5Gopen2(chain, "template_hits", H5P_DEFAULT), "missing group 'template_hits'"), H5Gclose);
  const auto names = read_strings(group.get(), "name");
  const auto query = read_strings(group.get(), "query");
  const auto hit_seq = read_strings(group.get(), "hit_sequence");
  const at::Tensor index = read_tensor(group.get(), "index", at::kInt, 1);
  const at::Tensor aligned = read_tensor(group.get(), "aligned_cols", at::kInt, 1);
  const at::Tensor sum_probs = read_tensor(group.get(), "sum_probs", at::kFloat, 1);
  const at::Tensor probability = read_tensor(group.get(), "probability", at::kFloat, 1);
  const at::Tensor e_value = read_tensor(group.get(), "e_value", at::kDouble, 1);
  const at::Tensor offsets = read_tensor(group.get(), "alignment_offsets", at::kLong, 1);
  const at::Tensor iq = read_tensor(group.get(), "indices_query", at::kInt, 1);
  const at::Tensor ih = read_tensor(group.get(), "indices_hit", at::kInt, 1);
  const size_t n = names.size();
  if (query.size() != n || hit_seq.size() != n || index.size(0) != static_cast<int64_t>(n) ||
      aligned.size(0) != static_cast<int64_t>(n) || sum_probs.size(0) != static_cast<int64_t>(n) ||
      probability.size(0) != static_cast<int64_t>(n) || e_value.size(0) != static_cast<int64_t>(n) ||
      offsets.size(0) != static_cast<int64_t>(n + 1) || iq.size(0) != ih.size(0))
    throw Hdf5Failure("template_hits: datasets of inconsistent lengths");
  const int64_t* off = offsets.data_ptr<int64_t>();
  std::vector<TemplateHit> hits(n);
  for (size_t i = 0; i < n; ++i) {
    if (off[i] < 0 || off[i] > off[i + 1] || off[i + 1] > iq.size(0))
      throw Hdf5Failure("template_hits: alignment offsets out of range");
    TemplateHit& h = hits[i];
    h.name = names[i];
    h.query = query[i];
    h.hit_sequence = hit_seq[i];
    h.index = index.data_ptr<int32_t>()[i];
    h.aligned_cols = aligned.data_ptr<int32_t>()[i];
    h.sum_probs = sum_probs.data_ptr<float>()[i];
    h.probability = probability.data_ptr<float>()[i];
    h.e_value = e_value.data_ptr<double>()[i];
    h.indices_query.assign(iq.data_ptr<int32_t>() + off[i], iq.data_ptr<int32_t>() + off[i + 1]);
    h.indices_hit.assign(ih.data_ptr<int32_t>() + off[i], ih.data_ptr<int32_t>() + off[i + 1]);
  }
  return hits;
}

int64_t count_unknown(const at::Tensor& aatype) { return (aatype == rc::kUnkRestype).sum().item<int64_t>(); }

int64_t count_observed(const at::Tensor& atom_mask) {
  return (atom_mask.select(1, rc::atom_order("CA")) > 0).sum().item<int64_t>();
}

// Format 2 files use HDF5's 1.10 file format, whose metadata (superblock, object
// headers, B-trees, heaps) carries checksums. HDF5 parses metadata without checksums
// (superblock versions 0 and 1) unguarded, and fuzzing found Debian's HDF5 1.10.8
// reading past its buffers on corrupt object headers there; so such files are refused
// from their first bytes, before HDF5 parses anything.
void check_superblock(std::string_view head) {
  static constexpr std::string_view kSignature("\x89HDF\r\n\x1a\n", 8);
  if (head.size() < 9 || head.substr(0, 8) != kSignature) throw Hdf5Failure("not an HDF5 file");
  if (static_cast<unsigned char>(head[8]) < 2)
    throw Hdf5Failure("not a chain dataset of format " + std::to_string(kChainDatasetFormatVersion) +
                      " (an HDF5 file without metadata checksums; a dataset written by an older fold prepare "
                      "must be converted again)");
}

std::string file_head(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::string head(9, '\0');
  in.read(head.data(), static_cast<std::streamsize>(head.size()));
  head.resize(static_cast<size_t>(std::max<std::streamsize>(0, in.gcount())));
  return head;
}

// New objects in the 1.10 format, so that all of the file's metadata is checksummed.
Handle checksummed_access() {
  Handle fapl(check(H5Pcreate(H5P_FILE_ACCESS), "file access property list"), H5Pclose);
  check_status(H5Pset_libver_bounds(fapl.get(), H5F_LIBVER_V110, H5F_LIBVER_V110), "HDF5 format bounds");
  return fapl;
}

void check_format(hid_t file) {
  std::string format;
  try {
    format = read_string_attr(file, "format");
  } catch (const Hdf5Failure&) {
    throw Hdf5Failure("not a chain dataset (no 'format' attribute; write one with fold prepare)");
  }
  if (format != kFormatName) throw Hdf5Failure("not a chain dataset (format '" + format + "')");
  const int64_t version = read_count_attr(file, "format_version");
  if (version != kChainDatasetFormatVersion)
    throw Hdf5Failure("format version " + std::to_string(version) + ", this build reads version " +
                      std::to_string(kChainDatasetFormatVersion));
}

std::vector<std::string> group_members(hid_t group) {
  H5G_info_t info;
  check_status(H5Gget_info(group, &info), "listing chains");
  std::vector<std::string> names;
  for (hsize_t i = 0; i < info.nlinks; ++i) {
    const ssize_t size = H5Lget_name_by_idx(group, ".", H5_INDEX_NAME, H5_ITER_INC, i, nullptr, 0, H5P_DEFAULT);
    check_status(static_cast<herr_t>(size < 0 ? -1 : 0), "listing chains");
    std::string name(static_cast<size_t>(size) + 1, '\0');
    H5Lget_name_by_idx(group, ".", H5_INDEX_NAME, H5_ITER_INC, i, name.data(), name.size(), H5P_DEFAULT);
    name.resize(static_cast<size_t>(size));
    names.push_back(name);
  }
  return names;
}

}  // namespace

void ChainRecord::check() const {
  const auto fail = [&](const std::string& problem) {
    throw std::invalid_argument("chain " + id + ": " + problem);
  };
  const auto expect = [&](const at::Tensor& t, const char* name, at::ScalarType type, std::vector<int64_t> shape) {
    if (!t.defined()) fail(std::string(name) + " is missing");
    if (t.scalar_type() != type) fail(std::string(name) + " has dtype " + std::string(c10::toString(t.scalar_type())));
    if (t.sizes() != at::IntArrayRef(shape)) {
      std::string want = "[", got = "[";
      for (int64_t s : shape) want += std::to_string(s) + ",";
      for (int64_t s : t.sizes()) got += std::to_string(s) + ",";
      fail(std::string(name) + " has shape " + got + "], expected " + want + "]");
    }
  };
  if (id.empty()) fail("empty chain id");
  if (!aatype.defined() || aatype.dim() != 1 || aatype.size(0) == 0) fail("aatype must be a non-empty [L] array");
  const int64_t l = aatype.size(0);
  expect(aatype, "aatype", at::kByte, {l});
  if (static_cast<int64_t>(sequence.size()) != l)
    fail("sequence has " + std::to_string(sequence.size()) + " residues, aatype " + std::to_string(l));
  if (aatype.max().item<int64_t>() > rc::kUnkRestype) fail("aatype holds a residue code above 20");
  const uint8_t* types = aatype.data_ptr<uint8_t>();
  for (int64_t i = 0; i < l; ++i) {
    const int code = rc::restype_order(sequence[i]);
    if ((code < 0 ? rc::kUnkRestype : code) != types[i])
      fail("sequence and aatype disagree at residue " + std::to_string(i + 1));
  }
  expect(residue_index, "residue_index", at::kInt, {l});
  expect(atom_positions, "atom_positions", at::kFloat, {l, rc::kAtom37, 3});
  expect(atom_mask, "atom_mask", at::kByte, {l, rc::kAtom37});
  expect(b_factors, "b_factors", at::kFloat, {l, rc::kAtom37});
  if (atom_mask.max().item<int64_t>() > 1) fail("atom_mask holds values other than 0 and 1");
  const at::Tensor bad = atom_positions.isfinite().logical_not().any(-1).logical_and(atom_mask > 0);
  if (bad.any().item<bool>()) {
    const int64_t residue = bad.nonzero()[0][0].item<int64_t>();
    fail("non-finite coordinates for an observed atom of residue " + std::to_string(residue + 1));
  }
  if (!msa.defined() || msa.dim() != 2 || msa.size(0) == 0) fail("msa must be a non-empty [N, L] array");
  const int64_t n = msa.size(0);
  expect(msa, "msa", at::kByte, {n, l});
  expect(deletion_matrix, "deletion_matrix", at::kInt, {n, l});
  expect(msa_source, "msa_source", at::kByte, {n});
  if (msa.max().item<int64_t>() > 21) fail("msa holds a residue code above 21");
  if (!at::equal(msa[0], aatype)) fail("the MSA's first row is not the chain's sequence");
  if (deletion_matrix.min().item<int64_t>() < 0) fail("negative deletion counts");
  if (msa_source.max().item<int64_t>() >= static_cast<int64_t>(msa_sources.size()))
    fail("msa_source points past msa_sources");
  if (pairing_msa.defined()) {
    const int64_t p = pairing_msa.dim() == 2 ? pairing_msa.size(0) : 0;
    if (p == 0) fail("pairing_msa must be a non-empty [P, L] array");
    expect(pairing_msa, "pairing_msa", at::kByte, {p, l});
    expect(pairing_deletions, "pairing_deletions", at::kInt, {p, l});
    if (static_cast<int64_t>(pairing_species.size()) != p)
      fail("pairing_species has " + std::to_string(pairing_species.size()) + " entries for " + std::to_string(p) +
           " pairing rows");
    if (pairing_msa.max().item<int64_t>() > 21) fail("pairing_msa holds a residue code above 21");
    if (!at::equal(pairing_msa[0], aatype)) fail("the pairing MSA's first row is not the chain's sequence");
    if (pairing_deletions.min().item<int64_t>() < 0) fail("negative pairing deletion counts");
  } else if (!pairing_species.empty()) {
    fail("pairing_species without a pairing_msa");
  }
  for (const auto& h : template_hits) {
    if (h.indices_query.size() != h.indices_hit.size()) fail("template hit " + h.name + ": alignment index lengths differ");
    for (int q : h.indices_query)
      if (q >= l) fail("template hit " + h.name + " aligns past the chain's end");
  }
}

std::string entry_of(const std::string& chain_id) { return chain_id.substr(0, chain_id.rfind('_')); }

std::vector<ChainEntry> complex_entries(const std::vector<ChainEntry>& chains) {
  std::map<std::string, ChainEntry> by_entry;
  for (const ChainEntry& c : chains) {
    const std::string entry = entry_of(c.id);
    auto [it, fresh] = by_entry.try_emplace(entry, c);
    ChainEntry& e = it->second;
    if (fresh) {
      e.id = entry;
      continue;
    }
    e.length += c.length, e.msa_depth += c.msa_depth, e.templates += c.templates;
    e.unknown_residues += c.unknown_residues, e.observed_residues += c.observed_residues;
    e.resolution = std::max(e.resolution, c.resolution);
    e.release_date = std::max(e.release_date, c.release_date);
  }
  std::vector<ChainEntry> out;
  for (auto& [entry, e] : by_entry) out.push_back(std::move(e));
  return out;
}

ChainDataset::ChainDataset(const std::string& path) : path_(path) {
  std::lock_guard<std::mutex> lock(hdf5_mutex());
  silence_hdf5_errors();
  if (!fs::exists(path)) throw ParseError(path, 0, "no such file");
  try {
    check_superblock(file_head(path));
    file_ = check(H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT), "cannot open (truncated or corrupted HDF5 file)");
  } catch (const Hdf5Failure& err) {
    throw ParseError(path, 0, err.what());
  }
  read_entries();
}

ChainDataset::ChainDataset(const std::string& name, std::string_view image) : path_(name) {
  std::lock_guard<std::mutex> lock(hdf5_mutex());
  silence_hdf5_errors();
  try {
    check_superblock(image);
    // The core driver without a backing store: the file lives in (a copy of) `image`.
    Handle fapl(check(H5Pcreate(H5P_FILE_ACCESS), "file access property list"), H5Pclose);
    check_status(H5Pset_fapl_core(fapl.get(), 1 << 20, 0), "core file driver");
    check_status(H5Pset_file_image(fapl.get(), const_cast<char*>(image.data()), image.size()), "file image");
    file_ = check(H5Fopen(name.c_str(), H5F_ACC_RDONLY, fapl.get()), "cannot open (truncated or corrupted HDF5 file)");
  } catch (const Hdf5Failure& err) {
    throw ParseError(name, 0, err.what());
  }
  read_entries();
}

// Caller holds the HDF5 mutex; file_ is open and is closed again on failure.
void ChainDataset::read_entries() {
  try {
    check_format(file_);
    Handle chains(check(H5Gopen2(file_, "chains", H5P_DEFAULT), "no 'chains' group"), H5Gclose);
    for (const auto& id : group_members(chains.get())) {
      try {
        Handle g(check(H5Gopen2(chains.get(), id.c_str(), H5P_DEFAULT), "cannot open the group"), H5Gclose);
        ChainEntry e;
        e.id = id;
        e.length = read_count_attr(g.get(), "length");
        e.msa_depth = read_count_attr(g.get(), "msa_depth");
        e.templates = read_count_attr(g.get(), "templates");
        e.unknown_residues = read_count_attr(g.get(), "unknown_residues");
        e.observed_residues = read_count_attr(g.get(), "observed_residues");
        e.resolution = static_cast<float>(read_number_attr(g.get(), "resolution"));
        e.release_date = read_string_attr(g.get(), "release_date");
        e.method = read_string_attr(g.get(), "method");
        e.source = read_string_attr(g.get(), "source");
        entries_.push_back(std::move(e));
      } catch (const Hdf5Failure& err) {
        throw Hdf5Failure("chain " + id + ": " + err.what());
      }
    }
  } catch (const Hdf5Failure& err) {
    H5Fclose(file_);
    file_ = -1;
    throw ParseError(path_, 0, err.what());
  }
}

ChainDataset::~ChainDataset() {
  std::lock_guard<std::mutex> lock(hdf5_mutex());
  if (file_ >= 0) H5Fclose(file_);
}

ChainRecord ChainDataset::read(const std::string& id) const {
  ChainRecord r;
  r.id = id;
  {
    std::lock_guard<std::mutex> lock(hdf5_mutex());
    try {
      Handle chains(check(H5Gopen2(file_, "chains", H5P_DEFAULT), "no 'chains' group"), H5Gclose);
      if (H5Lexists(chains.get(), id.c_str(), H5P_DEFAULT) <= 0) throw Hdf5Failure("no such chain");
      Handle g(check(H5Gopen2(chains.get(), id.c_str(), H5P_DEFAULT), "cannot open the group"), H5Gclose);
      r.sequence = read_string_attr(g.get(), "sequence");
      r.source = read_string_attr(g.get(), "source");
      r.resolution = static_cast<float>(read_number_attr(g.get(), "resolution"));
      r.release_date = read_string_attr(g.get(), "release_date");
      r.method = read_string_attr(g.get(), "method");
      r.aatype = read_tensor(g.get(), "aatype", at::kByte, 1);
      r.residue_index = read_tensor(g.get(), "residue_index", at::kInt, 1);
      r.atom_positions = read_tensor(g.get(), "atom_positions", at::kFloat, 3);
      r.atom_mask = read_tensor(g.get(), "atom_mask", at::kByte, 2);
      r.b_factors = read_tensor(g.get(), "b_factors", at::kFloat, 2);
      r.msa = read_tensor(g.get(), "msa", at::kByte, 2);
      r.deletion_matrix = read_tensor(g.get(), "deletion_matrix", at::kInt, 2);
      r.msa_source = read_tensor(g.get(), "msa_source", at::kByte, 1);
      r.msa_sources = read_strings(g.get(), "msa_sources");
      r.template_hits = read_template_hits(g.get());
      if (H5Lexists(g.get(), "pairing", H5P_DEFAULT) > 0) {
        Handle pairing(check(H5Gopen2(g.get(), "pairing", H5P_DEFAULT), "cannot open 'pairing'"), H5Gclose);
        r.pairing_msa = read_tensor(pairing.get(), "msa", at::kByte, 2);
        r.pairing_deletions = read_tensor(pairing.get(), "deletion_matrix", at::kInt, 2);
        r.pairing_species = read_strings(pairing.get(), "species");
      }
    } catch (const Hdf5Failure& err) {
      throw ParseError(path_, 0, "chain " + id + ": " + err.what());
    }
  }
  try {
    r.check();
  } catch (const std::invalid_argument& err) {
    throw ParseError(path_, 0, err.what());
  }
  return r;
}

ChainDatasetWriter::ChainDatasetWriter(const std::string& path) : path_(path), partial_(path + ".partial") {
  std::lock_guard<std::mutex> lock(hdf5_mutex());
  silence_hdf5_errors();
  try {
    if (fs::exists(path)) {
      if (H5Fis_hdf5(path.c_str()) <= 0) throw Hdf5Failure("exists and is not an HDF5 file; not overwriting it");
      check_superblock(file_head(path));
      fs::copy_file(path, partial_, fs::copy_options::overwrite_existing);
      file_ = check(H5Fopen(partial_.c_str(), H5F_ACC_RDWR, checksummed_access().get()),
                    "cannot open (truncated or corrupted)");
      check_format(file_);
    } else {
      if (!fs::path(path).parent_path().empty()) fs::create_directories(fs::path(path).parent_path());
      file_ = check(H5Fcreate(partial_.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, checksummed_access().get()),
                    "cannot create " + partial_);
      write_string_attr(file_, "format", kFormatName);
      write_number_attr(file_, "format_version", kChainDatasetFormatVersion);
      Handle chains(check(H5Gcreate2(file_, "chains", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT), "creating 'chains'"),
                    H5Gclose);
    }
  } catch (const Hdf5Failure& err) {
    if (file_ >= 0) H5Fclose(file_);
    file_ = -1;
    std::error_code ec;
    fs::remove(partial_, ec);
    throw ParseError(path, 0, err.what());
  }
}

ChainDatasetWriter::~ChainDatasetWriter() {
  std::lock_guard<std::mutex> lock(hdf5_mutex());
  if (file_ >= 0) {
    H5Fclose(file_);
    std::error_code ec;
    fs::remove(partial_, ec);
  }
}

bool ChainDatasetWriter::contains(const std::string& id) const {
  std::lock_guard<std::mutex> lock(hdf5_mutex());
  Handle chains(H5Gopen2(file_, "chains", H5P_DEFAULT), H5Gclose);
  return chains.ok() && H5Lexists(chains.get(), id.c_str(), H5P_DEFAULT) > 0;
}

std::vector<std::string> ChainDatasetWriter::ids() const {
  std::lock_guard<std::mutex> lock(hdf5_mutex());
  Handle chains(check(H5Gopen2(file_, "chains", H5P_DEFAULT), "no 'chains' group"), H5Gclose);
  return group_members(chains.get());
}

void ChainDatasetWriter::add(const ChainRecord& r) {
  r.check();
  if (r.id.find('/') != std::string::npos || r.id.front() == '.')
    throw std::invalid_argument("chain " + r.id + ": an id may not contain '/' or start with '.'");
  if (contains(r.id)) throw std::invalid_argument("chain " + r.id + " is already in " + path_);
  std::lock_guard<std::mutex> lock(hdf5_mutex());
  Handle chains(check(H5Gopen2(file_, "chains", H5P_DEFAULT), "no 'chains' group"), H5Gclose);
  try {
    Handle g(check(H5Gcreate2(chains.get(), r.id.c_str(), H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT), "creating group"),
             H5Gclose);
    write_string_attr(g.get(), "sequence", r.sequence);
    write_string_attr(g.get(), "source", r.source);
    write_string_attr(g.get(), "release_date", r.release_date);
    write_string_attr(g.get(), "method", r.method);
    write_number_attr(g.get(), "resolution", static_cast<double>(r.resolution));
    write_number_attr(g.get(), "length", r.length());
    write_number_attr(g.get(), "msa_depth", r.msa_depth());
    write_number_attr(g.get(), "templates", static_cast<int64_t>(r.template_hits.size()));
    write_number_attr(g.get(), "unknown_residues", count_unknown(r.aatype));
    write_number_attr(g.get(), "observed_residues", count_observed(r.atom_mask));
    write_tensor(g.get(), "aatype", r.aatype);
    write_tensor(g.get(), "residue_index", r.residue_index);
    write_tensor(g.get(), "atom_positions", r.atom_positions);
    write_tensor(g.get(), "atom_mask", r.atom_mask);
    write_tensor(g.get(), "b_factors", r.b_factors);
    write_tensor(g.get(), "msa", r.msa);
    write_tensor(g.get(), "deletion_matrix", r.deletion_matrix);
    write_tensor(g.get(), "msa_source", r.msa_source);
    write_strings(g.get(), "msa_sources", r.msa_sources);
    write_template_hits(g.get(), r.template_hits);
    // An optional group: files without it read as chains without UniProt hits.
    if (r.pairing_msa.defined()) {
      Handle pairing(check(H5Gcreate2(g.get(), "pairing", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT), "creating 'pairing'"),
                     H5Gclose);
      write_tensor(pairing.get(), "msa", r.pairing_msa);
      write_tensor(pairing.get(), "deletion_matrix", r.pairing_deletions);
      write_strings(pairing.get(), "species", r.pairing_species);
    }
  } catch (const Hdf5Failure& err) {
    // A half-written group must not reach the committed file.
    H5Ldelete(chains.get(), r.id.c_str(), H5P_DEFAULT);
    throw ParseError(partial_, 0, "chain " + r.id + ": " + err.what());
  }
}

void ChainDatasetWriter::commit() {
  std::lock_guard<std::mutex> lock(hdf5_mutex());
  if (file_ < 0) throw std::logic_error("ChainDatasetWriter: commit after commit");
  const herr_t status = H5Fclose(file_);
  file_ = -1;
  if (status < 0) {
    std::error_code ec;
    fs::remove(partial_, ec);
    throw ParseError(partial_, 0, "closing the dataset failed; " + path_ + " is unchanged");
  }
  fs::rename(partial_, path_);
}

}  // namespace fold::data
