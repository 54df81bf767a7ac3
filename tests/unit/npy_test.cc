// .npy reading and writing: round trips of every dtype and shape kind, the bf16/int4 conventions,
// ConvertForOperator, every class of malformed file (each must give a clear kErrParamInvalid, never
// a crash), a mutation sweep over valid files, and interop with the real NumPy when a python3
// that can import numpy is found (MC2_PYTHON, python3, /usr/bin/python3).
#include "core/npy.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

namespace mc2 {
namespace {

namespace fs = std::filesystem;

constexpr DType kNpyDTypes[] = {DType::kFloat32, DType::kFloat16, DType::kFloat64, DType::kInt8,
                                DType::kUInt8,   DType::kInt32,   DType::kInt64,   DType::kUInt64};

const std::vector<Dims>& TestShapes() {
  static const std::vector<Dims> shapes = {Dims{}, Dims{0}, Dims{2, 0, 3}, Dims{7}, Dims{2, 3, 4}, Dims{1, 1, 1, 1, 1, 1, 1, 2}};
  return shapes;
}

// Pattern shared with the Python side of the interop tests: v(i) = (37 i mod 101) - 50.
int64_t Pattern(int64_t i) { return (i * 37) % 101 - 50; }

// A tensor of `dtype` and `dims` holding the pattern, scaled so every value is exact in the dtype
// (floats: v / 8; uint8: v + 50; int64: v * 2^40; uint64: v + 50 + 2^63).
HostTensor PatternTensor(DType dtype, const Dims& dims) {
  HostTensor t(dtype, dims);
  for (int64_t i = 0; i < t.numel(); ++i) {
    const int64_t v = Pattern(i);
    switch (dtype) {
      case DType::kInt64:
        t.data_as<int64_t>()[i] = v * (int64_t{1} << 40);
        break;
      case DType::kUInt64:
        t.data_as<uint64_t>()[i] = static_cast<uint64_t>(v + 50) + (uint64_t{1} << 63);
        break;
      case DType::kUInt8:
        t.set(i, static_cast<double>(v + 50));
        break;
      case DType::kInt4:
        t.set(i, static_cast<double>((v + 50) % 16 - 8));
        break;
      default:
        t.set(i, IsFloating(dtype) ? static_cast<double>(v) / 8 : static_cast<double>(v));
    }
  }
  return t;
}

void ExpectSameTensor(const HostTensor& a, const HostTensor& b) {
  ASSERT_EQ(a.dtype(), b.dtype()) << DTypeName(a.dtype()) << " vs " << DTypeName(b.dtype());
  ASSERT_EQ(a.dims(), b.dims()) << a.dims().ToString() << " vs " << b.dims().ToString();
  ASSERT_EQ(a.bytes(), b.bytes());
  if (a.bytes() > 0) {
    EXPECT_EQ(std::memcmp(a.data(), b.data(), a.bytes()), 0);
  }
}

// A fresh directory under the test temp dir, removed when the object dies.
class TempDir {
 public:
  TempDir() {
    std::string templ = (fs::path(testing::TempDir()) / "mc2_npy_XXXXXX").string();
    if (mkdtemp(templ.data()) != nullptr) path_ = templ;
  }
  ~TempDir() {
    std::error_code ec;
    if (!path_.empty()) fs::remove_all(path_, ec);
  }
  const std::string& path() const { return path_; }
  std::string File(const std::string& name) const { return (fs::path(path_) / name).string(); }

