// W8A8 micro-kernel, per SIMD target.
//
// Why int16 pairs and pmaddwd, not pmaddubsw: vpmaddubsw multiplies u8 x s8 and adds pairs into a
// *saturating* int16; with full-range int8 on both sides (the sign trick turns x into |x| <= 128
// and w into sign(w, x) in [-128, 127] ... but -(-128) wraps) or the +128 offset trick (255 * 127
// * 2 = 64770 > 32767) the pair sum can saturate, so the int32 result would not be exact. vpmaddwd
// on sign-extended int16 pairs cannot overflow (2 * 128 * 128 = 32768 fits int32), so it is exact
// for every input; Highway exposes it as ReorderWidenMulAccumulate(int32 <- int16 x int16)
// (vpmaddwd on x86, smlal on NEON, and the VNNI form where the target has it).
//
// SDOT: on Arm CPUs with the dot-product extension (Armv8.2+, e.g. the Kunpeng 920 hosts of
// Ascend servers) the plan also packs the weights as int8 quads and the NEON target multiplies
// them with vdotq_s32 (TileDot). SVE targets keep the int16 pairs.
//
// VNNI: where the CPU has AVX-512 VNNI the tile runs as Highway's AVX3_DL target (enabled for this
// file only, HWY_WANT_AVX3_DL), whose runtime check includes VNNI, and one vpdpwssd does the
// vpmaddwd + vpaddd pair (MulAccPairs). Highway 1.0.3 has no VNNI op and its AVX3_DL target string
// names "avxvnni" (the VEX form) instead of avx512vnni, so the instruction is inline assembly.
//
// Throughput: one vpmaddwd ymm is 16 MACs; Zen3 issues 2 per cycle (FP0/FP3 pipes) next to the
// vpaddd, so the ceiling is 32 MACs = 64 ops/cycle, 2x fp32 FMA (32 flops/cycle; OpenBLAS sgemm
// reaches ~98 GFLOP/s = its ceiling on one core). Target: >= 1.3x sgemm.
//
// Blocking: the register tile is MR rows x 16 columns of int32 (AVX2: 6 x 2 ymm = 12 accumulators
// + 2 weight vectors + 1 broadcast = 15 of 16 registers; AVX-512: 12 x 1 zmm; 128-bit: 2 x 4).
// Weights are packed at plan time as [panel of 16 columns][k/2][16][2] int16, so one k-pair of a
// panel is one 64-byte line; the activations are packed per call as [MR rows][k/2] int32 words
// holding the (x[2p], x[2p+1]) int16 pair, broadcast with one load. Loop order: panel outer, row
// block inner, whole k per tile: a panel (k = 4096: 128 KiB) stays in L2 (512 KiB) while all row
// blocks stream past it; there is no C round trip because each tile runs the whole k.
#ifndef HWY_WANT_AVX3_DL
#define HWY_WANT_AVX3_DL 1  // the VNNI tile (above); before any Highway header
#endif

#include <cstring>

#include "core/float16.h"
#include "kernels/cpu_features.h"
#include "kernels/w8a8_job.h"

#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "kernels/w8a8_kernel.cc"
#include "hwy/foreach_target.h"  // IWYU pragma: keep
#include "hwy/highway.h"
#include "kernels/unroll.h"
#include "kernels/epilogue_round-inl.h"

HWY_BEFORE_NAMESPACE();
namespace mc2::kernels::w8a8::HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;
using mc2::kernels::HWY_NAMESPACE::kElemBf16;
using mc2::kernels::HWY_NAMESPACE::kElemF16;
using mc2::kernels::HWY_NAMESPACE::kElemF32;
using mc2::kernels::HWY_NAMESPACE::kRoundEven;
using mc2::kernels::HWY_NAMESPACE::StoreFromF32;

