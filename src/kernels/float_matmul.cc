// Validation, scratch sizing and the expert / range loop of the float matmul; the reference too.
#include "kernels/float_matmul.h"

#include <cmath>
#include <cstdint>
#include <vector>

#include "core/float16.h"
#include "core/tensor.h"
#include "kernels/float_matmul_run.h"
#include "kernels/matmul_gemm_blocking.h"

namespace mc2::kernels {
namespace {

bool IsHalf(DType t) { return t == DType::kFloat16 || t == DType::kBFloat16; }
Status Invalid(const std::string& msg) { return AclnnError(aclnn::kErrParamInvalid, msg); }

// The dense defaults of FloatMatmulArgs filled in.
struct Strides {
  int64_t x, xb, w, wb, y, yb;
};
Strides Resolve(const FloatMatmulDesc& d, const FloatMatmulArgs& a) {
  Strides s;
  s.x = a.x_stride < 0 ? d.k : a.x_stride;
  s.xb = a.x_batch_stride < 0 ? a.m * s.x : a.x_batch_stride;
  s.w = a.w_stride < 0 ? (d.w_transposed ? d.k : d.n) : a.w_stride;
  s.wb = a.w_batch_stride < 0 ? d.k * d.n : a.w_batch_stride;
  s.y = a.y_stride < 0 ? d.n : a.y_stride;
  s.yb = a.y_batch_stride < 0 ? a.m * s.y : a.y_batch_stride;
  return s;
}

double Load16(const void* base, DType t, int64_t i) {
  const uint16_t b = static_cast<const uint16_t*>(base)[i];
  return t == DType::kFloat16 ? HalfToFloat(b) : Bf16ToFloat(b);
}
double LoadAny(const void* base, DType t, int64_t i) {
  return t == DType::kFloat32 ? static_cast<const float*>(base)[i] : Load16(base, t, i);
}

}  // namespace

Status CheckFloatMatmul(const FloatMatmulDesc& d, Support* support) {
  if (d.batch < 0 || d.k < 0 || d.n < 0) {
    return Invalid(StrCat("float matmul: batch, k, n are ", d.batch, ", ", d.k, ", ", d.n, " (must be >= 0)"));
  }
  if (!IsHalf(d.x_dtype)) return Invalid(StrCat("x: dtype ", DTypeName(d.x_dtype), " (must be float16 or bfloat16)"));
  if (!IsHalf(d.w_dtype)) return Invalid(StrCat("weight: dtype ", DTypeName(d.w_dtype), " (must be float16 or bfloat16)"));
  if (!IsHalf(d.out_dtype) && d.out_dtype != DType::kFloat32) {
    return Invalid(StrCat("y: dtype ", DTypeName(d.out_dtype), " (must be float16, bfloat16 or float32)"));
  }
  *support = Support::Yes();
  return Status::Ok();
}

size_t FloatMatmulScratchBytes(const FloatMatmulDesc& d, int64_t rows) {
  const size_t gemm = GemmScratch::For(static_cast<size_t>(rows), static_cast<size_t>(d.k)).total +
                      kGemmNrMax * kGemmKc * sizeof(float);
  // Small m: the padded fp32 x rows, then 4 rows of fp32 accumulators over n (plus a vector).
  const size_t small = (SmallMRows(static_cast<size_t>(kFloatSmallM)) * SmallMRowStride(static_cast<size_t>(d.k)) +
                        4 * (static_cast<size_t>(d.n) + kGemmNrMax)) * sizeof(float);
  return (gemm > small ? gemm : small) + 64;
}

Status ExecuteFloatMatmul(const FloatMatmulDesc& d, const FloatMatmulArgs& a, int64_t batch0, int64_t batch1,
                          const MatmulRange& range, void* scratch, size_t scratch_bytes) {
  Support support = Support::Yes();
  MC2_RETURN_IF_ERROR(CheckFloatMatmul(d, &support));
  if (a.m < 0) return Invalid(StrCat("x: m is ", a.m, " (must be >= 0)"));
  if (batch0 < 0 || batch1 > d.batch || range.m0 < 0 || range.m1 > a.m || range.n0 < 0 || range.n1 > d.n) {
    return Invalid(StrCat("experts [", batch0, ", ", batch1, ") rows [", range.m0, ", ", range.m1, ") cols [",
                          range.n0, ", ", range.n1, ") outside (", d.batch, ", ", a.m, ", ", d.n, ")"));
  }
  if (batch1 <= batch0 || range.empty()) return Status::Ok();
  if (range.n0 % 32 != 0) return Invalid(StrCat("range: first column ", range.n0, " is not a multiple of 32"));
  const Strides s = Resolve(d, a);
  if (s.x < d.k || s.y < d.n || s.w < (d.w_transposed ? d.k : d.n)) {
    return Invalid(StrCat("row strides x ", s.x, ", w ", s.w, ", y ", s.y, " are below the row lengths"));
  }
  if ((a.x == nullptr && d.k > 0) || (a.w == nullptr && d.k > 0) || a.y == nullptr) {
    return Invalid("float matmul: x, weight or y is a null pointer");
  }
  if (a.bias != nullptr && !IsHalf(a.bias_dtype) && a.bias_dtype != DType::kFloat32) {
    return Invalid(StrCat("bias: dtype ", DTypeName(a.bias_dtype), " (must be float16, bfloat16 or float32)"));
  }
  if (scratch == nullptr || scratch_bytes < FloatMatmulScratchBytes(d, range.rows())) {
    return Invalid(StrCat("scratch: ", scratch_bytes, " bytes, ", FloatMatmulScratchBytes(d, range.rows()), " needed"));
  }
  const uintptr_t p = reinterpret_cast<uintptr_t>(scratch);
  uint8_t* aligned = reinterpret_cast<uint8_t*>((p + 63) / 64 * 64);
  const size_t out_size = d.out_dtype == DType::kFloat32 ? 4 : 2;
  const size_t bias_size = a.bias_dtype == DType::kFloat32 ? 4 : 2;
  for (int64_t e = batch0; e < batch1; ++e) {
    FloatRunArgs r;
    r.x = static_cast<const uint8_t*>(a.x) + (e * s.xb + range.m0 * s.x) * 2;
    r.x_dtype = d.x_dtype;
    r.x_stride = s.x;
    r.rows = range.rows();
    r.k = d.k;
    r.n = d.n;
    r.n0 = range.n0;
    r.n1 = range.n1;
    r.w = static_cast<const uint8_t*>(a.w) + e * s.wb * 2;
    r.w_dtype = d.w_dtype;
    r.w_transposed = d.w_transposed;
    r.w_stride = s.w;
    r.bias = a.bias == nullptr ? nullptr : static_cast<const uint8_t*>(a.bias) + e * a.bias_batch_stride * bias_size;
    r.bias_dtype = a.bias_dtype;
    r.y = static_cast<uint8_t*>(a.y) + (e * s.yb + range.m0 * s.y) * out_size;
    r.y_stride = s.y;
    r.out_dtype = d.out_dtype;
    r.scratch = aligned;
    FloatMatmulRun(r);
  }
  return Status::Ok();
}

Status FloatMatmulReference(const FloatMatmulDesc& d, const FloatMatmulArgs& a, double* abs_sum) {
  const Strides s = Resolve(d, a);
  for (int64_t e = 0; e < d.batch; ++e) {
    for (int64_t i = 0; i < a.m; ++i) {
      for (int64_t j = 0; j < d.n; ++j) {
        double acc = 0, mag = 0;
        for (int64_t kk = 0; kk < d.k; ++kk) {
          const int64_t wi = e * s.wb + (d.w_transposed ? j * s.w + kk : kk * s.w + j);
          const double prod = Load16(a.x, d.x_dtype, e * s.xb + i * s.x + kk) * Load16(a.w, d.w_dtype, wi);
          acc += prod;
          mag += std::fabs(prod);
        }
        if (a.bias != nullptr) {
          const double b = LoadAny(a.bias, a.bias_dtype, e * a.bias_batch_stride + j);
          acc += b;
          mag += std::fabs(b);
        }
        const int64_t o = e * s.yb + i * s.y + j;
        switch (d.out_dtype) {
          case DType::kFloat32: static_cast<float*>(a.y)[o] = static_cast<float>(acc); break;
          case DType::kFloat16: static_cast<uint16_t*>(a.y)[o] = DoubleToHalf(acc); break;
          default: static_cast<uint16_t*>(a.y)[o] = DoubleToBf16(acc); break;
        }
        if (abs_sum != nullptr) abs_sum[(e * a.m + i) * d.n + j] = mag;
      }
    }
  }
  return Status::Ok();
}

}  // namespace mc2::kernels
