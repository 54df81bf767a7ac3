// ThreadPool: the per-rank pool the kernels run their tiles on.
//
// Shape, and why:
//   - One pool per rank, sized by MC2_NUM_THREADS, else (usable cores) / MC2_LOCAL_WORLD_SIZE: the
//     ranks of one host share its cores, so each rank gets its share instead of all of them.
//   - ParallelFor(n_tasks, fn) partitions statically: thread t runs tasks [t*n/T, (t+1)*n/T).
//     The kernels' tiles are equal-sized, so a static split has no imbalance to steal back and no
//     shared counter to bounce between cores (a cache-line round trip is ~180 ns on this machine).
//   - The calling thread is thread 0 and does its share; T-1 workers are created once, in the
//     constructor. A call allocates nothing and creates no thread: the function is passed as a
//     (pointer, trampoline) pair, never as a std::function.
//   - Workers spin ~20 us on the job counter (~1 us when the live pools have more threads than
//     the process has CPUs), then sleep in std::atomic::wait (a futex on Linux).
//     The tests run 8 ranks x 2 threads on 2 cores: spinning forever there would starve the ranks
//     that have work, so a waiter always ends up asleep. The caller waits for the workers the same way.
//   - Misuse returns an error instead of deadlocking: ParallelFor from inside one of this pool's
//     tasks, or from a second thread while a call is running.
#pragma once

#include <atomic>
#include <cstdint>
#include <thread>
#include <vector>

#include "core/status.h"
#include "core/status_or.h"

namespace mc2 {

class ThreadPool {
 public:
  // A pool of `num_threads` threads, the caller included (num_threads - 1 workers).
  // num_threads < 1 is treated as 1: every call then runs inline.
  explicit ThreadPool(int num_threads);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  // The size a rank's pool should have: MC2_NUM_THREADS if set, else max(1, cores / local ranks)
  // where local ranks = MC2_LOCAL_WORLD_SIZE (default 1) and cores = CPUs this process may run on.
  // A malformed variable is an error that names it ("MC2_NUM_THREADS: 'x' is not ...").
  static StatusOr<int> DefaultNumThreads();

  int num_threads() const { return num_threads_; }

  // Runs fn(task, thread) for every task in [0, n_tasks), thread in [0, num_threads()); returns
  // when all have run. Thread t runs the contiguous tasks [t*n/T, (t+1)*n/T) in order.
  template <typename Fn>
  Status ParallelFor(int64_t n_tasks, const Fn& fn) {
    return Run(n_tasks, &Trampoline<Fn>, &fn);
  }

 private:
  using TaskFn = void (*)(const void* ctx, int64_t task, int thread);
  template <typename Fn>
  static void Trampoline(const void* ctx, int64_t task, int thread) {
    (*static_cast<const Fn*>(ctx))(task, thread);
  }

  Status Run(int64_t n_tasks, TaskFn fn, const void* ctx);
  void RunShare(int thread);
  void WorkerLoop(int thread);

  const int num_threads_;
  std::vector<std::thread> workers_;

  // The job being run; written by the caller before `generation_` is bumped (release), read by
  // workers after they see the new generation (acquire).
  TaskFn fn_ = nullptr;
  const void* ctx_ = nullptr;
  int64_t n_tasks_ = 0;
  bool stop_ = false;

  alignas(64) std::atomic<uint32_t> generation_{0};
  alignas(64) std::atomic<uint32_t> pending_{0};  // workers still running the current job
  alignas(64) std::atomic<bool> busy_{false};      // a ParallelFor is in progress
};

}  // namespace mc2
