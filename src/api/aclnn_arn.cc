// aclnnWeightQuantMatmulAllReduceAddRmsNorm and its inplace form (aclnnop/aclnn_*.h), over
// mc2::ops::ArnOp.
//
// GetWorkspaceSize follows CANN's order and codes (spec 2.4): null inputs -> 161001; shapes ->
// 161002; the empty-tensor rule (workspace 0, an executor whose run does nothing); streamMode != 1
// -> 161002; the group must name a live communicator -> 161002; dtypes and formats against the
// operator definition -> 161002; reduceOp "sum" and commTurn 0 -> 561002 (tiling rules in CANN);
// the remaining tiling rules -> 561002.
//
// Why the plan is made twice: ArnOp::Create is collective (it exchanges a digest of every argument
// so that ranks that disagree fail together), and a collective may not run on the caller's thread
// at GetWorkspaceSize: the ranks' earlier work may still be queued on their streams (the order of
// collectives would differ between ranks), and one host thread may drive several ranks. So
// GetWorkspaceSize runs the rules with the group's rank count and books the workspace with a plan
// of the local schedule, whose matmul covers all m rows at once and so books at least what any
// collective schedule books; the stream then makes the real, collective plan in order with the
// other work and runs it. The weight data is therefore read when the stream runs the call (as on a
// device), not at GetWorkspaceSize: CANN's GetWorkspaceSize needs shapes only, and the data may not
// even be written yet (an earlier call queued on the stream may produce it). The local plan that
// books the workspace is made over stand-ins of x2 and the antiquant scale / offset -- the same
// dtypes, dims and layout over zero-filled memory of its own -- since the booking depends on the
// shapes alone; no byte of any caller tensor is read before the run.
#include <cstring>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "aclnnop/aclnn_inplace_weight_quant_matmul_all_reduce_add_rms_norm.h"
#include "aclnnop/aclnn_weight_quant_matmul_all_reduce_add_rms_norm.h"
#include "api/acl_tensor.h"
#include "api/executor.h"
#include "api/hccl_comm.h"
#include "api/report.h"
#include "api/runtime.h"
#include "ops/arn/arn_op.h"

namespace mc2::api {
namespace {

class ArnExecutor : public aclOpExecutor {
 public:
  ops::ArnTensors tensors;
  ArnAttrs attrs;
  std::string group;

