// Per-target body of the float (fp16 / bf16) batched matmul: convert panels of W to fp32 and run
// the packed GEMM of matmul_gemm-inl.h (why that GEMM is shaped as it is: see there).
//
// B-panel conversion. (k, n) storage: each micro-panel row is NR contiguous values of a W row, read
// and widened with vector loads. (n, k) storage: NR rows of W are widened along k into a
// [NR][KC] block (vector loads), then transposed into the [KC][NR] micro-panel with scalar copies;
// at 4096 x 4096 that transpose is ~8 ms per full pass over W, ~5% of a 512-row GEMM.
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "kernels/float_matmul_kernels.cc"
#include "hwy/foreach_target.h"  // IWYU pragma: keep

#include "hwy/highway.h"
#include "kernels/float_matmul_run.h"
#include "kernels/matmul_gemm-inl.h"
#include "kernels/matmul_simd-inl.h"

HWY_BEFORE_NAMESPACE();
namespace mc2::kernels {
namespace HWY_NAMESPACE {

void FloatMatmulRunImpl(const FloatRunArgs& a) {
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
    for (size_t jr = 0; jr < nc_pad; jr += nr) {
      float* dst = panel + jr * kc;
      const size_t j0 = jc + jr;
      if (!a.w_transposed) {
        for (size_t p = 0; p < kc; ++p, dst += nr) {
          const uint8_t* row = w + ((pc + p) * ldw) * esize;
          for (size_t h = 0; h < 2; ++h) {
            const size_t j = j0 + h * N;
            const size_t count = j >= n ? 0 : (n - j < N ? n - j : N);
            hn::Store(count == 0 ? hn::Zero(df) : LoadAsF32(df, row, a.w_dtype, j, count), df, dst + h * N);
          }
        }
        continue;
      }
      for (size_t jj = 0; jj < nr; ++jj) {
        float* t = t_buf + jj * kc;
        if (j0 + jj < n) {
          RowToF32(w + ((j0 + jj) * ldw + pc) * esize, a.w_dtype, kc, t);
        } else {
          for (size_t p = 0; p < kc; ++p) t[p] = 0.0f;
        }
      }
      for (size_t p = 0; p < kc; ++p) {
        for (size_t jj = 0; jj < nr; ++jj) dst[p * nr + jj] = t_buf[jj * kc + p];
      }
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
