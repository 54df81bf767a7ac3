// The execution paths of LinearParallel: how the data moves and why.
//
// Notation: R ranks, each with x_r (M, k) and P_r = round_out(x_r @ op(W_r)) (lp_local.h); rows
// are 2 bytes * n. Every sum over ranks is the golden's: fp32 in rank order 0..R-1, one rounding
// (kernels/reduce.h); the residual [n] is added once, after communication, in the output dtype
// (a second 2-source reduce, round(float(a) + float(res)), exactly the device's add). All paths use
// the communicator's symmetric buffers through SymmetricChannel (half[seq % 2] per call, no
// barrier) and fall back to the chained form (matmul + Communicator collective) when a peer's
// buffer is not mapped here.
//
// LINEAR_ALL_REDUCE  the matmul writes P_r straight into this rank's half (no copy-in), chunk by
//   chunk, signalling each; one-shot (P bytes <= the one-shot limit, 256 KiB: decode) every rank
//   sums every chunk of all R halves into its output and adds the residual while the rows are in
//   cache; two-shot (prefill) rank r sums its 1/R of each chunk's rows in place, signals, and copies
//   the other owners' sums (+ residual) - each rank reads 2 (R-1)/R of P instead of P. The
//   reduction of chunk i runs after the matmul of chunk i + 1 (>= 64 rows, ~4 per pass), so it
//   only waits for the slower peer when that peer is behind.
//
//       rank r: matmul chunk 0 -> half_r | matmul chunk 1 -> half_r | ...
//                                         | sum chunk 0 of half_0..R-1 -> out (+res) | ...
//
// LINEAR_REDUCE_SCATTER  the rows are R blocks (block q is rank q's output). Rank r computes, in
//   each chunk round, block r+1, r+2, ..., its own block last, into its half, signalling each
//   (block, chunk): peer q can start summing its chunk while r is still computing the others, and
//   the sum of r's own chunk c (R sources, read in place from the peers' halves) runs after the
//   round c + 1 matmuls. Each rank reads (R-1)/R of P: the same bytes as a ring reduce-scatter,
//   with no staging copy.
//
// ALL_GATHER_LINEAR  each rank publishes its input rows in its half (one copy, M k bytes: 1 % of
//   the matmul's time at k = 4096, n = 4096) and signals, then multiplies its own shard straight
//   from its input while the peers publish theirs, then the peers' shards in the order r+1, r+2,
//   ... as they are signalled, straight from their halves (no gather buffer). keepIntermediate
//   copies each shard into intermediateOutput as it is consumed. Below kLpGatherFirstRows rows
//   per rank (decode; one pass) the shards are instead copied into one gathered input (the
//   intermediateOutput when kept, else the workspace) as they are signalled and multiplied in one
//   call: per shard, the decode kernels would stream the weight R times and the float kernel
//   convert it R times (7B-like (8, 4096) x (4096, 5504) on 2 ranks: 24.6 ms per shard against
//   17.8 ms for the chain's one call).
//
// ALL_GATHER_LINEAR_REDUCE_SCATTER  over the full communicator's buffers with direct addressing
//   of the grid: rank j publishes x_j, computes Q_j = G_j @ W_j block by block (the blocks its RS
//   peers own first, its own last) reading the AG peers' inputs from their halves, and sums its
//   block of Q over its RS group (in rsIdx order) from the peers' halves. No sub-communicators.
//
// Chained (ranks on other machines, no mapped peer buffers): matmul + the Communicator's
//   collective. For prefill the rows are cut into chunks (>= 128 rows, ~8, at most 16; rows of the
//   product for LINEAR_ALL_REDUCE, of each rank's block for LINEAR_REDUCE_SCATTER, of each rank's
//   input for ALL_GATHER_LINEAR) and the collectives run on the plan's ProgressThread while the
//   calling thread computes, lending it the core (ProgressThread::Lend; between column blocks
//   under a real-time policy):
//     all-reduce:      caller: matmul chunk i into the output | thread: all-reduce chunk i in place
//                      + residual, behind the matmul of i + 1
//     reduce-scatter:  caller: chunk i of every block into the buffer, chunk-major (chunk i's R
//                      blocks contiguous) | thread: ReduceScatter of those R pieces into this
//                      rank's output rows of chunk i + residual
//     all-gather:      thread: AllGather of input chunk i, chunk-major, all chunks posted at once |
//                      caller: this rank's own rows first (straight from the input), then the peers'
//                      rows of chunk i as soon as its gather is done (copied into
//                      intermediateOutput when kept)
//   The sums are the collectives' (fp32 in rank order, one rounding) on the same rows, so the
//   results are the unchunked chain's bit for bit.
//
// Large calls run as several passes (each a new channel call on the other half) when a pass's
// data do not fit half of the symmetric buffer (32 MiB of the default 64 MiB): pass p + 1's matmul
// then overlaps the peers' reading of pass p.
#pragma once

#include <cstddef>
#include <cstdint>

#include "comm/communicator.h"
#include "core/status.h"
#include "core/thread_pool.h"
#include "ops/common/progress_thread.h"
#include "ops/linear_parallel/lp_local.h"
#include "ops/linear_parallel/lp_op.h"

namespace mc2::ops {

struct LpRun {
  const LpSchedule* schedule = nullptr;
  const LinearParallelAttrs* attrs = nullptr;
  const LpLocalProduct* local = nullptr;
  comm::Communicator* comm = nullptr;
  ThreadPool* pool = nullptr;
  DType in_dtype = DType::kFloat16;
  DType out_dtype = DType::kFloat16;
  const char* x = nullptr;               // (M, k)
  const float* token_scale = nullptr;    // (M) or null
  const char* residual = nullptr;        // (n) or null
  char* out = nullptr;
  char* intermediate = nullptr;          // (R M, k) or null
  char* matmul_scratch = nullptr;
  char* buffer = nullptr;                // chained paths: the product or the gathered input
  ProgressThread* progress = nullptr;    // chained prefill with chunks
};

// Whether the chained form of `s` runs in chunks on a progress thread.
bool LpChainedPipelined(const LpSchedule& s);

Status RunLinearParallel(const LpRun& run);

// Bytes of `buffer` the schedule needs: the chained path's product or gathered input, or the
// gathered input of a gather-first all-gather without intermediateOutput.
size_t LpBufferBytes(const LpSchedule& s, bool has_intermediate);

// Bytes of one pass's data in a rank's half.
size_t LpPassBytes(const LpSchedule& s, int64_t pass_rows);

}  // namespace mc2::ops
