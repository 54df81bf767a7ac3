// Add + RMSNorm (see rms_norm.h for the arithmetic).
//
// Shape: two passes over each row, the second one from cache. Pass 1 reads a and residual, writes
// y and accumulates sum(x^2 / n); pass 2 re-reads y (a row of n = 8192 fp16 is 16 KiB: L1) and
// gamma (L1/L2 after the first row) and writes normOut. DRAM sees each byte once: for fp16 in and
// out that is 8 bytes/element against copy's 4 (read 2 + write 2), so matching copy bandwidth
// means ~0.5x copy's elements/s; the target is 70% of copy's GB/s (docs/kernels.md has the figure).
// Stores also read the line they write (read-for-ownership) unless they are non-temporal, as
// memcpy's are at these sizes: large calls stream normOut (StreamOut below); y stays a normal
// store because pass 2 reads it back from cache.
// The row kernel is the same code for every target; only the vector width differs.
#if defined(__GNUC__) && !defined(__clang__)
// The spec rounds x*x, *(1/n) and the adds one at a time: no FMA contraction in this file.
#pragma GCC optimize("fp-contract=off")
#endif

#include "kernels/rms_norm.h"

#include <atomic>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <type_traits>

#include "core/float16.h"

#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "kernels/rms_norm.cc"
#include "hwy/foreach_target.h"  // IWYU pragma: keep
#include "hwy/cache_control.h"
#include "hwy/highway.h"
#include "kernels/unroll.h"
#include "kernels/epilogue_round-inl.h"