#if HWY_TARGET == HWY_SCALAR
constexpr int kMR = 2;  // no vectors: a plain loop (the reference-like fallback target)
#elif HWY_HAVE_SCALABLE
// SVE: Lanes() is known only at run time and vectors cannot be array elements; 4-lane vectors
// (exactly 4 at every SVE vector length) make a panel row 4 vectors, as on NEON, held in named
// variables by TileSve below.
using D32 = hn::CappedTag<int32_t, 4>;
using D16 = hn::Repartition<int16_t, D32>;
using DF = hn::Repartition<float, D32>;
constexpr size_t kVecs = 4;
constexpr int kMR = 2;
#else
using D32 = hn::CappedTag<int32_t, kPanelCols>;
using D16 = hn::Repartition<int16_t, D32>;
using DF = hn::Repartition<float, D32>;
constexpr size_t kVecs = kPanelCols / hn::MaxLanes(D32());  // vectors per panel row
constexpr int kMR = kVecs == 1 ? 12 : kVecs == 2 ? 6 : 2;
#endif
static_assert(kMR <= kMaxRowsPerTile && kMaxRowsPerTile % kMR == 0, "workspace sizing assumes this");

int RowsPerTileImpl() { return kMR; }

#if HWY_TARGET == HWY_NEON
// Packs row blocks [b0, b1) of x as [k_quads][kMR] int32 words of four int8 (k order from the low
// byte, as the weight quads); rows past m and the tail beyond k are zero. SDOT hosts only.
void PackAQuads(const Job& job, int64_t b0, int64_t b1) {
  for (int64_t b = b0; b < b1; ++b) {
    int32_t* dst = job.a_packed + b * job.k_quads * kMR;
    for (int r = 0; r < kMR; ++r) {
      const int64_t row = b * kMR + r;
      const int8_t* x = row < job.m ? job.x + row * job.ldx : nullptr;
      for (int64_t q = 0; q < job.k_quads; ++q) {
        uint32_t word = 0;
        for (int h = 0; h < 4 && x != nullptr; ++h) {
          const int64_t kk = 4 * q + h;
          if (kk < job.k) word |= static_cast<uint32_t>(static_cast<uint8_t>(x[kk])) << (8 * h);
        }
        dst[q * kMR + r] = static_cast<int32_t>(word);
      }
    }
  }
}
#endif

// Packs row blocks [b0, b1) of x as [k_pairs][kMR] int32 words of two int16; rows past m and the
// odd-k tail are zero.
void PackAImpl(const Job& job, int64_t b0, int64_t b1) {
#if HWY_TARGET == HWY_NEON
  if (job.packed_q != nullptr) return PackAQuads(job, b0, b1);
#endif
  for (int64_t b = b0; b < b1; ++b) {
    int32_t* dst = job.a_packed + b * job.k_pairs * kMR;
    for (int r = 0; r < kMR; ++r) {
      const int64_t row = b * kMR + r;
      if (row >= job.m) {
        for (int64_t p = 0; p < job.k_pairs; ++p) dst[p * kMR + r] = 0;
        continue;
      }
      const int8_t* x = job.x + row * job.ldx;
      const int64_t full = job.k / 2;
      for (int64_t p = 0; p < full; ++p) {
        const uint32_t lo = static_cast<uint16_t>(static_cast<int16_t>(x[2 * p]));
        const uint32_t hi = static_cast<uint16_t>(static_cast<int16_t>(x[2 * p + 1]));
        dst[p * kMR + r] = static_cast<int32_t>(lo | (hi << 16));
      }
      if (full < job.k_pairs) {
        dst[full * kMR + r] = static_cast<int32_t>(static_cast<uint16_t>(static_cast<int16_t>(x[2 * full])));
      }
    }
  }
}

