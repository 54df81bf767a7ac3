// The accuracy rules of accuracy.h. One pass over the elements (Evaluate) gathers the statistics
// every report carries and asks a rule-specific judge about each element; the rules differ only in
// the judge and in how the per-element outcomes become a verdict (all must pass, an outlier budget,
// or ratios against a second golden).
#include "reference/accuracy.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <utility>

#include "core/status.h"

namespace mc2::reference {
namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();

// numpy minimums of assertRtolEqual's rtol denominators.
constexpr double kRtolMinimum16 = 6e-8;
constexpr double kRtolMinimum = 1e-9;

// CompareCv bounds: MARE ratio < 10, MERE and RMSE ratios < 2.
constexpr double kMareRatioBound = 10.0;
constexpr double kMereRatioBound = 2.0;
constexpr double kRmseRatioBound = 2.0;

struct Judgement {
  bool ok;
  double ratio;  // error / allowed error; >= 1 (or infinity) when !ok
};

// How far an element is from its bound. Failing elements whose ratio is not a number >= 1 (NaN,
// infinities, a zero bound) rank as infinitely bad, so they are reported as the worst.
double Ratio(bool ok, double err, double allowed) {
  if (ok) return (allowed > 0 && std::isfinite(err) && std::isfinite(allowed)) ? err / allowed : 0.0;
  const double r = err / allowed;
  return (std::isfinite(r) && r >= 1.0) ? r : kInf;
}

// NaN, once seen, stays the maximum.
void UpdateMax(double* max, double v) {
  if (std::isnan(*max)) return;
  if (std::isnan(v) || v > *max) *max = v;
}


// Statistics of `actual` against `golden` into `report`, with `judge(a, g)` deciding each element;
// report.failing counts the elements the judge rejects and report.pass is "none rejected".
template <typename Judge>
AccuracyReport Evaluate(std::string rule, const HostTensor& actual, const HostTensor& golden, Judge judge) {
  AccuracyReport r;
  r.rule = std::move(rule);
  if (actual.dims() != golden.dims()) {
    r.detail = StrCat("shape mismatch: actual ", actual.dims().ToString(), " vs golden ", golden.dims().ToString());
    return r;
  }
  const int64_t n = actual.numel();
  r.count = n;
  double sum_rel = 0, sum_sq = 0, worst_ratio = -1;
  for (int64_t i = 0; i < n; ++i) {
    const double a = actual.at(i), g = golden.at(i);
    const double d = a == g ? 0.0 : a - g;  // equal infinities differ by 0, not NaN
    const double abs_err = std::fabs(d);
    const double rel_err = abs_err / (std::fabs(g) + kRelErrFloor);
    UpdateMax(&r.max_abs_error, abs_err);
    UpdateMax(&r.max_rel_error, rel_err);
    sum_rel += rel_err;
    sum_sq += d * d;
    const Judgement j = judge(a, g);
    if (!j.ok) ++r.failing;
    if (j.ratio > worst_ratio) {
      worst_ratio = j.ratio;
      r.worst_index = i;
      r.worst_actual = a;
      r.worst_golden = g;
      r.worst_position = IndexString(golden.dims(), i);
    }
  }
  if (n > 0) {
    r.mean_rel_error = sum_rel / static_cast<double>(n);
    r.rmse = std::sqrt(sum_sq / static_cast<double>(n));
  }
  r.pass = r.failing == 0;
  return r;
}

// assertRtolEqual's compare_res for one precision and rtol-denominator minimum.
AccuracyReport CompareRes(std::string rule, const HostTensor& actual, const HostTensor& golden, double pre,
                          double minimum) {
  int64_t atol_failures = 0, rtol_failures = 0;
  AccuracyReport r = Evaluate(std::move(rule), actual, golden, [&](double a, double g) {
    const double diff = std::fabs(g - a);
    const double rel = diff / (std::max(std::fabs(a), std::fabs(g)) + minimum);
    const bool atol_ok = diff <= pre;
    const bool rtol_ok = rel <= pre;
    atol_failures += atol_ok ? 0 : 1;
    rtol_failures += rtol_ok ? 0 : 1;
    const bool ok = atol_ok || rtol_ok;
    return Judgement{ok, Ratio(ok, std::min(diff, rel), pre)};
  });
  if (!r.detail.empty()) return r;  // shape mismatch
  const double budget = static_cast<double>(r.count) * pre;
  // Fails only if both checks fail on more than size * pre elements.
  r.failing = std::min(atol_failures, rtol_failures);
  r.pass = !(static_cast<double>(atol_failures) > budget && static_cast<double>(rtol_failures) > budget);
  r.detail = StrCat("atol failures ", atol_failures, ", rtol failures ", rtol_failures, ", outlier budget ", budget,
                    " (size * ", pre, ")");
  return r;
}

}  // namespace

