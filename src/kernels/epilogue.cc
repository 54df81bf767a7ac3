// Epilogues on an fp32 tile (epilogue.h).
//
// Shape: each row is processed in chunks of up to 512 columns through a stack buffer, in two
// passes. Pass A (bias, optional rounding, activation) is specialised on the activation only;
// pass B (residual add, rounded store) on the residual and output types. 5 + 20 variants per
// target instead of the 100 that one fused loop would need, for one extra L1 round trip of a
// 2 KiB buffer. Cost, one Zen3 core at ~3.1 GHz: GELU ~1.3 ns per 8 floats (exp polynomial +
// division), so an epilogue over a 64x64 tile is ~0.7 us against the ~5 us its W8A8 matmul takes.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("fp-contract=off")
#endif

#include "kernels/epilogue.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "kernels/epilogue.cc"
#include "hwy/foreach_target.h"  // IWYU pragma: keep
#include "hwy/contrib/math/math-inl.h"
#include "hwy/highway.h"
#include "kernels/epilogue_round-inl.h"

HWY_BEFORE_NAMESPACE();
namespace mc2::kernels::HWY_NAMESPACE {

constexpr int64_t kChunk = 512;
using DF = hn::ScalableTag<float>;
using VF = hn::Vec<DF>;

// exp(min(z, 88.7)): finite for every input (Highway's Exp is valid up to +104 only).
HWY_INLINE VF ClampedExp(DF df, VF z) { return hn::Exp(df, hn::Min(z, hn::Set(df, 88.7f))); }

template <int kAct>
HWY_INLINE VF Act(DF df, VF x) {
  const VF one = hn::Set(df, 1.0f);
  if constexpr (kAct == static_cast<int>(Activation::kGelu)) {
    const VF cube = hn::Mul(hn::Mul(hn::Mul(hn::Set(df, 0.044715f), x), x), x);
    const VF z = hn::Mul(hn::Set(df, -1.59576912f), hn::Add(x, cube));
    return hn::Div(x, hn::Add(one, ClampedExp(df, z)));
  } else if constexpr (kAct == static_cast<int>(Activation::kFastGelu)) {
    return hn::Div(x, hn::Add(one, ClampedExp(df, hn::Mul(hn::Set(df, -1.702f), x))));
  } else if constexpr (kAct == static_cast<int>(Activation::kSilu)) {
    return hn::Div(x, hn::Add(one, ClampedExp(df, hn::Neg(x))));
  } else if constexpr (kAct == static_cast<int>(Activation::kRelu)) {
    return hn::IfThenZeroElse(hn::Lt(x, hn::Zero(df)), x);
  } else {
    return x;
  }
}

// Pass A over `count` (a multiple of Lanes) values: buf = act(rint?(tile + bias)).
template <int kAct>
void PassA(const float* tile, const float* bias, int pre_round, int64_t count, float* buf) {
  const DF df;
  const int64_t lanes = static_cast<int64_t>(hn::Lanes(df));
  for (int64_t j = 0; j < count; j += lanes) {
    VF v = hn::LoadU(df, tile + j);
    if (bias) v = hn::Add(v, hn::LoadU(df, bias + j));
    if (pre_round == kElemF16) v = RoundToKind<kElemF16, kRoundEven>(df, v);
    if (pre_round == kElemBf16) v = RoundToKind<kElemBf16, kRoundEven>(df, v);
    hn::StoreU(Act<kAct>(df, v), df, buf + j);
  }
}

// Pass B: dst = round(buf + residual) over `count` values (a multiple of Lanes).
template <int kRes, int kDst, int kRound>
void PassB(const float* buf, const void* res, int64_t count, void* dst) {
  const DF df;
  const int64_t lanes = static_cast<int64_t>(hn::Lanes(df));
  constexpr size_t er = kRes < 0 ? 0 : ElemBytes(kRes < 0 ? 0 : kRes), ed = ElemBytes(kDst);
  for (int64_t j = 0; j < count; j += lanes) {
    VF v = hn::LoadU(df, buf + j);
    if constexpr (kRes >= 0) v = hn::Add(v, LoadAsF32<kRes>(df, static_cast<const char*>(res) + j * er));
    StoreFromF32<kDst, kRound>(df, v, static_cast<char*>(dst) + j * ed);
  }
}

using PassAFn = void (*)(const float*, const float*, int, int64_t, float*);
using PassBFn = void (*)(const float*, const void*, int64_t, void*);

template <int kRes>
PassBFn PickB(int dst, int round) {
  if (dst == kElemF32) return &PassB<kRes, kElemF32, kRoundEven>;
  if (dst == kElemF16) return round == kRoundAway ? &PassB<kRes, kElemF16, kRoundAway> : &PassB<kRes, kElemF16, kRoundEven>;
  return round == kRoundAway ? &PassB<kRes, kElemBf16, kRoundAway> : &PassB<kRes, kElemBf16, kRoundEven>;
}

int KindOf(DType t) {
  return t == DType::kFloat16 ? kElemF16 : t == DType::kBFloat16 ? kElemBf16 : kElemF32;
}

void EpilogueImpl(const float* tile, int64_t tile_stride, const EpilogueArgs& args) {
  static constexpr PassAFn kPassA[] = {&PassA<0>, &PassA<1>, &PassA<2>, &PassA<3>, &PassA<4>};
  const PassAFn pass_a = kPassA[static_cast<int>(args.act)];
  const int dst_kind = KindOf(args.dst_dtype);
  const int round = args.round == RoundMode::kHalfAway ? kRoundAway : kRoundEven;
  const int res_kind = args.residual ? KindOf(args.residual_dtype) : -1;
  const PassBFn pass_b = res_kind < 0           ? PickB<-1>(dst_kind, round)
                         : res_kind == kElemF32 ? PickB<kElemF32>(dst_kind, round)
                         : res_kind == kElemF16 ? PickB<kElemF16>(dst_kind, round)
                                                : PickB<kElemBf16>(dst_kind, round);
  const int pre_round = args.round_after_bias ? dst_kind : kElemF32;
  const size_t er = res_kind < 0 ? 0 : ElemBytes(res_kind), ed = ElemBytes(dst_kind);
  const int64_t lanes = static_cast<int64_t>(hn::Lanes(DF()));
  alignas(64) float buf[kChunk];
  alignas(64) float tail_in[kChunk], tail_bias[kChunk];
  alignas(64) char tail_res[kChunk * 4], tail_dst[kChunk * 4];
  for (int64_t i = 0; i < args.rows; ++i) {
    const float* t_row = tile + i * tile_stride;
    const char* r_row = static_cast<const char*>(args.residual) + (res_kind < 0 ? 0 : i * args.residual_stride * er);
    char* d_row = static_cast<char*>(args.dst) + i * args.dst_stride * ed;
    for (int64_t j = 0; j < args.cols; j += kChunk) {
      const int64_t count = std::min(kChunk, args.cols - j);
      const int64_t full = count / lanes * lanes;
      const float* bias = args.bias ? args.bias + j : nullptr;
      pass_a(t_row + j, bias, pre_round, full, buf);
      pass_b(buf, res_kind < 0 ? nullptr : r_row + j * er, full, d_row + j * ed);
      if (full < count) {  // the last < Lanes columns through zero-padded buffers
        const int64_t rem = count - full;
        std::memset(tail_in, 0, sizeof(float) * lanes);
        std::memcpy(tail_in, t_row + j + full, rem * sizeof(float));
        if (bias) {
          std::memset(tail_bias, 0, sizeof(float) * lanes);
          std::memcpy(tail_bias, bias + full, rem * sizeof(float));
        }
        if (res_kind >= 0) std::memcpy(tail_res, r_row + (j + full) * er, rem * er);
        pass_a(tail_in, bias ? tail_bias : nullptr, pre_round, lanes, buf);
        pass_b(buf, tail_res, lanes, tail_dst);
        std::memcpy(d_row + (j + full) * ed, tail_dst, rem * ed);
      }
    }
  }
}

void VectorExpImpl(const float* x, float* y, int64_t n) {
  const DF df;
  const int64_t lanes = static_cast<int64_t>(hn::Lanes(df));
  int64_t i = 0;
  for (; i + lanes <= n; i += lanes) hn::StoreU(ClampedExp(df, hn::LoadU(df, x + i)), df, y + i);
  if (i < n) {
    alignas(64) float in[hn::MaxLanes(df)] = {}, out[hn::MaxLanes(df)];
    std::memcpy(in, x + i, (n - i) * sizeof(float));
    hn::Store(ClampedExp(df, hn::Load(df, in)), df, out);
    std::memcpy(y + i, out, (n - i) * sizeof(float));
  }
}

const char* EpilogueTargetImpl() { return hwy::TargetName(HWY_TARGET); }

}  // namespace mc2::kernels::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace mc2::kernels {