 private:
  std::string path_;
};

// .npy bytes with the given version, raw header text (padded to 64 with spaces and a newline
// unless `pad` is false) and `data_bytes` bytes of data.
std::vector<uint8_t> MakeNpy(int major, const std::string& header, size_t data_bytes, bool pad = true) {
  const size_t preamble = major == 1 ? 10 : 12;
  std::string text = header;
  if (pad) {
    const size_t total = (preamble + text.size() + 1 + 63) / 64 * 64;
    text.append(total - preamble - text.size() - 1, ' ');
    text += '\n';
  }
  std::vector<uint8_t> out = {0x93, 'N', 'U', 'M', 'P', 'Y', static_cast<uint8_t>(major), 0};
  for (size_t i = 0; i < preamble - 8; ++i) out.push_back(static_cast<uint8_t>(text.size() >> (8 * i)));
  out.insert(out.end(), text.begin(), text.end());
  for (size_t i = 0; i < data_bytes; ++i) out.push_back(static_cast<uint8_t>(i * 7));
  return out;
}

std::string Dict(const std::string& descr, const std::string& shape, const std::string& fortran = "False") {
  return "{'descr': '" + descr + "', 'fortran_order': " + fortran + ", 'shape': " + shape + ", }";
}

StatusOr<HostTensor> Parse(const std::vector<uint8_t>& bytes) { return ParseNpy(bytes.data(), bytes.size()); }

// Expects a kErrParamInvalid whose message contains `needle`.
void ExpectInvalid(const StatusOr<HostTensor>& got, const std::string& needle) {
  ASSERT_FALSE(got.ok()) << "expected an error containing '" << needle << "'";
  EXPECT_EQ(got.status().code(), aclnn::kErrParamInvalid) << got.status().ToString();
  EXPECT_NE(got.status().message().find(needle), std::string::npos)
      << "message '" << got.status().message() << "' lacks '" << needle << "'";
}

TEST(NpyTest, RoundTripsEveryDTypeAndShapeInMemoryAndOnDisk) {
  TempDir dir;
  ASSERT_FALSE(dir.path().empty());
  for (DType dtype : kNpyDTypes) {
    for (const Dims& dims : TestShapes()) {
      SCOPED_TRACE(StrCat(DTypeName(dtype), " ", dims.ToString()));
      const HostTensor t = PatternTensor(dtype, dims);
      const std::vector<uint8_t> bytes = SerializeNpy(t);
      auto parsed = ParseNpy(bytes.data(), bytes.size());
      ASSERT_TRUE(parsed.ok()) << parsed.status().ToString();
      ExpectSameTensor(*parsed, t);

      const std::string path = dir.File("t.npy");
      ASSERT_TRUE(WriteNpy(path, t).ok());
      auto read = ReadNpy(path);
      ASSERT_TRUE(read.ok()) << read.status().ToString();
      ExpectSameTensor(*read, t);
      // The file is exactly the serialized bytes.
      std::ifstream in(path, std::ios::binary);
      const std::vector<uint8_t> on_disk((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
      EXPECT_EQ(on_disk, bytes);
    }
  }
}

TEST(NpyTest, RoundTripKeepsEveryBitPatternIncludingNanAndInf) {
  std::mt19937_64 rng(7);
  for (DType dtype : kNpyDTypes) {
    HostTensor t(dtype, Dims{3, 5});
    for (size_t i = 0; i < t.bytes(); ++i) t.data_as<uint8_t>()[i] = static_cast<uint8_t>(rng());
    auto parsed = Parse(SerializeNpy(t));
    ASSERT_TRUE(parsed.ok()) << parsed.status().ToString();
    ExpectSameTensor(*parsed, t);
  }
}

TEST(NpyTest, WrittenHeaderIsVersion1AlignedTo64AndNewlineTerminated) {
  for (const Dims& dims : TestShapes()) {
    const std::vector<uint8_t> bytes = SerializeNpy(HostTensor(DType::kFloat32, dims));
    ASSERT_GE(bytes.size(), 10u);
    EXPECT_EQ(bytes[6], 1);
    EXPECT_EQ(bytes[7], 0);
    const size_t header_len = bytes[8] | (bytes[9] << 8);
    EXPECT_EQ((10 + header_len) % 64, 0u);
    EXPECT_EQ(bytes[10 + header_len - 1], '\n');
  }
  const std::vector<uint8_t> bytes = SerializeNpy(HostTensor(DType::kFloat32, Dims{7}));
  const std::string header(bytes.begin() + 10, bytes.begin() + 10 + (bytes[8] | (bytes[9] << 8)));
  EXPECT_EQ(header.find("{'descr': '<f4', 'fortran_order': False, 'shape': (7,), }"), 0u) << header;
  EXPECT_EQ(NpyDescr(DType::kFloat16), "<f2");
  EXPECT_EQ(NpyDescr(DType::kUInt64), "<u8");
}

TEST(NpyTest, Bf16IsWrittenAsExactFloat32AndComesBackBitForBit) {
  HostTensor t(DType::kBFloat16, Dims{2, 3});
  const uint16_t patterns[6] = {0x3f80, 0xbf81, 0x7f7f, 0x0001, 0xff80, 0x4049};  // incl. max, subnormal, -inf
  for (int i = 0; i < 6; ++i) t.data_as<uint16_t>()[i] = patterns[i];
  auto loaded = Parse(SerializeNpy(t));
  ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
  ASSERT_EQ(loaded->dtype(), DType::kFloat32);
  ASSERT_EQ(loaded->dims(), t.dims());
  for (int i = 0; i < 6; ++i) {
    EXPECT_EQ(FloatBits(loaded->data_as<float>()[i]), static_cast<uint32_t>(patterns[i]) << 16) << i;
  }
  auto back = ConvertForOperator(*loaded, DType::kBFloat16, "gamma");
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  ExpectSameTensor(*back, t);
}

TEST(NpyTest, Int4IsWrittenAsInt8AndPacksBack) {
  const HostTensor t = PatternTensor(DType::kInt4, Dims{3, 5});  // odd count: the last byte is half used
  auto loaded = Parse(SerializeNpy(t));
  ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
  ASSERT_EQ(loaded->dtype(), DType::kInt8);
  for (int64_t i = 0; i < t.numel(); ++i) {
    EXPECT_EQ(loaded->data_as<int8_t>()[i], UnpackInt4(t.data_as<uint8_t>(), i)) << i;
  }
  auto back = ConvertForOperator(*loaded, DType::kInt4, "x2");
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  ExpectSameTensor(*back, t);
}

TEST(NpyTest, ConvertRoundsFloatsHalfToEven) {
  HostTensor f64(DType::kFloat64, Dims{4});
  f64.data_as<double>()[0] = 1.0 + std::ldexp(1.0, -11);      // fp16 tie -> 1.0 (even)
  f64.data_as<double>()[1] = 1.0 + 3 * std::ldexp(1.0, -11);  // fp16 tie -> 1 + 2^-9 (even)
  f64.data_as<double>()[2] = 1.0 + std::ldexp(1.0, -11) + std::ldexp(1.0, -40);  // just above: up
  f64.data_as<double>()[3] = -70000.0;                                             // overflow -> -inf
  auto h = ConvertForOperator(f64, DType::kFloat16, "x1");
  ASSERT_TRUE(h.ok());
  EXPECT_EQ(h->data_as<uint16_t>()[0], 0x3c00);
  EXPECT_EQ(h->data_as<uint16_t>()[1], 0x3c02);
  EXPECT_EQ(h->data_as<uint16_t>()[2], 0x3c01);
  EXPECT_EQ(h->data_as<uint16_t>()[3], 0xfc00);

  HostTensor f32(DType::kFloat32, Dims{2});
  f32.data_as<float>()[0] = BitsToFloat(0x3f808000u);  // bf16 tie, even stays
  f32.data_as<float>()[1] = BitsToFloat(0x3f818000u);  // bf16 tie, odd goes up
  auto b = ConvertForOperator(f32, DType::kBFloat16, "x");
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(b->data_as<uint16_t>()[0], 0x3f80);
  EXPECT_EQ(b->data_as<uint16_t>()[1], 0x3f82);

  auto f = ConvertForOperator(PatternTensor(DType::kFloat16, Dims{2, 2}), DType::kFloat32, "bias");
  ASSERT_TRUE(f.ok());
  EXPECT_EQ(f->dtype(), DType::kFloat32);
  EXPECT_EQ(f->at(3), PatternTensor(DType::kFloat16, Dims{2, 2}).at(3));
}

TEST(NpyTest, ConvertKeepsIntegersAndRejectsMismatchesByName) {
  const HostTensor i64 = PatternTensor(DType::kInt64, Dims{4});
  auto kept = ConvertForOperator(i64, DType::kInt64, "deqScale");
  ASSERT_TRUE(kept.ok());
  ExpectSameTensor(*kept, i64);

  auto r = ConvertForOperator(PatternTensor(DType::kInt32, Dims{2}), DType::kInt4, "x2");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), aclnn::kErrParamInvalid);
  for (const char* part : {"x2", "int32", "int4", "int8"}) {
    EXPECT_NE(r.status().message().find(part), std::string::npos) << r.status().message();
  }
  r = ConvertForOperator(PatternTensor(DType::kInt8, Dims{2}), DType::kFloat16, "x1");
  ASSERT_FALSE(r.ok());
  for (const char* part : {"x1", "int8", "float16, float32, float64"}) {
    EXPECT_NE(r.status().message().find(part), std::string::npos) << r.status().message();
  }
  r = ConvertForOperator(PatternTensor(DType::kFloat32, Dims{2}), DType::kInt64, "deqScale");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("deqScale: dtype is float32 but int64 is wanted"), std::string::npos)
      << r.status().message();
  r = ConvertForOperator(PatternTensor(DType::kInt32, Dims{2}), DType::kInt64, "deqScale");
  EXPECT_FALSE(r.ok());
}

TEST(NpyTest, Int4ConversionNamesTheFirstValueOutOfRange) {
  HostTensor i8(DType::kInt8, Dims{2, 3});
  for (int64_t i = 0; i < 6; ++i) i8.set(i, static_cast<double>(i) - 3);  // -3..2
  i8.set(5, 9);
  i8.set(4, -9);
  auto r = ConvertForOperator(i8, DType::kInt4, "x2");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), aclnn::kErrParamInvalid);
  EXPECT_NE(r.status().message().find("x2: element (1, 1) is -9, outside int4's range [-8, 7]"), std::string::npos)
      << r.status().message();
  i8.set(4, -8);
  i8.set(5, 7);
  EXPECT_TRUE(ConvertForOperator(i8, DType::kInt4, "x2").ok());
}

