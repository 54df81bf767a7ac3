// Weight-quantized matmul benchmark, one thread, with its anchors measured in the same run:
//   ReadBandwidth   a streaming SIMD read of 256 MiB (the memory roof for decode),
//   Sgemm/m         OpenBLAS cblas_sgemm on the same (m, 4096, 4096) shape with the weight already
//                   dequantized to fp32 (the compute roof for prefill),
// then the kernels: decode m = 1 and m = 16 (int8 and int4, group 128, fp16 activations, and int8
// m = 2 / 4 / 8 (rows in registers); m = 1 also
// with bf16 activations, m = 4 / 16 int4 and m = 4 / 8 / 16 int8 with bf16: vdpbf16ps where the CPU has
// AVX512_BF16, int8 up to 8 rows) and
// W8A16 / W4A16 prefill m = 512. Decode rotates over enough copies of the packed weight (>= 64 MiB
// in total) that every call streams from DRAM, not from the 32 MiB L3.
//
// Each benchmark times its iterations itself (UseManualTime, thread CPU time) and reports the best
// iteration in counters: weight_GBps, GFLOPs, and the ratios to the anchors (frac_read_bw, frac_sgemm,
// time_vs_m1). Run with --benchmark_format=json or --benchmark_out=<file> for JSON.
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "wq_matmul_bench.cc"
#include "hwy/foreach_target.h"  // IWYU pragma: keep

#include "hwy/highway.h"

HWY_BEFORE_NAMESPACE();
namespace mc2::bench {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

float ReadSumImpl(const float* p, size_t count) {
  const hn::ScalableTag<float> df;
  const size_t N = hn::Lanes(df);
  auto a0 = hn::Zero(df), a1 = hn::Zero(df), a2 = hn::Zero(df), a3 = hn::Zero(df);
  for (size_t i = 0; i + 4 * N <= count; i += 4 * N) {
    a0 = hn::Add(a0, hn::Load(df, p + i));
    a1 = hn::Add(a1, hn::Load(df, p + i + N));
    a2 = hn::Add(a2, hn::Load(df, p + i + 2 * N));
    a3 = hn::Add(a3, hn::Load(df, p + i + 3 * N));
  }
  return hn::GetLane(hn::SumOfLanes(df, hn::Add(hn::Add(a0, a1), hn::Add(a2, a3))));
}

}  // namespace HWY_NAMESPACE
}  // namespace mc2::bench
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
#include <benchmark/benchmark.h>

#include <algorithm>
#include <ctime>
#include <cstdint>
#include <map>
#include <memory>
#include <random>
#include <vector>

#include "core/float16.h"
#include "hwy/aligned_allocator.h"
#include "kernels/wq_matmul.h"

#ifdef MC2_HAVE_OPENBLAS
#include <cblas.h>
#endif

namespace mc2::bench {
HWY_EXPORT(ReadSumImpl);

namespace {
using kernels::MatmulRegime;
using kernels::WqMatmulArgs;
using kernels::WqMatmulDesc;
using kernels::WqMatmulPlan;

constexpr int64_t kK = 4096, kN = 4096;
double g_read_gbps = 0;
std::map<int64_t, double> g_sgemm_gflops;  // by m
std::map<int, double> g_decode_m1_seconds;  // by 2 * weight bits + (bf16 activations)

// Thread CPU time: the machine is shared, and wall time would count the time other processes hold
// the core. Everything timed here runs on the calling thread (OpenBLAS is set to one thread).
double Now() {
  timespec t;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
  return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_nsec) * 1e-9;
}

void BM_ReadBandwidth(benchmark::State& state) {
  const size_t count = (256u << 20) / sizeof(float);
  auto buf = hwy::AllocateAligned<float>(count);
  std::fill(buf.get(), buf.get() + count, 1.0f);
  double best = 1e30;
  for (auto _ : state) {
    const double t0 = Now();
    float s = HWY_DYNAMIC_DISPATCH(ReadSumImpl)(buf.get(), count);
    benchmark::DoNotOptimize(s);
    const double dt = Now() - t0;
    state.SetIterationTime(dt);
    best = std::min(best, dt);
  }
  g_read_gbps = count * sizeof(float) / best * 1e-9;
  state.counters["read_GBps"] = g_read_gbps;
}
BENCHMARK(BM_ReadBandwidth)->UseManualTime()->Iterations(8)->Unit(benchmark::kMillisecond);

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
  state.counters["weight_GBps"] = kK * kN * 4.0 / best * 1e-9;
}
BENCHMARK(BM_Sgemm)->Arg(1)->Arg(16)->Arg(512)->UseManualTime()->Iterations(5)->Unit(benchmark::kMillisecond);
#endif

struct Setup {
  std::vector<std::unique_ptr<WqMatmulPlan>> plans;
  double weight_bytes = 0;
};

