#include "kernels/wq_matmul_reference.h"

#include <cmath>

#include "core/float16.h"
#include "core/tensor.h"

namespace mc2::kernels {
namespace {

float LoadAct(const void* base, DType dtype, int64_t i) {
  const uint16_t bits = static_cast<const uint16_t*>(base)[i];
  return dtype == DType::kFloat16 ? HalfToFloat(bits) : Bf16ToFloat(bits);
}

double LoadAny(const void* base, DType dtype, int64_t i) {
  if (dtype == DType::kFloat32) return static_cast<const float*>(base)[i];
  return LoadAct(base, dtype, i);
}

}  // namespace

int64_t WqWeightIndex(const WqMatmulDesc& desc, int64_t kk, int64_t nn) {
  switch (desc.layout) {
    case WeightLayout::kKN: return kk * desc.n + nn;
    case WeightLayout::kNK: return nn * desc.k + kk;
    case WeightLayout::kNzKN: return NzLayout{desc.k, desc.n, 32}.Index(kk, nn);
    case WeightLayout::kNzNK: return NzLayout{desc.n, desc.k, 32}.Index(nn, kk);
  }
  return 0;
}

int WqWeightAt(const WqMatmulDesc& desc, const void* weight, int64_t kk, int64_t nn) {
  const int64_t idx = WqWeightIndex(desc, kk, nn);
  if (desc.weight_dtype == DType::kInt4) return UnpackInt4(static_cast<const uint8_t*>(weight), idx);
  return static_cast<const int8_t*>(weight)[idx];
}

float WqParamAt(const WqMatmulDesc& desc, const WqWeightsView& w, const void* param, int64_t kk, int64_t nn) {
  int64_t idx = 0;
  if (desc.scale_mode != ScaleMode::kPerTensor) idx += nn * w.stride_n;
  if (desc.scale_mode == ScaleMode::kPerGroup) idx += (kk / desc.group_size) * (w.stride_g < 0 ? desc.n : w.stride_g);
  return LoadAct(param, desc.act_dtype, idx);
}

float WqAntiquantReference(int w, float scale, float offset, DType act_dtype) {
  if (act_dtype == DType::kFloat16) {
    const double sum = HalfToFloat(DoubleToHalf(static_cast<double>(w) + offset));
    return HalfToFloat(DoubleToHalf(sum * scale));
  }
  const float sum = static_cast<float>(w) + offset;
  return Bf16ToFloat(FloatToBf16(sum * scale));
}

Status WqMatmulReference(const WqMatmulDesc& desc, const WqWeightsView& w, const WqMatmulArgs& args,
                         std::vector<double>* abs_sum) {
  const int64_t m = args.m, k = desc.k, n = desc.n;
  const int64_t x_stride = args.x_stride < 0 ? k : args.x_stride;
  const int64_t y_stride = args.y_stride < 0 ? n : args.y_stride;
  // Dequantize once: (k, n) in the activation dtype's values.
  std::vector<float> dq(static_cast<size_t>(k * n));
  for (int64_t kk = 0; kk < k; ++kk) {
    for (int64_t nn = 0; nn < n; ++nn) {
      const float s = WqParamAt(desc, w, w.scale, kk, nn);
      const float o = desc.has_offset ? WqParamAt(desc, w, w.offset, kk, nn) : 0.0f;
      dq[kk * n + nn] = WqAntiquantReference(WqWeightAt(desc, w.weight, kk, nn), s, o, desc.act_dtype);
    }
  }
  if (abs_sum != nullptr) abs_sum->assign(static_cast<size_t>(m * n), 0.0);
  for (int64_t i = 0; i < m; ++i) {
    for (int64_t nn = 0; nn < n; ++nn) {
      double acc = 0.0, mag = 0.0;
      for (int64_t kk = 0; kk < k; ++kk) {
        const double p = static_cast<double>(LoadAct(args.x, desc.act_dtype, i * x_stride + kk)) * dq[kk * n + nn];
        acc += p;
        mag += std::fabs(p);
      }
      if (args.bias != nullptr) {
        const double b = LoadAny(args.bias, args.bias_dtype, nn);
        acc += b;
        mag += std::fabs(b);
      }
      const int64_t o = i * y_stride + nn;
      switch (desc.out_dtype) {
        case DType::kFloat32: static_cast<float*>(args.y)[o] = static_cast<float>(acc); break;
        case DType::kFloat16: static_cast<uint16_t*>(args.y)[o] = DoubleToHalf(acc); break;
        default: static_cast<uint16_t*>(args.y)[o] = DoubleToBf16(acc); break;
      }
      if (abs_sum != nullptr) (*abs_sum)[i * n + nn] = mag;
    }
  }
  return Status::Ok();
}

}  // namespace mc2::kernels
