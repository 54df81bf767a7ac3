#include "reference/common.h"

#include <cmath>

#include "core/float16.h"

namespace mc2::reference {

double Round(double v, DType dtype, Mode mode, RoundMode round) {
  if (mode == Mode::kExact) return v;
  return RoundToDType(v, dtype, round);
}

DType OutputDType(DType dtype, Mode mode) { return mode == Mode::kExact ? DType::kFloat64 : dtype; }

double AntiquantWeight(double w, double scale, double offset, DType act_dtype, Mode mode) {
  if (mode == Mode::kExact) return (w + offset) * scale;
  if (act_dtype == DType::kFloat16) {
    const double sum = RoundToDType(w + offset, DType::kFloat16);
    return RoundToDType(sum * scale, DType::kFloat16);
  }
  // bf16 (and anything else): fp32 arithmetic, one rounding to the activation dtype at the end.
  const float sum = static_cast<float>(w) + static_cast<float>(offset);
  const float prod = sum * static_cast<float>(scale);
  return RoundToDType(prod, act_dtype);
}

double AddInDType(double a, double b, DType dtype, Mode mode) {
  if (mode == Mode::kExact) return a + b;
  if (dtype == DType::kFloat16) return RoundToDType(a + b, DType::kFloat16);  // exact sum fits in double
  const float s = static_cast<float>(a) + static_cast<float>(b);
  return RoundToDType(s, dtype);
}

double CrossRankSum(const std::vector<double>& per_rank, DType dtype, Mode mode) {
  if (mode == Mode::kExact) {
    double s = 0;
    for (double v : per_rank) s += v;
    return s;
  }
  float acc = 0.0f;
  for (double v : per_rank) acc += static_cast<float>(v);
  return RoundToDType(acc, dtype);
}

double Gelu(double x, Mode mode) {
  if (mode == Mode::kExact) return x / (1.0 + std::exp(-1.59576912 * (x + 0.044715 * x * x * x)));
  const float xf = static_cast<float>(x);
  return xf / (1.0f + std::exp(-1.59576912f * (xf + 0.044715f * xf * xf * xf)));
}

double FastGelu(double x, Mode mode) {
  if (mode == Mode::kExact) return x / (1.0 + std::exp(-1.702 * x));
  const float xf = static_cast<float>(x);
  return xf / (1.0f + std::exp(-1.702f * xf));
}

double Silu(double x, Mode mode) {
  if (mode == Mode::kExact) return x / (1.0 + std::exp(-x));
  const float xf = static_cast<float>(x);
  return xf / (1.0f + std::exp(-xf));
}

double Relu(double x) { return x > 0 ? x : 0.0; }

double Load2(const TensorView& v, int64_t i, int64_t j) {
  // Size-1 dims broadcast: (1), (n), (1, n), (1, 1) and (g, n) all index correctly.
  const int r = v.rank();
  const int64_t jj = v.dims[r - 1] == 1 ? 0 : j;
  int64_t e = v.offset + jj * v.strides[r - 1];
  if (r >= 2) e += (v.dims[r - 2] == 1 ? 0 : i) * v.strides[r - 2];
  return v.LoadFlat(e);
}

double LoadVec(const TensorView& v, int64_t i) { return Load2(v, 0, i); }

}  // namespace mc2::reference
