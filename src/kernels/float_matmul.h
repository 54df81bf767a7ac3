// Float matmul, batched over experts: for e in [0, batch): y_e = x_e @ W_e (+ bias_e), with
//   x_e fp16 / bf16 (m, k) row-major with a row stride,
//   W_e fp16 / bf16 logical (k, n), stored (k, n) or transposed (n, k), with a row stride,
//   products and sums in fp32 (fp16 x fp16 and bf16 x bf16 products are exact in fp32),
//   an optional bias added in fp32, and the result rounded to fp16 / bf16 (half to even) or left
//   in fp32. Used by LinearParallel without quantization and by the MoE batch matmul.
//
// The weights change per call (MoE experts, activations), so nothing is prepacked: every call
// converts KC x NC panels of W to fp32 once and runs the packed GEMM of matmul_gemm-inl.h on them
// (the conversion is amortised over the call's rows; at m = 1 this path is conversion bound).
// Work splits over experts and output ranges; no threads, no allocation.
#pragma once

#include <cstddef>
#include <cstdint>

#include "core/dtype.h"
#include "core/status.h"
#include "kernels/matmul_types.h"

namespace mc2::kernels {

struct FloatMatmulDesc {
  int64_t batch = 1;
  int64_t k = 0;
  int64_t n = 0;
  DType x_dtype = DType::kFloat16;  // fp16 or bf16
  DType w_dtype = DType::kFloat16;  // fp16 or bf16
  bool w_transposed = false;        // W stored (n, k)
  DType out_dtype = DType::kFloat16;  // fp16, bf16 or fp32
};

// Strides in elements; -1 selects the dense value.
struct FloatMatmulArgs {
  const void* x = nullptr;
  int64_t m = 0;
  int64_t x_stride = -1;        // k
  int64_t x_batch_stride = -1;  // m * x_stride
  const void* w = nullptr;
  int64_t w_stride = -1;        // n, or k when transposed
  int64_t w_batch_stride = -1;  // k * n
  const void* bias = nullptr;   // n values per expert, or null
  DType bias_dtype = DType::kFloat32;
  int64_t bias_batch_stride = 0;  // 0: one bias shared by all experts
  void* y = nullptr;
  int64_t y_stride = -1;        // n
  int64_t y_batch_stride = -1;  // m * y_stride
};

// Validates the description (errors for malformed input) and says whether the kernel runs it.
Status CheckFloatMatmul(const FloatMatmulDesc& desc, Support* support);

// Scratch one ExecuteFloatMatmul call over `rows` rows needs (64-byte alignment included).
size_t FloatMatmulScratchBytes(const FloatMatmulDesc& desc, int64_t rows);

// Computes experts [batch0, batch1) over `range` (rows of args.m, columns of n; range.n0 a
// multiple of 32).
Status ExecuteFloatMatmul(const FloatMatmulDesc& desc, const FloatMatmulArgs& args, int64_t batch0,
                          int64_t batch1, const MatmulRange& range, void* scratch, size_t scratch_bytes);

// Scalar reference: float64 sums, one rounding to the output dtype. If `abs_sum` is not null it
// receives sum_k |x * w| + |bias| per output element (batch-major), for error bounds.
Status FloatMatmulReference(const FloatMatmulDesc& desc, const FloatMatmulArgs& args, double* abs_sum);

}  // namespace mc2::kernels