HWY_EXPORT(EpilogueImpl);
HWY_EXPORT(VectorExpImpl);
HWY_EXPORT(EpilogueTargetImpl);

namespace {

Status Normalize(const float* tile, int64_t* tile_stride, const EpilogueArgs& in, EpilogueArgs* out) {
  *out = in;
  auto is_float = [](DType t) { return t == DType::kFloat32 || t == DType::kFloat16 || t == DType::kBFloat16; };
  if (!is_float(in.dst_dtype)) {
    return AclnnError(aclnn::kErrInner, "Epilogue: dst dtype ", DTypeName(in.dst_dtype),
                      " (must be float32, float16 or bfloat16)");
  }
  if (in.residual && !is_float(in.residual_dtype)) {
    return AclnnError(aclnn::kErrInner, "Epilogue: residual dtype ", DTypeName(in.residual_dtype),
                      " (must be float32, float16 or bfloat16)");
  }
  if (in.round != RoundMode::kHalfEven && in.round != RoundMode::kHalfAway) {
    return AclnnError(aclnn::kErrInner, "Epilogue: rounding must be half-even (CAST_RINT) or half-away (CAST_ROUND)");
  }
  if (static_cast<int>(in.act) > static_cast<int>(Activation::kRelu)) {
    return AclnnError(aclnn::kErrInner, "Epilogue: unknown activation ", static_cast<int>(in.act));
  }
  if (in.rows < 0 || in.cols < 0) {
    return AclnnError(aclnn::kErrInner, "Epilogue: tile is (", in.rows, ", ", in.cols, ")");
  }
  if (*tile_stride == 0) *tile_stride = in.cols;
  if (out->residual_stride == 0) out->residual_stride = in.cols;
  if (out->dst_stride == 0) out->dst_stride = in.cols;
  if (*tile_stride < in.cols || out->residual_stride < in.cols || out->dst_stride < in.cols) {
    return AclnnError(aclnn::kErrInner, "Epilogue: a row stride is below cols = ", in.cols);
  }
  if (in.rows > 0 && in.cols > 0 && (!tile || !in.dst)) {
    return AclnnError(aclnn::kErrInner, "Epilogue: null tile or dst");
  }
  return Status::Ok();
}

float RoundF(float v, DType dt, RoundMode mode) {
  if (dt == DType::kFloat16) return RoundToHalf(v, mode);
  if (dt == DType::kBFloat16) return RoundToBf16(v, mode);
  return v;
}

}  // namespace

