// ProgressThread: one helper thread per plan that runs the communication of a chunked operator
// while the calling thread computes the next chunk.
//
// Why a thread here, when the fused shared-memory paths interleave instead (ops/arn/arn_fused.h):
// between machines the all-reduce of a chunk is a network transfer (MPI over TCP). It costs little
// CPU but a lot of wall time (2 MiB of fp16 rows take ~17 ms at 1 Gbit/s against ~55 ms of matmul
// for m = 256, k = 2048, n = 4096), and it cannot be cut into pieces small enough to interleave
// between matmul tiles without paying the network latency per piece. A thread that blocks in the
// collective while the caller keeps the core busy with the matmul hides it.
//
// Protocol, one call at a time: Begin(fn) arms the thread with a task function; Post(c) lets it
// run fn(0..c-1) in order; Finish() waits until every posted task ran and returns the first error
// (tasks after an error are skipped). The thread is created on the first Begin and lives until the
// object dies, so Execute allocates nothing. It sleeps on a condition variable between tasks: a
// wake-up costs tens of microseconds, which is noise against the millisecond chunks it serves.
// The caller must not run collectives itself between Begin and Finish (MPI is initialised with
// MPI_THREAD_SERIALIZED); it may only Lend.
//
// Lend: with one core per rank the thread gets the CPU while the caller computes only after a
// wake-up preemption (fair scheduler: its naps between polls end in one) or never (SCHED_FIFO at
// equal priority), and the transfers it posted stall in the socket buffers. So the caller calls
// Lend between pieces of its compute: while a task is in flight it polls the network once
// (Communicator::PollNetwork, one non-blocking turn of MPI's progress engine, moving the bytes of
// the thread's outstanding requests) and, when the caller runs under a real-time policy (where
// nothing else would ever give the thread this core), yields it, so the thread runs the next step
// of its collective if it is ready. Only under such a policy do the callers cut a chunk's matmul
// into column blocks to Lend between (LendBlockCols); otherwise once per chunk. With no task in
// flight it costs one atomic load.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <thread>

#include "core/status.h"

namespace mc2::comm {
class Communicator;
}

namespace mc2::ops {

class ProgressThread {
 public:
  using TaskFn = Status (*)(void* ctx, int64_t task);

  ProgressThread() = default;
  ~ProgressThread();
  ProgressThread(const ProgressThread&) = delete;
  ProgressThread& operator=(const ProgressThread&) = delete;

  // Arms the thread for one call; tasks run as fn(ctx, i).
  void Begin(TaskFn fn, void* ctx);
  // Tasks [0, count) may run (count only grows within a call).
  void Post(int64_t count);
  // Waits until tasks [0, count) ran (count <= what was posted).
  void WaitFor(int64_t count);
  // Waits for every posted task; the first error of the call, if any.
  Status Finish();
  // Between two compute tiles of the caller: see the header comment. `comm` may be null.
  void Lend(comm::Communicator* comm);
  // Whether a posted task has not finished yet.
  bool Busy() const { return busy_.load(std::memory_order_acquire); }
  // Whether the calling thread runs under a real-time policy (SCHED_FIFO / SCHED_RR).
  static bool RealTimeCaller();
  // Columns per block of a lending caller's matmul of `rows` x k x n (a multiple of `align`, at
  // least one), or 0: do not cut it, Lend once per chunk. Blocks of ~2e8 flops (about 3 ms on one
  // core) only under a real-time policy, where nothing else gives the thread the core; under the
  // fair scheduler its wake-ups preempt the caller and blocks only cost (progress_thread.cc).
  static int64_t LendBlockCols(int64_t rows, int64_t k, int64_t align);
  // Tests: blocks of `flops` whatever the policy (>= 0), or the rule above again (< 0).
  static void SetLendBlockFlopsForTest(double flops);

 private:
  void Loop();

  std::mutex mu_;
  std::condition_variable wake_, done_;
  std::thread thread_;
  bool stop_ = false;
  TaskFn fn_ = nullptr;
  void* ctx_ = nullptr;
  int64_t posted_ = 0, ran_ = 0;
  int trace_rank_ = -1;  // the caller's trace rank, so the thread's spans land on its rank
  std::atomic<bool> busy_{false};
  bool yield_ = false;  // Lend yields the core (the caller runs under SCHED_FIFO / SCHED_RR)
  Status status_;
};

}  // namespace mc2::ops
