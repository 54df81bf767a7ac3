// Tests of the golden WeightQuantMatmulAllReduceAddRmsNorm (src/reference/arn.h).
//
// Expected values come from two places that share no code with the reference:
//   - hand-worked tiny cases, with the arithmetic in the comments;
//   - ModelArn below, a direct transcription of spec 2.2 and docs/reference.md over plain arrays of
//     logical values (no views, strides or nibbles). It uses only core's rounding primitives
//     (RoundToHalf/RoundToBf16/RoundToDType, checked exhaustively by float16_test).
// The tensors handed to the reference are built by hand from the same logical values: transposed
// x2 is written in (n, k) storage, int4 nibbles are packed here bit by bit.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "core/float16.h"
#include "core/tensor.h"
#include "reference/arn.h"

namespace mc2::reference {
namespace {

enum class Quant { kTensor, kChannel, kChannelRow, kGroup };

struct Config {
  DType dt = DType::kFloat16;
  DType wdt = DType::kInt8;
  Quant quant = Quant::kChannel;
  int64_t group = 3;  // used by Quant::kGroup; k = 7 is not a multiple of it
  bool offset = false;
  int bias_ranks = 0;  // ranks [0, bias_ranks) get a bias
  bool transposed = false;
  bool x1_3d = false;
  int ranks = 2;
  int64_t b = 2, s = 3, k = 7, n = 5;
  double eps = 1e-6;
  int64_t m() const { return b * s; }
  int64_t groups() const { return quant == Quant::kGroup ? (k + group - 1) / group : 1; }
  std::string Name() const {
    return std::string(DTypeName(dt)) + "/" + std::string(DTypeName(wdt)) + " quant " +
           std::to_string(static_cast<int>(quant)) + " offset " + std::to_string(offset) + " bias_ranks " +
           std::to_string(bias_ranks) + " transposed " + std::to_string(transposed) + " x1_3d " +
           std::to_string(x1_3d) + " R " + std::to_string(ranks);
  }
};

// One rank's inputs as logical values, row-major.
struct Logical {
  std::vector<double> x1;        // m x k
  std::vector<double> x2;        // k x n, integers
  std::vector<double> scale;     // (1), (n) or (groups x n) values
  std::vector<double> offset;    // like scale, or empty
  std::vector<double> bias;      // n, or empty
  std::vector<double> residual;  // m x n
  std::vector<double> gamma;     // n
};

double ScaleLike(const std::vector<double>& v, const Config& c, int64_t kk, int64_t nn) {
  switch (c.quant) {
    case Quant::kTensor:
      return v[0];
    case Quant::kChannel:
    case Quant::kChannelRow:
      return v[nn];
    case Quant::kGroup:
      return v[(kk / c.group) * c.n + nn];
  }
  return 0;
}

double RoundDt(double v, DType dt) { return RoundToDType(v, dt); }

struct Expected {
  std::vector<double> y, norm_out;
};

// Spec 2.2 for one rank's outputs. exact: float64 throughout. Otherwise CANN's roundings; with
// stats_from_sum (bf16 only) the RMS statistics read the unrounded fp32 sum instead of y, which is
// the alternative the reference does not take (spec 6.2).
Expected ModelArn(const Config& c, const std::vector<Logical>& in, int rank, bool exact, bool stats_from_sum = false) {
  const int64_t m = c.m(), k = c.k, n = c.n;
  const bool fp16 = c.dt == DType::kFloat16;
  std::vector<double> reduced(m * n);
  std::vector<float> reduced_f(m * n, 0.0f);
  for (const Logical& r : in) {
    std::vector<double> w(k * n);
    for (int64_t kk = 0; kk < k; ++kk) {
      for (int64_t nn = 0; nn < n; ++nn) {
        const double q = r.x2[kk * n + nn];
        const double sc = ScaleLike(r.scale, c, kk, nn);
        const double off = r.offset.empty() ? 0.0 : ScaleLike(r.offset, c, kk, nn);
        if (exact) {
          w[kk * n + nn] = (q + off) * sc;
        } else if (fp16) {  // fp16 add, fp16 multiply
          w[kk * n + nn] = RoundDt(RoundDt(q + off, c.dt) * sc, c.dt);
        } else {  // fp32 add and multiply, one bf16 rounding
          const float f = (static_cast<float>(q) + static_cast<float>(off)) * static_cast<float>(sc);
          w[kk * n + nn] = RoundToBf16(f);
        }
      }
    }
    for (int64_t i = 0; i < m; ++i) {
      for (int64_t nn = 0; nn < n; ++nn) {
        double acc = 0;
        for (int64_t kk = 0; kk < k; ++kk) acc += r.x1[i * k + kk] * w[kk * n + nn];
        if (!r.bias.empty()) acc += r.bias[nn];
        if (exact) {
          reduced[i * n + nn] += acc;
        } else {
          reduced_f[i * n + nn] += static_cast<float>(RoundDt(acc, c.dt));  // fp32 sum in rank order
        }
      }
    }
  }
  if (!exact) {
    for (int64_t e = 0; e < m * n; ++e) reduced[e] = RoundDt(reduced_f[e], c.dt);
  }
  const Logical& me = in[rank];
  Expected out{std::vector<double>(m * n), std::vector<double>(m * n)};
  for (int64_t i = 0; i < m; ++i) {
    std::vector<double> stat(n);
    for (int64_t j = 0; j < n; ++j) {
      const double a = reduced[i * n + j], res = me.residual[i * n + j];
      double y;
      if (exact) {
        y = a + res;
        stat[j] = y;
      } else if (fp16) {
        y = RoundDt(a + res, c.dt);  // the exact sum of two fp16 values, rounded once
        stat[j] = y;
      } else {
        const float sum = static_cast<float>(a) + static_cast<float>(res);
        y = RoundToBf16(sum);
        stat[j] = stats_from_sum ? sum : y;
      }
      out.y[i * n + j] = y;
    }
    if (exact) {
      double ss = 0;
      for (int64_t j = 0; j < n; ++j) ss += stat[j] * stat[j];
      const double rstd = 1.0 / std::sqrt(ss / n + c.eps);
      for (int64_t j = 0; j < n; ++j) out.norm_out[i * n + j] = out.y[i * n + j] * rstd * me.gamma[j];
      continue;
    }
    float ms = 0.0f;
    const float inv_n = 1.0f / static_cast<float>(n);
    for (int64_t j = 0; j < n; ++j) {
      const float x = static_cast<float>(stat[j]);
      ms += x * x * inv_n;
    }
    const float rstd = 1.0f / std::sqrt(ms + static_cast<float>(c.eps));
    for (int64_t j = 0; j < n; ++j) {
      const float xr = static_cast<float>(stat[j]) * rstd;
      const float t = fp16 ? RoundToHalf(xr) : RoundToBf16(xr);
      const float g = static_cast<float>(me.gamma[j]);
      out.norm_out[i * n + j] = fp16 ? RoundToHalf(t * g) : RoundToBf16(t * g);
    }
  }
  return out;
}

// Random logical inputs; every value is representable in its dtype.
std::vector<Logical> RandomInputs(const Config& c, uint32_t seed) {
  std::mt19937 rng(seed);
  auto uni = [&](double lo, double hi) { return std::uniform_real_distribution<double>(lo, hi)(rng); };
  auto vals = [&](int64_t count, double lo, double hi) {
    std::vector<double> v(count);
    for (double& x : v) x = RoundDt(uni(lo, hi), c.dt);
    return v;
  };
  const int qmax = c.wdt == DType::kInt4 ? 7 : 127;
  const int64_t quant_count = c.quant == Quant::kTensor ? 1 : c.groups() * c.n;
  std::vector<Logical> in(c.ranks);
  for (int r = 0; r < c.ranks; ++r) {
    Logical& l = in[r];
    l.x1 = vals(c.m() * c.k, -2, 2);
    l.x2.resize(c.k * c.n);
    for (double& q : l.x2) q = std::uniform_int_distribution<int>(-qmax - 1, qmax)(rng);
    l.scale = vals(quant_count, 0.01, 0.1);
    if (c.offset) l.offset = vals(quant_count, -3, 3);
    if (r < c.bias_ranks) l.bias = vals(c.n, -1, 1);
    l.residual = vals(c.m() * c.n, -2, 2);
    l.gamma = vals(c.n, 0.5, 1.5);
  }
  return in;
}

HostTensor FromValues(DType dt, const Dims& dims, const std::vector<double>& v) {
  HostTensor t(dt, dims);
  for (int64_t i = 0; i < t.numel(); ++i) t.set(i, v[i]);
  return t;
}

// int4 storage packed by hand: element 2j in the low nibble of byte j, 2j+1 in the high nibble.
HostTensor PackedInt4(const Dims& dims, const std::vector<double>& v) {
  HostTensor t(DType::kInt4, dims);
  uint8_t* bytes = t.data_as<uint8_t>();
  for (int64_t i = 0; i < t.numel(); ++i) {
    const uint8_t nibble = static_cast<uint8_t>(static_cast<int>(v[i]) & 0xf);
    bytes[i / 2] = static_cast<uint8_t>(bytes[i / 2] | (i % 2 ? nibble << 4 : nibble));
  }
  return t;
}

// Owns one rank's tensors; views() hands them to the reference.
struct RankTensors {
  HostTensor x1, x2, scale, offset, bias, residual, gamma;
  bool has_offset = false, has_bias = false, transposed = false;