std::string IndexString(const Dims& dims, int64_t flat) {
  Dims idx;
  idx.resize(dims.size());
  for (int d = dims.size() - 1; d >= 0; --d) {
    idx[d] = dims[d] > 0 ? flat % dims[d] : 0;
    flat = dims[d] > 0 ? flat / dims[d] : 0;
  }
  return idx.ToString();
}

std::string AccuracyReport::ToString() const {
  std::string s = StrCat(rule, ": ", pass ? "PASS" : "FAIL", ", ", failing, " of ", count, " elements fail");
  if (worst_index >= 0) {
    s += StrCat("; worst ", worst_position, ": actual ", worst_actual, " golden ", worst_golden);
  }
  s += StrCat("; max abs err ", max_abs_error, ", max rel err ", max_rel_error, ", mean rel err ", mean_rel_error,
              ", RMSE ", rmse);
  if (!detail.empty()) s += "; " + detail;
  return s;
}

AccuracyReport AllClose(const HostTensor& actual, const HostTensor& golden, double rtol, double atol) {
  return Evaluate(StrCat("torch.allclose(rtol=", rtol, ", atol=", atol, ")"), actual, golden,
                  [&](double a, double g) {
                    const double allowed = atol + rtol * std::fabs(g);
                    if (a == g) return Judgement{true, 0.0};
                    const double diff = std::fabs(a - g);
                    const bool ok = std::isfinite(a) && std::isfinite(g) && diff <= allowed;
                    return Judgement{ok, Ratio(ok, diff, allowed)};
                  });
}

AccuracyReport AssertRtolEqual(const HostTensor& actual, const HostTensor& golden, double prec, double prec16,
                               std::optional<DType> dtype) {
  const DType branch = dtype.value_or(actual.dtype());
  const std::string name = StrCat("assertRtolEqual(prec=", prec, ", prec16=", prec16, ")");
  if (branch == DType::kBFloat16) {
    AccuracyReport r = AllClose(actual, golden, prec16, prec16);
    r.rule = StrCat(name, " [bfloat16: ", r.rule, "]");
    return r;
  }
  if (branch == DType::kFloat16) return CompareRes(name + " [float16]", actual, golden, prec16, kRtolMinimum16);
  return CompareRes(StrCat(name, " [", DTypeName(branch), "]"), actual, golden, prec, kRtolMinimum);
}

double RefCompareErr(DType dtype) {
  switch (dtype) {
    case DType::kBFloat16:
      return std::ldexp(1.0, -7);
    case DType::kFloat16:
      return std::ldexp(1.0, -8);
    default:
      return std::ldexp(1.0, -11);
  }
}

AccuracyReport RefCompare(const HostTensor& actual, const HostTensor& golden, double err) {
  return Evaluate(StrCat("ATB ref_compare(err=", err, ")"), actual, golden, [&](double a, double g) {
    const double allowed = err * std::max(1.0, std::fabs(g));
    const double diff = std::fabs(a - g);
    const bool ok = diff <= allowed;
    return Judgement{ok, Ratio(ok, diff, allowed)};
  });
}

double CompareCvThreshold(DType dtype) {
  switch (dtype) {
    case DType::kBFloat16:
      return std::ldexp(1.0, -8);
    case DType::kFloat16:
      return std::ldexp(1.0, -11);
    default:
      return std::ldexp(1.0, -14);
  }
}

double ErrorBalanceThreshold(DType dtype) {
  switch (dtype) {
    case DType::kBFloat16:
      return std::ldexp(1.0, -7);
    case DType::kFloat16:
      return std::ldexp(1.0, -10);
    default:
      return std::ldexp(1.0, -14);
  }
}

