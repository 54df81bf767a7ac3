// The one judge of a LinearParallel rank's output against the golden model, shared by every suite
// that runs the operator (threads, processes, mpirun, the ATB API, the soak) so that they cannot
// drift apart. Depends on the golden model and core only, so the API tests can use it too.
//
// An output passes when it passes ATB's ref_compare (reference/accuracy.h: every
// |a - g| <= err * max(1, |g|)), or else, for the types that sum per-rank products
// (LINEAR_ALL_REDUCE, LINEAR_REDUCE_SCATTER), when every element is within an explained bound:
// each rank rounds its product P_r to the output dtype before the sum while the golden sums
// exactly, and the kernels' fp32 accumulation may round P_r one ulp away from the golden's float64
// one, so an element may differ by one ulp of |P_r| per rank (P_r from the golden's PURE_LINEAR on
// the same inputs) plus one ulp of the element itself. ref_compare alone cannot allow that where
// the sum is small and the partials are large: a 120 s soak found a bf16 W8A16 reduce-scatter
// element 0.0156 (one ulp of a partial in [2, 4)) from a golden below 1, where ref_compare allows
// 2^-7. Nothing else is forgiven: a wrong value, a wrong rank's block or wrong dims fail.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "core/status.h"
#include "core/tensor.h"
#include "reference/accuracy.h"
#include "reference/cases.h"
#include "reference/linear_parallel.h"

namespace mc2::testing {

// One ulp of `v` in fp16 (11 significant bits, subnormal spacing 2^-24 below) or bf16 (8 bits).
inline double LpUlp(double v, DType dtype) {
  if (!std::isfinite(v)) return HUGE_VAL;  // ilogb of NaN / inf is not a binade
  const int mantissa_bits = dtype == DType::kBFloat16 ? 8 : dtype == DType::kFloat16 ? 11 : 24;
  double ulp = std::ldexp(1.0, std::ilogb(std::max(std::fabs(v), 1e-30)) - (mantissa_bits - 1));
  if (dtype == DType::kFloat16) ulp = std::max(ulp, std::ldexp(1.0, -24));
  return ulp;
}

// "" when rank `rank`'s output `got` of case `c` passes (see the top of this file) against the
// golden's `want`; else what fails. `max_abs` / `max_rel` (either may be null) get the largest
// |a - g| and |a - g| / max(1, |g|) seen.
inline std::string JudgeLp(const reference::LinearParallelCase& c, int rank, const HostTensor& got,
                           const HostTensor& want, double* max_abs, double* max_rel) {
  if (got.dims() != want.dims()) return "dims differ: " + got.dims().ToString() + " vs " + want.dims().ToString();
  const DType dt = want.dtype();
  const reference::RuleSpec rule = reference::DefaultRule(reference::AccuracyOp::kLinearParallel, dt);
  const reference::AccuracyReport rep = reference::Check(rule, got, want);
  if (max_abs != nullptr) *max_abs = std::max(*max_abs, rep.max_abs_error);
  const TensorView a = got.view(), g = want.view();
  if (max_rel != nullptr) {
    for (int64_t i = 0; i < got.numel(); ++i) {
      const double gv = g.LoadFlat(i);
      *max_rel = std::max(*max_rel, std::fabs(a.LoadFlat(i) - gv) / std::max(1.0, std::fabs(gv)));
    }
  }
  if (rep.pass) return "";
  using Type = LinearParallelType;
  if (c.attrs.type != Type::kLinearAllReduce && c.attrs.type != Type::kLinearReduceScatter) return rep.ToString();

  LinearParallelAttrs attrs = c.attrs;
  attrs.type = Type::kPureLinear;
  attrs.has_residual = false;
  attrs.keep_intermediate = false;
  std::vector<LinearParallelInputs> ranks = c.ranks;
  for (LinearParallelInputs& in : ranks) in.residual.reset();
  auto products = reference::LinearParallel(ranks, attrs, reference::Mode::kCann);
  if (!products.ok()) return rep.ToString() + "; per-rank products: " + products.status().ToString();
  const int64_t count = want.numel();
  // Rank r of LINEAR_REDUCE_SCATTER owns elements [r * count, (r + 1) * count) of the sum.
  const int64_t offset = c.attrs.type == Type::kLinearReduceScatter ? rank * count : 0;
  for (const reference::LinearParallelOutputs& p : *products) {
    if (p.output.numel() < offset + count) {
      return StrCat(rep.ToString(), "; a per-rank product has ", p.output.numel(), " elements, fewer than ",
                    offset + count);
    }
  }
  for (int64_t e = 0; e < count; ++e) {
    const double gv = g.LoadFlat(e), av = a.LoadFlat(e);
    const double d = std::fabs(av - gv);
    if (d <= rule.err * std::max(1.0, std::fabs(gv))) continue;
    double bound = LpUlp(gv, dt);
    for (const reference::LinearParallelOutputs& p : *products) bound += LpUlp(p.output.view().LoadFlat(offset + e), dt);
    if (!(d <= bound)) {  // NaN fails too
      return StrCat(rep.ToString(), "; element ", e, " = ", av, " vs golden ", gv,
                    " beyond the per-rank rounding bound ", bound);
    }
  }
  return "";
}

}  // namespace mc2::testing
