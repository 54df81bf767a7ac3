// Per-target fp32 GEMM over packed operands: the compute core of the prefill weight-quantized path
// and of the float matmul. C (fp32) = A (rows x k) * B (k x n), with
//   A packed once per call as [ceil(rows / 6)][k][6] fp32 (6 rows interleaved, zero padded),
//   B packed per (KC x NC) panel by a caller-supplied functor (dequantization or fp16/bf16
//   conversion happens there, once per panel, amortised over all rows),
//   C accumulated in a (rows_pad x NC) fp32 buffer, handed to an epilogue functor per NC panel.
//
// Why this shape (Zen3 numbers, AVX2: 16 ymm registers, 2 FMA pipes, L1d 32 KiB, L2 512 KiB):
//   - micro-tile 6 x 16 (MR x NR, NR = 2 vectors): 12 accumulators + 2 B vectors + 1 broadcast A
//     = 15 registers; 12 FMAs per 2 vector loads + 6 broadcasts, so the FMA pipes, not the load
//     ports, are the limit (peak ~99 GFLOP/s at 3.1 GHz).
//   - KC = 256: a B micro-panel (KC x NR x 4 B = 16 KiB) stays in L1 while the MC rows of A stream
//     past it; MC = 96 rows of A (96 KiB) and the B panel (KC x NC x 4 B = 192 KiB) share L2.
//   - NC = 192 is a multiple of 32, the column block of the weight formats and of task ranges.
// The packed-B layout is [NC / NR][KC][NR]: the micro-kernel reads it sequentially.
#if defined(MC2_KERNELS_MATMUL_GEMM_INL_H_) == defined(HWY_TARGET_TOGGLE)
#ifdef MC2_KERNELS_MATMUL_GEMM_INL_H_
#undef MC2_KERNELS_MATMUL_GEMM_INL_H_
#else
#define MC2_KERNELS_MATMUL_GEMM_INL_H_
#endif

#include <cstddef>
#include <cstring>

#include "kernels/matmul_gemm_blocking.h"
#include "kernels/matmul_simd-inl.h"

