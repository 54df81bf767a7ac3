// Decode regime of the weight-quantized matmul (m <= 16): stream the quantized weight once,
// dequantize in registers, dot with the fp32 activation rows.
//
// Layout (PackWeights, kDecode): W transposed to (n, k_pad) so that one output column is one
// contiguous run of k. int8: one byte per element, k padded to 32. int4: k padded to 128, chunks
// of 128 elements in 16 32-bit words, element e in nibble e / 16 of word e % 16, so a vector of
// <= 16 lanes unpacks with two shifts of a plain load (AVX-512: one shift and a table lookup, see
// the int4 section below). Scales / offsets are (n, groups) fp32 holding the
// fp16/bf16 values exactly; per tensor / per channel is one group spanning k.
//
// Why this shape. At m = 1, k = n = 4096 the int8 weight is 16 MiB and the int4 one 8 MiB; the
// single-core read bandwidth is ~17-23 GB/s (0.7-1.0 / 0.35-0.5 ms), so the kernel must retire 6-12
// weight elements per cycle. The spec's precision makes every element cost a rounding to fp16 (or
// bf16). Without offset and with the plan's range proof (fast_round) the rounding is two FMA-pipe
// ops (FastAntiquant: t = w * s(2^13 + 1), r = t - w * s 2^13), so one vector of 8 costs widen (1),
// convert (1), multiply (1), fused subtract (1) and the FMA with x (1): 3 of the 5 on the two FMA
// pipes, i.e. ~1.5 cycles per 8 elements, ~12 G elements/s with the data in L2 (measured); the
// general path (RoundF16 / RoundMagic) costs 4-5 ops more. int4 adds two shifts per vector. The
// m = 1 loop prefetches 2 KiB ahead of its stream. Four independent accumulators hide the FMA
// latency (eight measured the same).
//
// With bf16 activations on AVX512_BF16, int8 at m <= 8 (where the plan's fast_round holds) and
// int4 at m <= 16 run on vdpbf16ps instead (wq_decode_bf16.h); what follows is every other case.
// int8 at 2 <= m <= 8 dequantizes each vector once in registers and multiplies it into every row
// (DotColumnRows: m = 4 3.0 ms against 5.1 ms for the block path below, m = 8 5.8 against 6.7).
//
// Otherwise, for 2 <= m <= 16, a block of 128 k-values of 12 columns is dequantized once into an L1 buffer
// (6 KiB) and reused by every row. m <= 4: a 4-row x 2-column dot-product tile (8 accumulators);
// m >= 5: the GEMM micro-kernel's shape with W as the broadcast operand against x^T (6 columns x
// 2N rows, 12 FMAs per 2 loads + 6 broadcasts), or, when the rows fit one vector (m <= 16 with
// AVX-512's 16 lanes), 12 columns x N rows (12 FMAs per load + 12 broadcasts); the x block (16 rows x 128 fp32 = 8 KiB) stays in
// L1 beside it (with 512 k-values the x block alone filled L1 and the tile ran from L2 at ~1/3 the
// speed). Its cost
// is m * 2 flops per weight on 2 FMA pipes: at m = 16 this is ~5.4 ms for 4096 x 4096 at the
// 99 GFLOP/s peak, so m = 16 cannot be within 1.5x of the bandwidth-bound m = 1 time (0.7 ms
// int8) on this core with fp32 FMAs; the target is the FMA peak plus one dequantization pass.
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "kernels/wq_matmul_decode.cc"
#include "hwy/foreach_target.h"  // IWYU pragma: keep

#include <cstring>

#include "hwy/cache_control.h"
#include "hwy/highway.h"
#include "kernels/unroll.h"
#include "kernels/wq_decode_bf16.h"
#include "kernels/matmul_simd-inl.h"
#include "kernels/wq_decode_tiles-inl.h"
#include "kernels/wq_matmul_kernels.h"

