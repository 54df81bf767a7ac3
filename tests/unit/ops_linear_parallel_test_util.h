// Shared by the LinearParallelOp tests (ranks as threads, forked processes, under mpirun): run one
// rank of a reference case through the operator and judge its outputs against the golden model.
#pragma once

#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "comm/communicator.h"
#include "core/thread_pool.h"
#include "ops/linear_parallel/lp_op.h"
#include "reference/accuracy.h"
#include "reference/cases.h"
#include "reference/linear_parallel.h"

namespace mc2::ops::testing {

struct LpRankResult {
  Status status;
  HostTensor output;
  HostTensor intermediate;
  LpAlgorithm algorithm = LpAlgorithm::kAuto;
  bool repeat_identical = true;
};

// Rank comm->rank() of `c`: Create, then Execute `repeats` times (+1-byte-misaligned workspace).
inline LpRankResult RunLpRank(const reference::LinearParallelCase& c, comm::Communicator* comm, ThreadPool* pool,
                              const LpOptions& options, int repeats = 1) {
  LpRankResult res;
  const int rank = comm != nullptr ? comm->rank() : 0;
  const int world = comm != nullptr ? comm->world_size() : 1;
  LinearParallelTensors t;
  t.in = c.ranks[static_cast<size_t>(rank)];
  StatusOr<LpShapeInfo> info = InferLinearParallelShape(t.in, c.attrs, world);
  const DType out_dtype = info.ok() ? info->out_dtype : DType::kFloat16;
  const Dims out_dims = info.ok() ? info->out_dims : t.in.input.dims;
  res.output = HostTensor(out_dtype, out_dims);
  t.output = res.output.view();
  if (c.attrs.keep_intermediate) {
    res.intermediate = HostTensor(t.in.input.dtype, info.ok() ? info->intermediate_dims : t.in.input.dims);
    t.intermediate = res.intermediate.view();
  }
  auto op = LinearParallelOp::Create(t, c.attrs, OpContext{comm, pool}, options);
  if (!op.ok()) {
    res.status = op.status();
    return res;
  }
  res.algorithm = (*op)->schedule().algorithm;
  std::vector<uint8_t> workspace((*op)->workspace_bytes() + 1);
  HostTensor first;
  for (int i = 0; i < repeats; ++i) {
    res.status = (*op)->Execute(t, workspace.data() + 1, (*op)->workspace_bytes());
    if (!res.status.ok()) return res;
    if (i == 0) {
      first = HostTensor::FromView(res.output.view());
    } else if (std::memcmp(first.data(), res.output.data(), first.bytes()) != 0) {
      res.repeat_identical = false;
    }
  }
  return res;
}

// "" when `got` passes ATB's ref_compare against `want`; `max_abs` gets the largest error,
// `max_rel` the largest |a - g| / max(1, |g|) (the quantity ref_compare bounds).
inline std::string JudgeLp(const HostTensor& got, const HostTensor& want, double* max_abs, double* max_rel) {
  const reference::RuleSpec rule = reference::DefaultRule(reference::AccuracyOp::kLinearParallel, want.dtype());
  const reference::AccuracyReport rep = reference::Check(rule, got, want);
  if (max_abs != nullptr && rep.max_abs_error > *max_abs) *max_abs = rep.max_abs_error;
  if (max_rel != nullptr) {
    const TensorView a = got.view(), g = want.view();
    for (int64_t i = 0; i < got.numel(); ++i) {
      const double gv = g.LoadFlat(i);
      const double e = std::abs(a.LoadFlat(i) - gv) / std::max(1.0, std::abs(gv));
      if (e > *max_rel) *max_rel = e;
    }
  }
  if (got.dims() != want.dims()) return "dims differ: " + got.dims().ToString() + " vs " + want.dims().ToString();
  return rep.pass ? "" : rep.ToString();
}

}  // namespace mc2::ops::testing
