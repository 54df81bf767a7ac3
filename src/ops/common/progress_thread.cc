#include "ops/common/progress_thread.h"

#include <utility>

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
  if (!thread_.joinable()) thread_ = std::thread([this] { Loop(); });
}

void ProgressThread::Post(int64_t count) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (count > posted_) posted_ = count;
  }
  wake_.notify_one();
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
    lock.unlock();
    Status s = skip ? Status::Ok() : fn(ctx, task);
    lock.lock();
    if (!s.ok() && status_.ok()) status_ = std::move(s);
    ++ran_;
    if (ran_ >= posted_) done_.notify_all();
  }
}

}  // namespace mc2::ops
