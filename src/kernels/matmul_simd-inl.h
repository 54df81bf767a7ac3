// Per-target building blocks of the matmul kernels (included once per Highway target by
// wq_matmul_decode.cc, wq_matmul_prefill.cc and float_matmul.cc):
//   - exact fp16 / bf16 rounding of fp32 lanes (the spec's antiquant and output rounding),
//   - conversion of an activation row to fp32 and of an fp32 row to the output dtype (+ bias),
//   - the int8 / int4 weight loaders and the antiquant step,
//   - the packed-A / packed-B fp32 GEMM (micro-kernel and cache blocking) of the prefill and
//     float paths (matmul_gemm-inl.h).
//
// Rounding is done here, not with Highway's DemoteTo, because Highway 1.0.3 truncates
// f32 -> bf16 on every target and f32 -> f16 on targets without F16C; CANN rounds half to even.
// On x86 targets with F16C (AVX2, AVX-512) fp16 rounding is vcvtps2ph/vcvtph2ps (round to nearest
// even in hardware); elsewhere it is integer arithmetic on the fp32 bits.
//
// Vectors are capped at 16 fp32 lanes: the int4 chunk format (32 elements in 16 bytes, low nibbles
// first) then never splits a vector across nibble halves, and the GEMM's NR = 2 * lanes stays <= 32.
#if defined(MC2_KERNELS_MATMUL_SIMD_INL_H_) == defined(HWY_TARGET_TOGGLE)
#ifdef MC2_KERNELS_MATMUL_SIMD_INL_H_
#undef MC2_KERNELS_MATMUL_SIMD_INL_H_
#else
#define MC2_KERNELS_MATMUL_SIMD_INL_H_
#endif

#include <cmath>
#include <cstddef>
#include <cstdint>

#include "core/dtype.h"
#include "hwy/highway.h"

