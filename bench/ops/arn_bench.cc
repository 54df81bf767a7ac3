// arn_bench: WeightQuantMatmulAllReduceAddRmsNorm, fused against its parts and the unfused chains,
// all in one run on the same data. Llama-like TP = 2 shapes (--shapes llama, the default):
// Llama-2-7B o_proj (k per rank 2048, n 4096) and down_proj (5504, 4096), Llama-2-70B o_proj
// (4096, 8192) and down_proj (14336, 8192); m = 1, 16, 256, 2048 (--m M restricts, --k K --n N
// pick one shape); fp16 activations, int8 (and int4 for decode) per-channel weights.
//
//   matmul         the local matmul alone (one kernels::ExecuteWqMatmul over all rows)
//   allreduce      the communication alone: Communicator::AllReduce of the m x n fp16 product
//   fused          ArnOp (one-shot for decode, two-shot with chunked overlap for prefill; between
//                  machines: chained with the all-reduce of chunk i behind the matmul of i + 1);
//                  its record carries the per-phase times of rank 0 (ArnPhases, per call)
//   fused_1chunk   ArnOp with one chunk per pass (no matmul/reduce overlap), prefill only
//   chain_mc2      ArnOp forced to kChained in one chunk: matmul, Communicator::AllReduce, AddRmsNorm
//   chain_openmpi  matmul with fp32 output, MPI_Allreduce (fp32 sum: MPI has no fp16 sum), AddRmsNorm;
//                  only when run under mpirun
// --chunk R forces the fused variant's chunk rows; --iters N the samples per variant; --copies N caps
// the decode weight copies (`mc2 bench ops --quick`: one small shape, one copy, planned once).
//
// Ranks: without mpirun, 2 ranks as threads of this process; under `mpirun -np 2 arn_bench`,
// processes (mc2's MPI transport, shared memory between the ranks). Each rank has a pool of one
// thread (2 cores, 2 ranks). A sample is one call between two barriers; its time is the slowest
// rank's. Decode rotates over up to 4 weight copies (>= 64 MiB per rank) so the weights come from
// DRAM, not the 32 MiB L3. Prints a table to stderr and JSON records to stdout (or --out FILE).
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "comm/mpi_transport.h"
#include "comm/thread_transport.h"
#include "core/thread_pool.h"
#include "core/trace.h"
#include "kernels/rms_norm.h"
#include "kernels/wq_matmul.h"
#include "ops/arn/arn_op.h"
#include "reference/cases.h"

#ifdef MC2_BENCH_HAVE_MPI
#include <mpi.h>
#endif

namespace mc2::bench {
namespace {

using nlohmann::json;

constexpr int kWorld = 2;

struct Flags {
  int64_t chunk = 0;  // fused chunk rows (0: the operator's choice)
  int iters = 0;      // samples per variant (0: by m)
  int copies = 0;     // weight copies of decode shapes (0: enough for 64 MiB, at most 4)
};
Flags g_flags;

double Now() { return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count(); }

struct Timing {
  double median_us = 0, min_us = 0;
};

// Times `fn(i)` on every rank; a sample is the slowest rank's time between two barriers.
template <typename Fn>
Timing TimeIt(comm::Communicator& c, int iters, const Fn& fn) {
  std::vector<double> samples;
  const int warmup = 2;
  for (int i = 0; i < warmup + iters; ++i) {
    if (!c.Barrier().ok()) std::abort();
    const double t0 = Now();
    const Status s = fn(i);
    float dt = static_cast<float>((Now() - t0) * 1e6);
    if (!s.ok()) {
      std::fprintf(stderr, "rank %d: %s\n", c.rank(), s.ToString().c_str());
      std::abort();
    }
    if (!c.AllReduce(&dt, &dt, 1, DType::kFloat32, comm::ReduceOp::kMax).ok()) std::abort();
    if (i >= warmup) samples.push_back(dt);
  }
  std::sort(samples.begin(), samples.end());
  return {samples[samples.size() / 2], samples.front()};
}

struct Shape {
  int64_t m;
  int64_t k, n;
  DType weight;
};

// One rank's state for one shape: `copies` cases (different weights), their plans and buffers.
class RankBench {
 public:
  RankBench(comm::Communicator& c, ThreadPool& pool, const Shape& shape, bool with_mpi)
      : c_(c), pool_(pool), shape_(shape), with_mpi_(with_mpi) {}

