// The compute half of AlltoAllAllGatherBatchMatMul, shared by the fused and chained paths: one
// local expert's batch matmul and its bias + activation epilogue (spec 3.3 steps 3-4), and the
// block copies that place received (Cl, Hl) blocks at their y2 position (steps 1-2).
//
// Per expert e: B = round_dt(y2[e] @ W[e]) is written straight into y1[e] (the float matmul
// rounds half-even, as the golden); then, per tile of kEpilogueRows rows that is still in L1/L2,
// B is widened to fp32 and kernels::ApplyEpilogue writes y3 = z and y1 = act(z) over it:
//   bf16: z = B + bias_fp32 in fp32; y3, y1 rounded CAST_ROUND (half away from zero);
//   fp16: z = fp16_rne(B + bias); y1 = act(z) in fp32 rounded half-even, SiLU CAST_ROUND.
// No bias and no activation: y1 = B and there is no second pass.
#pragma once

#include <cstddef>
#include <cstdint>

#include "comm/communicator.h"
#include "core/status.h"
#include "core/thread_pool.h"
#include "ops/moe/moe_plan.h"

namespace mc2::ops {

class ProgressThread;

// Wall time per phase of Execute, summed over calls, for benchmarks and diagnosis (MoeOp::
// set_phase_times). Fused: begin = SymmetricChannel::Begin; push = own chunks into peers' EP
// halves; ep_wait / tp_wait = waiting for the peers' signals; forward = EP half -> y2; gather =
// TP peers' blocks -> y2 (+ y2 output); matmul = batch matmul + epilogue. Chained: push = AllToAll,
// tp_wait = AllGather, gather = reorder, matmul as fused.
struct MoePhaseTimes {
  enum Phase : int { kBegin, kPush, kEpWait, kForward, kTpWait, kGather, kMatmul, kCount };
  static const char* Name(int phase);
  double seconds[kCount] = {};
  int64_t calls = 0;
};

// Adds the time since the previous Mark to a phase; does nothing without a MoePhaseTimes.
class PhaseClock {
 public:
  explicit PhaseClock(MoePhaseTimes* times);
  void Mark(int phase);

 private:
  MoePhaseTimes* times_;
  double last_ = 0;
};

// Everything one Execute needs: the plan's constant parts and this call's data pointers (element 0
// of each tensor; x, y1, y2, y3 contiguous).
struct MoeRun {
  const MoeGeometry* g = nullptr;
  const MoeSchedule* schedule = nullptr;
  comm::Communicator* ep = nullptr;
  comm::Communicator* tp = nullptr;
  ThreadPool* pool = nullptr;
  const char* x = nullptr;        // (E, Cl, Hl)
  const char* w = nullptr;        // (El, H, Ml), or (El, Ml, H) storage when transposed
  int64_t w_stride = 0;           // elements between rows of one expert's storage
  int64_t w_batch_stride = 0;     // elements between experts
  const float* bias = nullptr;    // (El, Ml) fp32, or null
  char* y1 = nullptr;             // (El, rows, Ml)
  char* y2 = nullptr;             // (El, rows, H) or null
  char* y3 = nullptr;             // (El, rows, Ml) or null
  char* scratch = nullptr;        // per-thread slices of `scratch_slice` bytes
  size_t scratch_slice = 0;
  char* chain = nullptr;          // chained path: send, receive, gather and (without y2) y2 buffers
  ProgressThread* progress = nullptr;  // chained path with several local experts
  MoePhaseTimes* times = nullptr;  // optional per-phase timers
};

// Rows of one epilogue tile.
inline constexpr int64_t kEpilogueRows = 16;

// Scratch bytes one thread needs for ExpertMatmul.
size_t MoeScratchSlice(const MoeGeometry& g);

// y1[e] (and y3[e]) from y2e, expert e's (rows, H) gathered input, row-major. With `lend` (the
// chained pipeline): one Lend first and, under a real-time policy, column blocks of
// ProgressThread::LendBlockCols with lend->Lend() between them (progress_thread.cc says why).
Status ExpertMatmul(const MoeRun& run, int64_t e, const char* y2e, ProgressThread* lend = nullptr);

// Copies `rows` rows of `cols` elements of 2 bytes from src (row stride src_stride) to dst (row
// stride dst_stride), cut across the pool when large.
Status CopyRows(ThreadPool* pool, char* dst, int64_t dst_stride, const char* src, int64_t src_stride, int64_t rows,
                int64_t cols);

// Places a (Cl, Hl) block received from EP rank i via TP rank j into y2e, expert e's (rows, H).
inline Status PlaceBlock(const MoeRun& run, char* y2e, int64_t i, int64_t j, const char* src) {
  const MoeGeometry& g = *run.g;
  char* dst = y2e + static_cast<size_t>(g.BlockRow(i, j) * g.h + g.BlockCol(j)) * g.elem;
  return CopyRows(run.pool, dst, g.h, src, g.hl, g.cl, g.hl);
}

}  // namespace mc2::ops