#if HWY_TARGET == HWY_SCALAR
template <int kOut>
void Tile(const Job& job, int64_t block, int64_t panel) {
  const int32_t* a = job.a_packed + block * job.k_pairs * kMR;
  const int16_t* b = job.packed + panel * job.k_pairs * (2 * kPanelCols);
  uint32_t acc[kMR][kPanelCols] = {};
  for (int64_t p = 0; p < job.k_pairs; ++p) {
    for (int r = 0; r < kMR; ++r) {
      const uint32_t pair = static_cast<uint32_t>(a[p * kMR + r]);
      const int32_t lo = static_cast<int16_t>(pair & 0xffffu), hi = static_cast<int16_t>(pair >> 16);
      for (int c = 0; c < kPanelCols; ++c) {
        const int16_t* w = b + (p * kPanelCols + c) * 2;
        acc[r][c] += static_cast<uint32_t>(lo * w[0] + hi * w[1]);
      }
    }
  }
  const int64_t row0 = block * kMR, col0 = panel * kPanelCols;
  for (int r = 0; r < kMR && row0 + r < job.m; ++r) {
    for (int64_t c = 0; c < kPanelCols && col0 + c < job.n; ++c) {
      const int32_t v = static_cast<int32_t>(acc[r][c] + static_cast<uint32_t>(job.bias[col0 + c]));
      float f = static_cast<float>(v) * job.scale[col0 + c];
      if (job.token_scale) f *= job.token_scale[row0 + r];
      const int64_t o = (row0 + r) * job.ldo + col0 + c;
      if constexpr (kOut == kElemF32) {
        static_cast<float*>(job.out)[o] = f;
      } else {
        static_cast<uint16_t*>(job.out)[o] = kOut == kElemF16 ? FloatToHalf(f) : FloatToBf16(f);
      }
    }
  }
}
#else
// Dequantizes one tile row's vector v of int32 sums and stores it as kOut at dst + v * lanes.
template <int kOut>
HWY_INLINE void StoreTileSum(const Job& job, int64_t row, int64_t col0, size_t v, hn::Vec<D32> sum, char* dst) {
  const D32 d32;
  const DF df;
  const size_t lanes = hn::Lanes(d32);
  constexpr size_t eo = kOut == kElemF32 ? 4 : 2;
  const hn::Vec<D32> acc = hn::Add(sum, hn::Load(d32, job.bias + col0 + v * lanes));
  auto f = hn::Mul(hn::ConvertTo(df, acc), hn::Load(df, job.scale + col0 + v * lanes));
  if (job.token_scale) f = hn::Mul(f, hn::Set(df, job.token_scale[row]));
  StoreFromF32<kOut, kRoundEven>(df, f, dst + v * lanes * eo);
}

// The same for the two accumulators of ReorderWidenMulAccumulate.
template <int kOut>
HWY_INLINE void StoreTileVec(const Job& job, int64_t row, int64_t col0, size_t v, hn::Vec<D32> acc0,
                             hn::Vec<D32> acc1, char* dst) {
  StoreTileSum<kOut>(job, row, col0, v, hn::RearrangeToOddPlusEven(acc0, acc1), dst);
}

#if HWY_HAVE_SCALABLE || HWY_TARGET == HWY_NEON
// Stores the int32 sums of a kMR = 2 rows x 4 vectors tile (row 1 only if it exists; a partial
// last panel through a buffer). Shared by the SVE tile and the NEON SDOT tile.
template <int kOut>
HWY_INLINE void StoreTile2x4(const Job& job, int64_t block, int64_t panel, hn::Vec<D32> s00, hn::Vec<D32> s01,
                             hn::Vec<D32> s02, hn::Vec<D32> s03, hn::Vec<D32> s10, hn::Vec<D32> s11,
                             hn::Vec<D32> s12, hn::Vec<D32> s13) {
  const int64_t row0 = block * kMR, col0 = panel * kPanelCols;
  const int rows = static_cast<int>(job.m - row0 < kMR ? job.m - row0 : kMR);
  const int64_t cols = job.n - col0 < kPanelCols ? job.n - col0 : kPanelCols;
  constexpr size_t eo = kOut == kElemF32 ? 4 : 2;
  char* out = static_cast<char*>(job.out) + (row0 * job.ldo + col0) * static_cast<int64_t>(eo);
  alignas(64) char buf[kPanelCols * 4];
  char* dst = cols == kPanelCols ? out : buf;
  StoreTileSum<kOut>(job, row0, col0, 0, s00, dst);
  StoreTileSum<kOut>(job, row0, col0, 1, s01, dst);
  StoreTileSum<kOut>(job, row0, col0, 2, s02, dst);
  StoreTileSum<kOut>(job, row0, col0, 3, s03, dst);
  if (cols != kPanelCols) std::memcpy(out, buf, static_cast<size_t>(cols) * eo);
  if (rows < 2) return;
  out += job.ldo * static_cast<int64_t>(eo);
  dst = cols == kPanelCols ? out : buf;
  StoreTileSum<kOut>(job, row0 + 1, col0, 0, s10, dst);
  StoreTileSum<kOut>(job, row0 + 1, col0, 1, s11, dst);
  StoreTileSum<kOut>(job, row0 + 1, col0, 2, s12, dst);
  StoreTileSum<kOut>(job, row0 + 1, col0, 3, s13, dst);
  if (cols != kPanelCols) std::memcpy(out, buf, static_cast<size_t>(cols) * eo);
}
#endif