HWY_BEFORE_NAMESPACE();
namespace mc2::kernels::HWY_NAMESPACE {

constexpr int kParts = 16;  // partial sums of ms (rms_norm.h)
#if HWY_HAVE_SCALABLE
// SVE: Lanes() is known only at run time and vectors are sizeless (no arrays of them), so the 16
// partial sums are four 4-lane vectors (CappedTag<float, 4> has exactly 4 lanes at every SVE
// vector length), held in named variables.
using DPart = hn::CappedTag<float, 4>;
constexpr size_t kPartVecs = 4;
#else
using DPart = hn::CappedTag<float, kParts>;
// Vectors holding the kParts partial sums (2 on AVX2, 4 on SSE4/NEON, 1 on AVX-512). Fixed-width
// targets: Lanes() == MaxLanes() there.
constexpr size_t kPartVecs = kParts / hn::MaxLanes(DPart());
#endif
static_assert(kPartVecs * hn::MaxLanes(DPart()) == kParts, "16 partial sums");

// y = round(A + residual) stored to `y`; returns x = float(y), widened from the stored bits (one
// narrowing conversion per vector, not two: the conversions bound this kernel, ~9 cycles per 8
// fp16 elements on Zen3 with data in L2).
template <int kT, class DF>
HWY_INLINE hn::Vec<DF> StoreY(DF df, hn::Vec<DF> s, void* y) {
  const hn::RebindToSigned<DF> di;
  const hn::Rebind<uint16_t, DF> d16;
  if constexpr (kT == kElemF16) {
#if MC2_HWY_F16C
    const hn::Rebind<hwy::float16_t, DF> dh;
    const auto h = hn::DemoteTo(dh, s);
    hn::StoreU(h, dh, static_cast<hwy::float16_t*>(y));
    (void)di;
    (void)d16;
    return hn::PromoteTo(df, h);
#else
    const auto bits = F32ToHalfBits<kRoundEven>(df, s);
    hn::StoreU(hn::DemoteTo(d16, hn::BitCast(di, bits)), d16, static_cast<uint16_t*>(y));
    return HalfBitsToF32(df, bits);
#endif
  } else {
    const auto bits = F32ToBf16Bits<kRoundEven>(df, s);
    hn::StoreU(hn::DemoteTo(d16, hn::BitCast(di, bits)), d16, static_cast<uint16_t*>(y));
    return hn::BitCast(df, hn::ShiftLeft<16>(bits));
  }
}

// Pass 1 over kParts elements at a/res/y: hands the terms of partial-sum vector v to add(v, term).
template <int kA, int kT, class DF, class AddFn>
HWY_INLINE void Pass1Block(DF df, const char* a, const char* res, char* y, float inv_n, const AddFn& add) {
  using V = hn::Vec<DF>;
  const size_t lanes = hn::Lanes(df);
  const V vinv = hn::Set(df, inv_n);
MC2_UNROLL(16)
  for (size_t v = 0; v < kPartVecs; ++v) {
    const size_t off = v * lanes;
    V av = LoadAsF32<kA>(df, a + off * ElemBytes(kA));
    if constexpr (kA != kT) av = RoundToKind<kT, kRoundEven>(df, av);
    const V rv = LoadAsF32<kT>(df, res + off * ElemBytes(kT));
    const V x = StoreY<kT>(df, hn::Add(av, rv), y + off * ElemBytes(kT));
    add(v, hn::Mul(hn::Mul(x, x), vinv));
  }
}

// normOut is written once and not read again by this kernel, so calls whose normOut is larger
// than the caches store it with non-temporal stores: a normal store first reads the line it
// writes (read-for-ownership), one more DRAM stream besides a, residual, y and normOut. Only on
// x86 and with whole vectors of at least 16 bytes (Highway's Stream writes 16 bytes for smaller
// ones), rows whose start is aligned to the vector. The fp16 value comes from vcvtps2ph where
// the target has it (StoreFromF32): built with integer ops the loop measured 0.39-0.45x copy.
template <class DF>
constexpr bool CanStreamOut(DF df) {
  return HWY_ARCH_X86 && !HWY_HAVE_SCALABLE && hn::MaxLanes(df) * 2 >= 16;
}

template <int kA, int kT>
void RowsT(const AddRmsNormArgs& args, int64_t row_begin, int64_t row_end) {
  const DPart df;
  using V = hn::Vec<decltype(df)>;
  const size_t lanes = hn::Lanes(df);
  const int64_t n = args.n;
  constexpr size_t ea = ElemBytes(kA), et = ElemBytes(kT);
  const float inv_n = 1.0f / static_cast<float>(n);
  const char* gamma = static_cast<const char*>(args.gamma);
  const bool stream = CanStreamOut(df) && args.m * n * static_cast<int64_t>(et) >= AddRmsNormStreamBytes();
  for (int64_t i = row_begin; i < row_end; ++i) {
    const char* a = static_cast<const char*>(args.a) + i * args.a_stride * ea;
    const char* res = static_cast<const char*>(args.residual) + i * args.residual_stride * et;
    char* y = static_cast<char*>(args.y) + i * args.y_stride * et;
    char* out = static_cast<char*>(args.norm_out) + i * args.norm_out_stride * et;

#if HWY_HAVE_SCALABLE
    V acc0 = hn::Zero(df), acc1 = hn::Zero(df), acc2 = hn::Zero(df), acc3 = hn::Zero(df);
    const auto acc = [&](size_t v, V t) HWY_ATTR {
      switch (v) {
        case 0: acc0 = hn::Add(acc0, t); break;
        case 1: acc1 = hn::Add(acc1, t); break;
        case 2: acc2 = hn::Add(acc2, t); break;
        default: acc3 = hn::Add(acc3, t); break;
      }
    };
#else
    V accs[kPartVecs];
MC2_UNROLL(16)
    for (size_t v = 0; v < kPartVecs; ++v) accs[v] = hn::Zero(df);
    const auto acc = [&](size_t v, V t) HWY_ATTR { accs[v] = hn::Add(accs[v], t); };
#endif
    int64_t j = 0;
    for (; j + kParts <= n; j += kParts) {
      Pass1Block<kA, kT>(df, a + j * ea, res + j * et, y + j * et, inv_n, acc);
    }
    if (j < n) {  // tail through zero-padded buffers: a zero adds a zero term
      alignas(64) char ta[kParts * 4] = {}, tr[kParts * 2 * 2] = {}, ty[kParts * 4];
      const size_t rem = static_cast<size_t>(n - j);
      std::memcpy(ta, a + j * ea, rem * ea);
      std::memcpy(tr, res + j * et, rem * et);
      Pass1Block<kA, kT>(df, ta, tr, ty, inv_n, acc);
      std::memcpy(y + j * et, ty, rem * et);
    }
    alignas(64) float part[kParts];
#if HWY_HAVE_SCALABLE
    hn::Store(acc0, df, part);
    hn::Store(acc1, df, part + lanes);
    hn::Store(acc2, df, part + 2 * lanes);
    hn::Store(acc3, df, part + 3 * lanes);
#else
    for (size_t v = 0; v < kPartVecs; ++v) hn::Store(accs[v], df, part + v * lanes);
#endif
    for (int half = kParts / 2; half >= 1; half /= 2) {
      for (int p = 0; p < half; ++p) part[p] += part[p + half];
    }
    const float rstd = 1.0f / std::sqrt(part[0] + args.eps);

    const V vr = hn::Set(df, rstd);
    j = 0;
    // Whole vectors of the row; the caller's pick of normal or non-temporal stores.
    const auto norm_vectors = [&](auto stream_tag) HWY_ATTR {
      for (; j + static_cast<int64_t>(lanes) <= n; j += static_cast<int64_t>(lanes)) {
        const V x = LoadAsF32<kT>(df, y + j * et);
        const V t = RoundToKind<kT, kRoundEven>(df, hn::Mul(x, vr));
        StoreFromF32<kT, kRoundEven, decltype(stream_tag)::value>(df, hn::Mul(t, LoadAsF32<kT>(df, gamma + j * et)),
                                                                  out + j * et);
      }
    };
    if constexpr (CanStreamOut(df)) {
      if (stream && reinterpret_cast<uintptr_t>(out) % (lanes * et) == 0) norm_vectors(std::true_type());
    }
    norm_vectors(std::false_type());  // the whole row, or nothing left after the streamed loop
    if (j < n) {
      alignas(64) char tx[kParts * 2] = {}, tg[kParts * 2] = {}, to[kParts * 2];
      const size_t rem = static_cast<size_t>(n - j);
      std::memcpy(tx, y + j * et, rem * et);
      std::memcpy(tg, gamma + j * et, rem * et);
      const V t = RoundToKind<kT, kRoundEven>(df, hn::Mul(LoadAsF32<kT>(df, tx), vr));
      StoreFromF32<kT, kRoundEven>(df, hn::Mul(t, LoadAsF32<kT>(df, tg)), to);
      std::memcpy(out + j * et, to, rem * et);
    }
  }
  if (stream) hwy::FlushStream();  // the non-temporal stores are visible before the caller goes on
}

void AddRmsNormRowsImpl(const AddRmsNormArgs& args, int64_t row_begin, int64_t row_end) {
  const bool bf16 = args.dtype == DType::kBFloat16;
  const bool a_f32 = args.a_dtype == DType::kFloat32;
  if (bf16) {
    a_f32 ? RowsT<kElemF32, kElemBf16>(args, row_begin, row_end)
          : RowsT<kElemBf16, kElemBf16>(args, row_begin, row_end);
  } else {
    a_f32 ? RowsT<kElemF32, kElemF16>(args, row_begin, row_end)
          : RowsT<kElemF16, kElemF16>(args, row_begin, row_end);
  }
}

const char* RmsNormTargetImpl() { return hwy::TargetName(HWY_TARGET); }

}  // namespace mc2::kernels::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace mc2::kernels {

