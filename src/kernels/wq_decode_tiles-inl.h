// Per-target register tiles of the multi-row decode block path (wq_matmul_decode.cc): fp32 dot
// products and outer products over a block of dequantized weight columns held in L1. Included by
// wq_matmul_decode.cc once per Highway target.
#if defined(MC2_KERNELS_WQ_DECODE_TILES_INL_H_) == defined(HWY_TARGET_TOGGLE)
#ifdef MC2_KERNELS_WQ_DECODE_TILES_INL_H_
#undef MC2_KERNELS_WQ_DECODE_TILES_INL_H_
#else
#define MC2_KERNELS_WQ_DECODE_TILES_INL_H_
#endif

#include <cstddef>
#include <cstdint>

#include "kernels/matmul_simd-inl.h"
#include "kernels/wq_matmul_kernels.h"

HWY_BEFORE_NAMESPACE();
namespace mc2::kernels {
namespace HWY_NAMESPACE {

// out[r][c] += dot(x row r, w column c) over `len` elements, for MR (1..4) rows and 2 columns.
// Written out by hand: GCC keeps an array-of-vectors tile in memory when MR is 4.
template <size_t MR>
HWY_INLINE void DotTile(const float* HWY_RESTRICT x, int64_t ldx, const float* HWY_RESTRICT w0,
                        const float* HWY_RESTRICT w1, int64_t len, float* out, int64_t ldo) {
  const DF df;
  const int64_t N = static_cast<int64_t>(hn::Lanes(df));
  VF a00 = hn::Zero(df), a01 = hn::Zero(df), a10 = hn::Zero(df), a11 = hn::Zero(df);
  VF a20 = hn::Zero(df), a21 = hn::Zero(df), a30 = hn::Zero(df), a31 = hn::Zero(df);
  const float* x0 = x;
  const float* x1 = x + ldx;
  const float* x2 = x + 2 * ldx;
  const float* x3 = x + 3 * ldx;
  for (int64_t p = 0; p < len; p += N) {
    const VF b0 = hn::Load(df, w0 + p);
    const VF b1 = hn::Load(df, w1 + p);
    VF xv = hn::LoadU(df, x0 + p);
    a00 = hn::MulAdd(xv, b0, a00);
    a01 = hn::MulAdd(xv, b1, a01);
    if constexpr (MR > 1) {
      xv = hn::LoadU(df, x1 + p);
      a10 = hn::MulAdd(xv, b0, a10);
      a11 = hn::MulAdd(xv, b1, a11);
    }
    if constexpr (MR > 2) {
      xv = hn::LoadU(df, x2 + p);
      a20 = hn::MulAdd(xv, b0, a20);
      a21 = hn::MulAdd(xv, b1, a21);
    }
    if constexpr (MR > 3) {
      xv = hn::LoadU(df, x3 + p);
      a30 = hn::MulAdd(xv, b0, a30);
      a31 = hn::MulAdd(xv, b1, a31);
    }
  }
  out[0] += hn::GetLane(hn::SumOfLanes(df, a00));
  out[1] += hn::GetLane(hn::SumOfLanes(df, a01));
  if constexpr (MR > 1) {
    out[ldo] += hn::GetLane(hn::SumOfLanes(df, a10));
    out[ldo + 1] += hn::GetLane(hn::SumOfLanes(df, a11));
  }
  if constexpr (MR > 2) {
    out[2 * ldo] += hn::GetLane(hn::SumOfLanes(df, a20));
    out[2 * ldo + 1] += hn::GetLane(hn::SumOfLanes(df, a21));
  }
  if constexpr (MR > 3) {
    out[3 * ldo] += hn::GetLane(hn::SumOfLanes(df, a30));
    out[3 * ldo + 1] += hn::GetLane(hn::SumOfLanes(df, a31));
  }
}

// out[c][0 .. 2N) = sum_p w_c[p] * xt[p][0 .. 2N) for 6 dequantized columns (w_c = w + c * ldw)
// against 2N rows of x^T: the GEMM micro-kernel's 6 x 2-vector shape with W as the broadcast
// operand, so 12 FMAs cost 2 vector loads and 6 broadcasts.
HWY_INLINE void OuterTile6(const float* HWY_RESTRICT w, size_t ldw, const float* HWY_RESTRICT xt, size_t ldt,
                           size_t len, float* HWY_RESTRICT out) {
  const DF df;
  const size_t N = hn::Lanes(df);
  VF c00 = hn::Zero(df), c01 = hn::Zero(df), c10 = hn::Zero(df), c11 = hn::Zero(df);
  VF c20 = hn::Zero(df), c21 = hn::Zero(df), c30 = hn::Zero(df), c31 = hn::Zero(df);
  VF c40 = hn::Zero(df), c41 = hn::Zero(df), c50 = hn::Zero(df), c51 = hn::Zero(df);
  for (size_t p = 0; p < len; ++p) {
    const VF b0 = hn::LoadU(df, xt + p * ldt);
    const VF b1 = hn::LoadU(df, xt + p * ldt + N);
    VF a = hn::Set(df, w[p]);
    c00 = hn::MulAdd(a, b0, c00);
    c01 = hn::MulAdd(a, b1, c01);
    a = hn::Set(df, w[ldw + p]);
    c10 = hn::MulAdd(a, b0, c10);
    c11 = hn::MulAdd(a, b1, c11);
    a = hn::Set(df, w[2 * ldw + p]);
    c20 = hn::MulAdd(a, b0, c20);
    c21 = hn::MulAdd(a, b1, c21);
    a = hn::Set(df, w[3 * ldw + p]);
    c30 = hn::MulAdd(a, b0, c30);
    c31 = hn::MulAdd(a, b1, c31);
    a = hn::Set(df, w[4 * ldw + p]);
    c40 = hn::MulAdd(a, b0, c40);
    c41 = hn::MulAdd(a, b1, c41);
    a = hn::Set(df, w[5 * ldw + p]);
    c50 = hn::MulAdd(a, b0, c50);
    c51 = hn::MulAdd(a, b1, c51);
  }
  const size_t ld = 2 * N;
  hn::StoreU(c00, df, out);
  hn::StoreU(c01, df, out + N);
  hn::StoreU(c10, df, out + ld);
  hn::StoreU(c11, df, out + ld + N);
  hn::StoreU(c20, df, out + 2 * ld);
  hn::StoreU(c21, df, out + 2 * ld + N);
  hn::StoreU(c30, df, out + 3 * ld);
  hn::StoreU(c31, df, out + 3 * ld + N);
  hn::StoreU(c40, df, out + 4 * ld);
  hn::StoreU(c41, df, out + 4 * ld + N);
  hn::StoreU(c50, df, out + 5 * ld);
  hn::StoreU(c51, df, out + 5 * ld + N);
}

// out[c][0 .. N) = sum_p w_c[p] * xt[p][0 .. N) for all 12 dequantized columns against one vector
// of rows of x^T: the tile for rows <= N (m <= 16 on AVX-512), where the 6 x 2-vector tile would
// spend half its FMAs on zero rows (measured: m = 16 ran at ~45 GFLOP/s that way). 12 FMAs cost 1
// vector load and 12 broadcasts.
HWY_INLINE void OuterTile12(const float* HWY_RESTRICT w, size_t ldw, const float* HWY_RESTRICT xt, size_t ldt,
                            size_t len, float* HWY_RESTRICT out) {
  static_assert(kDecodeCols == 12, "OuterTile12 covers the whole column block");
  const DF df;
  const size_t N = hn::Lanes(df);
  VF c0 = hn::Zero(df), c1 = hn::Zero(df), c2 = hn::Zero(df), c3 = hn::Zero(df);
  VF c4 = hn::Zero(df), c5 = hn::Zero(df), c6 = hn::Zero(df), c7 = hn::Zero(df);
  VF c8 = hn::Zero(df), c9 = hn::Zero(df), c10 = hn::Zero(df), c11 = hn::Zero(df);
  for (size_t p = 0; p < len; ++p) {
    const VF b = hn::LoadU(df, xt + p * ldt);
    c0 = hn::MulAdd(hn::Set(df, w[p]), b, c0);
    c1 = hn::MulAdd(hn::Set(df, w[ldw + p]), b, c1);
    c2 = hn::MulAdd(hn::Set(df, w[2 * ldw + p]), b, c2);
    c3 = hn::MulAdd(hn::Set(df, w[3 * ldw + p]), b, c3);
    c4 = hn::MulAdd(hn::Set(df, w[4 * ldw + p]), b, c4);
    c5 = hn::MulAdd(hn::Set(df, w[5 * ldw + p]), b, c5);
    c6 = hn::MulAdd(hn::Set(df, w[6 * ldw + p]), b, c6);
    c7 = hn::MulAdd(hn::Set(df, w[7 * ldw + p]), b, c7);
    c8 = hn::MulAdd(hn::Set(df, w[8 * ldw + p]), b, c8);
    c9 = hn::MulAdd(hn::Set(df, w[9 * ldw + p]), b, c9);
    c10 = hn::MulAdd(hn::Set(df, w[10 * ldw + p]), b, c10);
    c11 = hn::MulAdd(hn::Set(df, w[11 * ldw + p]), b, c11);
  }
  hn::StoreU(c0, df, out);
  hn::StoreU(c1, df, out + N);
  hn::StoreU(c2, df, out + 2 * N);
  hn::StoreU(c3, df, out + 3 * N);
  hn::StoreU(c4, df, out + 4 * N);
  hn::StoreU(c5, df, out + 5 * N);
  hn::StoreU(c6, df, out + 6 * N);
  hn::StoreU(c7, df, out + 7 * N);
  hn::StoreU(c8, df, out + 8 * N);
  hn::StoreU(c9, df, out + 9 * N);
  hn::StoreU(c10, df, out + 10 * N);
  hn::StoreU(c11, df, out + 11 * N);
}

}  // namespace HWY_NAMESPACE
}  // namespace mc2::kernels
HWY_AFTER_NAMESPACE();

#endif  // MC2_KERNELS_WQ_DECODE_TILES_INL_H_
