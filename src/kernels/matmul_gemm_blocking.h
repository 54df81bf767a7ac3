// Cache blocking of the packed fp32 GEMM (matmul_gemm-inl.h explains the numbers) and the scratch
// it needs; target independent so plans can size workspaces without dispatching.
#pragma once

#include <cstddef>
#include <cstdint>

namespace mc2::kernels {

inline constexpr size_t kGemmMr = 6;     // rows per micro-tile
inline constexpr size_t kGemmNrMax = 32; // 2 vectors of at most 16 fp32 lanes
inline constexpr size_t kGemmKc = 256;   // k per B panel
inline constexpr size_t kGemmNc = 192;   // columns per B panel (multiple of kGemmNrMax)
inline constexpr size_t kGemmMc = 96;    // rows of A per L2 block (multiple of kGemmMr)

inline size_t GemmRowsPadded(size_t rows) { return (rows + kGemmMr - 1) / kGemmMr * kGemmMr; }
inline size_t AlignUp64(size_t bytes) { return (bytes + 63) / 64 * 64; }

// Scratch of one GEMM call over `rows` rows and depth k, carved as [A packed][A tmp][B panel][C].
struct GemmScratch {
  size_t a_packed = 0, a_tmp = 0, b_panel = 0, c_buf = 0, total = 0;
  static GemmScratch For(size_t rows, size_t k) {
    GemmScratch s;
    s.a_packed = 0;
    s.a_tmp = AlignUp64(GemmRowsPadded(rows) * k * sizeof(float));
    s.b_panel = s.a_tmp + AlignUp64(kGemmMr * k * sizeof(float));
    s.c_buf = s.b_panel + AlignUp64(kGemmKc * kGemmNc * sizeof(float));
    s.total = s.c_buf + AlignUp64(GemmRowsPadded(rows) * kGemmNc * sizeof(float));
    return s;
  }
};

}  // namespace mc2::kernels
