// Weight-quantized matmul: every compiled Highway target that this CPU supports, both regimes,
// against the scalar reference (kernels/wq_matmul_reference.h), which is itself checked against the
// golden model's antiquant rule (reference::AntiquantWeight).
//
// Tolerance (derived, not tuned). The kernel forms each product x * dequant(W) exactly in fp32
// (11 x 11 or 8 x 8 significant bits fit in 24) and adds k products and the bias in fp32 in some
// order; the classic bound for any order is |s_kernel - s_exact| <= gamma_{k+1} * S with
// gamma_j = j u / (1 - j u), u = 2^-24 and S = sum |x * dequant(W)| + |bias|. Both results are then
// rounded once to the output dtype, each off by at most half an ulp at the larger magnitude:
//   |y - ref| <= gamma_{k+1} * S + ulp_out(max(|y|, |ref|)).
// The dequantized weights themselves must be bit-identical (DequantIsBitExact).
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "core/float16.h"
#include "core/tensor.h"
#include "gtest/gtest.h"
#include "hwy/highway.h"
#include "hwy/targets.h"
#include "kernels/wq_decode_bf16.h"
#include "kernels/wq_matmul.h"
#include "kernels/wq_matmul_reference.h"
#include "reference/common.h"

namespace mc2::kernels {
namespace {

uint16_t ToAct(float v, DType t) { return t == DType::kFloat16 ? FloatToHalf(v) : FloatToBf16(v); }

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

// One unit in the last place of `dtype` at magnitude |v|.
double Ulp(double v, DType t) {
  const int mant = t == DType::kFloat32 ? 23 : t == DType::kFloat16 ? 10 : 7;
  const int emin = t == DType::kFloat16 ? -14 : -126;
  const int e = v == 0 ? emin : std::max(emin, static_cast<int>(std::floor(std::log2(std::fabs(v)))));
  return std::ldexp(1.0, e - mant);
}

struct Case {
  std::string name;
  WqMatmulDesc desc;
  int64_t m = 1;
  int64_t x_pad = 0;  // extra elements per x row (strided x)
  bool bias = false;
  DType bias_dtype = DType::kFloat32;
};

struct Data {
  std::vector<uint8_t> weight;
  std::vector<uint16_t> scale, offset, x, bias16;
  std::vector<float> bias32;
  WqWeightsView view;
  WqMatmulArgs args;
};

Data MakeData(const Case& c, uint32_t seed) {
  const WqMatmulDesc& d = c.desc;
  std::mt19937 rng(seed);
  Data data;
  const bool nz = d.layout == WeightLayout::kNzKN || d.layout == WeightLayout::kNzNK;
  const int64_t storage = nz ? (d.layout == WeightLayout::kNzKN ? NzLayout{d.k, d.n, 32}.StorageElements()
                                                                : NzLayout{d.n, d.k, 32}.StorageElements())
                             : d.k * d.n;
  data.weight.assign(static_cast<size_t>(d.weight_dtype == DType::kInt4 ? (storage + 1) / 2 : storage) + 1, 0);
  std::uniform_int_distribution<int> wdist(d.weight_dtype == DType::kInt4 ? -8 : -128,
                                           d.weight_dtype == DType::kInt4 ? 7 : 127);
  for (int64_t kk = 0; kk < d.k; ++kk) {
    for (int64_t nn = 0; nn < d.n; ++nn) {
      const int64_t idx = WqWeightIndex(d, kk, nn);
      const int v = wdist(rng);
      if (d.weight_dtype == DType::kInt4) {
        PackInt4(data.weight.data(), idx, static_cast<int8_t>(v));
      } else {
        data.weight[idx] = static_cast<uint8_t>(static_cast<int8_t>(v));
      }
    }
  }
  const int64_t groups = d.scale_mode == ScaleMode::kPerGroup ? (d.k + d.group_size - 1) / d.group_size : 1;
  const int64_t params = d.scale_mode == ScaleMode::kPerTensor ? 1 : groups * d.n;
  std::uniform_real_distribution<float> sdist(0.001f, 0.05f), odist(-6.0f, 6.0f), xdist(-1.0f, 1.0f);
  for (int64_t i = 0; i < params; ++i) data.scale.push_back(ToAct(sdist(rng), d.act_dtype));
  for (int64_t i = 0; i < params; ++i) data.offset.push_back(ToAct(odist(rng), d.act_dtype));
  const int64_t x_stride = d.k + c.x_pad;
  data.x.resize(static_cast<size_t>(std::max<int64_t>(1, c.m * x_stride)));
  for (auto& v : data.x) v = ToAct(xdist(rng), d.act_dtype);
  for (int64_t i = 0; i < d.n; ++i) {
    const float b = xdist(rng) * 4;
    data.bias32.push_back(b);
    data.bias16.push_back(ToAct(b, c.bias_dtype == DType::kFloat32 ? DType::kFloat16 : c.bias_dtype));
  }
  data.view.weight = data.weight.data();
  data.view.scale = data.scale.data();
  data.view.offset = d.has_offset ? data.offset.data() : nullptr;
  data.args.x = data.x.data();
  data.args.m = c.m;
  data.args.x_stride = x_stride;
  if (c.bias) {
    data.args.bias = c.bias_dtype == DType::kFloat32 ? static_cast<const void*>(data.bias32.data())
                                                       : static_cast<const void*>(data.bias16.data());
    data.args.bias_dtype = c.bias_dtype;
  }
  return data;
}

size_t OutBytes(const WqMatmulDesc& d, int64_t m) {
  return static_cast<size_t>(std::max<int64_t>(1, m * d.n)) * (d.out_dtype == DType::kFloat32 ? 4 : 2);
}

void RunAndCompare(const Case& c, MatmulRegime regime, int64_t n_tasks) {
  WqMatmulDesc d = c.desc;
  d.m_max = c.m;
  d.regime = regime;
  Data data = MakeData(c, 1234);
  std::vector<uint8_t> ref(OutBytes(d, c.m)), y(OutBytes(d, c.m));
  std::vector<double> abs_sum;
  WqMatmulArgs ref_args = data.args;
  ref_args.y = ref.data();
  ASSERT_TRUE(WqMatmulReference(d, data.view, ref_args, &abs_sum).ok());
  const double ku = static_cast<double>(d.k + 1) * std::ldexp(1.0, -24);
  const double gamma = ku / (1 - ku);
  for (int64_t target : hwy::SupportedAndGeneratedTargets()) {
    hwy::SetSupportedTargetsForTest(target);
    SCOPED_TRACE(c.name + " target " + hwy::TargetName(target) + " regime " + std::to_string(static_cast<int>(regime)) +
                 " tasks " + std::to_string(n_tasks));
    WqMatmulPlan plan;
    Support support = Support::Yes();
    ASSERT_TRUE(PlanWqMatmul(d, data.view, &plan, &support).ok());
    ASSERT_TRUE(support.ok()) << support.reason();
    std::fill(y.begin(), y.end(), 0xAB);
    WqMatmulArgs args = data.args;
    args.y = y.data();
    const size_t slice = (plan.ScratchBytes(c.m) + 63) / 64 * 64;
    std::vector<uint8_t> scratch(slice * n_tasks);
    ASSERT_TRUE(ExecuteWqMatmulParallel(plan, args, nullptr, nullptr, n_tasks, scratch.data(), scratch.size()).ok());
    int bad = 0;
    for (int64_t i = 0; i < c.m * d.n && bad < 5; ++i) {
      const double r = OutValue(ref, d.out_dtype, i), v = OutValue(y, d.out_dtype, i);
      const double tol = gamma * abs_sum[i] + Ulp(std::max(std::fabs(r), std::fabs(v)), d.out_dtype);
      if (!(std::fabs(v - r) <= tol)) {
        ADD_FAILURE() << "element " << i << " (row " << i / d.n << ", col " << i % d.n << "): " << v << " vs ref " << r
                      << " tol " << tol;
        ++bad;
      }
    }
  }
  hwy::SetSupportedTargetsForTest(0);
}

WqMatmulDesc Desc(DType act, DType w, WeightLayout layout, ScaleMode mode, int64_t group, bool off, DType out,
                  int64_t k, int64_t n) {
  WqMatmulDesc d;
  d.act_dtype = act;
  d.weight_dtype = w;
  d.layout = layout;
  d.scale_mode = mode;
  d.group_size = group;
  d.has_offset = off;
  d.out_dtype = out;
  d.k = k;
  d.n = n;
  return d;
}

std::vector<Case> Cases() {
  using L = WeightLayout;
  using S = ScaleMode;
  const DType f16 = DType::kFloat16, bf16 = DType::kBFloat16, f32 = DType::kFloat32;
  const DType i8 = DType::kInt8, i4 = DType::kInt4;
  return {
      {"i8 kn channel f16 m1", Desc(f16, i8, L::kKN, S::kPerChannel, 0, false, f16, 100, 37), 1, 0, false, f32},
      {"i8 nk group64 bf16 off bias strided", Desc(bf16, i8, L::kNK, S::kPerGroup, 64, true, bf16, 200, 33), 3, 5, true,
       f32},
      {"i4 kn group32 f16 off f32out", Desc(f16, i4, L::kKN, S::kPerGroup, 32, true, f32, 130, 50), 16, 0, true, f16},
      {"i4 nk tensor bf16 m1", Desc(bf16, i4, L::kNK, S::kPerTensor, 0, false, bf16, 64, 31), 1, 0, false, f32},
      {"i4 kn group64 f16 off m1", Desc(f16, i4, L::kKN, S::kPerGroup, 64, true, f16, 390, 29), 1, 2, true, f32},
      {"i4 nk channel f16 m3", Desc(f16, i4, L::kNK, S::kPerChannel, 0, false, f16, 256, 19), 3, 0, false, f32},
      {"i4 nk group128 f16 off bias", Desc(f16, i4, L::kNK, S::kPerGroup, 128, true, f16, 300, 40), 5, 3, true, bf16},
      {"i8 nz-kn channel f16", Desc(f16, i8, L::kNzKN, S::kPerChannel, 0, true, f16, 96, 70), 7, 0, false, f32},
      {"i8 nz-nk group32 bf16", Desc(bf16, i8, L::kNzNK, S::kPerGroup, 32, false, bf16, 80, 45), 2, 0, true, bf16},
      {"i8 kn group96 f16 prefill-size", Desc(f16, i8, L::kKN, S::kPerGroup, 96, true, f16, 290, 75), 40, 1, true, f32},
      {"i4 kn channel bf16 prefill-size", Desc(bf16, i4, L::kKN, S::kPerChannel, 0, true, bf16, 257, 26), 29, 0, false,
       f32},
      // m = 1, int4, bf16: the vdpbf16ps loop where the CPU has AVX512_BF16 (one to four columns
      // per pass, a table per chunk, per two chunks and one for the whole column, a partial last
      // chunk).
      {"i4 nk group128 bf16 off m1 strided", Desc(bf16, i4, L::kNK, S::kPerGroup, 128, true, bf16, 300, 41), 1, 3, true,
       f32},
      {"i4 kn channel bf16 f32out m1", Desc(bf16, i4, L::kKN, S::kPerChannel, 0, false, f32, 384, 23), 1, 0, false, f32},
      {"i4 nk group256 bf16 m1", Desc(bf16, i4, L::kNK, S::kPerGroup, 256, false, bf16, 640, 17), 1, 0, true, bf16},
      {"i4 nk tensor bf16 m1 tail", Desc(bf16, i4, L::kNK, S::kPerTensor, 0, false, bf16, 200, 9), 1, 0, false, f32},
      // m = 2..16: up to eight rows per pass (8, then 4 or fewer), n not a multiple of 4.
      {"i4 nk group128 bf16 off m2 strided", Desc(bf16, i4, L::kNK, S::kPerGroup, 128, true, bf16, 300, 41), 2, 3,
       true, f32},
      {"i4 nk group64 bf16 off m3", Desc(bf16, i4, L::kNK, S::kPerGroup, 64, true, bf16, 200, 6), 3, 0, false, f32},
      {"i4 kn group32 bf16 f32out m5", Desc(bf16, i4, L::kKN, S::kPerGroup, 32, false, f32, 256, 18), 5, 0, false,
       f32},
      {"i4 nk channel bf16 m16 bias", Desc(bf16, i4, L::kNK, S::kPerChannel, 0, false, bf16, 384, 23), 16, 1, true,
       bf16},
      {"i4 nk group32 bf16 off m11", Desc(bf16, i4, L::kNK, S::kPerGroup, 32, true, bf16, 320, 9), 11, 0, false, f32},
      // Groups smaller than a chunk, or straddling chunks: two tables per chunk on vdpbf16ps.
      {"i4 nk group32 bf16 off m1", Desc(bf16, i4, L::kNK, S::kPerGroup, 32, true, bf16, 416, 13), 1, 0, true, f32},
      {"i4 kn group64 bf16 m1", Desc(bf16, i4, L::kKN, S::kPerGroup, 64, false, f32, 256, 10), 1, 0, false, f32},
      {"i4 nk group160 bf16 off m1", Desc(bf16, i4, L::kNK, S::kPerGroup, 160, true, bf16, 500, 7), 1, 2, false, f32},
      // m = 1, int8, bf16: the vdpbf16ps loop where the CPU has AVX512_BF16 (groups of an even and
      // an odd number of 32-element runs, one group for the whole column, k not a multiple of 32
      // or of the group, a last group cut by k_pad).
      {"i8 nk group128 bf16 off m1 strided", Desc(bf16, i8, L::kNK, S::kPerGroup, 128, true, bf16, 300, 41), 1, 3, true,
       f32},
      {"i8 kn channel bf16 f32out m1", Desc(bf16, i8, L::kKN, S::kPerChannel, 0, false, f32, 384, 23), 1, 0, false, f32},
      {"i8 nk group32 bf16 m1", Desc(bf16, i8, L::kNK, S::kPerGroup, 32, false, bf16, 416, 13), 1, 0, true, bf16},
      {"i8 kn group96 bf16 off m1 tail", Desc(bf16, i8, L::kKN, S::kPerGroup, 96, true, bf16, 200, 9), 1, 1, false, f32},
      {"i8 nk tensor bf16 m1", Desc(bf16, i8, L::kNK, S::kPerTensor, 0, true, bf16, 70, 31), 1, 0, false, f32},
      {"i8 nz-nk group64 bf16 m1", Desc(bf16, i8, L::kNzNK, S::kPerGroup, 64, false, bf16, 160, 35), 1, 0, false, f32},
      // m = 2..8 on vdpbf16ps (one pass over every row), m = 9 on the fp32 tile.
      {"i8 kn group96 bf16 off m5 strided", Desc(bf16, i8, L::kKN, S::kPerGroup, 96, true, bf16, 200, 17), 5, 3, true,
       f32},
      {"i8 nk channel bf16 f32out m8", Desc(bf16, i8, L::kNK, S::kPerChannel, 0, false, f32, 320, 13), 8, 0, false, f32},
      {"i8 nk group32 bf16 off m7", Desc(bf16, i8, L::kNK, S::kPerGroup, 32, true, bf16, 96, 10), 7, 1, true, bf16},
      {"i8 kn tensor bf16 m9", Desc(bf16, i8, L::kKN, S::kPerTensor, 0, false, bf16, 130, 11), 9, 0, false, f32},
      // int8 m = 2..4 in registers (DotColumnRows): fast and general rounding, k tails, offsets.
      {"i8 nk group64 f16 off m3 tail", Desc(f16, i8, L::kNK, S::kPerGroup, 64, true, f16, 200, 19), 3, 2, true, f32},
      {"i8 kn channel f16 f32out m4", Desc(f16, i8, L::kKN, S::kPerChannel, 0, false, f32, 256, 21), 4, 0, false, f32},
      {"i8 nk group32 f16 m2 tail", Desc(f16, i8, L::kNK, S::kPerGroup, 32, false, f16, 100, 13), 2, 1, true, bf16},
      {"m0", Desc(f16, i8, L::kKN, S::kPerChannel, 0, false, f16, 64, 16), 0, 0, false, f32},
      {"n0", Desc(f16, i8, L::kNK, S::kPerChannel, 0, false, f16, 64, 0), 3, 0, false, f32},
      {"k0 bias", Desc(f16, i8, L::kNK, S::kPerChannel, 0, false, f16, 0, 9), 2, 0, true, f32},
      {"k1", Desc(bf16, i4, L::kKN, S::kPerGroup, 32, true, f32, 1, 34), 2, 0, false, f32},
  };
}

// The bf16 decode cases (m <= 16) with the vdpbf16ps loops turned off: the fp32 loops they
// otherwise skip on an AVX512_BF16 host. (With them on they run in
// AllTargetsBothRegimesAgainstReference.)
TEST(WqMatmulTest, Bf16DotOffAgainstReference) {
  RecordProperty("bf16_dot_available", Bf16DotAvailable() ? "yes" : "no");
  SetBf16DotEnabledForTest(false);
  for (const Case& c : Cases()) {
    if (c.m >= 1 && c.m <= 16 && c.desc.act_dtype == DType::kBFloat16) RunAndCompare(c, MatmulRegime::kDecode, 1);
  }
  SetBf16DotEnabledForTest(true);
}

// A bf16 decode call (k = 256, n = 3, per-channel scale, fp32 out, no bias) whose column nn holds
// the code nn + 1 everywhere: y[r][nn] = (nn + 1)-weighted sums the tests below work out exactly.
std::vector<float> RunBf16Columns(DType weight, int64_t m, const std::vector<uint16_t>& x, uint16_t scale_bits) {
  WqMatmulDesc d = Desc(DType::kBFloat16, weight, WeightLayout::kNK, ScaleMode::kPerChannel, 0, false,
                        DType::kFloat32, 256, 3);
  d.m_max = m;
  d.regime = MatmulRegime::kDecode;
  std::vector<uint8_t> w(static_cast<size_t>(d.k * d.n) + 1, 0);
  for (int64_t kk = 0; kk < d.k; ++kk) {
    for (int64_t nn = 0; nn < d.n; ++nn) {
      const int64_t idx = WqWeightIndex(d, kk, nn);
      if (weight == DType::kInt4) {
        PackInt4(w.data(), idx, static_cast<int8_t>(nn + 1));
      } else {
        w[static_cast<size_t>(idx)] = static_cast<uint8_t>(nn + 1);
      }
    }
  }
  const std::vector<uint16_t> scale(static_cast<size_t>(d.n), scale_bits);
  WqWeightsView view;
  view.weight = w.data();
  view.scale = scale.data();
  WqMatmulPlan plan;
  Support support = Support::Yes();
  EXPECT_TRUE(PlanWqMatmul(d, view, &plan, &support).ok());
  std::vector<float> y(static_cast<size_t>(m * d.n), -1.0f);
  WqMatmulArgs args;
  args.x = x.data();
  args.m = m;
  args.y = y.data();
  std::vector<uint8_t> scratch(plan.ScratchBytes(m));
  EXPECT_TRUE(ExecuteWqMatmulParallel(plan, args, nullptr, nullptr, 1, scratch.data(), scratch.size()).ok());
  return y;
}

// A subnormal bf16 activation (vdpbf16ps would read it as zero) sends the call to the fp32 loop:
// with x row = (2^-130, 0, ...) column nn (every code nn + 1, scale 1) gives exactly
// (nn + 1) 2^-130, where vdpbf16ps would give 0. At m = 1, and at m = 2 with the subnormal row
// second (row 0 = (1, 0, ...) gives nn + 1), int4 and int8.
TEST(WqMatmulTest, Bf16SubnormalActivationIsNotFlushed) {
  for (DType weight : {DType::kInt4, DType::kInt8}) {
    for (int64_t m : {1, 2}) {
      std::vector<uint16_t> x(static_cast<size_t>(m * 256), 0);
      if (m == 2) x[0] = ToAct(1.0f, DType::kBFloat16);
      x[static_cast<size_t>((m - 1) * 256)] = 0x0008;  // 2^-130: exponent field 0, fraction 2^-4 of 2^-126
      const std::vector<float> y = RunBf16Columns(weight, m, x, ToAct(1.0f, DType::kBFloat16));
      for (int64_t nn = 0; nn < 3; ++nn) {
        EXPECT_EQ(y[(m - 1) * 3 + nn], std::ldexp(static_cast<float>(nn + 1), -130))
            << DTypeName(weight) << " m " << m << " col " << nn;
        if (m == 2) {
          EXPECT_EQ(y[nn], static_cast<float>(nn + 1)) << DTypeName(weight) << " col " << nn;
        }
      }
    }
  }
}

// A scale whose products are subnormal: the plan cannot prove every dequantized value normal
// (fast_round), so the call takes the fp32 loop, which keeps them. Scale 2^-133 (the smallest bf16
// subnormal), x = (1, 0, ...): column nn gives (nn + 1) 2^-133, exact in bf16 and fp32, where
// vcvtne2ps2bf16 / vdpbf16ps would give 0.
TEST(WqMatmulTest, Bf16SubnormalWeightIsNotFlushed) {
  for (DType weight : {DType::kInt4, DType::kInt8}) {
    std::vector<uint16_t> x(256, 0);
    x[0] = ToAct(1.0f, DType::kBFloat16);
    const std::vector<float> y = RunBf16Columns(weight, 1, x, 0x0001);
    for (int64_t nn = 0; nn < 3; ++nn) {
      EXPECT_EQ(y[nn], std::ldexp(static_cast<float>(nn + 1), -133)) << DTypeName(weight) << " col " << nn;
    }
  }
}

// k = 40 leaves 24 padding elements in the decode layout's last 32-element chunk. With offset 100
// and scale 1000, every real weight (-100) dequantizes to 0, but a padding code (0) gives
// fp16(100 * 1000) = inf; x is zero there, and 0 * inf = NaN would poison every sum unless the
// loops zero the padding lanes. Every decode row path: m = 1, 2..4 in registers, 7 in blocks.
TEST(WqMatmulTest, DecodePaddingOverflowIsMasked) {
  for (int64_t m : {1, 2, 3, 4, 7}) {
    WqMatmulDesc d = Desc(DType::kFloat16, DType::kInt8, WeightLayout::kNK, ScaleMode::kPerChannel, 0, true,
                          DType::kFloat32, 40, 5);
    d.m_max = m;
    d.regime = MatmulRegime::kDecode;
    std::vector<uint8_t> weight(static_cast<size_t>(d.k * d.n), static_cast<uint8_t>(static_cast<int8_t>(-100)));
    const std::vector<uint16_t> scale(static_cast<size_t>(d.n), ToAct(1000.0f, DType::kFloat16));
    const std::vector<uint16_t> offset(static_cast<size_t>(d.n), ToAct(100.0f, DType::kFloat16));
    const std::vector<uint16_t> x(static_cast<size_t>(m * d.k), ToAct(1.0f, DType::kFloat16));
    WqWeightsView view;
    view.weight = weight.data();
    view.scale = scale.data();
    view.offset = offset.data();
    for (int64_t target : hwy::SupportedAndGeneratedTargets()) {
      hwy::SetSupportedTargetsForTest(target);
      WqMatmulPlan plan;
      Support support = Support::Yes();
      ASSERT_TRUE(PlanWqMatmul(d, view, &plan, &support).ok());
      ASSERT_TRUE(support.ok()) << support.reason();
      std::vector<float> y(static_cast<size_t>(m * d.n), -1.0f);
      WqMatmulArgs args;
      args.x = x.data();
      args.m = m;
      args.y = y.data();
      std::vector<uint8_t> scratch(plan.ScratchBytes(m));
      ASSERT_TRUE(ExecuteWqMatmulParallel(plan, args, nullptr, nullptr, 1, scratch.data(), scratch.size()).ok());
      for (size_t i = 0; i < y.size(); ++i) {
        EXPECT_EQ(y[i], 0.0f) << "m " << m << " target " << hwy::TargetName(target) << " element " << i;
      }
    }
    hwy::SetSupportedTargetsForTest(0);
  }
}

TEST(WqMatmulTest, AllTargetsBothRegimesAgainstReference) {
  std::string names;
  for (int64_t target : hwy::SupportedAndGeneratedTargets()) names += std::string(hwy::TargetName(target)) + " ";
  RecordProperty("targets", names);
  std::printf("targets under test: %s\n", names.c_str());
  for (const Case& c : Cases()) {
    RunAndCompare(c, MatmulRegime::kDecode, 1);
    RunAndCompare(c, MatmulRegime::kPrefill, 1);
    RunAndCompare(c, MatmulRegime::kAuto, 3);
  }
}

// With x = identity (m = k, fp32 output) every output is one dequantized weight: the kernels'
// dequantization must equal the reference bit for bit, up to the sign of zero (an output is a sum
// that also adds 0 * the other weights, so -0 is not observable through the matmul).
TEST(WqMatmulTest, DequantIsBitExact) {
  for (DType act : {DType::kFloat16, DType::kBFloat16}) {
    for (DType wt : {DType::kInt8, DType::kInt4}) {
      for (bool off : {false, true}) {
        Case c{"identity", Desc(act, wt, WeightLayout::kNK, ScaleMode::kPerGroup, 32, off, DType::kFloat32, 64, 48), 64,
               0, false, DType::kFloat32};
        Data data = MakeData(c, 99);
        // Large and negative scales push products into fp16's coarse range; without offset these
        // scales take the RoundMagic path, with an fp16 offset the general one.
        for (size_t i = 0; i < data.scale.size(); ++i) {
          data.scale[i] = ToAct(static_cast<float>((i % 5 == 0 ? -1 : 1) * (i % 7 == 0 ? 400.0 : 0.0123 * (1 + i % 13))), act);
        }
        for (int64_t i = 0; i < 64; ++i) {
          for (int64_t j = 0; j < 64; ++j) data.x[i * 64 + j] = ToAct(i == j ? 1.0f : 0.0f, act);
        }
        for (MatmulRegime regime : {MatmulRegime::kDecode, MatmulRegime::kPrefill}) {
          WqMatmulDesc d = c.desc;
          d.m_max = 64;
          d.regime = regime;
          for (int64_t target : hwy::SupportedAndGeneratedTargets()) {
            hwy::SetSupportedTargetsForTest(target);
            WqMatmulPlan plan;
            Support support = Support::Yes();
            ASSERT_TRUE(PlanWqMatmul(d, data.view, &plan, &support).ok());
            std::vector<float> y(64 * 48);
            std::vector<uint8_t> scratch(plan.ScratchBytes(64));
            WqMatmulArgs args = data.args;
            args.y = y.data();
            ASSERT_TRUE(ExecuteWqMatmul(plan, args, {0, 64, 0, 48}, scratch.data(), scratch.size()).ok());
            for (int64_t kk = 0; kk < 64; ++kk) {
              for (int64_t nn = 0; nn < 48; ++nn) {
                const float want = WqAntiquantReference(WqWeightAt(d, data.view.weight, kk, nn),
                                                        WqParamAt(d, data.view, data.view.scale, kk, nn),
                                                        off ? WqParamAt(d, data.view, data.view.offset, kk, nn) : 0.0f, act);
                const float got = y[kk * 48 + nn];
                ASSERT_TRUE(want == got || (std::isnan(want) && std::isnan(got)))
                    << hwy::TargetName(target) << " k " << kk << " n " << nn << ": " << got << " vs " << want;
              }
            }
          }
          hwy::SetSupportedTargetsForTest(0);
        }
      }
    }
  }
}

// On every target: with x = e_kk (m = 1, fp32 output), every column nn of the plan's decode loop
// must give want[kk * n + nn] (compared with ==, so -0 and +0 agree: the sum also adds 0 times
// the other weights). `what(kk, nn)` describes a mismatch.
template <class What>
void ExpectUnitRowsGive(const WqMatmulDesc& d, const WqWeightsView& view, const std::vector<float>& want,
                        bool require_fast_round, const What& what) {
  const int64_t k = d.k, n = d.n;
  for (int64_t target : hwy::SupportedAndGeneratedTargets()) {
    hwy::SetSupportedTargetsForTest(target);
    WqMatmulPlan plan;
    Support support = Support::Yes();
    ASSERT_TRUE(PlanWqMatmul(d, view, &plan, &support).ok());
    ASSERT_TRUE(support.ok());
    if (require_fast_round) {
      ASSERT_TRUE(plan.packed().fast_round) << "these scales are in the fast range";
    }
    std::vector<uint8_t> scratch(plan.ScratchBytes(1));
    std::vector<uint16_t> x(static_cast<size_t>(k));
    std::vector<float> y(static_cast<size_t>(n));
    WqMatmulArgs args;
    args.x = x.data();
    args.m = 1;
    args.y = y.data();
    for (int64_t kk = 0; kk < k; ++kk) {
      for (int64_t i = 0; i < k; ++i) x[i] = ToAct(i == kk ? 1.0f : 0.0f, d.act_dtype);
      ASSERT_TRUE(ExecuteWqMatmul(plan, args, {0, 1, 0, n}, scratch.data(), scratch.size()).ok());
      for (int64_t nn = 0; nn < n; ++nn) {
        ASSERT_EQ(y[nn], want[kk * n + nn]) << hwy::TargetName(target) << " " << DTypeName(d.act_dtype) << " "
                                            << what(kk, nn);
      }
    }
  }
  hwy::SetSupportedTargetsForTest(0);
}

// The decode loops round w * s with two operations (FastAntiquant in matmul_simd-inl.h) when the
// plan proves the range (fast_round). Checked here for every int8 value w and, per dtype, every
// 11th fp16 / bf16 bit pattern of either sign across the fast range (fp16 scales [2^-14, 511.75],
// bf16 [2^-40, 2^40]): the m = 1 loop with x = e_kk returns column nn's dequantized W[kk, nn]
// exactly (fp32 output, one nonzero product).
TEST(WqMatmulTest, FastAntiquantExhaustive) {
  for (DType act : {DType::kFloat16, DType::kBFloat16}) {
    const bool f16 = act == DType::kFloat16;
    std::vector<uint16_t> scales;
    const uint16_t lo = f16 ? 0x0400 : FloatToBf16(std::ldexp(1.0f, -40));
    const uint16_t hi = f16 ? FloatToHalf(511.75f) : FloatToBf16(std::ldexp(1.0f, 40));
    for (uint32_t b = lo; b <= hi; b += 11) {
      scales.push_back(static_cast<uint16_t>(b));
      scales.push_back(static_cast<uint16_t>(b | 0x8000u));
    }
    scales.push_back(hi);
    const int64_t k = 256, n = static_cast<int64_t>(scales.size());
    WqMatmulDesc d = Desc(act, DType::kInt8, WeightLayout::kNK, ScaleMode::kPerChannel, 0, false, DType::kFloat32, k, n);
    d.m_max = 1;
    d.regime = MatmulRegime::kDecode;
    std::vector<uint8_t> weight(static_cast<size_t>(k * n));
    for (int64_t kk = 0; kk < k; ++kk) {
      for (int64_t nn = 0; nn < n; ++nn) weight[WqWeightIndex(d, kk, nn)] = static_cast<uint8_t>(kk - 128);
    }
    WqWeightsView view;
    view.weight = weight.data();
    view.scale = scales.data();
    std::vector<float> want(static_cast<size_t>(k * n));
    for (int64_t kk = 0; kk < k; ++kk) {
      for (int64_t nn = 0; nn < n; ++nn) {
        want[kk * n + nn] = WqAntiquantReference(static_cast<int>(kk - 128), WqParamAt(d, view, view.scale, kk, nn), 0.0f, act);
      }
    }
    ASSERT_NO_FATAL_FAILURE(ExpectUnitRowsGive(d, view, want, true, [&](int64_t kk, int64_t nn) {
      std::ostringstream m;
      m << "w " << kk - 128 << " scale bits 0x" << std::hex << scales[nn];
      return m.str();
    }));
  }
}

// The m = 1 int4 loop returns column nn's dequantized W[kk, nn] exactly with x = e_kk: every code
// in every nibble of a 128-element chunk, full chunks and a partial last one, groups of 32 (the
// constants change at every quarter of a chunk) and of 96 (mid-chunk), with and without offset,
// per dtype scales of either sign from subnormal (fp16) to beyond the fast range (so both the
// two-op and the general rounding run), offsets with fractional parts.
// Every code at every k across the columns, and no period of 16 in k (the decode layout puts
// elements e and e + 16 in neighbouring nibbles: a periodic pattern would hide a swap).
int Int4CodeAt(int64_t kk, int64_t nn) { return static_cast<int>((kk + nn + 5 * (kk / 16)) % 16) - 8; }

TEST(WqMatmulTest, Int4DecodeM1IsBitExact) {
  for (DType act : {DType::kFloat16, DType::kBFloat16}) {
    const bool f16 = act == DType::kFloat16;
    std::vector<uint16_t> scales;
    // Up to 2^11 (fp16) / 2^124 (bf16): |w + offset| < 16, so every dequantized weight is finite and
    // x = e_kk's zeros times the other weights add only zeros (an infinite one would make NaN).
    for (uint32_t b = f16 ? 0x0001u : 0x0080u; b < (f16 ? 0x6800u : 0x7d80u); b += f16 ? 97u : 331u) {
      scales.push_back(static_cast<uint16_t>(b));
      scales.push_back(static_cast<uint16_t>(b | 0x8000u));
    }
    for (int shape = 0; shape < 8; ++shape) {
      // Groups of 128 and 256: the vdpbf16ps loop for bf16 on an AVX512_BF16 host (its columns
      // whose tables hold a subnormal value take the fp32 loop).
      const int64_t group = shape < 2 ? 32 : shape < 4 ? 96 : shape < 6 ? 128 : 256;
      const int64_t k = shape < 2 ? 160 : shape < 6 ? 288 : 640;
      const bool off = shape % 2 == 1;
      const int64_t n = static_cast<int64_t>(scales.size()) / 2, groups = (k + group - 1) / group;
      WqMatmulDesc d = Desc(act, DType::kInt4, WeightLayout::kNK, ScaleMode::kPerGroup, group, off, DType::kFloat32, k, n);
      d.m_max = 1;
      d.regime = MatmulRegime::kDecode;
      std::vector<uint8_t> weight(static_cast<size_t>(k * n / 2) + 1, 0);
      for (int64_t kk = 0; kk < k; ++kk) {
        for (int64_t nn = 0; nn < n; ++nn) {
          PackInt4(weight.data(), WqWeightIndex(d, kk, nn), static_cast<int8_t>(Int4CodeAt(kk, nn)));
        }
      }
      // Scales and offsets are (groups, n): group g of column nn takes scales[(2 * nn + g) % size].
      std::vector<uint16_t> scale(static_cast<size_t>(groups * n)), offset(static_cast<size_t>(groups * n));
      for (int64_t g = 0; g < groups; ++g) {
        for (int64_t nn = 0; nn < n; ++nn) {
          scale[g * n + nn] = scales[(2 * nn + g) % scales.size()];
          offset[g * n + nn] = ToAct(static_cast<float>((nn * 7 + g * 3) % 29) * 0.37f - 5.1f, act);
        }
      }
      WqWeightsView view;
      view.weight = weight.data();
      view.scale = scale.data();
      view.offset = off ? offset.data() : nullptr;
      std::vector<float> want(static_cast<size_t>(k * n));
      for (int64_t kk = 0; kk < k; ++kk) {
        for (int64_t nn = 0; nn < n; ++nn) {
          want[kk * n + nn] = WqAntiquantReference(Int4CodeAt(kk, nn), WqParamAt(d, view, view.scale, kk, nn),
                                                   off ? WqParamAt(d, view, view.offset, kk, nn) : 0.0f, act);
        }
      }
      ASSERT_NO_FATAL_FAILURE(ExpectUnitRowsGive(d, view, want, false, [&](int64_t kk, int64_t nn) {
        std::ostringstream m;
        m << "group " << group << " off " << off << " k " << kk << " col " << nn << " scale 0x" << std::hex
          << scale[(kk / group) * n + nn];
        return m.str();
      }));
    }
  }
}

// A ParallelForFn that runs every task on its own thread (the tests' stand-in for a pool).
void ThreadsFor(void* /*pool*/, int64_t n_tasks, MatmulTaskFn fn, void* ctx) {
  std::vector<std::thread> threads;
  for (int64_t t = 0; t < n_tasks; ++t) threads.emplace_back([=] { fn(ctx, t); });
  for (auto& th : threads) th.join();
}

// Concurrent ranges (prefill: rows and columns split) give the same bits as one call.
TEST(WqMatmulTest, ConcurrentRangesMatchOneCall) {
  Case c{"threads", Desc(DType::kBFloat16, DType::kInt4, WeightLayout::kNK, ScaleMode::kPerGroup, 64, true,
                         DType::kBFloat16, 192, 40),
         50, 2, true, DType::kBFloat16};
  for (MatmulRegime regime : {MatmulRegime::kDecode, MatmulRegime::kPrefill}) {
    WqMatmulDesc d = c.desc;
    d.m_max = c.m;
    d.regime = regime;
    Data data = MakeData(c, 42);
    WqMatmulPlan plan;
    Support support = Support::Yes();
    ASSERT_TRUE(PlanWqMatmul(d, data.view, &plan, &support).ok());
    std::vector<uint8_t> one(OutBytes(d, c.m)), many(OutBytes(d, c.m));
    WqMatmulArgs args = data.args;
    args.y = one.data();
    std::vector<uint8_t> scratch(plan.ScratchBytes(c.m));
    ASSERT_TRUE(ExecuteWqMatmul(plan, args, {0, c.m, 0, d.n}, scratch.data(), scratch.size()).ok());
    const int64_t tasks = 4;
    const size_t slice = (plan.ScratchBytes(c.m) + 63) / 64 * 64;
    std::vector<uint8_t> scratches(slice * tasks);
    args.y = many.data();
    ASSERT_TRUE(ExecuteWqMatmulParallel(plan, args, ThreadsFor, nullptr, tasks, scratches.data(), scratches.size()).ok());
    EXPECT_EQ(one, many);
    if (regime == MatmulRegime::kDecode) {
      // Decode accepts any first column: two ranges split at column 7.
      std::vector<uint8_t> split(OutBytes(d, c.m));
      args.y = split.data();
      ASSERT_TRUE(ExecuteWqMatmul(plan, args, {0, c.m, 0, 7}, scratch.data(), scratch.size()).ok());
      ASSERT_TRUE(ExecuteWqMatmul(plan, args, {0, c.m, 7, d.n}, scratch.data(), scratch.size()).ok());
      EXPECT_EQ(one, split);
    }
  }
}

// The kernels' scalar antiquant rule agrees with the golden model's.
TEST(WqMatmulTest, ReferenceAntiquantMatchesGolden) {
  std::mt19937 rng(7);
  std::uniform_real_distribution<float> sdist(-3.0f, 3.0f), odist(-40.0f, 40.0f);
  for (DType act : {DType::kFloat16, DType::kBFloat16}) {
    for (int trial = 0; trial < 64; ++trial) {
      const float scale = static_cast<float>(RoundToDType(std::ldexp(sdist(rng), trial % 20 - 10), act));
      const float offset = trial % 3 == 0 ? 0.0f : static_cast<float>(RoundToDType(odist(rng), act));
      for (int w = -128; w <= 127; ++w) {
        const double golden = reference::AntiquantWeight(w, scale, offset, act, reference::Mode::kCann);
        const float mine = WqAntiquantReference(w, scale, offset, act);
        ASSERT_EQ(static_cast<double>(mine), golden) << "w " << w << " scale " << scale << " offset " << offset;
      }
    }
  }
}

TEST(WqMatmulTest, DeclinesWithReason) {
  WqMatmulDesc d = Desc(DType::kFloat16, DType::kInt8, WeightLayout::kKN, ScaleMode::kPerGroup, 48, false,
                        DType::kFloat16, 96, 32);
  d.m_max = 1;
  std::vector<uint8_t> w(96 * 32);
  std::vector<uint16_t> s(2 * 32);
  WqWeightsView view{w.data(), s.data(), nullptr};
  WqMatmulPlan plan;
  Support support = Support::Yes();
  ASSERT_TRUE(PlanWqMatmul(d, view, &plan, &support).ok());
  EXPECT_FALSE(support.ok());
  EXPECT_NE(support.reason().find("48"), std::string::npos);
  d.group_size = 32;
  d.weight_dtype = DType::kInt4;
  d.layout = WeightLayout::kNzKN;
  ASSERT_TRUE(PlanWqMatmul(d, view, &plan, &support).ok());
  EXPECT_FALSE(support.ok());
  d.act_dtype = DType::kFloat32;
  EXPECT_FALSE(PlanWqMatmul(d, view, &plan, &support).ok());
}

}  // namespace
}  // namespace mc2::kernels
