#include "ops/moe/moe_op.h"

#include "core/fault.h"
#include "core/trace.h"
#include "ops/common/arg_digest.h"
#include "ops/common/checks.h"
#include "ops/common/symmetric_channel.h"
#include "ops/moe/moe_fused.h"

namespace mc2::ops {
namespace {

constexpr ErrorSpace kSpace = ErrorSpace::kAclnn;
constexpr size_t kAlign = 64;
enum WorkspaceKey : int { kScratch = 1, kBias = 2, kChain = 3 };

template <typename... Args>
Status Invalid(const char* param, const Args&... msg) {
  return Fail(kSpace, aclnn::kErrParamInvalid, param, msg...);
}

size_t RoundUp(size_t v, size_t a) { return (v + a - 1) / a * a; }

const char* ElementPtr(const TensorView& v) {
  return static_cast<const char*>(v.data) + v.offset * static_cast<int64_t>(DTypeStorageBytes(v.dtype, 1));
}
char* MutableElementPtr(const TensorView& v) { return const_cast<char*>(ElementPtr(v)); }

Status CheckWorldSizes(const MoeAttrs& attrs, const MoeContext& ctx) {
  if (ctx.ep->world_size() != attrs.ep_world_size) {
    return Invalid("epWorldSize", "is ", attrs.ep_world_size, " but the EP communicator '", ctx.ep->name(), "' has ",
                   ctx.ep->world_size(), " ranks (they must match)");
  }
  if (ctx.tp->world_size() != attrs.tp_world_size) {
    return Invalid("tpWorldSize", "is ", attrs.tp_world_size, " but the TP communicator '", ctx.tp->name(), "' has ",
                   ctx.tp->world_size(), " ranks (they must match)");
  }
  return Status::Ok();
}

void AddCommon(ArgDigest& d, const MoeTensors& t, const MoeAttrs& attrs, const MoeOptions& options,
               const MoeSchedule& schedule) {
  d.AddTensor("x", t.in.x);
  d.AddTensor("weight", t.in.weight);
  d.AddInt("weight.transposed", t.in.weight.IsContiguous() ? 0 : 1);
  d.AddTensor("biasOptional", t.in.bias);
  d.AddTensor("y1Out", t.y1);
  d.AddTensor("y2OutOptional", t.y2);
  d.AddTensor("y3OutOptional", t.y3);
  d.AddInt("epWorldSize", attrs.ep_world_size);
  d.AddInt("tpWorldSize", attrs.tp_world_size);
  d.AddInt("xShardType", attrs.x_shard_type);
  d.AddInt("actType", static_cast<int64_t>(attrs.act_type));
  d.AddInt("options.algorithm", static_cast<int64_t>(options.algorithm));
  d.AddInt("options.experts_per_pass", options.experts_per_pass);
  // Follows from the above and the communicators' symmetric buffer sizes, which could differ.
  d.AddInt("schedule.algorithm", static_cast<int64_t>(schedule.algorithm));
  d.AddInt("schedule.experts_per_pass", schedule.experts_per_pass);
}

// A communication failure in one group breaks the other too: its members that share no group
// with the failed rank then stop waiting at once and can name it (Communicator::AbortFrom).
void ShareFailure(const MoeContext& ctx) {
  if (!ctx.ep->health().ok()) ctx.tp->AbortFrom(*ctx.ep);
  if (!ctx.tp->health().ok()) ctx.ep->AbortFrom(*ctx.tp);
}

}  // namespace

StatusOr<std::unique_ptr<MoeOp>> MoeOp::Create(const MoeTensors& t, const MoeAttrs& attrs, const MoeContext& ctx,
                                               const MoeOptions& options) {
  if (ctx.ep == nullptr || ctx.tp == nullptr) {
    return Fail(kSpace, aclnn::kErrParamNullptr, ctx.ep == nullptr ? "groupEp" : "groupTp",
                "no communicator given (the operator needs both the EP and the TP group)");
  }
  const int grid_rank = ctx.ep->rank() * ctx.tp->world_size() + ctx.tp->rank();
  fault::At("moe.plan", grid_rank);  // MC2_FAULT (core/fault.h)
  std::unique_ptr<MoeOp> op(new MoeOp());
  op->ctx_ = ctx;
  Status local = ValidateMoe(t, attrs);
  if (local.ok()) local = CheckWorldSizes(attrs, ctx);
  if (local.ok()) local = op->Plan(t, attrs, options);

  // The grid: every member of an EP group has the same TP rank, every member of a TP group the
  // same EP rank (spec 3.3); a wrong pairing of communicators shows up as a disagreement here.
  ArgDigest ep_digest, tp_digest;
  AddCommon(ep_digest, t, attrs, options, op->schedule_);
  ep_digest.AddInt("tpRank (this rank's rank in its TP group)", ctx.tp->rank());
  AddCommon(tp_digest, t, attrs, options, op->schedule_);
  tp_digest.AddInt("epRank (this rank's rank in its EP group)", ctx.ep->rank());
  // EP, TP, EP: a failure on any rank reaches its EP group, then every TP group, then every EP
  // group, so all ranks of the grid fail together instead of some waiting in Execute.
  Status s = ExchangeAndCheck(*ctx.ep, ep_digest, local, kSpace, aclnn::kErrParamInvalid, grid_rank);
  if (local.ok() && !s.ok()) s.Prepend("EP group");
  const bool failed_before_tp = !s.ok();
  s = ExchangeAndCheck(*ctx.tp, tp_digest, s, kSpace, aclnn::kErrParamInvalid, grid_rank);
  if (!failed_before_tp && !s.ok()) s.Prepend("TP group");
  const bool failed_before_ep2 = !s.ok();
  s = ExchangeAndCheck(*ctx.ep, ep_digest, s, kSpace, aclnn::kErrParamInvalid, grid_rank);
  if (!failed_before_ep2 && !s.ok()) s.Prepend("EP group");
  if (!s.ok()) {
    ShareFailure(ctx);
    return s;
  }
  return op;
}

StatusOr<size_t> MoeOp::LocalWorkspaceBytes(const MoeTensors& t, const MoeAttrs& attrs, const MoeContext& ctx,
                                             const MoeOptions& options) {
  if (ctx.ep == nullptr || ctx.tp == nullptr) {
    return Fail(kSpace, aclnn::kErrParamNullptr, ctx.ep == nullptr ? "groupEp" : "groupTp",
                "no communicator given (the operator needs both the EP and the TP group)");
  }
  MoeOp op;
  op.ctx_ = ctx;
  MC2_RETURN_IF_ERROR(ValidateMoe(t, attrs));
  MC2_RETURN_IF_ERROR(CheckWorldSizes(attrs, ctx));
  MC2_RETURN_IF_ERROR(op.Plan(t, attrs, options));
  return op.workspace_bytes_;
}

Status MoeOp::Plan(const MoeTensors& t, const MoeAttrs& attrs, const MoeOptions& options) {
  for (const auto& [name, v] : {std::pair{"y2OutOptional", &t.y2}, std::pair{"y3OutOptional", &t.y3}}) {
    if (*v && !(*v)->IsContiguous()) return Invalid(name, "must be contiguous, strides are ", (*v)->strides.ToString());
  }
  const TensorView& x = t.in.x;
  const TensorView& w = t.in.weight;
  g_.ep = attrs.ep_world_size;
  g_.tp = attrs.tp_world_size;
  g_.el = w.dims[0];
  g_.cl = x.dims[1];
  g_.hl = x.dims[2];
  g_.h = w.dims[1];
  g_.ml = w.dims[2];
  g_.shard_h = attrs.x_shard_type == 0;
  g_.rows = t.y1.dims[1];
  g_.dt = x.dtype;
  g_.elem = DTypeStorageBytes(x.dtype, 1);
  g_.w_transposed = !w.IsContiguous();
  g_.act = attrs.act_type;
  g_.has_bias = t.in.bias.has_value();
  g_.want_y2 = t.y2.has_value();
  g_.want_y3 = t.y3.has_value();

  SymmetricChannel ep_ch(ctx_.ep), tp_ch(ctx_.tp);
  const size_t ep_half = ep_ch.Usable() ? ep_ch.half_bytes() : 0;
  const size_t tp_half = tp_ch.Usable() ? tp_ch.half_bytes() : 0;
  schedule_ = ChooseMoeSchedule(g_, ep_half, tp_half, options);
  PrefaultMoeBuffers(ctx_.ep, ctx_.tp, g_, schedule_);

  const int threads = ctx_.pool != nullptr ? ctx_.pool->num_threads() : 1;
  scratch_slice_ = RoundUp(MoeScratchSlice(g_), kAlign);
  booking_.Book(kScratch, scratch_slice_ * static_cast<size_t>(threads), kAlign);
  if (g_.has_bias) booking_.Book(kBias, static_cast<size_t>(g_.el * g_.ml) * sizeof(float), kAlign);
  booking_.Book(kChain, MoeChainBytes(g_, schedule_.algorithm), kAlign);
  if (MoeChainPipelined(g_, schedule_.algorithm)) progress_ = std::make_unique<ProgressThread>();
  workspace_bytes_ = booking_.total_bytes() + kAlign;  // slack to align the caller's pointer
  return Status::Ok();
}

Status MoeOp::CheckCall(const MoeTensors& t, size_t workspace_bytes, void* workspace) const {
  if (workspace_bytes < workspace_bytes_ || workspace == nullptr) {
    return Invalid("workspace", workspace_bytes, " bytes at ", workspace, " but the plan needs ", workspace_bytes_);
  }
  const std::pair<const char*, const TensorView*> data[] = {{"x", &t.in.x}, {"weight", &t.in.weight}, {"y1Out", &t.y1}};
  for (const auto& [name, v] : data) {
    if (v->data == nullptr) return Fail(kSpace, aclnn::kErrParamNullptr, name, "data is null");
  }
  if (t.in.x.numel() != g_.ep * g_.el * g_.block() || t.y1.numel() != g_.el * g_.rows * g_.ml ||
      t.in.weight.numel() != g_.el * g_.h * g_.ml || t.in.weight.IsContiguous() == g_.w_transposed) {
    return Invalid("x", "shapes differ from the plan's; make a new plan");
  }
  if (t.in.bias.has_value() != g_.has_bias || t.y2.has_value() != g_.want_y2 || t.y3.has_value() != g_.want_y3) {
    return Invalid("biasOptional", "bias, y2 or y3 presence differs from the plan's; make a new plan");
  }
  for (const auto& [name, v] : {std::pair{"biasOptional", &t.in.bias}, std::pair{"y2OutOptional", &t.y2},
                                std::pair{"y3OutOptional", &t.y3}}) {
    if (*v && (*v)->data == nullptr) return Fail(kSpace, aclnn::kErrParamNullptr, name, "data is null");
  }
  return Status::Ok();
}

Status MoeOp::Execute(const MoeTensors& t, void* workspace, size_t workspace_bytes) {
  MC2_TRACE_SCOPE("AlltoAllAllGatherBatchMatMul.execute", kOther);  // core/trace.h
  fault::At("moe.execute", ctx_.ep->rank() * ctx_.tp->world_size() + ctx_.tp->rank());  // MC2_FAULT (core/fault.h)
  MC2_RETURN_IF_ERROR(CheckCall(t, workspace_bytes, workspace));
  char* base = reinterpret_cast<char*>(RoundUp(reinterpret_cast<uintptr_t>(workspace), kAlign));
  MoeRun run;
  run.g = &g_;
  run.schedule = &schedule_;
  run.ep = ctx_.ep;
  run.tp = ctx_.tp;
  run.pool = ctx_.pool;
  run.x = ElementPtr(t.in.x);
  const TensorView& w = t.in.weight;
  run.w = ElementPtr(w);
  run.w_stride = g_.w_transposed ? w.strides[2] : w.strides[1];
  run.w_batch_stride = w.strides[0];
  run.y1 = MutableElementPtr(t.y1);
  run.y2 = t.y2 ? MutableElementPtr(*t.y2) : nullptr;
  run.y3 = t.y3 ? MutableElementPtr(*t.y3) : nullptr;
  run.scratch = static_cast<char*>(booking_.Get(base, kScratch));
  run.scratch_slice = scratch_slice_;
  run.chain = static_cast<char*>(booking_.Get(base, kChain));
  run.progress = progress_.get();
  run.times = times_;
  if (times_ != nullptr) ++times_->calls;
  if (g_.has_bias) {
    // (El, M/tp) fp32 whatever the bias layout (2-D or 3-D, fp16 or fp32, strided): exact.
    auto* bias = static_cast<float*>(booking_.Get(base, kBias));
    const TensorView& b = *t.in.bias;
    for (int64_t e = 0; e < g_.el; ++e) {
      for (int64_t j = 0; j < g_.ml; ++j) {
        const int64_t idx3[3] = {e, 0, j};
        const int64_t idx2[2] = {e, j};
        bias[e * g_.ml + j] = static_cast<float>(b.Load(b.rank() == 3 ? idx3 : idx2));
      }
    }
    run.bias = bias;
  }
  const Status s = schedule_.algorithm == MoeAlgorithm::kFused ? RunMoeFused(run) : RunMoeChained(run);
  if (!s.ok()) ShareFailure(ctx_);
  return s;
}

}  // namespace mc2::ops
