#include "data/npz.h"

#include <ATen/ATen.h>
#include <zlib.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <sstream>
#include <unistd.h>

#include "data/claimed_size.h"
#include "data/parse_error.h"

namespace fold::data {

namespace {

constexpr uint32_t kLocalHeader = 0x04034b50;
constexpr uint32_t kCentralHeader = 0x02014b50;
constexpr uint32_t kEndOfCentralDir = 0x06054b50;
constexpr uint32_t kZip64EndLocator = 0x07064b50;
constexpr uint32_t kZip64End = 0x06064b50;
constexpr uint64_t kMax32 = 0xffffffff;

uint64_t le(const unsigned char* p, int bytes) {
  uint64_t v = 0;
  for (int i = bytes - 1; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}

struct Member {
  std::string name;
  uint16_t method = 0;
  uint32_t crc = 0;
  uint64_t compressed = 0, size = 0, local_offset = 0;
};

// A zip archive read through one file stream: only the central directory is read whole,
// and a member is read (inflated) piece by piece straight into where it goes, so a
// member of several GiB costs its destination and a 1 MiB buffer, not copies of the file.
class Archive {
 public:
  explicit Archive(std::string path) : path_(std::move(path)), in_(path_, std::ios::binary) {
    if (!in_) throw ParseError(path_, 0, "cannot open file");
    in_.seekg(0, std::ios::end);
    file_size_ = static_cast<uint64_t>(in_.tellg());
    read_central_directory();
  }

  const std::vector<Member>& members() const { return members_; }

  [[noreturn]] void fail(const std::string& member, const std::string& problem) const {
    throw ParseError(path_, 0, (member.empty() ? "" : "member '" + member + "': ") + problem);
  }

  // The uncompressed bytes of one member, in order: open(), then read() until size.
  class Reader {
   public:
    Reader(Archive& a, const Member& m) : a_(a), m_(m) {
      const std::string h = a.bytes_at(m.local_offset, 30, m.name, "local header");
      const auto* p = reinterpret_cast<const unsigned char*>(h.data());
      if (le(p, 4) != kLocalHeader) a.fail(m.name, "bad local header signature");
      const uint64_t start = m.local_offset + 30 + le(p + 26, 2) + le(p + 28, 2);
      if (start + m.compressed > a.file_size_) a.fail(m.name, "file ends inside the member data (truncated file?)");
      if (m.method == 0 && m.compressed != m.size) a.fail(m.name, "stored member with differing sizes");
      if (m.method != 0 && m.method != 8) a.fail(m.name, "unsupported compression method " + std::to_string(m.method));
      // A deflate stream expands at most 1032-fold: a larger claimed size is a lie
      // that must not become an allocation.
      if (m.method == 8 && m.size > m.compressed * 1032 + 1024)
        a.fail(m.name, "claims " + std::to_string(m.size) + " bytes from " + std::to_string(m.compressed) +
                           " compressed (more than deflate can expand)");
      a.in_.clear();
      a.in_.seekg(static_cast<std::streamoff>(start));
      input_left_ = m.compressed;
      if (m.method == 8) {
        if (inflateInit2(&zs_, -MAX_WBITS) != Z_OK) a.fail(m.name, "zlib initialisation failed");
        inflating_ = true;
        buffer_.resize(1 << 20);
      }
    }
    ~Reader() {
      if (inflating_) inflateEnd(&zs_);
    }
    Reader(const Reader&) = delete;
    Reader& operator=(const Reader&) = delete;

    uint64_t remaining() const { return m_.size - produced_; }

    void read(char* dst, uint64_t n) {
      if (n > remaining()) a_.fail(m_.name, "shorter than its contents need");
      produced_ += n;
      if (!inflating_) {
        take(dst, n);
        input_left_ -= n;
      }
      for (uint64_t done = 0; inflating_ && done < n;) {
        const uInt step = static_cast<uInt>(std::min<uint64_t>(n - done, uint64_t{1} << 30));
        zs_.next_out = reinterpret_cast<Bytef*>(dst + done);
        zs_.avail_out = step;
        while (zs_.avail_out > 0) {
          // zlib may still hold output of input it has taken: refill only when it asks.
          if (zs_.avail_in == 0 && input_left_ > 0) refill();
          const int rc = inflate(&zs_, Z_NO_FLUSH);
          if ((rc == Z_STREAM_END && zs_.avail_out > 0) || rc == Z_BUF_ERROR)
            a_.fail(m_.name, "corrupt deflate stream (ends early)");
          if (rc != Z_OK && rc != Z_STREAM_END) a_.fail(m_.name, "corrupt deflate stream");
        }
        done += step;
      }
      // (zlib restarts the CRC on a null buffer, which an empty tensor gives.)
      if (n > 0) crc_ = crc32_z(crc_, reinterpret_cast<const Bytef*>(dst), n);
    }

    // After the last byte: the bytes must match the directory's CRC, and a deflate
    // stream must end exactly there.
    void finish() {
      if (produced_ == m_.size && crc_ != m_.crc) a_.fail(m_.name, "CRC mismatch (corrupt data)");
      if (!inflating_) return;
      char spare = 0;
      zs_.next_out = reinterpret_cast<Bytef*>(&spare);
      zs_.avail_out = 1;
      int rc = Z_OK;
      while (rc == Z_OK && zs_.avail_out == 1) {
        if (zs_.avail_in == 0 && input_left_ > 0) refill();
        rc = inflate(&zs_, Z_NO_FLUSH);
        if (rc == Z_BUF_ERROR && zs_.avail_in == 0 && input_left_ == 0) break;
      }
      if (rc != Z_STREAM_END || zs_.avail_out != 1) a_.fail(m_.name, "corrupt deflate stream");
    }

   private:
    void take(char* dst, uint64_t n) {
      a_.in_.read(dst, static_cast<std::streamsize>(n));
      if (static_cast<uint64_t>(a_.in_.gcount()) != n) a_.fail(m_.name, "file ends inside the member data");
    }
    void refill() {
      const uint64_t n = std::min<uint64_t>(input_left_, buffer_.size());
      take(buffer_.data(), n);
      input_left_ -= n;
      zs_.next_in = reinterpret_cast<Bytef*>(buffer_.data());
      zs_.avail_in = static_cast<uInt>(n);
    }

    Archive& a_;
    const Member& m_;
    uint64_t produced_ = 0, input_left_ = 0;
    uLong crc_ = crc32(0L, Z_NULL, 0);
    bool inflating_ = false;
    z_stream zs_{};
    std::vector<char> buffer_;
  };

 private:
  std::string bytes_at(uint64_t offset, uint64_t n, const std::string& member, const char* what) {
    if (offset + n > file_size_) fail(member, std::string("file ends inside the ") + what);
    std::string out(n, '\0');
    in_.clear();
    in_.seekg(static_cast<std::streamoff>(offset));
    in_.read(out.data(), static_cast<std::streamsize>(n));
    if (static_cast<uint64_t>(in_.gcount()) != n) fail(member, std::string("cannot read the ") + what);
    return out;
  }

  void read_central_directory() {
    if (file_size_ < 22) fail("", "not a zip archive (too short)");
    // The end-of-central-directory record sits in the last 22 + 65535 bytes, and a zip64
    // locator in the 20 before it.
    const uint64_t tail_start = file_size_ - std::min<uint64_t>(file_size_, 22 + 65535 + 20);
    const std::string tail = bytes_at(tail_start, file_size_ - tail_start, "", "end records");
    const auto* t = reinterpret_cast<const unsigned char*>(tail.data());
    int64_t eocd = -1;
    for (int64_t i = static_cast<int64_t>(tail.size()) - 22; i >= 0; --i)
      if (le(t + i, 4) == kEndOfCentralDir) {
        eocd = i;
        break;
      }
    if (eocd < 0) fail("", "not a zip archive (no end-of-central-directory record)");
    uint64_t count = le(t + eocd + 10, 2);
    uint64_t dir_size = le(t + eocd + 12, 4);
    uint64_t dir_offset = le(t + eocd + 16, 4);
    if ((count == 0xffff || dir_size == kMax32 || dir_offset == kMax32) && eocd >= 20 &&
        le(t + eocd - 20, 4) == kZip64EndLocator) {
      const std::string z = bytes_at(le(t + eocd - 20 + 8, 8), 56, "", "zip64 end record");
      const auto* r = reinterpret_cast<const unsigned char*>(z.data());
      if (le(r, 4) != kZip64End) fail("", "bad zip64 end record");
      count = le(r + 32, 8);
      dir_size = le(r + 40, 8);
      dir_offset = le(r + 48, 8);
    }
    // Every entry takes at least 46 bytes: a count the directory cannot hold is a lie.
    if (dir_offset + dir_size > file_size_ || count > dir_size / 46)
      fail("", "central directory of " + std::to_string(count) + " entries does not fit the file");
    const std::string dir = bytes_at(dir_offset, dir_size, "", "central directory");
    const auto* d = reinterpret_cast<const unsigned char*>(dir.data());
    uint64_t p = 0;
    for (uint64_t i = 0; i < count; ++i) {
      if (p + 46 > dir.size()) fail("", "file ends inside the central directory");
      const auto* h = d + p;
      if (le(h, 4) != kCentralHeader) fail("", "bad central directory entry");
      Member m;
      m.method = static_cast<uint16_t>(le(h + 10, 2));
      m.crc = static_cast<uint32_t>(le(h + 16, 4));
      m.compressed = le(h + 20, 4);
      m.size = le(h + 24, 4);
      m.local_offset = le(h + 42, 4);
      const uint64_t name_len = le(h + 28, 2), extra_len = le(h + 30, 2), comment_len = le(h + 32, 2);
      if (p + 46 + name_len + extra_len > dir.size()) fail("", "file ends inside the central directory");
      m.name = dir.substr(p + 46, name_len);
      // Zip64 extra field: the 64-bit values of the fields saturated above, in order.
      for (uint64_t e = p + 46 + name_len; e + 4 <= p + 46 + name_len + extra_len;) {
        const uint64_t id = le(d + e, 2), len = le(d + e + 2, 2);
        uint64_t f = e + 4;
        const uint64_t end = std::min<uint64_t>(e + 4 + len, p + 46 + name_len + extra_len);
        const auto field = [&](uint64_t& v) {
          if (v != kMax32) return;
          if (f + 8 > end) fail(m.name, "short zip64 extra field");
          v = le(d + f, 8);
          f += 8;
        };
        if (id == 1) {
          field(m.size);
          field(m.compressed);
          field(m.local_offset);
        }
        e += 4 + len;
      }
      members_.push_back(std::move(m));
      p += 46 + name_len + extra_len + comment_len;
    }
  }

  std::string path_;
  std::ifstream in_;
  uint64_t file_size_ = 0;
  std::vector<Member> members_;
};

struct NpyHeader {
  std::string descr;
  bool fortran = false;
  std::vector<int64_t> shape;
};

std::string dict_value(const std::string& header, const std::string& key) {
  const size_t k = header.find("'" + key + "'");
  if (k == std::string::npos) return {};
  size_t v = header.find(':', k);
  if (v == std::string::npos) return {};
  ++v;
  while (v < header.size() && header[v] == ' ') ++v;
  if (v >= header.size()) return {};
  if (header[v] == '\'') return header.substr(v + 1, header.find('\'', v + 1) - v - 1);
  if (header[v] == '(') return header.substr(v + 1, header.find(')', v) - v - 1);
  return header.substr(v, header.find_first_of(",}", v) - v);
}

// Reads a .npy header from the start of a member; the data follow it to the member's end.
NpyHeader read_npy_header(Archive::Reader& r, const Archive& a, const std::string& member) {
  std::string magic(8, '\0');
  if (r.remaining() < 10) a.fail(member, "not a .npy array (too short)");
  r.read(magic.data(), 8);
  if (magic.compare(0, 6, "\x93NUMPY") != 0) a.fail(member, "not a .npy array (bad magic)");
  const int major = static_cast<unsigned char>(magic[6]);
  if (major < 1 || major > 3) a.fail(member, ".npy format version " + std::to_string(major) + " unsupported");
  const int len_bytes = major == 1 ? 2 : 4;
  unsigned char len[4] = {0, 0, 0, 0};
  if (r.remaining() < static_cast<uint64_t>(len_bytes)) a.fail(member, "truncated .npy header");
  r.read(reinterpret_cast<char*>(len), len_bytes);
  const uint64_t header_len = le(len, len_bytes);
  // NumPy's headers are a few hundred bytes; a larger one is not worth allocating.
  if (header_len > r.remaining() || header_len > (uint64_t{1} << 20)) a.fail(member, "truncated .npy header");
  std::string header(header_len, '\0');
  r.read(header.data(), header_len);
  NpyHeader h;
  h.descr = dict_value(header, "descr");
  h.fortran = dict_value(header, "fortran_order") == "True";
  std::stringstream dims(dict_value(header, "shape"));
  for (std::string d; std::getline(dims, d, ',');) {
    if (d.find_first_not_of(' ') == std::string::npos) continue;
    try {
      h.shape.push_back(std::stoll(d));
    } catch (const std::exception&) {
      a.fail(member, "bad shape in .npy header: " + header);
    }
    if (h.shape.back() < 0) a.fail(member, "negative dimension in .npy header: " + header);
  }
  if (h.descr.size() < 2) a.fail(member, "no descr in .npy header");
  return h;
}

at::ScalarType scalar_type(const std::string& descr) {
  const std::string t = descr.substr(1);
  if (t == "f4") return at::kFloat;
  if (t == "f8") return at::kDouble;
  if (t == "f2") return at::kHalf;
  if (t == "i1") return at::kChar;
  if (t == "u1") return at::kByte;
  if (t == "i2") return at::kShort;
  if (t == "i4") return at::kInt;
  if (t == "i8") return at::kLong;
  if (t == "b1") return at::kBool;
  return at::ScalarType::Undefined;
}

std::string descr_of(at::ScalarType t) {
  switch (t) {
    case at::kFloat: return "<f4";
    case at::kDouble: return "<f8";
    case at::kHalf: return "<f2";
    case at::kChar: return "|i1";
    case at::kByte: return "|u1";
    case at::kShort: return "<i2";
    case at::kInt: return "<i4";
    case at::kLong: return "<i8";
    case at::kBool: return "|b1";
    default: throw std::invalid_argument(std::string("write_npz: no NumPy dtype for ") + c10::toString(t));
  }
}

std::string strip_npy(const std::string& name) {
  return name.size() > 4 && name.compare(name.size() - 4, 4, ".npy") == 0 ? name.substr(0, name.size() - 4) : name;
}

}  // namespace

std::map<std::string, at::Tensor> read_npz(const std::string& path) {
  Archive a(path);
  std::map<std::string, at::Tensor> out;
  for (const Member& m : a.members()) {
    Archive::Reader r(a, m);
    const NpyHeader h = read_npy_header(r, a, m.name);
    if (h.descr[0] == '>') a.fail(m.name, "big-endian arrays are not supported (" + h.descr + ")");
    const at::ScalarType t = scalar_type(h.descr);
    if (t == at::ScalarType::Undefined) {
      if (h.descr.find('U') != std::string::npos || h.descr.find('S') != std::string::npos) continue;
      a.fail(m.name, "unsupported dtype " + h.descr);
    }
    // The shape's byte count (saturating past the member's), checked before anything is
    // allocated.
    const uint64_t have = r.remaining();
    const uint64_t bytes = claimed_bytes(c10::elementSize(t), h.shape, have);
    if (bytes != have)
      a.fail(m.name, "holds " + std::to_string(have) + " data bytes, its shape needs " +
                         (bytes > have ? "more" : std::to_string(bytes)));
    std::vector<int64_t> shape = h.shape;
    if (h.fortran) std::reverse(shape.begin(), shape.end());
    at::Tensor tensor = at::empty(shape, at::TensorOptions().dtype(t));
    r.read(static_cast<char*>(tensor.data_ptr()), bytes);
    r.finish();
    if (h.fortran && tensor.dim() > 1) {
      std::vector<int64_t> perm(tensor.dim());
      for (int64_t i = 0; i < tensor.dim(); ++i) perm[i] = tensor.dim() - 1 - i;
      tensor = tensor.permute(perm).contiguous();
    }
    out.emplace(strip_npy(m.name), std::move(tensor));
  }
  return out;
}

std::string read_npz_text(const std::string& path, const std::string& name) {
  Archive a(path);
  for (const Member& m : a.members()) {
    if (strip_npy(m.name) != name) continue;
    Archive::Reader r(a, m);
    const NpyHeader h = read_npy_header(r, a, m.name);
    const char kind = h.descr[1];
    if (kind != 'U' && kind != 'S') a.fail(m.name, "not a string array (" + h.descr + ")");
    size_t width = 0;
    try {
      width = std::stoul(h.descr.substr(2));
    } catch (const std::exception&) {
    }
    if (width == 0) a.fail(m.name, "not a string array (" + h.descr + ")");
    std::string data(r.remaining(), '\0');
    r.read(data.data(), data.size());
    r.finish();
    const size_t unit = kind == 'U' ? 4 : 1;
    std::string text;
    for (size_t e = 0; e * width * unit < data.size(); ++e) {
      if (e) text += '\n';
      for (size_t c = 0; c < width; ++c) {
        const size_t at = (e * width + c) * unit;
        if (at + unit > data.size()) break;
        uint32_t cp = unit == 4 ? static_cast<uint32_t>(le(reinterpret_cast<const unsigned char*>(data.data() + at), 4))
                                : static_cast<unsigned char>(data[at]);
        if (cp == 0) break;
        // UTF-32 code point -> UTF-8.
        if (cp < 0x80) {
          text += static_cast<char>(cp);
        } else if (cp < 0x800) {
          text += static_cast<char>(0xc0 | (cp >> 6));
          text += static_cast<char>(0x80 | (cp & 0x3f));
        } else if (cp < 0x10000) {
          text += static_cast<char>(0xe0 | (cp >> 12));
          text += static_cast<char>(0x80 | ((cp >> 6) & 0x3f));
          text += static_cast<char>(0x80 | (cp & 0x3f));
        } else {
          text += static_cast<char>(0xf0 | (cp >> 18));
          text += static_cast<char>(0x80 | ((cp >> 12) & 0x3f));
          text += static_cast<char>(0x80 | ((cp >> 6) & 0x3f));
          text += static_cast<char>(0x80 | (cp & 0x3f));
        }
      }
    }
    return text;
  }
  throw ParseError(path, 0, "no member '" + name + "'");
}

namespace {

// Little-endian fields appended to a header being built.
void put(std::string& s, uint64_t v, int bytes) {
  for (int i = 0; i < bytes; ++i) s += static_cast<char>((v >> (8 * i)) & 0xff);
}

// One member's array as the .npy bytes it is stored as, visited in blocks of at most
// 16 MiB: a bf16 array (NumPy has none) is widened to float32 a block at a time, so no
// whole converted copy exists.
void for_each_block(const at::Tensor& t, const std::function<void(const char*, size_t)>& fn) {
  constexpr int64_t kBlock = int64_t{16} << 20;
  if (t.scalar_type() != at::kBFloat16) {
    const char* p = static_cast<const char*>(t.data_ptr());
    const auto total = static_cast<uint64_t>(t.nbytes());
    for (uint64_t o = 0; o < total; o += kBlock) fn(p + o, std::min<uint64_t>(kBlock, total - o));
    return;
  }
  const at::Tensor flat = t.reshape({-1});
  const int64_t per = kBlock / 4;
  for (int64_t o = 0; o < flat.numel(); o += per) {
    const at::Tensor wide = flat.narrow(0, o, std::min(per, flat.numel() - o)).to(at::kFloat);
    fn(static_cast<const char*>(wide.data_ptr()), static_cast<size_t>(wide.nbytes()));
  }
}

// The .npy header of array `t` as stored (bf16 widened to float32).
std::string npy_header(const at::Tensor& t, at::ScalarType stored) {
  std::string shape;
  for (int64_t d : t.sizes()) shape += std::to_string(d) + ", ";
  // "(5, 11, 256)" and "(7,)", as NumPy writes them.
  if (!shape.empty()) shape.resize(shape.size() - (t.dim() == 1 ? 1 : 2));
  std::string header = "{'descr': '" + descr_of(stored) + "', 'fortran_order': False, 'shape': (" +
                       (t.dim() == 0 ? std::string() : shape) + "), }";
  // NumPy pads the header with spaces so the data starts on a 64-byte boundary.
  const size_t total = 10 + header.size() + 1;
  header += std::string((64 - total % 64) % 64, ' ') + "\n";
  std::string npy = "\x93NUMPY";
  npy += '\x01';
  npy += '\x00';
  put(npy, header.size(), 2);
  return npy + header;
}

// One stored (uncompressed) member's place in the archive. Zip64 (sizes and offsets in
// an extra field) only where 32 bits cannot hold them.
struct MemberEntry {
  std::string name;
  uLong crc;
  uint64_t size, local_offset;
  bool big() const { return size >= kMax32; }
  bool far() const { return local_offset >= kMax32; }
};

std::string local_file_header(const MemberEntry& m) {
  const bool big = m.big();
  std::string local;
  put(local, kLocalHeader, 4);
  put(local, big ? 45 : 20, 2);  // version needed
  put(local, 0, 2);               // flags
  put(local, 0, 2);               // stored
  put(local, 0, 4);               // time, date
  put(local, m.crc, 4);
  put(local, big ? kMax32 : m.size, 4);
  put(local, big ? kMax32 : m.size, 4);
  put(local, m.name.size(), 2);
  put(local, big ? 20 : 0, 2);
  local += m.name;
  if (big) {
    put(local, 1, 2);
    put(local, 16, 2);
    put(local, m.size, 8);
    put(local, m.size, 8);
  }
  return local;
}

std::string central_directory_entry(const MemberEntry& m) {
  const bool big = m.big(), far = m.far();
  std::string extra;
  if (big || far) {
    std::string fields;
    if (big) put(fields, m.size, 8), put(fields, m.size, 8);
    if (far) put(fields, m.local_offset, 8);
    put(extra, 1, 2);
    put(extra, fields.size(), 2);
    extra += fields;
  }
  std::string central;
  put(central, kCentralHeader, 4);
  put(central, big || far ? 45 : 20, 2);  // made by
  put(central, big || far ? 45 : 20, 2);  // needed
  put(central, 0, 2);
  put(central, 0, 2);
  put(central, 0, 4);
  put(central, m.crc, 4);
  put(central, big ? kMax32 : m.size, 4);
  put(central, big ? kMax32 : m.size, 4);
  put(central, m.name.size(), 2);
  put(central, extra.size(), 2);
  put(central, 0, 2);  // comment
  put(central, 0, 2);  // disk
  put(central, 0, 2);  // internal attributes
  put(central, 0, 4);  // external attributes
  put(central, far ? kMax32 : m.local_offset, 4);
  return central + m.name + extra;
}

// The records after the central directory of `count` entries, `central_size` bytes at
// `dir_offset`: zip64's end record and locator where 16/32-bit fields overflow, then
// the classic end record.
std::string end_of_central_directory(uint64_t count, uint64_t central_size, uint64_t dir_offset) {
  std::string end;
  if (count >= 0xffff || dir_offset >= kMax32 || central_size >= kMax32) {
    put(end, kZip64End, 4);
    put(end, 44, 8);  // the record's size after this field
    put(end, 45, 2);
    put(end, 45, 2);
    put(end, 0, 4);
    put(end, 0, 4);
    put(end, count, 8);
    put(end, count, 8);
    put(end, central_size, 8);
    put(end, dir_offset, 8);
    put(end, kZip64EndLocator, 4);
    put(end, 0, 4);
    put(end, dir_offset + central_size, 8);  // where the zip64 end record starts
    put(end, 1, 4);
  }
  put(end, kEndOfCentralDir, 4);
  put(end, 0, 4);  // disk numbers
  put(end, std::min<uint64_t>(count, 0xffff), 2);
  put(end, std::min<uint64_t>(count, 0xffff), 2);
  put(end, std::min<uint64_t>(central_size, kMax32), 4);
  put(end, std::min<uint64_t>(dir_offset, kMax32), 4);
  put(end, 0, 2);
  return end;
}

}  // namespace

void write_npz(const std::string& path, const std::map<std::string, at::Tensor>& arrays) {
  const std::string tmp = path + ".tmp" + std::to_string(::getpid());
  std::ofstream out(tmp, std::ios::binary);
  if (!out) throw std::runtime_error("write_npz: cannot create " + tmp);
  // Whatever stops the write leaves no partial archive behind.
  struct RemoveUnlessRenamed {
    const std::string& file;
    bool renamed = false;
    ~RemoveUnlessRenamed() {
      std::error_code ignored;
      if (!renamed) std::filesystem::remove(file, ignored);
    }
  } cleanup{tmp};
  uint64_t offset = 0;
  const auto write = [&](const char* p, size_t n) {
    out.write(p, static_cast<std::streamsize>(n));
    offset += n;
  };
  std::string central;
  for (const auto& [name, tensor] : arrays) {
    const at::Tensor t = tensor.detach().cpu().contiguous();
    const at::ScalarType stored = t.scalar_type() == at::kBFloat16 ? at::kFloat : t.scalar_type();
    const std::string npy = npy_header(t, stored);
    // The CRC first (one pass over the array in memory), so the local header is final
    // when written and the data go straight from the tensor to the file.
    uLong crc = crc32(0L, reinterpret_cast<const Bytef*>(npy.data()), static_cast<uInt>(npy.size()));
    for_each_block(t, [&](const char* p, size_t n) { crc = crc32(crc, reinterpret_cast<const Bytef*>(p), static_cast<uInt>(n)); });
    const uint64_t size = npy.size() + static_cast<uint64_t>(t.numel()) * c10::elementSize(stored);
    const MemberEntry member{name + ".npy", crc, size, offset};
    const std::string local = local_file_header(member);
    write(local.data(), local.size());
    write(npy.data(), npy.size());
    for_each_block(t, write);
    central += central_directory_entry(member);
  }
  const uint64_t dir_offset = offset;
  write(central.data(), central.size());
  const std::string end = end_of_central_directory(arrays.size(), central.size(), dir_offset);
  write(end.data(), end.size());
  if (!out.flush()) throw std::runtime_error("write_npz: cannot write " + tmp);
  out.close();
  std::filesystem::rename(tmp, path);
  cleanup.renamed = true;
}

}  // namespace fold::data
