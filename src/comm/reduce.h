// Element-wise reductions used by every collective: dst[i] = srcs[0][i] op srcs[1][i] op ... op
// srcs[n-1][i], always in that order, so a result depends only on the inputs and their order
// (never on timing, the algorithm, or the transport). fp16/bf16 accumulate in fp32 and round once
// (round-to-nearest-even) at the end; integers wrap around like two's complement hardware.
//
// comm must not depend on src/kernels, so these are plain loops shaped for the compiler's
// auto-vectoriser (blocks of 256 elements accumulated in a small fp32 array), compiled once for
// the baseline ISA and once for AVX2/F16C on x86 (chosen at run time).
#pragma once

#include <cstddef>
#include <cstdint>

#include "core/dtype.h"
#include "core/status.h"

namespace mc2::comm {

// HcclReduceOp values.
enum class ReduceOp : int32_t { kSum = 0, kProd = 1, kMax = 2, kMin = 3 };

const char* ReduceOpName(ReduceOp op);

// Dtypes the collectives accept (for data movement any of them; for reductions the same set).
bool IsCommDType(DType dtype);

// dst may alias srcs[0] (or any src whose elements are read before written: each element is
// read from every source before it is written).
Status Reduce(ReduceOp op, DType dtype, void* dst, const void* const* srcs, int nsrc,
              size_t count);

// The type a reduction of `dtype` accumulates in: float32 for float16/bfloat16, else `dtype`.
// A reduction carried in pieces (e.g. across machines) keeps its partial results in this type and
// rounds once at the end, which gives the same bits as one Reduce over all sources.
DType AccumulatorDType(DType dtype);
// Widens count elements of dtype (float16/bfloat16) to float32, exactly.
Status WidenToFloat32(DType dtype, float* dst, const void* src, size_t count);
// Rounds count float32 values to dtype (float16/bfloat16) the way Reduce rounds its result.
Status NarrowFromFloat32(DType dtype, void* dst, const float* src, size_t count);

// The common case, named as the fused operators use it.
inline Status ReduceSum(void* dst, const void* const* srcs, int nsrc, size_t count,
                        DType dtype) {
  return Reduce(ReduceOp::kSum, dtype, dst, srcs, nsrc, count);
}

}  // namespace mc2::comm