TEST(NpyTest, ReadsVersions2And3AndUnpaddedHeaders) {
  for (int major : {2, 3}) {
    auto t = Parse(MakeNpy(major, Dict("<f4", "(2, 2)"), 16));
    ASSERT_TRUE(t.ok()) << t.status().ToString();
    EXPECT_EQ(t->dims(), (Dims{2, 2}));
  }
  // Old NumPy aligned to 16, some writers not at all; key order and quoting may vary.
  auto t = Parse(MakeNpy(1, "{\"shape\":(3,),\"fortran_order\":False,\"descr\":\"<i4\"}", 12, false));
  ASSERT_TRUE(t.ok()) << t.status().ToString();
  EXPECT_EQ(t->dtype(), DType::kInt32);
  t = Parse(MakeNpy(1, Dict("<i8", "(2L, 3L)"), 48));  // Python 2's long literals
  ASSERT_TRUE(t.ok()) << t.status().ToString();
  EXPECT_EQ(t->dims(), (Dims{2, 3}));
  // Byte-order marks: '<', '=', '|' and none are all little-endian here; '>' is harmless for 1 byte.
  const std::pair<const char*, size_t> descrs[] = {{"|u1", 2}, {"<u1", 2}, {"=u1", 2}, {">i1", 2}, {"=f4", 8}, {"f8", 16}};
  for (const auto& [descr, bytes] : descrs) {
    t = Parse(MakeNpy(1, Dict(descr, "(2,)"), bytes));
    EXPECT_TRUE(t.ok()) << descr << ": " << t.status().ToString();
  }
}

