// atb::CreateOperation(infer::LinearParallelParam) and the operation it returns, over
// mc2::ops::LinearParallelOp. The rules are the native operator's (ops/linear_parallel/
// lp_validate.h) with ATB's codes; this file adds ATB's parameter and backend checks
// (atb_lp_params.h), the tensor lists of spec 4.3 and the Setup / Execute protocol of spec 4.1.
//
// Where the work runs: Execute enqueues on the context's stream and returns. The stream's task
// makes the native plan (collective: the ranks exchange a digest of their arguments, so ranks that
// disagree fail together) and runs it. A plan packs the weight, so it is kept and reused by the
// next Execute when every rank still has the same tensors and weights; whether to re-plan is
// itself agreed on (a one-integer max all-reduce), because a rank that re-planned alone would
// run a collective its peers do not.
//
// Why Setup does not make that plan: a collective may not run on the caller's thread while the
// rank's earlier work is still queued (the collectives would run in a different order on
// different ranks). So Setup runs every rule and books a workspace that covers every schedule
// the stream may choose: the local product's scratch for the most rows any schedule multiplies
// at once (rows x rankSize for the all-gather types), plus the chained schedules' staging buffer.
#include <algorithm>
#include <memory>
#include <mutex>
#include <new>
#include <string>
#include <utility>
#include <vector>

#include "api/atb_comm.h"
#include "api/atb_context.h"
#include "api/atb_lp_params.h"
#include "api/atb_status.h"
#include "api/atb_tensor.h"
#include "api/handles.h"
#include "api/runtime.h"
#include "api/streams.h"
#include "atb/atb_infer.h"
#include "comm/reduce.h"
#include "ops/linear_parallel/lp_local.h"
#include "ops/linear_parallel/lp_op.h"

namespace mc2::api {
namespace {

using Param = ::atb::infer::LinearParallelParam;

constexpr size_t kAlign = 64;
size_t RoundUp(size_t v) { return (v + kAlign - 1) / kAlign * kAlign; }

// One call's tensors, as views, plus what identifies the plan they need.
struct CallTensors {
  ops::LinearParallelTensors t;
  std::vector<::atb::TensorDesc> descs;  // in, then out
};

// What the stream's tasks share with the operation (and outlive it, if it is destroyed first).
struct PlanCache {
  std::mutex mu;
  std::unique_ptr<ops::LinearParallelOp> op;
  std::vector<::atb::TensorDesc> descs;
  const void* weight = nullptr;
  const void* bias = nullptr;
  const void* deq_scale = nullptr;
  comm::Communicator* comm = nullptr;
};

class LinearParallelOperation : public ::atb::Operation {
 public:
  LinearParallelOperation(const Param& param, AtbLpConfig config)
      : param_(param), config_(std::move(config)), cache_(std::make_shared<PlanCache>()) {}

  std::string GetName() const override { return "LinearParallelOperation"; }
  uint32_t GetInputNum() const override {
    return 2 + (param_.hasResidual ? 1 : 0) + (config_.is_quant ? 2 : 0) + (config_.per_token ? 1 : 0);
  }
  uint32_t GetOutputNum() const override { return param_.keepIntermediate ? 2 : 1; }

  ::atb::Status InferShape(const ::atb::SVector<::atb::TensorDesc>& in,
                           ::atb::SVector<::atb::TensorDesc>& out) const override {
    StatusOr<ops::LpShapeInfo> info = Infer(in);
    if (!info.ok()) return AtbCode(Prefixed("InferShape", info.status()));
    out.resize(GetOutputNum());
    out[0] = AtbDescOf(info->out_dtype, info->out_dims);
    if (param_.keepIntermediate) out[1] = AtbDescOf(info->in_dtype, info->intermediate_dims);
    return ::atb::NO_ERROR;
  }

  ::atb::Status Setup(const ::atb::VariantPack& pack, uint64_t& workspace_size, ::atb::Context* context) override {
    return AtbCode(Prefixed("Setup", DoSetup(pack, &workspace_size, context)));
  }

  ::atb::Status Execute(const ::atb::VariantPack& pack, uint8_t* workspace, uint64_t workspace_size,
                        ::atb::Context* context) override {
    return AtbCode(Prefixed("Execute", DoExecute(pack, workspace, workspace_size, context)));
  }

  const Param& param() const { return param_; }

