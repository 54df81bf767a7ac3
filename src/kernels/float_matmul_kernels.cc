// Per-target body of the float (fp16 / bf16) batched matmul: convert panels of W to fp32 and run
// the packed GEMM of matmul_gemm-inl.h (why that GEMM is shaped as it is: see there).
//
// B-panel conversion, once per KC x NC panel per call (so a call of few rows pays it in full: the
// chunked prefill of LinearParallel and MoE's expert blocks run 64-128 rows per call).
// (k, n) storage: the panel is filled row by row of W (NC contiguous values widened with vector
// loads), W rows 16 ahead prefetched: rows are n apart, and without the prefetch the packing was
// bound by memory latency (~20 ms per call at k = n = 4096: m = 64 ran at 53 GFLOP/s, now 70-90).
// (n, k) storage: NR rows of W are widened along k into a [NR][KC] block (vector loads, the next
// micro-panel's rows prefetched), then transposed into the [KC][NR] micro-panel by 4 x 4 tiles of
// 128-bit vectors (m = 64: 51 -> 74 GFLOP/s; the scalar copy cost ~5 ms per call at 4096 x 4096).
//
// Up to 8 rows skip the panels (SmallM below): converting a whole 4096 x 4096 W to fp32 panels cost
// 17 ms at m = 1 (0.56x OpenBLAS) when the packing waited on memory, ~5 ms since, against ~2-3 ms
// for a register tile straight on the fp16 weight.
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "kernels/float_matmul_kernels.cc"
#include "hwy/foreach_target.h"  // IWYU pragma: keep

#include "hwy/cache_control.h"
#include "hwy/highway.h"
#include "kernels/float_matmul_run.h"
#include "kernels/matmul_gemm-inl.h"
#include "kernels/matmul_simd-inl.h"