TEST(NpyTest, RejectsBadMagicVersionAndTruncatedPreamble) {
  std::vector<uint8_t> good = SerializeNpy(PatternTensor(DType::kFloat32, Dims{2}));
  std::vector<uint8_t> bad = good;
  bad[1] = 'X';
  ExpectInvalid(Parse(bad), "not a .npy file");
  ExpectInvalid(Parse({'P', 'K', 3, 4}), "not a .npy file");
  ExpectInvalid(Parse({}), "truncated");
  ExpectInvalid(ParseNpy(nullptr, 0), "truncated");
  ExpectInvalid(Parse(std::vector<uint8_t>(good.begin(), good.begin() + 5)), "truncated");
  ExpectInvalid(Parse(std::vector<uint8_t>(good.begin(), good.begin() + 9)), "truncated");
  bad = good;
  bad[6] = 4;
  ExpectInvalid(Parse(bad), "unsupported .npy format version 4.0");
  bad = good;
  bad[7] = 1;
  ExpectInvalid(Parse(bad), "version 1.1");
  bad = good;
  bad[6] = 0;
  ExpectInvalid(Parse(bad), "version 0.0");
}

TEST(NpyTest, RejectsHeaderLengthPastEofOrOverTheLimit) {
  std::vector<uint8_t> bytes = SerializeNpy(PatternTensor(DType::kFloat32, Dims{2}));
  bytes[8] = 0xff;
  bytes[9] = 0xff;
  ExpectInvalid(Parse(bytes), "runs past the end of the file");
  // Version 2 with a 4 GiB header length in a tiny file.
  std::vector<uint8_t> v2 = MakeNpy(2, Dict("<f4", "(2,)"), 8);
  v2[8] = v2[9] = v2[10] = v2[11] = 0xff;
  ExpectInvalid(Parse(v2), "runs past the end of the file");
  // A header that is really there but larger than the limit.
  std::string huge = Dict("<f4", "(1,)");
  huge.append(kNpyMaxHeaderBytes, ' ');
  ExpectInvalid(Parse(MakeNpy(2, huge, 4)), "over the limit");
}