  // UpdateOperationParam: CreateOperation's checks, then the new parameter with nothing of the
  // old plan or Setup kept (work already enqueued holds its own references to the old ones). The
  // communicator is kept when the new parameter names the same one.
  Status UpdateParam(const Param& p) {
    AtbLpConfig config;
    MC2_RETURN_IF_ERROR(CheckAtbLpParam(p, &config));
    const bool same_comm = p.hcclComm == param_.hcclComm && p.rank == param_.rank && p.rankSize == param_.rankSize &&
                           p.rankRoot == param_.rankRoot && p.commDomain == param_.commDomain &&
                           p.commMode == param_.commMode && p.backend == param_.backend &&
                           p.rankTableFile == param_.rankTableFile;
    param_ = p;
    config_ = std::move(config);
    if (!same_comm) comm_.reset();
    cache_ = std::make_shared<PlanCache>();
    setup_context_ = nullptr;
    setup_bytes_ = 0;
    setup_descs_.clear();
    bound_bytes_ = 0;
    bound_descs_.clear();
    return Status::Ok();
  }

  uint32_t stream_id() const { return stream_id_; }
  void set_stream_id(uint32_t id) { stream_id_ = id; }

 private:
  static Status Prefixed(const char* phase, Status s) {
    if (!s.ok()) s.Prepend(StrCat("LinearParallelOperation::", phase));
    return s;
  }

  Status CheckCounts(size_t in, size_t out) const {
    if (in != GetInputNum() || out != GetOutputNum()) {
      return AtbError(atb::kInvalidInTensorNum, "tensors: ", in, " inputs and ", out, " outputs but this operation ",
                      "takes ", GetInputNum(), " and ", GetOutputNum(), " (", TensorList(), ")");
    }
    return Status::Ok();
  }

  std::string TensorList() const {
    std::string s = "input, weight";
    if (config_.is_quant) s += ", bias, deqScale";
    if (param_.hasResidual) s += ", residual";
    if (config_.per_token) s += ", perTokenScale";
    s += " -> output";
    if (param_.keepIntermediate) s += ", intermediateOutput";
    return s;
  }

  // Views of the input list in spec 4.3's order.
  Status InputViews(const ::atb::TensorDesc* descs, const ::atb::Tensor* tensors, size_t count, bool with_data,
                    LinearParallelInputs* in) const {
    size_t i = 0;
    auto next = [&](const char* name, bool optional_empty, TensorView* v) -> Status {
      const ::atb::TensorDesc& d = tensors != nullptr ? tensors[i].desc : descs[i];
      void* data = tensors != nullptr ? tensors[i].deviceData : nullptr;
      const uint64_t size = tensors != nullptr ? tensors[i].dataSize : 0;
      ++i;
      return AtbTensorView(name, d, data, size, with_data, optional_empty, v);
    };
    (void)count;
    MC2_RETURN_IF_ERROR(next("input", false, &in->input));
    MC2_RETURN_IF_ERROR(next("weight", false, &in->weight));
    if (config_.is_quant) {
      MC2_RETURN_IF_ERROR(next("bias", true, &in->bias.emplace()));
      MC2_RETURN_IF_ERROR(next("deqScale", false, &in->deq_scale.emplace()));
    }
    if (param_.hasResidual) MC2_RETURN_IF_ERROR(next("residual", false, &in->residual.emplace()));
    if (config_.per_token) MC2_RETURN_IF_ERROR(next("perTokenScale", false, &in->per_token_scale.emplace()));
    return Status::Ok();
  }

  // Backend mc2's aclnn MatmulReduceScatter limits.
  Status CheckMc2Backend(const LinearParallelInputs& in, const ops::LpShapeInfo& info) const {
    if (config_.backend != AtbBackend::kMc2) return Status::Ok();
    if (in.input.rank() != 2 || in.weight.rank() != 2) {
      return AtbError(atb::kInvalidTensorDimNum, "input / weight: dims ", in.input.dims.ToString(), " / ",
                      in.weight.dims.ToString(), " (backend mc2 needs both 2-D)");
    }
    if (info.k < 256 || info.k >= 65535) {
      return AtbError(atb::kInvalidTensorDim, "input: k = ", info.k, " (backend mc2 needs k in [256, 65535))");
    }
    return Status::Ok();
  }

