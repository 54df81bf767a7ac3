// Row kernels against a copy loop measured in the same run, one thread, DRAM-sized buffers:
//   Copy            memcpy of 64 MiB (bytes counted read + write: the anchor, ~36.7 GB/s here)
//   AddRmsNorm/a    fp16 add + RMSNorm of (4096, 8192): reads a (fp16 or fp32) and residual,
//                   writes y and normOut; bytes = those four arrays; x_copy = GB/s over Copy's
//   Reduce/R/n      R fp16 buffers of n elements summed into an fp16 buffer; bytes = (R + 1) * 2n
//                   (n = 16M for R <= 8, 4M for R = 32: every buffer set is beyond the 32 MiB L3)
// Best iteration of each (UseManualTime); *_cpu counters use the thread CPU time instead of wall. JSON: --benchmark_format=json / --benchmark_out=<file>.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <chrono>
#include <ctime>
#include <cstring>
#include <vector>

#include "core/float16.h"
#include "hwy/aligned_allocator.h"
#include "kernels/reduce.h"
#include "kernels/rms_norm.h"

namespace mc2::bench {
namespace {

using namespace mc2::kernels;  // NOLINT: benchmark file

double g_copy_gbps = 0, g_copy_gbps_cpu = 0;

double ThreadCpuSeconds() {
  timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

// Best wall time and best calling-thread CPU time over the iterations. On a host shared with
// other jobs the CPU time is the steadier figure for single-thread runs (time descheduled is not
// counted; cache and memory contention still is).
struct Best {
  double wall = 1e30, cpu = 1e30;
};
template <typename Fn>
Best BestSeconds(benchmark::State& state, Fn&& fn) {
  Best best;
  for (auto _ : state) {
    const double c0 = ThreadCpuSeconds();
    const auto t0 = std::chrono::steady_clock::now();
    fn();
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    const double c = ThreadCpuSeconds() - c0;
    state.SetIterationTime(s);
    best.wall = std::min(best.wall, s);
    best.cpu = std::min(best.cpu, c);
  }
  return best;
}

// GBps / x_copy from the best wall time, GBps_cpu / x_copy_cpu from the best thread CPU time.
void Report(benchmark::State& state, double bytes, const Best& t, bool is_copy = false) {
  const double gbps = bytes / t.wall * 1e-9, gbps_cpu = bytes / t.cpu * 1e-9;
  state.counters["GBps"] = gbps;
  state.counters["GBps_cpu"] = gbps_cpu;
  if (is_copy) {
    g_copy_gbps = std::max(g_copy_gbps, gbps);
    g_copy_gbps_cpu = std::max(g_copy_gbps_cpu, gbps_cpu);
  } else if (g_copy_gbps > 0) {
    state.counters["x_copy"] = gbps / g_copy_gbps;
    state.counters["x_copy_cpu"] = gbps_cpu / g_copy_gbps_cpu;
  }
}

void BM_Copy(benchmark::State& state) {
  const size_t bytes = size_t{64} << 20;
  auto src = hwy::AllocateAligned<char>(bytes), dst = hwy::AllocateAligned<char>(bytes);
  std::memset(src.get(), 1, bytes);
  std::memset(dst.get(), 2, bytes);
  const Best s = BestSeconds(state, [&] {
    std::memcpy(dst.get(), src.get(), bytes);
    benchmark::DoNotOptimize(dst.get());
  });
  Report(state, 2.0 * bytes, s, true);
}
BENCHMARK(BM_Copy)->UseManualTime()->Unit(benchmark::kMillisecond)->MinTime(1.0);

void BM_AddRmsNorm(benchmark::State& state) {
  const bool a_f32 = state.range(0) == 32;
  const int64_t m = 4096, n = 8192, count = m * n;
  auto a16 = hwy::AllocateAligned<uint16_t>(count), res = hwy::AllocateAligned<uint16_t>(count),
       y = hwy::AllocateAligned<uint16_t>(count), out = hwy::AllocateAligned<uint16_t>(count),
       gamma = hwy::AllocateAligned<uint16_t>(n);
  auto a32 = hwy::AllocateAligned<float>(a_f32 ? count : 1);
  for (int64_t i = 0; i < count; ++i) {
    a16[i] = FloatToHalf(static_cast<float>(i % 97) * 0.01f);
    res[i] = FloatToHalf(static_cast<float>(i % 89) * -0.01f);
    if (a_f32) a32[i] = static_cast<float>(i % 101) * 0.01f;
  }
  for (int64_t j = 0; j < n; ++j) gamma[j] = FloatToHalf(1.0f + static_cast<float>(j % 7) * 0.1f);
  std::memset(y.get(), 0, count * 2);
  std::memset(out.get(), 0, count * 2);
  AddRmsNormArgs args;
  args.dtype = DType::kFloat16;
  args.m = m;
  args.n = n;
  args.a = a_f32 ? static_cast<const void*>(a32.get()) : a16.get();
  args.a_dtype = a_f32 ? DType::kFloat32 : DType::kFloat16;
  args.residual = res.get();
  args.gamma = gamma.get();
  args.y = y.get();
  args.norm_out = out.get();
  const Best s = BestSeconds(state, [&] {
    const Status st = AddRmsNorm(args);
    benchmark::DoNotOptimize(out.get());
    (void)st;
  });
  Report(state, static_cast<double>(count) * ((a_f32 ? 4 : 2) + 2 + 2 + 2), s);
  state.SetLabel(AddRmsNormTarget());
}
BENCHMARK(BM_AddRmsNorm)->Arg(16)->Arg(32)->UseManualTime()->Unit(benchmark::kMillisecond)->MinTime(1.0);

void BM_Reduce(benchmark::State& state) {
  const int r_count = static_cast<int>(state.range(0));
  const int64_t n = state.range(1);
  std::vector<hwy::AlignedFreeUniquePtr<uint16_t[]>> bufs;
  std::vector<const void*> srcs;
  for (int r = 0; r < r_count; ++r) {
    bufs.push_back(hwy::AllocateAligned<uint16_t>(n));
    for (int64_t i = 0; i < n; ++i) bufs.back()[i] = FloatToHalf(static_cast<float>((i + r) % 13) * 0.125f);
    srcs.push_back(bufs.back().get());
  }
  auto dst = hwy::AllocateAligned<uint16_t>(n);
  std::memset(dst.get(), 0, n * 2);
  const ReduceArgs args{srcs.data(), r_count, DType::kFloat16, dst.get(), DType::kFloat16, n};
  const Best s = BestSeconds(state, [&] {
    const Status st = ReduceSum(args);
    benchmark::DoNotOptimize(dst.get());
    (void)st;
  });
  Report(state, static_cast<double>(n) * 2 * (r_count + 1), s);
  state.SetLabel(ReduceSumTarget());
}
BENCHMARK(BM_Reduce)->Args({2, 16 << 20})->Args({8, 16 << 20})->Args({32, 4 << 20})->UseManualTime()->Unit(benchmark::kMillisecond)->MinTime(1.0);

}  // namespace
}  // namespace mc2::bench

BENCHMARK_MAIN();
