#include "ops/moe/moe_compute.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstring>

#include "core/float16.h"
#include "kernels/epilogue.h"
#include "kernels/float_matmul.h"
#include "ops/common/progress_thread.h"

namespace mc2::ops {
namespace {

// Matmul ranges are cut by rows too once there are this many (kernels::SplitRange).
constexpr int64_t kMatmulSplitRows = 64;
// Copies smaller than this run on the calling thread (a pool round trip costs a few us).
constexpr size_t kParallelCopyBytes = 512 << 10;
constexpr size_t kAlign = 64;

size_t RoundUp(size_t v) { return (v + kAlign - 1) / kAlign * kAlign; }

int Threads(ThreadPool* pool) { return pool != nullptr ? pool->num_threads() : 1; }

template <typename Fn>
Status ForTasks(ThreadPool* pool, int64_t n_tasks, const Fn& fn) {
  if (pool == nullptr || pool->num_threads() <= 1 || n_tasks <= 1) {
    for (int64_t t = 0; t < n_tasks; ++t) fn(t, 0);
    return Status::Ok();
  }
  return pool->ParallelFor(n_tasks, fn);
}

kernels::FloatMatmulDesc Desc(const MoeGeometry& g) {
  kernels::FloatMatmulDesc d;
  d.batch = g.el;
  d.k = g.h;
  d.n = g.ml;
  d.x_dtype = d.w_dtype = d.out_dtype = g.dt;
  d.w_transposed = g.w_transposed;
  return d;
}

bool NeedsEpilogue(const MoeGeometry& g) { return g.has_bias || g.act != ActType::kNone; }

// Bias + activation over rows [r0, r1), columns [n0, n1) of expert e, whose B is in y1.
void Epilogue(const MoeRun& run, int64_t e, const kernels::MatmulRange& range, float* tile) {
  const MoeGeometry& g = *run.g;
  const int64_t cols = range.cols();
  const bool f16 = g.dt == DType::kFloat16;
  kernels::EpilogueArgs args;
  args.cols = cols;
  args.bias = run.bias != nullptr ? run.bias + e * g.ml + range.n0 : nullptr;
  args.round_after_bias = f16 && args.bias != nullptr;  // fp16: the bias add is an fp16 add
  args.dst_dtype = g.dt;
  args.dst_stride = g.ml;
  for (int64_t r0 = range.m0; r0 < range.m1; r0 += kEpilogueRows) {
    const int64_t rows = std::min(kEpilogueRows, range.m1 - r0);
    const size_t at = static_cast<size_t>((e * g.rows + r0) * g.ml + range.n0);
    auto* b = reinterpret_cast<uint16_t*>(run.y1) + at;
    for (int64_t i = 0; i < rows; ++i) {
      for (int64_t j = 0; j < cols; ++j) {
        const uint16_t v = b[i * g.ml + j];
        tile[i * cols + j] = f16 ? HalfToFloat(v) : Bf16ToFloat(v);
      }
    }
    args.rows = rows;
    if (run.y3 != nullptr) {
      args.act = kernels::Activation::kNone;
      args.round = f16 ? RoundMode::kHalfEven : RoundMode::kHalfAway;
      args.dst = reinterpret_cast<uint16_t*>(run.y3) + at;
      kernels::ApplyEpilogueTile(tile, cols, args);
    }
    args.act = ToKernelActivation(g.act);
    args.round = Y1RoundMode(g);
    args.dst = b;
    kernels::ApplyEpilogueTile(tile, cols, args);
  }
}

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

double NowSeconds() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

}  // namespace

const char* MoePhaseTimes::Name(int phase) {
  static const char* const kNames[kCount] = {"begin", "push", "ep_wait", "forward", "tp_wait", "gather", "matmul"};
  return phase >= 0 && phase < kCount ? kNames[phase] : "?";
}

PhaseClock::PhaseClock(MoePhaseTimes* times) : times_(times) {
  if (times_ != nullptr) last_ = NowSeconds();
}

void PhaseClock::Mark(int phase) {
  if (times_ == nullptr) return;
  const double now = NowSeconds();
  times_->seconds[phase] += now - last_;
  last_ = now;
}

size_t MoeScratchSlice(const MoeGeometry& g) {
  return RoundUp(kernels::FloatMatmulScratchBytes(Desc(g), g.rows)) +
         RoundUp(static_cast<size_t>(kEpilogueRows * g.ml) * sizeof(float));
}

Status ExpertMatmul(const MoeRun& run, int64_t e, const char* y2e, ProgressThread* lend) {
  const MoeGeometry& g = *run.g;
  if (g.rows == 0 || g.ml == 0) return Status::Ok();
  const kernels::FloatMatmulDesc desc = Desc(g);
  kernels::FloatMatmulArgs args;
  // Expert e alone: the kernel indexes weight and y1 by e; x batch stride 0 keeps it on y2e.
  args.m = g.rows;
  args.x_stride = g.h;
  args.x_batch_stride = 0;
  args.x = y2e;
  args.w = run.w;
  args.w_stride = run.w_stride;
  args.w_batch_stride = run.w_batch_stride;
  args.y = run.y1;
  args.y_stride = g.ml;
  args.y_batch_stride = g.rows * g.ml;
  const int threads = Threads(run.pool);
  const size_t matmul_bytes = run.scratch_slice - RoundUp(static_cast<size_t>(kEpilogueRows * g.ml) * sizeof(float));
  // Lending: column blocks (real-time policy only, ProgressThread::LendBlockCols), the core lent
  // to the progress thread between them; else one poll of the network before the matmul.
  int64_t step = lend != nullptr ? ProgressThread::LendBlockCols(g.rows, g.h, 32) : 0;
  if (step <= 0) {
    if (lend != nullptr) lend->Lend(run.ep);
    step = g.ml;
  }
  FirstError error;
  for (int64_t c0 = 0; c0 < g.ml; c0 += step) {
    const int64_t c1 = std::min(g.ml, c0 + step);
    if (c0 > 0 && lend != nullptr) lend->Lend(run.ep);
    auto task = [&](int64_t t, int thread) {
      kernels::MatmulRange range = kernels::SplitRange(g.rows, c1 - c0, 32, kMatmulSplitRows, t, threads);
      range.n0 += c0;
      range.n1 += c0;
      if (range.empty()) return;
      char* scratch = run.scratch + static_cast<size_t>(thread) * run.scratch_slice;
      error.Record(kernels::ExecuteFloatMatmul(desc, args, e, e + 1, range, scratch, matmul_bytes));
      if (NeedsEpilogue(g)) Epilogue(run, e, range, reinterpret_cast<float*>(scratch + matmul_bytes));
    };
    MC2_RETURN_IF_ERROR(ForTasks(run.pool, threads, task));
  }
  return error.Take();
}

Status CopyRows(ThreadPool* pool, char* dst, int64_t dst_stride, const char* src, int64_t src_stride, int64_t rows,
                int64_t cols) {
  constexpr size_t kElem = 2;
  const size_t row_bytes = static_cast<size_t>(cols) * kElem;
  auto copy = [&](int64_t r0, int64_t r1) {
    if (dst_stride == cols && src_stride == cols) {
      std::memcpy(dst + static_cast<size_t>(r0) * row_bytes, src + static_cast<size_t>(r0) * row_bytes,
                  static_cast<size_t>(r1 - r0) * row_bytes);
      return;
    }
    for (int64_t r = r0; r < r1; ++r) {
      std::memcpy(dst + static_cast<size_t>(r * dst_stride) * kElem, src + static_cast<size_t>(r * src_stride) * kElem,
                  row_bytes);
    }
  };
  const int threads = Threads(pool);
  if (threads <= 1 || static_cast<size_t>(rows) * row_bytes < kParallelCopyBytes || rows < threads) {
    copy(0, rows);
    return Status::Ok();
  }
  return ForTasks(pool, threads, [&](int64_t t, int) { copy(rows * t / threads, rows * (t + 1) / threads); });
}

}  // namespace mc2::ops
