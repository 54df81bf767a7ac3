// What w8a8.cc hands to the per-target code in w8a8_kernel.cc (internal to the W8A8 kernel).
#pragma once

#include <cstdint>

namespace mc2::kernels::w8a8 {

inline constexpr int kPanelCols = 16;  // columns per packed weight panel
inline constexpr int kMaxRowsPerTile = 12;  // the largest MR of any target (AVX-512)

struct Job {
  const int8_t* x = nullptr;
  int64_t m = 0, k = 0, n = 0, ldx = 0, ldo = 0;
  int64_t k_pairs = 0, panels = 0;
  const int16_t* packed = nullptr;  // [panels][k_pairs][16][2]
  // Arm hosts with the dot-product extension (SDOT) only: the weights as int8 quads, and k / 4
  // rounded up. The NEON target then packs x as [k_quads][MR] words of 4 int8 and runs SDOT.
  const int8_t* packed_q = nullptr;  // [panels][k_quads][16][4]
  int64_t k_quads = 0;
  const int32_t* bias = nullptr;    // [panels * 16]
  const float* scale = nullptr;     // [panels * 16]
  const float* token_scale = nullptr;
  int out_kind = 0;  // 0 fp32, 1 fp16, 2 bf16
  void* out = nullptr;
  int32_t* a_packed = nullptr;  // workspace: [m blocks][k_pairs][MR] int16 pairs
};

}  // namespace mc2::kernels::w8a8

namespace mc2::kernels::w8a8 {

// Per-target entry points (w8a8_kernel.cc), dispatched to the best target of this CPU.
int RowsPerTile();  // MR of the dispatched micro-kernel; the workspace layout depends on it
void PackA(const Job& job, int64_t block_begin, int64_t block_end);
void Compute(const Job& job, int64_t block_begin, int64_t block_end, int64_t panel_begin,
             int64_t panel_end);
const char* TargetName();

}  // namespace mc2::kernels::w8a8
