// One rank's local product of LinearParallel, P = round_out(X @ op(W)), over any block of rows,
// planned once (weights packed / converted at plan time) and run many times with caller scratch.
//
//   float (fp16 / bf16)  kernels/float_matmul.h on the weight as stored; an NZ weight is unpacked
//                        once to ND at plan time (the float kernel reads ND only).
//   W8A16                kernels/wq_matmul.h ("bias" slot = antiquant offset, "deqScale" = scale,
//                        spec 4.5); where it declines (e.g. a group size that is not a multiple of
//                        32) the weight is dequantized once at plan time with the same roundings
//                        (fp16: (w + offset) and * scale each rounded to fp16; bf16: fp32 then one
//                        rounding) and run through the float kernel.
//   W8A8                 kernels/w8a8.h (exact int32, bias, fp32 / int64 deqScale); PER_TOKEN is a
//                        second pass over the rows, v = round(float(v) * tokenScale[i]), because
//                        the device rounds the channel dequant first (docs/reference.md step 4).
// Every path sums k in fp32 and rounds once to the output dtype, like the device's cube.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "core/status.h"
#include "core/thread_pool.h"
#include "kernels/float_matmul.h"
#include "kernels/w8a8.h"
#include "kernels/wq_matmul.h"
#include "ops/linear_parallel/lp_validate.h"

namespace mc2::ops {

// Address of element 0 of a view (the view's offset applied).
const char* LpElementPtr(const TensorView& v);

class LpLocalProduct {
 public:
  // `max_rows`: the most rows one Run gets; `threads`: the pool size Run will be given.
  Status Plan(const LinearParallelInputs& in, const LinearParallelAttrs& attrs, const LpShapeInfo& info,
              int64_t max_rows, int threads);

  // Scratch one Run needs (all threads), 64-byte aligned by the caller.
  size_t scratch_bytes() const { return scratch_bytes_; }
  // Whether `in` carries the weight (and quant parameters) packed at plan time.
  bool SameWeights(const LinearParallelInputs& in) const;
  const char* path() const { return path_; }

  // dst rows [0, rows) = P of x rows [0, rows) (x: row stride k, the input dtype; dst: row stride
  // n, the output dtype). token_scale: PER_TOKEN scales of these rows, else null.
  // Columns [n0, n1) only when given (n1 < 0: all; W8A8 always computes every column, so callers
  // cutting columns ask ColumnBlocks() first).
  Status Run(const char* x, int64_t rows, const float* token_scale, char* dst, char* scratch, ThreadPool* pool,
             int64_t n0 = 0, int64_t n1 = -1) const;
  // Whether Run computes column ranges, and the column block ranges should be multiples of.
  bool ColumnBlocks() const { return kind_ != LpKind::kW8A8; }
  int64_t col_align() const { return use_wq_ ? wq_.n_align() : 32; }

 private:
  Status PlanFloat(const void* weight, bool transposed);
  Status PlanWq(const LinearParallelInputs& in, const LinearParallelAttrs& attrs, const LpShapeInfo& info,
                bool* planned);
  Status DequantToFloat(const LinearParallelInputs& in, const LinearParallelAttrs& attrs, const LpShapeInfo& info);
  void ApplyTokenScale(const float* token_scale, int64_t rows, char* dst) const;

  LpKind kind_ = LpKind::kFloat;
  int64_t k_ = 0, n_ = 0, max_rows_ = 0;
  int threads_ = 1;
  DType in_dtype_ = DType::kFloat16, out_dtype_ = DType::kFloat16;
  const char* path_ = "float";
  // Float kernel (also the dequantized W8A16 fallback).
  kernels::FloatMatmulDesc float_desc_;
  const void* float_weight_ = nullptr;
  std::vector<uint16_t> owned_weight_;  // NZ unpacked, or W8A16 dequantized: (R, C) row-major
  bool use_wq_ = false;
  kernels::WqMatmulPlan wq_;
  std::unique_ptr<kernels::W8A8Plan> w8a8_;
  size_t slice_ = 0;  // per-thread scratch
  size_t scratch_bytes_ = 0;
  // What the plan packed, compared at Execute.
  const void* weight_data_ = nullptr;
  const void* scale_data_ = nullptr;
  const void* offset_data_ = nullptr;
};

}  // namespace mc2::ops
