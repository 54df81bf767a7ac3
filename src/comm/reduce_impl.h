// The reduction loops, included by reduce.cc (baseline ISA) and reduce_avx2.cc (-mavx2 -mf16c).
// Everything here has internal linkage so the two compilations never mix.
//
// Shape: the message is cut into blocks of 256 elements; a block is loaded from srcs[0] into an
// fp32 (or native-width) accumulator array, every further source is folded in in rank order, and
// the block is converted and stored once. The accumulator (1 KiB) stays in L1, each source is
// streamed once, and every inner loop is a plain element-wise loop the vectoriser handles.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <type_traits>

#include "comm/reduce.h"
#include "core/float16.h"
#if defined(MC2_REDUCE_F16C)
#include <immintrin.h>
#endif

namespace mc2::comm {
namespace {

constexpr size_t kReduceBlock = 256;

struct OpSum {
  template <typename A>
  static A Apply(A a, A b) { return a + b; }
};
struct OpProd {
  template <typename A>
  static A Apply(A a, A b) { return a * b; }
};
struct OpMax {
  template <typename A>
  static A Apply(A a, A b) { return b > a ? b : a; }
};
struct OpMin {
  template <typename A>
  static A Apply(A a, A b) { return b < a ? b : a; }
};

// Integer sums and products wrap: do them on the unsigned twin.
template <typename T, typename Op,
          bool kWrap = std::is_integral_v<T> &&
                       (std::is_same_v<Op, OpSum> || std::is_same_v<Op, OpProd>)>
struct AccOf {
  using Type = T;
};
template <typename T, typename Op>
struct AccOf<T, Op, true> {
  using Type = std::make_unsigned_t<T>;
};

template <typename T, typename Op>
void ReduceNative(T* dst, const T* const* srcs, int nsrc, size_t count) {
  using A = typename AccOf<T, Op>::Type;
  A acc[kReduceBlock];
  for (size_t base = 0; base < count; base += kReduceBlock) {
    const size_t len = std::min(kReduceBlock, count - base);
    const T* s0 = srcs[0] + base;
    for (size_t j = 0; j < len; ++j) acc[j] = static_cast<A>(s0[j]);
    for (int r = 1; r < nsrc; ++r) {
      const T* s = srcs[r] + base;
      for (size_t j = 0; j < len; ++j) acc[j] = static_cast<A>(Op::Apply(acc[j], static_cast<A>(s[j])));
    }
    T* d = dst + base;
    for (size_t j = 0; j < len; ++j) d[j] = static_cast<T>(acc[j]);
  }
}

inline void LoadBf16(float* acc, const uint16_t* s, size_t len) {
  for (size_t j = 0; j < len; ++j) {
    const uint32_t u = static_cast<uint32_t>(s[j]) << 16;
    std::memcpy(&acc[j], &u, 4);
  }
}
inline void StoreBf16(uint16_t* d, const float* acc, size_t len) {
  for (size_t j = 0; j < len; ++j) {
    uint32_t u;
    std::memcpy(&u, &acc[j], 4);
    const uint32_t rounded = (u + 0x7fffu + ((u >> 16) & 1u)) >> 16;
    const uint32_t nan = (u >> 16) | 0x40u;
    d[j] = static_cast<uint16_t>((u & 0x7fffffffu) > 0x7f800000u ? nan : rounded);
  }
}

inline void LoadHalf(float* acc, const uint16_t* s, size_t len) {
  size_t j = 0;
#if defined(MC2_REDUCE_F16C)
  for (; j + 8 <= len; j += 8) {
    const __m128i h = _mm_loadu_si128(reinterpret_cast<const __m128i*>(s + j));
    _mm256_storeu_ps(acc + j, _mm256_cvtph_ps(h));
  }
#endif
  for (; j < len; ++j) acc[j] = HalfToFloat(s[j]);
}
inline void StoreHalf(uint16_t* d, const float* acc, size_t len) {
  size_t j = 0;
#if defined(MC2_REDUCE_F16C)
  for (; j + 8 <= len; j += 8) {
    const __m128i h = _mm256_cvtps_ph(_mm256_loadu_ps(acc + j), _MM_FROUND_TO_NEAREST_INT);
    _mm_storeu_si128(reinterpret_cast<__m128i*>(d + j), h);
  }
#endif
  for (; j < len; ++j) d[j] = FloatToHalf(acc[j]);
}

// fp16 / bf16: fp32 accumulation, one rounding at the end.
template <bool kIsBf16, typename Op>
void ReduceHalf(uint16_t* dst, const uint16_t* const* srcs, int nsrc, size_t count) {
  float acc[kReduceBlock];
  float tmp[kReduceBlock];
  for (size_t base = 0; base < count; base += kReduceBlock) {
    const size_t len = std::min(kReduceBlock, count - base);
    if (kIsBf16) LoadBf16(acc, srcs[0] + base, len); else LoadHalf(acc, srcs[0] + base, len);
    for (int r = 1; r < nsrc; ++r) {
      if (kIsBf16) LoadBf16(tmp, srcs[r] + base, len); else LoadHalf(tmp, srcs[r] + base, len);
      for (size_t j = 0; j < len; ++j) acc[j] = Op::Apply(acc[j], tmp[j]);
    }
    if (kIsBf16) StoreBf16(dst + base, acc, len); else StoreHalf(dst + base, acc, len);
  }
}

template <typename T, typename Op>
void NativeCast(void* dst, const void* const* srcs, int nsrc, size_t count) {
  ReduceNative<T, Op>(static_cast<T*>(dst), reinterpret_cast<const T* const*>(srcs), nsrc, count);
}
template <bool kIsBf16, typename Op>
void HalfCast(void* dst, const void* const* srcs, int nsrc, size_t count) {
  ReduceHalf<kIsBf16, Op>(static_cast<uint16_t*>(dst), reinterpret_cast<const uint16_t* const*>(srcs),
                          nsrc, count);
}

template <typename Op>
bool DispatchDType(DType dtype, void* dst, const void* const* srcs, int nsrc, size_t count) {
  switch (dtype) {
    case DType::kFloat32: NativeCast<float, Op>(dst, srcs, nsrc, count); return true;
    case DType::kFloat64: NativeCast<double, Op>(dst, srcs, nsrc, count); return true;
    case DType::kFloat16: HalfCast<false, Op>(dst, srcs, nsrc, count); return true;
    case DType::kBFloat16: HalfCast<true, Op>(dst, srcs, nsrc, count); return true;
    case DType::kInt8: NativeCast<int8_t, Op>(dst, srcs, nsrc, count); return true;
    case DType::kUInt8: NativeCast<uint8_t, Op>(dst, srcs, nsrc, count); return true;
    case DType::kInt32: NativeCast<int32_t, Op>(dst, srcs, nsrc, count); return true;
    case DType::kInt64: NativeCast<int64_t, Op>(dst, srcs, nsrc, count); return true;
    case DType::kUInt64: NativeCast<uint64_t, Op>(dst, srcs, nsrc, count); return true;
    default: return false;
  }
}

bool ReduceImpl(ReduceOp op, DType dtype, void* dst, const void* const* srcs, int nsrc,
                size_t count) {
  switch (op) {
    case ReduceOp::kSum: return DispatchDType<OpSum>(dtype, dst, srcs, nsrc, count);
    case ReduceOp::kProd: return DispatchDType<OpProd>(dtype, dst, srcs, nsrc, count);
    case ReduceOp::kMax: return DispatchDType<OpMax>(dtype, dst, srcs, nsrc, count);
    case ReduceOp::kMin: return DispatchDType<OpMin>(dtype, dst, srcs, nsrc, count);
  }
  return false;
}

// Float32 <-> float16/bfloat16 with the loads and stores ReduceHalf uses (same rounding).
bool ConvertImpl(DType dtype, void* dst, const void* src, size_t count, bool widen) {
  if (dtype != DType::kFloat16 && dtype != DType::kBFloat16) return false;
  const bool bf16 = dtype == DType::kBFloat16;
  for (size_t base = 0; base < count; base += kReduceBlock) {
    const size_t len = std::min(kReduceBlock, count - base);
    if (widen) {
      float* d = static_cast<float*>(dst) + base;
      const uint16_t* s = static_cast<const uint16_t*>(src) + base;
      if (bf16) LoadBf16(d, s, len); else LoadHalf(d, s, len);
    } else {
      uint16_t* d = static_cast<uint16_t*>(dst) + base;
      const float* s = static_cast<const float*>(src) + base;
      if (bf16) StoreBf16(d, s, len); else StoreHalf(d, s, len);
    }
  }
  return true;
}

}  // namespace
}  // namespace mc2::comm
