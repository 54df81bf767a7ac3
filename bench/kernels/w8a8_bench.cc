// W8A8 matmul benchmark, with OpenBLAS sgemm on the same shape measured in the same run.
//   Sgemm/m      cblas_sgemm (m, 4096) x (4096, 4096), fp32, one thread (the compute anchor:
//                ~98 GFLOP/s on one Zen3 core, its FMA ceiling)
//   W8A8/m/t     W8A8Plan::Execute, int8 x int8 -> fp16 with per-channel int64 deqScale, bias and
//                per-token scale, on a pool of t threads
// Each benchmark times its iterations (UseManualTime) and reports the best one: GFLOPs (2mnk / s)
// and, for W8A8, x_sgemm = its GFLOP/s over the one-thread sgemm's at the same m; the *_cpu
// counters are the same from the calling thread's CPU time (steadier on a shared host).
// JSON: --benchmark_format=json or --benchmark_out=<file>.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <chrono>
#include <ctime>
#include <map>
#include <random>
#include <vector>

#include "core/thread_pool.h"
#include "hwy/aligned_allocator.h"
#include "kernels/w8a8.h"

#ifdef MC2_HAVE_OPENBLAS
#include <cblas.h>
#endif

namespace mc2::bench {
namespace {

using namespace mc2::kernels;  // NOLINT: benchmark file

constexpr int64_t kK = 4096, kN = 4096;
std::map<int64_t, double> g_sgemm_gflops, g_sgemm_gflops_cpu;  // best sgemm GFLOP/s per m

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

#ifdef MC2_HAVE_OPENBLAS
void BM_Sgemm(benchmark::State& state) {
  const int64_t m = state.range(0);
  openblas_set_num_threads(1);
  std::vector<float> a(m * kK), b(kK * kN), c(m * kN);
  std::mt19937 rng(1);
  std::uniform_real_distribution<float> d(-1, 1);
  for (float& v : a) v = d(rng);
  for (float& v : b) v = d(rng);
  const Best s = BestSeconds(state, [&] {
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, m, kN, kK, 1.0f, a.data(), kK, b.data(), kN, 0.0f,
                c.data(), kN);
    benchmark::DoNotOptimize(c.data());
  });
  const double gflops = 2.0 * m * kN * kK / s.wall * 1e-9, gflops_cpu = 2.0 * m * kN * kK / s.cpu * 1e-9;
  g_sgemm_gflops[m] = std::max(g_sgemm_gflops[m], gflops);
  g_sgemm_gflops_cpu[m] = std::max(g_sgemm_gflops_cpu[m], gflops_cpu);
  state.counters["GFLOPs"] = gflops;
  state.counters["GFLOPs_cpu"] = gflops_cpu;
}
BENCHMARK(BM_Sgemm)->Arg(512)->Arg(16)->UseManualTime()->Unit(benchmark::kMillisecond)->MinTime(2.0);
#endif

void BM_W8A8(benchmark::State& state) {
  const int64_t m = state.range(0);
  const int threads = static_cast<int>(state.range(1));
  std::mt19937 rng(2);
  std::uniform_int_distribution<int> i8(-128, 127);
  std::vector<int8_t> x(m * kK), w(kK * kN);
  for (auto& v : x) v = static_cast<int8_t>(i8(rng));
  for (auto& v : w) v = static_cast<int8_t>(i8(rng));
  std::vector<int32_t> bias(kN, 1000);
  std::vector<int64_t> scale(kN, 0x3a800000LL);  // 2^-10 in the low 32 bits
  std::vector<float> token(m, 0.5f);
  W8A8Weight desc{w.data(), kK, kN, false, false, 0};
  W8A8Quant q{bias.data(), kN, scale.data(), DType::kInt64, kN, DType::kFloat16};
  StatusOr<W8A8Plan> plan = W8A8Plan::Create(desc, q);
  if (!plan.ok()) {
    state.SkipWithError(plan.status().ToString().c_str());
    return;
  }
  std::vector<uint16_t> out(m * kN);
  auto ws = hwy::AllocateAligned<char>(plan->WorkspaceBytes(m));
  ThreadPool pool(threads);
  const Best s = BestSeconds(state, [&] {
    const Status st = plan->Execute(x.data(), m, 0, token.data(), out.data(), 0, ws.get(), plan->WorkspaceBytes(m),
                                    threads > 1 ? &pool : nullptr);
    benchmark::DoNotOptimize(out.data());
    (void)st;
  });
  const double gflops = 2.0 * m * kN * kK / s.wall * 1e-9, gflops_cpu = 2.0 * m * kN * kK / s.cpu * 1e-9;
  state.counters["GFLOPs"] = gflops;
  if (g_sgemm_gflops.count(m)) state.counters["x_sgemm"] = gflops / g_sgemm_gflops[m];
  if (threads == 1) {  // the caller's CPU time covers the work only when it does all of it
    state.counters["GFLOPs_cpu"] = gflops_cpu;
    if (g_sgemm_gflops_cpu.count(m)) state.counters["x_sgemm_cpu"] = gflops_cpu / g_sgemm_gflops_cpu[m];
  }
  state.SetLabel(W8A8Target());
}
BENCHMARK(BM_W8A8)
    ->Args({512, 1})
    ->Args({16, 1})
    ->Args({512, 2})
    ->UseManualTime()
    ->Unit(benchmark::kMillisecond)
    ->MinTime(2.0);

}  // namespace
}  // namespace mc2::bench

BENCHMARK_MAIN();
