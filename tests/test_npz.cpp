// Tensor files: NumPy .npz reading and writing (real archives from ../shared/ref-modules, written by
// NumPy, deflated), round trips through our writer, malformed archives), and safetensors headers.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <utility>
#include <vector>
#include <sys/mman.h>

#include "data/npz.h"
#include "data/parse_error.h"
#include "data/safetensors.h"
#include "test_paths.h"

namespace fold::data {
namespace {

const auto kMsaTransition = fold::test::source_dir() / ".." / "shared" / "ref-modules" / "msa_transition.npz";

std::string slurp(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

TEST(Npz, ReadsNumpyWrittenDeflatedArchive) {
  FOLD_REQUIRE_FILE(kMsaTransition);
  const auto a = read_npz(kMsaTransition.string());
  const at::Tensor m = a.at("in/m");
  EXPECT_EQ(m.sizes(), (std::vector<int64_t>{5, 11, 256}));
  EXPECT_EQ(m.scalar_type(), at::kFloat);
  // Values as NumPy reads them: sum in float64 and one element.
  EXPECT_NEAR(m.to(at::kDouble).sum().item<double>(), 234.82355399829976, 1e-9);
  EXPECT_FLOAT_EQ(m[2][7][100].item<float>(), 0.5419684648513794f);
  EXPECT_EQ(a.at("out64/update").scalar_type(), at::kDouble);
  EXPECT_EQ(a.at("param/alphafold/alphafold_iteration/evoformer/evoformer_iteration/msa_transition/transition1//weights")
                .sizes(),
            (std::vector<int64_t>{256, 1024}));
  EXPECT_EQ(a.count("meta"), 0u);  // a string array: read_npz_text
}

TEST(Npz, ReadsUnicodeStringMember) {
  FOLD_REQUIRE_FILE(kMsaTransition);
  const auto meta = nlohmann::json::parse(read_npz_text(kMsaTransition.string(), "meta"));
  EXPECT_EQ(meta["name"], "msa_transition");
  EXPECT_THROW(read_npz_text(kMsaTransition.string(), "in/m"), ParseError);      // numeric
  EXPECT_THROW(read_npz_text(kMsaTransition.string(), "no/such"), ParseError);   // absent
}

TEST(Npz, RoundTripKeepsDtypesShapesAndValues) {
  torch::manual_seed(0);
  std::map<std::string, at::Tensor> in{
      {"f32", torch::randn({3, 4, 5})},
      {"f64", torch::randn({7}, torch::kDouble)},
      {"f16", torch::randn({2, 2}).to(torch::kHalf)},
      {"i64", torch::arange(10)},
      {"i32", torch::arange(6, torch::kInt).view({2, 3})},
      {"u8", torch::arange(200, torch::kByte)},
      {"bool", torch::rand({4, 4}) > 0.5},
      {"scalar", torch::tensor(3.5)},
      {"empty", torch::zeros({0, 3})},
      {"nested/name", torch::randn({2}).t()},
      {"strided", torch::randn({4, 6}).t()},  // non-contiguous input
  };
  const auto path = fold::test::temp_path("roundtrip.npz");
  write_npz(path.string(), in);
  const auto out = read_npz(path.string());
  std::filesystem::remove(path);
  ASSERT_EQ(out.size(), in.size());
  for (const auto& [k, v] : in) {
    ASSERT_TRUE(out.count(k)) << k;
    EXPECT_EQ(out.at(k).scalar_type(), v.scalar_type()) << k;
    EXPECT_EQ(out.at(k).sizes(), v.sizes()) << k;
    EXPECT_TRUE(torch::equal(out.at(k), v)) << k;
  }
}

// NumPy has no bfloat16 (a bf16 prediction's pair and logits): written as float32, which
// holds every bf16 value exactly, so the round trip loses nothing.
TEST(Npz, RoundTripWidensBf16ToFloat32Exactly) {
  torch::manual_seed(0);
  const at::Tensor bf16 = torch::randn({5, 6}).to(torch::kBFloat16);
  const auto path = fold::test::temp_path("bf16.npz");
  write_npz(path.string(), {{"logits", bf16}});
  const auto out = read_npz(path.string());
  std::filesystem::remove(path);
  ASSERT_EQ(out.at("logits").scalar_type(), at::kFloat);
  EXPECT_TRUE(torch::equal(out.at("logits"), bf16.to(torch::kFloat)));
}

TEST(Npz, NumpyReadsWhatWeWrite) {
  if (std::system("python3 -c 'import numpy' >/dev/null 2>&1") != 0)
    GTEST_SKIP() << "python3 with NumPy not available (tools/setup.sh installs it)";
  const auto path = fold::test::temp_path("for_numpy.npz");
  write_npz(path.string(), {{"f32", torch::arange(60, torch::kFloat).view({3, 4, 5})},
                            {"i64", torch::tensor({7, -2}, torch::kLong)},
                            {"flag", torch::tensor({false, true})},
                            {"scalar", torch::tensor(2.5, torch::kDouble)}});
  const std::string check =
      "python3 -c \"import numpy as np; d = np.load('" + path.string() +
      "'); assert d['f32'].shape == (3, 4, 5) and d['f32'].dtype == np.float32 and d['f32'][2, 3, 4] == 59; "
      "assert list(d['i64']) == [7, -2] and d['flag'].dtype == bool and bool(d['flag'][1]); "
      "assert d['scalar'].shape == () and float(d['scalar']) == 2.5\"";
  EXPECT_EQ(std::system(check.c_str()), 0) << check;
  std::filesystem::remove(path);
}

// Past 4 GiB a zip needs zip64: sizes and offsets in extra fields and a zip64 end record.
// NumPy reads what we write, and we read it back; "small" follows "big", so its offset is
// past 4 GiB too. The array is made sparsely (the zero pages of an anonymous mapping, a
// few values set), so only the file and the two read-back copies cost anything.
TEST(Npz, Zip64MemberOver4GiBRoundTripsThroughNumpy) {
  if (std::system("python3 -c 'import numpy' >/dev/null 2>&1") != 0)
    GTEST_SKIP() << "python3 with NumPy not available (tools/setup.sh installs it)";
  const int64_t n = (int64_t{1} << 30) + 1024;  // float32: 4 GiB + 4 KiB
  const size_t bytes = static_cast<size_t>(n) * 4;
  void* mem = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  ASSERT_NE(mem, MAP_FAILED);
  float* values = static_cast<float*>(mem);
  values[0] = 1.5f;
  values[n / 2] = -2.0f;
  values[n - 1] = 3.25f;
  const auto path = fold::test::temp_path("zip64.npz");
  write_npz(path.string(), {{"big", torch::from_blob(mem, {n}, torch::kFloat)}, {"small", torch::arange(5, torch::kInt)}});
  munmap(mem, bytes);
  const std::string check =
      "python3 -c \"import numpy as np, zipfile; p = '" + path.string() +
      "'; assert zipfile.ZipFile(p).getinfo('big.npy').file_size > 2**32; "
      "assert zipfile.ZipFile(p).getinfo('small.npy').header_offset > 2**32; d = np.load(p); b = d['big']; "
      "assert b.dtype == np.float32 and b.shape == (" + std::to_string(n) + ",); "
      "assert b[0] == 1.5 and b[" + std::to_string(n / 2) + "] == -2 and b[-1] == 3.25 and b[1:100].sum() == 0; "
      "assert list(d['small']) == [0, 1, 2, 3, 4]\"";
  EXPECT_EQ(std::system(check.c_str()), 0) << check;
  {
    const auto back = read_npz(path.string());
    const at::Tensor big = back.at("big");
    ASSERT_EQ(big.numel(), n);
    EXPECT_EQ(big[0].item<float>(), 1.5f);
    EXPECT_EQ(big[n / 2].item<float>(), -2.0f);
    EXPECT_EQ(big[n - 1].item<float>(), 3.25f);
    EXPECT_EQ(big.abs().sum().item<double>(), 6.75);
    EXPECT_TRUE(torch::equal(back.at("small"), torch::arange(5, torch::kInt)));
  }
  std::filesystem::remove(path);
}

// A member whose header claims more than its bytes hold (a shape or a deflated size
// that lies) is refused before the claimed size is allocated.
TEST(Npz, RejectsSizesTheFileCannotHold) {
  const auto path = fold::test::temp_path("lying.npz");
  write_npz(path.string(), {{"a", torch::arange(4, torch::kFloat)}});
  std::string bytes = slurp(path);
  const size_t shape = bytes.find("(4,)");
  ASSERT_NE(shape, std::string::npos);
  bytes.replace(shape, 4, "(9,)");  // same length: only the claimed shape changes
  std::ofstream(path, std::ios::binary) << bytes;
  try {
    read_npz(path.string());
    FAIL() << "a shape larger than the data was accepted";
  } catch (const ParseError& e) {
    EXPECT_NE(std::string(e.what()).find("shape needs more"), std::string::npos) << e.what();
  }
  std::filesystem::remove(path);
}

TEST(Npz, RejectsTruncatedArchive) {
  FOLD_REQUIRE_FILE(kMsaTransition);
  const std::string bytes = slurp(kMsaTransition);
  const auto path = fold::test::temp_path("truncated.npz");
  std::ofstream(path, std::ios::binary) << bytes.substr(0, bytes.size() / 2);
  EXPECT_THROW(read_npz(path.string()), ParseError);
  std::filesystem::remove(path);
}

TEST(Npz, RejectsCorruptDeflateStream) {
  FOLD_REQUIRE_FILE(kMsaTransition);
  std::string bytes = slurp(kMsaTransition);
  for (size_t i = 200; i < 400; ++i) bytes[i] = static_cast<char>(bytes[i] ^ 0x5a);  // inside the first member
  const auto path = fold::test::temp_path("corrupt.npz");
  std::ofstream(path, std::ios::binary) << bytes;
  try {
    read_npz(path.string());
    FAIL() << "corrupt archive accepted";
  } catch (const ParseError& e) {
    EXPECT_NE(std::string(e.what()).find("corrupt.npz"), std::string::npos) << e.what();
  }
  std::filesystem::remove(path);
}

TEST(Npz, RejectsNonZipAndMissingFile) {
  const auto path = fold::test::temp_path("text.npz");
  std::ofstream(path) << "this is not a zip archive at all, just some text\n";
  EXPECT_THROW(read_npz(path.string()), ParseError);
  std::filesystem::remove(path);
  EXPECT_THROW(read_npz("/nonexistent/x.npz"), ParseError);
}

// safetensors headers found by fuzz_safetensors (tests/fuzz/regressions): a dimension
// that is a float past int64 (nlohmann would cast it, undefined), a terabyte claimed by
// a 4-byte file (it was allocated before being checked), and a dimension past int64
// beside a zero one. Each is a ParseError naming the tensor, before any allocation.
TEST(Safetensors, RejectsShapesThatAreNotCountsOrDoNotFitTheFile) {
  const std::filesystem::path dir = fold::test::source_dir() / "tests/fuzz/regressions/fuzz_safetensors";
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"shape-float-out-of-int-range.safetensors", "tensor 't': shape holds 3.7e+128, not a non-negative integer"},
      {"shape-claims-a-terabyte.safetensors", "tensor 't': data_offsets do not fit its shape and dtype or the file"},
      {"shape-huge-beside-zero.safetensors", "tensor 't': dimension 18446744073709551615 out of range"}};
  // An empty tensor in a file without data is a value (its storage was once memcpy'd
  // from a null pointer, which fuzz_safetensors' UBSan caught).
  const SafetensorsFile empty = read_safetensors((dir / "empty-tensor-without-data.safetensors").string());
  ASSERT_EQ(empty.tensors.count("t"), 1u);
  EXPECT_EQ(empty.tensors.at("t").numel(), 0);
  for (const auto& [file, expected] : cases) {
    try {
      read_safetensors((dir / file).string());
      ADD_FAILURE() << file << ": accepted";
    } catch (const ParseError& e) {
      EXPECT_NE(e.problem().find(expected), std::string::npos) << e.what();
    }
  }
}

}  // namespace
}  // namespace fold::data
