// The decode dot products with bf16 activations on AVX512_BF16 (vdpbf16ps): 32 weights per
// instruction instead of 16 fp32 FMAs, for the decode loops of wq_matmul_decode.cc (int4: m <= 16;
// int8: m <= 8).
//
// Exact where it runs: a bf16 activation and a bf16-rounded dequantized weight (the spec's value
// for bf16 activations) are bf16 numbers, so each product is exact in fp32 and only the fp32
// summation order differs from the FMA loop's. vdpbf16ps treats bf16 subnormal inputs as zero and
// flushes subnormal results, so it is used only when no input is subnormal (every sum then
// differs from the FMA loop's by rounding, plus at most 2^-126 per flushed partial sum).
#pragma once

#include <cstdint>

namespace mc2::kernels {

// The CPU runs vdpbf16ps (AVX512_BF16, with AVX512F/BW), and tests have not turned it off.
bool Bf16DotAvailable();

// Tests: false routes bf16 activations to the fp32 FMA loops even where the CPU has AVX512_BF16,
// so both paths are checked on one host. Not for concurrent use with running kernels.
void SetBf16DotEnabledForTest(bool enabled);

// x (bf16 bits, k elements) rearranged for Int4Bf16Dot: for each 128-element chunk c and vector
// v = 0..3, 16 pairs (x[128 c + 16 v + i], x[128 c + 64 + 16 v + i]), i = 0..15 (the int4 chunk
// layout's words split into 16-bit halves). `chunks` full chunks; returns false if x holds a
// subnormal value (vdpbf16ps would read it as zero).
bool Int4Bf16PackX(const uint16_t* x, int64_t chunks, uint16_t* xb);

// Up to four packed int4 columns (the decode layout) with their per-group scales and offsets
// (fp32 holding bf16 values; offset[i] null for all columns without offset).
struct Int4Bf16Columns {
  const uint8_t* weights[4] = {};
  const float* scale[4] = {};
  const float* offset[4] = {};
};

// out[r * ldo + i] = sum over `chunks` full 128-element chunks of column i of row r of x times
// dequant(w), for n_columns (1..4) columns and rows (1..4 or 8) rows, row r's rearranged x at
// xb + r * xb_stride. Groups: if run_group is null, chunk c takes scale[i][c / chunks_per_table]
// (and the offset: groups of whole chunks); else elements 32 r .. 32 r + 32 take group
// run_group[r] (any group that is a multiple of 32; two tables per chunk). While chunk c is read,
// bytes 64 (n_columns c + i), i < n_columns, from `prefetch` are prefetched (the next columns, in
// address order: a hint, may point past the weights). Returns false, with `out` unspecified, if a
// dequantized value is subnormal (vdpbf16ps would read it as zero). Only call when
// Bf16DotAvailable().
bool Int4Bf16Dot(const Int4Bf16Columns& cols, int n_columns, int rows, int64_t chunks, const uint16_t* xb,
                 int64_t xb_stride, int64_t chunks_per_table, const int32_t* run_group, const uint8_t* prefetch,
                 float* out, int64_t ldo);

// ---- int8 (m <= 8)

// x (bf16 bits, k elements) copied to xb[0, k) and zeros to xb[k, k_pad); returns false if x holds
// a subnormal value (vdpbf16ps would read it as zero).
bool Bf16PackRow(const uint16_t* x, int64_t k, int64_t k_pad, uint16_t* xb);

// sum over e < k_pad of xb[e] * bf16((w[e] + offset[g]) * scale[g]), g = e / group: one int8
// decode column (k_pad bytes, a multiple of 32; group a multiple of 32 with ceil(k_pad / group)
// scales and offsets, fp32 holding bf16 values; offset null for none) against a row packed by
// Bf16PackRow. The dequantized value is the fp32 product rounded to bf16 by vcvtne2ps2bf16, which
// reads subnormal fp32 values as zero: call only for plans whose every nonzero (w + o) * s is a
// normal fp32 number (WqPackedWeights::fast_round proves it for bf16). Prefetches the stream 2 KiB
// ahead (past the column: the next one). Only call when Bf16DotAvailable().
float Int8Bf16Dot(const int8_t* w, const float* scale, const float* offset, int64_t group, int64_t k_pad,
                  const uint16_t* xb);

// The same for `rows` (1..8) rows of x, row r packed at xb + r * xb_stride: out[r * ldo] = row r's
// sum. Each dequantized vector serves every row.
void Int8Bf16DotRows(const int8_t* w, const float* scale, const float* offset, int64_t group, int64_t k_pad,
                     const uint16_t* xb, int64_t xb_stride, int rows, float* out, int64_t ldo);

}  // namespace mc2::kernels
