// Int4Bf16Dot and its helpers (wq_decode_bf16.h). Plain intrinsics in functions compiled for
// AVX512_BF16 by target attribute: Highway 1.0.3 has no target with vdpbf16ps, so this is the one
// kernel outside Highway, reached only from the AVX-512 target of wq_matmul_decode.cc after a
// CPUID check.
//
// One 128-element chunk is 16 32-bit words, element e in nibble e / 16 of word e % 16. Read as 32
// 16-bit lanes, lane 2 i holds nibbles 0..3 of word i (elements 16 v + i) and lane 2 i + 1 nibbles
// 4..7 (elements 64 + 16 v + i); shifting the lanes right by 4 v puts the codes of vector v in
// their low 4 bits, and vpermw (which reads 5 bits) looks them up in the group's table stored
// twice. vdpbf16ps then adds lane pairs (2 i, 2 i + 1) into fp32 lane i: per chunk one load, three
// shifts, four vpermw and four vdpbf16ps for 128 weights, against a shift, a vpermps and an FMA
// per 16 in the fp32 loop.
#include "kernels/wq_decode_bf16.h"

#include <atomic>
#include <cstdlib>

#include "kernels/cpu_features.h"

#if defined(__x86_64__)
#include <immintrin.h>
#endif

namespace mc2::kernels {
namespace {

std::atomic<bool> g_enabled{true};

// How far ahead (bytes) the loop prefetches its weight stream, as the fp32 loop does.
constexpr int64_t kPrefetchBytes = 2048;

}  // namespace

void SetInt4Bf16DotEnabledForTest(bool enabled) { g_enabled.store(enabled, std::memory_order_relaxed); }

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
        // Exponent 0 with a nonzero fraction: subnormal.
        normal &= !((lo & 0x7f80u) == 0 && (lo & 0x7fu) != 0) && !((hi & 0x7f80u) == 0 && (hi & 0x7fu) != 0);
      }
    }
  }
  return normal;
}

#if defined(__x86_64__) && (defined(__clang__) || __GNUC__ >= 12)

bool Int4Bf16DotAvailable() {
  static const bool has = [] {
    const CpuFeatures f = DetectCpuFeatures();
    return f.avx512f && f.avx512bw && f.avx512_bf16;
  }();
  return has && g_enabled.load(std::memory_order_relaxed);
}

namespace {

// The table as 32 bf16 lanes, the 16 values twice (vpermw reads 5 bits of each index).
__attribute__((target("avx512f,avx512bw,avx512bf16"))) inline __m512i TableOf(const float* t) {
  const __m512 v = _mm512_loadu_ps(t);
  return reinterpret_cast<__m512i>(_mm512_cvtne2ps_pbh(v, v));
}

template <int kV>
__attribute__((target("avx512f,avx512bw,avx512bf16"))) inline __m512 Step(__m512 acc, __m512i u, __m512i table,
                                                                        const uint16_t* xb) {
  const __m512i idx = kV == 0 ? u : _mm512_srli_epi16(u, 4 * kV);
  const __m512i w = _mm512_permutexvar_epi16(idx, table);
  const __m512i xv = _mm512_loadu_si512(xb + 32 * kV);
  return _mm512_dpbf16_ps(acc, reinterpret_cast<__m512bh>(w), reinterpret_cast<__m512bh>(xv));
}

}  // namespace

__attribute__((target("avx512f,avx512bw,avx512bf16"))) float Int4Bf16Dot(const uint8_t* column, int64_t chunks,
                                                                        const uint16_t* xb, const float* tables,
                                                                        int64_t chunks_per_table) {
  // Two chunks per step into separate accumulators: vdpbf16ps's latency would otherwise bound the
  // loop at one chunk per latency.
  __m512 a0 = _mm512_setzero_ps(), a1 = _mm512_setzero_ps(), a2 = _mm512_setzero_ps(), a3 = _mm512_setzero_ps();
  __m512 b0 = _mm512_setzero_ps(), b1 = _mm512_setzero_ps(), b2 = _mm512_setzero_ps(), b3 = _mm512_setzero_ps();
  for (int64_t c0 = 0; c0 < chunks; c0 += chunks_per_table) {
    const __m512i table = TableOf(tables + 16 * (c0 / chunks_per_table));
    const int64_t c1 = c0 + chunks_per_table < chunks ? c0 + chunks_per_table : chunks;
    int64_t c = c0;
    for (; c + 2 <= c1; c += 2) {
      const uint8_t* w = column + 64 * c;
      _mm_prefetch(reinterpret_cast<const char*>(w + kPrefetchBytes), _MM_HINT_T0);
      _mm_prefetch(reinterpret_cast<const char*>(w + 64 + kPrefetchBytes), _MM_HINT_T0);
      const __m512i u = _mm512_loadu_si512(w);
      const __m512i u2 = _mm512_loadu_si512(w + 64);
      const uint16_t* x = xb + 128 * c;
      a0 = Step<0>(a0, u, table, x);
      b0 = Step<0>(b0, u2, table, x + 128);
      a1 = Step<1>(a1, u, table, x);
      b1 = Step<1>(b1, u2, table, x + 128);
      a2 = Step<2>(a2, u, table, x);
      b2 = Step<2>(b2, u2, table, x + 128);
      a3 = Step<3>(a3, u, table, x);
      b3 = Step<3>(b3, u2, table, x + 128);
    }
    if (c < c1) {
      const uint8_t* w = column + 64 * c;
      const __m512i u = _mm512_loadu_si512(w);
      const uint16_t* x = xb + 128 * c;
      a0 = Step<0>(a0, u, table, x);
      a1 = Step<1>(a1, u, table, x);
      a2 = Step<2>(a2, u, table, x);
      a3 = Step<3>(a3, u, table, x);
    }
  }
  const __m512 sum = _mm512_add_ps(_mm512_add_ps(_mm512_add_ps(a0, a1), _mm512_add_ps(a2, a3)),
                                   _mm512_add_ps(_mm512_add_ps(b0, b1), _mm512_add_ps(b2, b3)));
  // Halving by hand: GCC 12's _mm512_reduce_add_ps warns of an uninitialized operand.
  alignas(64) float lanes[16];
  _mm512_store_ps(lanes, sum);
  float total = 0.0f;
  for (float v : lanes) total += v;
  return total;
}

#else  // no AVX512_BF16 code on this architecture / compiler

bool Int4Bf16DotAvailable() { return false; }

// Unreachable: callers check Int4Bf16DotAvailable(), false here.
float Int4Bf16Dot(const uint8_t*, int64_t, const uint16_t*, const float*, int64_t) { std::abort(); }

#endif

}  // namespace mc2::kernels
