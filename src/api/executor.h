// aclOpExecutor: what an aclnnXxxGetWorkspaceSize returns — a validated, single-use description
// of one operator call — and the second phase every aclnn operator shares (LaunchExecutor).
//
// As in CANN, the executor is released by the call that runs it, whatever that call returns; it
// may also be released unrun with aclDestroyAclOpExecutor. An executor that is never run nor
// destroyed leaks, as in CANN. Running a released executor (a second time) returns
// ACLNN_ERR_PARAM_INVALID instead of touching freed memory: live executors are looked up first.
// The ATB and other aclnn operators derive from it and override Run.
#pragma once

#include <cstdint>

#include "acl/acl_rt.h"
#include "aclnn/acl_meta.h"
#include "core/status.h"

struct aclOpExecutor {
  virtual ~aclOpExecutor() = default;
  // Runs the call, on the stream's worker (or the calling thread for a null stream).
  virtual mc2::Status Run(void* workspace, uint64_t workspace_bytes) = 0;

  uint64_t workspace_bytes = 0;
  bool empty = false;  // nothing to compute: the second phase succeeds without doing anything
};

namespace mc2::api {

// Makes `executor` live (findable by LaunchExecutor) and returns it.
aclOpExecutor* RegisterExecutor(aclOpExecutor* executor);

// The second phase of every aclnn operator: checks the executor and workspace, releases the
// executor from the live set, and enqueues its Run on `stream` (null: runs it now). Errors of the
// run itself surface at the stream's synchronize.
aclnnStatus LaunchExecutor(const char* op, void* workspace, uint64_t workspace_size, aclOpExecutor* executor,
                           aclrtStream stream);

}  // namespace mc2::api
