// Int4Bf16Dot, Int8Bf16Dot and their helpers (wq_decode_bf16.h). Plain intrinsics in functions
// compiled for AVX512_BF16 by target attribute: Highway 1.0.3 has no target with vdpbf16ps, so
// this is the one kernel file outside Highway, reached only from the AVX-512 target of
// wq_matmul_decode.cc after a CPUID check.
//
// int4: one 128-element chunk is 16 32-bit words, element e in nibble e / 16 of word e % 16. Read as 32
// 16-bit lanes, lane 2 i holds nibbles 0..3 of word i (elements 16 v + i) and lane 2 i + 1 nibbles
// 4..7 (elements 64 + 16 v + i); shifting the lanes right by 4 v puts the codes of vector v in
// their low 4 bits, and vpermw (which reads 5 bits) looks them up in the group's table stored
// twice. vdpbf16ps then adds lane pairs (2 i, 2 i + 1) into fp32 lane i: per chunk one load, three
// shifts, four vpermw and four vdpbf16ps for 128 weights, against a shift, a vpermps and an FMA
// per 16 in the fp32 loop. The x vectors are shared by up to four columns (DotCols).
#include "kernels/wq_decode_bf16.h"

#include <atomic>
#include <type_traits>
#include <cstdlib>

#include "kernels/cpu_features.h"

#if defined(__x86_64__)
#include <immintrin.h>
#endif

