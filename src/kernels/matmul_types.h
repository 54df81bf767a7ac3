// Vocabulary shared by the matmul kernels (weight-quantized and float): how a weight is stored,
// how its antiquant scale is laid out, which part of the output a call computes, and how a kernel
// says "not this shape" without it being an error.
//
// Work is split by output ranges: a call computes rows [m0, m1) and columns [n0, n1) of y and
// touches nothing else, so a caller's thread pool runs disjoint ranges concurrently. Kernels never
// create threads; SplitRange() below cuts the output into task ranges aligned to the kernels'
// column blocks.
#pragma once

#include <cstdint>
#include <string>
#include <utility>

namespace mc2::kernels {

// Storage order of a logical (k, n) weight.
//   kKN    row-major (k, n): n contiguous.
//   kNK    row-major (n, k): k contiguous (CANN's "transposed x2", spec 2.3).
//   kNzKN  FRACTAL_NZ of the (k, n) matrix: [1, ceil(n/c0), k_pad16, c0] (spec 4.6).
//   kNzNK  FRACTAL_NZ of the (n, k) matrix: [1, ceil(k/c0), n_pad16, c0].
// int4 packs two elements per byte along the contiguous storage dim, element 2j in the low nibble.
enum class WeightLayout : uint8_t { kKN, kNK, kNzKN, kNzNK };

// Granularity of the antiquant scale / offset.
//   kPerTensor  one value.
//   kPerChannel one value per output column n.
//   kPerGroup   one value per (k / group_size, n).
enum class ScaleMode : uint8_t { kPerTensor, kPerChannel, kPerGroup };

// Which regime a weight-quantized plan runs (chosen from m unless forced).
//   kDecode  small m: stream the quantized weights once, dequantize in registers.
//   kPrefill large m: dequantize panels into a cache-resident fp32 buffer, register-blocked GEMM.
enum class MatmulRegime : uint8_t { kAuto, kDecode, kPrefill };

// Rows [m0, m1) and columns [n0, n1) of the output.
struct MatmulRange {
  int64_t m0 = 0;
  int64_t m1 = 0;
  int64_t n0 = 0;
  int64_t n1 = 0;
  int64_t rows() const { return m1 - m0; }
  int64_t cols() const { return n1 - n0; }
  bool empty() const { return m1 <= m0 || n1 <= n0; }
};

// Runs fn(ctx, task) for every task in [0, n_tasks), possibly concurrently, and returns when all
// are done. The thread pool of the caller implements it; `pool` is its own pointer.
using MatmulTaskFn = void (*)(void* ctx, int64_t task);
using ParallelForFn = void (*)(void* pool, int64_t n_tasks, MatmulTaskFn fn, void* ctx);

// Task `task` of `n_tasks` over an (m, n) output: columns are cut into pieces that are multiples
// of `n_align` (the kernel's column block); when there are fewer column pieces than tasks and m
// is at least `m_split_min`, rows are cut as well.
inline MatmulRange SplitRange(int64_t m, int64_t n, int64_t n_align, int64_t m_split_min,
                              int64_t task, int64_t n_tasks) {
  if (n_tasks <= 1) return {0, m, 0, n};
  const int64_t n_blocks = (n + n_align - 1) / n_align;
  int64_t m_parts = 1;
  if (n_blocks < n_tasks && m >= m_split_min) m_parts = n_tasks / (n_blocks > 0 ? n_blocks : 1);
  if (m_parts < 1) m_parts = 1;
  const int64_t n_parts = n_tasks / m_parts;
  const int64_t tm = task / n_parts;
  const int64_t tn = task % n_parts;
  MatmulRange r;
  if (tm >= m_parts) return r;  // more tasks than pieces: this one is empty
  r.m0 = m * tm / m_parts;
  r.m1 = m * (tm + 1) / m_parts;
  const int64_t b0 = n_blocks * tn / n_parts;
  const int64_t b1 = n_blocks * (tn + 1) / n_parts;
  r.n0 = b0 * n_align < n ? b0 * n_align : n;
  r.n1 = b1 * n_align < n ? b1 * n_align : n;
  return r;
}

// A kernel's answer to "can you run this?": yes, or no with the reason. "No" is not an error: the
// caller logs the reason at debug level and falls back to another path.
class Support {
 public:
  static Support Yes() { return Support(true, {}); }
  static Support No(std::string reason) { return Support(false, std::move(reason)); }
  bool ok() const { return ok_; }
  const std::string& reason() const { return reason_; }

 private:
  Support(bool ok, std::string reason) : ok_(ok), reason_(std::move(reason)) {}
  bool ok_ = true;
  std::string reason_;
};

}  // namespace mc2::kernels