  ArnInputs views() const {
    ArnInputs in;
    in.x1 = x1.view();
    in.x2 = transposed ? x2.view().Transposed(0, 1) : x2.view();
    in.antiquant_scale = scale.view();
    if (has_offset) in.antiquant_offset = offset.view();
    if (has_bias) in.bias = bias.view();
    in.residual = residual.view();
    in.gamma = gamma.view();
    return in;
  }
};

RankTensors Build(const Config& c, const Logical& l) {
  RankTensors t;
  t.x1 = FromValues(c.dt, c.x1_3d ? Dims{c.b, c.s, c.k} : Dims{c.m(), c.k}, l.x1);
  std::vector<double> stored = l.x2;
  Dims x2_dims{c.k, c.n};
  if (c.transposed) {  // storage (n, k), read through a (k, n) view with strides (1, k)
    for (int64_t kk = 0; kk < c.k; ++kk) {
      for (int64_t nn = 0; nn < c.n; ++nn) stored[nn * c.k + kk] = l.x2[kk * c.n + nn];
    }
    x2_dims = Dims{c.n, c.k};
  }
  t.x2 = c.wdt == DType::kInt4 ? PackedInt4(x2_dims, stored) : FromValues(DType::kInt8, x2_dims, stored);
  t.transposed = c.transposed;
  Dims qdims{1};
  if (c.quant == Quant::kChannel) qdims = Dims{c.n};
  if (c.quant == Quant::kChannelRow) qdims = Dims{1, c.n};
  if (c.quant == Quant::kGroup) qdims = Dims{c.groups(), c.n};
  t.scale = FromValues(c.dt, qdims, l.scale);
  t.has_offset = !l.offset.empty();
  if (t.has_offset) t.offset = FromValues(c.dt, qdims, l.offset);
  t.has_bias = !l.bias.empty();
  if (t.has_bias) t.bias = FromValues(c.dt, Dims{c.n}, l.bias);
  t.residual = FromValues(c.dt, Dims{c.b, c.s, c.n}, l.residual);
  t.gamma = FromValues(c.dt, Dims{c.n}, l.gamma);
  return t;
}

StatusOr<std::vector<ArnOutputs>> RunConfig(const Config& c, const std::vector<RankTensors>& tensors, Mode mode) {
  std::vector<ArnInputs> ranks;
  for (const RankTensors& t : tensors) ranks.push_back(t.views());
  ArnAttrs attrs;
  attrs.epsilon = c.eps;
  attrs.antiquant_group_size = c.quant == Quant::kGroup ? c.group : 0;
  return WeightQuantMatmulAllReduceAddRmsNorm(ranks, attrs, mode);
}

void ExpectValues(const HostTensor& got, const std::vector<double>& want, bool exact, const char* what) {
  ASSERT_EQ(got.numel(), static_cast<int64_t>(want.size())) << what;
  for (int64_t i = 0; i < got.numel(); ++i) {
    if (exact) {
      EXPECT_NEAR(got.at(i), want[i], 1e-12 * std::max(1.0, std::fabs(want[i]))) << what << " element " << i;
    } else {
      EXPECT_EQ(got.at(i), want[i]) << what << " element " << i;
    }
  }
}

// Runs one configuration in both modes and compares every rank's outputs with the model.
void CheckAgainstModel(const Config& c, uint32_t seed) {
  SCOPED_TRACE(c.Name());
  const std::vector<Logical> logical = RandomInputs(c, seed);
  std::vector<RankTensors> tensors;
  for (const Logical& l : logical) tensors.push_back(Build(c, l));
  for (Mode mode : {Mode::kCann, Mode::kExact}) {
    const bool exact = mode == Mode::kExact;
    auto result = RunConfig(c, tensors, mode);
    ASSERT_TRUE(result.ok()) << result.status().ToString();
    ASSERT_EQ(result->size(), static_cast<size_t>(c.ranks));
    for (int r = 0; r < c.ranks; ++r) {
      const ArnOutputs& out = (*result)[r];
      const DType want_dtype = exact ? DType::kFloat64 : c.dt;
      EXPECT_EQ(out.y.dtype(), want_dtype);
      EXPECT_EQ(out.norm_out.dtype(), want_dtype);
      EXPECT_EQ(out.y.dims(), (Dims{c.b, c.s, c.n}));
      EXPECT_EQ(out.norm_out.dims(), (Dims{c.b, c.s, c.n}));
      const Expected want = ModelArn(c, logical, r, exact);
      ExpectValues(out.y, want.y, exact, "y");
      ExpectValues(out.norm_out, want.norm_out, exact, "normOut");
    }
  }
}

TEST(ReferenceArnTest, MatchesModelAcrossDtypesQuantModesAndRankCounts) {
  uint32_t seed = 1;
  for (DType dt : {DType::kFloat16, DType::kBFloat16}) {
    for (DType wdt : {DType::kInt8, DType::kInt4}) {
      for (Quant quant : {Quant::kTensor, Quant::kChannel, Quant::kChannelRow, Quant::kGroup}) {
        for (bool offset : {false, true}) {
          for (bool transposed : {false, true}) {
            for (int ranks : {1, 2, 4}) {
              Config c;
              c.dt = dt;
              c.wdt = wdt;
              c.quant = quant;
              c.offset = offset;
              c.transposed = transposed;
              c.ranks = ranks;
              c.x1_3d = (seed % 2) == 0;
              c.bias_ranks = static_cast<int>(seed % 3) == 0 ? 0 : (seed % 3 == 1 ? 1 : ranks);
              CheckAgainstModel(c, seed++);
            }
          }
        }
      }
    }
  }
}

TEST(ReferenceArnTest, BiasOnNoRankOneRankOrEveryRank) {
  for (int bias_ranks : {0, 1, 4}) {
    for (DType dt : {DType::kFloat16, DType::kBFloat16}) {
      Config c;
      c.dt = dt;
      c.ranks = 4;
      c.bias_ranks = bias_ranks;
      CheckAgainstModel(c, 100 + bias_ranks);
    }
  }
}

TEST(ReferenceArnTest, LargerShapeWithEveryFeature) {
  Config c;
  c.b = 3, c.s = 5, c.k = 70, c.n = 33, c.group = 32, c.quant = Quant::kGroup;
  c.offset = true, c.bias_ranks = 1, c.transposed = true, c.x1_3d = true, c.ranks = 4;
  for (DType dt : {DType::kFloat16, DType::kBFloat16}) {
    for (DType wdt : {DType::kInt8, DType::kInt4}) {
      c.dt = dt;
      c.wdt = wdt;
      CheckAgainstModel(c, 7);
    }
  }
}

// bf16: the RMS statistics read the bf16-rounded y (spec 6.2). The model computed from the
// unrounded fp32 sum must differ somewhere, or this test would not tell the two apart.
TEST(ReferenceArnTest, Bf16StatisticsUseRoundedY) {
  Config c;
  c.dt = DType::kBFloat16;
  c.b = 4, c.s = 4, c.n = 64, c.ranks = 2, c.bias_ranks = 1;
  const std::vector<Logical> logical = RandomInputs(c, 42);
  std::vector<RankTensors> tensors;
  for (const Logical& l : logical) tensors.push_back(Build(c, l));
  auto result = RunConfig(c, tensors, Mode::kCann);
  ASSERT_TRUE(result.ok()) << result.status().ToString();
  const Expected rounded = ModelArn(c, logical, 0, false, false);
  const Expected from_sum = ModelArn(c, logical, 0, false, true);
  ExpectValues((*result)[0].norm_out, rounded.norm_out, false, "normOut");
  int differing = 0;
  for (size_t i = 0; i < rounded.norm_out.size(); ++i) differing += rounded.norm_out[i] != from_sum.norm_out[i];
  EXPECT_GT(differing, 0);
}

// ---- Hand-worked cases ----

struct Hand {
  HostTensor x1, x2, scale, residual, gamma;
  std::optional<HostTensor> offset, bias;
  bool transposed = false;
  ArnInputs views() const {
    ArnInputs in;
    in.x1 = x1.view();
    in.x2 = transposed ? x2.view().Transposed(0, 1) : x2.view();
    in.antiquant_scale = scale.view();
    if (offset) in.antiquant_offset = offset->view();
    if (bias) in.bias = bias->view();
    in.residual = residual.view();
    in.gamma = gamma.view();
    return in;
  }
};

StatusOr<std::vector<ArnOutputs>> RunHand(const std::vector<Hand>& hands, Mode mode, int64_t group = 0) {
  std::vector<ArnInputs> ranks;
  for (const Hand& h : hands) ranks.push_back(h.views());
  ArnAttrs attrs;
  attrs.antiquant_group_size = group;
  return WeightQuantMatmulAllReduceAddRmsNorm(ranks, attrs, mode);
}

constexpr DType kF16 = DType::kFloat16;

// Two ranks, fp16, int8, per-tensor scale 0.5 and offset 1, m = 1, k = 2, n = 2.
//   rank 0: x1 = [1, 2],   x2 = [[1, 2], [3, 4]]  -> W = (x2 + 1) * 0.5 = [[1, 1.5], [2, 2.5]]
//           x1 @ W = [1 + 4, 1.5 + 5] = [5, 6.5]; + bias [1, -1] -> P0 = [6, 5.5]
//   rank 1: x1 = [0.5, 1], x2 = [[-1, 0], [2, -2]] -> W = [[0, 0.5], [1.5, -0.5]]
//           x1 @ W = [0 + 1.5, 0.25 - 0.5] = [1.5, -0.25]; no bias -> P1
//   A = P0 + P1 = [7.5, 5.25]; residual [-5.5, -7.25] -> y = [2, -2]
//   ms = (4 + 4) / 2 = 4, rstd = 1/sqrt(4 + 1e-6) = 0.49999994; x * rstd = +-0.99999988 -> fp16 +-1
//   normOut = [1 * 0.5, -1 * 3] = [0.5, -3]
std::vector<Hand> TwoRankCase(bool bias_on_both) {
  std::vector<Hand> h(2);
  h[0].x1 = FromValues(kF16, {1, 2}, {1, 2});
  h[0].x2 = FromValues(DType::kInt8, {2, 2}, {1, 2, 3, 4});
  h[1].x1 = FromValues(kF16, {1, 2}, {0.5, 1});
  h[1].x2 = FromValues(DType::kInt8, {2, 2}, {-1, 0, 2, -2});
  for (int r = 0; r < 2; ++r) {
    h[r].scale = FromValues(kF16, {1}, {0.5});
    h[r].offset = FromValues(kF16, {1}, {1});
    h[r].residual = FromValues(kF16, {1, 1, 2}, {-5.5, -7.25});
    h[r].gamma = FromValues(kF16, {2}, {0.5, 3});
    if (r == 0 || bias_on_both) h[r].bias = FromValues(kF16, {2}, {1, -1});
  }
  return h;
}

TEST(ReferenceArnTest, HandWorkedTwoRanksFp16) {
  auto cann = RunHand(TwoRankCase(false), Mode::kCann);
  ASSERT_TRUE(cann.ok()) << cann.status().ToString();
  for (const ArnOutputs& out : *cann) {
    EXPECT_EQ(out.y.dtype(), kF16);
    EXPECT_EQ(out.y.dims(), (Dims{1, 1, 2}));
    ExpectValues(out.y, {2, -2}, false, "y");
    ExpectValues(out.norm_out, {0.5, -3}, false, "normOut");
  }
  auto exact = RunHand(TwoRankCase(false), Mode::kExact);
  ASSERT_TRUE(exact.ok()) << exact.status().ToString();
  const double rstd = 1.0 / std::sqrt(4.0 + 1e-6);
  for (const ArnOutputs& out : *exact) {
    EXPECT_EQ(out.y.dtype(), DType::kFloat64);
    ExpectValues(out.y, {2, -2}, true, "y");
    ExpectValues(out.norm_out, {2 * rstd * 0.5, -2 * rstd * 3}, true, "normOut");
  }
}

// The same case with bias [1, -1] on both ranks: A = [7.5 + 1, 5.25 - 1] = [8.5, 4.25],
// y = [3, -3]; rstd = 1/sqrt(9 + 1e-6), x * rstd = +-0.99999994 -> fp16 +-1, normOut = [0.5, -3].
TEST(ReferenceArnTest, BiasGivenOnEveryRankCountsOncePerRank) {
  auto cann = RunHand(TwoRankCase(true), Mode::kCann);
  ASSERT_TRUE(cann.ok()) << cann.status().ToString();
  ExpectValues((*cann)[1].y, {3, -3}, false, "y");
  ExpectValues((*cann)[1].norm_out, {0.5, -3}, false, "normOut");
}

// R = 1, fp16, per-group G = 1 (scale (2, 2)), k = 2, n = 2, residual 0.
//   column 0: W = [64 * 32, 1 * 1] = [2048, 1]; 1 * 2048 + 1 * 1 = 2049, a tie between fp16 2048 and
//             2050 -> half-even 2048 (kCann), 2049 (kExact).
//   column 1: W = [3 * (1 + 2^-10), 0] = 3.0029296875 exactly; in fp16 the ulp at 3 is 2^-9 and the
//             value is 3 + 1.5 ulp -> half-even 3 + 2 ulp = 3.00390625 (kCann).
TEST(ReferenceArnTest, Fp16IntermediateRoundingDiffersFromExact) {
  const double s = 1 + std::ldexp(1.0, -10);
  Hand h;
  h.x1 = FromValues(kF16, {1, 2}, {1, 1});
  h.x2 = FromValues(DType::kInt8, {2, 2}, {64, 3, 1, 0});
  h.scale = FromValues(kF16, {2, 2}, {32, s, 1, s});
  h.residual = FromValues(kF16, {1, 1, 2}, {0, 0});
  h.gamma = FromValues(kF16, {2}, {1, 1});
  auto cann = RunHand({h}, Mode::kCann, 1);
  auto exact = RunHand({h}, Mode::kExact, 1);
  ASSERT_TRUE(cann.ok() && exact.ok());
  ExpectValues((*cann)[0].y, {2048, 3.00390625}, false, "y");
  ExpectValues((*exact)[0].y, {2049, 3.0029296875}, true, "y");
}

// Per-group along k = 3 with G = 2 (groups = ceil(3/2) = 2), n = 1, x1 = [1, 1, 1], x2 = 1 everywhere.
//   scale [[2], [10]], offset [[1], [0]]: W = [(1+1)*2, (1+1)*2, (1+0)*10] = [4, 4, 10] -> y = 18
//   without offset:                       W = [2, 2, 10]                             -> y = 14
TEST(ReferenceArnTest, PerGroupWithTailGroup) {
  Hand h;
  h.x1 = FromValues(kF16, {1, 3}, {1, 1, 1});
  h.x2 = FromValues(DType::kInt8, {3, 1}, {1, 1, 1});
  h.scale = FromValues(kF16, {2, 1}, {2, 10});
  h.offset = FromValues(kF16, {2, 1}, {1, 0});
  h.residual = FromValues(kF16, {1, 1, 1}, {0});
  h.gamma = FromValues(kF16, {1}, {1});
  auto with_offset = RunHand({h}, Mode::kCann, 2);
  ASSERT_TRUE(with_offset.ok()) << with_offset.status().ToString();
  ExpectValues((*with_offset)[0].y, {18}, false, "y");
  h.offset.reset();
  auto without = RunHand({h}, Mode::kCann, 2);
  ASSERT_TRUE(without.ok());
  ExpectValues((*without)[0].y, {14}, false, "y");
}

// int4 bytes {0xF1, 0x87}: element 0 = low nibble of 0xF1 = 1, element 1 = high nibble 0xF = -1,
// element 2 = 0x7 = 7, element 3 = 0x8 = -8. With x1 = identity (2, 2) and scale 1, y = W = x2.
//   contiguous (2, 2):               x2 = [[1, -1], [7, -8]]
//   transposed (storage (n, k)):     x2[kk][nn] = storage[nn][kk] = [[1, 7], [-1, -8]]
TEST(ReferenceArnTest, Int4NibbleOrderContiguousAndTransposed) {
  for (bool transposed : {false, true}) {
    Hand h;
    h.x1 = FromValues(kF16, {2, 2}, {1, 0, 0, 1});
    h.x2 = HostTensor(DType::kInt4, {2, 2});
    h.x2.data_as<uint8_t>()[0] = 0xF1;
    h.x2.data_as<uint8_t>()[1] = 0x87;
    h.transposed = transposed;
    h.scale = FromValues(kF16, {1}, {1});
    h.residual = FromValues(kF16, {2, 1, 2}, {0, 0, 0, 0});
    h.gamma = FromValues(kF16, {2}, {1, 1});
    auto out = RunHand({h}, Mode::kCann);
    ASSERT_TRUE(out.ok()) << out.status().ToString();
    ExpectValues((*out)[0].y, transposed ? std::vector<double>{1, 7, -1, -8} : std::vector<double>{1, -1, 7, -8}, false,
                 "y");
  }
}

// int8 storage (n = 2, k = 3) = [[1, 2, 3], [4, 5, 6]] read as x2 (3, 2) = [[1, 4], [2, 5], [3, 6]];
// x1 = [1, 2, 4] -> [1 + 4 + 12, 4 + 10 + 24] = [17, 38] (exact in fp16 and bf16).
TEST(ReferenceArnTest, TransposedInt8View) {
  for (DType dt : {DType::kFloat16, DType::kBFloat16}) {
    Hand h;
    h.x1 = FromValues(dt, {1, 1, 3}, {1, 2, 4});
    h.x2 = FromValues(DType::kInt8, {2, 3}, {1, 2, 3, 4, 5, 6});
    h.transposed = true;
    h.scale = FromValues(dt, {1, 2}, {1, 1});
    h.residual = FromValues(dt, {1, 1, 2}, {0, 0});
    h.gamma = FromValues(dt, {2}, {1, 1});
    auto out = RunHand({h}, Mode::kCann);
    ASSERT_TRUE(out.ok()) << out.status().ToString();
    ExpectValues((*out)[0].y, {17, 38}, false, "y");
  }
}

// The inplace variant writes y over residual; it is the same math because the reference only reads
// its inputs (every residual element is read before the device would overwrite it).
TEST(ReferenceArnTest, InplaceReadingIsTheSameMath) {
  std::vector<Hand> hands = TwoRankCase(false);
  const std::vector<double> residual_before = {hands[0].residual.at(0), hands[0].residual.at(1)};
  auto out = RunHand(hands, Mode::kCann);
  ASSERT_TRUE(out.ok());
  ExpectValues(hands[0].residual, residual_before, false, "residual untouched");
  // Writing y into residual afterwards (what the inplace op leaves behind) gives the documented y.
  for (int64_t i = 0; i < 2; ++i) hands[0].residual.set(i, (*out)[0].y.at(i));
  ExpectValues(hands[0].residual, {2, -2}, false, "residual after inplace");
}

TEST(ReferenceArnTest, EmptyRowsOrColumnsGiveEmptyOutputs) {
  struct Case {
    Dims x1, x2, residual, gamma;
  } cases[] = {
      {{0, 4}, {4, 3}, {0, 5, 3}, {3}},     // b*s = 0, x1 2-D
      {{2, 0, 4}, {4, 3}, {2, 0, 3}, {3}},  // b*s = 0, x1 3-D
      {{2, 4}, {4, 0}, {1, 2, 0}, {0}},     // n = 0
  };
  for (const Case& cs : cases) {
    for (Mode mode : {Mode::kCann, Mode::kExact}) {
      Hand h;
      h.x1 = HostTensor(kF16, cs.x1);
      h.x2 = HostTensor(DType::kInt8, cs.x2);
      h.scale = FromValues(kF16, {1}, {1});
      h.residual = HostTensor(kF16, cs.residual);
      h.gamma = HostTensor(kF16, cs.gamma);
      auto out = RunHand({h, h}, mode);
      ASSERT_TRUE(out.ok()) << out.status().ToString();
      ASSERT_EQ(out->size(), 2u);
      EXPECT_EQ((*out)[1].y.dims(), cs.residual);
      EXPECT_EQ((*out)[1].norm_out.dims(), cs.residual);
      EXPECT_EQ((*out)[1].y.numel(), 0);
      EXPECT_EQ((*out)[1].y.dtype(), mode == Mode::kExact ? DType::kFloat64 : kF16);
    }
  }
}

// The mean of squares is sum_j (x_j^2 * float(1/n)) in fp32 (spec 2.2 step 4), not sum_j x_j^2 / n.
// The two differ by about an ulp of fp32, so the test searches random fp16 rows (n = 3, 1/3 is
// inexact) for one where that ulp moves some t = rint(x * rstd) across an fp16 rounding boundary,
// then feeds that row through the reference as residual (x1 = 0, so y = residual).
TEST(ReferenceArnTest, MeanSquareScalesEachSquareByFloatOneOverN) {
  constexpr int64_t kN = 3;
  const float eps = 1e-6f;
  auto norm = [&](const std::vector<float>& x, bool scale_each) {
    float ms = 0.0f;
    for (float v : x) ms += scale_each ? (v * v) * (1.0f / kN) : (v * v) / kN;
    const float rstd = 1.0f / std::sqrt(ms + eps);
    std::vector<double> t;
    for (float v : x) t.push_back(RoundToHalf(v * rstd));
    return t;
  };
  std::mt19937 rng(9);
  std::uniform_real_distribution<float> uni(-4.0f, 4.0f);
  std::vector<float> row(kN);
  bool found = false;
  for (int tries = 0; tries < 2000000 && !found; ++tries) {
    for (float& v : row) v = RoundToHalf(uni(rng));
    found = norm(row, true) != norm(row, false);
  }
  ASSERT_TRUE(found) << "no discriminating row found";
  Hand h;
  h.x1 = FromValues(kF16, {1, 1}, {0});
  h.x2 = FromValues(DType::kInt8, {1, kN}, {0, 0, 0});
  h.scale = FromValues(kF16, {1}, {1});
  h.residual = FromValues(kF16, {1, 1, kN}, std::vector<double>(row.begin(), row.end()));
  h.gamma = FromValues(kF16, {kN}, {1, 1, 1});
  auto out = RunHand({h}, Mode::kCann);
  ASSERT_TRUE(out.ok()) << out.status().ToString();
  ExpectValues((*out)[0].norm_out, norm(row, true), false, "normOut");
}

// ---- Invalid inputs: a Status naming the parameter, never a crash ----

Hand ValidHand() {
  Hand h;
  h.x1 = HostTensor(kF16, {2, 4});
  h.x2 = HostTensor(DType::kInt8, {4, 3});
  h.scale = HostTensor(kF16, {3});
  h.residual = HostTensor(kF16, {1, 2, 3});
  h.gamma = HostTensor(kF16, {3});
  return h;
}

void ExpectInvalid(const std::vector<Hand>& hands, const std::string& needle, int64_t group = 0,
                   int32_t code = aclnn::kErrParamInvalid) {
  auto out = RunHand(hands, Mode::kCann, group);
  ASSERT_FALSE(out.ok()) << needle;
  EXPECT_EQ(out.status().code(), code) << out.status().ToString();
  EXPECT_NE(out.status().message().find(needle), std::string::npos) << out.status().ToString();
}

TEST(ReferenceArnTest, RejectsInconsistentInputs) {
  ASSERT_TRUE(RunHand({ValidHand()}, Mode::kCann).ok());
  ExpectInvalid({}, "ranks");
  Hand h = ValidHand();
  h.x2 = HostTensor(DType::kInt8, {5, 3});
  ExpectInvalid({h}, "x2: dim 0 is 5 but x1's last dim is 4 (k must match)");
  h = ValidHand();
  h.x1 = HostTensor(kF16, {2, 0});
  h.x2 = HostTensor(DType::kInt8, {0, 3});
  ExpectInvalid({h}, "k must not be empty");
  h = ValidHand();
  h.residual = HostTensor(kF16, {1, 2, 4});
  ExpectInvalid({h}, "residual: last dim is 4");
  h = ValidHand();
  h.residual = HostTensor(kF16, {1, 3, 3});
  ExpectInvalid({h}, "residual: b*s is 3");
  h = ValidHand();
  h.residual = HostTensor(kF16, {2, 3});
  ExpectInvalid({h}, "residual: shape is (2, 3) but must be 3-D");
  h = ValidHand();
  h.x1 = HostTensor(DType::kFloat32, {2, 4});
  ExpectInvalid({h}, "x1: dtype is float32");
  h = ValidHand();
  h.x2 = HostTensor(DType::kUInt8, {4, 3});
  ExpectInvalid({h}, "x2: dtype is uint8");
  h = ValidHand();
  h.gamma = HostTensor(kF16, {2});
  ExpectInvalid({h}, "gamma: shape is (2,)");
  h = ValidHand();
  h.bias = HostTensor(DType::kBFloat16, {3});
  ExpectInvalid({h}, "bias: dtype is bfloat16");
  h = ValidHand();
  h.scale = HostTensor(kF16, {2, 3});
  ExpectInvalid({h}, "antiquantScale: shape is (2, 3) but without groups");
  ExpectInvalid({h}, "antiquantScale: shape is (2, 3) but antiquantGroupSize 1 needs (ceil(k/G), n) = (4, 3)", 1);
  ExpectInvalid({ValidHand()}, "antiquantGroupSize: is -1", -1);
  h = ValidHand();
  h.offset = HostTensor(kF16, {1});
  ExpectInvalid({h}, "antiquantOffset: shape is (1,) but antiquantScale is (3,)");
  Hand other = ValidHand();
  other.x1 = HostTensor(kF16, {1, 2, 4});
  ExpectInvalid({ValidHand(), other}, "rank 1: x1: shape is (1, 2, 4) but rank 0 has (2, 4)");
  other = ValidHand();
  other.x1 = HostTensor(DType::kBFloat16, {2, 4});
  other.scale = HostTensor(DType::kBFloat16, {3});
  other.residual = HostTensor(DType::kBFloat16, {1, 2, 3});
  other.gamma = HostTensor(DType::kBFloat16, {3});
  ExpectInvalid({ValidHand(), other}, "rank 1: x1: dtype is bfloat16 but rank 0 has float16");
}

TEST(ReferenceArnTest, RejectsMissingDataAndNegativeDims) {
  const Hand h = ValidHand();
  std::vector<ArnInputs> ranks{h.views()};
  ranks[0].x2.data = nullptr;
  auto out = WeightQuantMatmulAllReduceAddRmsNorm(ranks, ArnAttrs{}, Mode::kCann);
  ASSERT_FALSE(out.ok());
  EXPECT_EQ(out.status().code(), aclnn::kErrParamNullptr);
  EXPECT_NE(out.status().message().find("x2: data is null"), std::string::npos);
  ranks = {h.views()};
  ranks[0].gamma.dims[0] = -3;
  out = WeightQuantMatmulAllReduceAddRmsNorm(ranks, ArnAttrs{}, Mode::kCann);
  ASSERT_FALSE(out.ok());
  EXPECT_NE(out.status().message().find("gamma: dim 0 is -3"), std::string::npos);
}

}  // namespace
}  // namespace mc2::reference