namespace mc2::kernels {
namespace {

std::atomic<bool> g_enabled{true};

// A bf16 value with exponent field 0 and a nonzero fraction (vdpbf16ps reads it as zero).
bool Bf16Subnormal(uint16_t v) { return (v & 0x7f80u) == 0 && (v & 0x7fu) != 0; }

}  // namespace

void SetBf16DotEnabledForTest(bool enabled) { g_enabled.store(enabled, std::memory_order_relaxed); }

bool Int4Bf16PackX(const uint16_t* x, int64_t chunks, uint16_t* xb) {
  bool normal = true;
  for (int64_t c = 0; c < chunks; ++c) {
    const uint16_t* xc = x + 128 * c;
    uint16_t* out = xb + 128 * c;
    for (int v = 0; v < 4; ++v) {
      for (int i = 0; i < 16; ++i) {
        const uint16_t lo = xc[16 * v + i], hi = xc[64 + 16 * v + i];
        out[32 * v + 2 * i] = lo;
        out[32 * v + 2 * i + 1] = hi;
        normal &= !Bf16Subnormal(lo) && !Bf16Subnormal(hi);
      }
    }
  }
  return normal;
}

bool Bf16PackRow(const uint16_t* x, int64_t k, int64_t k_pad, uint16_t* xb) {
  bool normal = true;
  for (int64_t e = 0; e < k; ++e) {
    const uint16_t v = x[e];
    xb[e] = v;
    normal &= !Bf16Subnormal(v);
  }
  for (int64_t e = k; e < k_pad; ++e) xb[e] = 0;
  return normal;
}

#if defined(__x86_64__) && (defined(__clang__) || __GNUC__ >= 12)

// Every function below runs vdpbf16ps code; the helpers of the loops are forced inline so their
// structs of vectors stay in registers.
#define MC2_BF16_TARGET __attribute__((target("avx512f,avx512bw,avx512bf16")))
#define MC2_BF16_INLINE __attribute__((target("avx512f,avx512bw,avx512bf16"), always_inline))

bool Bf16DotAvailable() {
  static const bool has = [] {
    const CpuFeatures f = DetectCpuFeatures();
    return f.avx512f && f.avx512bw && f.avx512_bf16;
  }();
  return has && g_enabled.load(std::memory_order_relaxed);
}

namespace {

// The dequantized values of the 16 int4 codes for scale s (and offset o), as 32 bf16 lanes, the
// 16 values twice (vpermw reads 5 bits of each index): (code + o) * s in fp32, rounded to bf16
// to nearest even by vcvtne2ps2bf16, the spec's bf16 antiquant (Antiquant in matmul_simd-inl.h
// computes the same fp32 operations, then rounds the same way). That instruction reads a subnormal
// fp32 value as zero, so products with 0 < |p| < 2^-126 are flagged in *bad (the caller then uses
// the fp32 loop); NaN and infinity convert as RoundBf16 does.
template <bool kOff>
MC2_BF16_TARGET inline __m512i TableOf(float s, float o, __mmask16* bad) {
  const __m512 codes = _mm512_set_ps(-1, -2, -3, -4, -5, -6, -7, -8, 7, 6, 5, 4, 3, 2, 1, 0);
  const __m512 w = kOff ? _mm512_add_ps(codes, _mm512_set1_ps(o)) : codes;
  const __m512 p = _mm512_mul_ps(w, _mm512_set1_ps(s));
  const __m512 a = _mm512_abs_ps(p);
  *bad |= _mm512_mask_cmp_ps_mask(_mm512_cmp_ps_mask(a, _mm512_setzero_ps(), _CMP_GT_OQ), a, _mm512_set1_ps(0x1p-126f),
                                  _CMP_LT_OQ);
  return reinterpret_cast<__m512i>(_mm512_cvtne2ps_pbh(p, p));
}

// The table for groups smaller than a chunk: the 16 values of (s_lo, o_lo) in lanes 0..15 and of
// (s_hi, o_hi) in lanes 16..31, for a vector whose even lanes (element 16 v + i) and odd lanes
// (element 64 + 16 v + i) lie in different groups; Lookup sets bit 4 of the odd lanes' index.
template <bool kOff>
MC2_BF16_TARGET inline __m512i PairTableOf(const float* s, const float* o, int32_t g_lo, int32_t g_hi, __mmask16* bad) {
  const __m512 codes = _mm512_set_ps(-1, -2, -3, -4, -5, -6, -7, -8, 7, 6, 5, 4, 3, 2, 1, 0);
  const __m512 w_lo = kOff ? _mm512_add_ps(codes, _mm512_set1_ps(o[g_lo])) : codes;
  const __m512 w_hi = kOff ? _mm512_add_ps(codes, _mm512_set1_ps(o[g_hi])) : codes;
  const __m512 p_lo = _mm512_mul_ps(w_lo, _mm512_set1_ps(s[g_lo]));
  const __m512 p_hi = _mm512_mul_ps(w_hi, _mm512_set1_ps(s[g_hi]));
  const __m512 tiny = _mm512_set1_ps(0x1p-126f);
  const __m512 a_lo = _mm512_abs_ps(p_lo), a_hi = _mm512_abs_ps(p_hi);
  *bad |= _mm512_mask_cmp_ps_mask(_mm512_cmp_ps_mask(a_lo, _mm512_setzero_ps(), _CMP_GT_OQ), a_lo, tiny, _CMP_LT_OQ);
  *bad |= _mm512_mask_cmp_ps_mask(_mm512_cmp_ps_mask(a_hi, _mm512_setzero_ps(), _CMP_GT_OQ), a_hi, tiny, _CMP_LT_OQ);
  return reinterpret_cast<__m512i>(_mm512_cvtne2ps_pbh(p_hi, p_lo));  // lanes 0..15 from p_lo
}

// The dequantized weights of vector kV of the chunk words u: codes shifted to the low 4 bits of
// each 16-bit lane and looked up in the table; with a pair table (kHalves) the odd lanes' index
// gets bit 4 ((a & b) | c in one vpternlogd).
template <int kV, bool kHalves>
MC2_BF16_TARGET inline __m512i Lookup(__m512i u, __m512i table) {
  __m512i idx = kV == 0 ? u : _mm512_srli_epi16(u, 4 * kV);
  if constexpr (kHalves) {
    idx = _mm512_ternarylogic_epi32(idx, _mm512_set1_epi32(0x000F000F), _mm512_set1_epi32(0x00100000), 0xEA);
  }
  return _mm512_permutexvar_epi16(idx, table);
}

// acc += x-pairs . weight-pairs.
MC2_BF16_TARGET inline __m512 Dot(__m512 acc, __m512i w, __m512i xv) {
  return _mm512_dpbf16_ps(acc, reinterpret_cast<__m512bh>(w), reinterpret_cast<__m512bh>(xv));
}

// acc += x-pairs . table[codes of vector kV of the chunk words u].
template <int kV, bool kHalves>
MC2_BF16_TARGET inline __m512 Step(__m512 acc, __m512i u, __m512i table, __m512i xv) {
  return Dot(acc, Lookup<kV, kHalves>(u, table), xv);
}

MC2_BF16_TARGET inline float SumLanes(__m512 v) {
  // By hand: GCC 12's _mm512_reduce_add_ps warns of an uninitialized operand.
  alignas(64) float lanes[16];
  _mm512_store_ps(lanes, v);
  float total = 0.0f;
  for (float f : lanes) total += f;
  return total;
}

// The per-column state both kernels below share: the tables of kCols columns, and one chunk of
// their words (with the prefetch of the next columns' lines, see DotCols). Forced inline:
// SetPairTables was otherwise called out of the loop with its struct in memory.
struct ColumnTables {
  __m512i t0, t1, t2, t3;
};
struct ChunkWords {
  __m512i u0, u1, u2, u3;
};

// Tables of group t of every column (groups of whole chunks).
template <int kCols, bool kOff>
MC2_BF16_INLINE inline void SetTables(const Int4Bf16Columns& cols, int64_t t, __mmask16* bad, ColumnTables* tb) {
  const auto table = [&](int i) MC2_BF16_TARGET {
    return TableOf<kOff>(cols.scale[i][t], kOff ? cols.offset[i][t] : 0.0f, bad);
  };
  tb->t0 = table(0);
  if constexpr (kCols > 1) tb->t1 = table(1);
  if constexpr (kCols > 2) tb->t2 = table(2);
  if constexpr (kCols > 3) tb->t3 = table(3);
}

// Pair tables of runs (4 c + kR, 4 c + kR + 2) of every column (groups smaller than a chunk).
template <int kCols, bool kOff>
MC2_BF16_INLINE inline void SetPairTables(const Int4Bf16Columns& cols, const int32_t* run_group, int64_t c, int kR,
                                          __mmask16* bad, ColumnTables* tb) {
  const int32_t lo = run_group[4 * c + kR], hi = run_group[4 * c + kR + 2];
  tb->t0 = PairTableOf<kOff>(cols.scale[0], cols.offset[0], lo, hi, bad);
  if constexpr (kCols > 1) tb->t1 = PairTableOf<kOff>(cols.scale[1], cols.offset[1], lo, hi, bad);
  if constexpr (kCols > 2) tb->t2 = PairTableOf<kOff>(cols.scale[2], cols.offset[2], lo, hi, bad);
  if constexpr (kCols > 3) tb->t3 = PairTableOf<kOff>(cols.scale[3], cols.offset[3], lo, hi, bad);
}

// Whether the second pair tables of chunk c differ from the first (groups of 64 and more: no).
inline bool SecondPairDiffers(const int32_t* run_group, int64_t c) {
  return run_group[4 * c + 1] != run_group[4 * c] || run_group[4 * c + 3] != run_group[4 * c + 2];
}

// Chunk c of every column, prefetching line kCols c + i of `prefetch` beside column i's load.
template <int kCols>
MC2_BF16_INLINE inline ChunkWords LoadChunk(const Int4Bf16Columns& cols, const uint8_t* prefetch, int64_t c) {
  ChunkWords w;
  const auto load = [&](int i) MC2_BF16_TARGET {
    _mm_prefetch(reinterpret_cast<const char*>(prefetch + 64 * (kCols * c + i)), _MM_HINT_T1);
    return _mm512_loadu_si512(cols.weights[i] + 64 * c);
  };
  w.u0 = load(0);
  w.u1 = w.u2 = w.u3 = w.u0;
  if constexpr (kCols > 1) w.u1 = load(1);
  if constexpr (kCols > 2) w.u2 = load(2);
  if constexpr (kCols > 3) w.u3 = load(3);
  return w;
}

// kCols columns at once, so each vector of x is loaded once for all of them: with one column the
// loop was bound by L1 loads (four 64-byte x vectors per 64-byte weight vector; measured no faster
// than the fp32 loop), with four it is bound by the shift + vpermw pairs. Written out with named
// registers: GCC keeps arrays of vectors in memory.
//
// kHalves (groups that are not whole chunks): run_group[r] is the group of elements 32 r .. 32 r +
// 32; vectors 0, 1 of chunk c take runs 4 c and 4 c + 2 (even / odd lanes), vectors 2, 3 runs
// 4 c + 1 and 4 c + 3, so two pair tables per chunk and column.
template <int kCols, bool kOff, bool kHalves>
MC2_BF16_TARGET bool DotCols(const Int4Bf16Columns& cols, int64_t chunks, const uint16_t* xb, int64_t chunks_per_table,
                             const int32_t* run_group, const uint8_t* prefetch, float* out) {
  static_assert(kCols >= 1 && kCols <= 4, "one to four columns");
  const __m512 z = _mm512_setzero_ps();
  const __m512i zi = _mm512_setzero_si512();
  __m512 a00 = z, a01 = z, a02 = z, a03 = z, a10 = z, a11 = z, a12 = z, a13 = z;
  __m512 a20 = z, a21 = z, a22 = z, a23 = z, a30 = z, a31 = z, a32 = z, a33 = z;
  __mmask16 bad = 0;
  ColumnTables tb{zi, zi, zi, zi};
  if constexpr (kHalves) chunks_per_table = chunks;  // one pass; the tables change per chunk below
  for (int64_t c0 = 0, t = 0; c0 < chunks; c0 += chunks_per_table, ++t) {
    if constexpr (!kHalves) SetTables<kCols, kOff>(cols, t, &bad, &tb);
    const int64_t c1 = c0 + chunks_per_table < chunks ? c0 + chunks_per_table : chunks;
    for (int64_t c = c0; c < c1; ++c) {
      const ChunkWords w = LoadChunk<kCols>(cols, prefetch, c);
      const uint16_t* x = xb + 128 * c;
#define MC2_BF16_STEP(kV, a0, a1, a2, a3)                                 \
  {                                                                       \
    const __m512i xv = _mm512_loadu_si512(x + 32 * (kV));                 \
    a0 = Step<kV, kHalves>(a0, w.u0, tb.t0, xv);                          \
    if constexpr (kCols > 1) a1 = Step<kV, kHalves>(a1, w.u1, tb.t1, xv); \
    if constexpr (kCols > 2) a2 = Step<kV, kHalves>(a2, w.u2, tb.t2, xv); \
    if constexpr (kCols > 3) a3 = Step<kV, kHalves>(a3, w.u3, tb.t3, xv); \
  }
      if constexpr (kHalves) SetPairTables<kCols, kOff>(cols, run_group, c, 0, &bad, &tb);
      MC2_BF16_STEP(0, a00, a10, a20, a30)
      MC2_BF16_STEP(1, a01, a11, a21, a31)
      if constexpr (kHalves) {
        if (SecondPairDiffers(run_group, c)) SetPairTables<kCols, kOff>(cols, run_group, c, 1, &bad, &tb);
      }
      MC2_BF16_STEP(2, a02, a12, a22, a32)
      MC2_BF16_STEP(3, a03, a13, a23, a33)
#undef MC2_BF16_STEP
    }
  }
  if (bad != 0) return false;
  out[0] = SumLanes(_mm512_add_ps(_mm512_add_ps(a00, a01), _mm512_add_ps(a02, a03)));
  if constexpr (kCols > 1) out[1] = SumLanes(_mm512_add_ps(_mm512_add_ps(a10, a11), _mm512_add_ps(a12, a13)));
  if constexpr (kCols > 2) out[2] = SumLanes(_mm512_add_ps(_mm512_add_ps(a20, a21), _mm512_add_ps(a22, a23)));
  if constexpr (kCols > 3) out[3] = SumLanes(_mm512_add_ps(_mm512_add_ps(a30, a31), _mm512_add_ps(a32, a33)));
  return true;
}

// kRows (2..8) rows of x against kCols (1, 2 or 4) columns: each dequantized weight vector serves
// every row (the m = 1 loop's shift and vpermw are then 1 / kRows of the work), one accumulator
// per (row, column), 16 at most. Tables and prefetch as DotCols.
template <int kRows, int kCols, bool kOff, bool kHalves>
MC2_BF16_TARGET bool DotRows(const Int4Bf16Columns& cols, int64_t chunks, const uint16_t* xb, int64_t xb_stride,
                             int64_t chunks_per_table, const int32_t* run_group, const uint8_t* prefetch, float* out,
                             int64_t ldo) {
  static_assert(kRows >= 2 && kRows <= 8 && kRows * kCols <= 16 && (kCols == 1 || kCols == 2 || kCols == 4),
                "2..8 rows, 1, 2 or 4 columns, at most 16 accumulators");
  const __m512 z = _mm512_setzero_ps();
  const __m512i zi = _mm512_setzero_si512();
  __m512 a00 = z, a01 = z, a02 = z, a03 = z, a10 = z, a11 = z, a12 = z, a13 = z;
  __m512 a20 = z, a21 = z, a22 = z, a23 = z, a30 = z, a31 = z, a32 = z, a33 = z;
  __m512 a40 = z, a41 = z, a42 = z, a43 = z, a50 = z, a51 = z, a52 = z, a53 = z;
  __m512 a60 = z, a61 = z, a62 = z, a63 = z, a70 = z, a71 = z, a72 = z, a73 = z;
  __mmask16 bad = 0;
  ColumnTables tb{zi, zi, zi, zi};
  if constexpr (kHalves) chunks_per_table = chunks;
  for (int64_t c0 = 0, t = 0; c0 < chunks; c0 += chunks_per_table, ++t) {
    if constexpr (!kHalves) SetTables<kCols, kOff>(cols, t, &bad, &tb);
    const int64_t c1 = c0 + chunks_per_table < chunks ? c0 + chunks_per_table : chunks;
    for (int64_t c = c0; c < c1; ++c) {
      const ChunkWords w = LoadChunk<kCols>(cols, prefetch, c);
      const uint16_t* x = xb + 128 * c;
// Row r's x vector kV against the looked-up weights v0..v3.
#define MC2_BF16_ROW(r, kV, A0, A1, A2, A3)                               \
  if constexpr (kRows > (r)) {                                            \
    const __m512i xv = _mm512_loadu_si512(x + (r)*xb_stride + 32 * (kV)); \
    A0 = Dot(A0, v0, xv);                                                 \
    if constexpr (kCols > 1) A1 = Dot(A1, v1, xv);                        \
    if constexpr (kCols > 2) {                                            \
      A2 = Dot(A2, v2, xv);                                               \
      A3 = Dot(A3, v3, xv);                                               \
    }                                                                     \
  }
#define MC2_BF16_STEP(kV)                                           \
  {                                                                 \
    const __m512i v0 = Lookup<kV, kHalves>(w.u0, tb.t0);            \
    __m512i v1 = v0, v2 = v0, v3 = v0;                              \
    if constexpr (kCols > 1) v1 = Lookup<kV, kHalves>(w.u1, tb.t1); \
    if constexpr (kCols > 2) {                                      \
      v2 = Lookup<kV, kHalves>(w.u2, tb.t2);                        \
      v3 = Lookup<kV, kHalves>(w.u3, tb.t3);                        \
    }                                                               \
    MC2_BF16_ROW(0, kV, a00, a01, a02, a03)                         \
    MC2_BF16_ROW(1, kV, a10, a11, a12, a13)                         \
    MC2_BF16_ROW(2, kV, a20, a21, a22, a23)                         \
    MC2_BF16_ROW(3, kV, a30, a31, a32, a33)                         \
    MC2_BF16_ROW(4, kV, a40, a41, a42, a43)                         \
    MC2_BF16_ROW(5, kV, a50, a51, a52, a53)                         \
    MC2_BF16_ROW(6, kV, a60, a61, a62, a63)                         \
    MC2_BF16_ROW(7, kV, a70, a71, a72, a73)                         \
  }
      if constexpr (kHalves) SetPairTables<kCols, kOff>(cols, run_group, c, 0, &bad, &tb);
      MC2_BF16_STEP(0)
      MC2_BF16_STEP(1)
      if constexpr (kHalves) {
        if (SecondPairDiffers(run_group, c)) SetPairTables<kCols, kOff>(cols, run_group, c, 1, &bad, &tb);
      }
      MC2_BF16_STEP(2)
      MC2_BF16_STEP(3)
#undef MC2_BF16_STEP
#undef MC2_BF16_ROW
    }
  }
  if (bad != 0) return false;
#define MC2_BF16_OUT(r, A0, A1, A2, A3)                       \
  if constexpr (kRows > (r)) {                                \
    out[(r)*ldo] = SumLanes(A0);                              \
    if constexpr (kCols > 1) out[(r)*ldo + 1] = SumLanes(A1); \
    if constexpr (kCols > 2) {                                \
      out[(r)*ldo + 2] = SumLanes(A2);                        \
      out[(r)*ldo + 3] = SumLanes(A3);                        \
    }                                                         \
  }
  MC2_BF16_OUT(0, a00, a01, a02, a03)
  MC2_BF16_OUT(1, a10, a11, a12, a13)
  MC2_BF16_OUT(2, a20, a21, a22, a23)
  MC2_BF16_OUT(3, a30, a31, a32, a33)
  MC2_BF16_OUT(4, a40, a41, a42, a43)
  MC2_BF16_OUT(5, a50, a51, a52, a53)
  MC2_BF16_OUT(6, a60, a61, a62, a63)
  MC2_BF16_OUT(7, a70, a71, a72, a73)
#undef MC2_BF16_OUT
  return true;
}

template <bool kOff, bool kHalves>
bool DotN(const Int4Bf16Columns& cols, int n_columns, int rows, int64_t chunks, const uint16_t* xb, int64_t xb_stride,
          int64_t chunks_per_table, const int32_t* run_group, const uint8_t* prefetch, float* out, int64_t ldo) {
  const int64_t cpt = chunks_per_table;
  if (rows == 1) {
    switch (n_columns) {
      case 1:
        return DotCols<1, kOff, kHalves>(cols, chunks, xb, cpt, run_group, prefetch, out);
      case 2:
        return DotCols<2, kOff, kHalves>(cols, chunks, xb, cpt, run_group, prefetch, out);
      case 3:
        return DotCols<3, kOff, kHalves>(cols, chunks, xb, cpt, run_group, prefetch, out);
      default:
        return DotCols<4, kOff, kHalves>(cols, chunks, xb, cpt, run_group, prefetch, out);
    }
  }
  if (rows == 8) {  // two columns at a time: 16 accumulators
    for (int i = 0; i < n_columns; i += 2) {
      Int4Bf16Columns two;
      for (int q = 0; q < 2 && i + q < n_columns; ++q) {
        two.weights[q] = cols.weights[i + q];
        two.scale[q] = cols.scale[i + q];
        two.offset[q] = cols.offset[i + q];
      }
      const uint8_t* pf = prefetch + 64 * chunks * i;
      const bool ok = i + 1 < n_columns
                          ? DotRows<8, 2, kOff, kHalves>(two, chunks, xb, xb_stride, cpt, run_group, pf, out + i, ldo)
                          : DotRows<8, 1, kOff, kHalves>(two, chunks, xb, xb_stride, cpt, run_group, pf, out + i, ldo);
      if (!ok) return false;
    }
    return true;
  }
  if (n_columns < 4) {  // one column at a time
    for (int i = 0; i < n_columns; ++i) {
      Int4Bf16Columns one;
      one.weights[0] = cols.weights[i];
      one.scale[0] = cols.scale[i];
      one.offset[0] = cols.offset[i];
      const uint8_t* pf = prefetch + 64 * chunks * i;
      const bool ok =
          rows == 2   ? DotRows<2, 1, kOff, kHalves>(one, chunks, xb, xb_stride, cpt, run_group, pf, out + i, ldo)
          : rows == 3 ? DotRows<3, 1, kOff, kHalves>(one, chunks, xb, xb_stride, cpt, run_group, pf, out + i, ldo)
                      : DotRows<4, 1, kOff, kHalves>(one, chunks, xb, xb_stride, cpt, run_group, pf, out + i, ldo);
      if (!ok) return false;
    }
    return true;
  }
  switch (rows) {
    case 2:
      return DotRows<2, 4, kOff, kHalves>(cols, chunks, xb, xb_stride, cpt, run_group, prefetch, out, ldo);
    case 3:
      return DotRows<3, 4, kOff, kHalves>(cols, chunks, xb, xb_stride, cpt, run_group, prefetch, out, ldo);
    default:
      return DotRows<4, 4, kOff, kHalves>(cols, chunks, xb, xb_stride, cpt, run_group, prefetch, out, ldo);
  }
}

}  // namespace

bool Int4Bf16Dot(const Int4Bf16Columns& cols, int n_columns, int rows, int64_t chunks, const uint16_t* xb,
                 int64_t xb_stride, int64_t chunks_per_table, const int32_t* run_group, const uint8_t* prefetch,
                 float* out, int64_t ldo) {
  const bool off = cols.offset[0] != nullptr;
  if (run_group != nullptr) {
    return off ? DotN<true, true>(cols, n_columns, rows, chunks, xb, xb_stride, 0, run_group, prefetch, out, ldo)
               : DotN<false, true>(cols, n_columns, rows, chunks, xb, xb_stride, 0, run_group, prefetch, out, ldo);
  }
  return off ? DotN<true, false>(cols, n_columns, rows, chunks, xb, xb_stride, chunks_per_table, nullptr, prefetch, out,
                                 ldo)
             : DotN<false, false>(cols, n_columns, rows, chunks, xb, xb_stride, chunks_per_table, nullptr, prefetch,
                                  out, ldo);
}

namespace {

// 32 int8 weights dequantized to bf16 lanes 0..31 (element order): (w + o) * s in fp32, rounded to
// nearest even by vcvtne2ps2bf16 (the spec's bf16 antiquant, as Antiquant in matmul_simd-inl.h).
// The zero-masked forms with every lane selected: GCC 12's unmasked _mm512_cvtepi8_epi32 /
// _mm512_cvtepi32_ps pass _mm512_undefined_*() and warn (-Wmaybe-uninitialized) once inlined here.
MC2_BF16_INLINE inline __m512 Int8ToF32x16(const int8_t* w) {
  const __m512i v = _mm512_maskz_cvtepi8_epi32(0xFFFF, _mm_loadu_si128(reinterpret_cast<const __m128i*>(w)));
  return _mm512_maskz_cvtepi32_ps(0xFFFF, v);
}

template <bool kOff>
MC2_BF16_INLINE inline __m512i DequantInt8x32(const int8_t* w, __m512 s, __m512 o) {
  __m512 lo = Int8ToF32x16(w);
  __m512 hi = Int8ToF32x16(w + 16);
  if constexpr (kOff) {
    lo = _mm512_add_ps(lo, o);
    hi = _mm512_add_ps(hi, o);
  }
  return reinterpret_cast<__m512i>(_mm512_cvtne2ps_pbh(_mm512_mul_ps(hi, s), _mm512_mul_ps(lo, s)));
}

// The 32-element runs of an int8 column in k order, group by group, as step(e, d, parity): d the
// run's 32 dequantized bf16 weights, parity (std::integral_constant 0 / 1) alternating along the
// runs of a group, so a caller can keep two accumulator chains without a runtime choice. The
// stream is prefetched 2 KiB ahead, a line per pair of runs.
template <bool kOff, class Step>
MC2_BF16_INLINE inline void ForInt8Runs(const int8_t* w, const float* scale, const float* offset, int64_t group,
                                        int64_t k_pad, const Step& step) {
  constexpr int64_t kPrefetch = 2048;
  const __m512 z = _mm512_setzero_ps();
  for (int64_t e = 0, g = 0; e < k_pad; ++g) {
    const __m512 s = _mm512_set1_ps(scale[g]);
    const __m512 o = kOff ? _mm512_set1_ps(offset[g]) : z;
    const int64_t e1 = e + group < k_pad ? e + group : k_pad;
    for (; e + 64 <= e1; e += 64) {
      _mm_prefetch(reinterpret_cast<const char*>(w + e + kPrefetch), _MM_HINT_T0);
      step(e, DequantInt8x32<kOff>(w + e, s, o), std::integral_constant<int, 0>());
      step(e + 32, DequantInt8x32<kOff>(w + e + 32, s, o), std::integral_constant<int, 1>());
    }
    if (e < e1) {  // a group of an odd number of 32-element runs
      _mm_prefetch(reinterpret_cast<const char*>(w + e + kPrefetch), _MM_HINT_T0);
      step(e, DequantInt8x32<kOff>(w + e, s, o), std::integral_constant<int, 0>());
      e += 32;
    }
  }
}

// Per 32 weights: two widening loads, two converts, two multiplies (+ two adds with an offset), one
// vcvtne2ps2bf16 and one vdpbf16ps, against 2 x (widen, convert, multiply, fused subtract, FMA) in
// the fp32 loop, whose three FMA-pipe ops per 16 weights bound it below the read bandwidth. Two
// accumulators (the vdpbf16ps latency); x is read in element order, as the weights are.
template <bool kOff>
MC2_BF16_TARGET float Int8Column(const int8_t* w, const float* scale, const float* offset, int64_t group,
                                 int64_t k_pad, const uint16_t* xb) {
  __m512 a0 = _mm512_setzero_ps(), a1 = _mm512_setzero_ps();
  ForInt8Runs<kOff>(w, scale, offset, group, k_pad, [&](int64_t e, __m512i d, auto parity) MC2_BF16_TARGET {
    if constexpr (decltype(parity)::value == 0) {
      a0 = Dot(a0, d, _mm512_loadu_si512(xb + e));
    } else {
      a1 = Dot(a1, d, _mm512_loadu_si512(xb + e));
    }
  });
  return SumLanes(_mm512_add_ps(a0, a1));
}

// kRows (2..8) rows against one column: each dequantized vector serves every row, one accumulator
// per row (the rows' vdpbf16ps are independent). Stand-alone, k = n = 4096 from DRAM: 4 rows
// 2.4 ms, 8 rows 3.8 ms, against 3.8 ms for 4 rows on the fp32 tile; 16 rows (6.5 ms) gain
// nothing over it (vdpbf16ps-bound), so m > 8 keeps the fp32 tile.
template <int kRows, bool kOff>
MC2_BF16_TARGET void Int8Rows(const int8_t* w, const float* scale, const float* offset, int64_t group, int64_t k_pad,
                              const uint16_t* xb, int64_t xb_stride, float* out, int64_t ldo) {
  static_assert(kRows >= 2 && kRows <= 8, "2..8 rows");
  const __m512 z = _mm512_setzero_ps();
  __m512 a0 = z, a1 = z, a2 = z, a3 = z, a4 = z, a5 = z, a6 = z, a7 = z;
  ForInt8Runs<kOff>(w, scale, offset, group, k_pad, [&](int64_t e, __m512i d, auto) MC2_BF16_TARGET {
    const uint16_t* x = xb + e;
#define MC2_INT8_ROW(r, A) \
  if constexpr (kRows > (r)) A = Dot(A, d, _mm512_loadu_si512(x + (r)*xb_stride));
    MC2_INT8_ROW(0, a0)
    MC2_INT8_ROW(1, a1)
    MC2_INT8_ROW(2, a2)
    MC2_INT8_ROW(3, a3)
    MC2_INT8_ROW(4, a4)
    MC2_INT8_ROW(5, a5)
    MC2_INT8_ROW(6, a6)
    MC2_INT8_ROW(7, a7)
#undef MC2_INT8_ROW
  });
  out[0] = SumLanes(a0);
  out[ldo] = SumLanes(a1);
  if constexpr (kRows > 2) out[2 * ldo] = SumLanes(a2);
  if constexpr (kRows > 3) out[3 * ldo] = SumLanes(a3);
  if constexpr (kRows > 4) out[4 * ldo] = SumLanes(a4);
  if constexpr (kRows > 5) out[5 * ldo] = SumLanes(a5);
  if constexpr (kRows > 6) out[6 * ldo] = SumLanes(a6);
  if constexpr (kRows > 7) out[7 * ldo] = SumLanes(a7);
}

template <bool kOff>
void Int8RowsN(const int8_t* w, const float* scale, const float* offset, int64_t group, int64_t k_pad,
               const uint16_t* xb, int64_t xb_stride, int rows, float* out, int64_t ldo) {
  switch (rows) {
    case 1: out[0] = Int8Column<kOff>(w, scale, offset, group, k_pad, xb); break;
    case 2: Int8Rows<2, kOff>(w, scale, offset, group, k_pad, xb, xb_stride, out, ldo); break;
    case 3: Int8Rows<3, kOff>(w, scale, offset, group, k_pad, xb, xb_stride, out, ldo); break;
    case 4: Int8Rows<4, kOff>(w, scale, offset, group, k_pad, xb, xb_stride, out, ldo); break;
    case 5: Int8Rows<5, kOff>(w, scale, offset, group, k_pad, xb, xb_stride, out, ldo); break;
    case 6: Int8Rows<6, kOff>(w, scale, offset, group, k_pad, xb, xb_stride, out, ldo); break;
    case 7: Int8Rows<7, kOff>(w, scale, offset, group, k_pad, xb, xb_stride, out, ldo); break;
    default: Int8Rows<8, kOff>(w, scale, offset, group, k_pad, xb, xb_stride, out, ldo); break;
  }
}

}  // namespace

float Int8Bf16Dot(const int8_t* w, const float* scale, const float* offset, int64_t group, int64_t k_pad,
                  const uint16_t* xb) {
  return offset != nullptr ? Int8Column<true>(w, scale, offset, group, k_pad, xb)
                           : Int8Column<false>(w, scale, nullptr, group, k_pad, xb);
}

void Int8Bf16DotRows(const int8_t* w, const float* scale, const float* offset, int64_t group, int64_t k_pad,
                     const uint16_t* xb, int64_t xb_stride, int rows, float* out, int64_t ldo) {
  if (offset != nullptr) {
    Int8RowsN<true>(w, scale, offset, group, k_pad, xb, xb_stride, rows, out, ldo);
  } else {
    Int8RowsN<false>(w, scale, nullptr, group, k_pad, xb, xb_stride, rows, out, ldo);
  }
}

#else  // no AVX512_BF16 code on this architecture / compiler

bool Bf16DotAvailable() { return false; }

// Unreachable: callers check Bf16DotAvailable(), false here.
bool Int4Bf16Dot(const Int4Bf16Columns&, int, int, int64_t, const uint16_t*, int64_t, int64_t, const int32_t*,
                 const uint8_t*, float*, int64_t) {
  std::abort();
}

float Int8Bf16Dot(const int8_t*, const float*, const float*, int64_t, int64_t, const uint16_t*) { std::abort(); }

void Int8Bf16DotRows(const int8_t*, const float*, const float*, int64_t, int64_t, const uint16_t*, int64_t, int,
                     float*, int64_t) {
  std::abort();
}

#endif

}  // namespace mc2::kernels
