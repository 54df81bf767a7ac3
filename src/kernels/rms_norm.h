// Add + RMSNorm in one pass over each row, with CANN's precision (spec 2.2 step 4).
//
// Per row i of (m, n), with A = a rounded to `dtype` (RNE) when `a` is fp32:
//   fp16: y = fp16(A + residual); x = float(y);
//   bf16: y = bf16_rint(float(A) + float(residual)); x = float(y);
//   ms = sum_j (x_j * x_j) * (1/n), every product and the 1/n scaling rounded in fp32;
//   rstd = 1 / sqrt(ms + eps) (fp32); t = rint_dtype(x * rstd); normOut = rint_dtype(t * gamma).
// (fp16 adds and multiplies are done in fp32 and rounded once: p = 24 >= 2 * 11 + 2, so the double
// rounding is innocuous and the result is the fp16 operation's.)
//
// Summation order of ms, fixed so every SIMD target and the scalar reference agree bit for bit:
// term j goes to partial sum j % 16 (in increasing j), and the 16 partials are combined by halving
// (p[i] += p[i + 8], then + 4, + 2, + 1). 16 = the widest vector of fp32 (AVX-512); narrower
// targets hold the 16 partials in 2 or 4 vectors.
#pragma once

#include <cstdint>

#include "core/dtype.h"
#include "core/status.h"
#include "core/thread_pool.h"

namespace mc2::kernels {

struct AddRmsNormArgs {
  DType dtype = DType::kFloat16;  // residual, gamma, y, norm_out: kFloat16 or kBFloat16
  int64_t m = 0;
  int64_t n = 0;
  float eps = 1e-6f;
  const void* a = nullptr;  // (m, n), kFloat32 or `dtype`
  DType a_dtype = DType::kFloat16;
  int64_t a_stride = 0;  // elements between rows; 0 means n
  const void* residual = nullptr;  // (m, n)
  int64_t residual_stride = 0;
  const void* gamma = nullptr;  // (n)
  void* y = nullptr;  // (m, n); may be `residual` itself (the inplace operator)
  int64_t y_stride = 0;
  void* norm_out = nullptr;  // (m, n); may be `a` itself when a_dtype == dtype
  int64_t norm_out_stride = 0;
};

// Runs over all rows, split by rows across `pool` when given (nullptr: the calling thread).
Status AddRmsNorm(const AddRmsNormArgs& args, ThreadPool* pool = nullptr);

// normOut of calls with at least this many bytes (m * n * element size) is written with
// non-temporal stores on x86 (rms_norm.cc says why); 8 MiB unless a test changed it.
int64_t AddRmsNormStreamBytes();
// Tests: sets that threshold (0: every call streams where it can), returns the previous one.
int64_t SetAddRmsNormStreamBytesForTest(int64_t bytes);

// Rows [row_begin, row_end) on the calling thread (for callers that tile rows themselves, e.g.
// an operator running each row tile as soon as its all-reduce lands). Arguments are not checked.
void AddRmsNormRows(const AddRmsNormArgs& args, int64_t row_begin, int64_t row_end);

// The scalar reference: the spec's steps one element at a time, with core/float16.h roundings and
// the summation order above. Same checks as AddRmsNorm.
Status AddRmsNormScalar(const AddRmsNormArgs& args);

// Name of the Highway target AddRmsNorm dispatches to on this CPU ("AVX2", ...).
const char* AddRmsNormTarget();

}  // namespace mc2::kernels
