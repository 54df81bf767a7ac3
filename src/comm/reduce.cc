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

ReduceFn ChooseReduce() {
#if defined(__x86_64__)
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx2") && HasF16c()) return internal::ReduceAvx2;
#endif
  return ReduceImpl;
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