#if HWY_TARGET == HWY_NEON
// The SDOT tile (Armv8.2 dot product, where the CPU has it: the plan then packs int8 quads):
// kMR = 2 rows x 16 columns, one vdotq_s32 per 4 columns adds four int8 products to each int32
// lane — 16 MACs per instruction, where the int16-pair path spends two widening multiply-adds
// (smlal, smlal2) on 8. Exact like the pair path: the int32 sums wrap as the reference's do.
// The target string keeps Highway's NEON one ("+crypto") so its inline functions inline here.
template <int kOut>
__attribute__((target("arch=armv8.2-a+dotprod+crypto"))) void TileDot(const Job& job, int64_t block, int64_t panel) {
  const int32_t* HWY_RESTRICT a = job.a_packed + block * job.k_quads * kMR;
  const int8_t* HWY_RESTRICT b = job.packed_q + panel * job.k_quads * (4 * kPanelCols);
  int32x4_t s00 = vdupq_n_s32(0), s01 = vdupq_n_s32(0), s02 = vdupq_n_s32(0), s03 = vdupq_n_s32(0);
  int32x4_t s10 = vdupq_n_s32(0), s11 = vdupq_n_s32(0), s12 = vdupq_n_s32(0), s13 = vdupq_n_s32(0);
  for (int64_t q = 0; q < job.k_quads; ++q) {
    const int8_t* bq = b + q * 4 * kPanelCols;
    const int8x16_t w0 = vld1q_s8(bq), w1 = vld1q_s8(bq + 16), w2 = vld1q_s8(bq + 32), w3 = vld1q_s8(bq + 48);
    const int8x16_t x0 = vreinterpretq_s8_s32(vdupq_n_s32(a[q * kMR]));
    const int8x16_t x1 = vreinterpretq_s8_s32(vdupq_n_s32(a[q * kMR + 1]));
    s00 = vdotq_s32(s00, w0, x0);
    s01 = vdotq_s32(s01, w1, x0);
    s02 = vdotq_s32(s02, w2, x0);
    s03 = vdotq_s32(s03, w3, x0);
    s10 = vdotq_s32(s10, w0, x1);
    s11 = vdotq_s32(s11, w1, x1);
    s12 = vdotq_s32(s12, w2, x1);
    s13 = vdotq_s32(s13, w3, x1);
  }
  using V32 = hn::Vec<D32>;
  StoreTile2x4<kOut>(job, block, panel, V32{s00}, V32{s01}, V32{s02}, V32{s03}, V32{s10}, V32{s11}, V32{s12},
                     V32{s13});
}
#endif

// acc + the sums of adjacent int16 products of x and w, as int32 (exact: |sum| <= 2 * 128 * 128).
HWY_INLINE hn::Vec<D32> MulAccPairs(D32 d32, hn::Vec<D16> x, hn::Vec<D16> w, hn::Vec<D32> acc, hn::Vec<D32>& acc1) {
#if HWY_TARGET == HWY_AVX3_DL
  (void)d32;
  (void)acc1;
  __m512i r = acc.raw;
  asm("vpdpwssd %2, %1, %0" : "+v"(r) : "v"(x.raw), "v"(w.raw));
  return hn::Vec<D32>{r};
#else
  return hn::ReorderWidenMulAccumulate(d32, x, w, acc, acc1);
#endif
}