  Status Run(void* workspace, uint64_t workspace_bytes) override {
    CommHandle* h = FindCommByName(group.c_str());
    if (h == nullptr) return AclnnError(aclnn::kErrParamInvalid, "group '", group, "' was destroyed before the run");
    Runtime& rt = Runtime::Get();
    std::lock_guard<std::mutex> lock(rt.DeviceLock(h->device));
    ops::OpContext ctx{h->comm.get(), rt.Pool(h->device)};
    MC2_ASSIGN_OR_RETURN(std::unique_ptr<ops::ArnOp> op, ops::ArnOp::Create(tensors, attrs, ctx));
    return op->Execute(tensors, workspace, static_cast<size_t>(workspace_bytes));
  }
};

class EmptyExecutor : public aclOpExecutor {
 public:
  EmptyExecutor() { empty = true; }
  Status Run(void*, uint64_t) override { return Status::Ok(); }
};

Status Null(const char* name) { return AclnnError(aclnn::kErrParamNullptr, name, " is null"); }

// A view with v's dtype and dims over `*storage` (zeros), contiguous, or transposed in its last two
// dims when v is: what the plan looks at (shape and layout), none of the caller's data.
// An int4 view keeps the parity of its offset, which the plan checks (whole bytes only).
TensorView StandIn(const TensorView& v, std::vector<uint64_t>* storage) {
  storage->assign(DTypeStorageBytes(v.dtype, v.numel()) / sizeof(uint64_t) + 1, 0);
  TensorView s = v.rank() == 2 && !v.IsContiguous() && v.IsTransposedLastTwo()
                     ? TensorView::Contiguous(storage->data(), v.dtype, Dims{v.dims[1], v.dims[0]}).Transposed(0, 1)
                     : TensorView::Contiguous(storage->data(), v.dtype, v.dims);
  s.offset = v.dtype == DType::kInt4 ? v.offset % 2 : 0;
  return s;
}

// The view of a required tensor; a handle that is not a live aclTensor is invalid.
Status View(const char* name, const aclTensor* t, TensorView* view, bool* known) {
  const aclTensor* live = FindTensor(t);
  if (live == nullptr) return AclnnError(aclnn::kErrParamInvalid, name, ": ", t, " is not a live aclTensor");
  bool k = true;
  *view = ToView(*live, &k);
  if (!k) {
    *known = false;
    return AclnnError(aclnn::kErrParamInvalid, name, ": dtype ", live->dtype, " / format ", live->format,
                      " is not one this operator accepts (fp16/bf16/int8/int4, ND)");
  }
  return Status::Ok();
}

struct Args {
  const aclTensor *x1, *x2, *bias, *scale, *offset, *residual, *gamma, *y, *norm_out;
  double epsilon;
  const char* group;
  const char* reduce_op;
  int64_t comm_turn, stream_mode, group_size;
  uint64_t* workspace_size;
  aclOpExecutor** executor;
};

Status GetWorkspace(const Args& a) {
  // 1. Null pointers.
  const std::pair<const char*, const void*> required[] = {
      {"x1", a.x1}, {"x2", a.x2}, {"residual", a.residual}, {"gamma", a.gamma}, {"antiquantScale", a.scale},
      {"y", a.y}, {"normOut", a.norm_out}, {"group", a.group}, {"reduceOp", a.reduce_op},
      {"workspaceSize", a.workspace_size}, {"executor", a.executor}};
  for (const auto& [name, p] : required) {
    if (p == nullptr) return Null(name);
  }
  *a.workspace_size = 0;
  *a.executor = nullptr;

  // The views; a dtype or format mc2 does not know is rejected where CANN checks the op-def.
  auto exec = std::make_unique<ArnExecutor>();
  ops::ArnTensors& t = exec->tensors;
  Status unknown = Status::Ok();
  auto view = [&](const char* name, const aclTensor* h, TensorView* v) -> Status {
    bool known = true;
    Status s = View(name, h, v, &known);
    if (!known) {
      if (unknown.ok()) unknown = s;
      return Status::Ok();
    }
    return s;
  };
  MC2_RETURN_IF_ERROR(view("x1", a.x1, &t.in.x1));
  MC2_RETURN_IF_ERROR(view("x2", a.x2, &t.in.x2));
  MC2_RETURN_IF_ERROR(view("antiquantScale", a.scale, &t.in.antiquant_scale));
  MC2_RETURN_IF_ERROR(view("residual", a.residual, &t.in.residual));
  MC2_RETURN_IF_ERROR(view("gamma", a.gamma, &t.in.gamma));
  MC2_RETURN_IF_ERROR(view("y", a.y, &t.y));
  MC2_RETURN_IF_ERROR(view("normOut", a.norm_out, &t.norm_out));
  if (a.bias != nullptr) MC2_RETURN_IF_ERROR(view("bias", a.bias, &t.in.bias.emplace()));
  if (a.offset != nullptr) MC2_RETURN_IF_ERROR(view("antiquantOffset", a.offset, &t.in.antiquant_offset.emplace()));
  exec->attrs.epsilon = a.epsilon;
  exec->attrs.antiquant_group_size = a.group_size;

  // 2-3. Shapes, then the empty-tensor rule.
  MC2_RETURN_IF_ERROR(ops::CheckArnShapes(t));
  MC2_ASSIGN_OR_RETURN(bool empty, ops::IsEmptyArnCall(t));
  if (empty) {
    *a.executor = RegisterExecutor(new EmptyExecutor());
    return Status::Ok();
  }
  // 4. streamMode, then the group.
  if (a.stream_mode != ACL_STOP_ON_FAILURE) {
    return AclnnError(aclnn::kErrParamInvalid, "streamMode is ", a.stream_mode, " but must be 1 (ACL_STOP_ON_FAILURE)");
  }
  CommHandle* h = FindCommByName(a.group);
  if (h == nullptr) {
    return AclnnError(aclnn::kErrParamInvalid, "group '", a.group, "' is not the name of a live communicator ",
                      "(HcclGetCommName)");
  }
  // 5. Operator definition, then tiling.
  MC2_RETURN_IF_ERROR(unknown);
  MC2_RETURN_IF_ERROR(ops::CheckArnOpDef(t));
  if (std::strncmp(a.reduce_op, "sum", 3) != 0) {
    return AclnnError(aclnn::kErrInnerTiling, "reduceOp is '", a.reduce_op, "' but only \"sum\" is supported");
  }
  if (a.comm_turn != 0) return AclnnError(aclnn::kErrInnerTiling, "commTurn is ", a.comm_turn, " but must be 0");
  MC2_RETURN_IF_ERROR(ops::CheckArnTiling(t, exec->attrs, h->comm->world_size()));

  // The workspace booking of the local schedule, over stand-ins (see the top of this file).
  ops::ArnTensors sizing = t;
  std::vector<uint64_t> x2_zeros, scale_zeros, offset_zeros;
  sizing.in.x2 = StandIn(t.in.x2, &x2_zeros);
  sizing.in.antiquant_scale = StandIn(t.in.antiquant_scale, &scale_zeros);
  if (t.in.antiquant_offset) sizing.in.antiquant_offset = StandIn(*t.in.antiquant_offset, &offset_zeros);
  ops::OpContext local{nullptr, Runtime::Get().Pool(h->device)};
  MC2_ASSIGN_OR_RETURN(std::unique_ptr<ops::ArnOp> plan, ops::ArnOp::Create(sizing, exec->attrs, local));
  exec->workspace_bytes = plan->workspace_bytes();
  exec->group = a.group;
  *a.workspace_size = exec->workspace_bytes;
  *a.executor = RegisterExecutor(exec.release());
  return Status::Ok();
}

}  // namespace
}  // namespace mc2::api