HWY_BEFORE_NAMESPACE();
namespace mc2::kernels {
namespace HWY_NAMESPACE {

namespace {

// Rows of W ahead of the (k, n) B-panel packing that are prefetched (see pack_b; 8 and 32 measured
// no better, none 1.5-2x slower at 64-128 rows).
constexpr size_t kPackAhead = 16;
// Elements of an (n, k) weight row ahead of the small-m dot-product tiles that are prefetched.
constexpr size_t kNkAhead = 2048;

// dst[p * nr + jj] = src[jj * kc + p] for p < kc, jj < nr: the [NR][KC] block of converted W rows
// as the [KC][NR] micro-panel. 4 x 4 tiles of 128-bit vectors (two rounds of interleaves), 16
// loads / shuffles / stores per 16 values where the scalar copy takes 32 loads and stores; at
// k = n = 4096 the scalar copy cost ~5 ms per call, a fifth of a 64-row GEMM (measured).
HWY_INLINE void TransposeToMicroPanel(const float* HWY_RESTRICT src, size_t kc, size_t nr, float* HWY_RESTRICT dst) {
  size_t p0 = 0;
#if HWY_TARGET != HWY_SCALAR
  if (nr % 4 == 0) {
    const hn::Full128<float> d;
    const hn::Repartition<uint64_t, decltype(d)> du;
    for (; p0 + 4 <= kc; p0 += 4) {
      for (size_t jj = 0; jj < nr; jj += 4) {
        const float* s = src + jj * kc + p0;
        const auto r0 = hn::LoadU(d, s);
        const auto r1 = hn::LoadU(d, s + kc);
        const auto r2 = hn::LoadU(d, s + 2 * kc);
        const auto r3 = hn::LoadU(d, s + 3 * kc);
        const auto t0 = hn::BitCast(du, hn::InterleaveLower(d, r0, r1));  // r0[0] r1[0] r0[1] r1[1]
        const auto t1 = hn::BitCast(du, hn::InterleaveLower(d, r2, r3));  // r2[0] r3[0] r2[1] r3[1]
        const auto t2 = hn::BitCast(du, hn::InterleaveUpper(d, r0, r1));  // r0[2] r1[2] r0[3] r1[3]
        const auto t3 = hn::BitCast(du, hn::InterleaveUpper(d, r2, r3));
        float* o = dst + p0 * nr + jj;
        hn::StoreU(hn::BitCast(d, hn::InterleaveLower(du, t0, t1)), d, o);           // column p0
        hn::StoreU(hn::BitCast(d, hn::InterleaveUpper(du, t0, t1)), d, o + nr);      // p0 + 1
        hn::StoreU(hn::BitCast(d, hn::InterleaveLower(du, t2, t3)), d, o + 2 * nr);  // p0 + 2
        hn::StoreU(hn::BitCast(d, hn::InterleaveUpper(du, t2, t3)), d, o + 3 * nr);  // p0 + 3
      }
    }
  }
#endif
  for (size_t p = p0; p < kc; ++p) {
    for (size_t jj = 0; jj < nr; ++jj) dst[p * nr + jj] = src[jj * kc + p];
  }
}

// Small m (<= kFloatSmallM rows): no panels. Rows are taken 4 at a time straight against the
// fp16 / bf16 weight, so W is read once per 4 rows and the conversion is in registers.
//   (k, n) storage: a 4-row x 2-vector tile of outputs walks down k; each step loads 2N weights of
//   one W row and broadcasts 4 activations (outer product).
//   (n, k) storage: a 4-row x 2-column tile of dot products along k.
// Accumulators are separate variables (an array tile is kept in memory by GCC).
// Adds rows [kk0, kk1) of W times x to the 4 x 2N accumulator tile at `acc` (row stride ld).
// Called for 8 rows of W at a time across all column strips, so W is read row by row: walking
// one strip down all of k read 32 bytes every 8 KiB (one DRAM page and one L1 set per access) and
// ran at 0.8 ns per weight.
template <size_t MR>
void SmallTileKn(const FloatRunArgs& a, const float* x32, size_t ldx, size_t r0, size_t j, size_t kk0,
                 size_t kk1, float* acc, size_t ld) {
  const DF df;
  const size_t N = hn::Lanes(df);
  const size_t n = static_cast<size_t>(a.n);
  const size_t c0 = n - j < N ? n - j : N;
  const size_t c1 = j + N >= n ? 0 : (n - j - N < N ? n - j - N : N);
  VF a00 = hn::LoadU(df, acc), a01 = hn::LoadU(df, acc + N);
  VF a10 = hn::LoadU(df, acc + ld), a11 = hn::LoadU(df, acc + ld + N);
  VF a20 = hn::LoadU(df, acc + 2 * ld), a21 = hn::LoadU(df, acc + 2 * ld + N);
  VF a30 = hn::LoadU(df, acc + 3 * ld), a31 = hn::LoadU(df, acc + 3 * ld + N);
  const uint16_t* w = static_cast<const uint16_t*>(a.w);
  const float* x = x32 + r0 * ldx;
  for (size_t kk = kk0; kk < kk1; ++kk) {
    const uint16_t* row = w + kk * static_cast<size_t>(a.w_stride);
    const VF b0 = LoadAsF32(df, row, a.w_dtype, j, c0);
    const VF b1 = c1 == 0 ? hn::Zero(df) : LoadAsF32(df, row, a.w_dtype, j + N, c1);
    VF xv = hn::Set(df, x[kk]);
    a00 = hn::MulAdd(xv, b0, a00);
    a01 = hn::MulAdd(xv, b1, a01);
    if constexpr (MR > 1) {
      xv = hn::Set(df, x[ldx + kk]);
      a10 = hn::MulAdd(xv, b0, a10);
      a11 = hn::MulAdd(xv, b1, a11);
    }
    if constexpr (MR > 2) {
      xv = hn::Set(df, x[2 * ldx + kk]);
      a20 = hn::MulAdd(xv, b0, a20);
      a21 = hn::MulAdd(xv, b1, a21);
    }
    if constexpr (MR > 3) {
      xv = hn::Set(df, x[3 * ldx + kk]);
      a30 = hn::MulAdd(xv, b0, a30);
      a31 = hn::MulAdd(xv, b1, a31);
    }
  }
  hn::StoreU(a00, df, acc);
  hn::StoreU(a01, df, acc + N);
  hn::StoreU(a10, df, acc + ld);
  hn::StoreU(a11, df, acc + ld + N);
  hn::StoreU(a20, df, acc + 2 * ld);
  hn::StoreU(a21, df, acc + 2 * ld + N);
  hn::StoreU(a30, df, acc + 3 * ld);
  hn::StoreU(a31, df, acc + 3 * ld + N);
}

// kW: the weight dtype as a constant, so the loads compile without dtype or length checks (with
// them, GCC spilled an accumulator in the loop). The (n, k) rows are streamed with a prefetch
// kNkAhead elements (4 KiB) ahead: 4 and 8 rows at n = k = 4096 (fp16) ran 27-33 GFLOP/s
// before these two changes, 36-46 after (noisy host).
template <size_t MR, DType kW>
void SmallTileNkT(const FloatRunArgs& a, const float* x32, size_t ldx, size_t r0, size_t j, float* out) {
  const DF df;
  const size_t N = hn::Lanes(df);
  const size_t k = static_cast<size_t>(a.k);
  const bool has1 = j + 1 < static_cast<size_t>(a.n);
  const uint16_t* w0 = static_cast<const uint16_t*>(a.w) + j * static_cast<size_t>(a.w_stride);
  const uint16_t* w1 = has1 ? w0 + a.w_stride : w0;
  VF a00 = hn::Zero(df), a01 = hn::Zero(df), a10 = hn::Zero(df), a11 = hn::Zero(df);
  VF a20 = hn::Zero(df), a21 = hn::Zero(df), a30 = hn::Zero(df), a31 = hn::Zero(df);
  const float* x = x32 + r0 * ldx;
  // Rows of x are zero padded past k, so the partial last step reads them whole.
#define MC2_NK_STEP(B0, B1)                        \
  {                                                \
    const VF b0 = (B0), b1 = (B1);                 \
    VF xv = hn::LoadU(df, x + p);                  \
    a00 = hn::MulAdd(xv, b0, a00);                 \
    a01 = hn::MulAdd(xv, b1, a01);                 \
    if constexpr (MR > 1) {                        \
      xv = hn::LoadU(df, x + ldx + p);             \
      a10 = hn::MulAdd(xv, b0, a10);               \
      a11 = hn::MulAdd(xv, b1, a11);               \
    }                                              \
    if constexpr (MR > 2) {                        \
      xv = hn::LoadU(df, x + 2 * ldx + p);         \
      a20 = hn::MulAdd(xv, b0, a20);               \
      a21 = hn::MulAdd(xv, b1, a21);               \
    }                                              \
    if constexpr (MR > 3) {                        \
      xv = hn::LoadU(df, x + 3 * ldx + p);         \
      a30 = hn::MulAdd(xv, b0, a30);               \
      a31 = hn::MulAdd(xv, b1, a31);               \
    }                                              \
  }
  size_t p = 0;
  for (; p + N <= k; p += N) {
    hwy::Prefetch(w0 + p + kNkAhead);
    hwy::Prefetch(w1 + p + kNkAhead);
    MC2_NK_STEP(LoadAsF32(df, w0, kW, p, N), LoadAsF32(df, w1, kW, p, N))
  }
  if (p < k) MC2_NK_STEP(LoadAsF32(df, w0, kW, p, k - p), LoadAsF32(df, w1, kW, p, k - p))
#undef MC2_NK_STEP
  // Named, not an array of vectors (SVE vectors cannot be array elements). Rows past MR are 0.
  out[0] = hn::GetLane(hn::SumOfLanes(df, a00));
  out[1] = hn::GetLane(hn::SumOfLanes(df, a01));
  out[2] = hn::GetLane(hn::SumOfLanes(df, a10));
  out[3] = hn::GetLane(hn::SumOfLanes(df, a11));
  out[4] = hn::GetLane(hn::SumOfLanes(df, a20));
  out[5] = hn::GetLane(hn::SumOfLanes(df, a21));
  out[6] = hn::GetLane(hn::SumOfLanes(df, a30));
  out[7] = hn::GetLane(hn::SumOfLanes(df, a31));
}

template <size_t MR>
void SmallTileNk(const FloatRunArgs& a, const float* x32, size_t ldx, size_t r0, size_t j, float* out) {
  if (a.w_dtype == DType::kBFloat16) return SmallTileNkT<MR, DType::kBFloat16>(a, x32, ldx, r0, j, out);
  SmallTileNkT<MR, DType::kFloat16>(a, x32, ldx, r0, j, out);
}

void SmallM(const FloatRunArgs& a) {
  const DF df;
  const size_t N = hn::Lanes(df);
  const size_t rows = static_cast<size_t>(a.rows);
  const size_t k = static_cast<size_t>(a.k);
  const size_t ldx = SmallMRowStride(k);
  float* x32 = reinterpret_cast<float*>(a.scratch);
  for (size_t r = 0; r < SmallMRows(rows); ++r) {
    float* xr = x32 + r * ldx;
    for (size_t i = 0; i < ldx; ++i) xr[i] = 0.0f;
    if (r < rows) RowToF32(static_cast<const uint16_t*>(a.x) + r * static_cast<size_t>(a.x_stride), a.x_dtype, k, xr);
  }
  const size_t out_size = a.out_dtype == DType::kFloat32 ? 4 : 2;
  const size_t n0 = static_cast<size_t>(a.n0), n1 = static_cast<size_t>(a.n1);
  if (!a.w_transposed) {
    // 4 rows x (n1 - n0) fp32 accumulators after the padded x copy.
    const size_t ld = (n1 - n0 + 2 * N - 1) / (2 * N) * (2 * N);
    float* acc = x32 + SmallMRows(rows) * ldx;
    for (size_t r0 = 0; r0 < rows; r0 += 4) {
      const size_t mr = rows - r0 < 4 ? rows - r0 : 4;
      for (size_t i = 0; i < 4 * ld; ++i) acc[i] = 0.0f;
      for (size_t kk0 = 0; kk0 < k; kk0 += 8) {
        const size_t kk1 = kk0 + 8 < k ? kk0 + 8 : k;
        for (size_t j = n0; j < n1; j += 2 * N) {
          float* t = acc + (j - n0);
          switch (mr) {
            case 1: SmallTileKn<1>(a, x32, ldx, r0, j, kk0, kk1, t, ld); break;
            case 2: SmallTileKn<2>(a, x32, ldx, r0, j, kk0, kk1, t, ld); break;
            case 3: SmallTileKn<3>(a, x32, ldx, r0, j, kk0, kk1, t, ld); break;
            default: SmallTileKn<4>(a, x32, ldx, r0, j, kk0, kk1, t, ld); break;
          }
        }
      }
      for (size_t r = 0; r < mr; ++r) {
        void* yr = static_cast<uint8_t*>(a.y) + ((r0 + r) * static_cast<size_t>(a.y_stride) + n0) * out_size;
        StoreRowOut(acc + r * ld, a.bias, a.bias_dtype, n0, n1 - n0, yr, a.out_dtype);
      }
    }
    return;
  }
  HWY_ALIGN float tile[8];
  for (size_t r0 = 0; r0 < rows; r0 += 4) {
    const size_t mr = rows - r0 < 4 ? rows - r0 : 4;
    for (size_t j = n0; j < n1; j += 2) {
      switch (mr) {
        case 1: SmallTileNk<1>(a, x32, ldx, r0, j, tile); break;
        case 2: SmallTileNk<2>(a, x32, ldx, r0, j, tile); break;
        case 3: SmallTileNk<3>(a, x32, ldx, r0, j, tile); break;
        default: SmallTileNk<4>(a, x32, ldx, r0, j, tile); break;
      }
      const size_t cols = n1 - j < 2 ? n1 - j : 2;
      for (size_t r = 0; r < mr; ++r) {
        void* yr = static_cast<uint8_t*>(a.y) + ((r0 + r) * static_cast<size_t>(a.y_stride) + j) * out_size;
        StoreRowOut(tile + 2 * r, a.bias, a.bias_dtype, j, cols, yr, a.out_dtype);
      }
    }
  }
}

}  // namespace

void FloatMatmulRunImpl(const FloatRunArgs& a) {
  if (a.rows <= kFloatSmallM) return SmallM(a);
  const size_t rows = static_cast<size_t>(a.rows);
  const size_t k = static_cast<size_t>(a.k);
  const size_t n = static_cast<size_t>(a.n);
  const GemmScratch layout = GemmScratch::For(rows, k);
  float* a_packed = reinterpret_cast<float*>(a.scratch + layout.a_packed);
  float* a_tmp = reinterpret_cast<float*>(a.scratch + layout.a_tmp);
  float* b_panel = reinterpret_cast<float*>(a.scratch + layout.b_panel);
  float* c_buf = reinterpret_cast<float*>(a.scratch + layout.c_buf);
  float* t_buf = reinterpret_cast<float*>(a.scratch + layout.total);  // kGemmNrMax x kGemmKc
  PackA(a.x, a.x_dtype, static_cast<size_t>(a.x_stride), rows, k, a_packed, a_tmp);

  const size_t esize = 2;
  const uint8_t* w = static_cast<const uint8_t*>(a.w);
  const size_t ldw = static_cast<size_t>(a.w_stride);
  auto pack_b = [&](size_t pc, size_t kc, size_t jc, size_t nc_pad, float* panel) {
    const DF df;
    const size_t N = hn::Lanes(df);
    const size_t nr = 2 * N;
    if (!a.w_transposed) {
      // Row by row: each row of W gives the panel nc_pad contiguous values (nc_pad / N loads from
      // one stretch of memory) scattered to the NR-wide micro-panels. Micro-panel by micro-panel
      // instead read one 64-byte piece per row, rows ldw apart (a new page each for n >= 2048):
      // latency-bound, ~20 ms per call at k = n = 4096 (1.2 ns per element), measured.
      const size_t span = (jc + nc_pad < n ? nc_pad : n - jc) * esize;  // bytes of a row in the panel
      for (size_t p = 0; p < kc; ++p) {
        const uint8_t* row = w + ((pc + p) * ldw) * esize;
        if (p + kPackAhead < kc) {
          const uint8_t* ahead = row + kPackAhead * ldw * esize + jc * esize;
          for (size_t b = 0; b < span; b += 64) hwy::Prefetch(ahead + b);
        }
        for (size_t jr = 0; jr < nc_pad; jr += nr) {
          float* dst = panel + jr * kc + p * nr;
          for (size_t h = 0; h < 2; ++h) {
            const size_t j = jc + jr + h * N;
            const size_t count = j >= n ? 0 : (n - j < N ? n - j : N);
            hn::Store(count == 0 ? hn::Zero(df) : LoadAsF32(df, row, a.w_dtype, j, count), df, dst + h * N);
          }
        }
      }
      return;
    }
    for (size_t jr = 0; jr < nc_pad; jr += nr) {
      float* dst = panel + jr * kc;
      const size_t j0 = jc + jr;
      for (size_t jj = 0; jj < nr; ++jj) {
        float* t = t_buf + jj * kc;
        // The same row of the next micro-panel: its kc values, ldw apart from its neighbours.
        if (j0 + nr + jj < n) {
          const uint8_t* ahead = w + ((j0 + nr + jj) * ldw + pc) * esize;
          for (size_t b = 0; b < kc * esize; b += 64) hwy::Prefetch(ahead + b);
        }
        if (j0 + jj < n) {
          RowToF32(w + ((j0 + jj) * ldw + pc) * esize, a.w_dtype, kc, t);
        } else {
          for (size_t p = 0; p < kc; ++p) t[p] = 0.0f;
        }
      }
      TransposeToMicroPanel(t_buf, kc, nr, dst);
    }
  };
  const size_t out_size = a.out_dtype == DType::kFloat32 ? 4 : 2;
  auto epilogue = [&](size_t jc, size_t nc, const float* c) {
    for (size_t r = 0; r < rows; ++r) {
      void* yr = static_cast<uint8_t*>(a.y) + (r * static_cast<size_t>(a.y_stride) + jc) * out_size;
      StoreRowOut(c + r * kGemmNc, a.bias, a.bias_dtype, jc, nc, yr, a.out_dtype);
    }
  };
  GemmPacked(a_packed, rows, k, static_cast<size_t>(a.n0), static_cast<size_t>(a.n1), pack_b, b_panel, c_buf,
             epilogue);
}

}  // namespace HWY_NAMESPACE
}  // namespace mc2::kernels
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace mc2::kernels {

HWY_EXPORT(FloatMatmulRunImpl);

void FloatMatmulRun(const FloatRunArgs& args) { HWY_DYNAMIC_DISPATCH(FloatMatmulRunImpl)(args); }

}  // namespace mc2::kernels
#endif  // HWY_ONCE