namespace {
// Measured (bench/kernels/rows_bench, 64 MiB normOut): 0.75-0.87x copy bandwidth with streaming
// against 0.65-0.78x without; below the size of the caches a normal store keeps normOut cached
// for whoever reads it next.
std::atomic<int64_t> g_stream_out_bytes{int64_t{8} << 20};
}  // namespace

int64_t AddRmsNormStreamBytes() { return g_stream_out_bytes.load(std::memory_order_relaxed); }
int64_t SetAddRmsNormStreamBytesForTest(int64_t bytes) { return g_stream_out_bytes.exchange(bytes); }

HWY_EXPORT(AddRmsNormRowsImpl);
HWY_EXPORT(RmsNormTargetImpl);

namespace {

// Checks the arguments and fills in default strides.
Status Normalize(const AddRmsNormArgs& in, AddRmsNormArgs* out) {
  *out = in;
  if (in.dtype != DType::kFloat16 && in.dtype != DType::kBFloat16) {
    return AclnnError(aclnn::kErrInner, "AddRmsNorm: dtype is ", DTypeName(in.dtype),
                      " (must be float16 or bfloat16)");
  }
  if (in.a_dtype != DType::kFloat32 && in.a_dtype != in.dtype) {
    return AclnnError(aclnn::kErrInner, "AddRmsNorm: a is ", DTypeName(in.a_dtype),
                      " (must be float32 or ", DTypeName(in.dtype), ")");
  }
  if (in.m < 0 || in.n < 0) {
    return AclnnError(aclnn::kErrInner, "AddRmsNorm: m = ", in.m, ", n = ", in.n, " (must be >= 0)");
  }
  if (in.m > 0 && in.n > 0 &&
      (!in.a || !in.residual || !in.gamma || !in.y || !in.norm_out)) {
    return AclnnError(aclnn::kErrInner, "AddRmsNorm: a null buffer for a non-empty (", in.m, ", ",
                      in.n, ") problem");
  }
  for (int64_t* s : {&out->a_stride, &out->residual_stride, &out->y_stride, &out->norm_out_stride}) {
    if (*s == 0) *s = in.n;
    if (*s < in.n) {
      return AclnnError(aclnn::kErrInner, "AddRmsNorm: a row stride of ", *s, " is below n = ", in.n);
    }
  }
  return Status::Ok();
}

float ToF32(const void* p, DType dtype, int64_t idx) {
  if (dtype == DType::kFloat32) return static_cast<const float*>(p)[idx];
  const uint16_t b = static_cast<const uint16_t*>(p)[idx];
  return dtype == DType::kFloat16 ? HalfToFloat(b) : Bf16ToFloat(b);
}
float RoundTo(float v, DType dtype) {
  return dtype == DType::kFloat16 ? RoundToHalf(v) : RoundToBf16(v);
}
void StoreAs(void* p, DType dtype, int64_t idx, float v) {
  static_cast<uint16_t*>(p)[idx] = dtype == DType::kFloat16 ? FloatToHalf(v) : FloatToBf16(v);
}

}  // namespace