  // The ini's format and dtype combinations beyond the native operator's (spec 4.3): only the
  // weight may be FRACTAL_NZ, a quantized one only in the W8A8 rows (int8 input), and the graph
  // backends take a FRACTAL_NZ weight in float16 only.
  Status CheckBackendDtypes(const LinearParallelInputs& in) const {
    auto nd_only = [](const char* name, const TensorView* v) -> Status {
      if (v != nullptr && v->format == Format::kFractalNZ) {
        return AtbError(atb::kInvalidTensorIniMatch, name, ": FRACTAL_NZ (only the weight may be FRACTAL_NZ; ", name,
                        " must be ND)");
      }
      return Status::Ok();
    };
    MC2_RETURN_IF_ERROR(nd_only("input", &in.input));
    MC2_RETURN_IF_ERROR(nd_only("bias", in.bias ? &*in.bias : nullptr));
    MC2_RETURN_IF_ERROR(nd_only("deqScale", in.deq_scale ? &*in.deq_scale : nullptr));
    MC2_RETURN_IF_ERROR(nd_only("residual", in.residual ? &*in.residual : nullptr));
    MC2_RETURN_IF_ERROR(nd_only("perTokenScale", in.per_token_scale ? &*in.per_token_scale : nullptr));
    if (config_.is_quant && in.weight.format == Format::kFractalNZ && in.input.dtype != DType::kInt8) {
      return AtbError(atb::kInvalidTensorIniMatch, "weight: FRACTAL_NZ with a ", DTypeName(in.input.dtype),
                      " input (a quantized weight may be FRACTAL_NZ only for W8A8, int8 input; W8A16 needs ND)");
    }
    const bool graph = config_.backend == AtbBackend::kHccl || config_.backend == AtbBackend::kLccl;
    if (graph && in.weight.format == Format::kFractalNZ && in.weight.dtype != DType::kFloat16) {
      return AtbError(atb::kInvalidTensorIniMatch, "weight: FRACTAL_NZ ", DTypeName(in.weight.dtype), " with backend ",
                      param_.backend, " (its NZ weight must be float16)");
    }
    return Status::Ok();
  }

  int WorldSize() const { return config_.world_size; }

  StatusOr<ops::LpShapeInfo> Infer(const ::atb::SVector<::atb::TensorDesc>& in) const {
    if (in.size() != GetInputNum()) {
      return AtbError(atb::kInvalidInTensorNum, "inTensorDescs: ", in.size(), " but this operation takes ",
                      GetInputNum(), " (", TensorList(), ")");
    }
    MC2_RETURN_IF_ERROR(config_.out_dtype_error);
    LinearParallelInputs views;
    MC2_RETURN_IF_ERROR(InputViews(in.data(), nullptr, in.size(), false, &views));
    MC2_RETURN_IF_ERROR(CheckBackendDtypes(views));
    MC2_ASSIGN_OR_RETURN(ops::LpShapeInfo info, ops::InferLinearParallelShape(views, config_.attrs, WorldSize()));
    MC2_RETURN_IF_ERROR(CheckMc2Backend(views, info));
    return info;
  }

  // The pack's tensors as views, checked like Setup checks them.
  StatusOr<ops::LpShapeInfo> Views(const ::atb::VariantPack& pack, CallTensors* call) const {
    MC2_RETURN_IF_ERROR(CheckCounts(pack.inTensors.size(), pack.outTensors.size()));
    MC2_RETURN_IF_ERROR(config_.out_dtype_error);
    ops::LinearParallelTensors& t = call->t;
    MC2_RETURN_IF_ERROR(InputViews(nullptr, pack.inTensors.data(), pack.inTensors.size(), true, &t.in));
    const ::atb::Tensor& out = pack.outTensors[0];
    MC2_RETURN_IF_ERROR(AtbTensorView("output", out.desc, out.deviceData, out.dataSize, true, false, &t.output));
    if (param_.keepIntermediate) {
      const ::atb::Tensor& mid = pack.outTensors[1];
      MC2_RETURN_IF_ERROR(AtbTensorView("intermediateOutput", mid.desc, mid.deviceData, mid.dataSize, true, false,
                                        &t.intermediate.emplace()));
    }
    for (const ::atb::Tensor& x : pack.inTensors) call->descs.push_back(x.desc);
    for (const ::atb::Tensor& x : pack.outTensors) call->descs.push_back(x.desc);
    MC2_RETURN_IF_ERROR(CheckBackendDtypes(t.in));
    MC2_ASSIGN_OR_RETURN(ops::LpShapeInfo info, ops::ValidateLinearParallel(t, config_.attrs, WorldSize()));
    MC2_RETURN_IF_ERROR(CheckMc2Backend(t.in, info));
    return info;
  }

