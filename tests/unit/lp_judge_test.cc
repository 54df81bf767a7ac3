// The shared LinearParallel judge (lp_judge.h) on values worked out by hand: it forgives exactly
// one ulp of each rank's partial product of the summing types, where ref_compare alone would fail,
// and still fails a wrong value, a wrong rank's block, NaN, wrong dims, and any error of a type
// that does not sum partials.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <string>

#include "lp_judge.h"

namespace mc2::testing {
namespace {

using reference::LinearParallelCase;
using Type = LinearParallelType;

// 2 ranks, bf16, weight (1, 1) = 1 (so each rank's product is its input), input rows `x0` on
// rank 0 and `x1` on rank 1.
LinearParallelCase OneColumnCase(Type type, const std::vector<double>& x0, const std::vector<double>& x1) {
  reference::LinearParallelShape s;
  s.world_size = 2;
  s.attrs.type = type;
  s.act = DType::kBFloat16;
  s.m = static_cast<int64_t>(x0.size());
  s.k = 1;
  s.n = 1;
  LinearParallelCase c = reference::MakeLinearParallelCase(s);
  for (int r = 0; r < 2; ++r) {
    const std::vector<double>& x = r == 0 ? x0 : x1;
    for (size_t i = 0; i < x.size(); ++i) c.ranks[r].input.StoreFlat(static_cast<int64_t>(i), x[i]);
    c.ranks[r].weight.StoreFlat(0, 1.0);
  }
  return c;
}

HostTensor Bf16(std::initializer_list<double> values, const Dims& dims) {
  HostTensor t(DType::kBFloat16, dims);
  int64_t i = 0;
  for (double v : values) t.view().StoreFlat(i++, v);
  return t;
}

HostTensor Golden(const LinearParallelCase& c, int rank) {
  auto golden = reference::LinearParallel(c.ranks, c.attrs, reference::Mode::kCann);
  EXPECT_TRUE(golden.ok()) << golden.status().ToString();
  return golden.ok() ? HostTensor::FromView((*golden)[static_cast<size_t>(rank)].output.view()) : HostTensor();
}

bool RefComparePasses(const HostTensor& got, const HostTensor& want) {
  return reference::Check(reference::DefaultRule(reference::AccuracyOp::kLinearParallel, want.dtype()), got, want).pass;
}

TEST(LpJudge, GoldenPassesOnEveryRank) {
  reference::LinearParallelShape s;
  s.world_size = 2;
  s.act = DType::kBFloat16;
  for (Type type : {Type::kLinearAllReduce, Type::kLinearReduceScatter, Type::kAllGatherLinear}) {
    s.attrs.type = type;
    const LinearParallelCase c = reference::MakeLinearParallelCase(s);
    for (int r = 0; r < 2; ++r) {
      const HostTensor want = Golden(c, r);
      double max_abs = -1, max_rel = -1;
      EXPECT_EQ(JudgeLp(c, r, want, want, &max_abs, &max_rel), "") << static_cast<int>(type);
      EXPECT_EQ(max_abs, 0);
      EXPECT_EQ(max_rel, 0);
    }
  }
}

// Products 3 and -2.5 sum to 0.5. One bf16 ulp of 3 and of 2.5 is 2^-6, of 0.5 it is 2^-8: the
// bound is 2^-8 + 2 * 2^-6 = 0.03515625, while ref_compare allows 2^-7 * max(1, 0.5) = 0.0078125.
TEST(LpJudge, AllReduceForgivesOnePartialUlpAndNoMore) {
  const LinearParallelCase c = OneColumnCase(Type::kLinearAllReduce, {3.0}, {-2.5});
  const HostTensor want = Golden(c, 0);
  ASSERT_EQ(want.view().LoadFlat(0), 0.5);
  const HostTensor one_partial_ulp = Bf16({0.5 + std::ldexp(1.0, -6)}, Dims{1, 1});
  EXPECT_FALSE(RefComparePasses(one_partial_ulp, want));
  EXPECT_EQ(JudgeLp(c, 0, one_partial_ulp, want, nullptr, nullptr), "");
  const HostTensor two_partial_ulps = Bf16({0.5 + std::ldexp(1.0, -5)}, Dims{1, 1});  // 0.03125: still inside
  EXPECT_EQ(JudgeLp(c, 1, two_partial_ulps, want, nullptr, nullptr), "");
  const HostTensor wrong = Bf16({0.5 + std::ldexp(1.0, -4)}, Dims{1, 1});  // 0.0625: beyond
  const std::string verdict = JudgeLp(c, 0, wrong, want, nullptr, nullptr);
  EXPECT_NE(verdict.find("element 0 = 0.5625 vs golden 0.5 beyond the per-rank rounding bound 0.0351562"),
            std::string::npos)
      << verdict;
  const HostTensor below = Bf16({0.5 - std::ldexp(1.0, -4)}, Dims{1, 1});
  EXPECT_NE(JudgeLp(c, 0, below, want, nullptr, nullptr), "");
  const HostTensor nan = Bf16({std::numeric_limits<double>::quiet_NaN()}, Dims{1, 1});
  EXPECT_NE(JudgeLp(c, 0, nan, want, nullptr, nullptr), "");
  EXPECT_NE(JudgeLp(c, 0, Bf16({0.5, 0.5}, Dims{2, 1}), want, nullptr, nullptr).find("dims differ"), std::string::npos);
}

// Rows: rank 0 has (3, 6), rank 1 (-2.5, -4); the sums (0.5, 2) are split, rank 1 owning 2. Its
// bound uses the partials of row 1: ulp(6) + ulp(4) + ulp(2) = 2^-5 + 2^-5 + 2^-6 = 0.078125;
// ref_compare allows 2^-7 * 2 = 0.015625.
TEST(LpJudge, ReduceScatterBoundsEachRankWithItsOwnBlock) {
  const LinearParallelCase c = OneColumnCase(Type::kLinearReduceScatter, {3.0, 6.0}, {-2.5, -4.0});
  const HostTensor want1 = Golden(c, 1);
  ASSERT_EQ(want1.numel(), 1);
  ASSERT_EQ(want1.view().LoadFlat(0), 2.0);
  const HostTensor off = Bf16({2.0 + std::ldexp(1.0, -4)}, Dims{1, 1});  // 0.0625 < 0.078125
  EXPECT_FALSE(RefComparePasses(off, want1));
  EXPECT_EQ(JudgeLp(c, 1, off, want1, nullptr, nullptr), "");
  const HostTensor too_far = Bf16({2.0 + std::ldexp(1.0, -3)}, Dims{1, 1});  // 0.125
  EXPECT_NE(JudgeLp(c, 1, too_far, want1, nullptr, nullptr), "");
  // Rank 0's block handed in as rank 1's: 0.5 against 2 fails.
  EXPECT_NE(JudgeLp(c, 1, Golden(c, 0), want1, nullptr, nullptr), "");
  // Rank 0 (golden 0.5, partials 3 and -2.5) may not borrow rank 1's larger bound.
  const HostTensor want0 = Golden(c, 0);
  EXPECT_NE(JudgeLp(c, 0, Bf16({0.5 + std::ldexp(1.0, -4)}, Dims{1, 1}), want0, nullptr, nullptr), "");
}

// PURE_LINEAR sums nothing: ref_compare decides alone (golden 3: err 2^-7 * 3 = 0.0234375).
TEST(LpJudge, TypesWithoutPartialSumsGetRefCompareOnly) {
  const LinearParallelCase c = OneColumnCase(Type::kPureLinear, {3.0}, {-2.5});
  const HostTensor want = Golden(c, 0);
  ASSERT_EQ(want.view().LoadFlat(0), 3.0);
  EXPECT_EQ(JudgeLp(c, 0, Bf16({3.0 + std::ldexp(1.0, -6)}, Dims{1, 1}), want, nullptr, nullptr), "");
  EXPECT_NE(JudgeLp(c, 0, Bf16({3.0 + std::ldexp(1.0, -5)}, Dims{1, 1}), want, nullptr, nullptr), "");
}

}  // namespace
}  // namespace mc2::testing
