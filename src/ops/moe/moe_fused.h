// The execution paths of AlltoAllAllGatherBatchMatMul: how the data moves and why.
//
// Rank (p, t) = (its rank in the EP communicator, its rank in the TP communicator). Per local
// expert e it needs y2[e], a (rows, H) matrix made of ep * tp blocks of (Cl, Hl): block (i, j) is
// x[p*El + e] of grid rank (i, j), placed at rows BlockRow(i, j), columns BlockCol(j) (spec 3.3:
// type 0 side by side along H, type 1 stacked EP block, then TP rank). Every element except the
// rank's own crosses one or two communicators: an EP hop to (p, j), then a TP hop to (p, t).
// Only members of a communicator see its symmetric buffers, so the element must stop at (p, j).
//
// Fused (kFused): per pass of local experts (all El of them when they fit; 4.6 MB of y2 per
// expert at C = 282, H = 4096, ep = tp = 2, so 6 fit a 32 MiB half), each rank runs a pipeline
// of four stages over its experts, stage k of expert e in iteration e + k:
//
//   push(e)     x[q*El + e] of this rank is written straight into EP peer q's EP half, slot
//               (e, i = p); the own chunk (q = p) bypasses the exchange and goes straight into
//               this rank's y2[e] (CANN places it at block p too). Signal EP segment e.
//   forward(e)  wait for the EP peers' "pushed e"; copy the ep - 1 received blocks from the EP half
//               into y2[e] at (i, t), which lives in this rank's TP half. Signal TP segment e.
//   gather(e)   wait for each TP peer's "forwarded e"; copy its blocks (i, j) from its y2[e] to the
//               same place in ours (y2 is the same on every rank of a TP group). Copy y2[e] to
//               y2OutOptional when asked.
//   matmul(e)   B = y2[e] @ W[e] straight from the TP half, then bias + activation (moe_compute.h).
//
//       iteration:   0        1          2                3          ...
//       EP link:   push 0   push 1     push 2           push 3
//       copies:             fwd 0      fwd 1            fwd 2
//       TP link:                       gather 0         gather 1
//       compute:                       matmul 0  ----   matmul 1 ---
//
// Each wait is for what the peer did one iteration earlier, so a balanced grid never waits: the
// all-to-all and all-gather of experts e + 1, e + 2 are done (by the peers, on their cores) while
// this rank multiplies expert e. Bytes a rank writes: |x| (push) + |x| (forward) +
// (tp - 1)/tp |y2| (gather), against the chain's 2 |x| (all-to-all in/out) + |x| + |y2|
// (all-gather in/out) + |y2| (reorder into CANN's layout), and the matmul (2 * rows * H * M/tp
// flops per expert: 2.4 GFLOP at C = 282, M/tp = 1024, ~100x the copy time) hides them.
//
// Buffer reuse follows SymmetricChannel: every pass is one call on both channels (half[seq % 2]),
// so a pass never waits for the peers to finish reading the previous one and there is no exit
// barrier. Pushing into a peer's half is safe for the same reason reading it is: Begin returned
// only after every peer entered the previous call, so nobody still uses half[seq % 2].
//
// Chained (kChained): when a peer's buffer is not mapped here (ranks on other machines) or one
// expert does not fit half a buffer: Communicator::AllToAll over EP into the workspace,
// AllGather over TP, reorder into y2 (or the workspace), batch matmul. Both paths give the same
// bits: the data is copied, never combined, and the matmul is the same call.
// With several local experts the chain runs expert by expert on the plan's ProgressThread
// (ops/common/progress_thread.h), so the all-to-all and TP all-gather of the next experts overlap
// the batch matmul of the current one, as the fused path does on one machine:
//
//   progress thread:  A2A 0 + AG 0 | A2A 1 + AG 1 | A2A 2 + AG 2 | ...   (all posted at once)
//   caller:                        | place 0, matmul 0 | place 1, matmul 1 | ...
//
// Task e stages expert e's EP blocks contiguously (El, ep, Cl, Hl), AllToAll over EP into the
// receive area of expert e, AllGather over TP into expert e's gather area (tp, ep, Cl, Hl); the
// caller waits for task e, places the blocks into y2[e] and multiplies, lending the core to the
// thread between experts (ProgressThread::Lend).
#pragma once

#include "core/status.h"
#include "ops/moe/moe_compute.h"

namespace mc2::ops {

Status RunMoeFused(const MoeRun& run);
Status RunMoeChained(const MoeRun& run);

// Maps, in this process, every page of both halves of the EP and TP buffers (its own and its
// peers') that a fused pass of `schedule` writes or reads, without changing their contents
// (MADV_POPULATE_WRITE). A pass of all local experts spreads over El * 4.6 MB of y2 per half
// (C = 282, H = 4096), against 4.6 MB for one expert per pass, and a call uses half seq % 2: so
// without this the first call on each half takes a page fault per 4 KiB of it inside Execute
// (~4 500 pages of y2 per half at C = 282, 4 experts per pass), and a benchmark with one warm-up
// call timed them against the pipelined pass only. Called by the plan (Create and
// LocalWorkspaceBytes); a kernel without MADV_POPULATE_WRITE (before 5.14) leaves them to Execute.
void PrefaultMoeBuffers(comm::Communicator* ep, comm::Communicator* tp, const MoeGeometry& g,
                        const MoeSchedule& schedule);

// Workspace the chained path needs (0 for the fused path).
size_t MoeChainBytes(const MoeGeometry& g, MoeAlgorithm algorithm);
// Whether the chained path runs expert by expert on a progress thread.
bool MoeChainPipelined(const MoeGeometry& g, MoeAlgorithm algorithm);

}  // namespace mc2::ops
