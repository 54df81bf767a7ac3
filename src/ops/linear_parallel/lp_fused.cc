#include "ops/linear_parallel/lp_fused.h"

#include <algorithm>
#include <cstring>

#include "core/trace.h"
#include "kernels/reduce.h"
#include "ops/common/symmetric_channel.h"

namespace mc2::ops {

namespace {

using Type = LinearParallelType;

// Rows per reduce tile: ~16 KiB of each source, so the sources and the sum stay in L1/L2
// between the reduction and the residual add.
constexpr size_t kTileBytes = 16 << 10;
constexpr size_t kAlign = 64;
int64_t CeilDiv(int64_t a, int64_t b) { return (a + b - 1) / b; }

size_t RoundUp(size_t v, size_t a) { return (v + a - 1) / a * a; }

template <typename Fn>
Status ForTasks(ThreadPool* pool, int64_t n_tasks, const Fn& fn) {
  if (pool == nullptr || pool->num_threads() <= 1 || n_tasks <= 1) {
    for (int64_t t = 0; t < n_tasks; ++t) fn(t, 0);
    return Status::Ok();
  }
  return pool->ParallelFor(n_tasks, fn);
}

class Runner {
 public:
  explicit Runner(const LpRun& run)
      : run_(run), s_(*run.schedule), rb_(static_cast<size_t>(s_.n) * s_.out_elem),
        xb_(static_cast<size_t>(s_.k) * s_.in_elem),
        rank_(run.comm != nullptr ? run.comm->rank() : 0), world_(s_.world_size) {}

  Status Run();

 private:
  // ---- building blocks ----
  Status Matmul(const char* x, int64_t rows, const float* token_scale, char* dst) const {
    return run_.local->Run(x, rows, token_scale, dst, run_.matmul_scratch, run_.pool);
  }
  // The same product in column blocks, lending the core to the progress thread between them
  // (under a real-time policy only: ProgressThread::LendBlockCols).
  Status MatmulLending(const char* x, int64_t rows, const float* token_scale, char* dst) const {
    const LpLocalProduct& local = *run_.local;
    const int64_t step = local.ColumnBlocks() ? ProgressThread::LendBlockCols(rows, s_.k, local.col_align()) : 0;
    if (rows <= 0 || step <= 0) {
      run_.progress->Lend(run_.comm);
      return Matmul(x, rows, token_scale, dst);
    }
    for (int64_t c0 = 0; c0 < s_.n; c0 += step) {
      run_.progress->Lend(run_.comm);
      MC2_RETURN_IF_ERROR(local.Run(x, rows, token_scale, dst, run_.matmul_scratch, run_.pool, c0,
                                    std::min(s_.n, c0 + step)));
    }
    return Status::Ok();
  }
  const float* Tokens(int64_t row0) const { return run_.token_scale ? run_.token_scale + row0 : nullptr; }

  // dst rows = round(sum of srcs rows) (+ residual), tile by tile across the pool.
  Status ReduceRows(const char* const* srcs, int nsrc, int64_t rows, char* dst, bool residual) const {
    if (rows <= 0 || s_.n == 0) return Status::Ok();
    const int64_t tile = std::max<int64_t>(1, static_cast<int64_t>(kTileBytes / rb_));
    auto task = [&](int64_t t, int) {
      const int64_t r0 = t * tile;
      const int64_t r1 = std::min(rows, r0 + tile);
      const void* tile_srcs[kernels::kMaxReduceSources];
      for (int p = 0; p < nsrc; ++p) tile_srcs[p] = srcs[p] + static_cast<size_t>(r0) * rb_;
      kernels::ReduceArgs ra;
      ra.srcs = tile_srcs;
      ra.num_srcs = nsrc;
      ra.src_dtype = run_.out_dtype;
      ra.dst = dst + static_cast<size_t>(r0) * rb_;
      ra.dst_dtype = run_.out_dtype;
      ra.n = (r1 - r0) * s_.n;
      if (nsrc == 1 && ra.dst != tile_srcs[0]) {
        std::memcpy(ra.dst, tile_srcs[0], static_cast<size_t>(r1 - r0) * rb_);
      } else if (nsrc > 1) {
        kernels::ReduceSumRange(ra, 0, ra.n);
      }
      if (residual) AddResidual(static_cast<char*>(ra.dst), r1 - r0);
    };
    return ForTasks(run_.pool, (rows + tile - 1) / tile, task);
  }

