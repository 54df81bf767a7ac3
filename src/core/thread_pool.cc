#include "core/thread_pool.h"

#include <sched.h>

#include <chrono>
#include <cstdlib>
#include <string>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif

namespace mc2 {
namespace {

// The pool whose task the current thread is running (nullptr outside tasks): detects nesting.
thread_local const ThreadPool* tls_running_pool = nullptr;

inline void CpuRelax() {
#if defined(__x86_64__) || defined(__i386__)
  _mm_pause();
#elif defined(__aarch64__)
  asm volatile("yield");
#endif
}

// Threads of all live pools in this process, against the CPUs it may use: when the pools
// oversubscribe the host (the tests run 8 ranks x 2 threads on 2 cores), a spinning waiter takes
// the core from the thread it waits for, so waiters go to sleep almost at once.
std::atomic<int> g_pool_threads{0};

int UsableCpus();

// Spin budget before sleeping. ~20 us of pauses (a pause is ~10-40 ns) when every pool thread has
// a core: that catches the back-to-back ParallelFor calls of one kernel without a futex round
// trip (~5-10 us to wake a sleeper). ~1 us when oversubscribed.
int SpinIterations() {
  static const int cpus = UsableCpus();
  return g_pool_threads.load(std::memory_order_relaxed) > cpus ? 32 : 1000;
}

// Waits until `word` differs from `old`: spins, then sleeps (futex via std::atomic::wait).
uint32_t WaitForChange(const std::atomic<uint32_t>& word, uint32_t old) {
  const int spins = SpinIterations();
  for (int i = 0; i < spins; ++i) {
    const uint32_t v = word.load(std::memory_order_acquire);
    if (v != old) return v;
    CpuRelax();
  }
  uint32_t v;
  while ((v = word.load(std::memory_order_acquire)) == old) word.wait(old, std::memory_order_acquire);
  return v;
}

// Parses a positive int environment variable; `fallback` when unset or empty.
StatusOr<int> PositiveIntFromEnv(const char* name, int fallback) {
  const char* text = std::getenv(name);
  if (text == nullptr || *text == '\0') return fallback;
  char* end = nullptr;
  const long value = std::strtol(text, &end, 10);
  if (*end != '\0' || value < 1 || value > 4096) {
    return AclnnError(aclnn::kErrParamInvalid, name, ": '", text,
                      "' is not a positive integer in [1, 4096]");
  }
  return static_cast<int>(value);
}

int UsableCpus() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof(set), &set) == 0) {
    const int n = CPU_COUNT(&set);
    if (n > 0) return n;
  }
  const unsigned hw = std::thread::hardware_concurrency();
  return hw == 0 ? 1 : static_cast<int>(hw);
}

}  // namespace

StatusOr<int> ThreadPool::DefaultNumThreads() {
  MC2_ASSIGN_OR_RETURN(const int local_ranks, PositiveIntFromEnv("MC2_LOCAL_WORLD_SIZE", 1));
  const int share = UsableCpus() / local_ranks;
  return PositiveIntFromEnv("MC2_NUM_THREADS", share < 1 ? 1 : share);
}

ThreadPool::ThreadPool(int num_threads) : num_threads_(num_threads < 1 ? 1 : num_threads) {
  g_pool_threads.fetch_add(num_threads_, std::memory_order_relaxed);
  workers_.reserve(static_cast<size_t>(num_threads_ - 1));
  for (int t = 1; t < num_threads_; ++t) workers_.emplace_back([this, t] { WorkerLoop(t); });
}

ThreadPool::~ThreadPool() {
  g_pool_threads.fetch_sub(num_threads_, std::memory_order_relaxed);
  if (workers_.empty()) return;
  stop_ = true;
  generation_.fetch_add(1, std::memory_order_release);
  generation_.notify_all();
  for (std::thread& w : workers_) w.join();
}

void ThreadPool::RunShare(int thread) {
  const int64_t begin = n_tasks_ * thread / num_threads_;
  const int64_t end = n_tasks_ * (thread + 1) / num_threads_;
  const ThreadPool* outer = tls_running_pool;
  tls_running_pool = this;
  for (int64_t task = begin; task < end; ++task) fn_(ctx_, task, thread);
  tls_running_pool = outer;
}

void ThreadPool::WorkerLoop(int thread) {
  uint32_t seen = 0;
  for (;;) {
    seen = WaitForChange(generation_, seen);
    if (stop_) return;
    RunShare(thread);
    if (pending_.fetch_sub(1, std::memory_order_acq_rel) == 1) pending_.notify_one();
  }
}

Status ThreadPool::Run(int64_t n_tasks, TaskFn fn, const void* ctx) {
  if (tls_running_pool == this) {
    return AclnnError(aclnn::kErrInner,
                      "ThreadPool::ParallelFor: called from inside a task of the same pool "
                      "(nested parallelism is not supported; run the inner loop serially)");
  }
  if (n_tasks < 0) {
    return AclnnError(aclnn::kErrInner, "ThreadPool::ParallelFor: n_tasks is ", n_tasks,
                      " (must be >= 0)");
  }
  if (busy_.exchange(true, std::memory_order_acquire)) {
    return AclnnError(aclnn::kErrInner,
                      "ThreadPool::ParallelFor: the pool is already running a call from another "
                      "thread (a pool belongs to one rank thread)");
  }
  fn_ = fn;
  ctx_ = ctx;
  n_tasks_ = n_tasks;
  // Few tasks or no workers: run inline, waking nobody.
  if (workers_.empty() || n_tasks <= 1) {
    const ThreadPool* outer = tls_running_pool;
    tls_running_pool = this;
    for (int64_t task = 0; task < n_tasks; ++task) fn(ctx, task, 0);
    tls_running_pool = outer;
    busy_.store(false, std::memory_order_release);
    return Status::Ok();
  }
  pending_.store(static_cast<uint32_t>(workers_.size()), std::memory_order_relaxed);
  generation_.fetch_add(1, std::memory_order_release);
  generation_.notify_all();
  RunShare(0);
  const int spins = SpinIterations();
  for (int i = 0; i < spins && pending_.load(std::memory_order_acquire) != 0; ++i) CpuRelax();
  uint32_t left;
  while ((left = pending_.load(std::memory_order_acquire)) != 0) {
    pending_.wait(left, std::memory_order_acquire);
  }
  busy_.store(false, std::memory_order_release);
  return Status::Ok();
}

}  // namespace mc2
