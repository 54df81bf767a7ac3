#include "api/stream.h"

#include <chrono>

namespace mc2::api {

Stream::Stream(int device) : device_(device), worker_([this] { WorkerLoop(); }) {}

Stream::~Stream() {
  {
    std::unique_lock<std::mutex> lock(mu_);
    idle_cv_.wait(lock, [this] { return queue_.empty() && !running_; });
    stop_ = true;
  }
  work_cv_.notify_all();
  worker_.join();
}

void Stream::Enqueue(Task task) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    queue_.push_back(std::move(task));
  }
  work_cv_.notify_one();
}

Status Stream::Synchronize(int64_t timeout_ms) {
  std::unique_lock<std::mutex> lock(mu_);
  auto idle = [this] { return queue_.empty() && !running_; };
  if (timeout_ms < 0) {
    idle_cv_.wait(lock, idle);
  } else if (!idle_cv_.wait_for(lock, std::chrono::milliseconds(timeout_ms), idle)) {
    return AclError(kAclErrStreamSyncTimeout, "aclrtSynchronizeStreamWithTimeout: work still running after ",
                    timeout_ms, " ms");
  }
  Status error = std::move(error_);
  error_ = Status::Ok();
  return error;
}

void Stream::WorkerLoop() {
  std::unique_lock<std::mutex> lock(mu_);
  while (true) {
    work_cv_.wait(lock, [this] { return stop_ || !queue_.empty(); });
    if (queue_.empty()) return;  // stop_ and drained
    Task task = std::move(queue_.front());
    queue_.pop_front();
    const bool skip = !error_.ok();
    running_ = true;
    lock.unlock();
    Status status = skip ? Status::Ok() : task();
    task = nullptr;  // release what the task holds before the stream reports idle
    lock.lock();
    running_ = false;
    if (!status.ok() && error_.ok()) error_ = std::move(status);
    if (queue_.empty()) idle_cv_.notify_all();
  }
}

}  // namespace mc2::api
