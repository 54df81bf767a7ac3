// What an operator runs on: one rank's communicator(s) and thread pool. Owned by the caller (the
// CANN-compatible layer or a native user); an operator plan only borrows them.
#pragma once

#include "comm/communicator.h"
#include "core/thread_pool.h"

namespace mc2::ops {

struct OpContext {
  comm::Communicator* comm = nullptr;  // the group of the collective
  ThreadPool* pool = nullptr;          // null: run on the calling thread
};

}  // namespace mc2::ops