  json Run() {
    const int64_t m = shape_.m;
    const int64_t k = shape_.k, n = shape_.n;
    const int64_t weight_bytes = shape_.weight == DType::kInt4 ? k * n / 2 : k * n;
    int copies = m <= kernels::kWqDecodeMaxM
                           ? static_cast<int>(std::clamp<int64_t>(((int64_t{64} << 20) + weight_bytes - 1) / weight_bytes, 1, 4))
                           : 1;
    if (g_flags.copies > 0) copies = std::min(copies, g_flags.copies);
    const int iters = g_flags.iters > 0 ? g_flags.iters : (m <= 16 ? 40 : (m <= 256 ? 10 : 4));
    for (int i = 0; i < copies; ++i) {
      reference::ArnShape s;
      s.world_size = kWorld;
      s.b = 1;
      s.s = m;
      s.k = k;
      s.n = n;
      s.weight = shape_.weight;
      s.bias = false;
      s.offset = false;
      s.transposed_weight = true;  // CANN's usual weight layout (n, k)
      s.seed = 11 + static_cast<uint64_t>(i);
      cases_.push_back(std::make_unique<reference::ArnCase>(reference::MakeArnCase(s)));
    }
    y_ = HostTensor(DType::kFloat16, {1, m, n});
    norm_ = HostTensor(DType::kFloat16, {1, m, n});
    f32_.assign(static_cast<size_t>(m * n), 0.0f);
    json out = json::array();
    const std::string tag = StrCat("m=", m, " k=", k, " n=", n, " ", DTypeName(shape_.weight));

    // The local matmul alone, with the plan the operator makes.
    std::vector<kernels::WqMatmulPlan> plans(copies), plans_f32(copies);
    for (int i = 0; i < copies; ++i) {
      Plan(i, DType::kFloat16, &plans[static_cast<size_t>(i)]);
      if (with_mpi_) Plan(i, DType::kFloat32, &plans_f32[static_cast<size_t>(i)]);
    }
    scratch_.assign(plans[0].ScratchBytes(m) + 64, 0);
    const Timing mm = TimeIt(c_, iters, [&](int i) {
      return Matmul(plans[static_cast<size_t>(i % copies)], i % copies, norm_.data());
    });
    out.push_back(Record(tag, "matmul", mm, mm));
    const Timing ar = TimeIt(c_, iters, [&](int) {
      return c_.AllReduce(norm_.data(), norm_.data(), static_cast<size_t>(m * n), DType::kFloat16);
    });
    out.push_back(Record(tag, "allreduce", ar, mm));

    const Timing fused = TimeOp(ops::ArnOptions{ops::ArnAlgorithm::kAuto, g_flags.chunk}, copies, iters, &out, tag,
                                "fused", mm, /*phases=*/true);
    out.back()["vs_max_matmul_allreduce"] = fused.median_us / std::max(mm.median_us, ar.median_us);
    out.back()["vs_sum_matmul_allreduce"] = fused.median_us / (mm.median_us + ar.median_us);
    if (m > kernels::kWqDecodeMaxM) TimeOp(ops::ArnOptions{ops::ArnAlgorithm::kAuto, m}, copies, iters, &out, tag, "fused_1chunk", mm);
    const Timing chain = TimeOp(ops::ArnOptions{ops::ArnAlgorithm::kChained, m}, copies, iters, &out, tag, "chain_mc2", mm);
    out.back()["fused_vs_this"] = fused.median_us / chain.median_us;
#ifdef MC2_BENCH_HAVE_MPI
    if (with_mpi_) {
      const Timing mpi_chain = TimeIt(c_, iters, [&](int i) {
        const int j = i % copies;
        MC2_RETURN_IF_ERROR(Matmul(plans_f32[static_cast<size_t>(j)], j, f32_.data()));
        MPI_Allreduce(MPI_IN_PLACE, f32_.data(), static_cast<int>(m * n), MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
        kernels::AddRmsNormArgs a;
        a.dtype = DType::kFloat16;
        a.m = m;
        a.n = n;
        a.a = f32_.data();
        a.a_dtype = DType::kFloat32;
        a.residual = In(j).residual.data;
        a.gamma = In(j).gamma.data;
        a.y = y_.data();
        a.norm_out = norm_.data();
        return kernels::AddRmsNorm(a, &pool_);
      });
      out.push_back(Record(tag, "chain_openmpi", mpi_chain, mm));
      out.back()["fused_vs_this"] = fused.median_us / mpi_chain.median_us;
    }
#endif
    return out;
  }

 private:
  const ArnInputs& In(int copy) const { return cases_[static_cast<size_t>(copy)]->ranks[static_cast<size_t>(c_.rank())]; }

  void Plan(int copy, DType out, kernels::WqMatmulPlan* plan) {
    const int64_t k = shape_.k, n = shape_.n;
    const ArnInputs& in = In(copy);
    kernels::WqMatmulDesc d;
    d.m_max = shape_.m;
    d.k = k;
    d.n = n;
    d.act_dtype = DType::kFloat16;
    d.weight_dtype = shape_.weight;
    d.layout = kernels::WeightLayout::kNK;
    d.scale_mode = kernels::ScaleMode::kPerChannel;
    d.out_dtype = out;
    kernels::WqWeightsView w;
    w.weight = in.x2.data;
    w.scale = in.antiquant_scale.data;
    w.stride_n = in.antiquant_scale.strides[in.antiquant_scale.rank() - 1];
    kernels::Support support = kernels::Support::Yes();
    if (!kernels::PlanWqMatmul(d, w, plan, &support).ok() || !support.ok()) std::abort();
  }

  Status Matmul(const kernels::WqMatmulPlan& plan, int copy, void* dst) {
    kernels::WqMatmulArgs a;
    a.x = In(copy).x1.data;
    a.m = shape_.m;
    a.y = dst;
    return kernels::ExecuteWqMatmul(plan, a, {0, shape_.m, 0, shape_.n}, scratch_.data(), scratch_.size());
  }

  Timing TimeOp(const ops::ArnOptions& options, int copies, int iters, json* out, const std::string& tag,
                const char* name, const Timing& mm, bool phases = false) {
    std::vector<std::unique_ptr<ops::ArnOp>> op_list;
    std::vector<ops::ArnTensors> tensors;
    size_t ws = 0;
    for (int i = 0; i < copies; ++i) {
      ops::ArnTensors t;
      t.in = In(i);
      t.y = y_.view();
      t.norm_out = norm_.view();
      auto op = ops::ArnOp::Create(t, cases_[static_cast<size_t>(i)]->attrs, ops::OpContext{&c_, &pool_}, options);
      if (!op.ok()) {
        std::fprintf(stderr, "%s\n", op.status().ToString().c_str());
        std::abort();
      }
      ws = std::max(ws, (*op)->workspace_bytes());
      op_list.push_back(std::move(*op));
      tensors.push_back(t);
    }
    std::vector<uint8_t> workspace(ws);
    ops::ArnPhases log;
    if (phases) {
      for (auto& op : op_list) op->set_phase_log(&log);
    }
    const Timing t = TimeIt(c_, iters, [&](int i) {
      return op_list[static_cast<size_t>(i % copies)]->Execute(tensors[static_cast<size_t>(i % copies)], workspace.data(),
                                                               workspace.size());
    });
    json rec = Record(tag, name, t, mm);
    const ops::ArnSchedule& s = op_list[0]->schedule();
    rec["algorithm"] = ops::ArnAlgorithmName(s.algorithm);
    rec["chunk_rows"] = s.chunk_rows;
    rec["passes"] = s.passes();
    if (phases) {
      const double calls = iters + 2;  // TimeIt's warm-up calls are logged too
      rec["phases_us"] = {{"enter", log.enter_us / calls}, {"matmul", log.matmul_us / calls},
                          {"wait", log.wait_us / calls}, {"reduce_norm", log.reduce_us / calls},
                          {"total", log.total_us / calls}};
      if (c_.rank() == 0) {
        std::fprintf(stderr, "%-16s %-14s phases per call (rank 0, mean): enter %.1f  matmul %.1f  wait %.1f  reduce+norm %.1f  total %.1f us\n",
                     tag.c_str(), name, log.enter_us / calls, log.matmul_us / calls, log.wait_us / calls,
                     log.reduce_us / calls, log.total_us / calls);
      }
    }
    out->push_back(rec);
    return t;
  }

  json Record(const std::string& tag, const char* variant, const Timing& t, const Timing& mm) {
    json r;
    r["bench"] = "arn";
    r["transport"] = c_.transport();
    r["ranks"] = c_.world_size();
    r["m"] = shape_.m;
    r["k_per_rank"] = shape_.k;
    r["n"] = shape_.n;
    r["weight"] = DTypeName(shape_.weight);
    r["variant"] = variant;
    r["median_us"] = t.median_us;
    r["min_us"] = t.min_us;
    r["vs_matmul"] = t.median_us / mm.median_us;
    if (c_.rank() == 0) {
      std::fprintf(stderr, "%-16s %-14s median %10.1f us  min %10.1f us  x%.3f of matmul\n", tag.c_str(), variant,
                   t.median_us, t.min_us, t.median_us / mm.median_us);
    }
    return r;
  }

  comm::Communicator& c_;
  ThreadPool& pool_;
  Shape shape_;
  bool with_mpi_;
  std::vector<std::unique_ptr<reference::ArnCase>> cases_;
  HostTensor y_, norm_;
  std::vector<float> f32_;
  std::vector<uint8_t> scratch_;
};

json RunRank(comm::Communicator& c, bool with_mpi, const std::vector<Shape>& shapes) {
  ThreadPool pool(1);
  json all = json::array();
  for (const Shape& s : shapes) {
    RankBench b(c, pool, s, with_mpi);
    for (auto& r : b.Run()) all.push_back(r);
  }
  return all;
}

}  // namespace
}  // namespace mc2::bench

int main(int argc, char** argv) {
  using namespace mc2;
  // MC2_BENCH_TRACE=PATH: record the trace spans (core/trace.h) of the whole run.
  const char* trace_path = std::getenv("MC2_BENCH_TRACE");
  if (trace_path != nullptr) trace::Enable();
  std::string out_path;
  std::vector<int64_t> ms = {1, 16, 256, 2048};
  // (k per rank, n): Llama-2-7B o_proj, down_proj; Llama-2-70B o_proj, down_proj, all TP = 2.
  std::vector<std::pair<int64_t, int64_t>> kn = {{2048, 4096}, {5504, 4096}, {4096, 8192}, {14336, 8192}};
  int64_t k = 0, n = 0;
  bool int4 = true;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    const bool has = i + 1 < argc;
    if (a == "--out" && has) out_path = argv[++i];
    else if (a == "--m" && has) ms = {std::atoll(argv[++i])};
    else if (a == "--k" && has) k = std::atoll(argv[++i]);
    else if (a == "--n" && has) n = std::atoll(argv[++i]);
    else if (a == "--chunk" && has) bench::g_flags.chunk = std::atoll(argv[++i]);
    else if (a == "--iters" && has) bench::g_flags.iters = std::atoi(argv[++i]);
    else if (a == "--copies" && has) bench::g_flags.copies = std::atoi(argv[++i]);
    else if (a == "--no-int4") int4 = false;
    else {
      std::fprintf(stderr, "usage: arn_bench [--m M] [--k K --n N] [--chunk ROWS] [--iters N] [--copies N] [--no-int4] [--out FILE]\n");
      return 2;
    }
  }
  if (k > 0 || n > 0) kn = {{k > 0 ? k : 2048, n > 0 ? n : 4096}};
  std::vector<bench::Shape> shapes;
  for (const auto& [sk, sn] : kn) {
    for (int64_t m : ms) {
      shapes.push_back({m, sk, sn, DType::kInt8});
      if (m <= 16 && int4) shapes.push_back({m, sk, sn, DType::kInt4});
    }
  }
  nlohmann::json records;
  const bool under_mpi = std::getenv("OMPI_COMM_WORLD_SIZE") != nullptr;
  int rank = 0;
  if (under_mpi) {
#ifdef MC2_BENCH_HAVE_MPI
    auto c = comm::InitMpi(comm::CommOptions::FromEnv());
    if (!c.ok() || (*c)->world_size() != bench::kWorld) {
      std::fprintf(stderr, "needs mpirun -np %d: %s\n", bench::kWorld, c.ok() ? "" : c.status().ToString().c_str());
      return 1;
    }
    rank = (*c)->rank();
    trace::SetProcessRank(rank);
    records = bench::RunRank(**c, true, shapes);
#else
    std::fprintf(stderr, "built without MPI\n");
    return 1;
#endif
  } else {
    auto comms = comm::InitThreads(bench::kWorld);
    if (!comms.ok()) return 1;
    std::vector<nlohmann::json> per_rank(bench::kWorld);
    std::vector<std::thread> threads;
    for (int r = 0; r < bench::kWorld; ++r) {
      threads.emplace_back([&, r] {
        trace::RankScope trace_rank(r);
        per_rank[static_cast<size_t>(r)] = bench::RunRank(*(*comms)[static_cast<size_t>(r)], false, shapes); });
    }
    for (auto& t : threads) t.join();
    records = per_rank[0];
  }
  if (trace_path != nullptr) {  // one file per process: <path>.<rank>.json
    trace::Disable();
    const Status ts = trace::WriteChromeJson(StrCat(trace_path, ".", rank, ".json"), trace::TakeEvents());
    if (!ts.ok()) std::fprintf(stderr, "%s\n", ts.ToString().c_str());
  }
  if (rank != 0) return 0;
  const std::string text = records.dump(1);
  if (out_path.empty()) {
    std::printf("%s\n", text.c_str());
  } else {
    std::ofstream(out_path) << text << "\n";
  }
  return 0;
}
