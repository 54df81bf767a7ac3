#include "api/executor.h"

#include <memory>

#include "api/handles.h"
#include "api/report.h"
#include "api/streams.h"

namespace mc2::api {
namespace {
HandleSet<aclOpExecutor>& Executors() {
  static auto* set = new HandleSet<aclOpExecutor>();
  return *set;
}
}  // namespace

aclOpExecutor* RegisterExecutor(aclOpExecutor* executor) {
  Executors().Add(executor);
  return executor;
}

aclnnStatus LaunchExecutor(const char* op, void* workspace, uint64_t workspace_size, aclOpExecutor* executor,
                           aclrtStream stream) {
  if (executor == nullptr) return AclnnCode(AclnnError(aclnn::kErrParamNullptr, op, ": executor is null"));
  if (!Executors().Remove(executor)) {
    return AclnnCode(AclnnError(aclnn::kErrParamInvalid, op, ": executor ", executor,
                                " is not live (already run or destroyed, or not from GetWorkspaceSize)"));
  }
  std::shared_ptr<aclOpExecutor> exec(executor);
  if (exec->empty) return ACLNN_SUCCESS;  // CANN's empty-tensor path: nothing to do
  if (workspace_size < exec->workspace_bytes || (exec->workspace_bytes > 0 && workspace == nullptr)) {
    return AclnnCode(AclnnError(aclnn::kErrParamInvalid, op, ": workspace of ", workspace_size, " bytes at ",
                                workspace, " but GetWorkspaceSize asked for ", exec->workspace_bytes));
  }
  if (stream == nullptr) {
    Status s = exec->Run(workspace, workspace_size);
    if (!s.ok()) s.Prepend(op);
    return AclnnCode(s);
  }
  Stream* st = FindStream(stream);
  if (st == nullptr) return AclnnCode(AclnnError(aclnn::kErrParamInvalid, op, ": stream is not a live stream"));
  st->Enqueue([exec, workspace, workspace_size, op]() {
    Status s = exec->Run(workspace, workspace_size);
    if (!s.ok()) s.Prepend(op);
    return s;
  });
  return ACLNN_SUCCESS;
}

}  // namespace mc2::api

extern "C" aclnnStatus aclDestroyAclOpExecutor(aclOpExecutor* executor) {
  if (executor == nullptr) return ACLNN_SUCCESS;
  if (!mc2::api::Executors().Remove(executor)) {
    return mc2::api::AclnnCode(
        mc2::AclnnError(mc2::aclnn::kErrParamInvalid, "aclDestroyAclOpExecutor: executor is not live"));
  }
  delete executor;
  return ACLNN_SUCCESS;
}