HWY_BEFORE_NAMESPACE();
namespace mc2::kernels {
namespace HWY_NAMESPACE {
namespace {

struct DecodeCtx {
  const uint8_t* data;
  int64_t row_bytes;
  int64_t k, k_pad, group, groups;
  const float* scale;
  const float* offset;
};

// int8 weights [e, e + N) of a column.
HWY_INLINE VF WeightsAt(DF df, const uint8_t* row, int64_t e) { return LoadWeights<false>(df, row + e, 0); }

// Dequantizes one 32-element int8 chunk and hands each vector to `sink(v, d)`. The loop over the
// 32 / N vectors is fully unrolled. (a, b) are the group's constants (GroupConstA / GroupConstB).
template <bool kF16, bool kOff, bool kFast, class Sink>
HWY_INLINE void ForChunk(DF df, const uint8_t* chunk, VF a, VF b, const Sink& sink) {
  const size_t N = hn::Lanes(df);
MC2_UNROLL(32)
  for (size_t v = 0; v < static_cast<size_t>(kWqChunk) / N; ++v) {
    sink(v, GroupAntiquant<kF16, kOff, kFast>(df, LoadWeights<false>(df, chunk, v * N), a, b));
  }
}

// How far ahead (bytes) the m = 1 loop prefetches its weight stream. The hardware prefetcher alone
// left the loop at ~0.85 of its L2-resident speed when streaming from DRAM; 2 KiB ahead brought it
// to ~0.9 (measured on the 2-core EPYC host, 512 B - 8 KiB all within noise of each other).
constexpr int64_t kDecodePrefetchBytes = 2048;

// ---- int4: 128-element chunks of 16 32-bit words, element e in nibble e / 16 of word e % 16.
//
// A vector of N <= 16 lanes holds elements v * 16 + s + [0, N) of a chunk (v = 0..7, s a multiple
// of N): lanes s .. s + N of the words, nibble v. Sign-extending it is two shifts of the loaded
// words (no widening load). On AVX-512 the group's 16 possible dequantized values are one vector
// (the "table", dequantized with the same GroupAntiquant as every other path, so exactly the
// spec's values) and a vector of weights is one vpermps of it indexed by the words shifted right
// by 4 v (vpermps reads the low 4 bits of each index): shift + permute + FMA per 16 weights instead
// of widen + 2 shifts + convert + 2-op antiquant + FMA, which bounded the loop at ~0.4 of the read
// bandwidth. Groups are multiples of 32, so a group boundary falls between quarters (32 elements:
// nibbles 2 q and 2 q + 1) of a chunk.
#if HWY_ARCH_X86 && HWY_TARGET <= HWY_AVX3
constexpr bool kInt4Table = true;
#else
constexpr bool kInt4Table = false;
#endif

// Nibble kV of each 32-bit word of u, sign-extended, as fp32.
template <int kV>
HWY_INLINE VF Int4Nibble(DF df, hn::Vec<DI> u) {
  return hn::ConvertTo(df, hn::ShiftRight<28>(hn::ShiftLeft<28 - 4 * kV>(u)));
}

// The group's dequantized value of every int4 code, lane i holding code i (two's complement).
template <bool kF16, bool kOff, bool kFast>
HWY_INLINE VF Int4Table(DF df, VF a, VF b) {
  const VF iota = hn::Iota(df, 0.0f);
  const VF codes = hn::IfThenElse(hn::Ge(iota, hn::Set(df, 8.0f)), hn::Sub(iota, hn::Set(df, 16.0f)), iota);
  return GroupAntiquant<kF16, kOff, kFast>(df, codes, a, b);
}

// Weights of nibble kV: a table lookup where there is one, else unpack and dequantize.
template <int kV, bool kF16, bool kOff, bool kFast>
HWY_INLINE VF Int4Dequant(DF df, hn::Vec<DI> u, VF a, VF b, VF table) {
#if HWY_ARCH_X86 && HWY_TARGET <= HWY_AVX3
  (void)a;
  (void)b;
  const hn::Vec<DI> idx = kV == 0 ? u : hn::ShiftRight<4 * kV>(u);
  return VF{_mm512_permutexvar_ps(idx.raw, table.raw)};
#else
  (void)table;
  return GroupAntiquant<kF16, kOff, kFast>(df, Int4Nibble<kV>(df, u), a, b);
#endif
}

// The per-group constants of the int4 loops and where the group ends (an element index).
struct Int4Group {
  int64_t g = 0;
  int64_t end = 0;
};

template <bool kF16, bool kOff, bool kFast>
HWY_INLINE void Int4SetGroup(DF df, const DecodeCtx& c, const float* sc, const float* of, int64_t g, Int4Group* grp,
                             VF* a, VF* b, VF* table) {
  grp->g = g;
  grp->end = (g + 1) * c.group;
  *a = GroupConstA<kF16, kOff, kFast>(df, sc[g]);
  *b = GroupConstB<kF16, kOff, kFast>(df, sc[g], kOff ? of[g] : 0.0f);
  if constexpr (kInt4Table) *table = Int4Table<kF16, kOff, kFast>(df, *a, *b);
}

// Quarter kQ (elements 32 kQ .. 32 kQ + 32) of a full chunk: sink.operator()<kV>(offset in chunk,
// d) per vector, kV = the vector's nibble (0..7, a compile-time accumulator choice).
template <int kQ, bool kF16, bool kOff, bool kFast, class Sink>
HWY_INLINE void Int4Quarter(DF df, const uint8_t* chunk, VF a, VF b, VF table, const Sink& sink) {
  const DI di;
  const size_t N = hn::Lanes(df);
  const int32_t* words = reinterpret_cast<const int32_t*>(chunk);
  for (size_t s = 0; s < 16; s += N) {
    const hn::Vec<DI> u = hn::LoadU(di, words + s);
    sink.template operator()<2 * kQ>(static_cast<size_t>(32 * kQ) + s,
                                     Int4Dequant<2 * kQ, kF16, kOff, kFast>(df, u, a, b, table));
    sink.template operator()<2 * kQ + 1>(static_cast<size_t>(32 * kQ + 16) + s,
                                         Int4Dequant<2 * kQ + 1, kF16, kOff, kFast>(df, u, a, b, table));
  }
}

// Every vector of the full chunk starting at element e (a multiple of 128), moving the group
// along at quarter boundaries.
template <bool kF16, bool kOff, bool kFast, class Sink>
HWY_INLINE void Int4Chunk(DF df, const DecodeCtx& c, const float* sc, const float* of, const uint8_t* chunk,
                          int64_t e, Int4Group* grp, VF* a, VF* b, VF* table, const Sink& sink) {
  if (e >= grp->end) Int4SetGroup<kF16, kOff, kFast>(df, c, sc, of, grp->g + 1, grp, a, b, table);
  Int4Quarter<0, kF16, kOff, kFast>(df, chunk, *a, *b, *table, sink);
  if (e + 32 >= grp->end) Int4SetGroup<kF16, kOff, kFast>(df, c, sc, of, grp->g + 1, grp, a, b, table);
  Int4Quarter<1, kF16, kOff, kFast>(df, chunk, *a, *b, *table, sink);
  if (e + 64 >= grp->end) Int4SetGroup<kF16, kOff, kFast>(df, c, sc, of, grp->g + 1, grp, a, b, table);
  Int4Quarter<2, kF16, kOff, kFast>(df, chunk, *a, *b, *table, sink);
  if (e + 96 >= grp->end) Int4SetGroup<kF16, kOff, kFast>(df, c, sc, of, grp->g + 1, grp, a, b, table);
  Int4Quarter<3, kF16, kOff, kFast>(df, chunk, *a, *b, *table, sink);
}

// The chunk holding element k - 1 when k is not a multiple of 128: sink(offset, d) per vector,
// lanes at or beyond k zeroed (a non-finite dequantized padding value must not reach a sum).
// Runs once per column, so it unpacks with run-time shifts and finds each vector's group by a
// division.
template <bool kF16, bool kOff, bool kFast, class Sink>
HWY_INLINE void Int4TailChunk(DF df, const DecodeCtx& c, const float* sc, const float* of, const uint8_t* chunk,
                              int64_t e, const Sink& sink) {
  const DI di;
  const size_t N = hn::Lanes(df);
  const int32_t* words = reinterpret_cast<const int32_t*>(chunk);
  for (int v = 0; v < 8; ++v) {
    for (size_t s = 0; s < 16; s += N) {
      const int64_t first = e + 16 * v + static_cast<int64_t>(s);
      const int64_t valid = c.k > first ? c.k - first : 0;
      if (valid == 0) {
        sink(static_cast<size_t>(16 * v) + s, hn::Zero(df));
        continue;
      }
      const int64_t g = first / c.group;
      const VF a = GroupConstA<kF16, kOff, kFast>(df, sc[g]);
      const VF b = GroupConstB<kF16, kOff, kFast>(df, sc[g], kOff ? of[g] : 0.0f);
      const hn::Vec<DI> u = hn::LoadU(di, words + s);
      const VF w = hn::ConvertTo(df, hn::ShiftRightSame(hn::ShiftLeftSame(u, 28 - 4 * v), 28));
      const VF d = GroupAntiquant<kF16, kOff, kFast>(df, w, a, b);
      sink(static_cast<size_t>(16 * v) + s, hn::IfThenElseZero(hn::FirstN(df, static_cast<size_t>(valid)), d));
    }
  }
}

// sum of x * dequant(W) over the partial last chunk of column j (k not a multiple of 128), else 0.
template <bool kF16, bool kOff, bool kFast>
HWY_INLINE float Int4TailDot(const DecodeCtx& c, int64_t j, const float* HWY_RESTRICT x) {
  constexpr int64_t kChunk = kWqInt4DecodeChunk;
  const int64_t full_chunks = c.k / kChunk;
  if (full_chunks * kChunk == c.k) return 0.0f;
  const DF df;
  const float* sc = c.scale + j * c.groups;
  const float* of = kOff ? c.offset + j * c.groups : nullptr;
  const float* xp = x + full_chunks * kChunk;
  VF acc = hn::Zero(df);
  Int4TailChunk<kF16, kOff, kFast>(df, c, sc, of, c.data + j * c.row_bytes + full_chunks * (kChunk / 2),
                                   full_chunks * kChunk,
                                   [&](size_t off, VF d) HWY_ATTR { acc = hn::MulAdd(hn::LoadU(df, xp + off), d, acc); });
  return hn::GetLane(hn::SumOfLanes(df, acc));
}

#if HWY_ARCH_X86 && HWY_TARGET <= HWY_AVX3
// The bf16-activation int4 loop on vdpbf16ps (wq_decode_bf16.h): 32 weights per instruction,
// four columns per pass (at m = 1: x is read once for four columns) and up to 8 rows per pass
// (each dequantized vector serves every row). Columns j0 .. j0 + nc (nc <= 4) of rows r0 ..
// r0 + nr (nr <= 4, or 8) into out (row stride ldo); if a dequantized value is subnormal they take the
// fp32 loop. xb: x rearranged by Int4Bf16PackX, a row every k_pad; run_group: null where the
// groups are whole chunks (a multiple of 128, or one group), else the group of each 32-element run.
template <bool kOff, bool kFast>
HWY_NOINLINE void DotColumnsInt4Bf16(const DecodeCtx& c, int64_t j0, int nc, int64_t r0, int nr,
                                     const float* HWY_RESTRICT x32, int64_t ldx, const uint16_t* HWY_RESTRICT xb,
                                     const int32_t* run_group, float* out, int64_t ldo) {
  constexpr int64_t kChunk = kWqInt4DecodeChunk;
  const int64_t full_chunks = c.k / kChunk;
  const int64_t per_table = c.groups == 1 ? full_chunks : c.group / kChunk;
  Int4Bf16Columns cols;
  for (int i = 0; i < nc; ++i) {
    const int64_t j = j0 + i;
    cols.weights[i] = c.data + j * c.row_bytes;
    cols.scale[i] = c.scale + j * c.groups;
    if constexpr (kOff) cols.offset[i] = c.offset + j * c.groups;
  }
  // Prefetch the next four columns in address order, a line per column per chunk, to L2 (their
  // pass starts when this one ends). Prefetching each column's own stream ahead, as the fp32 loop
  // does, left the four interleaved 2 KiB streams at 0.6-0.8x the fp32 loop's speed from DRAM;
  // into L1 (with x and the columns being read) at ~0.7x of into L2.
  const bool ok = Int4Bf16Dot(cols, nc, nr, full_chunks, xb + r0 * c.k_pad, c.k_pad, per_table, run_group,
                              c.data + (j0 + nc) * c.row_bytes, out, ldo);
  for (int r = 0; r < nr; ++r) {
    const float* x = x32 + (r0 + r) * ldx;
    for (int i = 0; i < nc; ++i) {
      out[r * ldo + i] = ok ? out[r * ldo + i] + Int4TailDot<false, kOff, kFast>(c, j0 + i, x)
                            : DotColumnInt4<false, kOff, kFast>(c, j0 + i, x);
    }
  }
}

// The whole call on DotColumnsInt4Bf16 when the CPU has AVX512_BF16, k holds a full chunk and no
// row of x holds a subnormal value; returns false otherwise (nothing written). xb / run_group:
// scratch for rows * k_pad bf16 and k / 32 int32.
template <bool kOff, bool kFast>
bool DecodeInt4Bf16(const DecodeCtx& c, const WqRunArgs& args, const float* x32, int64_t ldx, float* acc,
                    uint16_t* xb, int32_t* run_group) {
  const int64_t full_chunks = c.k / kWqInt4DecodeChunk;
  if (full_chunks == 0 || !Bf16DotAvailable()) return false;
  for (int64_t r = 0; r < args.rows; ++r) {
    const uint16_t* xr = static_cast<const uint16_t*>(args.x) + r * args.x_stride;
    if (!Int4Bf16PackX(xr, full_chunks, xb + r * c.k_pad)) return false;
  }
  if (c.groups > 1 && c.group % kWqInt4DecodeChunk != 0) {
    for (int64_t r = 0; r < 4 * full_chunks; ++r) run_group[r] = static_cast<int32_t>(32 * r / c.group);
  } else {
    run_group = nullptr;
  }
  const int64_t ncols = args.n1 - args.n0;
  for (int64_t j = args.n0; j < args.n1; j += 4) {
    const int nc = static_cast<int>(args.n1 - j < 4 ? args.n1 - j : 4);
    // Every row group against these columns before the next ones: their 4 x k / 2 bytes stay in
    // L1 / L2 while the rows pass over them.
    // Eight rows at a time while eight remain (half the lookups per product of four), then four.
    for (int64_t r0 = 0, nr = 0; r0 < args.rows; r0 += nr) {
      nr = args.rows - r0 >= 8 ? 8 : (args.rows - r0 < 4 ? args.rows - r0 : 4);
      DotColumnsInt4Bf16<kOff, kFast>(c, j, nc, r0, static_cast<int>(nr), x32, ldx, xb, run_group,
                                      acc + r0 * ncols + (j - args.n0), ncols);
    }
  }
  return true;
}
#endif

// DotColumn for int4.
template <bool kF16, bool kOff, bool kFast>
HWY_NOINLINE float DotColumnInt4(const DecodeCtx& c, int64_t j, const float* HWY_RESTRICT x) {
  const DF df;
  constexpr int64_t kChunk = kWqInt4DecodeChunk;
  const uint8_t* row = c.data + j * c.row_bytes;
  const float* sc = c.scale + j * c.groups;
  const float* of = kOff ? c.offset + j * c.groups : nullptr;
  // One accumulator per nibble, so each takes one FMA per chunk (measured the same as four: the
  // loop is bound by its instruction count, not by the FMA latency; docs/kernels.md).
  VF acc0 = hn::Zero(df), acc1 = hn::Zero(df), acc2 = hn::Zero(df), acc3 = hn::Zero(df);
  VF acc4 = hn::Zero(df), acc5 = hn::Zero(df), acc6 = hn::Zero(df), acc7 = hn::Zero(df);
  VF a = hn::Zero(df), b = hn::Zero(df), table = hn::Zero(df);
  Int4Group grp;
  Int4SetGroup<kF16, kOff, kFast>(df, c, sc, of, 0, &grp, &a, &b, &table);
  const int64_t full_chunks = c.k / kChunk;
  for (int64_t ch = 0; ch < full_chunks; ++ch) {
    const uint8_t* chunk = row + ch * (kChunk / 2);
    const float* xp = x + ch * kChunk;
    // A hint, so running past the buffer's end is harmless.
    hwy::Prefetch(chunk + kDecodePrefetchBytes);
    Int4Chunk<kF16, kOff, kFast>(df, c, sc, of, chunk, ch * kChunk, &grp, &a, &b, &table,
                                 [&]<int kSlot>(size_t off, VF d) HWY_ATTR {
                                   const VF xv = hn::LoadU(df, xp + off);
                                   if constexpr (kSlot == 0) acc0 = hn::MulAdd(xv, d, acc0);
                                   if constexpr (kSlot == 1) acc1 = hn::MulAdd(xv, d, acc1);
                                   if constexpr (kSlot == 2) acc2 = hn::MulAdd(xv, d, acc2);
                                   if constexpr (kSlot == 3) acc3 = hn::MulAdd(xv, d, acc3);
                                   if constexpr (kSlot == 4) acc4 = hn::MulAdd(xv, d, acc4);
                                   if constexpr (kSlot == 5) acc5 = hn::MulAdd(xv, d, acc5);
                                   if constexpr (kSlot == 6) acc6 = hn::MulAdd(xv, d, acc6);
                                   if constexpr (kSlot == 7) acc7 = hn::MulAdd(xv, d, acc7);
                                 });
  }
  if (full_chunks * kChunk < c.k) {
    const float* xp = x + full_chunks * kChunk;
    Int4TailChunk<kF16, kOff, kFast>(df, c, sc, of, row + full_chunks * (kChunk / 2), full_chunks * kChunk,
                                     [&](size_t off, VF d) HWY_ATTR {
                                       acc1 = hn::MulAdd(hn::LoadU(df, xp + off), d, acc1);
                                     });
  }
  const VF sum = hn::Add(hn::Add(hn::Add(acc0, acc1), hn::Add(acc2, acc3)), hn::Add(hn::Add(acc4, acc5), hn::Add(acc6, acc7)));
  return hn::GetLane(hn::SumOfLanes(df, sum));
}

// DequantColumn for int4 (e0, e1 multiples of 128).
template <bool kF16, bool kOff, bool kFast>
HWY_NOINLINE void DequantColumnInt4(const DecodeCtx& c, int64_t j, int64_t e0, int64_t e1, float* HWY_RESTRICT dst) {
  const DF df;
  constexpr int64_t kChunk = kWqInt4DecodeChunk;
  const uint8_t* row = c.data + j * c.row_bytes;
  const float* sc = c.scale + j * c.groups;
  const float* of = kOff ? c.offset + j * c.groups : nullptr;
  VF a = hn::Zero(df), b = hn::Zero(df), table = hn::Zero(df);
  Int4Group grp;
  Int4SetGroup<kF16, kOff, kFast>(df, c, sc, of, e0 / c.group, &grp, &a, &b, &table);
  for (int64_t e = e0; e < e1; e += kChunk) {
    float* out = dst + (e - e0);
    const uint8_t* chunk = row + (e / kChunk) * (kChunk / 2);
    if (e + kChunk <= c.k) {
      Int4Chunk<kF16, kOff, kFast>(df, c, sc, of, chunk, e, &grp, &a, &b, &table,
                                   [&]<int kSlot>(size_t off, VF d) HWY_ATTR { hn::Store(d, df, out + off); });
    } else {
      Int4TailChunk<kF16, kOff, kFast>(df, c, sc, of, chunk, e,
                                       [&](size_t off, VF d) HWY_ATTR { hn::Store(d, df, out + off); });
    }
  }
}

// Every dequantized vector of int8 column j in k order, as sink(e, v, d): e its first element, v
// its index in its 32-element chunk (a constant in the unrolled chunk loop), d the values. The
// stream is prefetched kDecodePrefetchBytes ahead. The partial last chunk's vectors come with
// their lanes beyond k zeroed (so a non-finite dequantized padding value cannot reach a sum) and
// v = 1.
template <bool kF16, bool kOff, bool kFast, class Sink>
HWY_INLINE void ForColumnInt8(DF df, const DecodeCtx& c, int64_t j, const Sink& sink) {
  const size_t N = hn::Lanes(df);
  constexpr int64_t kChunkBytes = kWqChunk;
  const uint8_t* row = c.data + j * c.row_bytes;
  const float* sc = c.scale + j * c.groups;
  const float* of = kOff ? c.offset + j * c.groups : nullptr;
  const int64_t full_chunks = c.k / kWqChunk;
  const int64_t group_chunks = c.group / kWqChunk;
  for (int64_t g = 0; g < c.groups; ++g) {
    const VF a = GroupConstA<kF16, kOff, kFast>(df, sc[g]);
    const VF b = GroupConstB<kF16, kOff, kFast>(df, sc[g], kOff ? of[g] : 0.0f);
    const int64_t ch0 = g * group_chunks;
    const int64_t ch1 = ch0 + group_chunks < full_chunks ? ch0 + group_chunks : full_chunks;
    for (int64_t ch = ch0; ch < ch1; ++ch) {
      // One line per 64 bytes of the stream; a hint, so running past the buffer's end is harmless.
      if ((ch * kChunkBytes) % 64 == 0) hwy::Prefetch(row + ch * kChunkBytes + kDecodePrefetchBytes);
      ForChunk<kF16, kOff, kFast>(df, row + ch * kChunkBytes, a, b, [&](size_t v, VF d) HWY_ATTR {
        sink(static_cast<size_t>(ch * kWqChunk) + v * N, v, d);
      });
    }
  }
  if (full_chunks * kWqChunk < c.k) {
    const int64_t e0 = full_chunks * kWqChunk;
    const int64_t g = e0 / c.group;
    const VF a = GroupConstA<kF16, kOff, kFast>(df, sc[g]);
    const VF b = GroupConstB<kF16, kOff, kFast>(df, sc[g], kOff ? of[g] : 0.0f);
    for (int64_t e = e0; e < c.k_pad; e += static_cast<int64_t>(N)) {
      const int64_t valid = c.k > e ? c.k - e : 0;
      const VF d = GroupAntiquant<kF16, kOff, kFast>(df, WeightsAt(df, row, e), a, b);
      sink(static_cast<size_t>(e), size_t{1}, hn::IfThenElseZero(hn::FirstN(df, static_cast<size_t>(valid)), d));
    }
  }
}

// One output: sum over k of x[k] * dequant(W[k, j]).
template <bool kF16, bool kOff, bool kInt4, bool kFast>
HWY_NOINLINE float DotColumn(const DecodeCtx& c, int64_t j, const float* HWY_RESTRICT x) {
  if constexpr (kInt4) {
    return DotColumnInt4<kF16, kOff, kFast>(c, j, x);
  } else {
    const DF df;
    // Named, not an array: arrays of vectors are ill-formed for SVE's sizeless types.
    VF acc0 = hn::Zero(df), acc1 = hn::Zero(df), acc2 = hn::Zero(df), acc3 = hn::Zero(df);
    ForColumnInt8<kF16, kOff, kFast>(df, c, j, [&](size_t e, size_t v, VF d) HWY_ATTR {
      const VF xv = hn::LoadU(df, x + e);
      switch (v & 3) {  // v is a constant in the unrolled chunk loop
        case 0: acc0 = hn::MulAdd(xv, d, acc0); break;
        case 1: acc1 = hn::MulAdd(xv, d, acc1); break;
        case 2: acc2 = hn::MulAdd(xv, d, acc2); break;
        default: acc3 = hn::MulAdd(xv, d, acc3); break;
      }
    });
    const VF sum = hn::Add(hn::Add(acc0, acc1), hn::Add(acc2, acc3));
    return hn::GetLane(hn::SumOfLanes(df, sum));
  }
}

// int8, MR (2..8) rows: out[r * ldo] = sum over k of x row r * dequant(W[k, j]). Each dequantized
// vector (the m = 1 loop's, in registers) serves every row, so the dequantization is paid once for
// MR rows and no L1 buffer is written and read back (the block path below). x rows at x + r * ldx,
// zero padded past k.
template <size_t MR, bool kF16, bool kOff, bool kFast>
HWY_NOINLINE void DotColumnRows(const DecodeCtx& c, int64_t j, const float* HWY_RESTRICT x, int64_t ldx,
                                float* out, int64_t ldo) {
  static_assert(MR >= 2 && MR <= 8, "2..8 rows");
  const DF df;
  VF a0 = hn::Zero(df), a1 = hn::Zero(df), a2 = hn::Zero(df), a3 = hn::Zero(df);
  VF a4 = hn::Zero(df), a5 = hn::Zero(df), a6 = hn::Zero(df), a7 = hn::Zero(df);
  ForColumnInt8<kF16, kOff, kFast>(df, c, j, [&](size_t e, size_t, VF d) HWY_ATTR {
    a0 = hn::MulAdd(hn::LoadU(df, x + e), d, a0);
    a1 = hn::MulAdd(hn::LoadU(df, x + ldx + e), d, a1);
    if constexpr (MR > 2) a2 = hn::MulAdd(hn::LoadU(df, x + 2 * ldx + e), d, a2);
    if constexpr (MR > 3) a3 = hn::MulAdd(hn::LoadU(df, x + 3 * ldx + e), d, a3);
    if constexpr (MR > 4) a4 = hn::MulAdd(hn::LoadU(df, x + 4 * ldx + e), d, a4);
    if constexpr (MR > 5) a5 = hn::MulAdd(hn::LoadU(df, x + 5 * ldx + e), d, a5);
    if constexpr (MR > 6) a6 = hn::MulAdd(hn::LoadU(df, x + 6 * ldx + e), d, a6);
    if constexpr (MR > 7) a7 = hn::MulAdd(hn::LoadU(df, x + 7 * ldx + e), d, a7);
  });
  out[0] = hn::GetLane(hn::SumOfLanes(df, a0));
  out[ldo] = hn::GetLane(hn::SumOfLanes(df, a1));
  if constexpr (MR > 2) out[2 * ldo] = hn::GetLane(hn::SumOfLanes(df, a2));
  if constexpr (MR > 3) out[3 * ldo] = hn::GetLane(hn::SumOfLanes(df, a3));
  if constexpr (MR > 4) out[4 * ldo] = hn::GetLane(hn::SumOfLanes(df, a4));
  if constexpr (MR > 5) out[5 * ldo] = hn::GetLane(hn::SumOfLanes(df, a5));
  if constexpr (MR > 6) out[6 * ldo] = hn::GetLane(hn::SumOfLanes(df, a6));
  if constexpr (MR > 7) out[7 * ldo] = hn::GetLane(hn::SumOfLanes(df, a7));
}

// dst[e - e0] = dequant(W[e, j]) for e in [e0, e1) (multiples of 32; int4: of 128), zero beyond k.
template <bool kF16, bool kOff, bool kInt4, bool kFast>
HWY_NOINLINE void DequantColumn(const DecodeCtx& c, int64_t j, int64_t e0, int64_t e1, float* HWY_RESTRICT dst) {
  if constexpr (kInt4) {
    DequantColumnInt4<kF16, kOff, kFast>(c, j, e0, e1, dst);
  } else {
    const DF df;
    const size_t N = hn::Lanes(df);
    constexpr int64_t kChunkBytes = kWqChunk;
    const uint8_t* row = c.data + j * c.row_bytes;
    const float* sc = c.scale + j * c.groups;
    const float* of = kOff ? c.offset + j * c.groups : nullptr;
    int64_t g = e0 / c.group;  // one division per call; group boundaries are then tracked
    int64_t g_end = (g + 1) * c.group;
    VF a = GroupConstA<kF16, kOff, kFast>(df, sc[g]);
    VF b = GroupConstB<kF16, kOff, kFast>(df, sc[g], kOff ? of[g] : 0.0f);
    for (int64_t e = e0; e < e1; e += kWqChunk) {
      if (e >= g_end) {
        ++g;
        g_end += c.group;
        a = GroupConstA<kF16, kOff, kFast>(df, sc[g]);
        b = GroupConstB<kF16, kOff, kFast>(df, sc[g], kOff ? of[g] : 0.0f);
      }
      float* out = dst + (e - e0);
      if (e + kWqChunk <= c.k) {
        ForChunk<kF16, kOff, kFast>(df, row + (e / kWqChunk) * kChunkBytes, a, b,
                                    [&](size_t v, VF d) HWY_ATTR { hn::Store(d, df, out + v * N); });
        continue;
      }
      for (int64_t i = 0; i < kWqChunk; i += static_cast<int64_t>(N)) {
        const int64_t valid = c.k > e + i ? c.k - e - i : 0;
        VF d = GroupAntiquant<kF16, kOff, kFast>(df, WeightsAt(df, row, e + i), a, b);
        hn::Store(hn::IfThenElseZero(hn::FirstN(df, static_cast<size_t>(valid)), d), df, out + i);
      }
    }
  }
}

template <bool kF16, bool kOff, bool kInt4, bool kFast>
void DecodeImpl(const WqRunArgs& args) {
  const WqPackedWeights& pw = *args.packed;
  const DecodeCtx c{pw.data.data(), kInt4 ? pw.k_pad / 2 : pw.k_pad, pw.k, pw.k_pad, pw.group, pw.groups,
                    pw.scale.data(), kOff ? pw.offset.data() : nullptr};
  const int64_t rows = args.rows;
  const int64_t rows_pad = (rows + 3) / 4 * 4;
  const int64_t ncols = args.n1 - args.n0;
  float* x32 = reinterpret_cast<float*>(args.scratch);
  // Rows of x are 16 floats longer than k_pad: a stride of a multiple of 4 KiB would put every row
  // of a tile in the same L1 sets (measured: m = 16 ran at 40% of its speed with a 16 KiB stride).
  const int64_t ldx = XStride(c.k_pad);
  float* acc = x32 + rows_pad * ldx;
  float* wbuf = acc + (rows * ncols + 15) / 16 * 16;
  const size_t esize = 2;
  for (int64_t r = 0; r < rows_pad; ++r) {
    float* xr = x32 + r * ldx;
    if (r < rows) {
      RowToF32(static_cast<const uint8_t*>(args.x) + r * args.x_stride * esize, args.act_dtype,
               static_cast<size_t>(c.k), xr);
      std::memset(xr + c.k, 0, (ldx - c.k) * sizeof(float));
    } else {
      std::memset(xr, 0, ldx * sizeof(float));
    }
  }
  bool bf16_done = false;
#if HWY_ARCH_X86 && HWY_TARGET <= HWY_AVX3
  if constexpr (kInt4 && !kF16) {
    // The x^T region of the fp32 path ((k_pad + kDecodeCols) x 32 floats) holds x rearranged
    // (rows x k_pad bf16 <= 8 k_pad floats) and the groups of the 32-element runs (k_pad / 32).
    uint16_t* xb = reinterpret_cast<uint16_t*>(wbuf + kDecodeCols * kDecodeKb);
    int32_t* run_group = reinterpret_cast<int32_t*>(xb + rows * c.k_pad);
    bf16_done = DecodeInt4Bf16<kOff, kFast>(c, args, x32, ldx, acc, xb, run_group);
  }
  if constexpr (!kInt4 && !kF16 && kFast) {
    // int8, bf16 activations, m <= 8: vdpbf16ps on the weights rounded to bf16 (fast_round: every
    // nonzero dequantized value is a normal fp32 number, which vcvtne2ps2bf16 needs). x rows
    // packed in the x^T region (rows x k_pad bf16).
    if (rows <= kInt8Bf16MaxRows && Bf16DotAvailable()) {
      uint16_t* xb = reinterpret_cast<uint16_t*>(wbuf + kDecodeCols * kDecodeKb);
      bool normal = true;
      for (int64_t r = 0; r < rows && normal; ++r) {
        normal = Bf16PackRow(static_cast<const uint16_t*>(args.x) + r * args.x_stride, c.k, c.k_pad,
                             xb + r * c.k_pad);
      }
      if (normal) {
        for (int64_t j = args.n0; j < args.n1; ++j) {
          Int8Bf16DotRows(reinterpret_cast<const int8_t*>(c.data + j * c.row_bytes), c.scale + j * c.groups,
                          kOff ? c.offset + j * c.groups : nullptr, c.group, c.k_pad, xb, c.k_pad,
                          static_cast<int>(rows), acc + (j - args.n0), ncols);
        }
        bf16_done = true;
      }
    }
  }
#endif
  if (bf16_done) {
    // acc holds the sums.
  } else if (rows == 1) {
    for (int64_t j = args.n0; j < args.n1; ++j) acc[j - args.n0] = DotColumn<kF16, kOff, kInt4, kFast>(c, j, x32);
  } else if (!kInt4 && rows <= 8) {
    for (int64_t j = args.n0; j < args.n1; ++j) {
      float* o = acc + (j - args.n0);
      switch (rows) {
        case 2: DotColumnRows<2, kF16, kOff, kFast>(c, j, x32, ldx, o, ncols); break;
        case 3: DotColumnRows<3, kF16, kOff, kFast>(c, j, x32, ldx, o, ncols); break;
        case 4: DotColumnRows<4, kF16, kOff, kFast>(c, j, x32, ldx, o, ncols); break;
        case 5: DotColumnRows<5, kF16, kOff, kFast>(c, j, x32, ldx, o, ncols); break;
        case 6: DotColumnRows<6, kF16, kOff, kFast>(c, j, x32, ldx, o, ncols); break;
        case 7: DotColumnRows<7, kF16, kOff, kFast>(c, j, x32, ldx, o, ncols); break;
        default: DotColumnRows<8, kF16, kOff, kFast>(c, j, x32, ldx, o, ncols); break;
      }
    }
  } else {
    std::memset(acc, 0, rows * ncols * sizeof(float));
    // x^T ([k_pad][ldt] fp32, rows zero padded to a multiple of 2N) for the outer-product tile.
    // Rows in groups of one vector when they fit one (OuterTile12), else of two (OuterTile6).
    const int64_t lanes = static_cast<int64_t>(hn::Lanes(DF()));
    const bool one_vector = rows <= lanes;
    const int64_t row_group = one_vector ? lanes : 2 * lanes;
    const int64_t ldt = (rows + row_group - 1) / row_group * row_group;
    float* xt = wbuf + kDecodeCols * kDecodeKb;
    float* batch_acc = xt + c.k_pad * ldt;  // [kDecodeCols][ldt]
    if (rows >= kDecodeOuterMinRows) {
      for (int64_t e = 0; e < c.k_pad; ++e) {
        for (int64_t r = 0; r < ldt; ++r) xt[e * ldt + r] = r < rows ? x32[r * ldx + e] : 0.0f;
      }
    }
    for (int64_t j0 = args.n0; j0 < args.n1; j0 += kDecodeCols) {
      const int64_t nc = args.n1 - j0 < kDecodeCols ? args.n1 - j0 : kDecodeCols;
      if (rows >= kDecodeOuterMinRows) std::memset(batch_acc, 0, kDecodeCols * ldt * sizeof(float));
      for (int64_t e0 = 0; e0 < c.k_pad; e0 += kDecodeKb) {
        const int64_t e1 = e0 + kDecodeKb < c.k_pad ? e0 + kDecodeKb : c.k_pad;
        for (int64_t cc = 0; cc < kDecodeCols; ++cc) {
          if (cc < nc) {
            DequantColumn<kF16, kOff, kInt4, kFast>(c, j0 + cc, e0, e1, wbuf + cc * kDecodeKb);
          } else {
            std::memset(wbuf + cc * kDecodeKb, 0, (e1 - e0) * sizeof(float));
          }
        }
        if (rows >= kDecodeOuterMinRows) {
          // Rows in groups of 2N against 6 columns at a time (kDecodeCols is a multiple of 6).
          // Sums go to the batch's own [column][ldt] buffer (contiguous vector adds); the (rows, n)
          // acc is written once per batch: adding there per block strided by n (16 KiB) took
          // more than half the time (measured).
          HWY_ALIGN float out[kDecodeCols * 16];
          const DF df;
          const size_t N = hn::Lanes(df);
          if (one_vector) {
            // nc < 12 only in the last block: its padded columns are zero and their sums unused.
            OuterTile12(wbuf, kDecodeKb, xt + e0 * ldt, static_cast<size_t>(ldt), static_cast<size_t>(e1 - e0), out);
            for (int64_t cc = 0; cc < nc; ++cc) {
              float* b = batch_acc + cc * ldt;
              hn::Store(hn::Add(hn::Load(df, b), hn::Load(df, out + cc * N)), df, b);
            }
          }
          for (int64_t rg = 0; !one_vector && rg < rows; rg += row_group) {
            for (int64_t cc = 0; cc < nc; cc += 6) {
              OuterTile6(wbuf + cc * kDecodeKb, kDecodeKb, xt + e0 * ldt + rg, static_cast<size_t>(ldt),
                         static_cast<size_t>(e1 - e0), out);
              for (int64_t c6 = 0; c6 < 6; ++c6) {
                float* b = batch_acc + (cc + c6) * ldt + rg;
                for (size_t v = 0; v < 2; ++v) {
                  hn::Store(hn::Add(hn::Load(df, b + v * N), hn::Load(df, out + c6 * row_group + v * N)), df, b + v * N);
                }
              }
            }
          }
          if (e1 == c.k_pad) {
            for (int64_t cc = 0; cc < nc; ++cc) {
              for (int64_t r = 0; r < rows; ++r) acc[r * ncols + (j0 - args.n0) + cc] = batch_acc[cc * ldt + r];
            }
          }
          continue;
        }
        for (int64_t r0 = 0; r0 < rows; r0 += 4) {
          const float* xr = x32 + r0 * ldx + e0;
          for (int64_t cc = 0; cc < nc; cc += 2) {
            // Column cc + 1 may be padding (zeros); its sums land in a spare slot when cc + 1 == nc.
            float tile[4][2] = {};
            const float* w0 = wbuf + cc * kDecodeKb;
            const float* w1 = w0 + kDecodeKb;
            const int64_t mr = rows - r0 < 4 ? rows - r0 : 4;
            switch (mr) {
              case 1: DotTile<1>(xr, ldx, w0, w1, e1 - e0, &tile[0][0], 2); break;
              case 2: DotTile<2>(xr, ldx, w0, w1, e1 - e0, &tile[0][0], 2); break;
              case 3: DotTile<3>(xr, ldx, w0, w1, e1 - e0, &tile[0][0], 2); break;
              default: DotTile<4>(xr, ldx, w0, w1, e1 - e0, &tile[0][0], 2); break;
            }
            for (int64_t r = 0; r < mr; ++r) {
              acc[(r0 + r) * ncols + (j0 - args.n0) + cc] += tile[r][0];
              if (cc + 1 < nc) acc[(r0 + r) * ncols + (j0 - args.n0) + cc + 1] += tile[r][1];
            }
          }
        }
      }
    }
  }
  const size_t out_size = args.out_dtype == DType::kFloat32 ? 4 : 2;
  for (int64_t r = 0; r < rows; ++r) {
    void* yr = static_cast<uint8_t*>(args.y) + (r * args.y_stride + args.n0) * out_size;
    StoreRowOut(acc + r * ncols, args.bias, args.bias_dtype, static_cast<size_t>(args.n0),
                static_cast<size_t>(ncols), yr, args.out_dtype);
  }
}

}  // namespace

void WqDecodeRunImpl(const WqRunArgs& args) {
  const bool f16 = args.act_dtype == DType::kFloat16;
  const bool fast = args.packed->fast_round;
  const int sel = (f16 ? 4 : 0) | (args.has_offset ? 2 : 0) | (args.int4 ? 1 : 0);
  switch (sel) {
    case 0: return fast ? DecodeImpl<false, false, false, true>(args) : DecodeImpl<false, false, false, false>(args);
    case 1: return fast ? DecodeImpl<false, false, true, true>(args) : DecodeImpl<false, false, true, false>(args);
    case 2: return fast ? DecodeImpl<false, true, false, true>(args) : DecodeImpl<false, true, false, false>(args);
    case 3: return fast ? DecodeImpl<false, true, true, true>(args) : DecodeImpl<false, true, true, false>(args);
    case 4: return fast ? DecodeImpl<true, false, false, true>(args) : DecodeImpl<true, false, false, false>(args);
    case 5: return fast ? DecodeImpl<true, false, true, true>(args) : DecodeImpl<true, false, true, false>(args);
    case 6: return DecodeImpl<true, true, false, false>(args);
    default: return DecodeImpl<true, true, true, false>(args);
  }
}

}  // namespace HWY_NAMESPACE
}  // namespace mc2::kernels
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace mc2::kernels {

HWY_EXPORT(WqDecodeRunImpl);

size_t WqDecodeScratchBytes(int64_t rows, int64_t k_pad, int64_t n) {
  const int64_t rows_pad = (rows + 3) / 4 * 4;
  const int64_t floats = rows_pad * XStride(k_pad) + (rows * n + 15) / 16 * 16 + kDecodeCols * kDecodeKb +
                         (k_pad + kDecodeCols) * ((rows + 31) / 32 * 32);
  return static_cast<size_t>(floats) * sizeof(float);
}

void WqDecodeRun(const WqRunArgs& args) { HWY_DYNAMIC_DISPATCH(WqDecodeRunImpl)(args); }

}  // namespace mc2::kernels
#endif  // HWY_ONCE
