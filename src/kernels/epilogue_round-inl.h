// Per-target fp32 <-> fp16 / bf16 conversions with CANN's rounding (spec 2.2: CAST_RINT =
// round-half-even, CAST_ROUND = half away from zero), bit-identical to core/float16.h.
//
// Why not Highway's DemoteTo: in libhwy 1.0.3 the bf16 demotion truncates, and the fp16 one
// truncates on targets without F16C (SSSE3, SSE4, EMU128); its emulated fp16 promotion also turns
// Inf/NaN into finite values. So only the F16C instructions (AVX2 and AVX-512 targets, RNE) are
// used as they are; everything else is integer arithmetic on the bit patterns:
//   fp16: q = mantissa(24 bits) >> shift, shift = 13 for fp16 normals, 13 + (-14 - e) below,
//         round on the dropped bits, then add the exponent; a carry moves into the next binade or
//         to Inf exactly as IEEE says. ~15 integer ops per vector: ~3x an F16C conversion, still far
//         below the memory time of the row kernels on the targets that need it.
//   bf16: (bits + 0x7fff + lsb) >> 16 (RNE) or (bits + 0x8000) >> 16 (half away); NaN stays quiet.
// Include after hwy/highway.h inside HWY_BEFORE_NAMESPACE / the per-target namespace set-up.

#if defined(MC2_KERNELS_EPILOGUE_ROUND_INL_H_) == defined(HWY_TARGET_TOGGLE)
#ifdef MC2_KERNELS_EPILOGUE_ROUND_INL_H_
#undef MC2_KERNELS_EPILOGUE_ROUND_INL_H_
#else
#define MC2_KERNELS_EPILOGUE_ROUND_INL_H_
#endif

#include <cstddef>
#include <cstdint>
#include <cstring>

#include "hwy/highway.h"

HWY_BEFORE_NAMESPACE();
namespace mc2::kernels::HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

// Element kinds the row and epilogue kernels read and write.
enum ElemKind : int { kElemF32 = 0, kElemF16 = 1, kElemBf16 = 2 };
// Rounding of a narrowing store: RNE (CAST_RINT / CAST_NONE) or half away (CAST_ROUND).
enum RoundKind : int { kRoundEven = 0, kRoundAway = 1 };

#undef MC2_HWY_F16C
#if HWY_ARCH_X86 && HWY_TARGET <= HWY_AVX2
#define MC2_HWY_F16C 1
#else
#define MC2_HWY_F16C 0
#endif

template <class DF>
HWY_INLINE hn::Vec<DF> HalfBitsToF32(DF df, hn::Vec<hn::RebindToUnsigned<DF>> bits) {
  const hn::RebindToUnsigned<DF> du;
  const hn::RebindToSigned<DF> di;
  const auto sign = hn::ShiftLeft<16>(hn::And(bits, hn::Set(du, 0x8000u)));
  const auto e = hn::And(hn::ShiftRight<10>(bits), hn::Set(du, 0x1fu));
  const auto mant = hn::And(bits, hn::Set(du, 0x3ffu));
  const auto normal = hn::Or(hn::ShiftLeft<23>(hn::Add(e, hn::Set(du, 112u))), hn::ShiftLeft<13>(mant));
  const auto inf_nan = hn::Or(hn::Set(du, 0x7f800000u), hn::ShiftLeft<13>(mant));
  // Subnormal: mant * 2^-24, exact in fp32.
  const auto sub = hn::BitCast(du, hn::Mul(hn::ConvertTo(df, hn::BitCast(di, mant)),
                                           hn::Set(df, 1.0f / 16777216.0f)));
  const auto r = hn::IfThenElse(hn::Eq(e, hn::Zero(du)), sub,
                                hn::IfThenElse(hn::Eq(e, hn::Set(du, 31u)), inf_nan, normal));
  return hn::BitCast(df, hn::Or(r, sign));
}

