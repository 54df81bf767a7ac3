// LinearParallel golden model, quantized paths (spec 4.5): W8A16 per-tensor / per-channel /
// per-group with the antiquant offset absent, empty or present; W8A8 with float and int64 deqScale,
// fp16 and bf16 outputs, bias present / absent / empty; PER_TOKEN; int8 FRACTAL_NZ weights; the
// roundings CANN performs and kExact; validation errors. Expected values are worked by hand in the
// comments (scales are powers of two where a test is not about rounding, so every value is exact),
// or computed here by plain loops.
#include <gtest/gtest.h>

#include <cmath>
#include <string>

#include "reference/linear_parallel.h"
#include "reference_linear_parallel_test_util.h"

namespace mc2::reference {
namespace {

using lp_test::ExpectLpError;
using lp_test::ExpectTensor;
using lp_test::MatMul;
using lp_test::Pool;
using lp_test::RunLp;
using lp_test::SmallInts;
using lp_test::Transpose;
using lp_test::Values;
using Type = LinearParallelType;

constexpr DType kF16 = DType::kFloat16;
constexpr DType kBf16 = DType::kBFloat16;
constexpr DType kI8 = DType::kInt8;

// x = [2, 4, 6]; W (k=3, n=2) = [[1, 3], [5, -1], [-3, 7]] as int8.
const std::vector<double> kW8a16X = {2, 4, 6};
const std::vector<double> kW8a16W = {1, 3, 5, -1, -3, 7};

TEST(ReferenceLinearParallelQuantTest, W8a16PerTensorOffsetAbsentEmptyPresent) {
  // scale 0.5, no offset: Wd = W/2 = [[.5,1.5],[2.5,-.5],[-1.5,3.5]] -> [1+10-9, 3-2+21] = [2, 22].
  // offset -1: Wd = (W-1)/2 = [[0,1],[2,-1],[-2,3]] -> [0+8-12, 2-4+18] = [-4, 16].
  enum class Offset { kAbsent, kEmpty, kPresent };
  for (Offset offset : {Offset::kAbsent, Offset::kEmpty, Offset::kPresent}) {
    for (bool trans : {false, true}) {
      Pool pool;
      LinearParallelInputs in;
      in.input = pool.Nd(kF16, {1, 3}, kW8a16X);
      in.weight = trans ? pool.Nd(kI8, {2, 3}, Transpose(kW8a16W, 3, 2)) : pool.Nd(kI8, {3, 2}, kW8a16W);
      in.deq_scale = pool.Nd(kF16, {1}, {0.5});
      if (offset == Offset::kEmpty) in.bias = pool.Empty(kF16);
      if (offset == Offset::kPresent) in.bias = pool.Nd(kF16, {1, 1}, {-1});
      LinearParallelAttrs attrs;
      attrs.type = Type::kPureLinear;
      attrs.trans_weight = trans;
      attrs.quant_type = QuantType::kPerTensor;
      const std::vector<double> expect =
          offset == Offset::kPresent ? std::vector<double>{-4, 16} : std::vector<double>{2, 22};
      ExpectTensor(RunLp({in}, attrs)[0].output, kF16, {1, 2}, expect);
    }
  }
}

TEST(ReferenceLinearParallelQuantTest, W8a16PerChannelBf16AllReduce) {
  // scale [0.5, 2], offset [1, 0]: column 0 (W+1)/2 = [1, 3, -1], column 1 2W = [6, -2, 14];
  // x = [2, 4, 6] -> [2+12-6, 12-8+84] = [8, 88] per rank; two ranks -> [16, 176].
  for (bool two_d : {false, true}) {
    Pool pool;
    std::vector<LinearParallelInputs> ranks(2);
    for (auto& in : ranks) {
      in.input = pool.Nd(kBf16, {1, 3}, kW8a16X);
      in.weight = pool.Nd(kI8, {2, 3}, Transpose(kW8a16W, 3, 2));
      in.deq_scale = two_d ? pool.Nd(kBf16, {1, 2}, {0.5, 2}) : pool.Nd(kBf16, {2}, {0.5, 2});
      in.bias = two_d ? pool.Nd(kBf16, {1, 2}, {1, 0}) : pool.Nd(kBf16, {2}, {1, 0});
    }
    LinearParallelAttrs attrs;
    attrs.quant_type = QuantType::kPerChannel;
    auto out = RunLp(ranks, attrs);
    ASSERT_EQ(out.size(), 2u);
    for (const auto& o : out) ExpectTensor(o.output, kBf16, {1, 2}, {16, 176});
  }
}

TEST(ReferenceLinearParallelQuantTest, W8a16PerGroupKNotMultipleOfGroup) {
  // k = 5, G = 2 -> groups {0,1}, {2,3}, {4}; scale (3, 2) = [[1, 2], [0.5, 1], [2, 0.25]].
  // x = [1, 1, 1, 1, 1]; W column 0 = [1, 2, 3, 4, 5], column 1 = [4, -4, 8, -8, 12].
  // No offset:   col 0 = (1+2)*1 + (3+4)*0.5 + 5*2 = 16.5;  col 1 = 0*2 + 0*1 + 12*0.25 = 3.
  // offset (3, 2) = [[1, 0], [2, 1], [-1, 0]]:
  //              col 0 = (2+3)*1 + (5+6)*0.5 + 4*2 = 18.5;  col 1 = 0*2 + (9-7)*1 + 12*0.25 = 5.
  const std::vector<double> w = {1, 4, 2, -4, 3, 8, 4, -8, 5, 12};  // (k=5, n=2) row-major
  for (int offset = 0; offset < 3; ++offset) {
    for (bool trans : {false, true}) {
      Pool pool;
      LinearParallelInputs in;
      in.input = pool.Nd(kF16, {1, 5}, {1, 1, 1, 1, 1});
      in.weight = trans ? pool.Nd(kI8, {2, 5}, Transpose(w, 5, 2)) : pool.Nd(kI8, {5, 2}, w);
      in.deq_scale = pool.Nd(kF16, {3, 2}, {1, 2, 0.5, 1, 2, 0.25});
      if (offset == 1) in.bias = pool.Empty(kF16);
      if (offset == 2) in.bias = pool.Nd(kF16, {3, 2}, {1, 0, 2, 1, -1, 0});
      LinearParallelAttrs attrs;
      attrs.type = Type::kPureLinear;
      attrs.trans_weight = trans;
      attrs.quant_type = QuantType::kPerGroup;
      attrs.quant_group_size = 2;
      const std::vector<double> expect = offset == 2 ? std::vector<double>{18.5, 5} : std::vector<double>{16.5, 3};
      ExpectTensor(RunLp({in}, attrs)[0].output, kF16, {1, 2}, expect);
    }
  }
}

TEST(ReferenceLinearParallelQuantTest, W8a16AntiquantRoundsLikeTheDevice) {
  // fp16: w = 127, offset 0.1 (stored 0.0999755859375): the add is done in fp16, 127.0999... ->
  // 127.125 (fp16 step 1/16 in [64, 128)); * scale 1 -> 127.125. kExact keeps 127.0999755859375.
  // bf16: w = 127, offset 0.25, scale 3: fp32 (127.25 * 3) = 381.75 -> bf16 382 (one rounding; a
  // bf16 add first would give 127 and then 381 -> 380). kExact 381.75.
  struct Case {
    DType dtype;
    double offset, scale, cann, exact;
  };
  for (const Case& c : {Case{kF16, 0.1, 1, 127.125, 127.0999755859375}, Case{kBf16, 0.25, 3, 382, 381.75}}) {
    Pool pool;
    LinearParallelInputs in;
    in.input = pool.Nd(c.dtype, {1, 1}, {1});
    in.weight = pool.Nd(kI8, {1, 1}, {127});
    in.deq_scale = pool.Nd(c.dtype, {1}, {c.scale});
    in.bias = pool.Nd(c.dtype, {1}, {c.offset});
    LinearParallelAttrs attrs;
    attrs.quant_type = QuantType::kPerTensor;
    ExpectTensor(RunLp({in}, attrs, Mode::kCann)[0].output, c.dtype, {1, 1}, {c.cann});
    ExpectTensor(RunLp({in}, attrs, Mode::kExact)[0].output, DType::kFloat64, {1, 1}, {c.exact});
  }
}

// x0 = [[1, 2, 3], [-1, 0, 2]], W (k=3, n=2) = [[1, -1], [2, 0], [3, 1]] -> acc = [[14, 2], [5, 3]].
const std::vector<double> kW8a8X = {1, 2, 3, -1, 0, 2};
const std::vector<double> kW8a8W = {1, -1, 2, 0, 3, 1};

TEST(ReferenceLinearParallelQuantTest, W8a8PerChannelInt64ScaleFp16WithBias) {
  // bias [1, -2], scale [0.5, 4].  rank 0: ([14+1, 2-2], [5+1, 3-2]) * s = [[7.5, 0], [3, 4]].
  // rank 1 has x = -x0: ([-13, -4], [-4, -5]) * s = [[-6.5, -16], [-2, -20]].  Sum [[1, -16], [1, -16]].
  for (bool two_d : {false, true}) {
    Pool pool;
    std::vector<LinearParallelInputs> ranks(2);
    for (int r = 0; r < 2; ++r) {
      std::vector<double> x = kW8a8X;
      if (r == 1) {
        for (double& v : x) v = -v;
      }
      ranks[r].input = pool.Nd(kI8, {2, 3}, x);
      ranks[r].weight = pool.Nd(kI8, {3, 2}, kW8a8W);
      ranks[r].bias = pool.Nd(DType::kInt32, two_d ? Dims{1, 2} : Dims{2}, {1, -2});
      ranks[r].deq_scale = pool.Int64Scale(two_d ? Dims{1, 2} : Dims{2}, {0.5f, 4.0f});
    }
    LinearParallelAttrs attrs;
    attrs.trans_weight = false;
    attrs.quant_type = QuantType::kPerChannel;
    auto out = RunLp(ranks, attrs);  // outDataType unset -> fp16
    ASSERT_EQ(out.size(), 2u);
    for (const auto& o : out) ExpectTensor(o.output, kF16, {2, 2}, {1, -16, 1, -16});
  }
}

TEST(ReferenceLinearParallelQuantTest, W8a8BiasAbsentOrEmpty) {
  // No bias: acc * [0.5, 4] = [[7, 8], [2.5, 12]].
  for (bool empty : {false, true}) {
    Pool pool;
    LinearParallelInputs in;
    in.input = pool.Nd(kI8, {2, 3}, kW8a8X);
    in.weight = pool.Nd(kI8, {2, 3}, Transpose(kW8a8W, 3, 2));
    if (empty) in.bias = pool.Empty(DType::kInt32);
    in.deq_scale = pool.Int64Scale({2}, {0.5f, 4.0f});
    LinearParallelAttrs attrs;
    attrs.type = Type::kPureLinear;
    attrs.quant_type = QuantType::kPerChannel;
    attrs.out_dtype = kF16;
    ExpectTensor(RunLp({in}, attrs)[0].output, kF16, {2, 2}, {7, 8, 2.5, 12});
  }
}

TEST(ReferenceLinearParallelQuantTest, W8a8PerTensorBf16FloatAndInt64Scale) {
  // bias [2], scale [0.25]: (acc + 2) / 4 = [[16, 4], [7, 5]] / 4 = [[4, 1], [1.75, 1.25]].
  for (bool int64_scale : {false, true}) {
    Pool pool;
    LinearParallelInputs in;
    in.input = pool.Nd(kI8, {2, 3}, kW8a8X);
    in.weight = pool.Nd(kI8, {3, 2}, kW8a8W);
    in.bias = pool.Nd(DType::kInt32, {1}, {2});
    in.deq_scale = int64_scale ? pool.Int64Scale({1}, {0.25f}) : pool.Nd(DType::kFloat32, {1}, {0.25});
    LinearParallelAttrs attrs;
    attrs.type = Type::kPureLinear;
    attrs.trans_weight = false;
    attrs.quant_type = QuantType::kPerTensor;
    attrs.out_dtype = kBf16;
    ExpectTensor(RunLp({in}, attrs)[0].output, kBf16, {2, 2}, {4, 1, 1.75, 1.25});
  }
}

TEST(ReferenceLinearParallelQuantTest, W8a8Fp16UsesScaleWith13MantissaBitsCleared) {
  // acc = 1, int64 scale s = 1 + 2^-11 + 2^-12 (fp32 bits 0x3F801800; both set bits are among the
  // low 13). fp16 output: the device uses s' = 1.0 -> 1.0. Unrounded s would give fp16(1.000732) =
  // 1 + 2^-10 (above the half step 2^-11). kExact does not truncate: 1.000732421875.
  const float s = 1.0f + std::ldexp(1.0f, -11) + std::ldexp(1.0f, -12);
  // bf16 output keeps the full scale: s2 = 1 + 2^-8 + 2^-12 -> bf16 rounds up to 1 + 2^-7 = 1.0078125
  // (with the 13 bits cleared it would be the tie 1 + 2^-8 -> 1.0).
  const float s2 = 1.0f + std::ldexp(1.0f, -8) + std::ldexp(1.0f, -12);
  struct Case {
    DType out;
    float scale;
    double cann, exact;
  };
  for (const Case& c : {Case{kF16, s, 1.0, 1.000732421875}, Case{kBf16, s2, 1.0078125, 1.00415039062500}}) {
    Pool pool;
    LinearParallelInputs in;
    in.input = pool.Nd(kI8, {1, 1}, {1});
    in.weight = pool.Nd(kI8, {1, 1}, {1});
    in.deq_scale = pool.Int64Scale({1}, {c.scale});
    LinearParallelAttrs attrs;
    attrs.quant_type = QuantType::kPerChannel;
    attrs.out_dtype = c.out;
    ExpectTensor(RunLp({in}, attrs, Mode::kCann)[0].output, c.out, {1, 1}, {c.cann});
    ExpectTensor(RunLp({in}, attrs, Mode::kExact)[0].output, DType::kFloat64, {1, 1}, {c.exact});
  }
}

TEST(ReferenceLinearParallelQuantTest, W8a8ExactVsCann) {
  // x = [127, 17], W = [16, 1] -> acc = 2032 + 17 = 2049; * 1 -> fp16 2048 (tie to even); exact 2049.
  Pool pool;
  LinearParallelInputs in;
  in.input = pool.Nd(kI8, {1, 2}, {127, 17});
  in.weight = pool.Nd(kI8, {1, 2}, {16, 1});
  in.deq_scale = pool.Int64Scale({1}, {1.0f});
  LinearParallelAttrs attrs;
  attrs.quant_type = QuantType::kPerTensor;
  ExpectTensor(RunLp({in}, attrs, Mode::kCann)[0].output, kF16, {1, 1}, {2048});
  ExpectTensor(RunLp({in}, attrs, Mode::kExact)[0].output, DType::kFloat64, {1, 1}, {2049});
}

TEST(ReferenceLinearParallelQuantTest, PerTokenScalesRowsAfterChannelDequant) {
  // acc * [0.5, 4] = [[7, 8], [2.5, 12]]; perTokenScale [2, 0.5] -> [[14, 16], [1.25, 6]] on rank 0.
  // rank 1 has x = 2 * x0 -> [[28, 32], [2.5, 12]].  Sum [[42, 48], [3.75, 18]] (all exact in fp16).
  Pool pool;
  std::vector<LinearParallelInputs> ranks(2);
  for (int r = 0; r < 2; ++r) {
    std::vector<double> x = kW8a8X;
    for (double& v : x) v *= (r + 1);
    ranks[r].input = pool.Nd(kI8, {2, 3}, x);
    ranks[r].weight = pool.Nd(kI8, {2, 3}, Transpose(kW8a8W, 3, 2));
    ranks[r].deq_scale = pool.Int64Scale({2}, {0.5f, 4.0f});
    ranks[r].per_token_scale = pool.Nd(DType::kFloat32, {2}, {2, 0.5});
  }
  LinearParallelAttrs attrs;
  attrs.quant_type = QuantType::kPerToken;
  auto out = RunLp(ranks, attrs);
  ASSERT_EQ(out.size(), 2u);
  for (const auto& o : out) ExpectTensor(o.output, kF16, {2, 2}, {42, 48, 3.75, 18});
}

TEST(ReferenceLinearParallelQuantTest, PerTokenRoundsTheChannelDequantFirst) {
  // acc = 127 + 127 + 3 = 257, scale 1 (float), bf16 output: the channel dequant is stored as bf16
  // 256 (tie to even), then * perTokenScale 0.75 = 192. One rounding of 257 * 0.75 = 192.75 would
  // give 193. kExact: 192.75.
  Pool pool;
  LinearParallelInputs in;
  in.input = pool.Nd(kI8, {1, 3}, {127, 127, 3});
  in.weight = pool.Nd(kI8, {1, 3}, {1, 1, 1});
  in.deq_scale = pool.Nd(DType::kFloat32, {1}, {1});
  in.per_token_scale = pool.Nd(DType::kFloat32, {1}, {0.75});
  LinearParallelAttrs attrs;
  attrs.quant_type = QuantType::kPerToken;
  attrs.out_dtype = kBf16;
  ExpectTensor(RunLp({in}, attrs, Mode::kCann)[0].output, kBf16, {1, 1}, {192});
  ExpectTensor(RunLp({in}, attrs, Mode::kExact)[0].output, DType::kFloat64, {1, 1}, {192.75});
}

TEST(ReferenceLinearParallelQuantTest, Int8FractalNzWeightEqualsNd) {
  struct Layout {
    bool trans;
    int64_t k, n;
    bool four_d;
  };
  // int8 NZ: c0 = 32. 4-D derives k / n from the dims ((k, n) = (16, 32) stored as (k, n);
  // (32, 16) stored as (n, k)); 2-D takes any size.
  const Layout layouts[] = {{false, 16, 32, true}, {true, 32, 16, true}, {false, 5, 3, false}, {true, 6, 40, false}};
  for (const Layout& l : layouts) {
    for (bool w8a8 : {true, false}) {
      Pool pool;
      const std::vector<double> w = SmallInts(l.k * l.n, 3);
      const std::vector<double> stored = l.trans ? Transpose(w, l.k, l.n) : w;
      const int64_t rows = l.trans ? l.n : l.k;
      const int64_t cols = l.trans ? l.k : l.n;
      LinearParallelInputs nd;
      nd.input = pool.Nd(w8a8 ? kI8 : kBf16, {4, l.k}, SmallInts(4 * l.k, 5));
      nd.weight = pool.Nd(kI8, {rows, cols}, stored);
      nd.deq_scale = w8a8 ? pool.Int64Scale({1}, {0.5f}) : pool.Nd(kBf16, {1}, {0.5});
      LinearParallelInputs nz = nd;
      nz.weight = l.four_d ? pool.Nz4(kI8, rows, cols, stored) : pool.Nz2(kI8, rows, cols, stored);
      LinearParallelAttrs attrs;
      attrs.trans_weight = l.trans;
      attrs.quant_type = QuantType::kPerTensor;
      attrs.out_dtype = kBf16;
      const DType out = kBf16;
      const std::vector<double> expect = MatMul(SmallInts(4 * l.k, 5), w, 4, l.k, l.n);
      std::vector<double> halves = expect;
      for (double& v : halves) v *= 0.5;
      ExpectTensor(RunLp({nd}, attrs)[0].output, out, {4, l.n}, halves);
      ExpectTensor(RunLp({nz}, attrs)[0].output, out, {4, l.n}, Values(RunLp({nd}, attrs)[0].output));
    }
  }
}

TEST(ReferenceLinearParallelQuantTest, QuantizedReduceScatterAndAllGather) {
  // Small integers, per-channel scales that are powers of two: every value is exact, so the
  // expected output is the plain sum / gather of (acc + bias) * scale, then the residual.
  const int world = 2;
  const int64_t m = 4, k = 6, n = 3;
  const std::vector<double> scale = {0.5, 2, 1};
  const std::vector<double> bias = {1, 0, -3};
  const std::vector<double> residual = {0, 1, 2};
  for (Type type : {Type::kLinearReduceScatter, Type::kAllGatherLinear}) {
    Pool pool;
    std::vector<std::vector<double>> x, w;
    std::vector<LinearParallelInputs> ranks(world);
    for (int r = 0; r < world; ++r) {
      x.push_back(SmallInts(m * k, r + 1));
      w.push_back(SmallInts(k * n, r + 4));
      ranks[r].input = pool.Nd(kI8, {m, k}, x[r]);
      ranks[r].weight = pool.Nd(kI8, {n, k}, Transpose(w[r], k, n));
      ranks[r].bias = pool.Nd(DType::kInt32, {n}, bias);
      ranks[r].deq_scale = pool.Nd(DType::kFloat32, {1, n}, scale);
      ranks[r].residual = pool.Nd(kBf16, {n}, residual);
    }
    LinearParallelAttrs attrs;
    attrs.type = type;
    attrs.has_residual = true;
    attrs.quant_type = QuantType::kPerChannel;
    attrs.out_dtype = kBf16;
    auto dequant = [&](const std::vector<double>& xs, int64_t rows, int r) {
      std::vector<double> p = MatMul(xs, w[r], rows, k, n);
      for (size_t e = 0; e < p.size(); ++e) p[e] = (p[e] + bias[e % n]) * scale[e % n];
      return p;
    };
    auto out = RunLp(ranks, attrs);
    ASSERT_EQ(static_cast<int>(out.size()), world);
    if (type == Type::kLinearReduceScatter) {
      std::vector<double> sum = dequant(x[0], m, 0);
      const std::vector<double> p1 = dequant(x[1], m, 1);
      for (size_t e = 0; e < sum.size(); ++e) sum[e] += p1[e];
      for (int r = 0; r < world; ++r) {
        std::vector<double> rows(sum.begin() + r * (m / world) * n, sum.begin() + (r + 1) * (m / world) * n);
        for (size_t e = 0; e < rows.size(); ++e) rows[e] += residual[e % n];
        ExpectTensor(out[r].output, kBf16, {m / world, n}, rows);
      }
    } else {
      std::vector<double> gathered = x[0];
      gathered.insert(gathered.end(), x[1].begin(), x[1].end());
      for (int r = 0; r < world; ++r) {
        std::vector<double> p = dequant(gathered, world * m, r);
        for (size_t e = 0; e < p.size(); ++e) p[e] += residual[e % n];
        ExpectTensor(out[r].output, kBf16, {world * m, n}, p);
      }
    }
  }
}

TEST(ReferenceLinearParallelQuantTest, EmptyM) {
  for (bool w8a8 : {true, false}) {
    Pool pool;
    LinearParallelInputs in;
    in.input = pool.Nd(w8a8 ? kI8 : kF16, {0, 3}, {});
    in.weight = pool.Nd(kI8, {2, 3}, Transpose(kW8a16W, 3, 2));
    in.deq_scale = w8a8 ? pool.Int64Scale({2}, {1.0f, 1.0f}) : pool.Nd(kF16, {2}, {1, 1});
    if (w8a8) in.per_token_scale = pool.Nd(DType::kFloat32, {0}, {});
    LinearParallelAttrs attrs;
    attrs.quant_type = w8a8 ? QuantType::kPerToken : QuantType::kPerChannel;
    ExpectTensor(RunLp({in, in}, attrs)[1].output, kF16, {0, 2}, {});
  }
}

TEST(ReferenceLinearParallelQuantTest, ValidationErrors) {
  // A valid W8A8 rank; each block breaks one rule.
  auto w8a8 = [](Pool& pool) {
    LinearParallelInputs in;
    in.input = pool.Nd(kI8, {2, 3}, kW8a8X);
    in.weight = pool.Nd(kI8, {2, 3}, Transpose(kW8a8W, 3, 2));
    in.deq_scale = pool.Int64Scale({2}, {1.0f, 1.0f});
    return in;
  };
  LinearParallelAttrs attrs;
  attrs.quant_type = QuantType::kPerChannel;
  Pool pool;
  {
    LinearParallelInputs in = w8a8(pool);
    in.deq_scale = pool.Nd(DType::kFloat32, {2}, {1, 1});
    ExpectLpError({in}, attrs, atb::kInvalidTensorIniMatch);  // float deqScale with fp16 output
    in.bias = pool.Nd(DType::kFloat32, {2}, {1, 1});
    LinearParallelAttrs bf16 = attrs;
    bf16.out_dtype = kBf16;
    ExpectLpError({in}, bf16, atb::kInvalidTensorIniMatch);  // bias must be int32
    bf16.out_dtype = DType::kFloat32;
    ExpectLpError({w8a8(pool)}, bf16, atb::kInvalidTensorIniMatch);
  }
  {
    LinearParallelAttrs group = attrs;
    group.quant_type = QuantType::kPerGroup;
    group.quant_group_size = 2;
    ExpectLpError({w8a8(pool)}, group, atb::kInvalidParam);  // W8A8 has no per-group
    group.quant_group_size = 0;
    ExpectLpError({w8a8(pool)}, group, atb::kInvalidParam);
  }
  {
    LinearParallelInputs in = w8a8(pool);
    in.deq_scale = pool.Int64Scale({3}, {1.0f, 1.0f, 1.0f});
    EXPECT_NE(ExpectLpError({in}, attrs, atb::kInvalidTensorDim).find("deqScale"), std::string::npos);
    in.deq_scale = pool.Int64Scale({2, 2}, {1.0f, 1.0f, 1.0f, 1.0f});
    ExpectLpError({in}, attrs, atb::kInvalidTensorDim);
    in.deq_scale.reset();
    ExpectLpError({in}, attrs, atb::kInvalidInTensorNum);
    in = w8a8(pool);
    in.bias = pool.Nd(DType::kInt32, {1}, {1});
    ExpectLpError({in}, attrs, atb::kInvalidTensorDim);  // per-channel bias needs n
  }
  {
    LinearParallelAttrs token = attrs;
    token.quant_type = QuantType::kPerToken;
    LinearParallelInputs in = w8a8(pool);
    ExpectLpError({in}, token, atb::kInvalidInTensorNum);  // perTokenScale missing
    in.per_token_scale = pool.Nd(DType::kFloat32, {3}, {1, 1, 1});
    ExpectLpError({in}, token, atb::kInvalidTensorDim);  // one per row: 2
    in.per_token_scale = pool.Nd(DType::kFloat32, {2}, {1, 1});
    token.type = Type::kLinearReduceScatter;
    ExpectLpError({in}, token, atb::kInvalidParam);
    token.type = Type::kLinearAllReduce;
    in.input = pool.Nd(kF16, {2, 3}, kW8a8X);
    in.deq_scale = pool.Nd(kF16, {2}, {1, 1});
    ExpectLpError({in}, token, atb::kInvalidParam);  // PER_TOKEN with a float input
  }
  {
    LinearParallelAttrs keep = attrs;
    keep.type = Type::kAllGatherLinear;
    keep.keep_intermediate = true;
    ExpectLpError({w8a8(pool)}, keep, atb::kInvalidParam);
    LinearParallelAttrs grid = attrs;
    grid.type = Type::kAllGatherLinearReduceScatter;
    grid.ag_dim = 1;
    grid.rs_dim = 1;
    ExpectLpError({w8a8(pool)}, grid, atb::kInvalidParam);
  }
  {
    // W8A16 dtype rules.
    LinearParallelInputs in;
    in.input = pool.Nd(kF16, {1, 3}, kW8a16X);
    in.weight = pool.Nd(kI8, {2, 3}, Transpose(kW8a16W, 3, 2));
    in.deq_scale = pool.Nd(kBf16, {2}, {1, 1});
    ExpectLpError({in}, attrs, atb::kInvalidTensorIniMatch);  // scale must be fp16
    in.deq_scale = pool.Nd(kF16, {2}, {1, 1});
    LinearParallelAttrs out_bf16 = attrs;
    out_bf16.out_dtype = kBf16;
    ExpectLpError({in}, out_bf16, atb::kInvalidTensorIniMatch);
    LinearParallelAttrs unquant;
    unquant.quant_type = QuantType::kUnquant;
    in.deq_scale.reset();
    ExpectLpError({in}, unquant, atb::kInvalidTensorIniMatch);  // int8 weight needs a quantType
    in.deq_scale = pool.Nd(kF16, {2}, {1, 1});
    LinearParallelAttrs group = attrs;
    group.quant_type = QuantType::kPerGroup;
    group.quant_group_size = 2;
    ExpectLpError({in}, group, atb::kInvalidTensorDim);  // per-group needs (ceil(3/2), 2) = (2, 2)
    in.deq_scale = pool.Nd(kF16, {1, 2}, {1, 1});
    ExpectLpError({in}, group, atb::kInvalidTensorDim);
    in.deq_scale = pool.Nd(kF16, {2, 2}, {1, 1, 1, 1});
    ExpectTensor(RunLp({in}, group)[0].output, kF16, {1, 2}, {4, 44});  // [2+20-18, 6-4+42], scales 1
  }
}

}  // namespace
}  // namespace mc2::reference