// `copies` plans over the same random weight; int8 or int4, per-group 128, fp16 or bf16 activations.
Setup MakePlans(int bits, int64_t m, int copies, bool bf16) {
  WqMatmulDesc d;
  d.m_max = m;
  d.k = kK;
  d.n = kN;
  d.act_dtype = bf16 ? DType::kBFloat16 : DType::kFloat16;
  d.weight_dtype = bits == 4 ? DType::kInt4 : DType::kInt8;
  d.layout = kernels::WeightLayout::kNK;
  d.scale_mode = kernels::ScaleMode::kPerGroup;
  d.group_size = 128;
  d.out_dtype = d.act_dtype;
  std::mt19937 rng(2);
  std::vector<uint8_t> w(static_cast<size_t>(kK * kN * bits / 8));
  for (auto& v : w) v = static_cast<uint8_t>(rng());
  std::vector<uint16_t> scale(static_cast<size_t>(kK / 128 * kN));
  std::uniform_real_distribution<float> sd(0.001f, 0.02f);
  for (auto& v : scale) v = bf16 ? FloatToBf16(sd(rng)) : FloatToHalf(sd(rng));
  kernels::WqWeightsView view;
  view.weight = w.data();
  view.scale = scale.data();
  view.stride_g = 1;  // scale stored (n, groups), as a transposed weight's scale is
  view.stride_n = kK / 128;
  Setup s;
  for (int c = 0; c < copies; ++c) {
    auto plan = std::make_unique<WqMatmulPlan>();
    kernels::Support support = kernels::Support::Yes();
    if (!kernels::PlanWqMatmul(d, view, plan.get(), &support).ok() || !support.ok()) return {};
    s.plans.push_back(std::move(plan));
  }
  s.weight_bytes = kK * kN * bits / 8.0 + scale.size() * 2.0;
  return s;
}

void BM_WqMatmul(benchmark::State& state) {
  const int64_t m = state.range(0);
  const int bits = static_cast<int>(state.range(1));
  const bool bf16 = state.range(2) != 0;
  // Decode rotates over >= 64 MiB of packed weights so each call reads DRAM; prefill is compute bound.
  const int copies = m <= kernels::kWqDecodeMaxM ? static_cast<int>(64 * 8 / bits / 16) : 1;
  Setup s = MakePlans(bits, m, copies, bf16);
  if (s.plans.empty()) {
    state.SkipWithError("plan failed");
    return;
  }
  std::vector<uint16_t> x(m * kK), y(m * kN);
  std::mt19937 rng(3);
  std::uniform_real_distribution<float> dist(-1, 1);
  for (auto& v : x) v = bf16 ? FloatToBf16(dist(rng)) : FloatToHalf(dist(rng));
  auto scratch = hwy::AllocateAligned<uint8_t>(s.plans[0]->ScratchBytes(m));
  WqMatmulArgs args;
  args.x = x.data();
  args.m = m;
  args.y = y.data();
  double best = 1e30;
  size_t i = 0;
  for (auto _ : state) {
    const WqMatmulPlan& plan = *s.plans[i++ % s.plans.size()];
    const double t0 = Now();
    const Status st = kernels::ExecuteWqMatmul(plan, args, {0, m, 0, kN}, scratch.get(), plan.ScratchBytes(m));
    const double dt = Now() - t0;
    if (!st.ok()) {
      state.SkipWithError(st.ToString().c_str());
      return;
    }
    state.SetIterationTime(dt);
    best = std::min(best, dt);
  }
  const double gbps = s.weight_bytes / best * 1e-9;
  const double gflops = 2.0 * m * kK * kN / best * 1e-9;
  state.counters["weight_GBps"] = gbps;
  state.counters["GFLOPs"] = gflops;
  state.counters["best_ms"] = best * 1e3;
  if (g_read_gbps > 0) state.counters["frac_read_bw"] = gbps / g_read_gbps;
  if (g_sgemm_gflops.count(m)) state.counters["frac_sgemm"] = gflops / g_sgemm_gflops[m];
  const int key = 2 * bits + (bf16 ? 1 : 0);
  if (m == 1) g_decode_m1_seconds[key] = best;
  if (m > 1 && g_decode_m1_seconds.count(key)) state.counters["time_vs_m1"] = best / g_decode_m1_seconds[key];
}
BENCHMARK(BM_WqMatmul)
    ->ArgNames({"m", "bits", "bf16"})
    ->Args({1, 8, 0})
    ->Args({16, 8, 0})
    ->Args({1, 4, 0})
    ->Args({16, 4, 0})
    ->Args({1, 8, 1})
    ->Args({2, 8, 0})
    ->Args({4, 8, 0})
    ->Args({8, 8, 0})
    ->Args({4, 8, 1})
    ->Args({8, 8, 1})
    ->Args({16, 8, 1})
    ->Args({1, 4, 1})
    ->Args({4, 4, 1})
    ->Args({16, 4, 1})
    ->UseManualTime()
    ->Iterations(40)
    ->Unit(benchmark::kMillisecond);
BENCHMARK(BM_WqMatmul)
    ->ArgNames({"m", "bits", "bf16"})
    ->Args({512, 8, 0})
    ->Args({512, 4, 0})
    ->UseManualTime()
    ->Iterations(4)
    ->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace mc2::bench

int main(int argc, char** argv) {
#ifdef MC2_HAVE_OPENBLAS
  openblas_set_num_threads(1);  // the targets are per core
#endif
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
#endif  // HWY_ONCE
