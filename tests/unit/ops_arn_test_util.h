// Shared by the ArnOp tests (ranks as threads, as forked processes, under mpirun): run one rank of
// a reference case through ArnOp, and judge the outputs against the golden model.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "comm/communicator.h"
#include "core/thread_pool.h"
#include "ops/arn/arn_op.h"
#include "reference/accuracy.h"
#include "reference/arn.h"
#include "reference/cases.h"

namespace mc2::ops::testing {

struct RankResult {
  Status status;
  HostTensor y;
  HostTensor norm_out;
  ArnAlgorithm algorithm = ArnAlgorithm::kAuto;
  bool repeat_identical = true;  // every repeat gave the same bits as the first
};

// Rank comm->rank() (0 without comm) of `c`: Create, then Execute `repeats` times. Inplace: y is a
// copy of residual that is passed as both residual and y.
inline RankResult RunArnRank(const reference::ArnCase& c, comm::Communicator* comm, ThreadPool* pool,
                             const ArnOptions& options, bool inplace, int repeats = 1) {
  RankResult res;
  const int rank = comm != nullptr ? comm->rank() : 0;
  ArnTensors t;
  t.in = c.ranks[static_cast<size_t>(rank)];
  const TensorView residual = t.in.residual;
  HostTensor residual_copy = HostTensor::FromView(residual);
  res.y = HostTensor(residual.dtype, residual.dims);
  res.norm_out = HostTensor(residual.dtype, residual.dims);
  t.norm_out = res.norm_out.view();
  t.y = inplace ? residual_copy.view() : res.y.view();
  if (inplace) t.in.residual = t.y;
  auto op = ArnOp::Create(t, c.attrs, OpContext{comm, pool}, options);
  if (!op.ok()) {
    res.status = op.status();
    return res;
  }
  res.algorithm = (*op)->schedule().algorithm;
  std::vector<uint8_t> workspace((*op)->workspace_bytes() + 1);
  HostTensor first_y, first_norm;
  for (int i = 0; i < repeats; ++i) {
    if (inplace) {
      std::memcpy(residual_copy.data(), HostTensor::FromView(residual).data(), residual_copy.bytes());
    }
    // +1: a workspace pointer that is not 64-byte aligned must work too.
    res.status = (*op)->Execute(t, workspace.data() + 1, (*op)->workspace_bytes());
    if (!res.status.ok()) return res;
    const HostTensor& y_now = inplace ? residual_copy : res.y;
    if (i == 0) {
      first_y = HostTensor::FromView(y_now.view());
      first_norm = HostTensor::FromView(res.norm_out.view());
    } else if (std::memcmp(first_y.data(), y_now.data(), first_y.bytes()) != 0 ||
               std::memcmp(first_norm.data(), res.norm_out.data(), first_norm.bytes()) != 0) {
      res.repeat_identical = false;
    }
  }
  if (inplace) res.y = HostTensor::FromView(residual_copy.view());
  return res;
}

// Elements the spec's rule let pass only through the outlier allowance below (all tests).
inline int64_t& AcceptedOutliers() {
  static int64_t count = 0;
  return count;
}

// "" when `got` passes the operator's Huawei rule against `want` (reference::DefaultRule:
// allclose(0.005, 0.005)), or else passes it with outliers that the precision analysis allows:
// the kernels accumulate x1 @ W in fp32 (as the device's cube does) while the golden sums exactly,
// so a product P_r can round one ulp away from the golden's; that moves y by at most one ulp and
// normOut by at most two. For bf16 two ulps (2^-6 at magnitude 1) exceed allclose's 0.005 + 0.005|g|,
// so such elements are accepted when they are within 2 ulps of the dtype at |golden| and at most
// 0.5 % of the elements (the outlier budget of op-plugin's assertRtolEqual, spec 2.5). Anything
// else fails. `max_abs` receives the largest absolute error, `differing` the count of elements
// that are not bitwise equal.
inline std::string JudgeArn(const HostTensor& got, const HostTensor& want, double* max_abs, int64_t* differing) {
  const reference::RuleSpec rule =
      reference::DefaultRule(reference::AccuracyOp::kMatmulAllReduceAddRmsNorm, want.dtype());
  const reference::AccuracyReport rep = reference::Check(rule, got, want);
  if (max_abs != nullptr && rep.max_abs_error > *max_abs) *max_abs = rep.max_abs_error;
  if (differing != nullptr) {
    const auto* a = static_cast<const uint16_t*>(got.data());
    const auto* b = static_cast<const uint16_t*>(want.data());
    for (int64_t i = 0; i < got.numel(); ++i) *differing += a[i] != b[i];
  }
  if (rep.pass) return "";
  const int mantissa_bits = want.dtype() == DType::kBFloat16 ? 8 : 11;
  int64_t outliers = 0;
  for (int64_t i = 0; i < got.numel(); ++i) {
    const double g = want.at(i), a = got.at(i), d = std::fabs(a - g);
    if (d <= rule.atol + rule.rtol * std::fabs(g)) continue;
    const double ulp = std::ldexp(1.0, std::ilogb(std::max(std::fabs(g), 1e-30)) - (mantissa_bits - 1));
    if (d > 2 * ulp) return rep.ToString();
    ++outliers;
  }
  if (outliers * 200 > got.numel()) return StrCat(rep.ToString(), " (", outliers, " outliers over the 0.5 % budget)");
  AcceptedOutliers() += outliers;
  return "";
}

}  // namespace mc2::ops::testing
