// Epilogues: what a matmul does to its fp32 output tile before the tile leaves the core.
//
//   v = tile[i][j]
//   v += bias[j]                          (bias given: fp32, one per column)
//   v = rint_dst(v)                       (round_after_bias: the fp16 "add in fp16" of spec 3.3)
//   v = act(v)                            GELU (tanh form) x / (1 + exp(-1.59576912 (x + 0.044715 x^3)))
//                                         FastGELU x / (1 + exp(-1.702 x)), SiLU x / (1 + exp(-x)),
//                                         ReLU (x < 0 ? 0 : x; NaN passes through)
//   v += float(residual[i][j])            (residual given: fp32, fp16 or bf16)
//   dst[i][j] = round(v)                  fp32, or fp16 / bf16 with RNE (CAST_RINT) or half away
//                                         from zero (CAST_ROUND)
// Each step is one fp32 operation as written (no FMA contraction); exp is a vectorized
// polynomial (Highway's, documented <= 1 ulp; the bound is checked in kernels_epilogue_test.cc)
// with its argument clamped to <= 88.7 so exp stays finite (x / (1 + 3e38) is as good as 0, and
// x = -Inf gives -Inf rather than Inf / Inf = NaN); the scalar reference clamps the same way.
// A matmul calls ApplyEpilogue once per output tile, with `tile` pointing at the tile and
// bias / residual / dst already offset to the tile's first row and column.
#pragma once

#include <cstdint>

#include "core/dtype.h"
#include "core/float16.h"
#include "core/status.h"

namespace mc2::kernels {

enum class Activation : uint8_t { kNone, kGelu, kFastGelu, kSilu, kRelu };

struct EpilogueArgs {
  int64_t rows = 0;
  int64_t cols = 0;
  const float* bias = nullptr;  // [cols] or nullptr
  bool round_after_bias = false;
  Activation act = Activation::kNone;
  const void* residual = nullptr;  // (rows, cols) or nullptr
  DType residual_dtype = DType::kFloat32;
  int64_t residual_stride = 0;  // elements; 0 means cols
  void* dst = nullptr;  // (rows, cols); may be `tile` when dst_dtype is fp32 and strides match
  DType dst_dtype = DType::kFloat32;  // kFloat32, kFloat16, kBFloat16
  int64_t dst_stride = 0;
  RoundMode round = RoundMode::kHalfEven;  // kHalfEven or kHalfAway
};

// Applies the epilogue to the (rows, cols) fp32 tile with row stride tile_stride (0 = cols).
// Checks the arguments (dtypes, rounding mode, strides, null buffers).
Status ApplyEpilogue(const float* tile, int64_t tile_stride, const EpilogueArgs& args);

// The same without checks, for the inner loop of a matmul that validated its plan once.
void ApplyEpilogueTile(const float* tile, int64_t tile_stride, const EpilogueArgs& args);

// The scalar reference: std::exp and core/float16.h roundings, same operation order.
Status ApplyEpilogueScalar(const float* tile, int64_t tile_stride, const EpilogueArgs& args);

// y[i] = exp(x[i]) with the vectorized exp the activations use (for tests and benchmarks).
void VectorExp(const float* x, float* y, int64_t n);

// fp32 activation of one value, as the scalar reference computes it.
float ActivationScalar(float x, Activation act);

const char* EpilogueTarget();

}  // namespace mc2::kernels
