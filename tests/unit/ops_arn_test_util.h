// Shared by the ArnOp tests (ranks as threads, as forked processes, under mpirun): run one rank of
// a reference case through ArnOp, and judge the outputs against the golden model.
#pragma once

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

// "" when `got` passes the operator's Huawei rule against `want`; else the report. `max_abs`
// receives the largest absolute error, `differing` the number of elements not bitwise equal.
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
  return rep.pass ? "" : rep.ToString();
}

}  // namespace mc2::ops::testing
