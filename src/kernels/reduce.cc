// Sum of R buffers (reduce.h).
//
// Shape: blocks of 4 vectors (32 fp32 on AVX2); for each block the R sources are read in rank
// order into 4 independent fp32 accumulators, then the block is rounded and stored once. The
// loop is bound by memory: R read streams + 1 write stream; with R <= 32 streams the hardware
// prefetchers keep up (Zen3 tracks that many), so no blocking over sources is needed. A block
// reads every source before it writes, so dst may be one of the sources.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("fp-contract=off")
#endif

#include "kernels/reduce.h"

#include <algorithm>
#include <cstring>

#include "core/float16.h"

#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "kernels/reduce.cc"
#include "hwy/foreach_target.h"  // IWYU pragma: keep
#include "hwy/highway.h"
#include "kernels/epilogue_round-inl.h"

HWY_BEFORE_NAMESPACE();
namespace mc2::kernels::HWY_NAMESPACE {

template <int kS, int kD>
void ReduceT(const ReduceArgs& args, int64_t begin, int64_t end) {
  const hn::ScalableTag<float> df;
  using V = hn::Vec<decltype(df)>;
  const int64_t lanes = static_cast<int64_t>(hn::Lanes(df));
  constexpr size_t es = ElemBytes(kS), ed = ElemBytes(kD);
  const char* const* srcs = reinterpret_cast<const char* const*>(args.srcs);
  char* dst = static_cast<char*>(args.dst);
  const int r_count = args.num_srcs;
  int64_t i = begin;
  for (; i + 4 * lanes <= end; i += 4 * lanes) {
    const char* s0 = srcs[0] + i * es;
    V a0 = LoadAsF32<kS>(df, s0);
    V a1 = LoadAsF32<kS>(df, s0 + lanes * es);
    V a2 = LoadAsF32<kS>(df, s0 + 2 * lanes * es);
    V a3 = LoadAsF32<kS>(df, s0 + 3 * lanes * es);
    for (int r = 1; r < r_count; ++r) {
      const char* s = srcs[r] + i * es;
      a0 = hn::Add(a0, LoadAsF32<kS>(df, s));
      a1 = hn::Add(a1, LoadAsF32<kS>(df, s + lanes * es));
      a2 = hn::Add(a2, LoadAsF32<kS>(df, s + 2 * lanes * es));
      a3 = hn::Add(a3, LoadAsF32<kS>(df, s + 3 * lanes * es));
    }
    char* d = dst + i * ed;
    StoreFromF32<kD, kRoundEven>(df, a0, d);
    StoreFromF32<kD, kRoundEven>(df, a1, d + lanes * ed);
    StoreFromF32<kD, kRoundEven>(df, a2, d + 2 * lanes * ed);
    StoreFromF32<kD, kRoundEven>(df, a3, d + 3 * lanes * ed);
  }
  for (; i + lanes <= end; i += lanes) {
    V a = LoadAsF32<kS>(df, srcs[0] + i * es);
    for (int r = 1; r < r_count; ++r) a = hn::Add(a, LoadAsF32<kS>(df, srcs[r] + i * es));
    StoreFromF32<kD, kRoundEven>(df, a, dst + i * ed);
  }
  if (i < end) {  // fewer than one vector left: through a stack buffer per source
    const size_t rem = static_cast<size_t>(end - i);
    alignas(64) char buf[hn::MaxLanes(df) * 4] = {};
    std::memcpy(buf, srcs[0] + i * es, rem * es);
    V a = LoadAsF32<kS>(df, buf);
    for (int r = 1; r < r_count; ++r) {
      std::memcpy(buf, srcs[r] + i * es, rem * es);
      a = hn::Add(a, LoadAsF32<kS>(df, buf));
    }
    StoreFromF32<kD, kRoundEven>(df, a, buf);
    std::memcpy(dst + i * ed, buf, rem * ed);
  }
}

void ReduceSumImpl(const ReduceArgs& args, int64_t begin, int64_t end) {
  const bool to_f32 = args.dst_dtype == DType::kFloat32;
  switch (args.src_dtype) {
    case DType::kFloat16:
      return to_f32 ? ReduceT<kElemF16, kElemF32>(args, begin, end)
                    : ReduceT<kElemF16, kElemF16>(args, begin, end);
    case DType::kBFloat16:
      return to_f32 ? ReduceT<kElemBf16, kElemF32>(args, begin, end)
                    : ReduceT<kElemBf16, kElemBf16>(args, begin, end);
    default:
      return ReduceT<kElemF32, kElemF32>(args, begin, end);
  }
}

const char* ReduceTargetImpl() { return hwy::TargetName(HWY_TARGET); }

}  // namespace mc2::kernels::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace mc2::kernels {

