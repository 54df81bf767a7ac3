// The execution paths of WeightQuantMatmulAllReduceAddRmsNorm: how the data moves and why.
//
// Notation: R ranks, product P_r = round_act(x1_r @ W_r + bias_r), an (m, n) matrix of the
// activation dtype (2 bytes); A = round_act(sum_r P_r in fp32, rank order 0..R-1), the golden's
// CrossRankSum; then per row y = A + residual, normOut = RMSNorm(y) * gamma (kernels/rms_norm.h).
//
// Fused, not chained. The matmul epilogue writes P_r straight into this rank's symmetric buffer
// (SymmetricChannel, half[seq % 2]); nothing is copied in. Then, per tile of a few rows that stays
// in L1/L2, the R products are summed (kernels/reduce.h) into the normOut rows (CANN also uses
// normOut as the all-reduce scratch) and the add + RMSNorm runs on them at once, writing y and
// normOut. One pass over the product instead of the chain's three (all-reduce copy-in, copy-out,
// norm).
//
//   rank r:  x1_r --matmul--> [ P_r | half[seq%2] of rank r's symmetric buffer ] --signal(chunk)-->
//   every rank, per row tile:  P_0 + P_1 + ... + P_{R-1}  (fp32, rank order)  -> A (normOut rows)
//                              y = A + residual ; normOut = rmsnorm(y) * gamma
//
// One-shot (kOneShot, m * n * 2 <= the communicator's one-shot limit, 256 KiB by default, or
// m < 2R): every rank reads every peer's product and reduces all m rows. Decode shapes (m <= 16,
// n = 4096: 128 KiB) cost one flag handoff (~0.2 us here) plus reading (R - 1) * 8..128 KiB from
// the peers' caches (~52 GB/s core to core here: 0.2..2.5 us), against a matmul that streams
// 4..8 MiB of weights (~200..400 us at ~20 GB/s).
//
// Two-shot (kTwoShot, larger messages): rows of each chunk are split R ways; rank r sums its rows
// of every peer's product in place over its own product rows (only r ever reads those), adds and
// norms them into its y / normOut, and signals; then it reads the other ranks' finished sums A and
// adds + norms those rows with its own residual. Each rank reads 2 (R - 1) / R * m * n * 2 bytes
// instead of one-shot's (R - 1) * m * n * 2. The brief of the classic scheme (TensorRT-LLM
// two-shot) gathers finished y / normOut rows; gathering A instead moves the same bytes (A is
// half of (y, normOut), and the residual read replaces the second half) and keeps CANN's
// semantics when ranks pass different residuals or gammas (each device norms with its own).
//
// Prefill overlap: a pass is cut into chunks of rows (>= 256 rows, ~4 per pass, at most 16); the
// matmul of chunk i runs, is signalled, and then the reduction of chunk i - 1 (two-shot: the
// owned-row reduction of i - 1 and the gathering of i - 2) runs on the same threads. Interleaving
// was chosen over a dedicated progress thread: this machine has 2 cores for 2 ranks, so a rank's
// pool has one thread and a progress thread would time-slice with the matmul; the reduction of a
// chunk is ~1 % of its matmul (m = 256, n = 4096, k = 2048: 2 MiB summed vs 2 GFLOP), so there is
// nothing to gain from a second thread, only the wait for the slower peer to hide.
//
// Messages larger than half the symmetric buffer (64 MiB by default: 32 MiB halves, 4096 fp16
// rows of n = 4096) run as several passes, each a new channel call on the other half, so pass
// p + 1's matmul overlaps the peers' reading of pass p.
//
// Chained (kChained): when a peer's buffer is not mapped here (ranks on other machines), or the
// symmetric buffer cannot hold one row: matmul into normOut, Communicator::AllReduce in place,
// add + RMSNorm. Local (kLocal): one rank, matmul into normOut, add + RMSNorm.
//
// Chained prefill overlap (kChained with more than one chunk): between machines the all-reduce is
// a network transfer that costs wall time but little CPU, so it runs on the plan's
// ProgressThread (ops/common/progress_thread.h): the calling thread computes the matmul of chunk
// i + 1 into normOut while the progress thread all-reduces chunk i in place and adds + norms its
// rows. Chunks are >= 128 rows there (not 256 as on shared memory): a 1 Gbit/s link makes the
// all-reduce of a 256-row chunk of n = 4096 cost ~1/3 of its matmul, so hiding it is worth the
// prefill kernel's per-call weight preparation (arn_schedule.cc); the caller lends the core
// (ProgressThread::Lend: once per chunk, between column blocks under a real-time policy) so the
// transfers progress on one core per rank.
//
// Every path computes the same A bit for bit (fp32 sum in rank order, one rounding), so results
// are identical across algorithms, ranks (given equal residual and gamma) and runs.
#pragma once

#include <cstddef>
#include <cstdint>

#include "comm/communicator.h"
#include "core/dtype.h"
#include "core/status.h"
#include "core/thread_pool.h"
#include "kernels/wq_matmul.h"
#include "ops/arn/arn_schedule.h"
#include "ops/common/progress_thread.h"

namespace mc2::ops {

// Where one Execute spent its time on the calling thread, in microseconds (ArnOp::set_phase_log).
// enter: waiting for the peers to enter the call (SymmetricChannel::Begin); matmul: the local
// matmul; wait: waiting for peers' data flags; reduce: summing the products and add + RMSNorm
// (and, chained, the collective); total: the whole call. Chained prefill: `wait` is the time the
// caller waited for the progress thread after its last matmul.
struct ArnPhases {
  double enter_us = 0, matmul_us = 0, wait_us = 0, reduce_us = 0, total_us = 0;
};

// Everything one Execute needs: the plan's constant parts and this call's data pointers (all
// pointing at element 0 of contiguous tensors).
struct ArnRun {
  const ArnSchedule* schedule = nullptr;
  const kernels::WqMatmulPlan* matmul = nullptr;
  comm::Communicator* comm = nullptr;
  ThreadPool* pool = nullptr;
  DType act = DType::kFloat16;
  float eps = 1e-6f;
  const char* x1 = nullptr;        // (m, k)
  const void* bias = nullptr;      // (n) or null
  const char* residual = nullptr;  // (m, n)
  const void* gamma = nullptr;     // (n)
  char* y = nullptr;               // (m, n), may be residual
  char* norm_out = nullptr;        // (m, n)
  char* scratch = nullptr;         // per-thread matmul scratch, `scratch_slice` bytes each
  size_t scratch_slice = 0;
  ProgressThread* progress = nullptr;  // chained prefill with several chunks
  ArnPhases* phases = nullptr;         // null: not timed
};

Status RunArn(const ArnRun& run);

// This rank's product P_r = round_act(x1_r @ W_r + bias_r) alone, (m, n) rows into `dst`, with the
// plan's matmul over the same row chunks as RunArn: the operand of the all-reduce, bit for bit.
Status RunArnLocalProduct(const ArnRun& run, char* dst);

}  // namespace mc2::ops