  // rows of dst += residual, in the output dtype (one rounding of the fp32 sum: the dtype's add).
  void AddResidual(char* dst, int64_t rows) const {
    if (run_.residual == nullptr) return;
    for (int64_t i = 0; i < rows; ++i) {
      char* row = dst + static_cast<size_t>(i) * rb_;
      const void* two[2] = {row, run_.residual};
      kernels::ReduceArgs ra;
      ra.srcs = two;
      ra.num_srcs = 2;
      ra.src_dtype = run_.out_dtype;
      ra.dst = row;
      ra.dst_dtype = run_.out_dtype;
      ra.n = s_.n;
      kernels::ReduceSumRange(ra, 0, s_.n);
    }
  }
  Status AddResidualParallel(char* dst, int64_t rows) const {
    const char* self[1] = {dst};
    return run_.residual != nullptr ? ReduceRows(self, 1, rows, dst, true) : Status::Ok();
  }

  Status WaitAll(SymmetricChannel& ch, int segment, uint32_t seq) const {
    for (int p = 0; p < world_; ++p) {
      if (p != rank_) MC2_RETURN_IF_ERROR(ch.Wait(p, segment, seq));
    }
    return Status::Ok();
  }

  // ---- algorithms ----
  Status Local();
  Status Chained();
  Status ChainedPipeline();
  static Status ChainTask(void* self, int64_t c);
  Status AllReducePass(SymmetricChannel& ch, int64_t row0, int64_t rows);
  Status ReduceScatterPass(SymmetricChannel& ch, int64_t b0, int64_t rows);
  Status AllGatherPass(SymmetricChannel& ch, int64_t a0, int64_t rows);
  Status AllGatherReduceScatterPass(SymmetricChannel& ch, int64_t b0, int64_t rows);

  // Chained pipeline geometry: rows cut into chunks (lp_fused.h).
  int64_t CutRows() const { return s_.type == Type::kLinearReduceScatter ? s_.rows / world_ : s_.rows; }
  int64_t ChunkCount(int64_t c) const { return std::min(CutRows(), (c + 1) * s_.chunk_rows) - c * s_.chunk_rows; }