extern "C" {

aclnnStatus aclnnWeightQuantMatmulAllReduceAddRmsNormGetWorkspaceSize(
    const aclTensor* x1, const aclTensor* x2, const aclTensor* bias, const aclTensor* antiquantScale,
    const aclTensor* antiquantOffset, const aclTensor* residual, const aclTensor* gamma, double epsilon,
    const char* group, const char* reduceOp, int64_t commTurn, int64_t streamMode, int64_t antiquantGroupSize,
    const aclTensor* y, const aclTensor* normOut, uint64_t* workspaceSize, aclOpExecutor** executor) {
  const mc2::api::Args args{x1,         x2,       bias,     antiquantScale, antiquantOffset,
                            residual,   gamma,    y,        normOut,        epsilon,
                            group,      reduceOp, commTurn, streamMode,     antiquantGroupSize,
                            workspaceSize, executor};
  mc2::Status s = mc2::api::GetWorkspace(args);
  if (!s.ok()) s.Prepend("aclnnWeightQuantMatmulAllReduceAddRmsNormGetWorkspaceSize");
  return mc2::api::AclnnCode(s);
}

aclnnStatus aclnnWeightQuantMatmulAllReduceAddRmsNorm(void* workspace, uint64_t workspaceSize,
                                                      aclOpExecutor* executor, const aclrtStream stream) {
  return mc2::api::LaunchExecutor("aclnnWeightQuantMatmulAllReduceAddRmsNorm", workspace, workspaceSize, executor,
                                  stream);
}

aclnnStatus aclnnInplaceWeightQuantMatmulAllReduceAddRmsNormGetWorkspaceSize(
    const aclTensor* x1, const aclTensor* x2, const aclTensor* bias, const aclTensor* antiquantScale,
    const aclTensor* antiquantOffset, const aclTensor* residual, const aclTensor* gamma, double epsilon,
    const char* group, const char* reduceOp, int64_t commTurn, int64_t streamMode, int64_t antiquantGroupSize,
    const aclTensor* normOut, uint64_t* workspaceSize, aclOpExecutor** executor) {
  // As in CANN: the non-inplace operator with y = residual.
  return aclnnWeightQuantMatmulAllReduceAddRmsNormGetWorkspaceSize(
      x1, x2, bias, antiquantScale, antiquantOffset, residual, gamma, epsilon, group, reduceOp, commTurn, streamMode,
      antiquantGroupSize, residual, normOut, workspaceSize, executor);
}

aclnnStatus aclnnInplaceWeightQuantMatmulAllReduceAddRmsNorm(void* workspace, uint64_t workspaceSize,
                                                             aclOpExecutor* executor, const aclrtStream stream) {
  return mc2::api::LaunchExecutor("aclnnInplaceWeightQuantMatmulAllReduceAddRmsNorm", workspace, workspaceSize,
                                  executor, stream);
}

}  // extern "C"
