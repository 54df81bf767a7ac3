// fp16 and bf16 conversions, exactly as CANN's Cast rounds (spec 2.2):
//   kHalfEven  = CAST_RINT, and CAST_NONE when precision is lost (IEEE round-to-nearest-even);
//   kHalfAway  = CAST_ROUND (nearest, ties away from zero);
//   kTowardZero = CAST_TRUNC.
// NaN stays NaN (quieted, payload kept where it fits), infinities stay infinite, overflow rounds
// to infinity (or to the largest finite value for kTowardZero), subnormals are produced and read
// as IEEE 754 defines them. Header-only so the kernels inline them.
#pragma once

#include <cstdint>
#include <cstring>

namespace mc2 {

enum class RoundMode : uint8_t { kHalfEven, kHalfAway, kTowardZero };

inline uint32_t FloatBits(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  return u;
}
inline float BitsToFloat(uint32_t u) {
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

inline float HalfToFloat(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
  const uint32_t exp = (h >> 10) & 0x1fu;
  uint32_t mant = h & 0x3ffu;
  if (exp == 0x1f) return BitsToFloat(sign | 0x7f800000u | (mant << 13));  // Inf / NaN
  if (exp != 0) return BitsToFloat(sign | ((exp + 112u) << 23) | (mant << 13));
  if (mant == 0) return BitsToFloat(sign);
  // Subnormal: value = mant * 2^-24; normalise into a float.
  int e = -1;
  do {
    mant <<= 1;
    ++e;
  } while ((mant & 0x400u) == 0);
  return BitsToFloat(sign | ((112u - static_cast<uint32_t>(e)) << 23) | ((mant & 0x3ffu) << 13));
}

inline uint16_t FloatToHalf(float f, RoundMode mode = RoundMode::kHalfEven) {
  const uint32_t x = FloatBits(f);
  const uint16_t sign = static_cast<uint16_t>((x >> 16) & 0x8000u);
  const uint32_t ax = x & 0x7fffffffu;
  if (ax >= 0x7f800000u) {
    if (ax == 0x7f800000u) return sign | 0x7c00u;
    return sign | 0x7e00u | static_cast<uint16_t>((ax >> 13) & 0x3ffu);  // quiet NaN
  }
  const int e = static_cast<int>(ax >> 23) - 127;
  if (e > 15) {  // |f| >= 65536: beyond every rounding boundary
    return mode == RoundMode::kTowardZero ? sign | 0x7bffu : sign | 0x7c00u;
  }
  if (ax < 0x00800000u) return sign;  // float subnormal: far below half of fp16's smallest subnormal
  const uint32_t mant = (ax & 0x7fffffu) | 0x800000u;  // 24 significant bits
  // Bits of `mant` dropped: 13 for an fp16 normal, more below fp16's normal range.
  const int shift = e >= -14 ? 13 : 13 + (-14 - e);
  if (shift > 25) return sign;  // below a quarter of the smallest subnormal
  uint32_t base = mant >> shift;
  const uint32_t rem = mant & ((1u << shift) - 1u);
  const uint32_t halfway = 1u << (shift - 1);
  if (e >= -14) base = (static_cast<uint32_t>(e + 15) << 10) | (base & 0x3ffu);
  bool up = false;
  if (mode == RoundMode::kHalfEven) {
    up = rem > halfway || (rem == halfway && (base & 1u));
  } else if (mode == RoundMode::kHalfAway) {
    up = rem >= halfway;
  }
  // A carry out of the mantissa moves into the exponent: the next binade, or infinity.
  uint32_t bits = base + (up ? 1u : 0u);
  if (mode == RoundMode::kTowardZero && bits >= 0x7c00u) bits = 0x7bffu;
  return sign | static_cast<uint16_t>(bits);
}

inline float Bf16ToFloat(uint16_t b) { return BitsToFloat(static_cast<uint32_t>(b) << 16); }

inline uint16_t FloatToBf16(float f, RoundMode mode = RoundMode::kHalfEven) {
  const uint32_t x = FloatBits(f);
  if ((x & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((x >> 16) | 0x40u);  // quiet NaN
  // bf16 shares float's exponent range; rounding is on the 16 dropped bits of the sign-magnitude
  // pattern, and a carry into the exponent is exactly the IEEE result (up to infinity).
  uint32_t add = 0;
  if (mode == RoundMode::kHalfEven) add = 0x7fffu + ((x >> 16) & 1u);
  if (mode == RoundMode::kHalfAway) add = 0x8000u;
  uint32_t r = (x + add) >> 16;
  if (mode == RoundMode::kTowardZero) r = x >> 16;
  return static_cast<uint16_t>(r);
}

// Rounds a float to the nearest value representable in fp16 / bf16 and returns it as float.
inline float RoundToHalf(float f, RoundMode mode = RoundMode::kHalfEven) {
  return HalfToFloat(FloatToHalf(f, mode));
}
inline float RoundToBf16(float f, RoundMode mode = RoundMode::kHalfEven) {
  return Bf16ToFloat(FloatToBf16(f, mode));
}

}  // namespace mc2