HWY_BEFORE_NAMESPACE();
namespace mc2::kernels {
namespace HWY_NAMESPACE {

// Lanes in one NR half of the micro-tile.
HWY_INLINE size_t GemmNr() { return 2 * hn::Lanes(DF()); }

// C[6][NR] (+)= sum_p A[p][0..6) x B[p][0..NR).
HWY_INLINE void MicroKernel6(const float* HWY_RESTRICT a, const float* HWY_RESTRICT b, size_t kc,
                             float* HWY_RESTRICT c, size_t ldc, bool accumulate) {
  const DF df;
  const size_t N = hn::Lanes(df);
  VF c00 = hn::Zero(df), c01 = hn::Zero(df), c10 = hn::Zero(df), c11 = hn::Zero(df);
  VF c20 = hn::Zero(df), c21 = hn::Zero(df), c30 = hn::Zero(df), c31 = hn::Zero(df);
  VF c40 = hn::Zero(df), c41 = hn::Zero(df), c50 = hn::Zero(df), c51 = hn::Zero(df);
  for (size_t p = 0; p < kc; ++p) {
    const VF b0 = hn::Load(df, b);
    const VF b1 = hn::Load(df, b + N);
    VF av = hn::Set(df, a[0]);
    c00 = hn::MulAdd(av, b0, c00);
    c01 = hn::MulAdd(av, b1, c01);
    av = hn::Set(df, a[1]);
    c10 = hn::MulAdd(av, b0, c10);
    c11 = hn::MulAdd(av, b1, c11);
    av = hn::Set(df, a[2]);
    c20 = hn::MulAdd(av, b0, c20);
    c21 = hn::MulAdd(av, b1, c21);
    av = hn::Set(df, a[3]);
    c30 = hn::MulAdd(av, b0, c30);
    c31 = hn::MulAdd(av, b1, c31);
    av = hn::Set(df, a[4]);
    c40 = hn::MulAdd(av, b0, c40);
    c41 = hn::MulAdd(av, b1, c41);
    av = hn::Set(df, a[5]);
    c50 = hn::MulAdd(av, b0, c50);
    c51 = hn::MulAdd(av, b1, c51);
    a += kGemmMr;
    b += 2 * N;
  }
  float* c0 = c;
  float* c1 = c + ldc;
  float* c2 = c + 2 * ldc;
  float* c3 = c + 3 * ldc;
  float* c4 = c + 4 * ldc;
  float* c5 = c + 5 * ldc;
  if (accumulate) {
    c00 = hn::Add(c00, hn::Load(df, c0));
    c01 = hn::Add(c01, hn::Load(df, c0 + N));
    c10 = hn::Add(c10, hn::Load(df, c1));
    c11 = hn::Add(c11, hn::Load(df, c1 + N));
    c20 = hn::Add(c20, hn::Load(df, c2));
    c21 = hn::Add(c21, hn::Load(df, c2 + N));
    c30 = hn::Add(c30, hn::Load(df, c3));
    c31 = hn::Add(c31, hn::Load(df, c3 + N));
    c40 = hn::Add(c40, hn::Load(df, c4));
    c41 = hn::Add(c41, hn::Load(df, c4 + N));
    c50 = hn::Add(c50, hn::Load(df, c5));
    c51 = hn::Add(c51, hn::Load(df, c5 + N));
  }
  hn::Store(c00, df, c0);
  hn::Store(c01, df, c0 + N);
  hn::Store(c10, df, c1);
  hn::Store(c11, df, c1 + N);
  hn::Store(c20, df, c2);
  hn::Store(c21, df, c2 + N);
  hn::Store(c30, df, c3);
  hn::Store(c31, df, c3 + N);
  hn::Store(c40, df, c4);
  hn::Store(c41, df, c4 + N);
  hn::Store(c50, df, c5);
  hn::Store(c51, df, c5 + N);
}

// Packs `rows` rows of A (row r at src + r * lda elements of `dtype`) into [rows_pad / 6][k][6].
// `tmp` holds 6 * k floats.
HWY_INLINE void PackA(const void* src, DType dtype, size_t lda, size_t rows, size_t k, float* dst,
                      float* tmp) {
  const size_t esize = dtype == DType::kFloat32 ? 4 : 2;
  const size_t rows_pad = GemmRowsPadded(rows);
  for (size_t ib = 0; ib < rows_pad; ib += kGemmMr) {
    for (size_t i = 0; i < kGemmMr; ++i) {
      if (ib + i < rows) {
        RowToF32(static_cast<const uint8_t*>(src) + (ib + i) * lda * esize, dtype, k, tmp + i * k);
      } else {
        std::memset(tmp + i * k, 0, k * sizeof(float));
      }
    }
    float* out = dst + ib * k;
    for (size_t p = 0; p < k; ++p) {
      for (size_t i = 0; i < kGemmMr; ++i) out[p * kGemmMr + i] = tmp[i * k + p];
    }
  }
}

// Runs the blocked GEMM over output columns [n0, n1) for all packed rows.
//   pack_b(pc, kc, jc, nc_pad, panel): writes B[pc .. pc+kc) x [jc .. jc+nc_pad) as [nc_pad/NR][kc][NR].
//   epilogue(jc, nc, c): c holds rows_pad x kGemmNc fp32 (row stride kGemmNc) for columns jc..jc+nc.
template <class PackB, class Epilogue>
HWY_INLINE void GemmPacked(const float* a_packed, size_t rows, size_t k, size_t n0, size_t n1,
                           const PackB& pack_b, float* b_panel, float* c_buf, const Epilogue& epilogue) {
  const size_t nr = GemmNr();
  const size_t rows_pad = GemmRowsPadded(rows);
  for (size_t jc = n0; jc < n1; jc += kGemmNc) {
    const size_t nc = n1 - jc < kGemmNc ? n1 - jc : kGemmNc;
    const size_t nc_pad = (nc + nr - 1) / nr * nr;
    if (k == 0) std::memset(c_buf, 0, rows_pad * kGemmNc * sizeof(float));
    for (size_t pc = 0; pc < k; pc += kGemmKc) {
      const size_t kc = k - pc < kGemmKc ? k - pc : kGemmKc;
      pack_b(pc, kc, jc, nc_pad, b_panel);
      for (size_t ic = 0; ic < rows_pad; ic += kGemmMc) {
        const size_t ic_end = ic + kGemmMc < rows_pad ? ic + kGemmMc : rows_pad;
        for (size_t jr = 0; jr < nc_pad; jr += nr) {
          for (size_t ir = ic; ir < ic_end; ir += kGemmMr) {
            MicroKernel6(a_packed + ir * k + pc * kGemmMr, b_panel + jr * kc, kc, c_buf + ir * kGemmNc + jr,
                         kGemmNc, pc > 0);
          }
        }
      }
    }
    epilogue(jc, nc, c_buf);
  }
}

}  // namespace HWY_NAMESPACE
}  // namespace mc2::kernels
HWY_AFTER_NAMESPACE();

#endif  // MC2_KERNELS_MATMUL_GEMM_INL_H_