void AddRmsNormRows(const AddRmsNormArgs& args, int64_t row_begin, int64_t row_end) {
  HWY_DYNAMIC_DISPATCH(AddRmsNormRowsImpl)(args, row_begin, row_end);
}

Status AddRmsNorm(const AddRmsNormArgs& in, ThreadPool* pool) {
  AddRmsNormArgs args;
  MC2_RETURN_IF_ERROR(Normalize(in, &args));
  if (args.m == 0 || args.n == 0) return Status::Ok();
  const int threads = pool ? pool->num_threads() : 1;
  if (threads == 1 || args.m == 1) {
    AddRmsNormRows(args, 0, args.m);
    return Status::Ok();
  }
  const int64_t tasks = std::min<int64_t>(threads, args.m);
  return pool->ParallelFor(tasks, [&](int64_t task, int) {
    AddRmsNormRows(args, args.m * task / tasks, args.m * (task + 1) / tasks);
  });
}

Status AddRmsNormScalar(const AddRmsNormArgs& in) {
  AddRmsNormArgs args;
  MC2_RETURN_IF_ERROR(Normalize(in, &args));
  const DType dt = args.dtype;
  const float inv_n = 1.0f / static_cast<float>(args.n);
  for (int64_t i = 0; i < args.m; ++i) {
    float part[16] = {};
    for (int64_t j = 0; j < args.n; ++j) {
      const float a = RoundTo(ToF32(args.a, args.a_dtype, i * args.a_stride + j), dt);
      const float s = a + ToF32(args.residual, dt, i * args.residual_stride + j);
      const float x = RoundTo(s, dt);
      StoreAs(args.y, dt, i * args.y_stride + j, x);
      const float sq = x * x;
      part[j % 16] += sq * inv_n;
    }
    for (int half = 8; half >= 1; half /= 2) {
      for (int p = 0; p < half; ++p) part[p] += part[p + half];
    }
    const float rstd = 1.0f / std::sqrt(part[0] + args.eps);
    for (int64_t j = 0; j < args.n; ++j) {
      const float x = ToF32(args.y, dt, i * args.y_stride + j);
      const float t = RoundTo(x * rstd, dt);
      StoreAs(args.norm_out, dt, i * args.norm_out_stride + j, t * ToF32(args.gamma, dt, j));
    }
  }
  return Status::Ok();
}

const char* AddRmsNormTarget() { return HWY_DYNAMIC_DISPATCH(RmsNormTargetImpl)(); }

}  // namespace mc2::kernels
#endif  // HWY_ONCE
