// Epilogues and the vectorized exp on every compiled SIMD target against the scalar reference.
// Paths without exp (bias, ReLU, residual, the roundings) must match bit for bit; paths with exp
// get a bound derived below from exp's documented error.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <vector>

#include "core/float16.h"
#include "hwy/highway.h"
#include "hwy/targets.h"
#include "kernels/epilogue.h"

namespace mc2::kernels {
namespace {

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

double UlpOf(float v) {  // spacing of fp32 at |v|
  const float a = std::fabs(v);
  return std::nextafter(a, std::numeric_limits<float>::infinity()) - a;
}

TEST(Epilogue, TargetsAreSwitched) {
  ForEachTarget([](int64_t target) { EXPECT_STREQ(EpilogueTarget(), hwy::TargetName(target)); });
}

// Highway documents Exp as <= 1 ulp on [-FLT_MAX, 104]; we clamp at 88.7 (finite results). The
// sweep covers every binade of the result from 1e-38 to 3e38 at ~1.5M points.
TEST(Epilogue, VectorExpWithinOneUlp) {
  std::vector<float> x;
  for (float v = -87.3f; v <= 88.7f; v += 1.2e-4f) x.push_back(v);
  for (float v : {0.0f, -0.0f, 1e-30f, -1e-30f, 1.0f, -1.0f, 0.5f}) x.push_back(v);
  std::vector<float> y(x.size());
  ForEachTarget([&](int64_t) {
    VectorExp(x.data(), y.data(), static_cast<int64_t>(x.size()));
    double worst = 0;
    float worst_x = 0;
    for (size_t i = 0; i < x.size(); ++i) {
      const double want = std::exp(static_cast<double>(x[i]));
      const double err = std::fabs(y[i] - want) / UlpOf(static_cast<float>(want));
      if (err > worst) {
        worst = err;
        worst_x = x[i];
      }
    }
    EXPECT_LE(worst, 1.0) << "at x = " << worst_x;
    // Outside the sweep: underflow to 0, clamped (finite) overflow, NaN stays NaN-free in use.
    const float edge_in[4] = {-104.5f, -std::numeric_limits<float>::infinity(), 100.0f, 1e30f};
    float edge_out[4];
    VectorExp(edge_in, edge_out, 4);
    EXPECT_EQ(edge_out[0], 0.0f);
    EXPECT_EQ(edge_out[1], 0.0f);
    EXPECT_TRUE(std::isfinite(edge_out[2]) && edge_out[2] > 1e38f);
    EXPECT_TRUE(std::isfinite(edge_out[3]) && edge_out[3] > 1e38f);
  });
}

std::vector<float> TileValues(size_t count, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist(0.0f, 4.0f);
  std::vector<float> v(count);
  for (float& x : v) x = dist(rng);
  // Rounding ties of fp16 and bf16, overflow, Inf, NaN, subnormal and signed zeros.
  const float specials[] = {1.0f + 1.0f / 2048, 1.0f + 3.0f / 2048, -(2.0f + 1.0f / 1024), 1.0f + 1.0f / 256,
                            -(1.0f + 3.0f / 256), 65520.0f, 65519.0f, 1e30f,
                            std::numeric_limits<float>::infinity(), -std::numeric_limits<float>::infinity(),
                            std::numeric_limits<float>::quiet_NaN(), 3e-8f, -6e-8f, 0.0f, -0.0f, -60.0f};
  for (size_t i = 0; i < std::size(specials) && i * 7 < count; ++i) v[i * 7] = specials[i];
  return v;
}

struct Case {
  int64_t rows, cols, pad;
  bool bias, round_after_bias;
  Activation act;
  DType res, dst;  // res == kInt8 means no residual
  RoundMode round;
};

// Element-wise comparison of the kernel's and the reference's outputs. exact: bit for bit (NaN
// payloads aside). Otherwise, exp's error: the kernel's e = exp(z) and std::exp's are each within
// 1 ulp (2^-23 relative) of the true value, so they differ by <= 2^-22 relative; 1 + e and the
// division add 2^-24 each on both sides, so act differs by <= 2^-22 + 4 * 2^-24 = 8 * 2^-24
// relative. A narrow output rounds that to the dtype: at most 1 ulp of the dtype apart.
void Compare(const std::vector<char>& got, const std::vector<char>& want, DType dst, bool exact) {
  const size_t es = dst == DType::kFloat32 ? 4 : 2, count = got.size() / es;
  for (size_t i = 0; i < count; ++i) {
    float g, w;
    if (dst == DType::kFloat32) {
      std::memcpy(&g, &got[i * 4], 4);
      std::memcpy(&w, &want[i * 4], 4);
    } else {
      uint16_t gb, wb;
      std::memcpy(&gb, &got[i * 2], 2);
      std::memcpy(&wb, &want[i * 2], 2);
      g = dst == DType::kFloat16 ? HalfToFloat(gb) : Bf16ToFloat(gb);
      w = dst == DType::kFloat16 ? HalfToFloat(wb) : Bf16ToFloat(wb);
    }
    if (std::isnan(w)) {
      ASSERT_TRUE(std::isnan(g)) << "element " << i;
      continue;
    }
    if (exact) {
      ASSERT_EQ(FloatBits(g), FloatBits(w)) << "element " << i << ": " << g << " vs " << w;
      continue;
    }
    double bound = 8.0 * std::ldexp(1.0, -24) * std::fabs(w) + 1e-37;
    if (dst == DType::kFloat16) bound = std::max(bound, std::fabs(w) * std::ldexp(1.0, -10) + 6e-8);
    if (dst == DType::kBFloat16) bound = std::max(bound, std::fabs(w) * std::ldexp(1.0, -7) + 1e-38);
    if (std::isinf(w)) {
      ASSERT_EQ(g, w) << "element " << i;
    } else {
      ASSERT_LE(std::fabs(g - w), bound) << "element " << i << ": " << g << " vs " << w;
    }
  }
}

void CheckCase(const Case& c) {
  SCOPED_TRACE(::testing::Message() << c.rows << "x" << c.cols << " pad " << c.pad << " bias " << c.bias
                                    << " rab " << c.round_after_bias << " act " << static_cast<int>(c.act)
                                    << " res " << DTypeName(c.res) << " dst " << DTypeName(c.dst) << " round "
                                    << static_cast<int>(c.round));
  const int64_t ld = c.cols + c.pad;
  const size_t cells = static_cast<size_t>(c.rows * ld) + 1;
  const std::vector<float> tile = TileValues(cells, 5), bias = TileValues(c.cols + 1, 6),
                           resv = TileValues(cells, 7);
  std::vector<char> res(cells * 4);
  const bool has_res = c.res != DType::kInt8;
  for (size_t i = 0; i < cells && has_res; ++i) {
    if (c.res == DType::kFloat32) {
      std::memcpy(&res[i * 4], &resv[i], 4);
    } else {
      const uint16_t b = c.res == DType::kFloat16 ? FloatToHalf(resv[i]) : FloatToBf16(resv[i]);
      std::memcpy(&res[i * 2], &b, 2);
    }
  }
  const size_t ed = c.dst == DType::kFloat32 ? 4 : 2;
  std::vector<char> got(cells * ed, 0x5a), want(cells * ed, 0x5a);
  EpilogueArgs a;
  a.rows = c.rows;
  a.cols = c.cols;
  a.bias = c.bias ? bias.data() : nullptr;
  a.round_after_bias = c.round_after_bias;
  a.act = c.act;
  a.residual = has_res ? res.data() : nullptr;
  a.residual_dtype = c.res;
  a.residual_stride = ld;
  a.dst_dtype = c.dst;
  a.dst_stride = ld;
  a.round = c.round;
  a.dst = got.data();
  ASSERT_TRUE(ApplyEpilogue(tile.data(), ld, a).ok());
  a.dst = want.data();
  ASSERT_TRUE(ApplyEpilogueScalar(tile.data(), ld, a).ok());
  const bool exact = c.act == Activation::kNone || c.act == Activation::kRelu;
  Compare(got, want, c.dst, exact);
}

TEST(Epilogue, ExactPathsBitForBit) {
  ForEachTarget([](int64_t) {
    for (DType dst : {DType::kFloat32, DType::kFloat16, DType::kBFloat16}) {
      for (RoundMode round : {RoundMode::kHalfEven, RoundMode::kHalfAway}) {
        for (Activation act : {Activation::kNone, Activation::kRelu}) {
          for (int64_t cols : {1, 7, 16, 33, 513, 1030}) {
            CheckCase({3, cols, 0, true, false, act, DType::kInt8, dst, round});
          }
          for (DType res : {DType::kFloat32, DType::kFloat16, DType::kBFloat16}) {
            CheckCase({4, 37, 5, true, true, act, res, dst, round});
            CheckCase({2, 100, 0, false, false, act, res, dst, round});
          }
        }
      }
    }
    CheckCase({0, 10, 0, true, false, Activation::kNone, DType::kInt8, DType::kFloat16, RoundMode::kHalfEven});
    CheckCase({5, 0, 0, true, false, Activation::kNone, DType::kInt8, DType::kFloat16, RoundMode::kHalfEven});
  });
}

TEST(Epilogue, ActivationsWithinExpBound) {
  ForEachTarget([](int64_t) {
    for (Activation act : {Activation::kGelu, Activation::kFastGelu, Activation::kSilu}) {
      for (DType dst : {DType::kFloat32, DType::kFloat16, DType::kBFloat16}) {
        CheckCase({3, 517, 3, true, false, act, DType::kInt8, dst, RoundMode::kHalfAway});
        CheckCase({2, 65, 0, true, true, act, DType::kFloat16, dst, RoundMode::kHalfEven});
      }
    }
  });
}

TEST(Epilogue, InPlaceFp32AndErrors) {
  std::vector<float> tile = TileValues(3 * 40, 9), copy = tile, want(tile.size());
  std::vector<float> bias(40, 0.5f);
  EpilogueArgs a;
  a.rows = 3;
  a.cols = 40;
  a.bias = bias.data();
  a.act = Activation::kSilu;
  a.dst = want.data();
  ASSERT_TRUE(ApplyEpilogue(copy.data(), 0, a).ok());
  a.dst = tile.data();
  ASSERT_TRUE(ApplyEpilogue(tile.data(), 0, a).ok());
  EXPECT_EQ(std::memcmp(tile.data(), want.data(), tile.size() * 4), 0);
  a.dst_dtype = DType::kInt8;
  EXPECT_FALSE(ApplyEpilogue(tile.data(), 0, a).ok());
  a.dst_dtype = DType::kFloat16;
  a.round = RoundMode::kTowardZero;
  EXPECT_FALSE(ApplyEpilogue(tile.data(), 0, a).ok());
  a.round = RoundMode::kHalfEven;
  EXPECT_FALSE(ApplyEpilogue(tile.data(), 20, a).ok());  // stride below cols
}

}  // namespace
}  // namespace mc2::kernels
