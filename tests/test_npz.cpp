// NumPy .npz reading and writing: real archives from ../shared/ref-modules (written by
// NumPy, deflated), round trips through our writer, and malformed archives.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include <fstream>
#include <sstream>

#include "data/npz.h"
#include "data/parse_error.h"
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

}  // namespace
}  // namespace fold::data
