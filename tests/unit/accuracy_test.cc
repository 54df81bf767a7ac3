// The Huawei accuracy rules at their boundaries: hand-made tensors exactly at a tolerance, one ulp
// past it, one outlier inside and one over assertRtolEqual's 0.5 % budget, and CompareCv ratios
// landing exactly on their bounds. Values are dyadic so "exactly at" is exact in double.
#include "reference/accuracy.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <vector>

namespace mc2::reference {
namespace {

constexpr double kNan = std::numeric_limits<double>::quiet_NaN();
constexpr double kInf = std::numeric_limits<double>::infinity();

HostTensor Make(DType dtype, const std::vector<double>& values) {
  HostTensor t(dtype, Dims{static_cast<int64_t>(values.size())});
  for (size_t i = 0; i < values.size(); ++i) t.set(static_cast<int64_t>(i), values[i]);
  return t;
}
HostTensor Filled(DType dtype, int64_t n, double v) { return Make(dtype, std::vector<double>(n, v)); }

double Up(double v) { return std::nextafter(v, kInf); }

TEST(AccuracyTest, StatisticsAndWorstElement) {
  const HostTensor golden = Make(DType::kFloat32, {1, 2, 4, 0});
  const HostTensor actual = Make(DType::kFloat32, {1, 2.5, 3.75, 0});
  const AccuracyReport r = AllClose(actual, golden, 0.0, 0.125);
  EXPECT_FALSE(r.pass);
  EXPECT_EQ(r.count, 4);
  EXPECT_EQ(r.failing, 2);
  EXPECT_EQ(r.worst_index, 1);  // 0.5 over a 0.125 tolerance beats 0.25 over it
  EXPECT_EQ(r.worst_position, "(1,)");
  EXPECT_EQ(r.worst_actual, 2.5);
  EXPECT_EQ(r.worst_golden, 2);
  EXPECT_DOUBLE_EQ(r.max_abs_error, 0.5);
  EXPECT_DOUBLE_EQ(r.max_rel_error, 0.5 / (2 + kRelErrFloor));
  EXPECT_DOUBLE_EQ(r.mean_rel_error, (0.5 / (2 + kRelErrFloor) + 0.25 / (4 + kRelErrFloor)) / 4);
  EXPECT_DOUBLE_EQ(r.rmse, std::sqrt((0.25 + 0.0625) / 4));
  EXPECT_EQ(r.rule, "torch.allclose(rtol=0, atol=0.125)");
  EXPECT_NE(r.ToString().find("FAIL, 2 of 4 elements fail; worst (1,): actual 2.5 golden 2"), std::string::npos) << r.ToString();
}

TEST(AccuracyTest, WorstIsTheElementFurthestOutsideItsOwnTolerance) {
  // With rtol, a larger absolute error on a large golden can be the lesser violation.
  const HostTensor golden = Make(DType::kFloat32, {100, 1});
  const HostTensor actual = Make(DType::kFloat32, {100.5, 1.25});
  const AccuracyReport r = AllClose(actual, golden, 0.0078125, 0.0);  // allowed 0.78125 and 0.0078125
  EXPECT_EQ(r.failing, 1);
  EXPECT_EQ(r.worst_index, 1);
  EXPECT_EQ(r.max_abs_error, 0.5);  // from element 0, which passes
}

TEST(AccuracyTest, AllCloseBoundary) {
  // allowed = atol + rtol * |g| = 2^-4 + 2^-3 * 2 = 0.3125
  const HostTensor golden = Make(DType::kFloat64, {2, -2});
  EXPECT_TRUE(AllClose(Make(DType::kFloat64, {2.3125, -2.3125}), golden, 0.125, 0.0625).pass);
  const AccuracyReport under = AllClose(Make(DType::kFloat64, {2, -Up(2.3125)}), golden, 0.125, 0.0625);
  EXPECT_FALSE(under.pass);
  EXPECT_EQ(under.worst_index, 1);
  const AccuracyReport over = AllClose(Make(DType::kFloat64, {Up(2.3125), -2}), golden, 0.125, 0.0625);
  EXPECT_FALSE(over.pass);
  EXPECT_EQ(over.failing, 1);
  EXPECT_EQ(over.worst_index, 0);
  // rtol scales with the golden, not the actual: |a| large does not help.
  EXPECT_FALSE(AllClose(Make(DType::kFloat64, {4}), Make(DType::kFloat64, {2}), 0.5, 0.0).pass);
  EXPECT_TRUE(AllClose(Make(DType::kFloat64, {2}), Make(DType::kFloat64, {4}), 0.5, 0.0).pass);
  // The spec's 0.005 / 0.005 on fp16 outputs: golden 1 allows 0.01.
  EXPECT_TRUE(AllClose(Make(DType::kFloat16, {1.0078125}), Make(DType::kFloat32, {1}), 0.005, 0.005).pass);
  EXPECT_FALSE(AllClose(Make(DType::kFloat16, {1.015625}), Make(DType::kFloat32, {1}), 0.005, 0.005).pass);
}

TEST(AccuracyTest, AllCloseNonFinite) {
  EXPECT_TRUE(AllClose(Make(DType::kFloat32, {kInf, -kInf}), Make(DType::kFloat32, {kInf, -kInf}), 0.1, 0.1).pass);
  EXPECT_FALSE(AllClose(Make(DType::kFloat32, {kInf}), Make(DType::kFloat32, {-kInf}), 0.1, 0.1).pass);
  EXPECT_FALSE(AllClose(Make(DType::kFloat32, {kInf}), Make(DType::kFloat32, {1e30}), 0.1, 0.1).pass);
  EXPECT_FALSE(AllClose(Make(DType::kFloat32, {1e30}), Make(DType::kFloat32, {kInf}), 0.1, 0.1).pass);
  const AccuracyReport nan = AllClose(Make(DType::kFloat32, {1, kNan, 1}), Make(DType::kFloat32, {1, kNan, 3}), 1, 1);
  EXPECT_FALSE(nan.pass);  // equal_nan=False: NaN is never close, not even to NaN
  EXPECT_EQ(nan.failing, 1);
  EXPECT_EQ(nan.worst_index, 1);
  EXPECT_TRUE(std::isnan(nan.max_abs_error));
}

TEST(AccuracyTest, AssertRtolEqualFp16AllowsHalfAPercentOfOutliers) {
  // 1000 elements at prec16 0.005: budget 5. Outliers fail both atol and rtol.
  const HostTensor golden = Filled(DType::kFloat16, 1000, 1.0);
  HostTensor actual = golden;
  for (int i = 0; i < 5; ++i) actual.set(100 * i + 7, 2.0);
  AccuracyReport r = AssertRtolEqual(actual, golden, 0.005, 0.005);
  EXPECT_TRUE(r.pass) << r.ToString();
  EXPECT_EQ(r.failing, 5);
  EXPECT_EQ(r.worst_index, 7);
  actual.set(999, 2.0);
  r = AssertRtolEqual(actual, golden, 0.005, 0.005);
  EXPECT_FALSE(r.pass) << r.ToString();
  EXPECT_EQ(r.failing, 6);
  EXPECT_NE(r.detail.find("atol failures 6, rtol failures 6, outlier budget 5"), std::string::npos) << r.detail;
  EXPECT_NE(r.rule.find("[float16]"), std::string::npos);
}

TEST(AccuracyTest, AssertRtolEqualFp16AtolOrRtolAndTheirSeparateCounts) {
  // Exactly at prec16 = 2^-7 in absolute terms passes the atol check.
  const HostTensor one = Filled(DType::kFloat16, 10, 1.0);
  EXPECT_TRUE(AssertRtolEqual(Filled(DType::kFloat16, 10, 1.0078125), one, 0, 0.0078125).pass);
  EXPECT_FALSE(AssertRtolEqual(Filled(DType::kFloat16, 10, 1.0087890625), one, 0, 0.0078125).pass);
  // Every element fails atol but passes rtol (100 vs 100.25): the atol count alone does not fail.
  AccuracyReport r = AssertRtolEqual(Filled(DType::kFloat16, 1000, 100.25), Filled(DType::kFloat16, 1000, 100), 0.005,
                                     0.005);
  EXPECT_TRUE(r.pass) << r.ToString();
  EXPECT_EQ(r.failing, 0);
  // Every element fails rtol but passes atol (0.001 vs 0.003).
  r = AssertRtolEqual(Filled(DType::kFloat16, 1000, 0.003), Filled(DType::kFloat16, 1000, 0.001), 0.005, 0.005);
  EXPECT_TRUE(r.pass) << r.ToString();
  // Six elements fail only atol, six others only rtol: each element passes one check, but both
  // counts exceed the budget of 5, and torch_npu fails the test.
  HostTensor golden = Filled(DType::kFloat16, 1000, 1.0);
  HostTensor actual = golden;
  for (int i = 0; i < 6; ++i) {
    golden.set(i, 100);
    actual.set(i, 100.25);
    golden.set(500 + i, 0.001);
    actual.set(500 + i, 0.003);
  }
  r = AssertRtolEqual(actual, golden, 0.005, 0.005);
  EXPECT_FALSE(r.pass) << r.ToString();
  EXPECT_EQ(r.failing, 6);
}

TEST(AccuracyTest, AssertRtolEqualUsesPrecForFp32AndAllCloseForBf16) {
  // fp32 uses prec (not prec16): 1000 elements at prec 2^-7 give a budget of 7.8125.
  const HostTensor golden = Filled(DType::kFloat32, 1000, 1.0);
  HostTensor actual = golden;
  for (int i = 0; i < 7; ++i) actual.set(i, 3.0);
  EXPECT_TRUE(AssertRtolEqual(actual, golden, 0.0078125, 0.0).pass);
  actual.set(7, 3.0);
  EXPECT_FALSE(AssertRtolEqual(actual, golden, 0.0078125, 0.5).pass);
  // bf16: allclose(prec16, prec16), so a single element out of 1000 fails.
  const HostTensor golden16 = Filled(DType::kBFloat16, 1000, 1.0);
  HostTensor actual16 = golden16;
  actual16.set(3, 1.015625);  // allowed 2^-7 + 2^-7 * 1: exactly at the bound
  AccuracyReport r = AssertRtolEqual(actual16, golden16, 0.0, 0.0078125);
  EXPECT_TRUE(r.pass) << r.ToString();
  EXPECT_NE(r.rule.find("bfloat16: torch.allclose(rtol=0.0078125, atol=0.0078125)"), std::string::npos) << r.rule;
  actual16.set(3, 1.0234375);
  r = AssertRtolEqual(actual16, golden16, 0.0, 0.0078125);
  EXPECT_FALSE(r.pass);
  EXPECT_EQ(r.failing, 1);
  // The same data judged as fp16 would pass: one outlier is inside the fp16 budget.
  EXPECT_TRUE(AssertRtolEqual(actual16, golden16, 0.0, 0.0078125, DType::kFloat16).pass);
}

TEST(AccuracyTest, RefCompareBoundaryPerDType) {
  EXPECT_EQ(RefCompareErr(DType::kBFloat16), std::ldexp(1.0, -7));
  EXPECT_EQ(RefCompareErr(DType::kFloat16), std::ldexp(1.0, -8));
  EXPECT_EQ(RefCompareErr(DType::kFloat32), std::ldexp(1.0, -11));
  const double err = RefCompareErr(DType::kFloat16);
  // |g| < 1: the bound is err itself; |g| > 1: err * |g|.
  const HostTensor golden = Make(DType::kFloat64, {0.5, 4, -4});
  EXPECT_TRUE(RefCompare(Make(DType::kFloat64, {0.5 + err, 4 + 4 * err, -4 - 4 * err}), golden, err).pass);
  for (int i = 0; i < 3; ++i) {
    std::vector<double> v = {0.5 + err, 4 + 4 * err, -4 - 4 * err};
    v[i] = std::nextafter(v[i], v[i] > 0 ? kInf : -kInf);
    const AccuracyReport r = RefCompare(Make(DType::kFloat64, v), golden, err);
    EXPECT_FALSE(r.pass) << i;
    EXPECT_EQ(r.failing, 1);
    EXPECT_EQ(r.worst_index, i);
  }
  EXPECT_FALSE(RefCompare(Make(DType::kFloat32, {kNan}), Make(DType::kFloat32, {1}), err).pass);
  EXPECT_FALSE(RefCompare(Make(DType::kFloat32, {kInf}), Make(DType::kFloat32, {kInf}), err).pass);  // inf-inf: NaN
}

// golden all 1, the low-precision golden off by `low_err` everywhere, the actual by `act_err`.
struct CvCase {
  HostTensor golden, low, actual;
};
CvCase MakeCv(int64_t n, double low_err, double act_err) {
  return {Filled(DType::kFloat64, n, 1.0), Filled(DType::kFloat64, n, 1.0 + low_err),
          Filled(DType::kFloat64, n, 1.0 + act_err)};
}

TEST(AccuracyTest, CompareCvMereAndRmseRatioBoundIsTwo) {
  const double e = std::ldexp(1.0, -6);  // above the bf16 threshold 2^-8, so the low golden's error counts
  CvCase c = MakeCv(64, e, e);
  AccuracyReport r = CompareCv(c.actual, c.golden, c.low, DType::kBFloat16);
  EXPECT_TRUE(r.pass) << r.ToString();
  c = MakeCv(64, e, 2 * e);  // MERE and RMSE ratios exactly 2: not < 2
  r = CompareCv(c.actual, c.golden, c.low, DType::kBFloat16);
  EXPECT_FALSE(r.pass) << r.ToString();
  EXPECT_NE(r.detail.find("MERE ratio 2 "), std::string::npos) << r.detail;
  EXPECT_NE(r.detail.find("RMSE ratio 2 "), std::string::npos) << r.detail;
  c = MakeCv(64, e, 2 * e - std::ldexp(1.0, -20));
  EXPECT_TRUE(CompareCv(c.actual, c.golden, c.low, DType::kBFloat16).pass);
  // The actual's errors may have either sign: only magnitudes count.
  c = MakeCv(64, e, -1.5 * e);
  EXPECT_TRUE(CompareCv(c.actual, c.golden, c.low, DType::kBFloat16).pass);
}

TEST(AccuracyTest, CompareCvMareRatioBoundIsTen) {
  const double e = std::ldexp(1.0, -6);
  // 100 elements: the actual is exact but for one element a hair over 10x the low golden's error
  // there (10 is not a power of two, so exactly 10x may round either way).
  CvCase c = MakeCv(100, e, 0);
  c.actual.set(42, 1.0 + 10 * e + std::ldexp(1.0, -30));
  AccuracyReport r = CompareCv(c.actual, c.golden, c.low, DType::kBFloat16);
  EXPECT_FALSE(r.pass) << r.ToString();
  EXPECT_NE(r.detail.find("MARE ratio 10 "), std::string::npos) << r.detail;
  EXPECT_EQ(r.failing, 1);
  EXPECT_EQ(r.worst_index, 42);
  c.actual.set(42, 1.0 + 10 * e - std::ldexp(1.0, -20));
  r = CompareCv(c.actual, c.golden, c.low, DType::kBFloat16);
  EXPECT_TRUE(r.pass) << r.ToString();
  EXPECT_EQ(r.failing, 0);
}

TEST(AccuracyTest, CompareCvThresholdFloorsAnExactLowGolden) {
  EXPECT_EQ(CompareCvThreshold(DType::kBFloat16), std::ldexp(1.0, -8));
  EXPECT_EQ(CompareCvThreshold(DType::kFloat16), std::ldexp(1.0, -11));
  EXPECT_EQ(CompareCvThreshold(DType::kFloat32), std::ldexp(1.0, -14));
  // The low golden equals the golden, so its errors are 0 and the threshold t stands in for them.
  const double t = CompareCvThreshold(DType::kFloat16);
  CvCase c = MakeCv(32, 0, t);  // ratios ~1
  EXPECT_TRUE(CompareCv(c.actual, c.golden, c.low, DType::kFloat16).pass);
  c = MakeCv(32, 0, 3 * t);  // MERE ratio ~3
  EXPECT_FALSE(CompareCv(c.actual, c.golden, c.low, DType::kFloat16).pass);
  // The same 3t error is fine for bf16, whose threshold is 8x larger.
  EXPECT_TRUE(CompareCv(c.actual, c.golden, c.low, DType::kBFloat16).pass);
}

TEST(AccuracyTest, CompareCvErrorBalanceOnlyWhenAsked) {
  EXPECT_EQ(ErrorBalanceThreshold(DType::kBFloat16), std::ldexp(1.0, -7));
  EXPECT_EQ(ErrorBalanceThreshold(DType::kFloat16), std::ldexp(1.0, -10));
  EXPECT_EQ(ErrorBalanceThreshold(DType::kFloat32), std::ldexp(1.0, -14));
  // The low golden errs by +-2^-5 alternately; the actual is the low golden shifted up by 2^-6:
  // the magnitudes stay comparable (ratios ~1) but the actual is biased, EB ~ 2^-6 > 2^-7.
  const double e = std::ldexp(1.0, -5);
  HostTensor golden = Filled(DType::kFloat64, 64, 1.0), low = golden, actual = golden;
  for (int64_t i = 0; i < 64; ++i) {
    low.set(i, 1.0 + (i % 2 ? e : -e));
    actual.set(i, low.at(i) + e / 2);
  }
  AccuracyReport r = CompareCv(actual, golden, low, DType::kBFloat16);
  EXPECT_TRUE(r.pass) << r.ToString();
  EXPECT_NE(r.detail.find("(logged, <0.0078125, over)"), std::string::npos) << r.detail;
  r = CompareCv(actual, golden, low, DType::kBFloat16, /*check_error_balance=*/true);
  EXPECT_FALSE(r.pass) << r.ToString();
  // A negative bias passes ATB's one-sided EB test.
  for (int64_t i = 0; i < 64; ++i) actual.set(i, low.at(i) - e / 2);
  EXPECT_TRUE(CompareCv(actual, golden, low, DType::kBFloat16, true).pass);
}

TEST(AccuracyTest, CompareCvNanFails) {
  CvCase c = MakeCv(8, 0, 0);
  c.actual.set(3, kNan);
  const AccuracyReport r = CompareCv(c.actual, c.golden, c.low, DType::kFloat16);
  EXPECT_FALSE(r.pass);
  EXPECT_EQ(r.worst_index, 3);
}

TEST(AccuracyTest, ShapeMismatchAndEmptyTensors) {
  const HostTensor a(DType::kFloat32, Dims{2, 3});
  const HostTensor b(DType::kFloat32, Dims{3, 2});
  for (const AccuracyReport& r : {AllClose(a, b, 1, 1), AssertRtolEqual(a, b, 1, 1), RefCompare(a, b, 1),
                                  CompareCv(a, b, a, DType::kFloat32), CompareCv(a, a, b, DType::kFloat32)}) {
    EXPECT_FALSE(r.pass) << r.rule;
    EXPECT_NE(r.detail.find("shape mismatch"), std::string::npos) << r.detail;
  }
  const HostTensor e(DType::kFloat16, Dims{0, 4});
  for (const AccuracyReport& r :
       {AllClose(e, e, 0, 0), AssertRtolEqual(e, e, 0, 0), RefCompare(e, e, 0), CompareCv(e, e, e, DType::kFloat16)}) {
    EXPECT_TRUE(r.pass) << r.ToString();
    EXPECT_EQ(r.count, 0);
    EXPECT_EQ(r.worst_index, -1);
  }
}

TEST(AccuracyTest, DefaultRulesFollowTheUpstreamTests) {
  RuleSpec s = DefaultRule(AccuracyOp::kMatmulAllReduceAddRmsNorm, DType::kBFloat16);
  EXPECT_EQ(s.rule, AccuracyRule::kAllClose);
  EXPECT_EQ(s.rtol, 0.005);
  EXPECT_EQ(s.atol, 0.005);
  s = DefaultRule(AccuracyOp::kMatmulAllReduceAddRmsNorm, DType::kFloat16);
  EXPECT_EQ(s.rtol, 0.005);
  s = DefaultRule(AccuracyOp::kAlltoAllAllGatherBatchMatMul, DType::kFloat16);
  EXPECT_EQ(s.rule, AccuracyRule::kAllClose);
  EXPECT_EQ(s.rtol, 0.001);
  EXPECT_EQ(s.atol, 0.001);
  EXPECT_EQ(DefaultRule(AccuracyOp::kAlltoAllAllGatherBatchMatMul, DType::kBFloat16).atol, 0.005);
  EXPECT_EQ(DefaultRule(AccuracyOp::kAlltoAllAllGatherBatchMatMul, DType::kFloat32).atol, 0.002);
  s = DefaultRule(AccuracyOp::kLinearParallel, DType::kBFloat16);
  EXPECT_EQ(s.rule, AccuracyRule::kRefCompare);
  EXPECT_EQ(s.err, std::ldexp(1.0, -7));
  EXPECT_EQ(DefaultRule(AccuracyOp::kLinearParallel, DType::kFloat16).err, std::ldexp(1.0, -8));
  EXPECT_EQ(s.Name(), "ATB ref_compare(err=0.0078125)");

  // Check dispatches to the same functions.
  const HostTensor golden = Filled(DType::kFloat32, 4, 1.0);
  const HostTensor actual = Filled(DType::kFloat16, 4, 1.0078125);
  EXPECT_TRUE(Check(DefaultRule(AccuracyOp::kMatmulAllReduceAddRmsNorm, DType::kFloat16), actual, golden).pass);
  EXPECT_FALSE(Check(DefaultRule(AccuracyOp::kAlltoAllAllGatherBatchMatMul, DType::kFloat16), actual, golden).pass);
  EXPECT_FALSE(Check(DefaultRule(AccuracyOp::kLinearParallel, DType::kFloat16), actual, golden).pass);
  EXPECT_TRUE(Check(DefaultRule(AccuracyOp::kLinearParallel, DType::kBFloat16), actual, golden).pass);
  RuleSpec cv;
  cv.rule = AccuracyRule::kCompareCv;
  cv.dtype = DType::kBFloat16;
  const AccuracyReport missing = Check(cv, actual, golden);
  EXPECT_FALSE(missing.pass);
  EXPECT_NE(missing.detail.find("needs the low-precision golden"), std::string::npos);
  EXPECT_TRUE(Check(cv, actual, golden, &actual).pass);
  RuleSpec rtol;
  rtol.rule = AccuracyRule::kAssertRtolEqual;
  rtol.prec = rtol.prec16 = 0.005;
  rtol.dtype = DType::kFloat16;
  EXPECT_FALSE(Check(rtol, actual, golden).pass);
}

}  // namespace
}  // namespace mc2::reference