#if HWY_HAVE_SCALABLE
// The SVE tile: kMR = 2 rows x 4 vectors of 4 int32 lanes, every accumulator a named variable.
template <int kOut>
HWY_INLINE void Tile(const Job& job, int64_t block, int64_t panel) {
  const D32 d32;
  const D16 d16;
  using V32 = hn::Vec<D32>;
  const int32_t* HWY_RESTRICT a = job.a_packed + block * job.k_pairs * kMR;
  const int16_t* HWY_RESTRICT b = job.packed + panel * job.k_pairs * (2 * kPanelCols);
  V32 s00 = hn::Zero(d32), s01 = hn::Zero(d32), s02 = hn::Zero(d32), s03 = hn::Zero(d32);
  V32 s10 = hn::Zero(d32), s11 = hn::Zero(d32), s12 = hn::Zero(d32), s13 = hn::Zero(d32);
  V32 t00 = hn::Zero(d32), t01 = hn::Zero(d32), t02 = hn::Zero(d32), t03 = hn::Zero(d32);
  V32 t10 = hn::Zero(d32), t11 = hn::Zero(d32), t12 = hn::Zero(d32), t13 = hn::Zero(d32);
  for (int64_t p = 0; p < job.k_pairs; ++p) {
    const int16_t* bp = b + p * kPanelCols * 2;
    const hn::Vec<D16> w0 = hn::LoadU(d16, bp), w1 = hn::LoadU(d16, bp + 8);
    const hn::Vec<D16> w2 = hn::LoadU(d16, bp + 16), w3 = hn::LoadU(d16, bp + 24);
    const hn::Vec<D16> x0 = hn::BitCast(d16, hn::Set(d32, a[p * kMR]));
    const hn::Vec<D16> x1 = hn::BitCast(d16, hn::Set(d32, a[p * kMR + 1]));
    s00 = hn::ReorderWidenMulAccumulate(d32, x0, w0, s00, t00);
    s01 = hn::ReorderWidenMulAccumulate(d32, x0, w1, s01, t01);
    s02 = hn::ReorderWidenMulAccumulate(d32, x0, w2, s02, t02);
    s03 = hn::ReorderWidenMulAccumulate(d32, x0, w3, s03, t03);
    s10 = hn::ReorderWidenMulAccumulate(d32, x1, w0, s10, t10);
    s11 = hn::ReorderWidenMulAccumulate(d32, x1, w1, s11, t11);
    s12 = hn::ReorderWidenMulAccumulate(d32, x1, w2, s12, t12);
    s13 = hn::ReorderWidenMulAccumulate(d32, x1, w3, s13, t13);
  }
  StoreTile2x4<kOut>(job, block, panel, hn::RearrangeToOddPlusEven(s00, t00), hn::RearrangeToOddPlusEven(s01, t01),
                     hn::RearrangeToOddPlusEven(s02, t02), hn::RearrangeToOddPlusEven(s03, t03),
                     hn::RearrangeToOddPlusEven(s10, t10), hn::RearrangeToOddPlusEven(s11, t11),
                     hn::RearrangeToOddPlusEven(s12, t12), hn::RearrangeToOddPlusEven(s13, t13));
}
#else
template <int kOut>
HWY_INLINE void Tile(const Job& job, int64_t block, int64_t panel) {
  const D32 d32;
  const D16 d16;
  using V32 = hn::Vec<D32>;
  const size_t lanes = hn::Lanes(d32);
  const int32_t* HWY_RESTRICT a = job.a_packed + block * job.k_pairs * kMR;
  const int16_t* HWY_RESTRICT b = job.packed + panel * job.k_pairs * (2 * kPanelCols);
  V32 acc0[kMR][kVecs], acc1[kMR][kVecs];
MC2_UNROLL(16)
  for (int r = 0; r < kMR; ++r) {
MC2_UNROLL(16)
    for (size_t v = 0; v < kVecs; ++v) acc0[r][v] = acc1[r][v] = hn::Zero(d32);
  }
  for (int64_t p = 0; p < job.k_pairs; ++p) {
    hn::Vec<D16> w[kVecs];
MC2_UNROLL(16)
    for (size_t v = 0; v < kVecs; ++v) w[v] = hn::Load(d16, b + (p * kPanelCols + v * lanes) * 2);
MC2_UNROLL(16)
    for (int r = 0; r < kMR; ++r) {
      const hn::Vec<D16> xa = hn::BitCast(d16, hn::Set(d32, a[p * kMR + r]));
MC2_UNROLL(16)
      for (size_t v = 0; v < kVecs; ++v) {
        acc0[r][v] = MulAccPairs(d32, xa, w[v], acc0[r][v], acc1[r][v]);
      }
    }
  }
  // Dequantize and store the valid rows x cols of the tile.
  const int64_t row0 = block * kMR, col0 = panel * kPanelCols;
  const int rows = static_cast<int>(job.m - row0 < kMR ? job.m - row0 : kMR);
  const int64_t cols = job.n - col0 < kPanelCols ? job.n - col0 : kPanelCols;
  constexpr size_t eo = kOut == kElemF32 ? 4 : 2;
  char* out = static_cast<char*>(job.out) + (row0 * job.ldo + col0) * static_cast<int64_t>(eo);
MC2_UNROLL(16)
  for (int r = 0; r < kMR; ++r) {
    if (r >= rows) break;
    alignas(64) char buf[kPanelCols * 4];
    char* row_out = out + r * job.ldo * static_cast<int64_t>(eo);
    char* dst = cols == kPanelCols ? row_out : buf;
MC2_UNROLL(16)
    for (size_t v = 0; v < kVecs; ++v) StoreTileVec<kOut>(job, row0 + r, col0, v, acc0[r][v], acc1[r][v], dst);
    if (cols != kPanelCols) std::memcpy(row_out, buf, static_cast<size_t>(cols) * eo);
  }
}
#endif  // HWY_HAVE_SCALABLE
#endif  // HWY_TARGET == HWY_SCALAR

