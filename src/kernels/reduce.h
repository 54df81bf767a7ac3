// Sum of R buffers into one, the collectives' hot loop (all-reduce, reduce-scatter).
//
// dst[i] = round_dst( ((float(src_0[i]) + float(src_1[i])) + float(src_2[i])) + ... ), i.e. fp32
// accumulation in fixed rank order 0..R-1 (src/reference/common.h: the order HCCL does not
// publish, fixed here so every rank gets the same bits), rounded once to dst_dtype with RNE.
// dst_dtype is kFloat32 (keep the fp32 partial for a later step) or src_dtype.
#pragma once

#include <cstdint>

#include "core/dtype.h"
#include "core/status.h"
#include "core/thread_pool.h"

namespace mc2::kernels {

inline constexpr int kMaxReduceSources = 32;

struct ReduceArgs {
  const void* const* srcs = nullptr;  // num_srcs pointers to n elements of src_dtype
  int num_srcs = 0;                   // 1..kMaxReduceSources
  DType src_dtype = DType::kFloat32;  // kFloat32, kFloat16 or kBFloat16
  void* dst = nullptr;                // n elements of dst_dtype; may be one of srcs
  DType dst_dtype = DType::kFloat32;  // kFloat32 or src_dtype
  int64_t n = 0;
};

// Elements split across `pool` when given (nullptr: the calling thread).
Status ReduceSum(const ReduceArgs& args, ThreadPool* pool = nullptr);

// Elements [begin, end) on the calling thread; arguments are not checked (callers that split a
// chunk themselves).
void ReduceSumRange(const ReduceArgs& args, int64_t begin, int64_t end);

// The scalar reference (core/float16.h roundings), same checks as ReduceSum.
Status ReduceSumScalar(const ReduceArgs& args);

const char* ReduceSumTarget();

}  // namespace mc2::kernels
