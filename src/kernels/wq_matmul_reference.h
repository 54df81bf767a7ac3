// Scalar reference of the weight-quantized matmul: plain loops over the caller's original layouts,
// float64 accumulation, one rounding to the output dtype. The SIMD kernels are tested against it;
// it is tested against reference::AntiquantWeight (the golden model's rule).
#pragma once

#include <cstdint>
#include <vector>

#include "core/status.h"
#include "kernels/wq_matmul.h"

namespace mc2::kernels {

// Storage element index of logical W[kk, nn] in `layout` (nibble index for int4).
int64_t WqWeightIndex(const WqMatmulDesc& desc, int64_t kk, int64_t nn);
// Logical W[kk, nn] as an integer.
int WqWeightAt(const WqMatmulDesc& desc, const void* weight, int64_t kk, int64_t nn);
// The scale (or offset, when `param` is w.offset) that applies to W[kk, nn], as float (exact).
float WqParamAt(const WqMatmulDesc& desc, const WqWeightsView& w, const void* param, int64_t kk, int64_t nn);

// (w + offset) * scale with the spec's precision (spec 2.2 step 1); the result is a value of
// act_dtype. fp16: the exact sum rounded to fp16, the exact product of that and the scale rounded
// to fp16. bf16: the sum and the product in fp32, then rounded to bf16 (half to even).
float WqAntiquantReference(int w, float scale, float offset, DType act_dtype);

// Computes args.y (all m rows) as the spec defines it. If `abs_sum` is not null it receives, per
// output element, sum_k |x * dequant(W)| + |bias| (the scale of the accumulation error bound).
Status WqMatmulReference(const WqMatmulDesc& desc, const WqWeightsView& w, const WqMatmulArgs& args,
                         std::vector<double>* abs_sum);

}  // namespace mc2::kernels
