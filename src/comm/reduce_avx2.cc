// The reduction loops compiled with -mavx2 -mf16c (see CMakeLists.txt); chosen by reduce.cc
// only when the CPU has both.
#if defined(__x86_64__)
#define MC2_REDUCE_F16C 1
#include "comm/reduce_impl.h"

namespace mc2::comm::internal {

bool ReduceAvx2(ReduceOp op, DType dtype, void* dst, const void* const* srcs, int nsrc,
                size_t count) {
  return ReduceImpl(op, dtype, dst, srcs, nsrc, count);
}

bool ConvertAvx2(DType dtype, void* dst, const void* src, size_t count, bool widen) {
  return ConvertImpl(dtype, dst, src, count, widen);
}

}  // namespace mc2::comm::internal
#endif
