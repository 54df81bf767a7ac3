#include "ops/arn/arn_fused.h"

#include <algorithm>
#include <atomic>
#include <chrono>

#include "core/trace.h"
#include "kernels/reduce.h"
#include "kernels/rms_norm.h"
#include "ops/common/symmetric_channel.h"

namespace mc2::ops {

namespace {

// Rows per reduce + norm tile: ~16 KiB of each product, so the R sources, the sum and the
// residual of a tile stay in L1/L2 between the reduction and the norm.
constexpr size_t kTileBytes = 16 << 10;
// Matmul ranges are cut by rows too once a chunk has this many rows (kernels::SplitRange).
constexpr int64_t kMatmulSplitRows = 64;
double NowUs() {
  return std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

// Adds the time since `t0` to one field of run.phases (when timing) and returns the new start.
double Lap(const ArnRun& run, double ArnPhases::*field, double t0) {
  if (run.phases == nullptr) return 0;
  const double now = NowUs();
  run.phases->*field += now - t0;
  return now;
}
double Start(const ArnRun& run) { return run.phases != nullptr ? NowUs() : 0; }

int Threads(const ArnRun& run) { return run.pool != nullptr ? run.pool->num_threads() : 1; }

template <typename Fn>
Status ForTasks(ThreadPool* pool, int64_t n_tasks, const Fn& fn) {
  if (pool == nullptr || pool->num_threads() <= 1 || n_tasks <= 1) {
    for (int64_t t = 0; t < n_tasks; ++t) fn(t, 0);
    return Status::Ok();
  }
  return pool->ParallelFor(n_tasks, fn);
}

size_t RowBytes(const ArnRun& run) { return static_cast<size_t>(run.schedule->n) * run.schedule->elem; }

// The first error of concurrent tasks.
class FirstError {
 public:
  void Record(Status s) {
    if (!s.ok() && !failed_.exchange(true)) status_ = std::move(s);
  }
  Status Take() { return failed_.load() ? status_ : Status::Ok(); }

 private:
  std::atomic<bool> failed_{false};
  Status status_;
};

// Whether the chained prefill pipeline (progress thread, column blocks) runs this schedule.
bool Pipelined(const ArnRun& run) {
  const ArnSchedule& s = *run.schedule;
  return s.algorithm == ArnAlgorithm::kChained && run.progress != nullptr && s.chunk_rows < s.m;
}

Status MatmulRange(const ArnRun& run, const kernels::WqMatmulArgs& args, int64_t rows, int64_t c0, int64_t c1);

// Products of rows [row0, row0 + rows) into dst (row stride n), rounded to the activation dtype.
// With `lend` (chained prefill) or `blocks` (the same product outside the pipeline), and only when
// the caller runs under a real-time policy (ProgressThread::LendBlockCols): in column blocks with
// lend->Lend() between them. Under the fair scheduler in one piece, after one Lend (a network poll).
Status Matmul(const ArnRun& run, int64_t row0, int64_t rows, char* dst, ProgressThread* lend = nullptr,
              bool blocks = false) {
  const ArnSchedule& s = *run.schedule;
  if (rows <= 0) return Status::Ok();
  kernels::WqMatmulArgs args;
  args.x = run.x1 + static_cast<size_t>(row0 * s.k) * s.elem;
  args.m = rows;
  args.bias = run.bias;
  args.bias_dtype = run.act;
  args.y = dst;
  args.y_stride = s.n;
  const int64_t step =
      lend != nullptr || blocks ? ProgressThread::LendBlockCols(rows, s.k, run.matmul->n_align()) : 0;
  if (step > 0) {
    for (int64_t c0 = 0; c0 < s.n; c0 += step) {
      if (c0 > 0 && lend != nullptr) lend->Lend(run.comm);
      MC2_RETURN_IF_ERROR(MatmulRange(run, args, rows, c0, std::min(s.n, c0 + step)));
    }
    return Status::Ok();
  }
  if (lend != nullptr) lend->Lend(run.comm);
  const int threads = Threads(run);
  FirstError error;
  auto task = [&](int64_t t, int thread) {
    const kernels::MatmulRange range =
        kernels::SplitRange(rows, s.n, run.matmul->n_align(), kMatmulSplitRows, t, threads);
    if (range.empty()) return;
    error.Record(kernels::ExecuteWqMatmul(*run.matmul, args, range,
                                          run.scratch + static_cast<size_t>(thread) * run.scratch_slice,
                                          run.scratch_slice));
  };
  MC2_RETURN_IF_ERROR(ForTasks(run.pool, threads, task));
  return error.Take();
}

// Columns [c0, c1) of the rows of `args`, split across the pool in the kernel's column blocks.
Status MatmulRange(const ArnRun& run, const kernels::WqMatmulArgs& args, int64_t rows, int64_t c0, int64_t c1) {
  const int64_t align = std::max<int64_t>(1, run.matmul->n_align());
  const int64_t units = (c1 - c0 + align - 1) / align;
  const int threads = static_cast<int>(std::min<int64_t>(Threads(run), units));
  FirstError error;
  auto task = [&](int64_t t, int thread) {
    kernels::MatmulRange range;
    range.m0 = 0;
    range.m1 = rows;
    range.n0 = c0 + units * t / threads * align;
    range.n1 = std::min(c1, c0 + units * (t + 1) / threads * align);
    if (range.empty()) return;
    error.Record(kernels::ExecuteWqMatmul(*run.matmul, args, range,
                                          run.scratch + static_cast<size_t>(thread) * run.scratch_slice,
                                          run.scratch_slice));
  };
  MC2_RETURN_IF_ERROR(ForTasks(run.pool, threads, task));
  return error.Take();
}

// y / normOut rows [row0, row0 + rows) from the sums `a` (rows of the activation dtype, stride n).
void NormRows(const ArnRun& run, const char* a, int64_t row0, int64_t rows) {
  const size_t rb = RowBytes(run);
  kernels::AddRmsNormArgs args;
  args.dtype = run.act;
  args.m = rows;
  args.n = run.schedule->n;
  args.eps = run.eps;
  args.a = a;
  args.a_dtype = run.act;
  args.residual = run.residual + static_cast<size_t>(row0) * rb;
  args.gamma = run.gamma;
  args.y = run.y + static_cast<size_t>(row0) * rb;
  args.norm_out = run.norm_out + static_cast<size_t>(row0) * rb;
  // AddRmsNormRows takes the strides as given (only AddRmsNorm fills in defaults).
  args.a_stride = args.residual_stride = args.y_stride = args.norm_out_stride = args.n;
  kernels::AddRmsNormRows(args, 0, rows);
}

int64_t TileRows(const ArnRun& run) {
  return std::max<int64_t>(1, static_cast<int64_t>(kTileBytes / std::max<size_t>(1, RowBytes(run))));
}

// Sums `rows` rows of the products at srcs[0..nsrc) into `a` (may be one of them), then writes
// y / normOut rows [out_row0, out_row0 + rows) from them, tile by tile.
Status ReduceAndNorm(const ArnRun& run, const char* const* srcs, int nsrc, int64_t rows, char* a, int64_t out_row0) {
  if (rows <= 0) return Status::Ok();
  const size_t rb = RowBytes(run);
  const int64_t tile = TileRows(run);
  auto task = [&](int64_t t, int) {
    const int64_t r0 = t * tile;
    const int64_t r1 = std::min(rows, r0 + tile);
    const void* tile_srcs[kernels::kMaxReduceSources];
    for (int p = 0; p < nsrc; ++p) tile_srcs[p] = srcs[p] + static_cast<size_t>(r0) * rb;
    kernels::ReduceArgs ra;
    ra.srcs = tile_srcs;
    ra.num_srcs = nsrc;
    ra.src_dtype = run.act;
    ra.dst = a + static_cast<size_t>(r0) * rb;
    ra.dst_dtype = run.act;
    ra.n = (r1 - r0) * run.schedule->n;
    kernels::ReduceSumRange(ra, 0, ra.n);
    NormRows(run, a + static_cast<size_t>(r0) * rb, out_row0 + r0, r1 - r0);
  };
  return ForTasks(run.pool, (rows + tile - 1) / tile, task);
}

// y / normOut rows from finished sums `a`, tile by tile across the pool.
Status NormRowsParallel(const ArnRun& run, const char* a, int64_t row0, int64_t rows) {
  if (rows <= 0) return Status::Ok();
  const size_t rb = RowBytes(run);
  const int64_t tile = TileRows(run);
  auto task = [&](int64_t t, int) {
    const int64_t r0 = t * tile;
    const int64_t r1 = std::min(rows, r0 + tile);
    NormRows(run, a + static_cast<size_t>(r0) * rb, row0 + r0, r1 - r0);
  };
  return ForTasks(run.pool, (rows + tile - 1) / tile, task);
}

// One pass over rows [row0, row0 + rows): its products fit one half of the symmetric buffer.
class Pass {
 public:
  Pass(const ArnRun& run, SymmetricChannel& channel, int64_t row0, int64_t rows)
      : run_(run), channel_(channel), row0_(row0), rows_(rows), chunk_(run.schedule->chunk_rows),
        chunks_((rows + chunk_ - 1) / chunk_), rank_(run.comm->rank()), world_(run.comm->world_size()) {}

  Status RunOneShot() {
    const double t0 = Start(run_);
    MC2_RETURN_IF_ERROR(channel_.Begin(&seq_));
    Lap(run_, &ArnPhases::enter_us, t0);
    for (int64_t i = 0; i <= chunks_; ++i) {
      if (i < chunks_) MC2_RETURN_IF_ERROR(Produce(i));
      if (i >= 1) MC2_RETURN_IF_ERROR(ReduceAll(i - 1));
    }
    return Status::Ok();
  }

  Status RunTwoShot() {
    const double t0 = Start(run_);
    MC2_RETURN_IF_ERROR(channel_.Begin(&seq_));
    Lap(run_, &ArnPhases::enter_us, t0);
    for (int64_t i = 0; i <= chunks_ + 1; ++i) {
      if (i < chunks_) MC2_RETURN_IF_ERROR(Produce(i));
      if (i >= 1 && i - 1 < chunks_) MC2_RETURN_IF_ERROR(ReduceOwned(i - 1));
      if (i >= 2) MC2_RETURN_IF_ERROR(Gather(i - 2));
    }
    return Status::Ok();
  }

 private:
  int64_t ChunkBegin(int64_t c) const { return c * chunk_; }
  int64_t ChunkRows(int64_t c) const { return std::min(rows_, (c + 1) * chunk_) - c * chunk_; }
  // Rows of chunk c (relative to the chunk) that rank q reduces in two-shot.
  int64_t OwnedBegin(int64_t c, int q) const { return ChunkRows(c) * q / world_; }
  size_t Offset(int64_t pass_row) const { return static_cast<size_t>(pass_row) * RowBytes(run_); }
  static int ReducedSegment(int64_t c) { return static_cast<int>(kArnMaxChunks + c); }

  // Matmul of chunk c straight into this rank's half, then "chunk c ready".
  Status Produce(int64_t c) {
    char* dst = channel_.Half(rank_, seq_) + Offset(ChunkBegin(c));
    const double t0 = Start(run_);
    {
      MC2_TRACE_CHUNK("arn.matmul", kCompute, c);
      MC2_RETURN_IF_ERROR(Matmul(run_, row0_ + ChunkBegin(c), ChunkRows(c), dst));
    }
    Lap(run_, &ArnPhases::matmul_us, t0);
    return channel_.Signal(static_cast<int>(c), seq_);
  }

  Status WaitAll(int segment) {
    MC2_TRACE_CHUNK("arn.wait_peers", kWait, segment);
    const double t0 = Start(run_);
    for (int p = 0; p < world_; ++p) {
      if (p != rank_) MC2_RETURN_IF_ERROR(channel_.Wait(p, segment, seq_));
    }
    Lap(run_, &ArnPhases::wait_us, t0);
    return Status::Ok();
  }

  // One-shot: all rows of chunk c, summed into normOut (CANN's all-reduce scratch) and normed.
  Status ReduceAll(int64_t c) {
    MC2_RETURN_IF_ERROR(WaitAll(static_cast<int>(c)));
    const char* srcs[kernels::kMaxReduceSources];
    for (int p = 0; p < world_; ++p) srcs[p] = channel_.Half(p, seq_) + Offset(ChunkBegin(c));
    const int64_t out_row = row0_ + ChunkBegin(c);
    MC2_TRACE_CHUNK("arn.reduce_norm", kReduce, c);
    const double t0 = Start(run_);
    MC2_RETURN_IF_ERROR(ReduceAndNorm(run_, srcs, world_, ChunkRows(c), run_.norm_out + Offset(out_row), out_row));
    Lap(run_, &ArnPhases::reduce_us, t0);
    return Status::Ok();
  }

  // Two-shot, first half: this rank's rows of chunk c, summed in place over its own product rows
  // (no peer reads them), normed, and announced.
  Status ReduceOwned(int64_t c) {
    MC2_RETURN_IF_ERROR(WaitAll(static_cast<int>(c)));
    const int64_t lo = ChunkBegin(c) + OwnedBegin(c, rank_);
    const int64_t hi = ChunkBegin(c) + OwnedBegin(c, rank_ + 1);
    const char* srcs[kernels::kMaxReduceSources];
    for (int p = 0; p < world_; ++p) srcs[p] = channel_.Half(p, seq_) + Offset(lo);
    MC2_TRACE_CHUNK("arn.reduce_norm_owned", kReduce, c);
    const double t0 = Start(run_);
    MC2_RETURN_IF_ERROR(ReduceAndNorm(run_, srcs, world_, hi - lo, channel_.Half(rank_, seq_) + Offset(lo), row0_ + lo));
    Lap(run_, &ArnPhases::reduce_us, t0);
    return channel_.Signal(ReducedSegment(c), seq_);
  }

  // Two-shot, second half: the other ranks' sums of chunk c, normed with this rank's residual.
  Status Gather(int64_t c) {
    for (int i = 1; i < world_; ++i) {
      const int q = (rank_ + i) % world_;  // start at a different owner on every rank
      double t0 = Start(run_);
      {
        MC2_TRACE_CHUNK("arn.wait_peers", kWait, c);
        MC2_RETURN_IF_ERROR(channel_.Wait(q, ReducedSegment(c), seq_));
      }
      t0 = Lap(run_, &ArnPhases::wait_us, t0);
      MC2_TRACE_CHUNK("arn.gather_norm", kNorm, c);
      const int64_t lo = ChunkBegin(c) + OwnedBegin(c, q);
      const int64_t hi = ChunkBegin(c) + OwnedBegin(c, q + 1);
      MC2_RETURN_IF_ERROR(NormRowsParallel(run_, channel_.Half(q, seq_) + Offset(lo), row0_ + lo, hi - lo));
      Lap(run_, &ArnPhases::reduce_us, t0);
    }
    return Status::Ok();
  }

  const ArnRun& run_;
  SymmetricChannel& channel_;
  const int64_t row0_, rows_, chunk_, chunks_;
  const int rank_, world_;
  uint32_t seq_ = 0;
};

kernels::AddRmsNormArgs WholeNormArgs(const ArnRun& run) {
  kernels::AddRmsNormArgs args;
  args.dtype = run.act;
  args.m = run.schedule->m;
  args.n = run.schedule->n;
  args.eps = run.eps;
  args.a = run.norm_out;
  args.a_dtype = run.act;
  args.residual = run.residual;
  args.gamma = run.gamma;
  args.y = run.y;
  args.norm_out = run.norm_out;
  return args;
}

// Chained, one chunk: matmul into normOut, all-reduce in place, add + RMSNorm (CANN's order).
Status RunChainedWhole(const ArnRun& run) {
  const ArnSchedule& s = *run.schedule;
  double t0 = Start(run);
  {
    MC2_TRACE_CHUNK("arn.matmul", kCompute, 0);
    MC2_RETURN_IF_ERROR(Matmul(run, 0, s.m, run.norm_out));
  }
  t0 = Lap(run, &ArnPhases::matmul_us, t0);
  if (s.algorithm == ArnAlgorithm::kChained) {
    MC2_TRACE_CHUNK("arn.allreduce", kComm, 0);
    MC2_RETURN_IF_ERROR(run.comm->AllReduce(run.norm_out, run.norm_out, static_cast<size_t>(s.m * s.n), run.act));
  }
  MC2_TRACE_CHUNK("arn.norm", kNorm, 0);
  MC2_RETURN_IF_ERROR(kernels::AddRmsNorm(WholeNormArgs(run), run.pool));
  Lap(run, &ArnPhases::reduce_us, t0);
  return Status::Ok();
}

// Chained with chunks: the calling thread computes chunk c + 1 while the progress thread
// all-reduces chunk c (rows of normOut, in place) and adds + norms it (arn_fused.h).
class ChainedPipeline {
 public:
  explicit ChainedPipeline(const ArnRun& run) : run_(run), s_(*run.schedule) {}

  Status Run() {
    const int64_t chunks = (s_.m + s_.chunk_rows - 1) / s_.chunk_rows;
    run_.progress->Begin(&ChainedPipeline::Task, this);
    Status status;
    for (int64_t c = 0; c < chunks && status.ok(); ++c) {
      const double t0 = Start(run_);
      const int64_t row0 = c * s_.chunk_rows;
      {
        MC2_TRACE_CHUNK("arn.matmul", kCompute, c);
        status = Matmul(run_, row0, Rows(c), run_.norm_out + static_cast<size_t>(row0) * RowBytes(run_),
                        run_.progress);
      }
      Lap(run_, &ArnPhases::matmul_us, t0);
      // On a matmul error the chunks already posted still run, so the peers' collectives complete.
      if (status.ok()) run_.progress->Post(c + 1);
    }
    const double t0 = Start(run_);
    trace::Scope wait("arn.wait_progress", trace::Category::kWait);
    Status comm_status = run_.progress->Finish();
    wait.End();
    Lap(run_, &ArnPhases::wait_us, t0);
    MC2_RETURN_IF_ERROR(status);
    return comm_status;
  }

 private:
  int64_t Rows(int64_t c) const { return std::min(s_.m, (c + 1) * s_.chunk_rows) - c * s_.chunk_rows; }

  static Status Task(void* self, int64_t c) {
    auto* p = static_cast<ChainedPipeline*>(self);
    const ArnRun& run = p->run_;
    const int64_t row0 = c * p->s_.chunk_rows;
    const int64_t rows = p->Rows(c);
    char* a = run.norm_out + static_cast<size_t>(row0) * RowBytes(run);
    {
      MC2_TRACE_CHUNK("arn.allreduce", kComm, c);
      MC2_RETURN_IF_ERROR(run.comm->AllReduce(a, a, static_cast<size_t>(rows * p->s_.n), run.act));
    }
    MC2_TRACE_CHUNK("arn.norm", kNorm, c);
    NormRows(run, a, row0, rows);
    return Status::Ok();
  }

  const ArnRun& run_;
  const ArnSchedule& s_;
};

}  // namespace

Status RunArn(const ArnRun& run) {
  const ArnSchedule& s = *run.schedule;
  const double t0 = Start(run);
  Status status = AclnnError(aclnn::kErrInner, "ArnOp: schedule has no algorithm");
  switch (s.algorithm) {
    case ArnAlgorithm::kLocal:
      status = RunChainedWhole(run);
      break;
    case ArnAlgorithm::kChained:
      status = run.progress != nullptr && s.chunk_rows < s.m ? ChainedPipeline(run).Run() : RunChainedWhole(run);
      break;
    case ArnAlgorithm::kOneShot:
    case ArnAlgorithm::kTwoShot: {
      status = Status::Ok();
      SymmetricChannel channel(run.comm);
      for (int64_t row0 = 0; row0 < s.m && status.ok(); row0 += s.pass_rows) {
        Pass pass(run, channel, row0, std::min(s.pass_rows, s.m - row0));
        status = s.algorithm == ArnAlgorithm::kOneShot ? pass.RunOneShot() : pass.RunTwoShot();
      }
      break;
    }
    case ArnAlgorithm::kAuto:
      break;
  }
  Lap(run, &ArnPhases::total_us, t0);
  return status;
}

Status RunArnLocalProduct(const ArnRun& run, char* dst) {
  const ArnSchedule& s = *run.schedule;
  const int64_t pass = std::max<int64_t>(1, s.pass_rows);
  const int64_t chunk = std::max<int64_t>(1, s.chunk_rows);
  for (int64_t p0 = 0; p0 < s.m; p0 += pass) {
    const int64_t p1 = std::min(s.m, p0 + pass);
    for (int64_t row0 = p0; row0 < p1; row0 += chunk) {
      const int64_t rows = std::min(chunk, p1 - row0);
      // The same calls as RunArn (column blocks on the chained pipeline), so the same bits.
      MC2_RETURN_IF_ERROR(Matmul(run, row0, rows, dst + static_cast<size_t>(row0) * RowBytes(run), nullptr,
                                 Pipelined(run)));
    }
  }
  return Status::Ok();
}

}  // namespace mc2::ops