HWY_BEFORE_NAMESPACE();
namespace mc2::kernels {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

using DF = hn::CappedTag<float, 16>;
using VF = hn::Vec<DF>;
using DI = hn::RebindToSigned<DF>;
using DU = hn::RebindToUnsigned<DF>;

// Round fp32 lanes to the nearest fp16 value (ties to even), returned as fp32. Overflow gives
// infinity, fp16 subnormals are produced, NaN stays NaN.
HWY_INLINE VF RoundF16(DF df, VF v) {
#if HWY_ARCH_X86 && (HWY_TARGET <= HWY_AVX2) && !defined(HWY_DISABLE_F16C)
  const hn::Rebind<hwy::float16_t, DF> dh;
  return hn::PromoteTo(df, hn::DemoteTo(dh, v));
#else
  const DU du;
  const VF a = hn::Abs(v);
  const auto bits = hn::BitCast(du, a);
  const auto lsb = hn::And(hn::ShiftRight<13>(bits), hn::Set(du, 1u));
  const auto rn = hn::And(hn::Add(hn::Add(bits, hn::Set(du, 0xfffu)), lsb), hn::Set(du, 0xffffe000u));
  VF r = hn::BitCast(df, rn);
  // Below 2^-14 fp16 is subnormal: round to a multiple of 2^-24 by adding 0.5 (ulp(0.5) = 2^-24).
  const VF half = hn::Set(df, 0.5f);
  const VF sub = hn::Sub(hn::Add(a, half), half);
  r = hn::IfThenElse(hn::Lt(a, hn::Set(df, 6.103515625e-05f)), sub, r);
  r = hn::IfThenElse(hn::Gt(r, hn::Set(df, 65504.0f)), hn::Set(df, HUGE_VALF), r);
  r = hn::CopySignToAbs(r, v);
  return hn::IfThenElse(hn::IsNaN(v), v, r);
#endif
}

// Round fp32 lanes to the nearest bf16 value (ties to even), returned as fp32; NaN is quieted.
HWY_INLINE VF RoundBf16(DF df, VF v) {
  const DU du;
  const auto bits = hn::BitCast(du, v);
  const auto lsb = hn::And(hn::ShiftRight<16>(bits), hn::Set(du, 1u));
  const auto rn = hn::And(hn::Add(hn::Add(bits, hn::Set(du, 0x7fffu)), lsb), hn::Set(du, 0xffff0000u));
  const auto nan = hn::Or(hn::And(bits, hn::Set(du, 0xffff0000u)), hn::Set(du, 0x00400000u));
  return hn::BitCast(df, hn::IfThenElse(hn::RebindMask(du, hn::IsNaN(v)), nan, rn));
}

// Loads lanes [i, i + count) of an fp16 / bf16 / fp32 row as fp32 (count <= Lanes; the rest 0).
HWY_INLINE VF LoadAsF32(DF df, const void* src, DType dtype, size_t i, size_t count) {
  const size_t lanes = hn::Lanes(df);
  if (dtype == DType::kFloat32) {
    const float* p = static_cast<const float*>(src) + i;
    if (count >= lanes) return hn::LoadU(df, p);
    HWY_ALIGN float tmp[16];
    for (size_t j = 0; j < lanes; ++j) tmp[j] = j < count ? p[j] : 0.0f;
    return hn::Load(df, tmp);
  }
  const uint16_t* p = static_cast<const uint16_t*>(src) + i;
  const hn::Rebind<uint16_t, DF> d16;
  hn::Vec<decltype(d16)> raw;
  if (count >= lanes) {
    raw = hn::LoadU(d16, p);
  } else {
    HWY_ALIGN uint16_t tmp[16] = {0};
    for (size_t j = 0; j < count; ++j) tmp[j] = p[j];
    raw = hn::Load(d16, tmp);
  }
  const DU du;
  const auto wide = hn::PromoteTo(du, raw);
  if (dtype == DType::kBFloat16) return hn::BitCast(df, hn::ShiftLeft<16>(wide));
#if HWY_ARCH_X86 && (HWY_TARGET <= HWY_AVX2) && !defined(HWY_DISABLE_F16C)
  const hn::Rebind<hwy::float16_t, DF> dh;
  return hn::PromoteTo(df, hn::BitCast(dh, raw));
#else
  // fp16 -> fp32 exactly: normals and subnormals by one multiply of the re-biased bits by 2^112
  // (exact: the product is a normal fp32), infinities / NaN by their exponent.
  const auto sign = hn::ShiftLeft<16>(hn::And(wide, hn::Set(du, 0x8000u)));
  const auto mag = hn::And(wide, hn::Set(du, 0x7fffu));
  const VF scaled = hn::Mul(hn::BitCast(df, hn::ShiftLeft<13>(mag)), hn::Set(df, 5.192296858534828e+33f));
  const auto inf_nan = hn::Or(hn::ShiftLeft<13>(mag), hn::Set(du, 0x7f800000u));
  const auto is_special = hn::Gt(mag, hn::Set(du, 0x7bffu));
  const auto out = hn::IfThenElse(is_special, inf_nan, hn::BitCast(du, scaled));
  return hn::BitCast(df, hn::Or(out, sign));
#endif
}

// Converts `count` elements of an fp16 / bf16 / fp32 row to fp32.
HWY_INLINE void RowToF32(const void* src, DType dtype, size_t count, float* dst) {
  const DF df;
  const size_t lanes = hn::Lanes(df);
  size_t i = 0;
  for (; i + lanes <= count; i += lanes) hn::StoreU(LoadAsF32(df, src, dtype, i, lanes), df, dst + i);
  if (i < count) {
    HWY_ALIGN float tmp[16];
    hn::Store(LoadAsF32(df, src, dtype, i, count - i), df, tmp);
    for (size_t j = 0; i + j < count; ++j) dst[i + j] = tmp[j];
  }
}

// dst[j] = round_out(acc[j] + bias[j]) for j < count; bias (of bias_dtype) may be null.
HWY_INLINE void StoreRowOut(const float* acc, const void* bias, DType bias_dtype, size_t bias_offset,
                            size_t count, void* dst, DType out_dtype) {
  const DF df;
  const size_t lanes = hn::Lanes(df);
  for (size_t i = 0; i < count; i += lanes) {
    const size_t c = count - i < lanes ? count - i : lanes;
    HWY_ALIGN float tmp[16];
    VF v;
    if (c == lanes) {
      v = hn::LoadU(df, acc + i);
    } else {
      for (size_t j = 0; j < lanes; ++j) tmp[j] = j < c ? acc[i + j] : 0.0f;
      v = hn::Load(df, tmp);
    }
    if (bias != nullptr) v = hn::Add(v, LoadAsF32(df, bias, bias_dtype, bias_offset + i, c));
    if (out_dtype == DType::kFloat32) {
      if (c == lanes) {
        hn::StoreU(v, df, static_cast<float*>(dst) + i);
        continue;
      }
      hn::Store(v, df, tmp);
      for (size_t j = 0; j < c; ++j) static_cast<float*>(dst)[i + j] = tmp[j];
      continue;
    }
    const bool f16 = out_dtype == DType::kFloat16;
    v = f16 ? RoundF16(df, v) : RoundBf16(df, v);
    // The value is now exact in the output dtype: fp16 by conversion, bf16 by its top 16 bits.
    uint16_t* out = static_cast<uint16_t*>(dst) + i;
    const hn::Rebind<uint16_t, DF> d16;
    const DU du;
    hn::Vec<decltype(d16)> packed;
    if (f16) {
#if HWY_ARCH_X86 && (HWY_TARGET <= HWY_AVX2) && !defined(HWY_DISABLE_F16C)
      const hn::Rebind<hwy::float16_t, DF> dh;
      packed = hn::BitCast(d16, hn::DemoteTo(dh, v));
#else
      // Exact fp16 bits of an fp16-representable fp32 value (finite, subnormal, inf, NaN).
      const auto bits = hn::BitCast(du, v);
      const auto sign = hn::And(hn::ShiftRight<16>(bits), hn::Set(du, 0x8000u));
      const VF a = hn::Abs(v);
      const auto norm = hn::ShiftRight<13>(hn::Sub(hn::BitCast(du, a), hn::Set(du, 0x38000000u)));
      // Subnormal fp16: a * 2^24 is the integer mantissa.
      const auto subn = hn::BitCast(du, hn::ConvertTo(DI(), hn::Mul(a, hn::Set(df, 16777216.0f))));
      const auto inf_nan = hn::Or(hn::Set(du, 0x7c00u), hn::And(hn::ShiftRight<13>(bits), hn::Set(du, 0x3ffu)));
      auto mag = hn::IfThenElse(hn::RebindMask(du, hn::Lt(a, hn::Set(df, 6.103515625e-05f))), subn, norm);
      mag = hn::IfThenElse(hn::RebindMask(du, hn::Not(hn::Lt(a, hn::Set(df, HUGE_VALF)))), inf_nan, mag);
      mag = hn::IfThenElse(hn::RebindMask(du, hn::IsNaN(v)), hn::Or(inf_nan, hn::Set(du, 0x200u)), mag);
      packed = hn::DemoteTo(d16, hn::BitCast(DI(), hn::Or(mag, sign)));
#endif
    } else {
      packed = hn::DemoteTo(d16, hn::BitCast(DI(), hn::ShiftRight<16>(hn::BitCast(du, v))));
    }
    if (c == lanes) {
      hn::StoreU(packed, d16, out);
    } else {
      HWY_ALIGN uint16_t t16[16];
      hn::Store(packed, d16, t16);
      for (size_t j = 0; j < c; ++j) out[j] = t16[j];
    }
  }
}

// Lanes [v*N, v*N + N) of a 32-element weight chunk as fp32. int8: 32 bytes; int4: 16 bytes, the
// low nibbles hold elements 0..15 and the high nibbles 16..31 (N <= 16 keeps a vector in one half).
template <bool kInt4>
HWY_INLINE VF LoadWeights(DF df, const uint8_t* chunk, size_t first) {
  const DI di;
  if constexpr (!kInt4) {
    const hn::Rebind<int8_t, DI> d8;
    return hn::ConvertTo(df, hn::PromoteTo(di, hn::LoadU(d8, reinterpret_cast<const int8_t*>(chunk) + first)));
  } else {
    const hn::Rebind<uint8_t, DI> d8;
    const auto u = hn::BitCast(di, hn::PromoteTo(DU(), hn::LoadU(d8, chunk + (first & 15))));
    const auto w = first < 16 ? hn::ShiftRight<28>(hn::ShiftLeft<28>(u)) : hn::ShiftRight<28>(hn::ShiftLeft<24>(u));
    return hn::ConvertTo(df, w);
  }
}

// Rounds p to the grid of fp16 (kShift = 13) or bf16 (kShift = 16) at p's own exponent, half to
// even, by adding and subtracting M = sign(p) * 2^(exponent(p) + kShift): p + M stays in M's
// binade, whose ulp is exactly the target's ulp at p, so the addition rounds p as the narrower
// format would (and the subtraction is exact). Valid only where the target format is normal and
// finite at p: the plan checks the scales (WqPackedWeights::fast_round) before this is used.
// Four simple ops instead of vcvtps2ph + vcvtph2ps, whose throughput bounds the decode loop.
template <int kShift>
HWY_INLINE VF RoundMagic(DF df, VF p) {
  const DU du;
  const auto m = hn::Add(hn::And(hn::BitCast(du, p), hn::Set(du, 0xff800000u)),
                         hn::Set(du, static_cast<uint32_t>(kShift) << 23));
  const VF mf = hn::BitCast(df, m);
  return hn::Sub(hn::Add(p, mf), mf);
}

// (w + offset) * scale with the spec's precision for the activation dtype (spec 2.2 step 1):
// fp16: both operations rounded to fp16. Each is computed in fp32 then rounded once more to fp16;
// that equals the fp16 operation because the operands are fp16 values and fp32 carries at least
// 2 * 11 + 2 bits (double rounding is innocuous). bf16: fp32 arithmetic, then rounded to bf16.
// kFast selects RoundMagic (same bits, when the plan has shown the products stay in range).
template <bool kF16, bool kOff, bool kFast>
HWY_INLINE VF Antiquant(DF df, VF w, VF scale, VF offset) {
  if constexpr (kF16) {
    static_assert(!(kFast && kOff), "fp16 with offset rounds twice; the fast path covers no offset");
    if constexpr (kOff) w = RoundF16(df, hn::Add(w, offset));
    if constexpr (kFast) return RoundMagic<13>(df, hn::Mul(w, scale));
    return RoundF16(df, hn::Mul(w, scale));
  } else {
    if constexpr (kOff) w = hn::Add(w, offset);
    if constexpr (kFast) return RoundMagic<16>(df, hn::Mul(w, scale));
    return RoundBf16(df, hn::Mul(w, scale));
  }
}

// Two-operation exact antiquant for the streaming (decode) loops: w * s rounded to fp16 (kF16) or
// bf16, for w an integer with |w| <= 128 (no offset) and s an fp16 / bf16 value, where the plan has
// shown every nonzero product is normal and finite in the target (fast_round). With c = 2^13 (fp16)
// or 2^16 (bf16) and p = w * s (exact in fp32: <= 8 + 11 significant bits), the per-group constants
//   hi = s * (c + 1)  and  lo = s * c
// are exact fp32 values (s * c + s needs 11 + 13 = 24 or 8 + 16 = 24 bits, and s's mantissa is
// below 2c / (c + 1), so no carry). Then
//   t = fl(w * hi) = fl(c p + p)   (one rounding of the exact product),
//   r = t - w * lo = t - c p       (exact; fused or not, w * lo = c p is exact),
// and r is p rounded half-to-even to the target's grid at p's exponent E, i.e. the spec's fp16 /
// bf16 product. Why: c p lies in binade E + 13 (+ 16 for bf16), whose fp32 ulp is the target's ulp
// at E; c p is a multiple of that ulp with an even quotient (p has <= 23 significant bits), so
// rounding c p + p rounds p on that grid with the same tie parity. If c p + p carries into the next
// binade (mantissa(p) >= 2c / (c + 1)), p is within 2^(E - 12) (2^(E - 15)) of 2^(E + 1) and both
// grids round it to 2^(E + 1). Versus RoundMagic this is 2 ops instead of 5 per vector; the
// exhaustive test (WqMatmulTest.FastAntiquantExhaustive) checks it for every w and many scales.
template <bool kF16>
HWY_INLINE float FastAntiquantHi(float s) {
  return s * (kF16 ? 8193.0f : 65537.0f);
}
template <bool kF16>
HWY_INLINE float FastAntiquantLo(float s) {
  return s * (kF16 ? 8192.0f : 65536.0f);
}
HWY_INLINE VF FastAntiquant(VF w, VF hi, VF lo) { return hn::NegMulAdd(w, lo, hn::Mul(w, hi)); }

// The decode loops' antiquant with per-group constants (a, b): the two-op form above when kFast
// and there is no offset (a = hi, b = lo), else Antiquant (a = scale, b = offset).
template <bool kF16, bool kOff, bool kFast>
HWY_INLINE VF GroupConstA(DF df, float s) {
  if constexpr (kFast && !kOff) return hn::Set(df, FastAntiquantHi<kF16>(s));
  return hn::Set(df, s);
}
template <bool kF16, bool kOff, bool kFast>
HWY_INLINE VF GroupConstB(DF df, float s, float o) {
  if constexpr (kFast && !kOff) return hn::Set(df, FastAntiquantLo<kF16>(s));
  if constexpr (kOff) return hn::Set(df, o);
  (void)s;
  (void)o;
  return hn::Zero(df);
}
template <bool kF16, bool kOff, bool kFast>
HWY_INLINE VF GroupAntiquant(DF df, VF w, VF a, VF b) {
  if constexpr (kFast && !kOff) return FastAntiquant(w, a, b);
  return Antiquant<kF16, kOff, kFast>(df, w, a, b);
}

}  // namespace HWY_NAMESPACE
}  // namespace mc2::kernels
HWY_AFTER_NAMESPACE();

#endif  // MC2_KERNELS_MATMUL_SIMD_INL_H_