TEST(NpyTest, RejectsMalformedHeaders) {
  const struct {
    std::string header;
    std::string needle;
  } cases[] = {
      {"'descr': '<f4', 'fortran_order': False, 'shape': (2,), }", "expected '{'"},
      {"{'descr': '<f4', 'fortran_order': False, 'shape': (2,), ", "expected a quoted string"},
      {"{'descr': '<f4', 'fortran_order': False}", "missing key 'shape'"},
      {"{'fortran_order': False, 'shape': (2,)}", "missing key 'descr'"},
      {"{'descr': '<f4', 'shape': (2,)}", "missing key 'fortran_order'"},
      {"{}", "missing key 'descr'"},
      {"{'descr': '<f4', 'fortran_order': False, 'shape': (2,), 'extra': 1}", "unexpected key 'extra'"},
      {"{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': (2,)}", "duplicate key 'descr'"},
      {"{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (2,)}", "structured dtypes"},
      {"{'descr': '<f4', 'fortran_order': False, 'shape': (2)}", "not a tuple"},
      {"{'descr': '<f4', 'fortran_order': False, 'shape': 2}", "shape must be a tuple"},
      {"{'descr': '<f4', 'fortran_order': False, 'shape': (-2,)}", "negative dim"},
      {"{'descr': '<f4', 'fortran_order': False, 'shape': (2.5,)}", "expected ',' or ')' in shape"},
      {"{'descr': '<f4', 'fortran_order': False, 'shape': (,)}", "expected a dim"},
      {"{'descr': '<f4', 'fortran_order': False, 'shape': (2,}", "expected a dim"},
      {"{'descr': '<f4', 'fortran_order': 0, 'shape': (2,)}", "expected True or False"},
      {"{'descr': '<f4', 'fortran_order': Falsey, 'shape': (2,)}", "expected True or False"},
      {"{'descr': '<f4, 'fortran_order': False, 'shape': (2,)}", "expected ',' or '}'"},
      {"{'descr' '<f4', 'fortran_order': False, 'shape': (2,)}", "expected ':'"},
      {"{'descr': '<f4', 'fortran_order': False, 'shape': (2,)} x", "unexpected text after the dict"},
      {"{'descr': '<f4' 'fortran_order': False, 'shape': (2,)}", "expected ',' or '}'"},
      {"{'descr': '<\\f4', 'fortran_order': False, 'shape': (2,)}", "escape sequences"},
      {"{'descr': '<f4", "unterminated string"},
      {"{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999999999999,)}", "larger than 2^63-1"},
      {"{'descr': '<f4', 'fortran_order': False, 'shape': (1, 1, 1, 1, 1, 1, 1, 1, 1)}", "more than 8 dims"},
      {"{'descr': '<f4', 'fortran_order': False, 'shape': (2,)\x01}", "expected ',' or '}'"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.header);
    ExpectInvalid(Parse(MakeNpy(1, c.header, 8)), c.needle);
  }
}

