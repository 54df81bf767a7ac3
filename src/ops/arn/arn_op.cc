#include "ops/arn/arn_op.h"

#include <cstring>
#include <vector>

#include "core/fault.h"
#include "core/trace.h"
#include "ops/arn/arn_fused.h"
#include "ops/common/arg_digest.h"
#include "ops/common/checks.h"
#include "ops/common/symmetric_channel.h"

namespace mc2::ops {

namespace {

constexpr ErrorSpace kSpace = ErrorSpace::kAclnn;
constexpr size_t kAlign = 64;
enum WorkspaceKey : int { kScratch = 1, kBiasCopy = 2 };

template <typename... Args>
Status Invalid(const char* param, const Args&... msg) {
  return Fail(kSpace, aclnn::kErrParamInvalid, param, msg...);
}

size_t RoundUp(size_t v, size_t a) { return (v + a - 1) / a * a; }

// Address of element 0 of a view of a 2-byte or 1-byte dtype.
const char* ElementPtr(const TensorView& v) {
  return static_cast<const char*>(v.data) + v.offset * static_cast<int64_t>(DTypeStorageBytes(v.dtype, 1));
}
char* MutableElementPtr(const TensorView& v) { return const_cast<char*>(ElementPtr(v)); }

// The antiquant scale or offset as a contiguous (groups, n_eff) array of raw 2-byte values, read
// through the view's strides (spec 6.4: a transposed per-group scale is a transposed view).
// n_eff is 1 for a per-tensor view.
std::vector<uint16_t> GatherQuantParam(const TensorView& v, int64_t groups, int64_t n_eff) {
  std::vector<uint16_t> out(static_cast<size_t>(groups * n_eff));
  const auto* base = static_cast<const uint16_t*>(v.data);
  for (int64_t g = 0; g < groups; ++g) {
    for (int64_t j = 0; j < n_eff; ++j) {
      int64_t idx[2] = {0, 0};
      if (v.rank() == 1) {
        idx[0] = v.dims[0] == 1 ? 0 : j;
      } else {
        idx[0] = v.dims[0] == 1 ? 0 : g;
        idx[1] = v.dims[1] == 1 ? 0 : j;
      }
      out[static_cast<size_t>(g * n_eff + j)] = base[v.ElementIndex(idx)];
    }
  }
  return out;
}

}  // namespace

StatusOr<std::unique_ptr<ArnOp>> ArnOp::Create(const ArnTensors& t, const ArnAttrs& attrs, const OpContext& ctx,
                                               const ArnOptions& options) {
  std::unique_ptr<ArnOp> op(new ArnOp());
  op->ctx_ = ctx;
  fault::At("arn.plan", ctx.comm != nullptr ? ctx.comm->rank() : -1);  // MC2_FAULT (core/fault.h)
  const int world = ctx.comm != nullptr ? ctx.comm->world_size() : 1;
  bool empty = false;
  Status local = ValidateArn(t, attrs, world, &empty);
  op->empty_ = empty;
  if (local.ok() && !empty) local = op->Plan(t, attrs, options);

  // Every argument, so that ranks that disagree all fail, naming the parameter.
  ArgDigest digest;
  digest.AddTensor("x1", t.in.x1);
  digest.AddTensor("x2", t.in.x2);
  digest.AddTensor("bias", t.in.bias, /*per_rank_optional=*/true);
  digest.AddTensor("antiquantScale", t.in.antiquant_scale);
  digest.AddTensor("antiquantOffset", t.in.antiquant_offset);
  digest.AddTensor("residual", t.in.residual);
  digest.AddTensor("gamma", t.in.gamma);
  digest.AddTensor("y", t.y);
  digest.AddTensor("normOut", t.norm_out);
  digest.AddDouble("epsilon", attrs.epsilon);
  digest.AddInt("antiquantGroupSize", attrs.antiquant_group_size);
  digest.AddInt("options.algorithm", static_cast<int64_t>(options.algorithm));
  digest.AddInt("options.chunk_rows", options.chunk_rows);
  // The schedule follows from the above and the communicator's options (symmetric buffer size,
  // one-shot limit), which could differ between processes.
  digest.AddInt("schedule.algorithm", static_cast<int64_t>(op->schedule_.algorithm));
  digest.AddInt("schedule.pass_rows", op->schedule_.pass_rows);
  digest.AddInt("schedule.chunk_rows", op->schedule_.chunk_rows);
  if (ctx.comm != nullptr) {
    MC2_RETURN_IF_ERROR(ExchangeAndCheck(*ctx.comm, digest, local, kSpace, aclnn::kErrParamInvalid));
  } else {
    MC2_RETURN_IF_ERROR(local);
  }
  return op;
}

Status ArnOp::Plan(const ArnTensors& t, const ArnAttrs& attrs, const ArnOptions& options) {
  const ArnInputs& in = t.in;
  act_ = in.x1.dtype;
  eps_ = static_cast<float>(attrs.epsilon);
  const int64_t m = LeadingRows(in.x1);
  const int64_t k = in.x2.dims[0];
  const int64_t n = in.x2.dims[1];

  kernels::WqMatmulDesc d;
  d.m_max = m;
  d.k = k;
  d.n = n;
  d.act_dtype = act_;
  d.weight_dtype = in.x2.dtype;
  d.layout = in.x2.IsContiguous() ? kernels::WeightLayout::kKN : kernels::WeightLayout::kNK;
  const int64_t group = attrs.antiquant_group_size;
  const bool per_tensor = group == 0 && in.antiquant_scale.numel() == 1;
  d.scale_mode = group > 0 ? kernels::ScaleMode::kPerGroup
                           : (per_tensor ? kernels::ScaleMode::kPerTensor : kernels::ScaleMode::kPerChannel);
  d.group_size = group;
  d.has_offset = in.antiquant_offset.has_value();
  d.out_dtype = act_;

  if (in.x2.dtype == DType::kInt4 && in.x2.offset % 2 != 0) {
    return Invalid("x2", "int4 view offset is ", in.x2.offset, " but must be even (whole bytes)");
  }
  const char* weight = static_cast<const char*>(in.x2.data) +
                       (in.x2.dtype == DType::kInt4 ? in.x2.offset / 2 : in.x2.offset);
  const int64_t groups = group > 0 ? (k + group - 1) / group : 1;
  const int64_t n_eff = per_tensor ? 1 : n;
  const std::vector<uint16_t> scale = GatherQuantParam(in.antiquant_scale, groups, n_eff);
  std::vector<uint16_t> offset;
  if (d.has_offset) offset = GatherQuantParam(*in.antiquant_offset, groups, n_eff);
  kernels::WqWeightsView w;
  w.weight = weight;
  w.scale = scale.data();
  w.offset = d.has_offset ? offset.data() : nullptr;
  w.stride_g = n_eff;
  w.stride_n = per_tensor ? 0 : 1;
  kernels::Support support = kernels::Support::Yes();
  MC2_RETURN_IF_ERROR(kernels::PlanWqMatmul(d, w, &matmul_, &support));
  if (!support.ok()) return Fail(kSpace, aclnn::kErrInnerTiling, "x2", "no matmul kernel: ", support.reason());
  x2_data_ = weight;
  scale_data_ = ElementPtr(in.antiquant_scale);
  offset_data_ = d.has_offset ? ElementPtr(*in.antiquant_offset) : nullptr;
  has_bias_ = in.bias.has_value();
  bias_contiguous_ = !has_bias_ || in.bias->IsContiguous();

  ArnCommFacts facts;
  if (ctx_.comm != nullptr) {
    SymmetricChannel channel(ctx_.comm);
    facts.world_size = ctx_.comm->world_size();
    facts.half_bytes = channel.Usable() ? channel.half_bytes() : 0;
    facts.oneshot_max_bytes = ctx_.comm->options().oneshot_max_bytes;
  }
  schedule_ = ChooseArnSchedule(m, n, k, DTypeStorageBytes(act_, 1), facts, options);
  if (schedule_.algorithm == ArnAlgorithm::kChained && schedule_.chunk_rows < schedule_.m) {
    progress_ = std::make_unique<ProgressThread>();
  }

  const int threads = ctx_.pool != nullptr ? ctx_.pool->num_threads() : 1;
  scratch_slice_ = RoundUp(matmul_.ScratchBytes(schedule_.max_matmul_rows()), kAlign);
  booking_.Book(kScratch, scratch_slice_ * static_cast<size_t>(threads), kAlign);
  if (!bias_contiguous_) booking_.Book(kBiasCopy, static_cast<size_t>(n) * schedule_.elem, kAlign);
  // Slack to align whatever pointer the caller passes.
  workspace_bytes_ = booking_.total_bytes() + kAlign;
  return Status::Ok();
}

Status ArnOp::CheckCall(const ArnTensors& t, size_t workspace_bytes, void* workspace) const {
  const ArnSchedule& s = schedule_;
  if (workspace_bytes < workspace_bytes_ || (workspace_bytes_ > 0 && workspace == nullptr)) {
    return Invalid("workspace", workspace_bytes, " bytes at ", workspace, " but the plan needs ", workspace_bytes_);
  }
  const std::pair<const char*, const TensorView*> data[] = {
      {"x1", &t.in.x1}, {"residual", &t.in.residual}, {"gamma", &t.in.gamma}, {"y", &t.y}, {"normOut", &t.norm_out}};
  for (const auto& [name, v] : data) {
    if (v->data == nullptr) return Fail(kSpace, aclnn::kErrParamNullptr, name, "data is null");
  }
  if (t.in.x1.numel() != s.m * s.k || t.in.residual.numel() != s.m * s.n || t.y.numel() != s.m * s.n ||
      t.norm_out.numel() != s.m * s.n) {
    return Invalid("x1", "shapes differ from the plan's (m, k, n) = (", s.m, ", ", s.k, ", ", s.n,
                   "); make a new plan");
  }
  const char* weight = static_cast<const char*>(t.in.x2.data) +
                       (t.in.x2.dtype == DType::kInt4 ? t.in.x2.offset / 2 : t.in.x2.offset);
  if (weight != x2_data_ || ElementPtr(t.in.antiquant_scale) != scale_data_ ||
      (t.in.antiquant_offset ? ElementPtr(*t.in.antiquant_offset) : nullptr) != offset_data_) {
    return Invalid("x2", "weight, antiquantScale or antiquantOffset is not the one packed at plan time; make a new plan");
  }
  if (t.in.bias.has_value() != has_bias_) {
    return Invalid("bias", has_bias_ ? "absent" : "present", " but the plan was made ", has_bias_ ? "with" : "without",
                   " it");
  }
  return Status::Ok();
}

ArnRun ArnOp::MakeRun(const ArnTensors& t, void* workspace) {
  char* base = reinterpret_cast<char*>(RoundUp(reinterpret_cast<uintptr_t>(workspace), kAlign));
  ArnRun run;
  run.schedule = &schedule_;
  run.matmul = &matmul_;
  run.comm = ctx_.comm;
  run.pool = ctx_.pool;
  run.act = act_;
  run.eps = eps_;
  run.x1 = ElementPtr(t.in.x1);
  run.residual = ElementPtr(t.in.residual);
  run.gamma = ElementPtr(t.in.gamma);
  run.y = MutableElementPtr(t.y);
  run.norm_out = MutableElementPtr(t.norm_out);
  run.scratch = static_cast<char*>(booking_.Get(base, kScratch));
  run.scratch_slice = scratch_slice_;
  run.progress = progress_.get();
  run.phases = phase_log_;
  if (has_bias_) {
    if (bias_contiguous_) {
      run.bias = ElementPtr(*t.in.bias);
    } else {
      auto* copy = static_cast<uint16_t*>(booking_.Get(base, kBiasCopy));
      const auto* src = static_cast<const uint16_t*>(t.in.bias->data);
      for (int64_t j = 0; j < schedule_.n; ++j) copy[j] = src[t.in.bias->offset + j * t.in.bias->strides[0]];
      run.bias = copy;
    }
  }
  return run;
}

Status ArnOp::Execute(const ArnTensors& t, void* workspace, size_t workspace_bytes) {
  MC2_TRACE_SCOPE("WeightQuantMatmulAllReduceAddRmsNorm.execute", kOther);  // core/trace.h
  fault::At("arn.execute", ctx_.comm != nullptr ? ctx_.comm->rank() : -1);  // MC2_FAULT (core/fault.h)
  if (empty_) return Status::Ok();
  MC2_RETURN_IF_ERROR(CheckCall(t, workspace_bytes, workspace));
  return RunArn(MakeRun(t, workspace));
}

Status ArnOp::ExecuteLocalProduct(const ArnTensors& t, void* dst, void* workspace, size_t workspace_bytes) {
  if (empty_) return Status::Ok();
  MC2_RETURN_IF_ERROR(CheckCall(t, workspace_bytes, workspace));
  if (dst == nullptr) return Fail(kSpace, aclnn::kErrParamNullptr, "dst", "data is null");
  return RunArnLocalProduct(MakeRun(t, workspace), static_cast<char*>(dst));
}

}  // namespace mc2::ops