  const LpRun& run_;
  const LpSchedule& s_;
  const size_t rb_;  // bytes of a product row
  const size_t xb_;  // bytes of an input row
  const int rank_, world_;
};

Status Runner::Local() {
  {
    MC2_TRACE_CHUNK("lp.matmul", kCompute, 0);
    MC2_RETURN_IF_ERROR(Matmul(run_.x, s_.rows, Tokens(0), run_.out));
  }
  if (run_.intermediate != nullptr) std::memcpy(run_.intermediate, run_.x, static_cast<size_t>(s_.rows) * xb_);
  return AddResidualParallel(run_.out, s_.rows);
}

Status Runner::Chained() {
  if (run_.progress != nullptr && LpChainedPipelined(s_)) return ChainedPipeline();
  comm::Communicator& c = *run_.comm;
  const size_t n = static_cast<size_t>(s_.n);
  switch (s_.type) {
    case Type::kLinearAllReduce: {
      {
        MC2_TRACE_CHUNK("lp.matmul", kCompute, 0);
        MC2_RETURN_IF_ERROR(Matmul(run_.x, s_.rows, Tokens(0), run_.out));
      }
      {
        MC2_TRACE_CHUNK("lp.allreduce", kComm, 0);
        MC2_RETURN_IF_ERROR(c.AllReduce(run_.out, run_.out, static_cast<size_t>(s_.rows) * n, run_.out_dtype));
      }
      MC2_TRACE_CHUNK("lp.residual", kReduce, 0);
      return AddResidualParallel(run_.out, s_.rows);
    }
    case Type::kLinearReduceScatter: {
      const int64_t block = s_.rows / world_;
      {
        MC2_TRACE_CHUNK("lp.matmul", kCompute, 0);
        MC2_RETURN_IF_ERROR(Matmul(run_.x, s_.rows, Tokens(0), run_.buffer));
      }
      {
        MC2_TRACE_CHUNK("lp.reduce_scatter", kComm, 0);
        MC2_RETURN_IF_ERROR(c.ReduceScatter(run_.buffer, run_.out, static_cast<size_t>(block) * n, run_.out_dtype));
      }
      MC2_TRACE_CHUNK("lp.residual", kReduce, 0);
      return AddResidualParallel(run_.out, block);
    }
    case Type::kAllGatherLinear: {
      char* g = run_.intermediate != nullptr ? run_.intermediate : run_.buffer;
      {
        MC2_TRACE_CHUNK("lp.allgather", kComm, 0);
        MC2_RETURN_IF_ERROR(c.AllGather(run_.x, g, static_cast<size_t>(s_.rows * s_.k), run_.in_dtype));
      }
      {
        MC2_TRACE_CHUNK("lp.matmul", kCompute, 0);
        MC2_RETURN_IF_ERROR(Matmul(g, s_.rows * world_, nullptr, run_.out));
      }
      MC2_TRACE_CHUNK("lp.residual", kReduce, 0);
      return AddResidualParallel(run_.out, s_.rows * world_);
    }
    default:
      break;
  }
  return AtbError(atb::kInvalidParam, "type: ", LinearParallelTypeName(s_.type), " has no chained form");
}

// Chained with chunks (lp_fused.h): the calling thread computes while the progress thread runs
// the collective of the previous chunk (all-reduce, reduce-scatter) or gathers the inputs ahead
// (all-gather). Errors: a failed matmul stops posting, but what was posted still runs, so the
// peers' collectives complete; the first error is returned.
Status Runner::ChainedPipeline() {
  ProgressThread& progress = *run_.progress;
  const int64_t chunk = s_.chunk_rows;
  const int64_t chunks = CeilDiv(CutRows(), chunk);
  progress.Begin(&Runner::ChainTask, this);
  Status status;
  switch (s_.type) {
    case Type::kLinearAllReduce:
      for (int64_t c = 0; c < chunks && status.ok(); ++c) {
        const int64_t row = c * chunk;
        trace::Scope span("lp.matmul", trace::Category::kCompute, c);
        status = MatmulLending(run_.x + static_cast<size_t>(row) * xb_, ChunkCount(c), Tokens(row),
                               run_.out + static_cast<size_t>(row) * rb_);
        span.End();  // before the chunk is handed over: its all-reduce starts after this
        if (status.ok()) progress.Post(c + 1);
      }
      break;
    case Type::kLinearReduceScatter: {
      const int64_t block = s_.rows / world_;
      for (int64_t c = 0; c < chunks && status.ok(); ++c) {
        trace::Scope span("lp.matmul", trace::Category::kCompute, c);
        // Chunk c's R pieces, contiguous: piece q (block q's rows of the chunk) at q * count.
        char* region = run_.buffer + static_cast<size_t>(c * chunk * world_) * rb_;
        for (int q = 0; q < world_ && status.ok(); ++q) {
          const int64_t row = q * block + c * chunk;
          status = MatmulLending(run_.x + static_cast<size_t>(row) * xb_, ChunkCount(c), Tokens(row),
                                 region + static_cast<size_t>(q * ChunkCount(c)) * rb_);
        }
        span.End();
        if (status.ok()) progress.Post(c + 1);
      }
      break;
    }
    case Type::kAllGatherLinear: {
      progress.Post(chunks);  // the gathers need nothing from the matmuls
      for (int64_t c = 0; c < chunks && status.ok(); ++c) {
        MC2_TRACE_CHUNK("lp.matmul_own", kCompute, c);
        const int64_t row = c * chunk;
        char* dst = run_.out + static_cast<size_t>(rank_ * s_.rows + row) * rb_;
        status = MatmulLending(run_.x + static_cast<size_t>(row) * xb_, ChunkCount(c), nullptr, dst);
        if (status.ok()) status = AddResidualParallel(dst, ChunkCount(c));
      }
      if (status.ok() && run_.intermediate != nullptr) {
        std::memcpy(run_.intermediate + static_cast<size_t>(rank_ * s_.rows) * xb_, run_.x,
                    static_cast<size_t>(s_.rows) * xb_);
      }
      for (int64_t c = 0; c < chunks && status.ok(); ++c) {
        {
          MC2_TRACE_CHUNK("lp.wait_gather", kWait, c);
          progress.WaitFor(c + 1);
        }
        MC2_TRACE_CHUNK("lp.matmul_peers", kCompute, c);
        const char* region = run_.buffer + static_cast<size_t>(c * chunk * world_) * xb_;
        for (int d = 1; d < world_ && status.ok(); ++d) {
          const int p = (rank_ + d) % world_;
          const char* src = region + static_cast<size_t>(p * ChunkCount(c)) * xb_;
          const int64_t row = p * s_.rows + c * chunk;
          if (run_.intermediate != nullptr) {
            std::memcpy(run_.intermediate + static_cast<size_t>(row) * xb_, src, static_cast<size_t>(ChunkCount(c)) * xb_);
          }
          char* dst = run_.out + static_cast<size_t>(row) * rb_;
          status = MatmulLending(src, ChunkCount(c), nullptr, dst);
          if (status.ok()) status = AddResidualParallel(dst, ChunkCount(c));
        }
      }
      break;
    }
    default:
      status = AtbError(atb::kInternalError, "LinearParallelOp: no chained pipeline for ", LinearParallelTypeName(s_.type));
      break;
  }
  trace::Scope wait("lp.wait_progress", trace::Category::kWait);
  Status comm_status = progress.Finish();
  wait.End();
  MC2_RETURN_IF_ERROR(status);
  return comm_status;
}

// The progress thread's part of chunk c (no pool: the caller's matmul owns it meanwhile).
Status Runner::ChainTask(void* self, int64_t c) {
  auto* r = static_cast<Runner*>(self);
  const LpSchedule& s = r->s_;
  comm::Communicator& comm = *r->run_.comm;
  const int64_t rows = r->ChunkCount(c);
  const int64_t row = c * s.chunk_rows;
  const size_t n = static_cast<size_t>(s.n);
  switch (s.type) {
    case Type::kLinearAllReduce: {
      char* a = r->run_.out + static_cast<size_t>(row) * r->rb_;
      {
        MC2_TRACE_CHUNK("lp.allreduce", kComm, c);
        MC2_RETURN_IF_ERROR(comm.AllReduce(a, a, static_cast<size_t>(rows) * n, r->run_.out_dtype));
      }
      MC2_TRACE_CHUNK("lp.residual", kReduce, c);
      r->AddResidual(a, rows);
      return Status::Ok();
    }
    case Type::kLinearReduceScatter: {
      const char* region = r->run_.buffer + static_cast<size_t>(row * r->world_) * r->rb_;
      char* out = r->run_.out + static_cast<size_t>(row) * r->rb_;
      {
        MC2_TRACE_CHUNK("lp.reduce_scatter", kComm, c);
        MC2_RETURN_IF_ERROR(comm.ReduceScatter(region, out, static_cast<size_t>(rows) * n, r->run_.out_dtype));
      }
      MC2_TRACE_CHUNK("lp.residual", kReduce, c);
      r->AddResidual(out, rows);
      return Status::Ok();
    }
    case Type::kAllGatherLinear: {
      MC2_TRACE_CHUNK("lp.allgather", kComm, c);
      char* region = r->run_.buffer + static_cast<size_t>(row * r->world_) * r->xb_;
      return comm.AllGather(r->run_.x + static_cast<size_t>(row) * r->xb_, region,
                            static_cast<size_t>(rows * s.k), r->run_.in_dtype);
    }
    default:
      break;
  }
  return AtbError(atb::kInternalError, "LinearParallelOp: no chained pipeline for ", LinearParallelTypeName(s.type));
}

// Decode: one chunk, one-shot. Prefill: chunk i's matmul, then chunk i-1's reduction.
Status Runner::AllReducePass(SymmetricChannel& ch, int64_t row0, int64_t rows) {
  uint32_t seq = 0;
  MC2_RETURN_IF_ERROR(ch.Begin(&seq));
  const int64_t chunk = s_.chunk_rows;
  const int64_t chunks = (rows + chunk - 1) / chunk;
  auto begin = [&](int64_t c) { return c * chunk; };
  auto count = [&](int64_t c) { return std::min(rows, (c + 1) * chunk) - c * chunk; };
  auto owned = [&](int64_t c, int q) { return count(c) * q / world_; };
  auto half = [&](int p, int64_t row) { return ch.Half(p, seq) + static_cast<size_t>(row) * rb_; };
  const bool two_shot = s_.algorithm == LpAlgorithm::kTwoShot;
  const int reduced_segment = static_cast<int>(kLpMaxChunks);
  for (int64_t i = 0; i <= chunks + (two_shot ? 1 : 0); ++i) {
    if (i < chunks) {
      MC2_TRACE_CHUNK("lp.matmul", kCompute, i);
      MC2_RETURN_IF_ERROR(Matmul(run_.x + static_cast<size_t>(row0 + begin(i)) * xb_, count(i),
                                 Tokens(row0 + begin(i)), half(rank_, begin(i))));
      MC2_RETURN_IF_ERROR(ch.Signal(static_cast<int>(i), seq));
    }
    const int64_t c = i - 1;
    if (c >= 0 && c < chunks) {
      {
        MC2_TRACE_CHUNK("lp.wait_peers", kWait, c);
        MC2_RETURN_IF_ERROR(WaitAll(ch, static_cast<int>(c), seq));
      }
      MC2_TRACE_CHUNK("lp.reduce", kReduce, c);
      const int64_t lo = two_shot ? begin(c) + owned(c, rank_) : begin(c);
      const int64_t hi = two_shot ? begin(c) + owned(c, rank_ + 1) : begin(c) + count(c);
      const char* srcs[kernels::kMaxReduceSources];
      for (int p = 0; p < world_; ++p) srcs[p] = half(p, lo);
      if (!two_shot) {
        MC2_RETURN_IF_ERROR(ReduceRows(srcs, world_, hi - lo, run_.out + static_cast<size_t>(row0 + lo) * rb_, true));
      } else {
        // The sum stays in this rank's half for the peers; the output gets it plus the residual.
        MC2_RETURN_IF_ERROR(ReduceRows(srcs, world_, hi - lo, half(rank_, lo), false));
        MC2_RETURN_IF_ERROR(ch.Signal(reduced_segment + static_cast<int>(c), seq));
        const char* sum[1] = {half(rank_, lo)};
        MC2_RETURN_IF_ERROR(ReduceRows(sum, 1, hi - lo, run_.out + static_cast<size_t>(row0 + lo) * rb_, true));
      }
    }
    const int64_t g = i - 2;
    if (two_shot && g >= 0) {
      for (int d = 1; d < world_; ++d) {
        const int q = (rank_ + d) % world_;
        {
          MC2_TRACE_CHUNK("lp.wait_peers", kWait, g);
          MC2_RETURN_IF_ERROR(ch.Wait(q, reduced_segment + static_cast<int>(g), seq));
        }
        MC2_TRACE_CHUNK("lp.gather", kReduce, g);
        const int64_t lo = begin(g) + owned(g, q);
        const int64_t hi = begin(g) + owned(g, q + 1);
        const char* sum[1] = {half(q, lo)};
        MC2_RETURN_IF_ERROR(ReduceRows(sum, 1, hi - lo, run_.out + static_cast<size_t>(row0 + lo) * rb_, true));
      }
    }
  }
  return Status::Ok();
}

// Rows [b0, b0 + rows) of every rank's block. Half layout: block q's pass rows at q * rows.
Status Runner::ReduceScatterPass(SymmetricChannel& ch, int64_t b0, int64_t rows) {
  uint32_t seq = 0;
  MC2_RETURN_IF_ERROR(ch.Begin(&seq));
  const int64_t block = s_.rows / world_;
  const int64_t chunk = s_.chunk_rows;
  const int64_t chunks = (rows + chunk - 1) / chunk;
  auto count = [&](int64_t c) { return std::min(rows, (c + 1) * chunk) - c * chunk; };
  auto half = [&](int p, int q, int64_t rel) {
    return ch.Half(p, seq) + static_cast<size_t>(q * rows + rel) * rb_;
  };
  auto segment = [&](int q, int64_t c) { return static_cast<int>(q * chunks + c); };
  // One chunk over whole blocks: the half's layout is x's row order, so one matmul call over all
  // rows replaces R calls of a block each (the kernels prepare the weight panels once per call:
  // R calls measured 1.29x the matmul alone at m = 256, 2 ranks); nothing overlaps in one chunk.
  const bool whole = chunks == 1 && rows == block;
  for (int64_t i = 0; i <= chunks; ++i) {
    if (i < chunks && whole) {
      MC2_TRACE_CHUNK("lp.matmul", kCompute, i);
      MC2_RETURN_IF_ERROR(Matmul(run_.x, s_.rows, Tokens(0), half(rank_, 0, 0)));
      for (int q = 0; q < world_; ++q) MC2_RETURN_IF_ERROR(ch.Signal(segment(q, 0), seq));
    } else if (i < chunks) {
      MC2_TRACE_CHUNK("lp.matmul", kCompute, i);
      for (int d = 1; d <= world_; ++d) {
        const int q = (rank_ + d) % world_;  // the peers' blocks first, this rank's own last
        const int64_t row = q * block + b0 + i * chunk;
        MC2_RETURN_IF_ERROR(Matmul(run_.x + static_cast<size_t>(row) * xb_, count(i), Tokens(row), half(rank_, q, i * chunk)));
        MC2_RETURN_IF_ERROR(ch.Signal(segment(q, i), seq));
      }
    }
    const int64_t c = i - 1;
    if (c >= 0) {
      {
        MC2_TRACE_CHUNK("lp.wait_peers", kWait, c);
        MC2_RETURN_IF_ERROR(WaitAll(ch, segment(rank_, c), seq));
      }
      MC2_TRACE_CHUNK("lp.reduce", kReduce, c);
      const char* srcs[kernels::kMaxReduceSources];
      for (int p = 0; p < world_; ++p) srcs[p] = half(p, rank_, c * chunk);
      MC2_RETURN_IF_ERROR(
          ReduceRows(srcs, world_, count(c), run_.out + static_cast<size_t>(b0 + c * chunk) * rb_, true));
    }
  }
  return Status::Ok();
}

// Input rows [a0, a0 + rows) of every rank.
Status Runner::AllGatherPass(SymmetricChannel& ch, int64_t a0, int64_t rows) {
  uint32_t seq = 0;
  MC2_RETURN_IF_ERROR(ch.Begin(&seq));
  const char* own = run_.x + static_cast<size_t>(a0) * xb_;
  std::memcpy(ch.Half(rank_, seq), own, static_cast<size_t>(rows) * xb_);
  MC2_RETURN_IF_ERROR(ch.Signal(0, seq));
  if (s_.gather_first) {  // one pass (a0 = 0, rows = s_.rows): gather, then one call
    char* g = run_.intermediate != nullptr ? run_.intermediate : run_.buffer;
    const size_t shard = static_cast<size_t>(rows) * xb_;
    for (int d = 0; d < world_; ++d) {
      const int j = (rank_ + d) % world_;
      if (d > 0) {
        MC2_TRACE_CHUNK("lp.wait_peers", kWait, j);
        MC2_RETURN_IF_ERROR(ch.Wait(j, 0, seq));
      }
      std::memcpy(g + static_cast<size_t>(j) * shard, d == 0 ? own : ch.Half(j, seq), shard);
    }
    MC2_TRACE_CHUNK("lp.matmul", kCompute, rank_);
    MC2_RETURN_IF_ERROR(Matmul(g, rows * world_, nullptr, run_.out));
    return AddResidualParallel(run_.out, rows * world_);
  }
  for (int d = 0; d < world_; ++d) {
    const int j = (rank_ + d) % world_;  // own shard first, straight from the input
    if (d > 0) {
      MC2_TRACE_CHUNK("lp.wait_peers", kWait, j);
      MC2_RETURN_IF_ERROR(ch.Wait(j, 0, seq));
    }
    MC2_TRACE_CHUNK("lp.matmul", kCompute, j);
    const char* src = d == 0 ? own : ch.Half(j, seq);
    const int64_t row = j * s_.rows + a0;
    if (run_.intermediate != nullptr) {
      std::memcpy(run_.intermediate + static_cast<size_t>(row) * xb_, src, static_cast<size_t>(rows) * xb_);
    }
    char* dst = run_.out + static_cast<size_t>(row) * rb_;
    MC2_RETURN_IF_ERROR(Matmul(src, rows, nullptr, dst));
    MC2_RETURN_IF_ERROR(AddResidualParallel(dst, rows));
  }
  return Status::Ok();
}

// Rows [b0, b0 + rows) of every RS block of G @ W (G = the AG group's inputs, m * ag rows; block b
// = rows [b * block, (b + 1) * block), the sum over RS group of which rank (a, b) owns). Half
// layout: x (m rows, 64-byte aligned), then Q's pass rows block by block (block b at b * rows).
// Chunk round i computes chunk i of every block (the RS peers' blocks first, this rank's own
// last), signalling each (block, chunk); then sums chunk i - 1 of this rank's block over its RS
// group from the peers' halves, so the reduction overlaps the next round's matmuls and a peer can
// start summing a chunk as soon as it is signalled.
Status Runner::AllGatherReduceScatterPass(SymmetricChannel& ch, int64_t b0, int64_t rows) {
  const int ag = run_.attrs->ag_dim, rs = run_.attrs->rs_dim;
  const bool inner = run_.attrs->inner_dim_is_ag;
  auto ag_idx = [&](int r) { return inner ? r % ag : r / rs; };
  auto rs_idx = [&](int r) { return inner ? r / ag : r % rs; };
  auto rank_at = [&](int a, int s) { return inner ? s * ag + a : a * rs + s; };
  const int64_t m = s_.rows;
  const int64_t block = m * ag / rs;
  const size_t q_offset = RoundUp(static_cast<size_t>(m) * xb_, kAlign);
  const int64_t chunk = s_.chunk_rows;
  const int64_t chunks = (rows + chunk - 1) / chunk;
  auto count = [&](int64_t c) { return std::min(rows, (c + 1) * chunk) - c * chunk; };
  auto segment = [&](int b, int64_t c) { return static_cast<int>(1 + b * chunks + c); };
  uint32_t seq = 0;
  MC2_RETURN_IF_ERROR(ch.Begin(&seq));
  auto q_rows = [&](int p, int b, int64_t rel) {
    return ch.Half(p, seq) + q_offset + static_cast<size_t>(b * rows + rel) * rb_;
  };
  std::memcpy(ch.Half(rank_, seq), run_.x, static_cast<size_t>(m) * xb_);
  MC2_RETURN_IF_ERROR(ch.Signal(0, seq));
  const int my_rs = rs_idx(rank_), my_ag = ag_idx(rank_);
  for (int64_t i = 0; i <= chunks; ++i) {
    if (i < chunks) {
      MC2_TRACE_CHUNK("lp.matmul", kCompute, i);
      for (int d = 1; d <= rs; ++d) {
        const int b = (my_rs + d) % rs;
        const int64_t first = b * block + b0 + i * chunk;  // G row
        for (int64_t row = first; row < first + count(i);) {
          const int a = static_cast<int>(row / m);  // G row -> AG shard a, its row row % m
          const int64_t len = std::min(first + count(i), (a + 1) * m) - row;
          const int src_rank = rank_at(a, my_rs);
          if (src_rank != rank_) MC2_RETURN_IF_ERROR(ch.Wait(src_rank, 0, seq));
          const char* src = (src_rank == rank_ ? run_.x : ch.Half(src_rank, seq)) + static_cast<size_t>(row % m) * xb_;
          MC2_RETURN_IF_ERROR(Matmul(src, len, nullptr, q_rows(rank_, b, row - b * block - b0)));
          row += len;
        }
        MC2_RETURN_IF_ERROR(ch.Signal(segment(b, i), seq));
      }
    }
    const int64_t c = i - 1;
    if (c >= 0) {
      const char* srcs[kernels::kMaxReduceSources];
      {
        MC2_TRACE_CHUNK("lp.wait_peers", kWait, c);
        for (int s = 0; s < rs; ++s) {
          const int j = rank_at(my_ag, s);
          if (j != rank_) MC2_RETURN_IF_ERROR(ch.Wait(j, segment(my_rs, c), seq));
          srcs[s] = q_rows(j, my_rs, c * chunk);
        }
      }
      MC2_TRACE_CHUNK("lp.reduce", kReduce, c);
      MC2_RETURN_IF_ERROR(ReduceRows(srcs, rs, count(c), run_.out + static_cast<size_t>(b0 + c * chunk) * rb_, false));
    }
  }
  return Status::Ok();
}

Status Runner::Run() {
  if (s_.algorithm == LpAlgorithm::kLocal) return Local();
  if (s_.algorithm == LpAlgorithm::kChained) return Chained();
  SymmetricChannel ch(run_.comm);
  switch (s_.type) {
    case Type::kLinearAllReduce:
      for (int64_t r0 = 0; r0 < s_.rows; r0 += s_.pass_rows) {
        MC2_RETURN_IF_ERROR(AllReducePass(ch, r0, std::min(s_.pass_rows, s_.rows - r0)));
      }
      return Status::Ok();
    case Type::kLinearReduceScatter: {
      const int64_t block = s_.rows / world_;
      for (int64_t b0 = 0; b0 < block; b0 += s_.pass_rows) {
        MC2_RETURN_IF_ERROR(ReduceScatterPass(ch, b0, std::min(s_.pass_rows, block - b0)));
      }
      return Status::Ok();
    }
    case Type::kAllGatherLinear:
      for (int64_t a0 = 0; a0 < s_.rows; a0 += s_.pass_rows) {
        MC2_RETURN_IF_ERROR(AllGatherPass(ch, a0, std::min(s_.pass_rows, s_.rows - a0)));
      }
      return Status::Ok();
    case Type::kAllGatherLinearReduceScatter: {
      const int64_t block = s_.rows * run_.attrs->ag_dim / run_.attrs->rs_dim;
      for (int64_t b0 = 0; b0 < block; b0 += s_.pass_rows) {
        MC2_RETURN_IF_ERROR(AllGatherReduceScatterPass(ch, b0, std::min(s_.pass_rows, block - b0)));
      }
      return Status::Ok();
    }
    case Type::kPureLinear:
      return Local();
  }
  return AtbError(atb::kInternalError, "LinearParallelOp: schedule has no algorithm");
}

}  // namespace

bool LpChainedPipelined(const LpSchedule& s) {
  if (s.algorithm != LpAlgorithm::kChained || s.world_size <= 1) return false;
  if (s.type != Type::kLinearAllReduce && s.type != Type::kLinearReduceScatter && s.type != Type::kAllGatherLinear) {
    return false;
  }
  const int64_t cut = s.type == Type::kLinearReduceScatter ? s.rows / s.world_size : s.rows;
  return s.chunk_rows > 0 && s.chunk_rows < cut;
}

size_t LpBufferBytes(const LpSchedule& s, bool has_intermediate) {
  if (s.gather_first) return has_intermediate ? 0 : static_cast<size_t>(s.rows * s.world_size * s.k) * s.in_elem;
  if (s.algorithm != LpAlgorithm::kChained) return 0;
  if (s.type == Type::kLinearReduceScatter) return static_cast<size_t>(s.rows * s.n) * s.out_elem;
  // The pipeline gathers chunk-major, not in intermediateOutput's rank-major order.
  if (s.type == Type::kAllGatherLinear && (!has_intermediate || LpChainedPipelined(s))) {
    return static_cast<size_t>(s.rows * s.world_size * s.k) * s.in_elem;
  }
  return 0;
}

size_t LpPassBytes(const LpSchedule& s, int64_t pass_rows) {
  const size_t xb = static_cast<size_t>(s.k) * s.in_elem;
  const size_t rb = static_cast<size_t>(s.n) * s.out_elem;
  switch (s.type) {
    case Type::kLinearAllReduce: return static_cast<size_t>(pass_rows) * rb;
    case Type::kLinearReduceScatter: return static_cast<size_t>(pass_rows * s.world_size) * rb;
    case Type::kAllGatherLinear: return static_cast<size_t>(pass_rows) * xb;
    default: return 0;
  }
}

Status RunLinearParallel(const LpRun& run) { return Runner(run).Run(); }

}  // namespace mc2::ops