AccuracyReport CompareCv(const HostTensor& actual, const HostTensor& golden, const HostTensor& low_precision_golden,
                         DType dtype, bool check_error_balance) {
  const std::string name = StrCat("ATB compare_cv(", DTypeName(dtype), check_error_balance ? ", with EB" : "", ")");
  const double t = CompareCvThreshold(dtype);
  const AccuracyReport low =
      Evaluate("", low_precision_golden, golden, [](double, double) { return Judgement{true, 0.0}; });
  if (!low.detail.empty()) {
    AccuracyReport r;
    r.rule = name;
    r.detail = "low-precision golden: " + low.detail;
    return r;
  }
  const double mare_low = std::max(low.max_rel_error, t);
  const double mare_bound = kMareRatioBound * mare_low;
  AccuracyReport r = Evaluate(name, actual, golden, [&](double a, double g) {
    const double rel = std::fabs(a == g ? 0.0 : a - g) / (std::fabs(g) + kRelErrFloor);
    const bool ok = rel < mare_bound;
    return Judgement{ok, Ratio(ok, rel, mare_bound)};
  });
  if (!r.detail.empty()) return r;  // shape mismatch

  const double mare_rate = r.max_rel_error / mare_low;
  const double mere_rate = r.mean_rel_error / std::max(low.mean_rel_error, t);
  const double rmse_rate = r.rmse / std::max(low.rmse, t);
  double eb_sum = 0;
  for (int64_t i = 0; i < r.count; ++i) {
    const double a = actual.at(i), l = low_precision_golden.at(i);
    eb_sum += (a == l ? 0.0 : a - l) / std::max(1.0, std::fabs(l));
  }
  const double eb = r.count > 0 ? eb_sum / static_cast<double>(r.count) : 0.0;
  const double eb_threshold = ErrorBalanceThreshold(dtype);
  const bool eb_ok = eb < eb_threshold;
  // A NaN rate (NaN in the actual) fails every "<".
  r.pass = mare_rate < kMareRatioBound && mere_rate < kMereRatioBound && rmse_rate < kRmseRatioBound &&
           (!check_error_balance || eb_ok);
  r.detail = StrCat("MARE ratio ", mare_rate, " (<10), MERE ratio ", mere_rate, " (<2), RMSE ratio ", rmse_rate,
                    " (<2), threshold ", t, "; low-precision golden MARE ", low.max_rel_error, " MERE ",
                    low.mean_rel_error, " RMSE ", low.rmse, "; EB ", eb, check_error_balance ? " (<" : " (logged, <",
                    eb_threshold, eb_ok ? ", ok)" : ", over)");
  return r;
}

std::string RuleSpec::Name() const {
  switch (rule) {
    case AccuracyRule::kAssertRtolEqual:
      return StrCat("assertRtolEqual(prec=", prec, ", prec16=", prec16, ") for ", DTypeName(dtype));
    case AccuracyRule::kAllClose:
      return StrCat("torch.allclose(rtol=", rtol, ", atol=", atol, ")");
    case AccuracyRule::kRefCompare:
      return StrCat("ATB ref_compare(err=", err, ")");
    case AccuracyRule::kCompareCv:
      return StrCat("ATB compare_cv(", DTypeName(dtype), check_error_balance ? ", with EB" : "", ")");
  }
  return "unknown rule";
}

AccuracyReport Check(const RuleSpec& spec, const HostTensor& actual, const HostTensor& golden,
                     const HostTensor* low_precision_golden) {
  switch (spec.rule) {
    case AccuracyRule::kAssertRtolEqual:
      return AssertRtolEqual(actual, golden, spec.prec, spec.prec16, spec.dtype);
    case AccuracyRule::kAllClose:
      return AllClose(actual, golden, spec.rtol, spec.atol);
    case AccuracyRule::kRefCompare:
      return RefCompare(actual, golden, spec.err);
    case AccuracyRule::kCompareCv:
      if (low_precision_golden == nullptr) {
        AccuracyReport r;
        r.rule = spec.Name();
        r.detail = "compare_cv needs the low-precision golden, none was given";
        return r;
      }
      return CompareCv(actual, golden, *low_precision_golden, spec.dtype, spec.check_error_balance);
  }
  AccuracyReport r;
  r.rule = spec.Name();
  r.detail = "unknown rule";
  return r;
}

RuleSpec DefaultRule(AccuracyOp op, DType dtype) {
  RuleSpec spec;
  spec.dtype = dtype;
  switch (op) {
    case AccuracyOp::kMatmulAllReduceAddRmsNorm:
      spec.rule = AccuracyRule::kAllClose;
      spec.rtol = spec.atol = 0.005;
      break;
    case AccuracyOp::kAlltoAllAllGatherBatchMatMul:
      spec.rule = AccuracyRule::kAllClose;
      spec.rtol = spec.atol = dtype == DType::kFloat16 ? 0.001 : (dtype == DType::kBFloat16 ? 0.005 : 0.002);
      break;
    case AccuracyOp::kLinearParallel:
      spec.rule = AccuracyRule::kRefCompare;
      spec.err = RefCompareErr(dtype);
      break;
  }
  return spec;
}

}  // namespace mc2::reference