// exp with the kernel's clamp (epilogue.h): x = -Inf gives x / (1 + 3e38) = -Inf, not Inf/Inf.
float ClampedExpScalar(float z) { return std::exp(std::min(z, 88.7f)); }

float ActivationScalar(float x, Activation act) {
  switch (act) {
    case Activation::kGelu: {
      const float cube = 0.044715f * x * x * x;
      return x / (1.0f + ClampedExpScalar(-1.59576912f * (x + cube)));
    }
    case Activation::kFastGelu: return x / (1.0f + ClampedExpScalar(-1.702f * x));
    case Activation::kSilu: return x / (1.0f + ClampedExpScalar(-x));
    case Activation::kRelu: return x < 0 ? 0.0f : x;
    default: return x;
  }
}

void ApplyEpilogueTile(const float* tile, int64_t tile_stride, const EpilogueArgs& args) {
  HWY_DYNAMIC_DISPATCH(EpilogueImpl)(tile, tile_stride, args);
}

Status ApplyEpilogue(const float* tile, int64_t tile_stride, const EpilogueArgs& in) {
  EpilogueArgs args;
  MC2_RETURN_IF_ERROR(Normalize(tile, &tile_stride, in, &args));
  if (args.rows > 0 && args.cols > 0) ApplyEpilogueTile(tile, tile_stride, args);
  return Status::Ok();
}

Status ApplyEpilogueScalar(const float* tile, int64_t tile_stride, const EpilogueArgs& in) {
  EpilogueArgs a;
  MC2_RETURN_IF_ERROR(Normalize(tile, &tile_stride, in, &a));
  for (int64_t i = 0; i < a.rows; ++i) {
    for (int64_t j = 0; j < a.cols; ++j) {
      float v = tile[i * tile_stride + j];
      if (a.bias) v += a.bias[j];
      if (a.round_after_bias) v = RoundF(v, a.dst_dtype, RoundMode::kHalfEven);
      v = ActivationScalar(v, a.act);
      if (a.residual) {
        const int64_t r = i * a.residual_stride + j;
        if (a.residual_dtype == DType::kFloat32) {
          v += static_cast<const float*>(a.residual)[r];
        } else {
          const uint16_t b = static_cast<const uint16_t*>(a.residual)[r];
          v += a.residual_dtype == DType::kFloat16 ? HalfToFloat(b) : Bf16ToFloat(b);
        }
      }
      const int64_t d = i * a.dst_stride + j;
      if (a.dst_dtype == DType::kFloat32) {
        static_cast<float*>(a.dst)[d] = v;
      } else {
        static_cast<uint16_t*>(a.dst)[d] =
            a.dst_dtype == DType::kFloat16 ? FloatToHalf(v, a.round) : FloatToBf16(v, a.round);
      }
    }
  }
  return Status::Ok();
}

void VectorExp(const float* x, float* y, int64_t n) { HWY_DYNAMIC_DISPATCH(VectorExpImpl)(x, y, n); }

const char* EpilogueTarget() { return HWY_DYNAMIC_DISPATCH(EpilogueTargetImpl)(); }

}  // namespace mc2::kernels
#endif  // HWY_ONCE