template <int kOut>
void ComputeT(const Job& job, int64_t b0, int64_t b1, int64_t p0, int64_t p1) {
#if HWY_TARGET == HWY_NEON
  if (job.packed_q != nullptr) {
    for (int64_t panel = p0; panel < p1; ++panel) {
      for (int64_t block = b0; block < b1; ++block) TileDot<kOut>(job, block, panel);
    }
    return;
  }
#endif
  for (int64_t panel = p0; panel < p1; ++panel) {
    for (int64_t block = b0; block < b1; ++block) Tile<kOut>(job, block, panel);
  }
}

void ComputeImpl(const Job& job, int64_t b0, int64_t b1, int64_t p0, int64_t p1) {
  if (job.out_kind == kElemF16) return ComputeT<kElemF16>(job, b0, b1, p0, p1);
  if (job.out_kind == kElemBf16) return ComputeT<kElemBf16>(job, b0, b1, p0, p1);
  return ComputeT<kElemF32>(job, b0, b1, p0, p1);
}

const char* TargetNameImpl() {
#if HWY_TARGET == HWY_NEON
  if (DetectCpuFeatures().dotprod) return "NEON+SDOT";  // the plan packs quads on such CPUs
#endif
  return hwy::TargetName(HWY_TARGET);
}

}  // namespace mc2::kernels::w8a8::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace mc2::kernels::w8a8 {

HWY_EXPORT(RowsPerTileImpl);
HWY_EXPORT(PackAImpl);
HWY_EXPORT(ComputeImpl);
HWY_EXPORT(TargetNameImpl);

int RowsPerTile() { return HWY_DYNAMIC_DISPATCH(RowsPerTileImpl)(); }
void PackA(const Job& job, int64_t b0, int64_t b1) { HWY_DYNAMIC_DISPATCH(PackAImpl)(job, b0, b1); }
void Compute(const Job& job, int64_t b0, int64_t b1, int64_t p0, int64_t p1) {
  HWY_DYNAMIC_DISPATCH(ComputeImpl)(job, b0, b1, p0, p1);
}
const char* TargetName() { return HWY_DYNAMIC_DISPATCH(TargetNameImpl)(); }

}  // namespace mc2::kernels::w8a8
#endif  // HWY_ONCE
