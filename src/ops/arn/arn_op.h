// WeightQuantMatmulAllReduceAddRmsNorm (and its inplace form), mc2's native C++ API (spec 2).
//
// Two phases, as CANN's aclnnXxxGetWorkspaceSize / aclnnXxx:
//   ArnOp::Create  runs on every rank of the group with that rank's tensors: validates them in
//                  CANN's order and codes (ValidateArn), exchanges a digest of every argument so
//                  that all ranks fail together when they disagree (or when one rank's arguments
//                  are bad), chooses the algorithm and its chunking, plans the matmul and packs
//                  the weights, books the workspace. Collective: every rank must call it.
//   Execute        computes y and normOut. No allocation and no validation beyond cheap pointer
//                  and size checks. Tensors must have the shapes given to Create; the data pointers
//                  of x1, bias, residual, gamma, y and normOut may change, those of x2 and the
//                  antiquant scale / offset may not (they were packed at Create: a new weight needs
//                  a new plan). Collective: every rank calls it, in the same order as its other
//                  collectives on the communicator.
// The inplace form is Execute with t.y == t.in.residual (the same view): each residual element is
// read before it is overwritten. A call whose b*s or n is 0 succeeds and writes nothing.
// Execute's own checks are local: a rank that refuses its call (wrong workspace size, another
// weight) leaves its peers waiting until the communicator's timeout (HCCL_E_TIMEOUT naming it);
// a communication failure returns the communicator's error on every rank that sees it.
//
// How the work is fused and overlapped: arn_fused.h.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>

#include "core/op_params.h"
#include "core/status_or.h"
#include "kernels/wq_matmul.h"
#include "ops/arn/arn_fused.h"
#include "ops/arn/arn_schedule.h"
#include "ops/arn/arn_validate.h"
#include "ops/common/context.h"
#include "ops/common/workspace.h"

namespace mc2::ops {

class ArnOp {
 public:
  // `ctx.comm` null means a group of one rank. `options` must be the same on every rank.
  static StatusOr<std::unique_ptr<ArnOp>> Create(const ArnTensors& t, const ArnAttrs& attrs, const OpContext& ctx,
                                                 const ArnOptions& options = {});

  // Bytes of scratch memory Execute needs (any alignment; 0 for an empty call).
  size_t workspace_bytes() const { return workspace_bytes_; }
  const ArnSchedule& schedule() const { return schedule_; }
  bool empty() const { return empty_; }

  Status Execute(const ArnTensors& t, void* workspace, size_t workspace_bytes);

  // This rank's local product P_r = round(x1 @ W + bias) alone into `dst` ((m, n) contiguous, the
  // activation dtype), with the plan's matmul and chunking: exactly the operand the fused paths
  // all-reduce. Local (no communication); for benchmarks (matmul alone) and precision tests.
  Status ExecuteLocalProduct(const ArnTensors& t, void* dst, void* workspace, size_t workspace_bytes);

  // Every later Execute adds its per-phase times to *log (null: stop timing). Local to this rank.
  void set_phase_log(ArnPhases* log) { phase_log_ = log; }

 private:
  ArnOp() = default;
  Status Plan(const ArnTensors& t, const ArnAttrs& attrs, const ArnOptions& options);
  Status CheckCall(const ArnTensors& t, size_t workspace_bytes, void* workspace) const;
  ArnRun MakeRun(const ArnTensors& t, void* workspace);

  OpContext ctx_;
  ArnSchedule schedule_;
  bool empty_ = false;
  DType act_ = DType::kFloat16;
  float eps_ = 1e-6f;
  kernels::WqMatmulPlan matmul_;
  // Weights as packed at Create: Execute refuses other pointers.
  const void* x2_data_ = nullptr;
  const void* scale_data_ = nullptr;
  const void* offset_data_ = nullptr;
  bool has_bias_ = false;
  bool bias_contiguous_ = true;
  WorkspaceBooking booking_;
  size_t scratch_slice_ = 0;  // matmul scratch per thread
  size_t workspace_bytes_ = 0;
  std::unique_ptr<ProgressThread> progress_;  // chained prefill with chunks only
  ArnPhases* phase_log_ = nullptr;
};

}  // namespace mc2::ops
