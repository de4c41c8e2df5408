#include "data/npz.h"

#include <ATen/ATen.h>
#include <zlib.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <unistd.h>

#include "data/parse_error.h"

namespace fold::data {

namespace {

constexpr uint32_t kLocalHeader = 0x04034b50;
constexpr uint32_t kCentralHeader = 0x02014b50;
constexpr uint32_t kEndOfCentralDir = 0x06054b50;
constexpr uint32_t kZip64EndLocator = 0x07064b50;
constexpr uint32_t kZip64End = 0x06064b50;

uint64_t le(const unsigned char* p, int bytes) {
  uint64_t v = 0;
  for (int i = bytes - 1; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}

struct Member {
  std::string name;
  uint16_t method = 0;
  uint64_t compressed = 0, size = 0, local_offset = 0;
};

class Archive {
 public:
  explicit Archive(std::string path) : path_(std::move(path)) {
    std::ifstream in(path_, std::ios::binary);
    if (!in) throw ParseError(path_, 0, "cannot open file");
    std::stringstream ss;
    ss << in.rdbuf();
    bytes_ = ss.str();
    read_central_directory();
  }

  const std::vector<Member>& members() const { return members_; }

  std::string contents(const Member& m) const {
    need(m.local_offset + 30, m.name, "local header");
    const auto* h = data(m.local_offset);
    if (le(h, 4) != kLocalHeader) fail(m.name, "bad local header signature");
    const uint64_t start = m.local_offset + 30 + le(h + 26, 2) + le(h + 28, 2);
    need(start + m.compressed, m.name, "member data (truncated file?)");
    if (m.method == 0) {
      if (m.compressed != m.size) fail(m.name, "stored member with differing sizes");
      return bytes_.substr(start, m.size);
    }
    if (m.method != 8) fail(m.name, "unsupported compression method " + std::to_string(m.method));
    std::string out(m.size, '\0');
    z_stream zs{};
    if (inflateInit2(&zs, -MAX_WBITS) != Z_OK) fail(m.name, "zlib initialisation failed");
    zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(bytes_.data() + start));
    zs.avail_in = static_cast<uInt>(m.compressed);
    zs.next_out = reinterpret_cast<Bytef*>(out.data());
    zs.avail_out = static_cast<uInt>(m.size);
    const int rc = inflate(&zs, Z_FINISH);
    inflateEnd(&zs);
    if (rc != Z_STREAM_END || zs.total_out != m.size) fail(m.name, "corrupt deflate stream");
    return out;
  }

  [[noreturn]] void fail(const std::string& member, const std::string& problem) const {
    throw ParseError(path_, 0, (member.empty() ? "" : "member '" + member + "': ") + problem);
  }

 private:
  const unsigned char* data(uint64_t offset) const {
    return reinterpret_cast<const unsigned char*>(bytes_.data()) + offset;
  }
  void need(uint64_t end, const std::string& member, const char* what) const {
    if (end > bytes_.size()) fail(member, std::string("file ends inside the ") + what);
  }

  void read_central_directory() {
    if (bytes_.size() < 22) fail("", "not a zip archive (too short)");
    // The end-of-central-directory record sits in the last 22 + 65535 bytes.
    int64_t eocd = -1;
    const int64_t lowest = std::max<int64_t>(0, static_cast<int64_t>(bytes_.size()) - 22 - 65535);
    for (int64_t i = static_cast<int64_t>(bytes_.size()) - 22; i >= lowest; --i)
      if (le(data(i), 4) == kEndOfCentralDir) {
        eocd = i;
        break;
      }
    if (eocd < 0) fail("", "not a zip archive (no end-of-central-directory record)");
    uint64_t count = le(data(eocd + 10), 2);
    uint64_t dir_offset = le(data(eocd + 16), 4);
    if ((count == 0xffff || dir_offset == 0xffffffff) && eocd >= 20 && le(data(eocd - 20), 4) == kZip64EndLocator) {
      const uint64_t z64 = le(data(eocd - 20 + 8), 8);
      need(z64 + 56, "", "zip64 end record");
      if (le(data(z64), 4) != kZip64End) fail("", "bad zip64 end record");
      count = le(data(z64 + 32), 8);
      dir_offset = le(data(z64 + 48), 8);
    }
    uint64_t p = dir_offset;
    for (uint64_t i = 0; i < count; ++i) {
      need(p + 46, "", "central directory");
      const auto* h = data(p);
      if (le(h, 4) != kCentralHeader) fail("", "bad central directory entry");
      Member m;
      m.method = static_cast<uint16_t>(le(h + 10, 2));
      m.compressed = le(h + 20, 4);
      m.size = le(h + 24, 4);
      m.local_offset = le(h + 42, 4);
      const uint64_t name_len = le(h + 28, 2), extra_len = le(h + 30, 2), comment_len = le(h + 32, 2);
      need(p + 46 + name_len + extra_len, "", "central directory");
      m.name = bytes_.substr(p + 46, name_len);
      // Zip64 extra field: the 64-bit values of the fields saturated above, in order.
      for (uint64_t e = p + 46 + name_len; e + 4 <= p + 46 + name_len + extra_len;) {
        const uint64_t id = le(data(e), 2), len = le(data(e + 2), 2);
        uint64_t f = e + 4;
        if (id == 1) {
          if (m.size == 0xffffffff) m.size = le(data(f), 8), f += 8;
          if (m.compressed == 0xffffffff) m.compressed = le(data(f), 8), f += 8;
          if (m.local_offset == 0xffffffff) m.local_offset = le(data(f), 8);
        }
        e += 4 + len;
      }
      members_.push_back(std::move(m));
      p += 46 + name_len + extra_len + comment_len;
    }
  }

  std::string path_;
  std::string bytes_;
  std::vector<Member> members_;
};

struct NpyHeader {
  std::string descr;
  bool fortran = false;
  std::vector<int64_t> shape;
  size_t data_offset = 0;
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

NpyHeader parse_npy_header(const std::string& blob, const Archive& a, const std::string& member) {
  if (blob.size() < 10 || blob.compare(0, 6, "\x93NUMPY") != 0) a.fail(member, "not a .npy array (bad magic)");
  const int major = static_cast<unsigned char>(blob[6]);
  const size_t len_bytes = major == 1 ? 2 : 4;
  if (major < 1 || major > 3) a.fail(member, ".npy format version " + std::to_string(major) + " unsupported");
  const auto* p = reinterpret_cast<const unsigned char*>(blob.data());
  const size_t header_len = le(p + 8, static_cast<int>(len_bytes));
  NpyHeader h;
  h.data_offset = 8 + len_bytes + header_len;
  if (h.data_offset > blob.size()) a.fail(member, "truncated .npy header");
  const std::string header = blob.substr(8 + len_bytes, header_len);
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
  }
  if (h.descr.empty()) a.fail(member, "no descr in .npy header");
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
    const std::string blob = a.contents(m);
    const NpyHeader h = parse_npy_header(blob, a, m.name);
    if (h.descr[0] == '>') a.fail(m.name, "big-endian arrays are not supported (" + h.descr + ")");
    const at::ScalarType t = scalar_type(h.descr);
    if (t == at::ScalarType::Undefined) {
      if (h.descr.find('U') != std::string::npos || h.descr.find('S') != std::string::npos) continue;
      a.fail(m.name, "unsupported dtype " + h.descr);
    }
    std::vector<int64_t> shape = h.shape;
    if (h.fortran) std::reverse(shape.begin(), shape.end());
    at::Tensor tensor = at::empty(shape, at::TensorOptions().dtype(t));
    const size_t bytes = tensor.nbytes();
    if (blob.size() - h.data_offset != bytes)
      a.fail(m.name, "holds " + std::to_string(blob.size() - h.data_offset) + " data bytes, shape needs " +
                         std::to_string(bytes));
    std::memcpy(tensor.data_ptr(), blob.data() + h.data_offset, bytes);
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
    const std::string blob = a.contents(m);
    const NpyHeader h = parse_npy_header(blob, a, m.name);
    const char kind = h.descr.size() > 1 ? h.descr[1] : '?';
    const size_t width = std::stoul(h.descr.substr(2));
    const std::string data = blob.substr(h.data_offset);
    const size_t unit = kind == 'U' ? 4 : 1;
    if ((kind != 'U' && kind != 'S') || width == 0) a.fail(m.name, "not a string array (" + h.descr + ")");
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

void write_npz(const std::string& path, const std::map<std::string, at::Tensor>& arrays) {
  std::string zip, central;
  uint64_t count = 0;
  auto put = [](std::string& s, uint64_t v, int bytes) {
    for (int i = 0; i < bytes; ++i) s += static_cast<char>((v >> (8 * i)) & 0xff);
  };
  for (const auto& [name, tensor] : arrays) {
    // NumPy has no bfloat16: such members are written as float32, which holds them exactly.
    at::Tensor t = tensor.detach().cpu().contiguous();
    if (t.scalar_type() == at::kBFloat16) t = t.to(at::kFloat);
    std::string shape;
    for (int64_t d : t.sizes()) shape += std::to_string(d) + ", ";
    // "(5, 11, 256)" and "(7,)", as NumPy writes them.
    if (!shape.empty()) shape.resize(shape.size() - (t.dim() == 1 ? 1 : 2));
    std::string header = "{'descr': '" + descr_of(t.scalar_type()) + "', 'fortran_order': False, 'shape': (" +
                         (t.dim() == 0 ? std::string() : shape) + "), }";
    // NumPy pads the header with spaces so the data starts on a 64-byte boundary.
    const size_t total = 10 + header.size() + 1;
    header += std::string((64 - total % 64) % 64, ' ') + "\n";
    std::string blob = "\x93NUMPY";
    blob += '\x01';
    blob += '\x00';
    put(blob, header.size(), 2);
    blob += header;
    blob.append(static_cast<const char*>(t.data_ptr()), t.nbytes());
    if (blob.size() >= 0xffffffffULL || zip.size() >= 0xffffffffULL)
      throw std::invalid_argument("write_npz: member '" + name + "' or archive beyond 4 GiB (zip64 not written)");
    const std::string member = name + ".npy";
    const uint32_t crc = static_cast<uint32_t>(crc32(0L, reinterpret_cast<const Bytef*>(blob.data()),
                                                     static_cast<uInt>(blob.size())));
    const uint64_t offset = zip.size();
    put(zip, kLocalHeader, 4);
    put(zip, 20, 2);  // version needed
    put(zip, 0, 2);   // flags
    put(zip, 0, 2);   // stored
    put(zip, 0, 4);   // time, date
    put(zip, crc, 4);
    put(zip, blob.size(), 4);
    put(zip, blob.size(), 4);
    put(zip, member.size(), 2);
    put(zip, 0, 2);
    zip += member;
    zip += blob;
    put(central, kCentralHeader, 4);
    put(central, 20, 2);  // made by
    put(central, 20, 2);  // needed
    put(central, 0, 2);
    put(central, 0, 2);
    put(central, 0, 4);
    put(central, crc, 4);
    put(central, blob.size(), 4);
    put(central, blob.size(), 4);
    put(central, member.size(), 2);
    put(central, 0, 2);  // extra
    put(central, 0, 2);  // comment
    put(central, 0, 2);  // disk
    put(central, 0, 2);  // internal attributes
    put(central, 0, 4);  // external attributes
    put(central, offset, 4);
    central += member;
    ++count;
  }
  const uint64_t dir_offset = zip.size();
  zip += central;
  put(zip, kEndOfCentralDir, 4);
  put(zip, 0, 4);  // disk numbers
  put(zip, count, 2);
  put(zip, count, 2);
  put(zip, central.size(), 4);
  put(zip, dir_offset, 4);
  put(zip, 0, 2);
  const std::string tmp = path + ".tmp" + std::to_string(::getpid());
  {
    std::ofstream out(tmp, std::ios::binary);
    out.write(zip.data(), static_cast<std::streamsize>(zip.size()));
    if (!out.flush()) throw std::runtime_error("write_npz: cannot write " + tmp);
  }
  std::filesystem::rename(tmp, path);
}

}  // namespace fold::data
