// fp16 / bf16 conversions: exhaustive over every 16-bit pattern, against the CPU's own F16C
// converter where the host has one, and against hand-worked ties.
#include "core/float16.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <random>

#include "core/tensor.h"

#if defined(__x86_64__)
#include <immintrin.h>
#define MC2_HAVE_F16C_PROBE 1
#endif

namespace mc2 {
namespace {

bool IsHalfNan(uint16_t h) { return (h & 0x7c00u) == 0x7c00u && (h & 0x3ffu) != 0; }

// The value of an fp16 pattern computed from the IEEE definition, independently of HalfToFloat.
double HalfValue(uint16_t h) {
  const int sign = (h >> 15) ? -1 : 1;
  const int exp = (h >> 10) & 0x1f;
  const int mant = h & 0x3ff;
  if (exp == 0x1f) return mant ? std::numeric_limits<double>::quiet_NaN() : sign * INFINITY;
  if (exp == 0) return sign * std::ldexp(mant, -24);
  return sign * std::ldexp(1024 + mant, exp - 25);
}

TEST(Float16Test, EveryHalfPatternDecodesToItsIeeeValue) {
  for (uint32_t b = 0; b < 65536; ++b) {
    const uint16_t h = static_cast<uint16_t>(b);
    const double expect = HalfValue(h);
    const float got = HalfToFloat(h);
    if (std::isnan(expect)) {
      EXPECT_TRUE(std::isnan(got)) << b;
    } else {
      EXPECT_EQ(static_cast<double>(got), expect) << b;
      EXPECT_EQ(std::signbit(got), static_cast<bool>(h >> 15)) << b;
    }
  }
}

TEST(Float16Test, EveryHalfPatternRoundTripsInEveryMode) {
  for (uint32_t b = 0; b < 65536; ++b) {
    const uint16_t h = static_cast<uint16_t>(b);
    for (RoundMode mode : {RoundMode::kHalfEven, RoundMode::kHalfAway, RoundMode::kTowardZero}) {
      const uint16_t back = FloatToHalf(HalfToFloat(h), mode);
      if (IsHalfNan(h)) {
        EXPECT_TRUE(IsHalfNan(back)) << b;
      } else {
        EXPECT_EQ(back, h) << b;
      }
    }
  }
}

TEST(Float16Test, EveryBf16PatternRoundTrips) {
  for (uint32_t b = 0; b < 65536; ++b) {
    const uint16_t h = static_cast<uint16_t>(b);
    const float f = Bf16ToFloat(h);
    uint32_t bits;
    std::memcpy(&bits, &f, 4);
    EXPECT_EQ(bits, b << 16);
    const bool nan = (b & 0x7f80u) == 0x7f80u && (b & 0x7fu) != 0;
    for (RoundMode mode : {RoundMode::kHalfEven, RoundMode::kHalfAway, RoundMode::kTowardZero}) {
      const uint16_t back = FloatToBf16(f, mode);
      if (nan) {
        EXPECT_TRUE((back & 0x7f80u) == 0x7f80u && (back & 0x7fu) != 0) << b;
      } else {
        EXPECT_EQ(back, h) << b;
      }
    }
  }
}

// Between every pair of adjacent fp16 values: the midpoint (a tie) and points just off it.
TEST(Float16Test, MidpointsBetweenAllAdjacentHalvesRoundAsSpecified) {
  for (uint32_t b = 0; b < 0x7bff; ++b) {  // positive finite, below the largest
    for (int sign : {1, -1}) {
      const uint16_t lo = static_cast<uint16_t>(b | (sign < 0 ? 0x8000u : 0u));
      const uint16_t hi = static_cast<uint16_t>(lo + 1);
      const double mid = (HalfValue(lo) + HalfValue(hi)) / 2;  // exact in double
      const float fmid = static_cast<float>(mid);               // exact: fp16 midpoints fit in float
      ASSERT_EQ(static_cast<double>(fmid), mid);
      const uint16_t even = (lo & 1u) ? hi : lo;
      EXPECT_EQ(FloatToHalf(fmid, RoundMode::kHalfEven), even) << b;
      EXPECT_EQ(FloatToHalf(fmid, RoundMode::kHalfAway), hi) << b;  // hi is farther from zero
      EXPECT_EQ(FloatToHalf(fmid, RoundMode::kTowardZero), lo) << b;
      EXPECT_EQ(FloatToHalf(std::nextafter(fmid, 0.0f), RoundMode::kHalfEven), lo) << b;
      EXPECT_EQ(FloatToHalf(std::nextafter(fmid, sign * INFINITY), RoundMode::kHalfEven), hi) << b;
    }
  }
}

TEST(Float16Test, OverflowUnderflowAndSpecials) {
  EXPECT_EQ(FloatToHalf(65504.0f), 0x7bffu);
  EXPECT_EQ(FloatToHalf(65519.99f), 0x7bffu);
  EXPECT_EQ(FloatToHalf(65520.0f), 0x7c00u);  // tie between max and "2^16": even -> infinity
  EXPECT_EQ(FloatToHalf(65520.0f, RoundMode::kTowardZero), 0x7bffu);
  EXPECT_EQ(FloatToHalf(1e10f), 0x7c00u);
  EXPECT_EQ(FloatToHalf(-1e10f), 0xfc00u);
  EXPECT_EQ(FloatToHalf(INFINITY), 0x7c00u);
  EXPECT_EQ(FloatToHalf(-0.0f), 0x8000u);
  EXPECT_EQ(FloatToHalf(std::ldexp(1.0f, -24)), 0x0001u);  // smallest subnormal
  EXPECT_EQ(FloatToHalf(std::ldexp(1.0f, -25)), 0x0000u);  // tie to even (zero)
  EXPECT_EQ(FloatToHalf(std::ldexp(1.0f, -25), RoundMode::kHalfAway), 0x0001u);
  EXPECT_EQ(FloatToHalf(std::ldexp(1.5f, -25)), 0x0001u);
  EXPECT_EQ(FloatToHalf(std::ldexp(1.0f, -14)), 0x0400u);  // smallest normal
  EXPECT_EQ(FloatToHalf(std::numeric_limits<float>::denorm_min()), 0x0000u);
  EXPECT_TRUE(IsHalfNan(FloatToHalf(std::numeric_limits<float>::quiet_NaN())));
  EXPECT_TRUE(IsHalfNan(FloatToHalf(std::numeric_limits<float>::signaling_NaN())));
  // bf16
  EXPECT_EQ(FloatToBf16(1.0f), 0x3f80u);
  EXPECT_EQ(FloatToBf16(BitsToFloat(0x3f808000u)), 0x3f80u);  // tie, even stays
  EXPECT_EQ(FloatToBf16(BitsToFloat(0x3f818000u)), 0x3f82u);  // tie, odd rounds up
  EXPECT_EQ(FloatToBf16(BitsToFloat(0x3f808000u), RoundMode::kHalfAway), 0x3f81u);
  EXPECT_EQ(FloatToBf16(BitsToFloat(0xbf808000u), RoundMode::kHalfAway), 0xbf81u);
  EXPECT_EQ(FloatToBf16(std::numeric_limits<float>::max()), 0x7f80u);
  EXPECT_EQ(FloatToBf16(std::numeric_limits<float>::max(), RoundMode::kTowardZero), 0x7f7fu);
  EXPECT_EQ(FloatToBf16(std::numeric_limits<float>::denorm_min()), 0x0000u);
  EXPECT_EQ(FloatToBf16(BitsToFloat(0x00018000u)), 0x0002u);  // subnormal tie, odd -> up
}

TEST(Float16Test, DoubleConversionHasNoDoubleRounding) {
  // 1 + 2^-11 is the fp16 tie between 1 and 1 + 2^-10; a hair above must round up even though
  // the hair is lost when the double is first rounded to float.
  const double above = 1.0 + std::ldexp(1.0, -11) + std::ldexp(1.0, -40);
  EXPECT_EQ(static_cast<float>(above), 1.0f + std::ldexp(1.0f, -11));
  EXPECT_EQ(DoubleToHalf(above), 0x3c01u);
  EXPECT_EQ(DoubleToHalf(1.0 + std::ldexp(1.0, -11)), 0x3c00u);
  const double bf_above = 1.0 + std::ldexp(1.0, -8) + std::ldexp(1.0, -40);
  EXPECT_EQ(DoubleToBf16(bf_above), 0x3f81u);
  EXPECT_EQ(DoubleToHalf(1e300), 0x7c00u);
  EXPECT_EQ(DoubleToBf16(-1e300), 0xff80u);
}

#ifdef MC2_HAVE_F16C_PROBE
__attribute__((target("f16c"))) uint16_t HardwareHalf(float f) {
  return static_cast<uint16_t>(_cvtss_sh(f, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
}

TEST(Float16Test, MatchesHardwareF16cOnRandomFloats) {
  if (!__builtin_cpu_supports("f16c")) GTEST_SKIP() << "host has no F16C";
  std::mt19937 rng(42);
  for (int i = 0; i < 2'000'000; ++i) {
    const float f = BitsToFloat(rng());
    const uint16_t hw = HardwareHalf(f);
    const uint16_t sw = FloatToHalf(f);
    if (std::isnan(f)) {
      EXPECT_TRUE(IsHalfNan(sw));
    } else {
      ASSERT_EQ(sw, hw) << std::hexfloat << f;
    }
  }
}
#endif

}  // namespace
}  // namespace mc2
