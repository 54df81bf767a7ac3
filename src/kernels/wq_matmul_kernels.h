// The per-target entry points of the weight-quantized matmul (dispatched with Highway) and the
// scratch they need. Internal to wq_matmul*.cc; callers use wq_matmul.h.
#pragma once

#include <cstddef>
#include <cstdint>

#include "core/dtype.h"
#include "kernels/wq_matmul.h"

namespace mc2::kernels {

// Decode: k-elements per packed chunk, and k per dequantized block of the multi-row path.
inline constexpr int64_t kWqChunk = 32;
// Decode, int4: k-elements per packed chunk (64 bytes; layout in PackWeights).
inline constexpr int64_t kWqInt4DecodeChunk = 128;
// Multi-row decode: k per dequantized block and columns dequantized together (a multiple of 6
// and of 2). A block of x (16 rows x 128 x 4 B = 8 KiB) and of W (12 x 128 x 4 B = 6 KiB) fit L1.
inline constexpr int64_t kDecodeKb = 128;
inline constexpr int64_t kDecodeCols = 12;
// From this many rows the multi-row decode uses the outer-product tile.
inline constexpr int64_t kDecodeOuterMinRows = 5;
// int8 decode with bf16 activations runs on vdpbf16ps (wq_decode_bf16.h) up to this many rows.
inline constexpr int64_t kInt8Bf16MaxRows = 8;
// Row stride of the fp32 copy of x in the decode scratch.
inline int64_t XStride(int64_t k_pad) { return k_pad + 16; }

// One call over rows [0, rows) of x / y (already offset to the range's first row) and columns
// [n0, n1) (absolute).
struct WqRunArgs {
  const WqPackedWeights* packed = nullptr;
  DType act_dtype = DType::kFloat16;
  bool has_offset = false;
  bool int4 = false;
  const void* x = nullptr;
  int64_t x_stride = 0;
  int64_t rows = 0;
  int64_t n0 = 0, n1 = 0;
  const void* bias = nullptr;
  DType bias_dtype = DType::kFloat32;
  void* y = nullptr;
  int64_t y_stride = 0;
  DType out_dtype = DType::kFloat16;
  uint8_t* scratch = nullptr;  // 64-byte aligned
};

size_t WqDecodeScratchBytes(int64_t rows, int64_t k_pad, int64_t n);
size_t WqPrefillScratchBytes(int64_t rows, int64_t k);

void WqDecodeRun(const WqRunArgs& args);
void WqPrefillRun(const WqRunArgs& args);

}  // namespace mc2::kernels
