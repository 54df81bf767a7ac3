// W8A8 matmul: int8 activations x int8 weights -> int32, dequantized to fp16 / bf16 / fp32
// (spec 4.5, LinearParallel W8A8):
//   out[i][j] = rint_out( float(acc[i][j] + bias[j]) * scale[j] * token_scale[i] )
//   acc[i][j] = sum_kk x[i][kk] * w[kk][j]   exactly, in int32 (wrapping like the hardware's int32
//                                             accumulator; |acc| < 2^31 needs k < 131072)
// bias: int32, absent / per-tensor / per-channel. scale (deqScale): fp32, or int64 whose low 32
// bits are the fp32 bits; per-tensor or per-channel. With an int64 scale and fp16 output the
// low 13 mantissa bits of the scale are cleared first, as the hardware does. token_scale
// (per-token, fp32 [m]) is optional. Rounding to fp16 / bf16 is RNE.
//
// Weights: (k, n) row-major, its transpose (n, k), or int8 FRACTAL_NZ (c0 = 32) of either (spec
// 4.6). They are repacked once, at plan time, into 16-column panels of int16 pairs (w8a8_kernel.cc
// says why); Execute takes the activations and a caller-provided workspace and allocates nothing.
#pragma once

#include <cstddef>
#include <cstdint>

#include "core/dtype.h"
#include "core/status.h"
#include "core/status_or.h"
#include "core/thread_pool.h"
#include "hwy/aligned_allocator.h"

namespace mc2::kernels {

struct W8A8Weight {
  const int8_t* data = nullptr;
  int64_t k = 0;
  int64_t n = 0;
  bool transposed = false;  // data holds the (n, k) matrix
  bool nz = false;          // FRACTAL_NZ, c0 = 32, rows padded to 16
  int64_t ld = 0;           // ND row stride in elements; 0 = dense (n, or k when transposed)
};

struct W8A8Quant {
  const int32_t* bias = nullptr;  // nullptr, or bias_count values
  int64_t bias_count = 0;         // 1 (per-tensor) or n (per-channel)
  const void* scale = nullptr;    // scale_count values of scale_dtype
  DType scale_dtype = DType::kFloat32;  // kFloat32 or kInt64 (fp32 bits in the low 32 bits)
  int64_t scale_count = 1;              // 1 or n
  DType out_dtype = DType::kFloat16;    // kFloat16, kBFloat16 or kFloat32
};

class W8A8Plan {
 public:
  // Validates, decodes bias and scale into per-column arrays, packs the weights.
  static StatusOr<W8A8Plan> Create(const W8A8Weight& weight, const W8A8Quant& quant);

  int64_t k() const { return k_; }
  int64_t n() const { return n_; }
  DType out_dtype() const { return out_dtype_; }

  // Workspace Execute needs for m rows (the activations repacked as int16 pairs).
  size_t WorkspaceBytes(int64_t m) const;

  // x: (m, k) int8 with row stride ldx (0 = k); token_scale: fp32 [m] or nullptr;
  // out: (m, n) of out_dtype with row stride ldo (0 = n). Tiles split across `pool` if given.
  Status Execute(const int8_t* x, int64_t m, int64_t ldx, const float* token_scale, void* out,
                 int64_t ldo, void* workspace, size_t workspace_bytes, ThreadPool* pool = nullptr) const;

 private:
  int64_t k_ = 0, n_ = 0, k_pairs_ = 0, k_quads_ = 0, panels_ = 0;
  DType out_dtype_ = DType::kFloat16;
  hwy::AlignedFreeUniquePtr<int16_t[]> packed_;  // [panels][k_pairs][16][2]
  hwy::AlignedFreeUniquePtr<int8_t[]> packed_q_;  // [panels][k_quads][16][4], Arm SDOT hosts only
  hwy::AlignedFreeUniquePtr<int32_t[]> bias_;    // [panels * 16], zero-padded
  hwy::AlignedFreeUniquePtr<float[]> scale_;     // [panels * 16], zero-padded
};

// The scalar reference: the formula above one element at a time (int32 wrapping accumulation).
Status W8A8Scalar(const W8A8Weight& weight, const W8A8Quant& quant, const int8_t* x, int64_t m,
                  int64_t ldx, const float* token_scale, void* out, int64_t ldo);

// Highway target the W8A8 micro-kernel dispatches to on this CPU.
const char* W8A8Target();

}  // namespace mc2::kernels
