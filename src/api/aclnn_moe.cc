// aclnnAlltoAllAllGatherBatchMatMul (aclnnop/aclnn_all_to_all_all_gather_batch_matmul.h), over
// mc2::ops::MoeOp.
//
// GetWorkspaceSize follows CANN's order and codes (spec 3.4):
//   1. x, weight, y1Out, groupEp, groupTp null (or an empty group name) -> 161001; so are a null
//      workspaceSize / executor (CANN's generated wrappers check them too);
//   2. strlen(groupEp / groupTp) >= 128 -> 161002;
//   3-7. dtypes, attributes, dims, ranges, y3 with actType 0 (ops::ValidateMoe) -> 161002;
//   then what mc2 adds, all 161002: ND format, contiguous x / y1 / y2 / y3, weight row-major or a
//   transposed view; the groups must name live communicators, differ, belong to this rank (the
//   same device, and the calling thread's current device when it set one), and have
//   epWorldSize / tpWorldSize ranks.
// Empty tensors: spec 3.4 has no empty-tensor path for this operator (C > 0, H, E/ep, M/tp >= 1
// are range rules), so a zero dim is 161002, never a no-op.
//
// As for ARN (aclnn_arn.cc): MoeOp::Create is collective over both groups, which the caller's
// thread may not run at GetWorkspaceSize (earlier work may still be queued on the stream, and one
// host thread may drive several ranks). GetWorkspaceSize books with MoeOp::LocalWorkspaceBytes
// (the same plan, no exchange, no tensor data read); the stream makes the collective plan in order
// with the rest of the rank's work and runs it. The bias is read there too, as on a device.
#include <climits>
#include <cstring>
#include <memory>
#include <mutex>
#include <string>

#include "aclnnop/aclnn_all_to_all_all_gather_batch_matmul.h"
#include "api/acl_tensor.h"
#include "api/executor.h"
#include "api/hccl_comm.h"
#include "api/report.h"
#include "api/runtime.h"
#include "ops/moe/moe_op.h"

namespace mc2::api {
namespace {

constexpr size_t kGroupNameMax = 128;  // COMM_NAME_MAX_LENGTH

class MoeExecutor : public aclOpExecutor {
 public:
  ops::MoeTensors tensors;
  MoeAttrs attrs;
  std::string group_ep, group_tp;

