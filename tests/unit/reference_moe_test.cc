// Tests of the golden AlltoAllAllGatherBatchMatMul (src/reference/moe.h).
//
// Expected values come from sources that share no code with the reference:
//   - literal tables for tiny grids, derived by hand in the comments;
//   - SourceOf(): the spec 3.3 index formula in one step ("which rank's x element lands here"),
//     checked element by element on inputs whose values are their own unique ids, while the
//     reference moves data in two steps (AllToAll, then AllGather);
//   - ModelMoe(): spec 3.3 steps 3-5 over plain arrays, with the roundings of docs/reference.md,
//     using only core's rounding primitives.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "core/float16.h"
#include "core/tensor.h"
#include "reference/moe.h"

namespace mc2::reference {
namespace {

struct Config {
  DType dt = DType::kFloat16;
  int64_t ep = 2, tp = 2;
  int64_t el = 2;  // experts per EP rank
  int64_t cl = 2;  // x.dims[1]: C (type 0) or C/tp (type 1)
  int64_t hl = 3;  // x.dims[2]: H/tp (type 0) or H (type 1)
  int64_t ml = 3;  // M/tp
  int64_t shard = 0;
  ActType act = ActType::kNone;
  bool bias = false;
  bool bias_3d = false;
  bool transposed = false;
  bool want_y2 = true, want_y3 = false;

