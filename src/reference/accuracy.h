// Accuracy rules: the ways Huawei's own tests decide that an operator output matches its golden
// (spec section 5, with 2.5, 3.5 and 4.8), so that mc2 passes or fails a result exactly where the
// CANN test suites would, instead of with tolerances of our own.
//
//   AssertRtolEqual  torch_npu TestCase.assertRtolEqual(actual, golden, prec, prec16):
//                    fp16: per element, atol check |d| <= prec16 and rtol check
//                    |d| / (max(|a|, |g|) + 6e-8) <= prec16; the test fails only if BOTH checks
//                    fail on more than size * prec16 elements (so with 0.005 up to 0.5 % outliers
//                    pass). Other dtypes the same with prec and 1e-9; bf16: AllClose(prec16, prec16)
//                    as the spec records (numpy has no bf16, torch_npu compares it with allclose).
//   AllClose         torch.allclose(actual, golden, rtol, atol): every |a - g| <= atol + rtol |g|,
//                    equal values (also equal infinities) are close, NaN never is.
//   RefCompare       ATB single-golden ref_compare: every |a - g| <= err * max(1, |g|), err per
//                    dtype from RefCompareErr: 2^-7 bf16, 2^-8 fp16, 2^-11 fp32.
//   CompareCv        ATB dual-golden compare_cv ("CV fusion" standard): with golden the fp32/exact
//                    reference and low the same computation in the low-precision dtype,
//                    MARE = max |x - g| / (|g| + 1e-7), MERE = mean of it, RMSE; passes iff
//                    MARE(a) / max(MARE(low), t) < 10, MERE(a) / max(MERE(low), t) < 2 and
//                    RMSE(a) / max(RMSE(low), t) < 2, t = 2^-8 bf16, 2^-11 fp16, 2^-14 fp32.
//                    The error balance EB = mean((a - low) / max(1, |low|)) is reported; some ATB
//                    versions also require EB < 2^-7 / 2^-10 / 2^-14, the spec's table logs it only,
//                    so it joins the verdict only when asked.
//
// Every value is read as double and every comparison is done in double. Huawei's scripts compute
// in the tensor's dtype (numpy fp16) or fp32 (ATB); that can only change a verdict for an element
// within one rounding of its threshold. Tensors of any dtype may be compared (a golden is usually
// float32/float64, the actual fp16/bf16); the rule's dtype says which thresholds apply.
//
// Every function returns an AccuracyReport with the verdict and the same statistics, whatever the
// rule, so reports of different rules read alike. Empty tensors pass with zero statistics; tensors
// whose element counts differ fail with the reason in `detail`.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "core/dtype.h"
#include "core/tensor.h"

namespace mc2::reference {

// Relative errors are |a - g| / (|g| + kRelErrFloor), ATB's MIN_ERR.
inline constexpr double kRelErrFloor = 1e-7;

struct AccuracyReport {
  bool pass = false;
  std::string rule;  // e.g. "torch.allclose(rtol=0.005, atol=0.005)"
  int64_t count = 0;  // elements compared
  // Elements that fail the rule's per-element test. AssertRtolEqual: the smaller of its atol- and
  // rtol-failure counts (the rule fails iff it exceeds size * prec). CompareCv: elements whose
  // relative error alone breaks the MARE bound.
  int64_t failing = 0;
  // The element furthest outside its tolerance (largest error / allowed error; for CompareCv the
  // largest relative error); -1 when nothing was compared.
  int64_t worst_index = -1;
  double worst_actual = 0;
  double worst_golden = 0;
  std::string worst_position;  // index of the worst element, e.g. "(3, 17)"
  double max_abs_error = 0;   // max |a - g|
  double max_rel_error = 0;   // max |a - g| / (|g| + 1e-7)  (MARE)
  double mean_rel_error = 0;  // mean of the same            (MERE)
  double rmse = 0;            // sqrt(mean (a - g)^2)
  std::string detail;         // rule-specific numbers: outlier budget, ratios, EB, or why it failed

  // One line: "<rule>: PASS|FAIL, <failing> of <count> elements fail; worst (i, j): ...; max abs ..."
  std::string ToString() const;
};

AccuracyReport AssertRtolEqual(const HostTensor& actual, const HostTensor& golden, double prec, double prec16,
                               std::optional<DType> dtype = std::nullopt);  // default: actual's dtype

AccuracyReport AllClose(const HostTensor& actual, const HostTensor& golden, double rtol, double atol);

// err 2^-7 for bf16, 2^-8 for fp16, 2^-11 for fp32 and float64 (ATB's COMPUTE_FLOAT thresholds).
double RefCompareErr(DType dtype);
AccuracyReport RefCompare(const HostTensor& actual, const HostTensor& golden, double err);

// t of the CV-fusion ratios: 2^-8 bf16, 2^-11 fp16, 2^-14 fp32 and float64.
double CompareCvThreshold(DType dtype);
// EB threshold: 2^-7 bf16, 2^-10 fp16, 2^-14 fp32 and float64.
double ErrorBalanceThreshold(DType dtype);
AccuracyReport CompareCv(const HostTensor& actual, const HostTensor& golden, const HostTensor& low_precision_golden,
                         DType dtype, bool check_error_balance = false);

// "(i, j, ...)": the multi-index of flat element `flat` of a row-major tensor of `dims`.
std::string IndexString(const Dims& dims, int64_t flat);

// A rule with its parameters, so a test or the CLI can carry "how to judge this output" as data.
enum class AccuracyRule : uint8_t { kAssertRtolEqual, kAllClose, kRefCompare, kCompareCv };

struct RuleSpec {
  AccuracyRule rule = AccuracyRule::kAllClose;
  DType dtype = DType::kFloat16;  // the output dtype whose thresholds apply
  double rtol = 0, atol = 0;      // kAllClose
  double prec = 0, prec16 = 0;    // kAssertRtolEqual
  double err = 0;                 // kRefCompare
  bool check_error_balance = false;  // kCompareCv

  std::string Name() const;
};

// Applies `spec`. kCompareCv needs `low_precision_golden`; without it the report fails and says so.
AccuracyReport Check(const RuleSpec& spec, const HostTensor& actual, const HostTensor& golden,
                     const HostTensor* low_precision_golden = nullptr);

enum class AccuracyOp : uint8_t {
  kMatmulAllReduceAddRmsNorm,     // aclnn(Inplace)WeightQuantMatmulAllReduceAddRmsNorm, y and normOut
  kAlltoAllAllGatherBatchMatMul,  // aclnnAlltoAllAllGatherBatchMatMul, y1 (and y2, y3)
  kLinearParallel,                // atb::infer::LinearParallelOperation
};

// The rule the spec's upstream tests apply to an operator's output of `dtype`:
//   ARN:            AllClose(rtol 0.005, atol 0.005), every dtype (MindSpeed test).
//   AlltoAll..BMM:  AllClose(0.001, 0.001) fp16, (0.005, 0.005) bf16, (0.002, 0.002) others.
//   LinearParallel: RefCompare(RefCompareErr(dtype)). ATB's float LinearParallel tests use
//                   CompareCv, which needs a second, low-precision golden a single-golden caller
//                   does not have; RefCompare is ATB's single-golden rule with the same per-dtype
//                   thresholds family and is what its W8A8 test applies. Tests that build the
//                   low-precision golden call CompareCv directly.
RuleSpec DefaultRule(AccuracyOp op, DType dtype);

}  // namespace mc2::reference