  Status DoSetup(const ::atb::VariantPack& pack, uint64_t* workspace_size, ::atb::Context* context) {
    if (context == nullptr) return AtbError(atb::kInvalidParam, "context: null");
    AtbContext* ctx = FindAtbContext(context);
    if (ctx == nullptr) return AtbError(atb::kInvalidContextAddr, "context: not a live context (CreateContext)");
    setup_context_ = nullptr;
    CallTensors call;
    MC2_ASSIGN_OR_RETURN(ops::LpShapeInfo info, Views(pack, &call));
    if (!comm_) {
      // A communicator made here runs on the context's device, else on device `rank` (so thread
      // ranks that never set a device do not share one pool and its lock).
      const int devices = Runtime::Get().DeviceCount();
      const int device = ctx->device() >= 0 ? ctx->device() : (param_.rank < devices ? param_.rank : 0);
      MC2_ASSIGN_OR_RETURN(comm_, AcquireAtbComm(param_, device));
    }
    MC2_ASSIGN_OR_RETURN(comm::Communicator * c, comm_->Get());
    if (c->world_size() != WorldSize()) {
      return AtbError(atb::kInvalidParam, "rankSize: ", WorldSize(), " but the communicator has ", c->world_size(),
                      " ranks");
    }
    MC2_ASSIGN_OR_RETURN(uint64_t bytes, WorkspaceBound(call, info));
    *workspace_size = bytes;
    setup_context_ = ctx;
    setup_bytes_ = bytes;
    setup_descs_ = call.descs;
    return Status::Ok();
  }

  // Bytes covering every schedule's booking (see the top of this file); kept per shape.
  StatusOr<uint64_t> WorkspaceBound(const CallTensors& call, const ops::LpShapeInfo& info) {
    if (bound_bytes_ > 0 && bound_descs_.size() == call.descs.size() &&
        std::equal(bound_descs_.begin(), bound_descs_.end(), call.descs.begin(), SameDesc)) {
      return bound_bytes_;
    }
    const int world = WorldSize();
    // The tensors' dataSize bounds rows * k and rows * n, but not rows where k or n is 0: the
    // products are checked rather than trusted.
    int64_t rows = info.rows, gathered_rows = 0, out_elems = 0, gathered_elems = 0;
    if (__builtin_mul_overflow(info.rows, int64_t{world}, &gathered_rows) ||
        __builtin_mul_overflow(info.rows, info.n, &out_elems) ||
        __builtin_mul_overflow(gathered_rows, info.k, &gathered_elems)) {
      return AtbError(atb::kInvalidTensorDim, "input: ", info.rows, " rows of k = ", info.k, " and n = ", info.n,
                      " on ", world, " ranks are too many to book a workspace for (the sizes overflow int64)");
    }
    if (config_.attrs.type == LinearParallelType::kAllGatherLinear ||
        config_.attrs.type == LinearParallelType::kAllGatherLinearReduceScatter) {
      rows = gathered_rows;
    }
    size_t scratch = 0;
    if (info.rows > 0 && info.n > 0) {
      Runtime& rt = Runtime::Get();
      const int threads = rt.Pool(comm_->device())->num_threads();
      ops::LpLocalProduct local;
      MC2_RETURN_IF_ERROR(local.Plan(call.t.in, config_.attrs, info, rows, threads));
      scratch = local.scratch_bytes();
    }
    const size_t out_bytes = DTypeStorageBytes(info.out_dtype, out_elems);
    const size_t gathered = DTypeStorageBytes(info.in_dtype, gathered_elems);
    bound_bytes_ = RoundUp(scratch) + RoundUp(std::max(out_bytes, gathered)) + 2 * kAlign;
    bound_descs_ = call.descs;
    return bound_bytes_;
  }