TEST(NpyTest, RejectsUnsupportedDTypesWithAHint) {
  ExpectInvalid(Parse(MakeNpy(1, Dict("|b1", "(2,)"), 2)), "bool");
  ExpectInvalid(Parse(MakeNpy(1, Dict("|b1", "(2,)"), 2)), "astype(np.uint8)");
  ExpectInvalid(Parse(MakeNpy(1, Dict(">f4", "(2,)"), 8)), "big-endian");
  ExpectInvalid(Parse(MakeNpy(1, Dict(">f4", "(2,)"), 8)), "astype('<f4')");
  ExpectInvalid(Parse(MakeNpy(1, Dict(">u8", "(1,)"), 8)), "big-endian");
  for (const char* descr : {"<i2", "<u4", "<c8", "|O", "<U5", "|V4", "<M8[ns]", "", "<f16", "<f"}) {
    SCOPED_TRACE(descr);
    ExpectInvalid(Parse(MakeNpy(1, Dict(descr, "(1,)"), 8)), "unsupported dtype");
  }
  ExpectInvalid(Parse(MakeNpy(1, Dict("<f4", "(2, 3)", "True"), 24)), "fortran_order is True");
}

TEST(NpyTest, RejectsWrongDataSizeAndHugeShapesWithoutAllocating) {
  ExpectInvalid(Parse(MakeNpy(1, Dict("<f4", "(2, 3)"), 23)), "truncated");
  ExpectInvalid(Parse(MakeNpy(1, Dict("<f4", "(2, 3)"), 25)), "wrong data size");
  ExpectInvalid(Parse(MakeNpy(1, Dict("<f4", "()"), 0)), "needs 4 data bytes");
  ExpectInvalid(Parse(MakeNpy(1, Dict("<f4", "(0, 3)"), 1)), "wrong data size");
  // Claims of terabytes in a file of a few bytes fail on the size check, not in an allocation.
  ExpectInvalid(Parse(MakeNpy(1, Dict("<f8", "(1000000, 1000000)"), 8)), "truncated");
  ExpectInvalid(Parse(MakeNpy(1, Dict("<f4", "(1099511627776, 1099511627776)"), 8)), "more than 2^63-1 elements");
  ExpectInvalid(Parse(MakeNpy(1, Dict("<f8", "(4611686018427387904,)"), 8)), "more than 2^63-1 bytes");
  // A zero dim next to dims whose product overflows is refused too (strides would overflow).
  ExpectInvalid(Parse(MakeNpy(1, Dict("<f4", "(0, 4294967296, 4294967296)"), 0)), "more than 2^63-1 elements");
  auto empty = Parse(MakeNpy(1, Dict("<f4", "(0, 4294967296)"), 0));
  ASSERT_TRUE(empty.ok()) << empty.status().ToString();
  EXPECT_EQ(empty->numel(), 0);
}

TEST(NpyTest, FileErrorsAreClear) {
  TempDir dir;
  auto missing = ReadNpy(dir.File("absent.npy"));
  ExpectInvalid(missing, "cannot open for reading");
  EXPECT_NE(missing.status().message().find("absent.npy"), std::string::npos);
  ExpectInvalid(ReadNpy(dir.path()), "not a regular file");
  const Status w = WriteNpy(dir.File("no/such/dir/x.npy"), HostTensor(DType::kFloat32, Dims{1}));
  EXPECT_EQ(w.code(), aclnn::kErrParamInvalid);
  EXPECT_NE(w.message().find("cannot open for writing"), std::string::npos) << w.message();
  // The streaming reader applies the same checks as the in-memory parser.
  const std::string path = dir.File("short.npy");
  const std::vector<uint8_t> bytes = MakeNpy(1, Dict("<f8", "(1000000, 1000000)"), 8);
  std::ofstream(path, std::ios::binary).write(reinterpret_cast<const char*>(bytes.data()),
                                              static_cast<std::streamsize>(bytes.size()));
  auto r = ReadNpy(path);
  ExpectInvalid(r, "truncated");
  EXPECT_EQ(r.status().message().find(path), 0u) << r.status().message();
  std::ofstream(path, std::ios::binary).write("\x93NUM", 4);
  ExpectInvalid(ReadNpy(path), "truncated");
}

