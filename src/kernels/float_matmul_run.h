// The per-target entry point of the float matmul (float_matmul_kernels.cc). Internal to
// float_matmul*.cc; callers use float_matmul.h.
#pragma once

#include <cstddef>
#include <cstdint>

#include "core/dtype.h"

namespace mc2::kernels {

// One expert, rows [0, rows) of x / y (already offset), columns [n0, n1) (absolute).
struct FloatRunArgs {
  const void* x = nullptr;
  DType x_dtype = DType::kFloat16;
  int64_t x_stride = 0;
  int64_t rows = 0;
  int64_t k = 0, n = 0, n0 = 0, n1 = 0;
  const void* w = nullptr;
  DType w_dtype = DType::kFloat16;
  bool w_transposed = false;
  int64_t w_stride = 0;
  const void* bias = nullptr;
  DType bias_dtype = DType::kFloat32;
  void* y = nullptr;
  int64_t y_stride = 0;
  DType out_dtype = DType::kFloat16;
  uint8_t* scratch = nullptr;  // 64-byte aligned, GemmScratch::For(rows, k).total + the transpose block
};

// Rows up to this run the small-m path (no panels).
inline constexpr int64_t kFloatSmallM = 8;  // 4-row passes over W; at 16 the panel GEMM was faster (measured)
// Row stride (floats) of the zero-padded fp32 copy of x in the small-m path.
inline size_t SmallMRowStride(size_t k) { return (k + 15) / 16 * 16 + 16; }
inline size_t SmallMRows(size_t rows) { return (rows + 3) / 4 * 4; }

void FloatMatmulRun(const FloatRunArgs& args);

}  // namespace mc2::kernels