  Status DoExecute(const ::atb::VariantPack& pack, uint8_t* workspace, uint64_t workspace_size,
                   ::atb::Context* context) {
    if (context == nullptr) return AtbError(atb::kInvalidParam, "context: null");
    AtbContext* ctx = FindAtbContext(context);
    if (ctx == nullptr) return AtbError(atb::kInvalidContextAddr, "context: not a live context (CreateContext)");
    if (setup_context_ == nullptr) return AtbError(atb::kInvalidParam, "Execute before a successful Setup");
    if (ctx != setup_context_) {
      return AtbError(atb::kInvalidParam, "context: not the context of the last Setup (call Setup with it)");
    }
    aclrtStream handle = ctx->GetExecuteStream();
    if (stream_id_ > 0) {
      const std::vector<aclrtStream> streams = ctx->GetExecuteStreams();
      if (stream_id_ >= streams.size()) {
        return AtbError(atb::kInvalidParam, "streamId: ", stream_id_, " (SetExecuteStreamId) but the context has ",
                        streams.size(), " execute stream(s) (SetExecuteStreams)");
      }
      handle = streams[stream_id_];
    }
    if (handle == nullptr) return AtbError(atb::kInvalidParam, "context: no execute stream (SetExecuteStream)");
    Stream* stream = FindStream(handle);
    if (stream == nullptr) return AtbError(atb::kInvalidStream, "context: its stream is not a live aclrtStream");
    if (workspace_size < setup_bytes_) {
      return AtbError(atb::kInvalidParam, "workspaceSize: ", workspace_size, " but Setup asked for ", setup_bytes_);
    }
    if (setup_bytes_ > 0 && workspace == nullptr) {
      return AtbError(atb::kInvalidParam, "workspace: null but Setup asked for ", setup_bytes_, " bytes");
    }
    auto call = std::make_shared<CallTensors>();
    MC2_RETURN_IF_ERROR(Views(pack, call.get()).status());
    if (!std::equal(setup_descs_.begin(), setup_descs_.end(), call->descs.begin(), call->descs.end(), SameDesc)) {
      return AtbError(atb::kInvalidParam, "variantPack: its tensor descriptions differ from the last Setup's ",
                      "(call Setup again)");
    }
    std::shared_ptr<AtbComm> comm = comm_;
    std::shared_ptr<PlanCache> cache = cache_;
    const LinearParallelAttrs attrs = config_.attrs;
    stream->Enqueue([comm, cache, call, attrs, workspace, workspace_size]() -> Status {
      Status s = Run(*comm, *cache, *call, attrs, workspace, workspace_size);
      if (!s.ok()) s.Prepend("LinearParallelOperation::Execute (on the stream)");
      return s;
    });
    return Status::Ok();
  }

  // The stream's task: plan if any rank needs to, then run.
  static Status Run(const AtbComm& atb_comm, PlanCache& cache, const CallTensors& call,
                    const LinearParallelAttrs& attrs, uint8_t* workspace, uint64_t workspace_size) {
    MC2_ASSIGN_OR_RETURN(comm::Communicator * c, atb_comm.Get());
    Runtime& rt = Runtime::Get();
    const int device = atb_comm.device();
    std::lock_guard<std::mutex> device_lock(rt.DeviceLock(device));
    std::lock_guard<std::mutex> lock(cache.mu);
    const LinearParallelInputs& in = call.t.in;
    const void* bias = in.bias ? in.bias->data : nullptr;
    const void* deq = in.deq_scale ? in.deq_scale->data : nullptr;
    int32_t replan = cache.op == nullptr || cache.comm != c || cache.weight != in.weight.data || cache.bias != bias ||
                     cache.deq_scale != deq || cache.descs.size() != call.descs.size() ||
                     !std::equal(cache.descs.begin(), cache.descs.end(), call.descs.begin(), SameDesc);
    if (c->world_size() > 1) {
      MC2_RETURN_IF_ERROR(c->AllReduce(&replan, &replan, 1, DType::kInt32, comm::ReduceOp::kMax));
    }
    if (replan != 0) {
      cache.op.reset();
      ops::OpContext ctx{c, rt.Pool(device)};
      MC2_ASSIGN_OR_RETURN(cache.op, ops::LinearParallelOp::Create(call.t, attrs, ctx));
      cache.comm = c;
      cache.weight = in.weight.data;
      cache.bias = bias;
      cache.deq_scale = deq;
      cache.descs = call.descs;
    }
    if (cache.op->workspace_bytes() > workspace_size) {
      return AtbError(atb::kInvalidWorkspaceSize, "workspace: ", workspace_size, " bytes but the plan needs ",
                      cache.op->workspace_bytes(), " (Setup's bound was too small: please report)");
    }
    return cache.op->Execute(call.t, workspace, static_cast<size_t>(workspace_size));
  }