HWY_EXPORT(ReduceSumImpl);
HWY_EXPORT(ReduceTargetImpl);

namespace {

Status Check(const ReduceArgs& a) {
  const DType s = a.src_dtype;
  if (s != DType::kFloat32 && s != DType::kFloat16 && s != DType::kBFloat16) {
    return AclnnError(aclnn::kErrInner, "ReduceSum: src dtype ", DTypeName(s),
                      " (must be float32, float16 or bfloat16)");
  }
  if (a.dst_dtype != DType::kFloat32 && a.dst_dtype != s) {
    return AclnnError(aclnn::kErrInner, "ReduceSum: dst dtype ", DTypeName(a.dst_dtype),
                      " (must be float32 or the src dtype ", DTypeName(s), ")");
  }
  if (a.num_srcs < 1 || a.num_srcs > kMaxReduceSources) {
    return AclnnError(aclnn::kErrInner, "ReduceSum: num_srcs is ", a.num_srcs, " (must be in [1, ",
                      kMaxReduceSources, "])");
  }
  if (a.n < 0) return AclnnError(aclnn::kErrInner, "ReduceSum: n is ", a.n, " (must be >= 0)");
  if (a.n > 0) {
    if (!a.srcs || !a.dst) return AclnnError(aclnn::kErrInner, "ReduceSum: null srcs or dst");
    for (int r = 0; r < a.num_srcs; ++r) {
      if (!a.srcs[r]) return AclnnError(aclnn::kErrInner, "ReduceSum: srcs[", r, "] is null");
    }
  }
  return Status::Ok();
}

float LoadF32(const void* p, DType dtype, int64_t i) {
  if (dtype == DType::kFloat32) return static_cast<const float*>(p)[i];
  const uint16_t b = static_cast<const uint16_t*>(p)[i];
  return dtype == DType::kFloat16 ? HalfToFloat(b) : Bf16ToFloat(b);
}

}  // namespace

void ReduceSumRange(const ReduceArgs& args, int64_t begin, int64_t end) {
  HWY_DYNAMIC_DISPATCH(ReduceSumImpl)(args, begin, end);
}

Status ReduceSum(const ReduceArgs& args, ThreadPool* pool) {
  MC2_RETURN_IF_ERROR(Check(args));
  // Below ~64 KiB of output a second thread costs more to wake than it saves.
  const int64_t min_per_thread = 16384;
  const int threads = pool ? pool->num_threads() : 1;
  const int64_t tasks = std::min<int64_t>(threads, std::max<int64_t>(1, args.n / min_per_thread));
  if (tasks <= 1) {
    ReduceSumRange(args, 0, args.n);
    return Status::Ok();
  }
  return pool->ParallelFor(tasks, [&](int64_t task, int) {
    // Boundaries on multiples of 64 elements: whole cache lines per thread.
    const int64_t b = (args.n * task / tasks) & ~int64_t{63};
    const int64_t e = task + 1 == tasks ? args.n : (args.n * (task + 1) / tasks) & ~int64_t{63};
    ReduceSumRange(args, b, e);
  });
}

Status ReduceSumScalar(const ReduceArgs& args) {
  MC2_RETURN_IF_ERROR(Check(args));
  for (int64_t i = 0; i < args.n; ++i) {
    float acc = LoadF32(args.srcs[0], args.src_dtype, i);
    for (int r = 1; r < args.num_srcs; ++r) acc += LoadF32(args.srcs[r], args.src_dtype, i);
    switch (args.dst_dtype) {
      case DType::kFloat16: static_cast<uint16_t*>(args.dst)[i] = FloatToHalf(acc); break;
      case DType::kBFloat16: static_cast<uint16_t*>(args.dst)[i] = FloatToBf16(acc); break;
      default: static_cast<float*>(args.dst)[i] = acc; break;
    }
  }
  return Status::Ok();
}

const char* ReduceSumTarget() { return HWY_DYNAMIC_DISPATCH(ReduceTargetImpl)(); }

}  // namespace mc2::kernels
#endif  // HWY_ONCE
