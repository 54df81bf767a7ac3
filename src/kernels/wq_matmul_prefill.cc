// Prefill regime of the weight-quantized matmul (m > 16): dequantize KC x NC panels of W into a
// cache-resident fp32 buffer and run the register-blocked fp32 GEMM of matmul_gemm-inl.h on them.
//
// Layout (PackWeights, kPrefill): n padded to 32 and cut into 32-column blocks, each block stored
// as k consecutive 32-column chunks ([n_pad / 32][k][32], like FRACTAL_NZ), so dequantizing a
// B micro-panel reads one sequential run. (A plain (k, n) layout read 16 bytes every 4 KiB: the
// rows of a panel all fell into the same L1 sets and dequantization ran at 2 Gelem/s instead of
// ~7.) int8: one byte per element; int4: 16 bytes per chunk (low nibbles = columns 0..15, high
// = 16..31). Scales / offsets are (groups, n_pad) fp32, so a row's scales are one vector load.
//
// Why this shape. At m = 512, k = n = 4096 the multiply is 17.2 GFLOP (~175 ms at the 98 GFLOP/s
// OpenBLAS reaches on one core) while dequantizing the 16.8 M weights once costs ~4-8 ms, so
// panel-wise dequantization amortised over all rows of the call costs a few percent; each panel
// (256 x 192 fp32 = 192 KiB) is dequantized exactly once per call and stays in L2 while every row
// block of A streams over it. The activation is converted to fp32 and packed once per call.
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "kernels/wq_matmul_prefill.cc"
#include "hwy/foreach_target.h"  // IWYU pragma: keep

#include "hwy/highway.h"
#include "kernels/matmul_gemm-inl.h"
#include "kernels/matmul_simd-inl.h"
#include "kernels/wq_matmul_kernels.h"

HWY_BEFORE_NAMESPACE();
namespace mc2::kernels {
namespace HWY_NAMESPACE {
namespace {

template <bool kF16, bool kOff, bool kInt4, bool kFast>
void PrefillImpl(const WqRunArgs& args) {
  const WqPackedWeights& pw = *args.packed;
  const size_t rows = static_cast<size_t>(args.rows);
  const size_t k = static_cast<size_t>(pw.k);
  const size_t n_pad = static_cast<size_t>(pw.n_pad);
  const size_t chunk_bytes = kInt4 ? 16 : 32;  // one k-row of a 32-column block
  const GemmScratch layout = GemmScratch::For(rows, k);
  float* a_packed = reinterpret_cast<float*>(args.scratch + layout.a_packed);
  float* a_tmp = reinterpret_cast<float*>(args.scratch + layout.a_tmp);
  float* b_panel = reinterpret_cast<float*>(args.scratch + layout.b_panel);
  float* c_buf = reinterpret_cast<float*>(args.scratch + layout.c_buf);
  PackA(args.x, args.act_dtype, static_cast<size_t>(args.x_stride), rows, k, a_packed, a_tmp);

  const uint8_t* data = pw.data.data();
  const float* scale = pw.scale.data();
  const float* offset = kOff ? pw.offset.data() : nullptr;
  const size_t group = static_cast<size_t>(pw.group);
  // Micro-panel by micro-panel so the stores are sequential: writing row by row across the
  // micro-panels strides by KC * NR * 4 B = 16 KiB, every store lands in the same L1 sets, and the
  // dequantization ran 4x slower (measured).
  auto pack_b = [&](size_t pc, size_t kc, size_t jc, size_t nc_pad, float* panel) {
    const DF df;
    const size_t N = hn::Lanes(df);
    const size_t nr = 2 * N;
    for (size_t jr = 0; jr < nc_pad; jr += nr) {
      float* dst = panel + jr * kc;
      size_t g = pc / group;
      size_t g_end = (g + 1) * group;
      for (size_t p = 0; p < kc; ++p, dst += nr) {
        const size_t kk = pc + p;
        if (kk >= g_end) {
          ++g;
          g_end += group;
        }
        for (size_t h = 0; h < 2; ++h) {
          const size_t j = jc + jr + h * N;
          if (j >= n_pad) {
            hn::Store(hn::Zero(df), df, dst + h * N);
            continue;
          }
          const uint8_t* chunk = data + ((j >> 5) * k + kk) * chunk_bytes;
          const VF w = kInt4 ? LoadWeights<true>(df, chunk, j & 31) : LoadWeights<false>(df, chunk + (j & 31), 0);
          const VF o = kOff ? hn::LoadU(df, offset + g * n_pad + j) : hn::Zero(df);
          hn::Store(Antiquant<kF16, kOff, kFast>(df, w, hn::LoadU(df, scale + g * n_pad + j), o), df, dst + h * N);
        }
      }
    }
  };
  const size_t out_size = args.out_dtype == DType::kFloat32 ? 4 : 2;
  auto epilogue = [&](size_t jc, size_t nc, const float* c) {
    for (size_t r = 0; r < rows; ++r) {
      void* yr = static_cast<uint8_t*>(args.y) + (r * static_cast<size_t>(args.y_stride) + jc) * out_size;
      StoreRowOut(c + r * kGemmNc, args.bias, args.bias_dtype, jc, nc, yr, args.out_dtype);
    }
  };
  GemmPacked(a_packed, rows, k, static_cast<size_t>(args.n0), static_cast<size_t>(args.n1), pack_b, b_panel,
             c_buf, epilogue);
}

}  // namespace

void WqPrefillRunImpl(const WqRunArgs& args) {
  // The panel dequantization is amortised over many rows here: only the exact general rounding is
  // instantiated (fewer template copies per target).
  const bool f16 = args.act_dtype == DType::kFloat16;
  const int sel = (f16 ? 4 : 0) | (args.has_offset ? 2 : 0) | (args.int4 ? 1 : 0);
  switch (sel) {
    case 0: return PrefillImpl<false, false, false, false>(args);
    case 1: return PrefillImpl<false, false, true, false>(args);
    case 2: return PrefillImpl<false, true, false, false>(args);
    case 3: return PrefillImpl<false, true, true, false>(args);
    case 4: return PrefillImpl<true, false, false, false>(args);
    case 5: return PrefillImpl<true, false, true, false>(args);
    case 6: return PrefillImpl<true, true, false, false>(args);
    default: return PrefillImpl<true, true, true, false>(args);
  }
}

}  // namespace HWY_NAMESPACE
}  // namespace mc2::kernels
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace mc2::kernels {

HWY_EXPORT(WqPrefillRunImpl);

size_t WqPrefillScratchBytes(int64_t rows, int64_t k) {
  return GemmScratch::For(static_cast<size_t>(rows), static_cast<size_t>(k)).total;
}

void WqPrefillRun(const WqRunArgs& args) { HWY_DYNAMIC_DISPATCH(WqPrefillRunImpl)(args); }

}  // namespace mc2::kernels
#endif  // HWY_ONCE