  int64_t ranks() const { return ep * tp; }
  int64_t experts() const { return ep * el; }
  int64_t h() const { return shard == 0 ? hl * tp : hl; }
  int64_t rows() const { return shard == 0 ? ep * cl : ep * tp * cl; }
  DType bias_dt() const { return dt == DType::kFloat16 ? DType::kFloat16 : DType::kFloat32; }
  std::string Name() const {
    return std::string(DTypeName(dt)) + " ep " + std::to_string(ep) + " tp " + std::to_string(tp) + " shard " +
           std::to_string(shard) + " act " + std::to_string(static_cast<int>(act)) + " bias " + std::to_string(bias) +
           (bias_3d ? "(3-D)" : "") + " transposed " + std::to_string(transposed) + " y2 " + std::to_string(want_y2) +
           " y3 " + std::to_string(want_y3);
  }
};

// One rank's inputs as logical row-major values.
struct Logical {
  std::vector<double> x;     // E x Cl x Hl
  std::vector<double> w;     // El x H x Ml
  std::vector<double> bias;  // El x Ml, or empty
};

// Where y2[e, row, col] on grid rank g = p*tp + t comes from, straight from spec 3.3:
//   type 0: row = i*Cl + c, col = j*Hl + h          -> x_(i, j)[p*El + e, c, h]
//   type 1: row = i*tp*Cl + j*Cl + c, col = h        -> x_(i, j)[p*El + e, c, h]
// Returns {source grid rank, flat index into its x}.
std::pair<int64_t, int64_t> SourceOf(const Config& c, int64_t g, int64_t e, int64_t row, int64_t col) {
  const int64_t p = g / c.tp;
  int64_t i, j, cc, h;
  if (c.shard == 0) {
    i = row / c.cl, cc = row % c.cl, j = col / c.hl, h = col % c.hl;
  } else {
    i = row / (c.tp * c.cl), j = (row / c.cl) % c.tp, cc = row % c.cl, h = col;
  }
  return {i * c.tp + j, ((p * c.el + e) * c.cl + cc) * c.hl + h};
}

// Activations in fp32 and float64. The fp32 expressions evaluate in the same order as
// reference/common.cc, so the comparison can be bitwise.
float ActF(ActType a, float x) {
  switch (a) {
    case ActType::kNone:
      return x;
    case ActType::kGelu:
      return x / (1.0f + std::exp(-1.59576912f * (x + 0.044715f * x * x * x)));
    case ActType::kSilu:
      return x / (1.0f + std::exp(-x));
    case ActType::kRelu:
      return x > 0 ? x : 0.0f;
    case ActType::kFastGelu:
      return x / (1.0f + std::exp(-1.702f * x));
  }
  return x;
}
double ActD(ActType a, double x) {
  switch (a) {
    case ActType::kNone:
      return x;
    case ActType::kGelu:
      return x / (1.0 + std::exp(-1.59576912 * (x + 0.044715 * x * x * x)));
    case ActType::kSilu:
      return x / (1.0 + std::exp(-x));
    case ActType::kRelu:
      return x > 0 ? x : 0.0;
    case ActType::kFastGelu:
      return x / (1.0 + std::exp(-1.702 * x));
  }
  return x;
}

struct Expected {
  std::vector<double> y1, y2, y3;
};

Expected ModelMoe(const Config& c, const std::vector<Logical>& in, int64_t g, bool exact) {
  const int64_t rows = c.rows(), h = c.h();
  Expected out;
  out.y2.resize(c.el * rows * h);
  for (int64_t e = 0; e < c.el; ++e) {
    for (int64_t row = 0; row < rows; ++row) {
      for (int64_t col = 0; col < h; ++col) {
        const auto [src, idx] = SourceOf(c, g, e, row, col);
        out.y2[(e * rows + row) * h + col] = in[src].x[idx];
      }
    }
  }
  const Logical& me = in[g];
  for (int64_t e = 0; e < c.el; ++e) {
    for (int64_t row = 0; row < rows; ++row) {
      for (int64_t mm = 0; mm < c.ml; ++mm) {
        double acc = 0;
        for (int64_t hh = 0; hh < h; ++hh) acc += out.y2[(e * rows + row) * h + hh] * me.w[(e * h + hh) * c.ml + mm];
        const double bias = me.bias.empty() ? 0.0 : me.bias[e * c.ml + mm];
        double y1, y3;
        if (exact) {
          y3 = acc + bias;
          y1 = ActD(c.act, y3);
        } else if (c.dt == DType::kBFloat16) {
          const float z = static_cast<float>(RoundToDType(acc, c.dt)) + static_cast<float>(bias);
          y3 = RoundToBf16(z, RoundMode::kHalfAway);
          y1 = RoundToBf16(ActF(c.act, z), RoundMode::kHalfAway);
        } else {
          const double b = RoundToDType(acc, c.dt);
          y3 = me.bias.empty() ? b : RoundToDType(b + bias, DType::kFloat16);  // the exact sum, rounded once
          const RoundMode rm = c.act == ActType::kSilu ? RoundMode::kHalfAway : RoundMode::kHalfEven;
          y1 = RoundToHalf(ActF(c.act, static_cast<float>(y3)), rm);
        }
        out.y1.push_back(y1);
        out.y3.push_back(y3);
      }
    }
  }
  return out;
}

HostTensor FromValues(DType dt, const Dims& dims, const std::vector<double>& v) {
  HostTensor t(dt, dims);
  for (int64_t i = 0; i < t.numel(); ++i) t.set(i, v[i]);
  return t;
}

struct RankTensors {
  HostTensor x, w, bias;
  bool has_bias = false, transposed = false;
  MoeInputs views() const {
    MoeInputs in;
    in.x = x.view();
    in.weight = transposed ? w.view().Transposed(1, 2) : w.view();
    if (has_bias) in.bias = bias.view();
    return in;
  }
};

RankTensors Build(const Config& c, const Logical& l) {
  RankTensors t;
  t.x = FromValues(c.dt, {c.experts(), c.cl, c.hl}, l.x);
  const int64_t h = c.h();
  if (c.transposed) {  // storage (El, Ml, H), read through an (El, H, Ml) view
    std::vector<double> stored(l.w.size());
    for (int64_t e = 0; e < c.el; ++e) {
      for (int64_t hh = 0; hh < h; ++hh) {
        for (int64_t mm = 0; mm < c.ml; ++mm) stored[(e * c.ml + mm) * h + hh] = l.w[(e * h + hh) * c.ml + mm];
      }
    }
    t.w = FromValues(c.dt, {c.el, c.ml, h}, stored);
  } else {
    t.w = FromValues(c.dt, {c.el, h, c.ml}, l.w);
  }
  t.transposed = c.transposed;
  t.has_bias = !l.bias.empty();
  if (t.has_bias) t.bias = FromValues(c.bias_dt(), c.bias_3d ? Dims{c.el, 1, c.ml} : Dims{c.el, c.ml}, l.bias);
  return t;
}

MoeAttrs AttrsOf(const Config& c) {
  MoeAttrs a;
  a.ep_world_size = c.ep;
  a.tp_world_size = c.tp;
  a.x_shard_type = c.shard;
  a.act_type = c.act;
  a.want_y2 = c.want_y2;
  a.want_y3 = c.want_y3;
  return a;
}

StatusOr<std::vector<MoeOutputs>> RunTensors(const Config& c, const std::vector<RankTensors>& tensors, Mode mode) {
  std::vector<MoeInputs> ranks;
  for (const RankTensors& t : tensors) ranks.push_back(t.views());
  return AlltoAllAllGatherBatchMatMul(ranks, AttrsOf(c), mode);
}

std::vector<Logical> RandomInputs(const Config& c, uint32_t seed) {
  std::mt19937 rng(seed);
  auto vals = [&](int64_t count, double lo, double hi, DType dt) {
    std::vector<double> v(count);
    for (double& x : v) x = RoundToDType(std::uniform_real_distribution<double>(lo, hi)(rng), dt);
    return v;
  };
  std::vector<Logical> in(c.ranks());
  for (Logical& l : in) {
    l.x = vals(c.experts() * c.cl * c.hl, -1, 1, c.dt);
    l.w = vals(c.el * c.h() * c.ml, -0.5, 0.5, c.dt);
    if (c.bias) l.bias = vals(c.el * c.ml, -1, 1, c.bias_dt());
  }
  return in;
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

void CheckAgainstModel(const Config& c, uint32_t seed) {
  SCOPED_TRACE(c.Name());
  const std::vector<Logical> logical = RandomInputs(c, seed);
  std::vector<RankTensors> tensors;
  for (const Logical& l : logical) tensors.push_back(Build(c, l));
  for (Mode mode : {Mode::kCann, Mode::kExact}) {
    const bool exact = mode == Mode::kExact;
    auto result = RunTensors(c, tensors, mode);
    ASSERT_TRUE(result.ok()) << result.status().ToString();
    ASSERT_EQ(result->size(), static_cast<size_t>(c.ranks()));
    for (int64_t g = 0; g < c.ranks(); ++g) {
      const MoeOutputs& out = (*result)[g];
      const Expected want = ModelMoe(c, logical, g, exact);
      const DType dt = exact ? DType::kFloat64 : c.dt;
      EXPECT_EQ(out.y1.dtype(), dt);
      EXPECT_EQ(out.y1.dims(), (Dims{c.el, c.rows(), c.ml}));
      ExpectValues(out.y1, want.y1, exact, "y1");
      ASSERT_EQ(out.y2.has_value(), c.want_y2);
      ASSERT_EQ(out.y3.has_value(), c.want_y3);
      if (out.y2) {
        EXPECT_EQ(out.y2->dims(), (Dims{c.el, c.rows(), c.h()}));
        EXPECT_EQ(out.y2->dtype(), dt);
        ExpectValues(*out.y2, want.y2, exact, "y2");
      }
      if (out.y3) {
        EXPECT_EQ(out.y3->dims(), (Dims{c.el, c.rows(), c.ml}));
        ExpectValues(*out.y3, want.y3, exact, "y3");
      }
    }
  }
}

// ---- Data movement ----

// x on grid rank g holds its own unique ids: x_g[flat] = 1 + g * numel + flat (all exact in fp16).
// Every y2 element must carry the id SourceOf() names. weight is the identity (H = M/tp), so y1
// must equal y2 as well, which checks the matmul's indexing.
TEST(ReferenceMoeTest, DataMovementMatchesSpecFormulaForEveryGrid) {
  for (auto [ep, tp] : {std::pair<int64_t, int64_t>{2, 2}, {4, 2}, {2, 4}}) {
    for (int64_t shard : {0, 1}) {
      Config c;
      c.ep = ep, c.tp = tp, c.shard = shard, c.el = 2, c.cl = 2, c.hl = shard == 0 ? 2 : 3;
      c.ml = c.h();
      SCOPED_TRACE(c.Name());
      const int64_t numel = c.experts() * c.cl * c.hl;
      std::vector<Logical> logical(c.ranks());
      for (int64_t g = 0; g < c.ranks(); ++g) {
        for (int64_t f = 0; f < numel; ++f) logical[g].x.push_back(1.0 + static_cast<double>(g * numel + f));
        for (int64_t e = 0; e < c.el; ++e) {
          for (int64_t hh = 0; hh < c.h(); ++hh) {
            for (int64_t mm = 0; mm < c.ml; ++mm) logical[g].w.push_back(hh == mm ? 1.0 : 0.0);
          }
        }
      }
      ASSERT_LE(c.ranks() * numel, 2048);
      std::vector<RankTensors> tensors;
      for (const Logical& l : logical) tensors.push_back(Build(c, l));
      auto result = RunTensors(c, tensors, Mode::kCann);
      ASSERT_TRUE(result.ok()) << result.status().ToString();
      for (int64_t g = 0; g < c.ranks(); ++g) {
        const HostTensor& y2 = *(*result)[g].y2;
        const HostTensor& y1 = (*result)[g].y1;
        for (int64_t e = 0; e < c.el; ++e) {
          for (int64_t row = 0; row < c.rows(); ++row) {
            for (int64_t col = 0; col < c.h(); ++col) {
              const auto [src, idx] = SourceOf(c, g, e, row, col);
              const double id = 1.0 + static_cast<double>(src * numel + idx);
              const int64_t flat = (e * c.rows() + row) * c.h() + col;
              EXPECT_EQ(y2.at(flat), id) << "rank " << g << " y2[" << e << ", " << row << ", " << col << "]";
              EXPECT_EQ(y1.at(flat), id) << "rank " << g << " y1[" << e << ", " << row << ", " << col << "]";
            }
          }
        }
      }
    }
  }
}

// ep = tp = 2, E = 2 (El = 1), grid rank g = 2p + t, x_g[e', c, 0] = 100 g + 10 e' + c.
// On rank (p, t) the AllToAll gives A[0, i*Cl + c] = x_(i, t)[p, c] = 100 (2i + t) + 10 p + c.
//   type 0, C = 2, Hl = 1 (H = 2): y2[0, i*2 + c, j] = A_(p, j)[0, i*2 + c] = 100 (2i + j) + 10 p + c
//     p = 0: [[0, 100], [1, 101], [200, 300], [201, 301]]
//   type 1, Cl = 2, H = 1: y2[0, i*4 + j*2 + c, 0] = 100 (2i + j) + 10 p + c
//     p = 0: [0, 1, 100, 101, 200, 201, 300, 301];   p = 1: add 10
TEST(ReferenceMoeTest, DataMovementLiteralTables) {
  for (int64_t shard : {0, 1}) {
    Config c;
    c.shard = shard, c.el = 1, c.cl = 2, c.hl = 1, c.ml = 1;
    std::vector<RankTensors> tensors;
    for (int64_t g = 0; g < 4; ++g) {
      Logical l;
      for (int64_t e = 0; e < 2; ++e) {
        for (int64_t cc = 0; cc < 2; ++cc) l.x.push_back(100.0 * g + 10.0 * e + cc);
      }
      l.w.assign(c.h(), 1.0);
      tensors.push_back(Build(c, l));
    }
    auto result = RunTensors(c, tensors, Mode::kCann);
    ASSERT_TRUE(result.ok()) << result.status().ToString();
    const std::vector<double> p0 = shard == 0 ? std::vector<double>{0, 100, 1, 101, 200, 300, 201, 301}
                                              : std::vector<double>{0, 1, 100, 101, 200, 201, 300, 301};
    std::vector<double> p1 = p0;
    for (double& v : p1) v += 10;
    for (int64_t g = 0; g < 4; ++g) ExpectValues(*(*result)[g].y2, g / 2 == 0 ? p0 : p1, false, "y2");
    EXPECT_EQ((*result)[0].y2->dims(), shard == 0 ? (Dims{1, 4, 2}) : (Dims{1, 8, 1}));
  }
}

// ---- Numerics against the model ----

TEST(ReferenceMoeTest, MatchesModelForEveryActivationGridAndShardType) {
  uint32_t seed = 1;
  for (DType dt : {DType::kFloat16, DType::kBFloat16}) {
    for (ActType act : {ActType::kNone, ActType::kGelu, ActType::kSilu, ActType::kRelu, ActType::kFastGelu}) {
      for (auto [ep, tp] : {std::pair<int64_t, int64_t>{2, 2}, {4, 2}, {2, 4}, {1, 1}}) {
        for (int64_t shard : {0, 1}) {
          Config c;
          c.dt = dt, c.act = act, c.ep = ep, c.tp = tp, c.shard = shard;
          c.bias = seed % 3 != 0;
          c.bias_3d = seed % 2 == 0;
          c.transposed = seed % 4 < 2;
          c.want_y2 = seed % 5 != 0;
          c.want_y3 = act != ActType::kNone && seed % 3 != 1;
          CheckAgainstModel(c, seed++);
        }
      }
    }
  }
}

TEST(ReferenceMoeTest, BiasPresentOrAbsentIn2DAnd3DShapes) {
  for (DType dt : {DType::kFloat16, DType::kBFloat16}) {
    for (int variant = 0; variant < 3; ++variant) {
      Config c;
      c.dt = dt, c.act = ActType::kGelu, c.want_y3 = true;
      c.bias = variant > 0;
      c.bias_3d = variant == 2;
      CheckAgainstModel(c, 50 + variant);
    }
  }
}

TEST(ReferenceMoeTest, LargerShapeTransposedWeight) {
  for (DType dt : {DType::kFloat16, DType::kBFloat16}) {
    Config c;
    c.dt = dt, c.ep = 2, c.tp = 4, c.el = 3, c.cl = 5, c.hl = 16, c.ml = 7, c.shard = 1;
    c.act = ActType::kFastGelu, c.bias = true, c.transposed = true, c.want_y3 = true;
    CheckAgainstModel(c, 77);
  }
}

// Transposed weight by hand: ep = tp = 1, El = 1, C = 1, H = 2, M = 2; storage (M, H) = [[1, 2], [3, 4]]
// read as weight (H, M) = [[1, 3], [2, 4]]; x = [10, 100] -> y1 = [10 + 200, 30 + 400] = [210, 430].
TEST(ReferenceMoeTest, TransposedWeightByHand) {
  Config c;
  c.ep = 1, c.tp = 1, c.el = 1, c.cl = 1, c.hl = 2, c.ml = 2, c.shard = 1;
  RankTensors t;
  t.x = FromValues(c.dt, {1, 1, 2}, {10, 100});
  t.w = FromValues(c.dt, {1, 2, 2}, {1, 2, 3, 4});
  t.transposed = true;
  auto result = RunTensors(c, {t}, Mode::kCann);
  ASSERT_TRUE(result.ok()) << result.status().ToString();
  ExpectValues((*result)[0].y1, {210, 430}, false, "y1");
}

// ---- Rounding modes ----

// bf16, ep = tp = 2, type 1, El = 1, Cl = 1, H = 1, M/tp = 2, weight [1, 1], so B = x.
// x on grid rank g is +1 (g even) or -1 (g odd); rows come from ranks 0, 1, 2, 3: B = [1, -1, 1, -1].
// fp32 bias [2^-8, -2^-8]; bf16 has 8 significant bits, so the ulp is 2^-7 in [1, 2), 2^-8 in [0.5, 1):
//   x = +1: z = [1 + 2^-8 (tie 1 | 1 + 2^-7), 1 - 2^-8 (exact)] -> CAST_ROUND [1.0078125, 0.99609375]
//   x = -1: z = [-1 + 2^-8 (exact), -1 - 2^-8 (tie)]          -> CAST_ROUND [-0.99609375, -1.0078125]
// Half-even would give 1 and -1 at the ties. y1 = ReLU: [1.0078125, 0.99609375] and [0, 0].
TEST(ReferenceMoeTest, Bf16CastRoundTiesInY3AndY1) {
  Config c;
  c.dt = DType::kBFloat16, c.el = 1, c.cl = 1, c.hl = 1, c.ml = 2, c.shard = 1;
  c.bias = true, c.want_y3 = true;
  const double q = std::ldexp(1.0, -8);
  for (ActType act : {ActType::kRelu, ActType::kNone}) {
    c.act = act;
    c.want_y3 = act != ActType::kNone;
    std::vector<RankTensors> tensors;
    for (int64_t g = 0; g < 4; ++g) {
      Logical l;
      l.x = {g % 2 == 0 ? 1.0 : -1.0, 0.0};  // x_g[p*El + e, 0, 0] for e' = 0, 1
      l.x[1] = l.x[0];
      l.w = {1, 1};
      l.bias = {q, -q};
      tensors.push_back(Build(c, l));
    }
    auto result = RunTensors(c, tensors, Mode::kCann);
    ASSERT_TRUE(result.ok()) << result.status().ToString();
    const std::vector<double> y3 = {1.0078125, 0.99609375, -0.99609375, -1.0078125,
                                    1.0078125, 0.99609375, -0.99609375, -1.0078125};
    for (const MoeOutputs& out : *result) {
      if (act == ActType::kRelu) {
        ExpectValues(*out.y3, y3, false, "y3");
        ExpectValues(out.y1, {1.0078125, 0.99609375, 0, 0, 1.0078125, 0.99609375, 0, 0}, false, "y1 relu");
      } else {
        EXPECT_FALSE(out.y3.has_value());
        ExpectValues(out.y1, y3, false, "y1 none");
      }
    }
  }
}

// fp16 bias add is an fp16 add (half-even): B = 2048 (x = 1, weight 2048), bias 1 -> 2049 is a tie
// between 2048 and 2050 -> 2048; B = -2048, bias -1 -> -2048. CAST_ROUND would give +-2050.
TEST(ReferenceMoeTest, Fp16BiasAddRoundsHalfEven) {
  Config c;
  c.ep = 1, c.tp = 1, c.el = 1, c.cl = 2, c.hl = 1, c.ml = 1, c.shard = 1;
  c.act = ActType::kRelu, c.bias = true, c.want_y3 = true;
  RankTensors t;
  t.x = FromValues(c.dt, {1, 2, 1}, {1, -1});
  t.w = FromValues(c.dt, {1, 1, 1}, {2048});
  t.bias = FromValues(DType::kFloat16, {1, 1}, {0});
  t.has_bias = true;
  for (double b : {1.0, -1.0}) {
    t.bias.set(0, b);
    auto result = RunTensors(c, {t}, Mode::kCann);
    ASSERT_TRUE(result.ok()) << result.status().ToString();
    // rows: B = [2048, -2048]; b = 1: z = [2049 -> 2048, -2047]; b = -1: z = [2047, -2049 -> -2048].
    const std::vector<double> z = b > 0 ? std::vector<double>{2048, -2047} : std::vector<double>{2047, -2048};
    ExpectValues(*(*result)[0].y3, z, false, "y3");
    ExpectValues((*result)[0].y1, {z[0] > 0 ? z[0] : 0, 0}, false, "y1");
  }
}

// Finds an input z of `dt` (fp16 search over every pattern; bf16 over random bf16 B plus fp32 bias)
// whose fp32 activation lands exactly halfway between two neighbours of `dt`, then checks y1 on it.
// fp16: SiLU -> CAST_ROUND, GELU -> half-even; bf16: every activation -> CAST_ROUND.
void CheckActivationTie(DType dt, ActType act, RoundMode want) {
  SCOPED_TRACE(std::string(DTypeName(dt)) + " act " + std::to_string(static_cast<int>(act)));
  auto round = [&](float v, RoundMode m) { return dt == DType::kFloat16 ? RoundToHalf(v, m) : RoundToBf16(v, m); };
  double b_found = 0, bias_found = 0;
  bool found = false;
  if (dt == DType::kFloat16) {
    for (uint32_t bits = 0; bits < 0x7c00u && !found; ++bits) {
      for (uint32_t sign : {0u, 0x8000u}) {
        const float z = HalfToFloat(static_cast<uint16_t>(bits | sign));
        const float a = ActF(act, z);
        if (round(a, RoundMode::kHalfEven) != round(a, RoundMode::kHalfAway)) {
          b_found = z, found = true;
          break;
        }
      }
    }
  } else {
    std::mt19937 rng(3);
    std::uniform_real_distribution<float> uni(-4.0f, 4.0f);
    for (int tries = 0; tries < 4000000 && !found; ++tries) {
      const float b = RoundToBf16(uni(rng));
      const float bias = uni(rng) / 64.0f;
      const float a = ActF(act, b + bias);
      if (round(a, RoundMode::kHalfEven) != round(a, RoundMode::kHalfAway))
        b_found = b, bias_found = bias, found = true;
    }
  }
  ASSERT_TRUE(found) << "no tie found";
  Config c;
  c.dt = dt, c.ep = 1, c.tp = 1, c.el = 1, c.cl = 1, c.hl = 1, c.ml = 1, c.shard = 1, c.act = act;
  RankTensors t;
  t.x = FromValues(dt, {1, 1, 1}, {b_found});
  t.w = FromValues(dt, {1, 1, 1}, {1});
  t.has_bias = dt == DType::kBFloat16;
  if (t.has_bias) t.bias = FromValues(DType::kFloat32, {1, 1}, {bias_found});
  auto result = RunTensors(c, {t}, Mode::kCann);
  ASSERT_TRUE(result.ok()) << result.status().ToString();
  const float a = ActF(act, static_cast<float>(b_found) + static_cast<float>(bias_found));
  EXPECT_EQ((*result)[0].y1.at(0), round(a, want));
  EXPECT_NE(round(a, RoundMode::kHalfEven), round(a, RoundMode::kHalfAway));
}

TEST(ReferenceMoeTest, ActivationOutputRoundingModes) {
  CheckActivationTie(DType::kFloat16, ActType::kSilu, RoundMode::kHalfAway);
  CheckActivationTie(DType::kFloat16, ActType::kGelu, RoundMode::kHalfEven);
  CheckActivationTie(DType::kFloat16, ActType::kFastGelu, RoundMode::kHalfEven);
  CheckActivationTie(DType::kBFloat16, ActType::kSilu, RoundMode::kHalfAway);
  CheckActivationTie(DType::kBFloat16, ActType::kGelu, RoundMode::kHalfAway);
}

// kExact keeps what kCann rounds: B = 1 * 2048 + 1 * 1 = 2049 needs 12 bits (fp16 keeps 11).
TEST(ReferenceMoeTest, ExactModeKeepsFullPrecision) {
  Config c;
  c.ep = 1, c.tp = 1, c.el = 1, c.cl = 1, c.hl = 2, c.ml = 1, c.shard = 1;
  RankTensors t;
  t.x = FromValues(c.dt, {1, 1, 2}, {1, 1});
  t.w = FromValues(c.dt, {1, 2, 1}, {2048, 1});
  auto cann = RunTensors(c, {t}, Mode::kCann);
  auto exact = RunTensors(c, {t}, Mode::kExact);
  ASSERT_TRUE(cann.ok() && exact.ok());
  EXPECT_EQ((*cann)[0].y1.at(0), 2048);
  EXPECT_EQ((*exact)[0].y1.at(0), 2049);
  EXPECT_EQ((*exact)[0].y1.dtype(), DType::kFloat64);
}

TEST(ReferenceMoeTest, EmptyCapacityGivesEmptyOutputs) {
  Config c;
  c.cl = 0, c.want_y3 = true, c.act = ActType::kGelu;
  std::vector<RankTensors> tensors;
  for (const Logical& l : RandomInputs(c, 4)) tensors.push_back(Build(c, l));
  for (Mode mode : {Mode::kCann, Mode::kExact}) {
    auto result = RunTensors(c, tensors, mode);
    ASSERT_TRUE(result.ok()) << result.status().ToString();
    EXPECT_EQ((*result)[3].y1.dims(), (Dims{2, 0, 3}));
    EXPECT_EQ((*result)[3].y2->dims(), (Dims{2, 0, 6}));
    EXPECT_EQ((*result)[3].y3->dims(), (Dims{2, 0, 3}));
  }
}

// ---- Invalid inputs ----

void ExpectInvalid(const Config& c, const std::vector<RankTensors>& tensors, const std::string& needle,
                   int32_t code = aclnn::kErrParamInvalid) {
  auto out = RunTensors(c, tensors, Mode::kCann);
  ASSERT_FALSE(out.ok()) << needle;
  EXPECT_EQ(out.status().code(), code) << out.status().ToString();
  EXPECT_NE(out.status().message().find(needle), std::string::npos) << out.status().ToString();
}

// The judge: the spec's allclose, else the explained bound 1.13 (ulp(B) + ulp(z)) + ulp(y1), with
// values worked out by hand (fp16 ulps: 2^-9 in [2, 4), 2^-10 in [1, 2)).
TEST(ReferenceMoeTest, JudgeAllowsOneUlpOfTheProductAndNoMore) {
  const auto t = [](double v) {
    HostTensor x(DType::kFloat16, {1, 1, 1});
    x.set(0, v);
    return x;
  };
  const double u = std::ldexp(1.0, -10);
  const HostTensor want = t(1.5 + 56 * u), product = t(2.5), z = t(1.5);  // y1 = 1.5546875
  // 2 ulps: inside allclose (0.001 + 0.001 * 1.555 = 2.55e-3 > 1.95e-3).
  EXPECT_TRUE(CheckMoeOutput(t(1.5 + 58 * u), want, product, z, false).pass);
  // 3 ulps (the moe preset's case) = 2.93e-3: outside allclose, inside 1.13 * (2^-9 + 2^-10) + 2^-10 = 4.29e-3.
  const AccuracyReport three = CheckMoeOutput(t(1.5 + 59 * u), want, product, z, false);
  EXPECT_TRUE(three.pass) << three.ToString();
  EXPECT_NE(three.detail.find("1 element(s) outside"), std::string::npos) << three.detail;
  // 5 ulps = 4.88e-3: beyond both.
  const AccuracyReport five = CheckMoeOutput(t(1.5 + 61 * u), want, product, z, false);
  EXPECT_FALSE(five.pass);
  EXPECT_EQ(five.failing, 1);
  EXPECT_NE(five.ToString().find("explained bound"), std::string::npos) << five.ToString();
  // The same product with z = B (no bias): 1.13 * (2^-9 + 2^-9) + 2^-10 bounds 4 ulps of y1 but not 6.
  EXPECT_TRUE(CheckMoeOutput(t(1.5 + 60 * u), want, product, product, false).pass);
  EXPECT_FALSE(CheckMoeOutput(t(1.5 + 62 * u), want, product, product, false).pass);
  // y3 (= z): ulp(B) + ulp(z) = 3 ulps of z pass, 4 do not (allclose alone allows 2).
  EXPECT_TRUE(CheckMoeOutput(t(1.5 + 3 * u), z, product, z, true).pass);
  EXPECT_FALSE(CheckMoeOutput(t(1.5 + 4 * u), z, product, z, true).pass);
  // NaN and a wrong shape fail.
  EXPECT_FALSE(CheckMoeOutput(t(std::nan("")), want, product, z, false).pass);
  EXPECT_FALSE(CheckMoeOutput(HostTensor(DType::kFloat16, {1, 1, 2}), want, product, z, false).pass);
  // A golden without product / z (kExact) cannot judge.
  MoeOutputs exact{want, std::nullopt, std::nullopt, std::nullopt, std::nullopt};
  const AccuracyReport none = CheckMoeOutput(t(1.5 + 59 * u), exact, false);
  EXPECT_FALSE(none.pass);
  EXPECT_NE(none.detail.find("no product"), std::string::npos) << none.detail;
}

TEST(ReferenceMoeTest, RejectsInconsistentInputs) {
  Config c;
  c.bias = true;
  std::vector<RankTensors> good;
  for (const Logical& l : RandomInputs(c, 8)) good.push_back(Build(c, l));
  ASSERT_TRUE(RunTensors(c, good, Mode::kCann).ok());

  Config bad = c;
  bad.ep = 4;
  ExpectInvalid(bad, good, "ranks: 4 given but epWorldSize * tpWorldSize = 4 * 2 = 8");
  bad = c, bad.ep = 0;
  ExpectInvalid(bad, good, "epWorldSize: is 0");
  bad = c, bad.shard = 2;
  ExpectInvalid(bad, good, "xShardType: is 2");
  bad = c, bad.act = static_cast<ActType>(5);
  ExpectInvalid(bad, good, "actType: is 5");
  bad = c, bad.want_y3 = true;
  ExpectInvalid(bad, good, "y3OutOptional: requested with actType 0");

  std::vector<RankTensors> t = good;
  t[1].w = HostTensor(c.dt, {3, 6, 3});
  ExpectInvalid(c, t, "rank 1 (ep 0, tp 1): weight: dim 0 is 3 but x's dim 0 is E = 4");
  t = good;
  t[2].w = HostTensor(c.dt, {2, 5, 3});
  ExpectInvalid(c, t, "rank 2 (ep 1, tp 0): weight: dim 1 is 5 but H from x is 6");
  t = good;
  t[0].bias = HostTensor(DType::kFloat32, {2, 3});
  ExpectInvalid(c, t, "bias: dtype is float32 but x is float16 (needs float16)");
  t = good;
  t[0].bias = HostTensor(DType::kFloat16, {2, 2, 3});
  ExpectInvalid(c, t, "bias: shape is (2, 2, 3)");
  t = good;
  t[0].x = HostTensor(c.dt, {4, 6});
  ExpectInvalid(c, t, "x: shape is (4, 6) but must be 3-D");
  t = good;
  t[0].w = HostTensor(DType::kBFloat16, {2, 6, 3});
  ExpectInvalid(c, t, "weight: dtype is bfloat16 but x is float16");
  t = good;
  t[3].x = HostTensor(c.dt, {4, 3, 3});
  ExpectInvalid(c, t, "rank 3 (ep 1, tp 1): x: shape is (4, 3, 3) but rank 0 has (4, 2, 3)");
  t = good;
  t[0].x = HostTensor(DType::kInt8, {4, 2, 3});
  ExpectInvalid(c, t, "x: dtype is int8");

  std::vector<MoeInputs> views;
  for (const RankTensors& r : good) views.push_back(r.views());
  views[1].weight.data = nullptr;
  auto out = AlltoAllAllGatherBatchMatMul(views, AttrsOf(c), Mode::kCann);
  ASSERT_FALSE(out.ok());
  EXPECT_EQ(out.status().code(), aclnn::kErrParamNullptr);
  EXPECT_NE(out.status().message().find("weight: data is null"), std::string::npos);
}

}  // namespace
}  // namespace mc2::reference