  Status Run(void* workspace, uint64_t workspace_bytes) override {
    CommHandle* ep = FindCommByName(group_ep.c_str());
    CommHandle* tp = FindCommByName(group_tp.c_str());
    if (ep == nullptr || tp == nullptr) {
      return AclnnError(aclnn::kErrParamInvalid, ep == nullptr ? "groupEp '" : "groupTp '",
                        ep == nullptr ? group_ep : group_tp, "' was destroyed before the run");
    }
    Runtime& rt = Runtime::Get();
    std::lock_guard<std::mutex> lock(rt.DeviceLock(ep->device));
    ops::MoeContext ctx{ep->comm.get(), tp->comm.get(), rt.Pool(ep->device)};
    MC2_ASSIGN_OR_RETURN(std::unique_ptr<ops::MoeOp> op, ops::MoeOp::Create(tensors, attrs, ctx));
    return op->Execute(tensors, workspace, static_cast<size_t>(workspace_bytes));
  }
};

// The view of a tensor; a handle that is not a live aclTensor, or a dtype / format mc2 does not
// compute with, is invalid (CANN rejects the latter at its dtype step, which comes first here).
Status View(const char* name, const aclTensor* t, TensorView* view) {
  const aclTensor* live = FindTensor(t);
  if (live == nullptr) return AclnnError(aclnn::kErrParamInvalid, name, ": ", t, " is not a live aclTensor");
  bool known = true;
  *view = ToView(*live, &known);
  if (!known) {
    return AclnnError(aclnn::kErrParamInvalid, name, ": aclDataType ", live->dtype, " / aclFormat ", live->format,
                      " is not one this operator accepts (x, weight, y: fp16 or bf16; bias fp16 or fp32; ND)");
  }
  return Status::Ok();
}

// A group name: null or empty -> 161001, 128 chars or more -> 161002 (spec 3.4 steps 1-2).
Status CheckGroupName(const char* param, const char* name, bool length_step) {
  if (!length_step) {
    if (name == nullptr || name[0] == '\0') {
      return AclnnError(aclnn::kErrParamNullptr, param, " is ", name == nullptr ? "null" : "empty",
                        " (the name of a communicator, from HcclGetCommName)");
    }
    return Status::Ok();
  }
  const size_t len = strnlen(name, kGroupNameMax);
  if (len >= kGroupNameMax) {
    return AclnnError(aclnn::kErrParamInvalid, param, " is ", kGroupNameMax, " characters or longer (must be < ",
                      kGroupNameMax, ")");
  }
  return Status::Ok();
}

// The communicator behind a group name, which must be this rank's.
StatusOr<CommHandle*> Group(const char* param, const char* name) {
  CommHandle* h = FindCommByName(name);
  if (h == nullptr) {
    return AclnnError(aclnn::kErrParamInvalid, param, " '", name, "' is not the name of a live communicator ",
                      "(HcclGetCommName)");
  }
  const int current = CurrentDevice();
  if (current >= 0 && current != h->device) {
    return AclnnError(aclnn::kErrParamInvalid, param, " '", name, "' is a communicator of device ", h->device,
                      " but this thread's current device is ", current, " (the group doesn't match this rank)");
  }
  return h;
}

struct Args {
  const aclTensor *x, *weight, *bias;
  const char *group_ep, *group_tp;
  int64_t ep_world_size, tp_world_size, x_shard_type, act_type;
  const aclTensor *y1, *y2, *y3;
  uint64_t* workspace_size;
  aclOpExecutor** executor;
};

Status GetWorkspace(const Args& a) {
  // 1. Null pointers and empty group names.
  const std::pair<const char*, const void*> required[] = {{"x", a.x}, {"weight", a.weight}, {"y1Out", a.y1}};
  for (const auto& [name, p] : required) {
    if (p == nullptr) return AclnnError(aclnn::kErrParamNullptr, name, " is null");
  }
  MC2_RETURN_IF_ERROR(CheckGroupName("groupEp", a.group_ep, false));
  MC2_RETURN_IF_ERROR(CheckGroupName("groupTp", a.group_tp, false));
  if (a.workspace_size == nullptr) return AclnnError(aclnn::kErrParamNullptr, "workspaceSize is null");
  if (a.executor == nullptr) return AclnnError(aclnn::kErrParamNullptr, "executor is null");
  *a.workspace_size = 0;
  *a.executor = nullptr;
  // 2. Group name lengths.
  MC2_RETURN_IF_ERROR(CheckGroupName("groupEp", a.group_ep, true));
  MC2_RETURN_IF_ERROR(CheckGroupName("groupTp", a.group_tp, true));

  // 3-7. The operator's rules.
  auto exec = std::make_unique<MoeExecutor>();
  ops::MoeTensors& t = exec->tensors;
  MC2_RETURN_IF_ERROR(View("x", a.x, &t.in.x));
  MC2_RETURN_IF_ERROR(View("weight", a.weight, &t.in.weight));
  if (a.bias != nullptr) MC2_RETURN_IF_ERROR(View("biasOptional", a.bias, &t.in.bias.emplace()));
  MC2_RETURN_IF_ERROR(View("y1Out", a.y1, &t.y1));
  if (a.y2 != nullptr) MC2_RETURN_IF_ERROR(View("y2OutOptional", a.y2, &t.y2.emplace()));
  if (a.y3 != nullptr) MC2_RETURN_IF_ERROR(View("y3OutOptional", a.y3, &t.y3.emplace()));
  MoeAttrs& attrs = exec->attrs;
  attrs.ep_world_size = a.ep_world_size;
  attrs.tp_world_size = a.tp_world_size;
  attrs.x_shard_type = a.x_shard_type;
  // ActType is 32-bit: saturate so that an out-of-range int64 stays out of range.
  attrs.act_type = static_cast<ActType>(a.act_type < INT32_MIN ? INT32_MIN : a.act_type > INT32_MAX ? INT32_MAX
                                                                                                      : a.act_type);
  attrs.want_y2 = t.y2.has_value();
  attrs.want_y3 = t.y3.has_value();
  MC2_RETURN_IF_ERROR(ops::ValidateMoe(t, attrs));

  // The groups: live, distinct, this rank's.
  if (std::strcmp(a.group_ep, a.group_tp) == 0) {
    return AclnnError(aclnn::kErrParamInvalid, "groupEp and groupTp are both '", a.group_ep,
                      "' (the EP and TP groups must be different communicators)");
  }
  MC2_ASSIGN_OR_RETURN(CommHandle * ep, Group("groupEp", a.group_ep));
  MC2_ASSIGN_OR_RETURN(CommHandle * tp, Group("groupTp", a.group_tp));
  if (ep->device != tp->device) {
    return AclnnError(aclnn::kErrParamInvalid, "groupTp '", a.group_tp, "' is a communicator of device ", tp->device,
                      " but groupEp's is of device ", ep->device, " (both groups must be this rank's)");
  }

  // The workspace of the plan the stream will make (see the top of this file).
  ops::MoeContext ctx{ep->comm.get(), tp->comm.get(), Runtime::Get().Pool(ep->device)};
  MC2_ASSIGN_OR_RETURN(size_t bytes, ops::MoeOp::LocalWorkspaceBytes(t, attrs, ctx));
  exec->workspace_bytes = bytes;
  exec->group_ep = a.group_ep;
  exec->group_tp = a.group_tp;
  *a.workspace_size = bytes;
  *a.executor = RegisterExecutor(exec.release());
  return Status::Ok();
}

}  // namespace
}  // namespace mc2::api

extern "C" {

aclnnStatus aclnnAlltoAllAllGatherBatchMatMulGetWorkspaceSize(
    const aclTensor* x, const aclTensor* weight, const aclTensor* biasOptional, const char* groupEp,
    const char* groupTp, int64_t epWorldSize, int64_t tpWorldSize, int64_t xShardType, int64_t actType,
    aclTensor* y1Out, aclTensor* y2OutOptional, aclTensor* y3OutOptional, uint64_t* workspaceSize,
    aclOpExecutor** executor) {
  const mc2::api::Args args{x,          weight,     biasOptional, groupEp, groupTp,       epWorldSize,
                            tpWorldSize, xShardType, actType,      y1Out,   y2OutOptional, y3OutOptional,
                            workspaceSize, executor};
  mc2::Status s = mc2::api::GetWorkspace(args);
  if (!s.ok()) s.Prepend("aclnnAlltoAllAllGatherBatchMatMulGetWorkspaceSize");
  return mc2::api::AclnnCode(s);
}

aclnnStatus aclnnAlltoAllAllGatherBatchMatMul(void* workspace, uint64_t workspaceSize, aclOpExecutor* executor,
                                              aclrtStream stream) {
  return mc2::api::LaunchExecutor("aclnnAlltoAllAllGatherBatchMatMul", workspace, workspaceSize, executor, stream);
}

}  // extern "C"
