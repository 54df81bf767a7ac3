#include "ops/common/progress_thread.h"

#include <sched.h>

#include <algorithm>
#include <atomic>
#include <utility>

#include "comm/communicator.h"
#include "core/trace.h"

namespace mc2::ops {

ProgressThread::~ProgressThread() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  wake_.notify_one();
  if (thread_.joinable()) thread_.join();
}

void ProgressThread::Begin(TaskFn fn, void* ctx) {
  std::lock_guard<std::mutex> lock(mu_);
  fn_ = fn;
  ctx_ = ctx;
  posted_ = ran_ = 0;
  status_ = Status::Ok();
  trace_rank_ = trace::CurrentRank();
  // Under a real-time policy the thread (which inherits it) runs on this core only when the caller
  // yields; under the fair scheduler its wake-up from a nap preempts the caller anyway, and a
  // yield would hand the rest of the caller's slice to unrelated processes of a loaded machine.
  yield_ = RealTimeCaller();
  if (!thread_.joinable()) thread_ = std::thread([this] { Loop(); });
}

void ProgressThread::Post(int64_t count) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (count > posted_) posted_ = count;
    if (ran_ < posted_) busy_.store(true, std::memory_order_release);
  }
  wake_.notify_one();
}

void ProgressThread::WaitFor(int64_t count) {
  std::unique_lock<std::mutex> lock(mu_);
  done_.wait(lock, [&] { return ran_ >= std::min(count, posted_); });
}

bool ProgressThread::RealTimeCaller() {
  const int policy = sched_getscheduler(0);
  return policy == SCHED_FIFO || policy == SCHED_RR;
}

namespace {
// Column blocks of ~3 ms on one core. Column blocks, not row blocks: the prefill kernels prepare
// the weight panels of their columns once per call, so cutting columns adds no weight work
// (cutting rows would redo it per piece); but each call prepares the chunk's activation rows
// again, which made ~0.3 ms blocks (24 MFLOP, ~100 columns) cost 1.5x the chunk's matmul
// (LinearParallel float, 64 rows, k = 2048, threads, load 11); blocks of >= ~700 columns measured
// within the noise. The socket buffers (autotuned to MiBs) hold what a 1-10 Gbit/s link moves in
// 3 ms. Under the fair scheduler no blocks: across two network namespaces (scripts/netns-bench)
// 128-row chunks of k = 2048 took 26.6-27.9 ms in blocks against 22-24.6 ms in one piece.
constexpr double kLendFlops = 2e8;
std::atomic<double> g_lend_flops_for_test{-1.0};
}  // namespace

int64_t ProgressThread::LendBlockCols(int64_t rows, int64_t k, int64_t align) {
  const double forced = g_lend_flops_for_test.load(std::memory_order_relaxed);
  const double flops = forced >= 0 ? forced : RealTimeCaller() ? kLendFlops : 0.0;
  if (flops <= 0) return 0;
  align = std::max<int64_t>(1, align);
  const double per_col = 2.0 * static_cast<double>(std::max<int64_t>(1, rows)) * static_cast<double>(std::max<int64_t>(1, k));
  return std::max(align, static_cast<int64_t>(flops / per_col) / align * align);
}

void ProgressThread::SetLendBlockFlopsForTest(double flops) {
  g_lend_flops_for_test.store(flops, std::memory_order_relaxed);
}

void ProgressThread::Lend(comm::Communicator* comm) {
  if (!Busy()) return;
  if (comm != nullptr) comm->PollNetwork();
  if (yield_) sched_yield();
}

Status ProgressThread::Finish() {
  std::unique_lock<std::mutex> lock(mu_);
  done_.wait(lock, [this] { return ran_ >= posted_; });
  fn_ = nullptr;
  return std::exchange(status_, Status::Ok());
}

void ProgressThread::Loop() {
  std::unique_lock<std::mutex> lock(mu_);
  for (;;) {
    wake_.wait(lock, [this] { return stop_ || (fn_ != nullptr && ran_ < posted_); });
    if (stop_) return;
    const int64_t task = ran_;
    const TaskFn fn = fn_;
    void* ctx = ctx_;
    const bool skip = !status_.ok();
    trace::SetThreadRank(trace_rank_);
    lock.unlock();
    Status s = skip ? Status::Ok() : fn(ctx, task);
    lock.lock();
    if (!s.ok() && status_.ok()) status_ = std::move(s);
    ++ran_;
    if (ran_ >= posted_) busy_.store(false, std::memory_order_release);
    done_.notify_all();
  }
}

}  // namespace mc2::ops
