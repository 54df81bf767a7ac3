// AlltoAllAllGatherBatchMatMul, mc2's native C++ API (spec 3): the MoE expert layer over an
// EP x TP grid of ranks.
//
// Two phases, as CANN's aclnnXxxGetWorkspaceSize / aclnnXxx:
//   MoeOp::Create  runs on every rank of the grid with that rank's tensors: validates them in
//                  CANN's order and codes (ValidateMoe), checks epWorldSize / tpWorldSize against
//                  the two communicators, exchanges a digest of every argument over both of them
//                  (EP, TP, EP again, so a failure anywhere in the grid reaches every rank), chooses
//                  the algorithm, books the workspace. Collective on both communicators.
//   Execute        computes y1 (and y2, y3 when given). No allocation, no validation beyond cheap
//                  pointer and size checks. Tensors must have the shapes given to Create; data
//                  pointers may change. Collective: every rank calls it, in the same order as its
//                  other collectives on the two communicators.
// The operator only uses each rank's id inside each communicator (spec 3.3), so any grid layout
// works (CANN's example: EP strided, TP consecutive; MindSpeed: the opposite), as long as all
// members of a TP group share their EP rank and all members of an EP group their TP rank; the
// plan checks that through the digest.
//
// How the work is fused and overlapped: moe_fused.h.
#pragma once

#include <cstddef>
#include <memory>

#include "comm/communicator.h"
#include "core/op_params.h"
#include "core/status_or.h"
#include "core/thread_pool.h"
#include "ops/common/progress_thread.h"
#include "ops/common/workspace.h"
#include "ops/moe/moe_compute.h"
#include "ops/moe/moe_plan.h"
#include "ops/moe/moe_validate.h"

namespace mc2::ops {

// What a MoE operator runs on: the rank's EP and TP communicators and its thread pool. Owned by
// the caller; the plan only borrows them.
struct MoeContext {
  comm::Communicator* ep = nullptr;
  comm::Communicator* tp = nullptr;
  ThreadPool* pool = nullptr;  // null: run on the calling thread
};

class MoeOp {
 public:
  // `options` must be the same on every rank.
  static StatusOr<std::unique_ptr<MoeOp>> Create(const MoeTensors& t, const MoeAttrs& attrs, const MoeContext& ctx,
                                                 const MoeOptions& options = {});

  // What Create would book, decided on this rank alone: ValidateMoe, the world-size check and the
  // plan, without the digest exchange (no collective, no tensor data read). The aclnn layer's
  // GetWorkspaceSize uses it: it may not run collectives, the stream makes the real plan later.
  // Create with the same arguments and communicators books exactly this much.
  static StatusOr<size_t> LocalWorkspaceBytes(const MoeTensors& t, const MoeAttrs& attrs, const MoeContext& ctx,
                                              const MoeOptions& options = {});

  // Bytes of scratch memory Execute needs (any alignment).
  size_t workspace_bytes() const { return workspace_bytes_; }
  const MoeSchedule& schedule() const { return schedule_; }
  const MoeGeometry& geometry() const { return g_; }

  Status Execute(const MoeTensors& t, void* workspace, size_t workspace_bytes);

  // Sums Execute's per-phase wall time into `times` (null: off, the default). For benchmarks.
  void set_phase_times(MoePhaseTimes* times) { times_ = times; }

 private:
  MoeOp() = default;
  Status Plan(const MoeTensors& t, const MoeAttrs& attrs, const MoeOptions& options);
  Status CheckCall(const MoeTensors& t, size_t workspace_bytes, void* workspace) const;

  MoeContext ctx_;
  MoeGeometry g_;
  MoeSchedule schedule_;
  WorkspaceBooking booking_;
  size_t scratch_slice_ = 0;
  size_t workspace_bytes_ = 0;
  MoePhaseTimes* times_ = nullptr;
  std::unique_ptr<ProgressThread> progress_;  // chained with several local experts
};

}  // namespace mc2::ops