// Random corruption of valid files: every outcome is either a tensor consistent with its bytes or
// a kErrParamInvalid. Under the sanitizer presets this also proves no out-of-bounds read.
TEST(NpyTest, MutatedFilesNeverCrash) {
  std::mt19937 rng(1234);
  std::vector<std::vector<uint8_t>> seeds;
  for (DType dtype : kNpyDTypes) seeds.push_back(SerializeNpy(PatternTensor(dtype, Dims{2, 3})));
  seeds.push_back(MakeNpy(3, Dict("<f2", "()"), 2));
  int ok_count = 0;
  for (int iter = 0; iter < 20000; ++iter) {
    std::vector<uint8_t> bytes = seeds[rng() % seeds.size()];
    const int edits = 1 + static_cast<int>(rng() % 4);
    for (int e = 0; e < edits; ++e) {
      const uint32_t what = rng() % 4;
      if (what == 0 && !bytes.empty()) {
        bytes[rng() % bytes.size()] = static_cast<uint8_t>(rng());
      } else if (what == 1 && !bytes.empty()) {
        bytes.resize(rng() % bytes.size());
      } else if (what == 2) {
        bytes.insert(bytes.begin() + static_cast<std::ptrdiff_t>(rng() % (bytes.size() + 1)),
                     static_cast<uint8_t>("(),:'0123456789 L{}"[rng() % 19]));
      } else if (bytes.size() > 10) {
        bytes[8 + rng() % 2] = static_cast<uint8_t>(rng());  // the header length
      }
    }
    auto got = ParseNpy(bytes.data(), bytes.size());
    if (got.ok()) {
      ++ok_count;
      EXPECT_LE(got->bytes(), bytes.size());
    } else {
      EXPECT_EQ(got.status().code(), aclnn::kErrParamInvalid);
    }
  }
  EXPECT_GT(ok_count, 0);  // some mutations (data bytes) leave a valid file
}

// ---- Interop with the real NumPy ----

// The first of MC2_PYTHON, python3, /usr/bin/python3 that can import numpy; empty if none.
std::string FindPythonWithNumpy() {
  std::vector<std::string> candidates;
  if (const char* env = std::getenv("MC2_PYTHON")) candidates.push_back(env);
  candidates.push_back("python3");
  candidates.push_back("/usr/bin/python3");
  for (const std::string& py : candidates) {
    if (std::system((py + " -c 'import numpy' >/dev/null 2>&1").c_str()) == 0) return py;
  }
  return "";
}

// Runs `script` with `python` and the directory as argument; returns the exit status and output.
int RunPython(const std::string& python, const TempDir& dir, const std::string& script, std::string* output) {
  const std::string script_path = dir.File("script.py");
  const std::string out_path = dir.File("script.out");
  std::ofstream(script_path) << script;
  const int rc = std::system((python + " " + script_path + " " + dir.path() + " >" + out_path + " 2>&1").c_str());
  std::ifstream in(out_path);
  std::stringstream ss;
  ss << in.rdbuf();
  *output = ss.str();
  return rc;
}

// The same pattern and scaling as PatternTensor, in Python.
constexpr const char* kPythonPattern = R"(
import sys
import numpy as np
d = sys.argv[1]
TYPES = {'float32': np.float32, 'float16': np.float16, 'float64': np.float64, 'int8': np.int8,
         'uint8': np.uint8, 'int32': np.int32, 'int64': np.int64, 'uint64': np.uint64}
SHAPES = {'s0': (), 'e1': (0,), 'e3': (2, 0, 3), 'v': (7,), 'c': (2, 3, 4)}
def pattern(name, shape):
    n = int(np.prod(shape, dtype=np.int64))
    v = np.arange(n, dtype=np.int64) * 37 % 101 - 50
    if name.startswith('float') or name == 'bfloat16':
        a = (v / 8.0).astype(np.float32 if name == 'bfloat16' else TYPES[name])
    elif name == 'uint8':
        a = (v + 50).astype(np.uint8)
    elif name == 'int64':
        a = v * (1 << 40)
    elif name == 'uint64':
        a = (v + 50).astype(np.uint64) + np.uint64(1 << 63)
    elif name == 'int4':
        a = ((v + 50) % 16 - 8).astype(np.int8)
    else:
        a = v.astype(TYPES[name])
    return a.reshape(shape)
)";

const std::pair<const char*, Dims> kInteropShapes[] = {
    {"s0", Dims{}}, {"e1", Dims{0}}, {"e3", Dims{2, 0, 3}}, {"v", Dims{7}}, {"c", Dims{2, 3, 4}}};

