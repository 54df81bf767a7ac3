// LinearParallel golden model, unquantized paths: every parallel type at R = 1, 2, 4 (8 for the 2-D
// grid), weight layouts (ND, transposed, FRACTAL_NZ 4-D and 2-D), 3-D inputs, residual, the
// roundings CANN performs, kExact, empty m, and the validation errors. Expected values are worked
// by hand in comments, or computed here by plain loops over small integers where every value is
// exact in fp16/bf16 (so the expected value does not depend on any rounding rule); the
// AllGather+ReduceScatter grid is checked against the kernel's chunk description, not the model's
// group formula.
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <string>
#include <tuple>

#include "reference/linear_parallel.h"
#include "reference_linear_parallel_test_util.h"

namespace mc2::reference {
namespace {

using lp_test::ExpectTensor;
using lp_test::MatMul;
using lp_test::Pool;
using lp_test::RunLp;
using lp_test::ExpectLpError;
using lp_test::SmallInts;
using lp_test::Transpose;
using lp_test::Values;
using Type = LinearParallelType;

// R ranks of small-integer data: x_r (input_dims) and logical weights w_r (k, n).
struct FloatCase {
  Pool pool;
  int64_t rows = 0, k = 0, n = 0;
  std::vector<std::vector<double>> x, w;
  std::vector<LinearParallelInputs> ranks;
};

void MakeFloatCase(FloatCase* c, int world, const Dims& input_dims, int64_t n, DType dtype, bool trans_weight) {
  c->k = input_dims.back();
  c->n = n;
  c->rows = input_dims.numel() / c->k;
  for (int r = 0; r < world; ++r) {
    c->x.push_back(SmallInts(input_dims.numel(), 2 * r + 1));
    c->w.push_back(SmallInts(c->k * n, 2 * r + 2));
    LinearParallelInputs in;
    in.input = c->pool.Nd(dtype, input_dims, c->x[r]);
    in.weight = trans_weight ? c->pool.Nd(dtype, {n, c->k}, Transpose(c->w[r], c->k, n))
                             : c->pool.Nd(dtype, {c->k, n}, c->w[r]);
    c->ranks.push_back(in);
  }
}

std::vector<double> Add(std::vector<double> a, const std::vector<double>& b) {
  for (size_t i = 0; i < a.size(); ++i) a[i] += b[i];
  return a;
}

std::vector<double> AddRowVector(std::vector<double> a, const std::vector<double>& row) {
  for (size_t i = 0; i < a.size(); ++i) a[i] += row[i % row.size()];
  return a;
}

std::vector<double> Rows(const std::vector<double>& m, int64_t first, int64_t count, int64_t cols) {
  return std::vector<double>(m.begin() + first * cols, m.begin() + (first + count) * cols);
}

TEST(ReferenceLinearParallelTest, PureLinearByHand) {
  // x = [[1,2,3],[4,5,6]], W (k=3, n=2) = [[1,0],[0,1],[1,1]]:
  //   row 0: [1+3, 2+3] = [4, 5];  row 1: [4+6, 5+6] = [10, 11].
  for (bool trans : {false, true}) {
    Pool pool;
    LinearParallelInputs in;
    in.input = pool.Nd(DType::kFloat16, {2, 3}, {1, 2, 3, 4, 5, 6});
    in.weight = trans ? pool.Nd(DType::kFloat16, {2, 3}, {1, 0, 1, 0, 1, 1})
                      : pool.Nd(DType::kFloat16, {3, 2}, {1, 0, 0, 1, 1, 1});
    LinearParallelAttrs attrs;
    attrs.type = Type::kPureLinear;
    attrs.trans_weight = trans;
    auto out = RunLp({in}, attrs);
    ASSERT_EQ(out.size(), 1u);
    ExpectTensor(out[0].output, DType::kFloat16, {2, 2}, {4, 5, 10, 11});
    EXPECT_FALSE(out[0].intermediate.has_value());
  }
}

TEST(ReferenceLinearParallelTest, AllReduceAddsResidualOnceByHand) {
  // rank 0: x = [1, 2], W = I        -> [1, 2]
  // rank 1: x = [3, 4], W = [[1,1],[0,1]] -> [3, 3 + 4] = [3, 7]
  // sum [4, 9] + residual [10, 20] once = [14, 29] (not [24, 49]).
  Pool pool;
  LinearParallelAttrs attrs;
  attrs.trans_weight = false;
  attrs.has_residual = true;
  std::vector<LinearParallelInputs> ranks(2);
  ranks[0].input = pool.Nd(DType::kBFloat16, {1, 2}, {1, 2});
  ranks[0].weight = pool.Nd(DType::kBFloat16, {2, 2}, {1, 0, 0, 1});
  ranks[1].input = pool.Nd(DType::kBFloat16, {1, 2}, {3, 4});
  ranks[1].weight = pool.Nd(DType::kBFloat16, {2, 2}, {1, 1, 0, 1});
  for (auto& in : ranks) in.residual = pool.Nd(DType::kBFloat16, {2}, {10, 20});
  auto out = RunLp(ranks, attrs);
  ASSERT_EQ(out.size(), 2u);
  for (const auto& o : out) ExpectTensor(o.output, DType::kBFloat16, {1, 2}, {14, 29});
}

TEST(ReferenceLinearParallelTest, AllReduceEveryWorldSize3dInputAndResidual) {
  for (int world : {1, 2, 4}) {
    for (bool trans : {false, true}) {
      FloatCase c;
      MakeFloatCase(&c, world, {2, 3, 8}, 5, DType::kFloat16, trans);
      const std::vector<double> residual = {1, -2, 3, 0, 2};
      for (auto& in : c.ranks) in.residual = c.pool.Nd(DType::kFloat16, {1, 5}, residual);
      LinearParallelAttrs attrs;
      attrs.trans_weight = trans;
      attrs.has_residual = true;
      std::vector<double> sum(static_cast<size_t>(c.rows * c.n), 0.0);
      for (int r = 0; r < world; ++r) sum = Add(sum, MatMul(c.x[r], c.w[r], c.rows, c.k, c.n));
      const std::vector<double> expect = AddRowVector(sum, residual);
      auto out = RunLp(c.ranks, attrs);
      ASSERT_EQ(static_cast<int>(out.size()), world);
      for (const auto& o : out) ExpectTensor(o.output, DType::kFloat16, {2, 3, 5}, expect);
    }
  }
}

TEST(ReferenceLinearParallelTest, ReduceScatterSplitsRowsByInferShapeRule) {
  struct Shape {
    Dims in;
    int world;
    Dims out;
  };
  // 2-D splits dim 0; 3-D splits dim 0 unless it is 1, then dim 1.
  const Shape shapes[] = {{{8, 6}, 2, {4, 3}}, {{8, 6}, 4, {2, 3}}, {{4, 2, 6}, 2, {2, 2, 3}},
                          {{1, 4, 6}, 2, {1, 2, 3}}, {{1, 8, 6}, 4, {1, 2, 3}}, {{3, 6}, 1, {3, 3}}};
  for (const Shape& s : shapes) {
    FloatCase c;
    MakeFloatCase(&c, s.world, s.in, 3, DType::kBFloat16, true);
    const std::vector<double> residual = {5, 0, -5};
    for (auto& in : c.ranks) in.residual = c.pool.Nd(DType::kBFloat16, {3}, residual);
    LinearParallelAttrs attrs;
    attrs.type = Type::kLinearReduceScatter;
    attrs.has_residual = true;
    std::vector<double> sum(static_cast<size_t>(c.rows * c.n), 0.0);
    for (int r = 0; r < s.world; ++r) sum = Add(sum, MatMul(c.x[r], c.w[r], c.rows, c.k, c.n));
    auto out = RunLp(c.ranks, attrs);
    ASSERT_EQ(static_cast<int>(out.size()), s.world);
    const int64_t chunk = c.rows / s.world;
    for (int r = 0; r < s.world; ++r) {
      SCOPED_TRACE(s.in.ToString() + " rank " + std::to_string(r));
      ExpectTensor(out[r].output, DType::kBFloat16, s.out, AddRowVector(Rows(sum, r * chunk, chunk, c.n), residual));
    }
  }
}

TEST(ReferenceLinearParallelTest, AllGatherLinearWithAndWithoutIntermediate) {
  for (int world : {1, 2, 4}) {
    for (bool keep : {false, true}) {
      FloatCase c;
      MakeFloatCase(&c, world, {2, 3, 4}, 6, DType::kFloat16, false);
      LinearParallelAttrs attrs;
      attrs.type = Type::kAllGatherLinear;
      attrs.trans_weight = false;
      attrs.keep_intermediate = keep;
      std::vector<double> gathered;
      for (int r = 0; r < world; ++r) gathered.insert(gathered.end(), c.x[r].begin(), c.x[r].end());
      auto out = RunLp(c.ranks, attrs);
      ASSERT_EQ(static_cast<int>(out.size()), world);
      for (int r = 0; r < world; ++r) {
        ExpectTensor(out[r].output, DType::kFloat16, {2 * world, 3, 6},
                     MatMul(gathered, c.w[r], c.rows * world, c.k, c.n));
        ASSERT_EQ(out[r].intermediate.has_value(), keep);
        if (keep) ExpectTensor(*out[r].intermediate, DType::kFloat16, {2 * world, 3, 4}, gathered);
      }
    }
  }
}

// The kernel's description of ALL_GATHER_LINEAR_REDUCE_SCATTER (spec 4.4, coc_allgather_reducescatter):
// the gathered rows move in big = max(agDim, rsDim) chunks; chunk b is piece b % (big/agDim) of the
// input of the AG member with agIdx b / (big/agDim), and is reduced into RS destination b / (big/rsDim).
std::vector<double> AgRsByChunks(const FloatCase& c, int r, int ag, int rs, bool inner) {
  auto rank_at = [&](int a, int s) { return inner ? s * ag + a : a * rs + s; };
  const int my_ag = inner ? r % ag : r / rs;
  const int my_rs = inner ? r / ag : r % rs;
  const int big = std::max(ag, rs);
  const int pieces = big / ag;
  const int64_t piece_rows = c.rows / pieces;
  std::vector<double> out;
  for (int b = 0; b < big; ++b) {
    if (b / (big / rs) != my_rs) continue;
    for (int64_t t = 0; t < piece_rows; ++t) {
      for (int64_t j = 0; j < c.n; ++j) {
        double sum = 0;
        for (int s = 0; s < rs; ++s) {
          const int owner = rank_at(my_ag, s);          // whose product is reduced
          const int source = rank_at(b / pieces, s);    // whose input rows it multiplied
          const int64_t row = (b % pieces) * piece_rows + t;
          for (int64_t kk = 0; kk < c.k; ++kk) sum += c.x[source][row * c.k + kk] * c.w[owner][kk * c.n + j];
        }
        out.push_back(sum);
      }
    }
  }
  return out;
}

TEST(ReferenceLinearParallelTest, AllGatherLinearReduceScatterGrids) {
  struct Grid {
    int ag, rs;
  };
  const Grid grids[] = {{2, 4}, {4, 2}, {2, 2}, {1, 2}, {2, 1}, {1, 1}, {8, 1}, {1, 8}};
  for (const Grid& g : grids) {
    for (bool inner : {true, false}) {
      const int world = g.ag * g.rs;
      const int64_t m = 8;
      FloatCase c;
      MakeFloatCase(&c, world, {m, 4}, 3, DType::kFloat16, true);
      LinearParallelAttrs attrs;
      attrs.type = Type::kAllGatherLinearReduceScatter;
      attrs.ag_dim = g.ag;
      attrs.rs_dim = g.rs;
      attrs.inner_dim_is_ag = inner;
      auto out = RunLp(c.ranks, attrs);
      ASSERT_EQ(static_cast<int>(out.size()), world);
      for (int r = 0; r < world; ++r) {
        SCOPED_TRACE("agDim " + std::to_string(g.ag) + " rsDim " + std::to_string(g.rs) + " inner " +
                     std::to_string(inner) + " rank " + std::to_string(r));
        ExpectTensor(out[r].output, DType::kFloat16, {m * g.ag / g.rs, 3}, AgRsByChunks(c, r, g.ag, g.rs, inner));
      }
    }
  }
}

TEST(ReferenceLinearParallelTest, AllGatherLinearReduceScatterShapeExamplesFromAtbCsv) {
  // CSV cases 82-85: agDim 4, rsDim 2, input (2, 16) -> (4, n); agDim 2, rsDim 4, input (1024, 64) -> (512, n).
  for (auto [ag, rs, m, k, out_m] : {std::array<int64_t, 5>{4, 2, 2, 16, 4}, std::array<int64_t, 5>{2, 4, 1024, 64, 512}}) {
    FloatCase c;
    MakeFloatCase(&c, static_cast<int>(ag * rs), {m, k}, 2, DType::kBFloat16, true);
    LinearParallelAttrs attrs;
    attrs.type = Type::kAllGatherLinearReduceScatter;
    attrs.ag_dim = static_cast<int32_t>(ag);
    attrs.rs_dim = static_cast<int32_t>(rs);
    auto out = RunLp(c.ranks, attrs);
    ASSERT_EQ(static_cast<int64_t>(out.size()), ag * rs);
    EXPECT_EQ(out[0].output.dims(), (Dims{out_m, 2}));
  }
}

TEST(ReferenceLinearParallelTest, LocalProductIsRoundedBeforeTheSum) {
  // k = 2: x = [2048, 1], W = [1, 1]^T -> P = 2049 exactly, fp16 rounds the tie to 2048 (even).
  // Two ranks: kCann 2048 + 2048 = 4096; kExact 2049 + 2049 = 4098.
  // bf16, x = [256, 1]: P = 257 -> 256; kCann 512, kExact 514.
  for (auto [dtype, big, cann, exact] : {std::tuple{DType::kFloat16, 2048.0, 4096.0, 4098.0},
                                         std::tuple{DType::kBFloat16, 256.0, 512.0, 514.0}}) {
    Pool pool;
    std::vector<LinearParallelInputs> ranks(2);
    for (auto& in : ranks) {
      in.input = pool.Nd(dtype, {1, 2}, {big, 1});
      in.weight = pool.Nd(dtype, {1, 2}, {1, 1});  // transWeight: (n=1, k=2)
    }
    LinearParallelAttrs attrs;
    ExpectTensor(RunLp(ranks, attrs, Mode::kCann)[0].output, dtype, {1, 1}, {cann});
    ExpectTensor(RunLp(ranks, attrs, Mode::kExact)[0].output, DType::kFloat64, {1, 1}, {exact});
  }
}

TEST(ReferenceLinearParallelTest, CrossRankSumAccumulatesInFloat32) {
  // fp16 products 2048, 1, 1: accumulated in fp32 = 2050 (an fp16 value); accumulating in fp16
  // would give 2048 + 1 -> 2048 (tie to even), + 1 -> 2048.
  Pool pool;
  std::vector<LinearParallelInputs> ranks(3);
  const double xs[] = {2048, 1, 1};
  for (int r = 0; r < 3; ++r) {
    ranks[r].input = pool.Nd(DType::kFloat16, {1, 1}, {xs[r]});
    ranks[r].weight = pool.Nd(DType::kFloat16, {1, 1}, {1});
  }
  LinearParallelAttrs attrs;
  ExpectTensor(RunLp(ranks, attrs)[2].output, DType::kFloat16, {1, 1}, {2050});
}

TEST(ReferenceLinearParallelTest, ResidualAddRoundsInDType) {
  // Sum 2048 + residual 1 = 2049 -> fp16 2048 (kCann), 2049 (kExact). bf16: 256 + 1 -> 256.
  for (auto [dtype, big] : {std::pair{DType::kFloat16, 2048.0}, std::pair{DType::kBFloat16, 256.0}}) {
    Pool pool;
    LinearParallelInputs in;
    in.input = pool.Nd(dtype, {1, 1}, {big});
    in.weight = pool.Nd(dtype, {1, 1}, {1});
    in.residual = pool.Nd(dtype, {1}, {1});
    LinearParallelAttrs attrs;
    attrs.has_residual = true;
    ExpectTensor(RunLp({in}, attrs, Mode::kCann)[0].output, dtype, {1, 1}, {big});
    ExpectTensor(RunLp({in}, attrs, Mode::kExact)[0].output, DType::kFloat64, {1, 1}, {big + 1});
  }
}

TEST(ReferenceLinearParallelTest, FractalNzWeightEqualsNd) {
  struct Layout {
    bool trans;
    int64_t k, n;
    bool four_d;
  };
  // 4-D NZ derives k / n from its dims, so they are multiples of 16 there; 2-D NZ takes any size.
  const Layout layouts[] = {{false, 16, 32, true}, {true, 32, 16, true}, {false, 5, 20, false}, {true, 7, 18, false}};
  for (const Layout& l : layouts) {
    for (Type type : {Type::kLinearAllReduce, Type::kPureLinear}) {
      FloatCase c;
      MakeFloatCase(&c, 2, {3, l.k}, l.n, DType::kFloat16, l.trans);
      std::vector<LinearParallelInputs> nz = c.ranks;
      for (int r = 0; r < 2; ++r) {
        const int64_t rows = l.trans ? l.n : l.k;
        const int64_t cols = l.trans ? l.k : l.n;
        const std::vector<double> stored = l.trans ? Transpose(c.w[r], l.k, l.n) : c.w[r];
        nz[r].weight = l.four_d ? c.pool.Nz4(DType::kFloat16, rows, cols, stored)
                                : c.pool.Nz2(DType::kFloat16, rows, cols, stored);
      }
      LinearParallelAttrs attrs;
      attrs.type = type;
      attrs.trans_weight = l.trans;
      auto want = RunLp(c.ranks, attrs);
      auto got = RunLp(nz, attrs);
      ASSERT_EQ(got.size(), 2u);
      for (int r = 0; r < 2; ++r) {
        ExpectTensor(got[r].output, DType::kFloat16, {3, l.n}, Values(want[r].output));
      }
    }
  }
}

TEST(ReferenceLinearParallelTest, ExactModeOutputsFloat64) {
  FloatCase c;
  MakeFloatCase(&c, 2, {3, 4}, 2, DType::kBFloat16, true);
  LinearParallelAttrs attrs;
  attrs.type = Type::kAllGatherLinear;
  attrs.keep_intermediate = true;
  auto out = RunLp(c.ranks, attrs, Mode::kExact);
  ASSERT_EQ(out.size(), 2u);
  std::vector<double> gathered = c.x[0];
  gathered.insert(gathered.end(), c.x[1].begin(), c.x[1].end());
  ExpectTensor(out[1].output, DType::kFloat64, {6, 2}, MatMul(gathered, c.w[1], 6, 4, 2));
  ExpectTensor(*out[1].intermediate, DType::kFloat64, {6, 4}, gathered);
}

TEST(ReferenceLinearParallelTest, EmptyM) {
  struct Case {
    Type type;
    Dims in;
    Dims out;
  };
  const Case cases[] = {{Type::kLinearAllReduce, {0, 4}, {0, 3}},
                        {Type::kLinearReduceScatter, {0, 4}, {0, 3}},
                        {Type::kAllGatherLinear, {0, 4}, {0, 3}},
                        {Type::kPureLinear, {2, 0, 4}, {2, 0, 3}},
                        {Type::kAllGatherLinearReduceScatter, {0, 4}, {0, 3}}};
  for (const Case& e : cases) {
    FloatCase c;
    MakeFloatCase(&c, 2, e.in, 3, DType::kFloat16, true);
    for (auto& in : c.ranks) in.residual = c.pool.Nd(DType::kFloat16, {3}, {1, 2, 3});
    LinearParallelAttrs attrs;
    attrs.type = e.type;
    attrs.has_residual = e.type != Type::kAllGatherLinearReduceScatter;
    if (!attrs.has_residual) {
      for (auto& in : c.ranks) in.residual.reset();
    }
    attrs.ag_dim = 2;
    attrs.rs_dim = 1;
    auto out = RunLp(c.ranks, attrs);
    ASSERT_EQ(out.size(), 2u);
    ExpectTensor(out[0].output, DType::kFloat16, e.out, {});
  }
}

TEST(ReferenceLinearParallelTest, ValidationErrors) {
  using lp_test::Pool;
  auto base = [](Pool& pool, int world) {
    std::vector<LinearParallelInputs> ranks(world);
    for (auto& in : ranks) {
      in.input = pool.Nd(DType::kFloat16, {4, 8}, std::vector<double>(32, 1.0));
      in.weight = pool.Nd(DType::kFloat16, {6, 8}, std::vector<double>(48, 1.0));
    }
    return ranks;
  };
  LinearParallelAttrs attrs;
  {
    Pool pool;
    auto ranks = base(pool, 2);
    ranks[1].weight = pool.Nd(DType::kFloat16, {6, 7}, std::vector<double>(42, 1.0));
    ranks[0].weight = ranks[1].weight;
    EXPECT_NE(ExpectLpError(ranks, attrs, atb::kInvalidTensorDim).find("k must match"), std::string::npos);
  }
  {
    Pool pool;
    auto ranks = base(pool, 2);
    ranks[1].input = pool.Nd(DType::kFloat16, {2, 8}, std::vector<double>(16, 1.0));
    EXPECT_NE(ExpectLpError(ranks, attrs, atb::kInvalidTensorDim).find("rank 1: input"), std::string::npos);
  }
  {
    Pool pool;
    auto ranks = base(pool, 2);
    ranks[1].input = pool.Nd(DType::kBFloat16, {4, 8}, std::vector<double>(32, 1.0));
    ExpectLpError(ranks, attrs, atb::kInvalidTensorIniMatch);
  }
  {
    Pool pool;
    LinearParallelAttrs rs = attrs;
    rs.type = Type::kLinearReduceScatter;
    EXPECT_NE(ExpectLpError(base(pool, 8), rs, atb::kInvalidTensorDim).find("not divisible by rankSize 8"),
              std::string::npos);
    auto ranks3 = base(pool, 2);
    for (auto& in : ranks3) in.input = pool.Nd(DType::kFloat16, {3, 2, 8}, std::vector<double>(48, 1.0));
    ExpectLpError(ranks3, rs, atb::kInvalidTensorDim);  // dim 0 = 3 is not split by 2 although 6 rows are
  }
  {
    Pool pool;
    LinearParallelAttrs grid = attrs;
    grid.type = Type::kAllGatherLinearReduceScatter;
    grid.ag_dim = 2;
    grid.rs_dim = 2;
    EXPECT_NE(ExpectLpError(base(pool, 8), grid, atb::kInvalidParam).find("agDim * rsDim must equal rankSize"),
              std::string::npos);
    grid.ag_dim = 1;
    grid.rs_dim = 8;
    ExpectLpError(base(pool, 8), grid, atb::kInvalidTensorDim);  // 4 rows * agDim 1 not divisible by 8
    grid.rs_dim = 0;
    grid.ag_dim = 8;
    ExpectLpError(base(pool, 8), grid, atb::kInvalidParam);
  }
  {
    Pool pool;
    LinearParallelAttrs keep = attrs;
    keep.keep_intermediate = true;
    ExpectLpError(base(pool, 2), keep, atb::kInvalidParam);
  }
  {
    Pool pool;
    ExpectLpError({}, attrs, atb::kInvalidParam);
    auto ranks = base(pool, 1);
    ranks[0].input = pool.Nd(DType::kFloat16, {1, 1, 4, 8}, std::vector<double>(32, 1.0));
    ExpectLpError(ranks, attrs, atb::kInvalidTensorDim);
    ranks = base(pool, 1);
    ranks[0].input.dims = Dims{-4, 8};
    ExpectLpError(ranks, attrs, atb::kInvalidTensorDim);
    ranks = base(pool, 1);
    ranks[0].input.data = nullptr;
    ExpectLpError(ranks, attrs, atb::kInvalidTensorAddr);
  }
  {
    Pool pool;
    auto ranks = base(pool, 1);
    ranks[0].bias = pool.Nd(DType::kFloat16, {6}, std::vector<double>(6, 1.0));
    ExpectLpError(ranks, attrs, atb::kInvalidInTensorNum);
    ranks = base(pool, 1);
    LinearParallelAttrs res = attrs;
    res.has_residual = true;
    ExpectLpError(ranks, res, atb::kInvalidInTensorNum);
    ranks[0].residual = pool.Nd(DType::kFloat16, {1, 1, 6}, std::vector<double>(6, 1.0));
    ExpectLpError(ranks, res, atb::kInvalidTensorDim);
    ranks[0].residual = pool.Nd(DType::kFloat16, {5}, std::vector<double>(5, 1.0));
    ExpectLpError(ranks, res, atb::kInvalidTensorDim);
    ranks[0].residual = pool.Nd(DType::kBFloat16, {6}, std::vector<double>(6, 1.0));
    ExpectLpError(ranks, res, atb::kInvalidTensorIniMatch);
  }
  {
    Pool pool;
    auto ranks = base(pool, 1);
    ranks[0].weight = pool.Nd(DType::kBFloat16, {6, 8}, std::vector<double>(48, 1.0));
    ExpectLpError(ranks, attrs, atb::kInvalidTensorIniMatch);
    LinearParallelAttrs out_bf16 = attrs;
    out_bf16.out_dtype = DType::kBFloat16;
    ExpectLpError(base(pool, 1), out_bf16, atb::kInvalidTensorIniMatch);
  }
  {
    // FRACTAL_NZ shape rules: dims[3] must be 16 for a float weight, dims[2] a multiple of 16,
    // dims[0] 1, rank 2 or 4.
    Pool pool;
    auto ranks = base(pool, 1);
    TensorView nz = pool.Nd(DType::kFloat16, {1, 1, 16, 8}, std::vector<double>(128, 1.0));
    nz.format = Format::kFractalNZ;
    ranks[0].weight = nz;
    ExpectLpError(ranks, attrs, atb::kInvalidTensorDim);
    nz = pool.Nd(DType::kFloat16, {1, 1, 8, 16}, std::vector<double>(128, 1.0));
    nz.format = Format::kFractalNZ;
    ranks[0].weight = nz;
    ExpectLpError(ranks, attrs, atb::kInvalidTensorDim);
    nz = pool.Nd(DType::kFloat16, {2, 1, 16, 16}, std::vector<double>(512, 1.0));
    nz.format = Format::kFractalNZ;
    ranks[0].weight = nz;
    ExpectLpError(ranks, attrs, atb::kInvalidTensorDim);
    nz = pool.Nd(DType::kFloat16, {1, 16, 16}, std::vector<double>(256, 1.0));
    nz.format = Format::kFractalNZ;
    ranks[0].weight = nz;
    ExpectLpError(ranks, attrs, atb::kInvalidTensorDim);
    // 2-D NZ (6, 8) needs [1, 1, 16, 16] = 256 storage elements; a plain (6, 8) tensor has 48.
    nz = pool.Nd(DType::kFloat16, {6, 8}, std::vector<double>(48, 1.0));
    nz.format = Format::kFractalNZ;
    ranks[0].weight = nz;
    ExpectLpError(ranks, attrs, atb::kInvalidTensorDim);
    // ND weight batch must be 1.
    ranks[0].weight = pool.Nd(DType::kFloat16, {2, 6, 8}, std::vector<double>(96, 1.0));
    ExpectLpError(ranks, attrs, atb::kInvalidTensorDim);
  }
}

TEST(ReferenceLinearParallelTest, NdWeightWithBatchOne) {
  // (1, n, k) with transWeight is the same weight as (n, k).
  FloatCase c;
  MakeFloatCase(&c, 2, {2, 4}, 3, DType::kFloat16, true);
  std::vector<LinearParallelInputs> batched = c.ranks;
  for (int r = 0; r < 2; ++r) batched[r].weight = c.pool.Nd(DType::kFloat16, {1, 3, 4}, Transpose(c.w[r], 4, 3));
  LinearParallelAttrs attrs;
  const std::vector<double> expect = Add(MatMul(c.x[0], c.w[0], 2, 4, 3), MatMul(c.x[1], c.w[1], 2, 4, 3));
  ExpectTensor(RunLp(batched, attrs)[0].output, DType::kFloat16, {2, 3}, expect);
}

}  // namespace
}  // namespace mc2::reference
