#include "comm/reduce.h"

#include "comm/reduce_impl.h"

#if defined(__x86_64__)
#include <cpuid.h>
#endif

namespace mc2::comm {
namespace internal {
#if defined(__x86_64__)
bool ReduceAvx2(ReduceOp op, DType dtype, void* dst, const void* const* srcs, int nsrc,
                size_t count);
bool ConvertAvx2(DType dtype, void* dst, const void* src, size_t count, bool widen);
#endif
}  // namespace internal

namespace {
using ReduceFn = bool (*)(ReduceOp, DType, void*, const void* const*, int, size_t);

#if defined(__x86_64__)
// F16C from cpuid leaf 1: clang 14's __builtin_cpu_supports does not know "f16c".
bool HasF16c() {
  unsigned a, b, c, d;
  return __get_cpuid(1, &a, &b, &c, &d) && (c & bit_F16C) != 0;
}
#endif

bool UseAvx2() {
#if defined(__x86_64__)
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx2") && HasF16c();
#else
  return false;
#endif
}

ReduceFn ChooseReduce() {
#if defined(__x86_64__)
  if (UseAvx2()) return internal::ReduceAvx2;
#endif
  return ReduceImpl;
}

using ConvertFn = bool (*)(DType, void*, const void*, size_t, bool);
ConvertFn ChooseConvert() {
#if defined(__x86_64__)
  if (UseAvx2()) return internal::ConvertAvx2;
#endif
  return ConvertImpl;
}

Status Convert(DType dtype, void* dst, const void* src, size_t count, bool widen) {
  static const ConvertFn fn = ChooseConvert();
  if (!fn(dtype, dst, src, count, widen)) {
    return HcclError(hccl::kENotSupport, widen ? "widen" : "narrow", ": dtype ", DTypeName(dtype),
                     " is not float16 or bfloat16");
  }
  return Status::Ok();
}
}  // namespace

const char* ReduceOpName(ReduceOp op) {
  switch (op) {
    case ReduceOp::kSum: return "sum";
    case ReduceOp::kProd: return "prod";
    case ReduceOp::kMax: return "max";
    case ReduceOp::kMin: return "min";
  }
  return "unknown";
}

bool IsCommDType(DType dtype) {
  switch (dtype) {
    case DType::kFloat32: case DType::kFloat64: case DType::kFloat16: case DType::kBFloat16:
    case DType::kInt8: case DType::kUInt8: case DType::kInt32: case DType::kInt64:
    case DType::kUInt64:
      return true;
    default:
      return false;
  }
}

DType AccumulatorDType(DType dtype) {
  return dtype == DType::kFloat16 || dtype == DType::kBFloat16 ? DType::kFloat32 : dtype;
}

Status WidenToFloat32(DType dtype, float* dst, const void* src, size_t count) {
  return Convert(dtype, dst, src, count, true);
}

Status NarrowFromFloat32(DType dtype, void* dst, const float* src, size_t count) {
  return Convert(dtype, dst, src, count, false);
}

Status Reduce(ReduceOp op, DType dtype, void* dst, const void* const* srcs, int nsrc,
              size_t count) {
  static const ReduceFn fn = ChooseReduce();
  if (count == 0) return Status::Ok();
  if (nsrc < 1) return HcclError(hccl::kEPara, "reduce: nsrc is ", nsrc, " (must be >= 1)");
  if (!fn(op, dtype, dst, srcs, nsrc, count)) {
    return HcclError(hccl::kENotSupport, "reduce: dtype ", DTypeName(dtype), " with op ",
                     ReduceOpName(op), " is not supported");
  }
  return Status::Ok();
}

}  // namespace mc2::comm
