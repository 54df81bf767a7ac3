// LinearParallel (ATB LinearParallelOperation, spec 4), mc2's native C++ API: all five types,
// transWeight, ND and NZ weights, float / W8A16 / W8A8 / PER_TOKEN, residual, keepIntermediate,
// 2-D and 3-D inputs.
//
// Two phases, as ATB's Setup / Execute:
//   LinearParallelOp::Create  runs on every rank with that rank's tensors: validates them with
//                  ATB's rules and codes (lp_validate.h), exchanges a digest of every argument so
//                  that all ranks fail together, naming the parameter, when they disagree (or one
//                  rank's arguments are bad), chooses the algorithm and its chunks, plans the
//                  local product (packs the weight) and books the workspace. Collective.
//   Execute        no allocation, no validation beyond pointer / size checks. The data of input,
//                  residual, perTokenScale, output and intermediateOutput may move between calls;
//                  the weight, bias and deqScale were packed at Create and may not (a new weight
//                  needs a new plan). Collective, in the same order on every rank.
// A call with no rows (M = 0) or n = 0 succeeds and writes nothing.
//
// How each type moves its data and overlaps it with the matmul: lp_fused.h.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>

#include "core/op_params.h"
#include "core/status_or.h"
#include "ops/common/context.h"
#include "ops/common/progress_thread.h"
#include "ops/common/workspace.h"
#include "ops/linear_parallel/lp_local.h"
#include "ops/linear_parallel/lp_validate.h"

namespace mc2::ops {

enum class LpAlgorithm : uint8_t {
  kAuto = 0,
  kLocal,    // one rank, PURE_LINEAR, or a grid of one: matmul (+ residual)
  kOneShot,  // through the symmetric buffers; all-reduce: every rank sums all rows
  kTwoShot,  // all-reduce only: reduce-scatter by rows through the buffers, then gather the sums
  kChained,  // matmul + Communicator collective (no shared buffers, e.g. ranks on other machines)
};

const char* LpAlgorithmName(LpAlgorithm a);

// Tuning knobs; the defaults choose by themselves. Must be equal on every rank.
struct LpOptions {
  LpAlgorithm algorithm = LpAlgorithm::kAuto;
  int64_t chunk_rows = 0;  // rows per overlap chunk (0: chosen from the shape)
};

struct LpSchedule {
  LinearParallelType type = LinearParallelType::kLinearAllReduce;
  LpAlgorithm algorithm = LpAlgorithm::kLocal;
  int world_size = 1;
  int64_t rows = 0, k = 0, n = 0;  // this rank's input flattened to (rows, k); n of the product
  size_t in_elem = 2, out_elem = 2;
  // All-reduce: product rows per pass. Reduce-scatter: rows of each rank's block per pass.
  // All-gather: input rows per pass. AG+RS: everything in one pass.
  int64_t pass_rows = 0;
  int64_t chunk_rows = 0;  // rows per overlap chunk inside a pass
  // Chained: rows per chunk of the pipeline (the product's rows for all-reduce, of each rank's
  // block for reduce-scatter, of each rank's input for all-gather); the whole otherwise.
  int64_t max_matmul_rows = 0;
  // All-gather, one pass of fewer than kLpGatherFirstRows rows per rank: the shards are gathered
  // into one buffer first and multiplied in one call (lp_fused.h).
  bool gather_first = false;
};

// Below this many input rows per rank a fused all-gather multiplies the gathered rows in one call:
// a call per shard would stream (decode kernels) or convert (float panels) the weight once per
// shard, R times in all, while gathering a few rows on one machine takes microseconds.
inline constexpr int64_t kLpGatherFirstRows = 64;

// Most signal segments one pass uses (SymmetricChannel::kDataSignals = 63).
inline constexpr int64_t kLpMaxChunks = 16;

class LinearParallelOp {
 public:
  // `ctx.comm` null means a group of one rank.
  static StatusOr<std::unique_ptr<LinearParallelOp>> Create(const LinearParallelTensors& t,
                                                            const LinearParallelAttrs& attrs, const OpContext& ctx,
                                                            const LpOptions& options = {});

  size_t workspace_bytes() const { return workspace_bytes_; }
  const LpSchedule& schedule() const { return schedule_; }
  const char* local_path() const { return local_.path(); }

  Status Execute(const LinearParallelTensors& t, void* workspace, size_t workspace_bytes);

 private:
  LinearParallelOp() = default;
  Status Plan(const LinearParallelTensors& t, const LpShapeInfo& info, const LpOptions& options);
  Status CheckCall(const LinearParallelTensors& t, void* workspace, size_t workspace_bytes) const;

  OpContext ctx_;
  LinearParallelAttrs attrs_;
  LpSchedule schedule_;
  LpLocalProduct local_;
  bool empty_ = false;
  bool has_residual_ = false;
  WorkspaceBooking booking_;
  size_t workspace_bytes_ = 0;
  std::unique_ptr<ProgressThread> progress_;  // chained prefill with chunks only
};

}  // namespace mc2::ops