template <int kRound, class DF>
HWY_INLINE hn::Vec<hn::RebindToUnsigned<DF>> F32ToHalfBits(DF df, hn::Vec<DF> v) {
  const hn::RebindToUnsigned<DF> du;
  const hn::RebindToSigned<DF> di;
  const auto x = hn::BitCast(du, v);
  const auto sign16 = hn::And(hn::ShiftRight<16>(x), hn::Set(du, 0x8000u));
  const auto ax = hn::And(x, hn::Set(du, 0x7fffffffu));
  const auto e = hn::Sub(hn::BitCast(di, hn::ShiftRight<23>(ax)), hn::Set(di, 127));
  // Bits dropped from the 24-bit significand; capped at 31 (everything dropped, no UB shift).
  const auto shift = hn::BitCast(
      du, hn::Min(hn::Max(hn::Set(di, 13), hn::Sub(hn::Set(di, -1), e)), hn::Set(di, 31)));
  const auto mant = hn::Or(hn::And(ax, hn::Set(du, 0x7fffffu)), hn::Set(du, 0x800000u));
  auto q = hn::Shr(mant, shift);
  const auto one = hn::Set(du, 1u);
  const auto rem = hn::BitCast(di, hn::And(mant, hn::Sub(hn::Shl(one, shift), one)));
  const auto half = hn::BitCast(di, hn::Shl(one, hn::Sub(shift, one)));
  hn::Mask<decltype(di)> up;
  if constexpr (kRound == kRoundEven) {
    const auto odd = hn::BitCast(di, hn::And(q, one));
    up = hn::Or(hn::Gt(rem, half), hn::And(hn::Eq(rem, half), hn::Eq(odd, hn::Set(di, 1))));
  } else {
    up = hn::Not(hn::Lt(rem, half));
  }
  q = hn::Sub(q, hn::BitCast(du, hn::VecFromMask(di, up)));  // +1 where rounding up
  const auto exp_part = hn::BitCast(du, hn::ShiftLeft<10>(hn::Max(hn::Add(e, hn::Set(di, 14)), hn::Zero(di))));
  const auto finite = hn::BitCast(
      du, hn::Min(hn::BitCast(di, hn::Add(q, exp_part)), hn::Set(di, 0x7c00)));
  const auto nan = hn::Or(hn::Set(du, 0x7e00u), hn::And(hn::ShiftRight<13>(ax), hn::Set(du, 0x3ffu)));
  const auto is_nan = hn::Gt(hn::BitCast(di, ax), hn::Set(di, 0x7f800000));
  (void)df;
  return hn::Or(hn::IfThenElse(hn::RebindMask(du, is_nan), nan, finite), sign16);
}

template <int kRound, class DF>
HWY_INLINE hn::Vec<hn::RebindToUnsigned<DF>> F32ToBf16Bits(DF /*df*/, hn::Vec<DF> v) {
  const hn::RebindToUnsigned<DF> du;
  const hn::RebindToSigned<DF> di;
  const auto x = hn::BitCast(du, v);
  hn::Vec<decltype(du)> add;
  if constexpr (kRound == kRoundEven) {
    add = hn::Add(hn::Set(du, 0x7fffu), hn::And(hn::ShiftRight<16>(x), hn::Set(du, 1u)));
  } else {
    add = hn::Set(du, 0x8000u);
  }
  const auto rounded = hn::ShiftRight<16>(hn::Add(x, add));
  const auto is_nan = hn::Gt(hn::BitCast(di, hn::And(x, hn::Set(du, 0x7fffffffu))), hn::Set(di, 0x7f800000));
  const auto nan = hn::Or(hn::ShiftRight<16>(x), hn::Set(du, 0x40u));
  return hn::IfThenElse(hn::RebindMask(du, is_nan), nan, rounded);
}

