// Weight-only-quantized matmul: y = x @ dequant(W) (spec 2.2, 4.5).
//
//   x      fp16 or bf16 (m, k), row-major with a row stride.
//   W      int8 or int4 logical (k, n), stored as WeightLayout says (int8 also FRACTAL_NZ).
//   dequant(W)[kk, nn] = (W[kk, nn] + offset) * scale, with the scale / offset per tensor,
//          per channel (n) or per group of `group_size` along k (group_size a multiple of 32; k
//          need not be a multiple of it). Precision exactly as the spec says:
//            x fp16: the add and the multiply are each rounded to fp16 (fp16 arithmetic);
//            x bf16: fp32 arithmetic, the result rounded to bf16 (round-half-even).
//   y      Sum over k in fp32 of x * dequant(W), plus an optional bias in fp32, rounded to the
//          output dtype (fp16 / bf16 round-half-even, or fp32 left as is for a fused epilogue).
//
// Two phases. PlanWqMatmul validates, picks the regime from m_max (decode for m_max <= 16,
// prefill above), repacks the weights once into that regime's layout (PackWeights) and records the
// scratch size. ExecuteWqMatmul runs over any output range with caller-provided scratch and
// allocates nothing. See wq_matmul_decode.cc and wq_matmul_prefill.cc for why each regime is shaped
// the way it is.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "core/dtype.h"
#include "core/status.h"
#include "kernels/matmul_types.h"

namespace mc2::kernels {

// Below or at this m the decode regime is chosen.
inline constexpr int64_t kWqDecodeMaxM = 16;

struct WqMatmulDesc {
  int64_t m_max = 0;  // the largest m Execute will see (chooses the regime)
  int64_t k = 0;
  int64_t n = 0;
  DType act_dtype = DType::kFloat16;    // x, scale, offset: fp16 or bf16
  DType weight_dtype = DType::kInt8;    // int8 or int4
  WeightLayout layout = WeightLayout::kKN;
  ScaleMode scale_mode = ScaleMode::kPerChannel;
  int64_t group_size = 0;               // kPerGroup only
  bool has_offset = false;
  DType out_dtype = DType::kFloat16;    // fp16, bf16 or fp32
  MatmulRegime regime = MatmulRegime::kAuto;
};

// The caller's weight, scale and offset as stored (element strides, not bytes).
struct WqWeightsView {
  const void* weight = nullptr;
  // Scale / offset element (g, nn) is at g * stride_g + nn * stride_n (g = 0 unless per group;
  // nn = 0 for per tensor). Defaults describe a contiguous (groups, n) tensor.
  const void* scale = nullptr;
  const void* offset = nullptr;  // null when desc.has_offset is false
  int64_t stride_g = -1;         // -1: n
  int64_t stride_n = 1;
};

// Weights in the layout the plan's regime reads (see the regime files for the exact formats).
struct WqPackedWeights {
  MatmulRegime regime = MatmulRegime::kDecode;
  int64_t k = 0, n = 0;
  int64_t k_pad = 0, n_pad = 0;  // decode pads k to 32 (int4: 128), prefill pads n to 32
  int64_t group = 0;             // group length along k (k itself for per tensor / channel)
  int64_t groups = 0;
  std::vector<uint8_t> data;     // chunks of 32 (int4 decode: 128) elements, see PackWeights
  std::vector<float> scale;      // decode: (n, groups); prefill: (groups, n_pad)
  std::vector<float> offset;     // same shape, empty without offset
  // Every dequantized product provably stays in the normal, finite range of the activation dtype
  // (fp16 without offset: scales 0 or in [2^-14, 65504 / 128]; bf16: scales 0 or in
  // [2^-40, 2^40], offsets 0 or in [2^-40, 2^20]), so the kernels may round with RoundMagic, and
  // without offset the decode loops with the two-op FastAntiquant (scale * (2^13 + 1) or
  // * (2^16 + 1) is also checked to be exact).
  bool fast_round = false;
};

// Validates `desc` and `w` (errors for malformed input) and says whether these kernels handle it.
Status CheckWqMatmul(const WqMatmulDesc& desc, const WqWeightsView& w, Support* support);

// Repacks the weight, scale and offset for `regime` (kDecode or kPrefill). Plan time only.
Status PackWeights(const WqMatmulDesc& desc, const WqWeightsView& w, MatmulRegime regime,
                   WqPackedWeights* packed);

class WqMatmulPlan {
 public:
  const WqMatmulDesc& desc() const { return desc_; }
  MatmulRegime regime() const { return packed_.regime; }
  const WqPackedWeights& packed() const { return packed_; }
  // Column block the kernels work in; task ranges should start at multiples of it (prefill
  // requires it, decode only prefers it).
  int64_t n_align() const { return n_align_; }
  // Scratch one ExecuteWqMatmul call over `rows` rows needs.
  size_t ScratchBytes(int64_t rows) const;

 private:
  friend Status PlanWqMatmul(const WqMatmulDesc&, const WqWeightsView&, WqMatmulPlan*, Support*);
  WqMatmulDesc desc_;
  WqPackedWeights packed_;
  int64_t n_align_ = 32;
};

// Builds `plan`. If the kernels decline the shape, returns Ok with support->ok() false.
Status PlanWqMatmul(const WqMatmulDesc& desc, const WqWeightsView& w, WqMatmulPlan* plan,
                    Support* support);

struct WqMatmulArgs {
  const void* x = nullptr;  // act dtype
  int64_t m = 0;
  int64_t x_stride = -1;    // elements between rows; -1: k
  const void* bias = nullptr;  // n values of bias_dtype, or null
  DType bias_dtype = DType::kFloat32;  // fp16, bf16 or fp32
  void* y = nullptr;        // out dtype
  int64_t y_stride = -1;    // -1: n
};

// Computes y over `range` (rows within [0, args.m), columns within [0, n)). `scratch` must hold
// plan.ScratchBytes(range.rows()) bytes and be 64-byte aligned; each concurrent call needs its own.
Status ExecuteWqMatmul(const WqMatmulPlan& plan, const WqMatmulArgs& args, const MatmulRange& range,
                       void* scratch, size_t scratch_bytes);

// The whole output, split into `n_tasks` ranges run through `parallel_for`; `scratch` holds
// n_tasks slices of plan.ScratchBytes(args.m) bytes each (rounded up to 64).
Status ExecuteWqMatmulParallel(const WqMatmulPlan& plan, const WqMatmulArgs& args,
                               ParallelForFn parallel_for, void* pool, int64_t n_tasks,
                               void* scratch, size_t scratch_bytes);

}  // namespace mc2::kernels
