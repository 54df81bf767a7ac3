// Ranks as threads of one process (what CANN's aclnn examples do: HcclCommInitAll, one thread
// per device). All segments are ordinary anonymous mappings of the process; a handle is the
// address. The memory lives until the last communicator of the group is destroyed.
#pragma once

#include <memory>
#include <vector>

#include "comm/communicator.h"
#include "comm/options.h"
#include "core/status_or.h"

namespace mc2::comm {

// n communicators, element i being rank i; hand each to its own thread. Like HcclCommInitAll.
StatusOr<std::vector<std::unique_ptr<Communicator>>> InitThreads(int n,
                                                                 const CommOptions& options);
inline StatusOr<std::vector<std::unique_ptr<Communicator>>> InitThreads(int n) {
  return InitThreads(n, CommOptions::FromEnv());
}

}  // namespace mc2::comm