// Loads Lanes(df) elements of `kind` from p as fp32 (exact).
template <int kKind, class DF>
HWY_INLINE hn::Vec<DF> LoadAsF32(DF df, const void* p) {
  if constexpr (kKind == kElemF32) {
    return hn::LoadU(df, static_cast<const float*>(p));
  } else {
    const hn::RebindToUnsigned<DF> du;
    const hn::Rebind<uint16_t, DF> d16;
    if constexpr (kKind == kElemF16) {
#if MC2_HWY_F16C
      const hn::Rebind<hwy::float16_t, DF> dh;
      (void)du;
      (void)d16;
      return hn::PromoteTo(df, hn::LoadU(dh, static_cast<const hwy::float16_t*>(p)));
#else
      return HalfBitsToF32(df, hn::PromoteTo(du, hn::LoadU(d16, static_cast<const uint16_t*>(p))));
#endif
    } else {
      const auto bits = hn::PromoteTo(du, hn::LoadU(d16, static_cast<const uint16_t*>(p)));
      return hn::BitCast(df, hn::ShiftLeft<16>(bits));
    }
  }
}

// A store of a whole vector: unaligned, or non-temporal (kStream: p aligned to the vector, a
// whole vector of >= 16 bytes on x86, where Highway's Stream writes 16 bytes for smaller ones).
template <bool kStream, class D>
HWY_INLINE void PutVec(D d, hn::Vec<D> v, hn::TFromD<D>* p) {
  if constexpr (kStream) {
    hn::Stream(v, d, p);
  } else {
    hn::StoreU(v, d, p);
  }
}

// Stores Lanes(df) values to p as `kind`, rounding as kRound says; kStream: PutVec's conditions.
template <int kKind, int kRound, bool kStream = false, class DF>
HWY_INLINE void StoreFromF32(DF df, hn::Vec<DF> v, void* p) {
  if constexpr (kKind == kElemF32) {
    PutVec<kStream>(df, v, static_cast<float*>(p));
  } else {
    const hn::Rebind<uint16_t, DF> d16;
    const hn::RebindToSigned<DF> di;
    if constexpr (kKind == kElemF16) {
#if MC2_HWY_F16C
      if constexpr (kRound == kRoundEven) {
        const hn::Rebind<hwy::float16_t, DF> dh;
        PutVec<kStream>(d16, hn::BitCast(d16, hn::DemoteTo(dh, v)), static_cast<uint16_t*>(p));
        return;
      }
#endif
      const auto bits = F32ToHalfBits<kRound>(df, v);
      PutVec<kStream>(d16, hn::DemoteTo(d16, hn::BitCast(di, bits)), static_cast<uint16_t*>(p));
    } else {
      const auto bits = F32ToBf16Bits<kRound>(df, v);
      PutVec<kStream>(d16, hn::DemoteTo(d16, hn::BitCast(di, bits)), static_cast<uint16_t*>(p));
    }
  }
}

// v rounded to the precision of `kind` and widened back to fp32 (identity for fp32).
template <int kKind, int kRound, class DF>
HWY_INLINE hn::Vec<DF> RoundToKind(DF df, hn::Vec<DF> v) {
  if constexpr (kKind == kElemF32) {
    return v;
  } else if constexpr (kKind == kElemF16) {
#if MC2_HWY_F16C
    if constexpr (kRound == kRoundEven) {
      const hn::Rebind<hwy::float16_t, DF> dh;
      return hn::PromoteTo(df, hn::DemoteTo(dh, v));
    }
#endif
    return HalfBitsToF32(df, F32ToHalfBits<kRound>(df, v));
  } else {
    return hn::BitCast(df, hn::ShiftLeft<16>(F32ToBf16Bits<kRound>(df, v)));
  }
}

constexpr size_t ElemBytes(int kind) { return kind == kElemF32 ? 4 : 2; }

}  // namespace mc2::kernels::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#endif  // MC2_KERNELS_EPILOGUE_ROUND_INL_H_ toggle