TEST(NpyTest, ReadsFilesWrittenByNumpy) {
  const std::string python = FindPythonWithNumpy();
  if (python.empty()) {
    std::fprintf(stderr, "NOTE: no python3 with numpy found; NumPy interop not tested\n");
    GTEST_SKIP() << "no python3 that can import numpy (set MC2_PYTHON, or run scripts/deps)";
  }
  TempDir dir;
  std::string script = kPythonPattern;
  script += R"(
for name in TYPES:
    for s, shape in SHAPES.items():
        np.save(f'{d}/{name}_{s}.npy', pattern(name, shape))
for v in (2, 3):
    with open(f'{d}/v{v}.npy', 'wb') as f:
        np.lib.format.write_array(f, pattern('float32', (2, 3, 4)), version=(v, 0))
np.save(f'{d}/fortran.npy', np.asfortranarray(pattern('float32', (2, 3, 4))))
np.save(f'{d}/big.npy', pattern('float32', (7,)).astype('>f4'))
np.save(f'{d}/bool.npy', np.array([True, False]))
np.save(f'{d}/int16.npy', np.arange(3, dtype=np.int16))
)";
  std::string output;
  ASSERT_EQ(RunPython(python, dir, script, &output), 0) << output;
  for (DType dtype : kNpyDTypes) {
    for (const auto& [shape_name, dims] : kInteropShapes) {
      const std::string path = dir.File(StrCat(DTypeName(dtype), "_", shape_name, ".npy"));
      SCOPED_TRACE(path);
      auto t = ReadNpy(path);
      ASSERT_TRUE(t.ok()) << t.status().ToString();
      ExpectSameTensor(*t, PatternTensor(dtype, dims));
    }
  }
  for (const char* v : {"v2.npy", "v3.npy"}) {
    auto t = ReadNpy(dir.File(v));
    ASSERT_TRUE(t.ok()) << t.status().ToString();
    ExpectSameTensor(*t, PatternTensor(DType::kFloat32, Dims{2, 3, 4}));
  }
  ExpectInvalid(ReadNpy(dir.File("fortran.npy")), "fortran_order is True");
  ExpectInvalid(ReadNpy(dir.File("big.npy")), "big-endian");
  ExpectInvalid(ReadNpy(dir.File("bool.npy")), "bool");
  ExpectInvalid(ReadNpy(dir.File("int16.npy")), "unsupported dtype '<i2'");
}

TEST(NpyTest, NumpyReadsFilesWrittenByMc2) {
  const std::string python = FindPythonWithNumpy();
  if (python.empty()) {
    std::fprintf(stderr, "NOTE: no python3 with numpy found; NumPy interop not tested\n");
    GTEST_SKIP() << "no python3 that can import numpy (set MC2_PYTHON, or run scripts/deps)";
  }
  TempDir dir;
  std::vector<DType> dtypes(std::begin(kNpyDTypes), std::end(kNpyDTypes));
  dtypes.push_back(DType::kBFloat16);
  dtypes.push_back(DType::kInt4);
  for (DType dtype : dtypes) {
    for (const auto& [shape_name, dims] : kInteropShapes) {
      const std::string path = dir.File(StrCat(DTypeName(dtype), "_", shape_name, ".npy"));
      ASSERT_TRUE(WriteNpy(path, PatternTensor(dtype, dims)).ok()) << path;
    }
  }
  std::string script = kPythonPattern;
  script += R"(
EXPECTED_STR = {'bfloat16': '<f4', 'int4': '|i1'}
bad = 0
for name in list(TYPES) + ['bfloat16', 'int4']:
    for s, shape in SHAPES.items():
        a = np.load(f'{d}/{name}_{s}.npy', allow_pickle=False)
        want = pattern(name, shape)
        want_str = EXPECTED_STR.get(name, np.dtype(TYPES.get(name, np.float32)).str)
        if a.dtype.str != want_str or a.shape != shape or not np.array_equal(a, want):
            print('MISMATCH', name, s, a.dtype.str, want_str, a.shape, a.ravel()[:8], want.ravel()[:8])
            bad += 1
print('checked; mismatches:', bad)
sys.exit(1 if bad else 0)
)";
  std::string output;
  EXPECT_EQ(RunPython(python, dir, script, &output), 0) << output;
}

}  // namespace
}  // namespace mc2
