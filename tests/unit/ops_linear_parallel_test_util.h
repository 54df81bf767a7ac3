// Shared by the LinearParallelOp tests (ranks as threads, forked processes, under mpirun): run one
// rank of a reference case through the operator; lp_judge.h judges its output against the golden model.
#pragma once

#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "comm/communicator.h"
#include "lp_judge.h"
#include "core/thread_pool.h"
#include "ops/linear_parallel/lp_op.h"
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
    } else if (!first.SameBytes(res.output)) {
      res.repeat_identical = false;
    }
  }
  return res;
}

}  // namespace mc2::ops::testing
