// Float (fp16 / bf16) batched matmul: every compiled Highway target this CPU supports against the
// float64 reference. Tolerance as in kernels_wq_matmul_test.cc (derived, not tuned): products are
// exact in fp32, k products plus the bias are summed in fp32 in some order, so
// |s_kernel - s_exact| <= gamma_{k+1} * (sum |x w| + |bias|), gamma_j = j u / (1 - j u), u = 2^-24,
// and both results are rounded once to the output dtype: + one ulp of it at the larger magnitude.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "core/float16.h"
#include "gtest/gtest.h"
#include "hwy/highway.h"
#include "hwy/targets.h"
#include "kernels/float_matmul.h"

namespace mc2::kernels {
namespace {

uint16_t To16(float v, DType t) { return t == DType::kFloat16 ? FloatToHalf(v) : FloatToBf16(v); }

double OutValue(const std::vector<uint8_t>& y, DType t, int64_t i) {
  if (t == DType::kFloat32) {
    float f;
    std::memcpy(&f, y.data() + i * 4, 4);
    return f;
  }
  uint16_t h;
  std::memcpy(&h, y.data() + i * 2, 2);
  return t == DType::kFloat16 ? HalfToFloat(h) : Bf16ToFloat(h);
}

double Ulp(double v, DType t) {
  const int mant = t == DType::kFloat32 ? 23 : t == DType::kFloat16 ? 10 : 7;
  const int emin = t == DType::kFloat16 ? -14 : -126;
  const int e = v == 0 ? emin : std::max(emin, static_cast<int>(std::floor(std::log2(std::fabs(v)))));
  return std::ldexp(1.0, e - mant);
}

struct Case {
  std::string name;
  FloatMatmulDesc desc;
  int64_t m;
  int64_t pad;  // extra elements per row of x, W and y (strided views)
  bool bias;
  int64_t tasks;  // column ranges the output is computed in
};

void RunCase(const Case& c) {
  const FloatMatmulDesc& d = c.desc;
  std::mt19937 rng(5);
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  FloatMatmulArgs a;
  a.m = c.m;
  a.x_stride = d.k + c.pad;
  a.x_batch_stride = c.m * a.x_stride + 3;
  a.w_stride = (d.w_transposed ? d.k : d.n) + c.pad;
  a.w_batch_stride = (d.w_transposed ? d.n : d.k) * a.w_stride + 5;
  a.y_stride = d.n + c.pad;
  a.y_batch_stride = c.m * a.y_stride + 1;
  std::vector<uint16_t> x(static_cast<size_t>(d.batch * a.x_batch_stride + 1)), w(static_cast<size_t>(d.batch * a.w_batch_stride + 1));
  for (auto& v : x) v = To16(dist(rng), d.x_dtype);
  for (auto& v : w) v = To16(dist(rng), d.w_dtype);
  std::vector<float> bias(static_cast<size_t>(d.batch * d.n + 1));
  for (auto& v : bias) v = dist(rng);
  a.x = x.data();
  a.w = w.data();
  if (c.bias) {
    a.bias = bias.data();
    a.bias_batch_stride = d.n;
  }
  const size_t out_size = d.out_dtype == DType::kFloat32 ? 4 : 2;
  const size_t out_count = static_cast<size_t>(d.batch * a.y_batch_stride + 1);
  std::vector<uint8_t> ref(out_count * out_size), y(out_count * out_size);
  std::vector<double> abs_sum(static_cast<size_t>(d.batch * c.m * d.n + 1));
  a.y = ref.data();
  ASSERT_TRUE(FloatMatmulReference(d, a, abs_sum.data()).ok());
  const double ku = static_cast<double>(d.k + 1) * std::ldexp(1.0, -24);
  const double gamma = ku / (1 - ku);
  for (int64_t target : hwy::SupportedAndGeneratedTargets()) {
    hwy::SetSupportedTargetsForTest(target);
    SCOPED_TRACE(c.name + " target " + hwy::TargetName(target));
    Support support = Support::Yes();
    ASSERT_TRUE(CheckFloatMatmul(d, &support).ok());
    ASSERT_TRUE(support.ok());
    std::fill(y.begin(), y.end(), 0);
    a.y = y.data();
    std::vector<uint8_t> scratch(FloatMatmulScratchBytes(d, c.m));
    for (int64_t t = 0; t < c.tasks; ++t) {
      const MatmulRange r = SplitRange(c.m, d.n, 32, 1, t, c.tasks);
      ASSERT_TRUE(ExecuteFloatMatmul(d, a, 0, d.batch, r, scratch.data(), scratch.size()).ok());
    }
    int bad = 0;
    for (int64_t e = 0; e < d.batch; ++e) {
      for (int64_t i = 0; i < c.m; ++i) {
        for (int64_t j = 0; j < d.n && bad < 5; ++j) {
          const int64_t o = e * a.y_batch_stride + i * a.y_stride + j;
          const double rv = OutValue(ref, d.out_dtype, o), v = OutValue(y, d.out_dtype, o);
          const double tol = gamma * abs_sum[(e * c.m + i) * d.n + j] + Ulp(std::max(std::fabs(rv), std::fabs(v)), d.out_dtype);
          if (!(std::fabs(v - rv) <= tol)) {
            ADD_FAILURE() << "expert " << e << " row " << i << " col " << j << ": " << v << " vs " << rv << " tol " << tol;
            ++bad;
          }
        }
      }
    }
  }
  hwy::SetSupportedTargetsForTest(0);
}

FloatMatmulDesc Desc(int64_t batch, int64_t k, int64_t n, DType x, DType w, bool trans, DType out) {
  FloatMatmulDesc d;
  d.batch = batch;
  d.k = k;
  d.n = n;
  d.x_dtype = x;
  d.w_dtype = w;
  d.w_transposed = trans;
  d.out_dtype = out;
  return d;
}

TEST(FloatMatmulTest, AllTargetsAgainstReference) {
  const DType f16 = DType::kFloat16, bf16 = DType::kBFloat16, f32 = DType::kFloat32;
  const std::vector<Case> cases = {
      {"f16 kn m1", Desc(1, 100, 37, f16, f16, false, f16), 1, 0, false, 1},
      {"bf16 nk batch3 strided bias", Desc(3, 67, 45, bf16, bf16, true, bf16), 5, 3, true, 2},
      {"mixed kn f32out", Desc(2, 300, 70, f16, bf16, false, f32), 13, 1, true, 3},
      {"f16 nk large-ish", Desc(1, 520, 200, f16, f16, true, f16), 20, 0, true, 2},
      {"f16 nk small-m tail", Desc(1, 100, 33, f16, f16, true, f16), 7, 1, false, 2},
      // Transposed W through the panels with a last k block that is not a multiple of 4 (the
      // transpose's scalar tail) and padded columns in the last micro-panel.
      {"bf16 nk k-tail panels", Desc(2, 263, 70, bf16, bf16, true, f32), 11, 2, false, 2},
      {"m0", Desc(2, 16, 8, f16, f16, false, f16), 0, 0, false, 1},
      {"n0", Desc(2, 16, 0, f16, f16, true, f16), 3, 0, false, 1},
      {"k0 bias", Desc(1, 0, 9, bf16, bf16, false, f32), 2, 0, true, 1},
      {"batch0", Desc(0, 16, 8, f16, f16, false, f16), 2, 0, false, 1},
  };
  for (const Case& c : cases) RunCase(c);
}

TEST(FloatMatmulTest, RejectsBadDtypes) {
  Support support = Support::Yes();
  EXPECT_FALSE(CheckFloatMatmul(Desc(1, 4, 4, DType::kFloat32, DType::kFloat16, false, DType::kFloat16), &support).ok());
  EXPECT_FALSE(CheckFloatMatmul(Desc(1, 4, 4, DType::kFloat16, DType::kInt8, false, DType::kFloat16), &support).ok());
  EXPECT_FALSE(CheckFloatMatmul(Desc(1, 4, 4, DType::kFloat16, DType::kFloat16, false, DType::kInt32), &support).ok());
}

}  // namespace
}  // namespace mc2::kernels
