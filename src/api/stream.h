// Stream: what aclrtStream is on mc2 — an in-order queue of work run by a worker thread of its own.
//
// Why a thread per stream: CANN programs enqueue (collectives, operators) and return at once, and
// one host thread may drive several ranks' streams, so the work must run somewhere else; and a
// collective blocks until its peers arrive, so each rank's queue needs its own runner.
//
// Failure mode is CANN's ACL_STOP_ON_FAILURE (what the MC2 operators require): once a task fails,
// the tasks queued after it are dropped unrun, and the next Synchronize reports the first error
// (and clears it, so the stream is usable again).
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <thread>

#include "core/status.h"

namespace mc2::api {

// aclrtSynchronizeStreamWithTimeout's answer when the work did not finish in time, and the answer
// for a thread with no current device / context: ACL_ERROR_RT_STREAM_SYNC_TIMEOUT and
// ACL_ERROR_RT_CONTEXT_NULL of CANN's acl/error_codes/rt_error_codes.h (the spec does not list
// them; include/acl/acl_base.h defines the same values for programs).
inline constexpr int32_t kAclErrStreamSyncTimeout = 507046;
inline constexpr int32_t kAclErrContextNull = 107002;

class Stream {
 public:
  using Task = std::function<Status()>;

  explicit Stream(int device);
  ~Stream();  // waits for queued work, then stops the worker
  Stream(const Stream&) = delete;
  Stream& operator=(const Stream&) = delete;

  int device() const { return device_; }
  void Enqueue(Task task);
  // Waits until every task enqueued so far has run (timeout_ms < 0: forever). Returns the first
  // error since the previous Synchronize, or kAclErrStreamSyncTimeout.
  Status Synchronize(int64_t timeout_ms);

 private:
  void WorkerLoop();

  const int device_;
  std::mutex mu_;
  std::condition_variable work_cv_;
  std::condition_variable idle_cv_;
  std::deque<Task> queue_;
  bool running_ = false;  // the worker is inside a task
  bool stop_ = false;
  Status error_;
  std::thread worker_;
};

}  // namespace mc2::api
