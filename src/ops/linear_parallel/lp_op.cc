#include "ops/linear_parallel/lp_op.h"

#include <algorithm>

#include "core/fault.h"
#include "core/trace.h"
#include "kernels/reduce.h"
#include "kernels/wq_matmul.h"
#include "ops/common/arg_digest.h"
#include "ops/linear_parallel/lp_fused.h"
#include "ops/common/symmetric_channel.h"

namespace mc2::ops {

namespace {

using Type = LinearParallelType;

constexpr size_t kAlign = 64;
enum WorkspaceKey : int { kScratch = 1, kBuffer = 2 };
// Prefill chunks: at least this many rows (the kernels' per-call costs stay amortized), about
// this many per pass (the last, unhidden reduction is a quarter of the total). 256, not 64: the
// float and W8A16 kernels prepare every weight panel again on each call, and linear_parallel_bench
// (2 ranks, fp16, k = 2048, n = 4096, m = 256) measured 4 chunks of 64 rows at 1.59x the matmul
// alone (LINEAR_REDUCE_SCATTER: 1.70x) against 1.00x for one chunk (as ArnOp found, arn_schedule.cc).
constexpr int64_t kMinChunkRows = 256;
constexpr int64_t kTargetChunks = 4;
// Chained prefill (ranks on other machines): chunks of at least this many rows (as ARN's,
// arn_schedule.cc: a slow link makes hiding the transfer worth smaller matmul calls).
constexpr int64_t kMinChainedChunkRows = 128;
constexpr int64_t kChainedTargetChunks = 8;  // why 8: arn_schedule.cc

int64_t CeilDiv(int64_t a, int64_t b) { return (a + b - 1) / b; }

// Chunks of `rows` rows: one for decode, else ~kTargetChunks of >= kMinChunkRows, at most `max_chunks`.
int64_t ChunkRows(int64_t rows, int64_t forced, int64_t max_chunks) {
  int64_t chunk = forced;
  if (chunk <= 0) {
    chunk = rows <= kernels::kWqDecodeMaxM ? rows : std::max(kMinChunkRows, CeilDiv(rows, kTargetChunks));
  }
  chunk = std::max(chunk, CeilDiv(rows, std::max<int64_t>(1, max_chunks)));
  return std::max<int64_t>(1, std::min(chunk, rows));
}

}  // namespace

const char* LpAlgorithmName(LpAlgorithm a) {
  switch (a) {
    case LpAlgorithm::kAuto: return "auto";
    case LpAlgorithm::kLocal: return "local";
    case LpAlgorithm::kOneShot: return "one-shot";
    case LpAlgorithm::kTwoShot: return "two-shot";
    case LpAlgorithm::kChained: return "chained";
  }
  return "?";
}

StatusOr<std::unique_ptr<LinearParallelOp>> LinearParallelOp::Create(const LinearParallelTensors& t,
                                                                      const LinearParallelAttrs& attrs,
                                                                      const OpContext& ctx, const LpOptions& options) {
  std::unique_ptr<LinearParallelOp> op(new LinearParallelOp());
  op->ctx_ = ctx;
  fault::At("lp.plan", ctx.comm != nullptr ? ctx.comm->rank() : -1);  // MC2_FAULT (core/fault.h)
  op->attrs_ = attrs;
  const int world = ctx.comm != nullptr ? ctx.comm->world_size() : 1;
  StatusOr<LpShapeInfo> info = ValidateLinearParallel(t, attrs, world);
  Status local = info.status();
  if (local.ok()) local = op->Plan(t, *info, options);

  ArgDigest digest;
  digest.AddTensor("input", t.in.input);
  digest.AddTensor("weight", t.in.weight);
  digest.AddTensor("bias", t.in.bias);
  digest.AddTensor("deqScale", t.in.deq_scale);
  digest.AddTensor("residual", t.in.residual);
  digest.AddTensor("perTokenScale", t.in.per_token_scale);
  digest.AddTensor("output", t.output);
  digest.AddTensor("intermediateOutput", t.intermediate);
  digest.AddInt("type", static_cast<int64_t>(attrs.type));
  digest.AddInt("transWeight", attrs.trans_weight);
  digest.AddInt("hasResidual", attrs.has_residual);
  digest.AddInt("keepIntermediate", attrs.keep_intermediate);
  digest.AddInt("quantType", static_cast<int64_t>(attrs.quant_type));
  digest.AddInt("quantGroupSize", attrs.quant_group_size);
  digest.AddInt("outDataType", attrs.out_dtype ? static_cast<int64_t>(*attrs.out_dtype) : -1);
  digest.AddInt("twoDimTPInfo.agDim", attrs.ag_dim);
  digest.AddInt("twoDimTPInfo.rsDim", attrs.rs_dim);
  digest.AddInt("twoDimTPInfo.innerDimIsAg", attrs.inner_dim_is_ag);
  digest.AddInt("options.algorithm", static_cast<int64_t>(options.algorithm));
  digest.AddInt("options.chunk_rows", options.chunk_rows);
  // Follows from the above and the communicator's options, which may differ between processes.
  digest.AddInt("schedule.algorithm", static_cast<int64_t>(op->schedule_.algorithm));
  digest.AddInt("schedule.pass_rows", op->schedule_.pass_rows);
  digest.AddInt("schedule.gather_first", op->schedule_.gather_first ? 1 : 0);
  digest.AddInt("schedule.chunk_rows", op->schedule_.chunk_rows);
  if (ctx.comm != nullptr) {
    MC2_RETURN_IF_ERROR(ExchangeAndCheck(*ctx.comm, digest, local, ErrorSpace::kAtb, atb::kInvalidParam));
  } else {
    MC2_RETURN_IF_ERROR(local);
  }
  return op;
}

Status LinearParallelOp::Plan(const LinearParallelTensors& t, const LpShapeInfo& info, const LpOptions& options) {
  LpSchedule& s = schedule_;
  s.type = attrs_.type;
  s.world_size = ctx_.comm != nullptr ? ctx_.comm->world_size() : 1;
  s.rows = info.rows;
  s.k = info.k;
  s.n = info.n;
  s.in_elem = DTypeStorageBytes(info.in_dtype, 1);
  s.out_elem = DTypeStorageBytes(info.out_dtype, 1);
  has_residual_ = attrs_.has_residual;
  empty_ = s.rows == 0 || s.n == 0;
  const int world = s.world_size;

  size_t half = 0;
  size_t oneshot_max = 256 << 10;
  if (ctx_.comm != nullptr) {
    SymmetricChannel channel(ctx_.comm);
    half = channel.Usable() ? channel.half_bytes() : 0;
    oneshot_max = ctx_.comm->options().oneshot_max_bytes;
  }
  const bool grid_of_one = s.type == Type::kAllGatherLinearReduceScatter && world == 1;
  LpAlgorithm a = options.algorithm;
  if (world <= 1 || s.type == Type::kPureLinear || grid_of_one) {
    a = LpAlgorithm::kLocal;
  } else if (world > kernels::kMaxReduceSources || a == LpAlgorithm::kLocal || half == 0) {
    a = LpAlgorithm::kChained;
  } else if (s.type != Type::kLinearAllReduce && a != LpAlgorithm::kChained) {
    a = LpAlgorithm::kOneShot;  // the only fused form of the other types
  } else if (a == LpAlgorithm::kAuto) {
    const bool small = static_cast<size_t>(s.rows * s.n) * s.out_elem <= oneshot_max;
    a = small || s.rows < 2 * world ? LpAlgorithm::kOneShot : LpAlgorithm::kTwoShot;
  }
  s.algorithm = a;
  int64_t matmul_rows = s.rows;
  if (a == LpAlgorithm::kChained && s.type == Type::kAllGatherLinear) matmul_rows = s.rows * world;
  if (a == LpAlgorithm::kChained && s.type == Type::kAllGatherLinearReduceScatter) {
    return AtbError(atb::kInvalidParam, "type: ALL_GATHER_LINEAR_REDUCE_SCATTER needs every rank's symmetric buffer "
                    "mapped in this process (same machine) and at most ", kernels::kMaxReduceSources, " ranks");
  }
  if (a == LpAlgorithm::kOneShot || a == LpAlgorithm::kTwoShot) {
    const size_t rb = static_cast<size_t>(s.n) * s.out_elem;
    const size_t xb = static_cast<size_t>(s.k) * s.in_elem;
    switch (s.type) {
      case Type::kLinearAllReduce: {
        s.pass_rows = std::max<int64_t>(1, std::min<int64_t>(s.rows, rb ? static_cast<int64_t>(half / rb) : s.rows));
        s.chunk_rows = ChunkRows(s.pass_rows, options.chunk_rows, kLpMaxChunks);
        matmul_rows = s.chunk_rows;
        break;
      }
      case Type::kLinearReduceScatter: {
        const int64_t block = s.rows / world;
        const int64_t fit = rb ? static_cast<int64_t>(half / (rb * static_cast<size_t>(world))) : block;
        s.pass_rows = std::max<int64_t>(1, std::min(block, fit));
        const int64_t max_chunks = std::max<int64_t>(1, SymmetricChannel::kDataSignals / world);
        s.chunk_rows = ChunkRows(s.pass_rows, options.chunk_rows > 0 ? options.chunk_rows
                                                                     : (s.rows <= kernels::kWqDecodeMaxM ? s.pass_rows : 0),
                                 max_chunks);
        // One chunk over whole blocks runs as one matmul call over every row (lp_fused.cc).
        matmul_rows = s.chunk_rows == block ? s.rows : s.chunk_rows;
        break;
      }
      case Type::kAllGatherLinear:
        s.pass_rows = std::max<int64_t>(1, std::min<int64_t>(s.rows, xb ? static_cast<int64_t>(half / xb) : s.rows));
        s.chunk_rows = s.pass_rows;
        s.gather_first = s.pass_rows == s.rows && s.rows < kLpGatherFirstRows;
        matmul_rows = s.gather_first ? s.rows * world : s.pass_rows;
        break;
      case Type::kAllGatherLinearReduceScatter: {
        // Half: x (m rows, aligned), then rs blocks of pass_rows product rows each.
        const int64_t block = s.rows * attrs_.ag_dim / attrs_.rs_dim;
        const size_t x_bytes = (static_cast<size_t>(s.rows) * xb + kAlign - 1) / kAlign * kAlign;
        const size_t per_row = static_cast<size_t>(attrs_.rs_dim) * rb;
        const int64_t fit = half > x_bytes && per_row > 0 ? static_cast<int64_t>((half - x_bytes) / per_row) : 0;
        const int64_t max_chunks = (SymmetricChannel::kDataSignals - 1) / attrs_.rs_dim;
        if (fit < 1 || max_chunks < 1) {
          return AtbError(atb::kInvalidParam, "input: ALL_GATHER_LINEAR_REDUCE_SCATTER needs ", x_bytes + per_row,
                          " bytes of the symmetric buffer's half for one row, which has ", half,
                          " (raise HCCL_BUFFSIZE or split the call)");
        }
        s.pass_rows = std::max<int64_t>(1, std::min(block, fit));
        s.chunk_rows = ChunkRows(s.pass_rows, options.chunk_rows > 0 ? options.chunk_rows
                                                                     : (block <= kernels::kWqDecodeMaxM ? s.pass_rows : 0),
                                 max_chunks);
        matmul_rows = std::min(s.chunk_rows, s.rows);
        break;
      }
      case Type::kPureLinear:
        break;
    }
    if (half > 0 && s.type != Type::kAllGatherLinearReduceScatter && LpPassBytes(s, 1) > half) {
      s.algorithm = LpAlgorithm::kChained;  // not even one row fits: the chain streams it
      s.gather_first = false;
      matmul_rows = s.type == Type::kAllGatherLinear ? s.rows * world : s.rows;
    }
  }
  if (s.algorithm == LpAlgorithm::kLocal || s.algorithm == LpAlgorithm::kChained) {
    s.pass_rows = s.rows;
    s.chunk_rows = s.rows;
  }
  if (s.algorithm == LpAlgorithm::kChained) {
    // Prefill between machines: chunks on the progress thread (lp_fused.h). The rows cut into
    // chunks: the product's (all-reduce), each block's (reduce-scatter), the input's (all-gather).
    const int64_t cut = s.type == Type::kLinearReduceScatter ? s.rows / world : s.rows;
    s.chunk_rows = cut;
    if (cut > kernels::kWqDecodeMaxM || (options.chunk_rows > 0 && options.chunk_rows < cut)) {
      int64_t chunk = options.chunk_rows > 0 ? options.chunk_rows
                                             : std::max(kMinChainedChunkRows, CeilDiv(cut, kChainedTargetChunks));
      chunk = std::max(chunk, CeilDiv(cut, kLpMaxChunks));
      s.chunk_rows = std::max<int64_t>(1, std::min(chunk, cut));
    }
    if (s.chunk_rows < cut) {
      matmul_rows = s.chunk_rows;
      progress_ = std::make_unique<ProgressThread>();
    }
  }
  s.max_matmul_rows = matmul_rows;
  if (empty_) return Status::Ok();

  const int threads = ctx_.pool != nullptr ? ctx_.pool->num_threads() : 1;
  MC2_RETURN_IF_ERROR(local_.Plan(t.in, attrs_, info, matmul_rows, threads));
  booking_.Book(kScratch, local_.scratch_bytes(), kAlign);
  booking_.Book(kBuffer, LpBufferBytes(s, t.intermediate.has_value()), kAlign);
  workspace_bytes_ = booking_.total_bytes() + kAlign;  // slack to align the caller's pointer
  return Status::Ok();
}

Status LinearParallelOp::CheckCall(const LinearParallelTensors& t, void* workspace, size_t workspace_bytes) const {
  if (workspace_bytes < workspace_bytes_ || (workspace_bytes_ > 0 && workspace == nullptr)) {
    return AtbError(atb::kInvalidParam, "workspace: ", workspace_bytes, " bytes at ", workspace, " but Setup needs ",
                    workspace_bytes_);
  }
  const LpSchedule& s = schedule_;
  if (t.in.input.numel() != s.rows * s.k || t.in.input.data == nullptr || t.output.data == nullptr) {
    return AtbError(atb::kInvalidParam, "input: ", t.in.input.dims.ToString(), " or its data differ from the plan's (",
                    s.rows, ", ", s.k, "); make a new plan");
  }
  if (t.in.residual.has_value() != has_residual_ || (t.in.residual && t.in.residual->data == nullptr)) {
    return AtbError(atb::kInvalidParam, "residual: not as at Setup");
  }
  if (t.intermediate.has_value() != attrs_.keep_intermediate || (t.intermediate && t.intermediate->data == nullptr)) {
    return AtbError(atb::kInvalidParam, "intermediateOutput: not as at Setup");
  }
  if (!local_.SameWeights(t.in)) {
    return AtbError(atb::kInvalidParam, "weight: weight, bias or deqScale is not the one packed at Setup; make a new plan");
  }
  return Status::Ok();
}

Status LinearParallelOp::Execute(const LinearParallelTensors& t, void* workspace, size_t workspace_bytes) {
  MC2_TRACE_SCOPE("LinearParallel.execute", kOther);  // core/trace.h
  fault::At("lp.execute", ctx_.comm != nullptr ? ctx_.comm->rank() : -1);  // MC2_FAULT (core/fault.h)
  if (empty_) return Status::Ok();
  MC2_RETURN_IF_ERROR(CheckCall(t, workspace, workspace_bytes));
  char* base = reinterpret_cast<char*>((reinterpret_cast<uintptr_t>(workspace) + kAlign - 1) / kAlign * kAlign);
  LpRun run;
  run.schedule = &schedule_;
  run.attrs = &attrs_;
  run.local = &local_;
  run.comm = ctx_.comm;
  run.pool = ctx_.pool;
  run.in_dtype = t.in.input.dtype;
  run.out_dtype = t.output.dtype;
  run.x = LpElementPtr(t.in.input);
  run.token_scale = t.in.per_token_scale ? reinterpret_cast<const float*>(LpElementPtr(*t.in.per_token_scale)) : nullptr;
  run.residual = t.in.residual ? LpElementPtr(*t.in.residual) : nullptr;
  run.out = const_cast<char*>(LpElementPtr(t.output));
  run.intermediate = t.intermediate ? const_cast<char*>(LpElementPtr(*t.intermediate)) : nullptr;
  run.matmul_scratch = static_cast<char*>(booking_.Get(base, kScratch));
  run.buffer = static_cast<char*>(booking_.Get(base, kBuffer));
  run.progress = progress_.get();
  return RunLinearParallel(run);
}

}  // namespace mc2::ops
