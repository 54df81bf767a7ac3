// Float (fp16) matmul benchmark, one thread, with OpenBLAS cblas_sgemm on the same shape (fp32
// operands) in the same run: m = 1, 4, 8, 16, 64, 128, 512 with k = n = 4096, W stored (k, n) and
// (n, k) (64 and 128: the row chunks of the chunked prefill, where converting W per call weighs
// most), and the MoE shape of 8 experts x 64 rows. Counters: GFLOPs, frac_sgemm (same m). Thread CPU time.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <ctime>
#include <map>
#include <random>
#include <vector>

#include "core/float16.h"
#include "hwy/aligned_allocator.h"
#include "kernels/float_matmul.h"

#ifdef MC2_HAVE_OPENBLAS
#include <cblas.h>
#endif

namespace mc2::bench {
namespace {

constexpr int64_t kK = 4096, kN = 4096;
std::map<int64_t, double> g_sgemm_gflops;

double Now() {
  timespec t;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
  return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_nsec) * 1e-9;
}

#ifdef MC2_HAVE_OPENBLAS
void BM_Sgemm(benchmark::State& state) {
  const int64_t m = state.range(0);
  std::vector<float> w(kK * kN), x(m * kK), y(m * kN);
  std::mt19937 rng(1);
  std::uniform_real_distribution<float> dist(-1, 1);
  for (auto& v : w) v = dist(rng);
  for (auto& v : x) v = dist(rng);
  double best = 1e30;
  for (auto _ : state) {
    const double t0 = Now();
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, m, kN, kK, 1.0f, x.data(), kK, w.data(), kN, 0.0f,
                y.data(), kN);
    const double dt = Now() - t0;
    state.SetIterationTime(dt);
    best = std::min(best, dt);
  }
  g_sgemm_gflops[m] = 2.0 * m * kK * kN / best * 1e-9;
  state.counters["GFLOPs"] = g_sgemm_gflops[m];
}
BENCHMARK(BM_Sgemm)->Arg(1)->Arg(16)->Arg(64)->Arg(128)->Arg(512)->UseManualTime()->Iterations(5)->Unit(benchmark::kMillisecond);
#endif

// range(0) = m per expert, range(1) = experts, range(2) = W transposed.
void BM_FloatMatmul(benchmark::State& state) {
  const int64_t m = state.range(0);
  kernels::FloatMatmulDesc d;
  d.batch = state.range(1);
  d.k = kK;
  d.n = kN / d.batch;
  d.w_transposed = state.range(2) != 0;
  std::vector<uint16_t> x(d.batch * m * kK), w(d.batch * kK * d.n), y(d.batch * m * d.n);
  std::mt19937 rng(2);
  std::uniform_real_distribution<float> dist(-1, 1);
  for (auto& v : x) v = FloatToHalf(dist(rng));
  for (auto& v : w) v = FloatToHalf(dist(rng));
  kernels::FloatMatmulArgs a;
  a.x = x.data();
  a.m = m;
  a.w = w.data();
  a.y = y.data();
  const size_t bytes = kernels::FloatMatmulScratchBytes(d, m);
  auto scratch = hwy::AllocateAligned<uint8_t>(bytes);
  double best = 1e30;
  for (auto _ : state) {
    const double t0 = Now();
    const Status st = kernels::ExecuteFloatMatmul(d, a, 0, d.batch, {0, m, 0, d.n}, scratch.get(), bytes);
    const double dt = Now() - t0;
    if (!st.ok()) {
      state.SkipWithError(st.ToString().c_str());
      return;
    }
    state.SetIterationTime(dt);
    best = std::min(best, dt);
  }
  const double gflops = 2.0 * d.batch * m * kK * d.n / best * 1e-9;
  state.counters["GFLOPs"] = gflops;
  if (d.batch == 1 && g_sgemm_gflops.count(m)) state.counters["frac_sgemm"] = gflops / g_sgemm_gflops[m];
}
BENCHMARK(BM_FloatMatmul)
    ->ArgNames({"m", "experts", "trans"})
    ->Args({1, 1, 0})
    ->Args({1, 1, 1})
    ->Args({8, 1, 0})
    ->Args({16, 1, 0})
    ->Args({8, 1, 1})
    ->Args({16, 1, 1})
    ->Args({4, 1, 1})
    ->Args({4, 1, 0})
    ->Args({64, 1, 0})
    ->Args({128, 1, 0})
    ->Args({512, 1, 0})
    ->Args({64, 1, 1})
    ->Args({128, 1, 1})
    ->Args({512, 1, 1})
    ->Args({64, 8, 1})
    ->UseManualTime()
    ->Iterations(4)
    ->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace mc2::bench

int main(int argc, char** argv) {
#ifdef MC2_HAVE_OPENBLAS
  openblas_set_num_threads(1);
#endif
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
