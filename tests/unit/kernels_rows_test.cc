// Row kernels (add + RMSNorm, R-buffer reduction) on every compiled SIMD target against their
// scalar references. Both kernels fix their fp32 operation order (rms_norm.h, reduce.h) and the
// references follow it, so the comparison is bit for bit; one test bounds the difference to a
// plain sequential-order implementation of the spec's steps.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "core/float16.h"
#include "hwy/highway.h"
#include "hwy/targets.h"
#include "kernels/cpu_features.h"
#include "kernels/reduce.h"
#include "kernels/rms_norm.h"

namespace mc2::kernels {
namespace {

// Runs f once per SIMD target compiled in and supported by this CPU, with dispatch forced to it.
template <typename F>
void ForEachTarget(F f) {
  for (int64_t left = hwy::SupportedTargets() & HWY_TARGETS; left != 0; left &= left - 1) {
    const int64_t target = left & -left;
    hwy::SetSupportedTargetsForTest(target);
    SCOPED_TRACE(hwy::TargetName(target));
    f(target);
  }
  hwy::SetSupportedTargetsForTest(0);
}

uint16_t ToBits(float v, DType dt) { return dt == DType::kFloat16 ? FloatToHalf(v) : FloatToBf16(v); }
float FromBits(uint16_t b, DType dt) { return dt == DType::kFloat16 ? HalfToFloat(b) : Bf16ToFloat(b); }

TEST(Rows, TargetsAreSwitched) {
  ForEachTarget([](int64_t target) {
    EXPECT_STREQ(AddRmsNormTarget(), hwy::TargetName(target));
    EXPECT_STREQ(ReduceSumTarget(), hwy::TargetName(target));
  });
}

// R = 1 reductions are pure conversions: they check the per-target fp16/bf16 code against
// core/float16.h on every 16-bit pattern and on 4M fp32 patterns (all exponents, NaN, Inf,
// subnormals, the rounding ties).
TEST(Rows, ConversionsMatchCore) {
  std::vector<uint16_t> all16(65536);
  for (uint32_t i = 0; i < 65536; ++i) all16[i] = static_cast<uint16_t>(i);
  std::vector<float> f32(1 << 22);  // every 1024th fp32 pattern, low bits varied
  for (uint32_t i = 0; i < f32.size(); ++i) f32[i] = BitsToFloat(i * 1024u + ((i * 7u) & 1023u));
  // Exact ties and their neighbours for both narrow types.
  for (uint32_t i = 0; i < 4096; ++i) {
    f32[i] = BitsToFloat((i << 20) | 0x1000u);
    f32[4096 + i] = BitsToFloat((i << 20) | 0x8000u);
  }
  ForEachTarget([&](int64_t) {
    for (DType dt : {DType::kFloat16, DType::kBFloat16}) {
      SCOPED_TRACE(DTypeName(dt));
      std::vector<float> wide(65536);
      const void* src = all16.data();
      ASSERT_TRUE(ReduceSum({&src, 1, dt, wide.data(), DType::kFloat32, 65536}).ok());
      for (uint32_t i = 0; i < 65536; ++i) {
        const float want = FromBits(static_cast<uint16_t>(i), dt);
        if (std::isnan(want)) {  // F16C quiets a signalling NaN, core/float16.h keeps it: any NaN
          ASSERT_TRUE(std::isnan(wide[i])) << "bits " << i;
          ASSERT_EQ(std::signbit(wide[i]), std::signbit(want)) << "bits " << i;
          continue;
        }
        ASSERT_EQ(FloatBits(wide[i]), FloatBits(want)) << "bits " << i;
      }
      // fp32 -> dtype through AddRmsNorm's fp32 `a` path: y = rint(a) + (-0) = rint(a), NaN too.
      const int64_t n = 4096, m = static_cast<int64_t>(f32.size()) / n;
      std::vector<uint16_t> minus_zero(f32.size(), ToBits(-0.0f, dt)), y(f32.size()), out(f32.size());
      std::vector<uint16_t> gamma(n, ToBits(1.0f, dt));
      AddRmsNormArgs args{dt, m, n, 1e-6f, f32.data(), DType::kFloat32, 0, minus_zero.data(), 0,
                          gamma.data(), y.data(), 0, out.data(), 0};
      ASSERT_TRUE(AddRmsNorm(args).ok());
      for (size_t i = 0; i < f32.size(); ++i) {
        ASSERT_EQ(y[i], ToBits(f32[i], dt)) << "fp32 bits 0x" << std::hex << FloatBits(f32[i]);
      }
    }
  });
}

std::vector<float> RandomValues(size_t count, float scale, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist(0.0f, scale);
  std::vector<float> v(count);
  for (float& x : v) x = dist(rng);
  return v;
}

struct RmsCase {
  DType dtype;
  DType a_dtype;
  int64_t m, n, pad;  // pad: extra elements per row (strided views)
  bool inplace;       // y written over residual
};

// Runs one case through AddRmsNorm and the scalar reference; returns false on a mismatch.
void CheckRmsCase(const RmsCase& c) {
  SCOPED_TRACE(::testing::Message() << DTypeName(c.dtype) << " a=" << DTypeName(c.a_dtype) << " m=" << c.m
                                    << " n=" << c.n << " pad=" << c.pad << " inplace=" << c.inplace);
  const int64_t ld = c.n + c.pad;
  const size_t cells = static_cast<size_t>(std::max<int64_t>(c.m * ld, 1));
  const std::vector<float> av = RandomValues(cells, 3.0f, 1), rv = RandomValues(cells, 3.0f, 2),
                           gv = RandomValues(static_cast<size_t>(std::max<int64_t>(c.n, 1)), 1.0f, 3);
  std::vector<float> a32(av);
  std::vector<uint16_t> a16(cells), res(cells), gamma(gv.size());
  for (size_t i = 0; i < cells; ++i) {
    a16[i] = ToBits(av[i], c.dtype);
    res[i] = ToBits(rv[i], c.dtype);
  }
  for (size_t i = 0; i < gv.size(); ++i) gamma[i] = ToBits(gv[i], c.dtype);
  std::vector<uint16_t> res_ref(res), y(cells, 0xdead), y_ref(cells, 0xdead), out(cells, 0xbeef),
      out_ref(cells, 0xbeef);
  AddRmsNormArgs args;
  args.dtype = c.dtype;
  args.a_dtype = c.a_dtype;
  args.m = c.m;
  args.n = c.n;
  args.eps = 1e-6f;
  args.a = c.a_dtype == DType::kFloat32 ? static_cast<const void*>(a32.data()) : a16.data();
  args.a_stride = ld;
  args.residual_stride = args.y_stride = args.norm_out_stride = ld;
  args.gamma = gamma.data();
  AddRmsNormArgs ref = args;
  args.residual = res.data();
  args.y = c.inplace ? static_cast<void*>(res.data()) : y.data();
  args.norm_out = out.data();
  ref.residual = res_ref.data();
  ref.y = c.inplace ? static_cast<void*>(res_ref.data()) : y_ref.data();
  ref.norm_out = out_ref.data();
  ASSERT_TRUE(AddRmsNorm(args).ok());
  ASSERT_TRUE(AddRmsNormScalar(ref).ok());
  EXPECT_EQ(res, res_ref);
  EXPECT_EQ(y, y_ref);  // includes the padding: untouched
  EXPECT_EQ(out, out_ref);
}

TEST(Rows, AddRmsNormBitExactOnEveryTarget) {
  ForEachTarget([](int64_t) {
    for (DType dt : {DType::kFloat16, DType::kBFloat16}) {
      for (DType adt : {dt, DType::kFloat32}) {
        for (int64_t n : {0, 1, 3, 15, 16, 17, 31, 33, 100, 1023, 4099}) {
          for (int64_t m : {0, 1, 3}) {
            CheckRmsCase({dt, adt, m, n, 0, false});
          }
        }
        CheckRmsCase({dt, adt, 4, 37, 5, false});
        CheckRmsCase({dt, adt, 4, 64, 3, true});
        CheckRmsCase({dt, adt, 2, 8192, 0, true});
      }
    }
  });
}

// The same cases with normOut written by non-temporal stores (large calls on x86: rms_norm.cc),
// the threshold lowered so every call takes that path where the target has it; strided cases
// put some rows off the vector alignment (those store normally).
TEST(Rows, AddRmsNormStreamingStoresBitExactOnEveryTarget) {
  const int64_t old = SetAddRmsNormStreamBytesForTest(0);
  ForEachTarget([](int64_t) {
    for (DType dt : {DType::kFloat16, DType::kBFloat16}) {
      for (DType adt : {dt, DType::kFloat32}) {
        for (int64_t n : {1, 15, 16, 17, 33, 1023, 4099}) CheckRmsCase({dt, adt, 3, n, 0, false});
        CheckRmsCase({dt, adt, 4, 37, 5, false});
        CheckRmsCase({dt, adt, 5, 64, 3, true});
        CheckRmsCase({dt, adt, 2, 8192, 0, true});
      }
    }
  });
  SetAddRmsNormStreamBytesForTest(old);
}

TEST(Rows, AddRmsNormThreadedMatchesSerial) {
  ThreadPool pool(3);
  const int64_t m = 7, n = 333;
  std::vector<uint16_t> a(m * n), res(m * n), gamma(n), y1(m * n), y2(m * n), o1(m * n), o2(m * n);
  const auto v = RandomValues(a.size() * 2 + n, 2.0f, 9);
  for (size_t i = 0; i < a.size(); ++i) {
    a[i] = FloatToHalf(v[i]);
    res[i] = FloatToHalf(v[a.size() + i]);
  }
  for (int64_t j = 0; j < n; ++j) gamma[j] = FloatToHalf(v[2 * a.size() + j]);
  AddRmsNormArgs args{DType::kFloat16, m, n, 1e-5f, a.data(), DType::kFloat16, 0, res.data(), 0,
                      gamma.data(), y1.data(), 0, o1.data(), 0};
  ASSERT_TRUE(AddRmsNorm(args, &pool).ok());
  args.y = y2.data();
  args.norm_out = o2.data();
  ASSERT_TRUE(AddRmsNorm(args).ok());
  EXPECT_EQ(y1, y2);
  EXPECT_EQ(o1, o2);
}

// The spec does not give the order of the ms reduction. Against a plain left-to-right sum:
// |ms_16 - ms_seq| <= 2 * gamma_n * ms with gamma_n = n * 2^-24 (both sums of n non-negative
// terms); rstd and x * rstd then differ by a relative ~gamma_n. For n = 4096 that is 2.4e-4 of a
// value, below half an fp16 ulp (4.9e-4) but not of a bf16 ulp (3.9e-3)... either way t can land on
// the other side of a rounding boundary, so t differs by at most 1 ulp of the dtype and
// normOut = rint(t * gamma) by at most 1 ulp(t) * |gamma| + 1/2 ulp(normOut) <= 2 ulp(normOut).
TEST(Rows, AddRmsNormCloseToSequentialOrder) {
  for (DType dt : {DType::kFloat16, DType::kBFloat16}) {
    const int64_t m = 8, n = 4096;
    const auto v = RandomValues(2 * m * n + n, 2.0f, 11);
    std::vector<uint16_t> a(m * n), res(m * n), gamma(n), y(m * n), out(m * n);
    for (int64_t i = 0; i < m * n; ++i) {
      a[i] = ToBits(v[i], dt);
      res[i] = ToBits(v[m * n + i], dt);
    }
    for (int64_t j = 0; j < n; ++j) gamma[j] = ToBits(v[2 * m * n + j], dt);
    AddRmsNormArgs args{dt, m, n, 1e-6f, a.data(), dt, 0, res.data(), 0, gamma.data(), y.data(), 0,
                        out.data(), 0};
    ASSERT_TRUE(AddRmsNorm(args).ok());
    const float ulp = dt == DType::kFloat16 ? 1.0f / 1024 : 1.0f / 128;
    for (int64_t i = 0; i < m; ++i) {
      float ms = 0;
      std::vector<float> x(n);
      for (int64_t j = 0; j < n; ++j) {
        x[j] = FromBits(ToBits(FromBits(a[i * n + j], dt) + FromBits(res[i * n + j], dt), dt), dt);
        ASSERT_EQ(y[i * n + j], ToBits(x[j], dt));
        ms += x[j] * x[j] * (1.0f / n);
      }
      const float rstd = 1.0f / std::sqrt(ms + 1e-6f);
      for (int64_t j = 0; j < n; ++j) {
        const float t = FromBits(ToBits(x[j] * rstd, dt), dt);
        const float expect = FromBits(ToBits(t * FromBits(gamma[j], dt), dt), dt);
        const float got = FromBits(out[i * n + j], dt);
        EXPECT_LE(std::fabs(got - expect), 2 * ulp * std::fabs(expect) + 1e-6f) << i << "," << j;
      }
    }
  }
}

TEST(Rows, AddRmsNormRejectsBadArguments) {
  AddRmsNormArgs args;
  args.dtype = DType::kFloat32;
  EXPECT_FALSE(AddRmsNorm(args).ok());
  args.dtype = DType::kFloat16;
  args.a_dtype = DType::kBFloat16;
  EXPECT_FALSE(AddRmsNorm(args).ok());
  args.a_dtype = DType::kFloat16;
  args.m = 2;
  args.n = 4;
  const Status s = AddRmsNorm(args);
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.message().find("null"), std::string::npos) << s.message();
}

void CheckReduce(DType src, DType dst, int r_count, int64_t n, int64_t misalign, bool in_place) {
  SCOPED_TRACE(::testing::Message() << DTypeName(src) << "->" << DTypeName(dst) << " R=" << r_count
                                    << " n=" << n << " misalign=" << misalign << " in_place=" << in_place);
  const size_t es = src == DType::kFloat32 ? 4 : 2, ed = dst == DType::kFloat32 ? 4 : 2;
  std::vector<std::vector<char>> bufs(r_count, std::vector<char>((n + misalign) * es + 1));
  std::vector<const void*> srcs(r_count);
  for (int r = 0; r < r_count; ++r) {
    const auto v = RandomValues(static_cast<size_t>(n), 4.0f, 100 + r);
    char* base = bufs[r].data() + misalign * es;
    for (int64_t i = 0; i < n; ++i) {
      if (src == DType::kFloat32) {
        std::memcpy(base + i * 4, &v[i], 4);
      } else {
        const uint16_t b = ToBits(v[i], src);
        std::memcpy(base + i * 2, &b, 2);
      }
    }
    srcs[r] = base;
  }
  std::vector<char> want(n * ed + 1), got_buf((n + misalign) * ed + 1);
  ASSERT_TRUE(ReduceSumScalar({srcs.data(), r_count, src, want.data(), dst, n}).ok());
  void* got = in_place ? const_cast<void*>(srcs[r_count - 1]) : got_buf.data() + misalign * ed;
  ASSERT_TRUE(ReduceSum({srcs.data(), r_count, src, got, dst, n}).ok());
  EXPECT_EQ(std::memcmp(got, want.data(), n * ed), 0);
}

TEST(Rows, ReduceBitExactOnEveryTarget) {
  ForEachTarget([](int64_t) {
    for (DType src : {DType::kFloat32, DType::kFloat16, DType::kBFloat16}) {
      for (DType dst : {src, DType::kFloat32}) {
        for (int r : {1, 2, 3, 8, 32}) {
          for (int64_t n : {0, 1, 7, 31, 33, 1000, 4099}) CheckReduce(src, dst, r, n, 0, false);
        }
        CheckReduce(src, dst, 5, 517, 1, false);
        if (src == dst) CheckReduce(src, dst, 4, 1001, 3, true);
      }
    }
  });
}

TEST(Rows, ReduceThreadedAndErrors) {
  ThreadPool pool(2);
  const int64_t n = 100003;
  std::vector<float> a(n, 1.5f), b(n, 2.25f), out(n);
  const void* srcs[2] = {a.data(), b.data()};
  ASSERT_TRUE(ReduceSum({srcs, 2, DType::kFloat32, out.data(), DType::kFloat32, n}, &pool).ok());
  for (int64_t i = 0; i < n; ++i) ASSERT_EQ(out[i], 3.75f) << i;
  EXPECT_FALSE(ReduceSum({srcs, 0, DType::kFloat32, out.data(), DType::kFloat32, n}).ok());
  EXPECT_FALSE(ReduceSum({srcs, 33, DType::kFloat32, out.data(), DType::kFloat32, n}).ok());
  EXPECT_FALSE(ReduceSum({srcs, 2, DType::kFloat32, out.data(), DType::kFloat16, n}).ok());
  EXPECT_FALSE(ReduceSum({srcs, 2, DType::kInt8, out.data(), DType::kInt8, n}).ok());
}

}  // namespace
}  // namespace mc2::kernels

namespace mc2::kernels {
namespace {

TEST(CpuFeatures, NamesTheDispatchTargets) {
  const CpuFeatures f = DetectCpuFeatures();
  EXPECT_FALSE(f.compiled_targets.empty());
  EXPECT_FALSE(f.supported_targets.empty());
  const std::string text = DescribeCpuFeatures();
  for (const KernelDispatch& k : KernelDispatchTargets()) {
    EXPECT_NE(text.find(k.kernel + "=" + k.target), std::string::npos) << text;
  }
}

}  // namespace
}  // namespace mc2::kernels