  Param param_;
  AtbLpConfig config_;
  uint32_t stream_id_ = 0;  // index into the context's execute streams
  std::shared_ptr<PlanCache> cache_;
  std::shared_ptr<AtbComm> comm_;
  // The last successful Setup.
  AtbContext* setup_context_ = nullptr;
  uint64_t setup_bytes_ = 0;
  std::vector<::atb::TensorDesc> setup_descs_;
  // WorkspaceBound's memo.
  uint64_t bound_bytes_ = 0;
  std::vector<::atb::TensorDesc> bound_descs_;
};

HandleSet<::atb::Operation>& Operations() {
  static auto* set = new HandleSet<::atb::Operation>();
  return *set;
}

// The live LinearParallelOperation behind a handle (the only operation type mc2 makes), or an
// error naming the entry point.
StatusOr<LinearParallelOperation*> FindOperation(const char* entry, const ::atb::Operation* operation) {
  if (operation == nullptr) return AtbError(atb::kInvalidParam, entry, ": operation is null");
  ::atb::Operation* op = Operations().Find(operation);
  if (op == nullptr) {
    return AtbError(atb::kInvalidOperationAddr, entry, ": ", operation,
                    " is not a live operation (from CreateOperation, not destroyed)");
  }
  return static_cast<LinearParallelOperation*>(op);
}

}  // namespace
}  // namespace mc2::api

namespace atb {

template <>
Status CreateOperation(const infer::LinearParallelParam& opParam, Operation** operation) {
  using mc2::api::AtbCode;
  if (operation == nullptr) {
    return AtbCode(mc2::AtbError(mc2::atb::kInvalidParam, "CreateOperation(LinearParallelParam): operation is null"));
  }
  mc2::api::AtbLpConfig config;
  mc2::Status s = mc2::api::CheckAtbLpParam(opParam, &config);
  if (!s.ok()) {
    s.Prepend("CreateOperation(LinearParallelParam)");
    return AtbCode(s);
  }
  auto* op = new (std::nothrow) mc2::api::LinearParallelOperation(opParam, std::move(config));
  if (op == nullptr) {
    return AtbCode(mc2::AtbError(mc2::atb::kOutOfHostMemory, "CreateOperation(LinearParallelParam): out of memory"));
  }
  mc2::api::Operations().Add(op);
  *operation = op;
  return NO_ERROR;
}

template <>
Status CloneOperationParam(const Operation* operation, infer::LinearParallelParam& opParam) {
  auto op = mc2::api::FindOperation("CloneOperationParam(LinearParallelParam)", operation);
  if (!op.ok()) return mc2::api::AtbCode(op.status());
  opParam = (*op)->param();
  return NO_ERROR;
}

template <>
Status UpdateOperationParam(Operation* operation, const infer::LinearParallelParam& opParam) {
  auto op = mc2::api::FindOperation("UpdateOperationParam(LinearParallelParam)", operation);
  if (!op.ok()) return mc2::api::AtbCode(op.status());
  mc2::Status s = (*op)->UpdateParam(opParam);
  if (!s.ok()) s.Prepend("UpdateOperationParam(LinearParallelParam)");
  return mc2::api::AtbCode(s);
}

Status SetExecuteStreamId(Operation* operation, uint32_t streamId) {
  auto op = mc2::api::FindOperation("SetExecuteStreamId", operation);
  if (!op.ok()) return mc2::api::AtbCode(op.status());
  (*op)->set_stream_id(streamId);
  return NO_ERROR;
}

uint32_t GetExecuteStreamId(Operation* operation) {
  auto op = mc2::api::FindOperation("GetExecuteStreamId", operation);
  return op.ok() ? (*op)->stream_id() : 0;
}

Status DestroyOperation(Operation* operation) {
  if (operation == nullptr) return NO_ERROR;
  if (!mc2::api::Operations().Remove(operation)) {
    return mc2::api::AtbCode(mc2::AtbError(static_cast<int32_t>(ERROR_INVALID_OPERATION_ADDR), "DestroyOperation: ", operation,
                                           " is not a live operation (destroyed already?)"));
  }
  delete operation;
  return NO_ERROR;
}

}  // namespace atb
