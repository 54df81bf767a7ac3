// linear_parallel_bench: LinearParallelOp fused against its local matmul alone and the unfused
// chain, all in one run on the same data. Llama-2-7B-like TP = 2 shapes: the row-parallel o_proj
// (k per rank 2048 = 4096 / 2, n = 4096) for LINEAR_ALL_REDUCE at m = 1, 16, 256, 2048, and m = 256
// for LINEAR_REDUCE_SCATTER and ALL_GATHER_LINEAR; fp16 activations and weights stored (n, k)
// (transWeight, the usual layout), residual [n].
//
//   matmul        PURE_LINEAR with the same plan: the local product alone (+ the residual add)
//   fused         LinearParallelOp, default schedule
//   fused_1chunk  one chunk per pass (no matmul / reduce overlap), prefill all-reduce only
//   chain_mc2     forced kChained: matmul, Communicator collective, residual add (between
//                 machines: in chunks on the progress thread, lp_fused.h)
//   comm          the communication alone: Communicator::AllReduce / ReduceScatter of the
//                 product, AllGather of the input (records: fused vs max and sum of matmul, comm)
//
// --type ar|rs|ag, --m, --k, --n, --iters choose one shape; --chunk R the chained chunk rows.
// Under mpirun (-np 2) the ranks are processes with mc2's MPI transport (with
// MC2_MPI_FORCE_INTERNODE=1 as two machines: scripts/netns-bench --op lp).
//
// Ranks: 2 threads of this process, each with a pool of one thread (2 cores, 2 ranks). A sample is
// one call between two barriers, timed as the slowest rank. Decode rotates over 2 weight copies
// (32 MiB per rank) so the weights stream from DRAM as in a model. Table to stderr, JSON records
// to stdout (or --out FILE). --m M: LINEAR_ALL_REDUCE at m = M only; --k K --n N another shape;
// --iters N samples per variant; --copies N weight copies.
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
#include "ops/linear_parallel/lp_op.h"
#include "reference/cases.h"

#ifdef MC2_BENCH_HAVE_MPI
#include <mpi.h>
#endif

namespace mc2::bench {
namespace {

using nlohmann::json;
using Type = LinearParallelType;
constexpr int kWorld = 2;
// Shape and sampling, settable for `mc2 bench ops --quick` (--k, --n, --iters, --copies; 0: by m).
int64_t g_k = 2048, g_n = 4096;
int g_iters = 0, g_copies = 0;
int64_t g_chunk = 0;  // --chunk: chain_mc2's chunk rows (0: the plan's choice)

double Now() { return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count(); }

struct Timing {
  double median_us = 0, min_us = 0;
};

template <typename Fn>
Timing TimeIt(comm::Communicator& c, int iters, const Fn& fn) {
  std::vector<double> samples;
  for (int i = 0; i < 2 + iters; ++i) {
    if (!c.Barrier().ok()) std::abort();
    const double t0 = Now();
    const Status s = fn(i);
    float dt = static_cast<float>((Now() - t0) * 1e6);
    if (!s.ok()) {
      std::fprintf(stderr, "rank %d: %s\n", c.rank(), s.ToString().c_str());
      std::abort();
    }
    if (!c.AllReduce(&dt, &dt, 1, DType::kFloat32, comm::ReduceOp::kMax).ok()) std::abort();
    if (i >= 2) samples.push_back(dt);
  }
  std::sort(samples.begin(), samples.end());
  return {samples[samples.size() / 2], samples.front()};
}

struct Shape {
  Type type;
  int64_t m;
};

class RankBench {
 public:
  RankBench(comm::Communicator& c, ThreadPool& pool, const Shape& shape) : c_(c), pool_(pool), shape_(shape) {}

  json Run() {
    const int64_t m = shape_.m;
    copies_ = g_copies > 0 ? g_copies : (m <= 16 ? 2 : 1);
    const int iters = g_iters > 0 ? g_iters : (m <= 16 ? 30 : (m <= 256 ? 8 : 3));
    for (int i = 0; i < copies_; ++i) {
      reference::LinearParallelShape s;
      s.world_size = kWorld;
      s.m = m;
      s.k = g_k;
      s.n = g_n;
      s.attrs.type = shape_.type;
      s.attrs.has_residual = true;
      s.seed = 21 + static_cast<uint64_t>(i);
      cases_.push_back(std::make_unique<reference::LinearParallelCase>(reference::MakeLinearParallelCase(s)));
    }
    const int64_t out_rows = shape_.type == Type::kLinearReduceScatter ? m / kWorld
                             : shape_.type == Type::kAllGatherLinear  ? m * kWorld
                                                                      : m;
    out_ = HostTensor(DType::kFloat16, {out_rows, g_n});
    pure_out_ = HostTensor(DType::kFloat16, {m, g_n});
    json out = json::array();
    tag_ = StrCat(ops::LinearParallelTypeName(shape_.type), " m=", m);
    const Timing mm = TimeOp(Type::kPureLinear, {}, iters, &out, "matmul", nullptr);
    const Timing fused = TimeOp(shape_.type, {}, iters, &out, "fused", &mm);
    if (shape_.type == Type::kLinearAllReduce && m > 16) {
      TimeOp(shape_.type, ops::LpOptions{ops::LpAlgorithm::kAuto, m}, iters, &out, "fused_1chunk", &mm);
    }
    const Timing chain =
        TimeOp(shape_.type, ops::LpOptions{ops::LpAlgorithm::kChained, g_chunk}, iters, &out, "chain_mc2", &mm);
    out.back()["fused_vs_this"] = fused.median_us / chain.median_us;
    if (m > 16) {  // the chain in one piece: no overlap at all
      const int64_t cut = shape_.type == Type::kLinearReduceScatter ? m / kWorld : m;
      TimeOp(shape_.type, ops::LpOptions{ops::LpAlgorithm::kChained, cut}, iters, &out, "chain_1chunk", &mm);
    }
    const Timing comm = TimeComm(iters, &out, &mm);
    for (const auto& [name, t] : {std::pair{"fused", fused}, std::pair{"chain_mc2", chain}}) {
      for (auto& r : out) {
        if (r["variant"] != name) continue;
        r["vs_max_matmul_comm"] = t.median_us / std::max(mm.median_us, comm.median_us);
        r["vs_sum_matmul_comm"] = t.median_us / (mm.median_us + comm.median_us);
      }
    }
    if (c_.rank() == 0) std::fprintf(stderr, "%-28s fused / chain_mc2 = %.3f\n", tag_.c_str(), fused.median_us / chain.median_us);
    return out;
  }

 private:
  Timing TimeOp(Type type, const ops::LpOptions& options, int iters, json* out, const char* name, const Timing* mm) {
    std::vector<std::unique_ptr<ops::LinearParallelOp>> op_list;
    std::vector<ops::LinearParallelTensors> tensors;
    size_t ws = 0;
    for (int i = 0; i < copies_; ++i) {
      ops::LinearParallelTensors t;
      t.in = cases_[static_cast<size_t>(i)]->ranks[static_cast<size_t>(c_.rank())];
      LinearParallelAttrs attrs = cases_[static_cast<size_t>(i)]->attrs;
      attrs.type = type;
      t.output = type == Type::kPureLinear ? pure_out_.view() : out_.view();
      auto op = ops::LinearParallelOp::Create(t, attrs, ops::OpContext{&c_, &pool_}, options);
      if (!op.ok()) {
        std::fprintf(stderr, "%s\n", op.status().ToString().c_str());
        std::abort();
      }
      ws = std::max(ws, (*op)->workspace_bytes());
      op_list.push_back(std::move(*op));
      tensors.push_back(t);
    }
    std::vector<uint8_t> workspace(ws);
    const Timing t = TimeIt(c_, iters, [&](int i) {
      const size_t j = static_cast<size_t>(i % copies_);
      return op_list[j]->Execute(tensors[j], workspace.data(), workspace.size());
    });
    const Timing base = mm != nullptr ? *mm : t;
    json r;
    r["bench"] = "linear_parallel";
    r["transport"] = c_.transport();
    r["ranks"] = c_.world_size();
    r["type"] = ops::LinearParallelTypeName(shape_.type);
    r["m"] = shape_.m;
    r["k_per_rank"] = g_k;
    r["n"] = g_n;
    r["dtype"] = "float16";
    r["variant"] = name;
    r["algorithm"] = ops::LpAlgorithmName(op_list[0]->schedule().algorithm);
    r["chunk_rows"] = op_list[0]->schedule().chunk_rows;
    r["local_path"] = op_list[0]->local_path();
    r["median_us"] = t.median_us;
    r["min_us"] = t.min_us;
    r["vs_matmul"] = t.median_us / base.median_us;
    if (c_.rank() == 0) {
      std::fprintf(stderr, "%-28s %-13s %-9s median %10.1f us  min %10.1f us  x%.3f of matmul\n", tag_.c_str(), name,
                   ops::LpAlgorithmName(op_list[0]->schedule().algorithm), t.median_us, t.min_us,
                   t.median_us / base.median_us);
    }
    out->push_back(r);
    return t;
  }

  // The collective of the chained form alone, on buffers of its sizes.
  Timing TimeComm(int iters, json* out, const Timing* mm) {
    const int64_t m = shape_.m;
    const size_t n = static_cast<size_t>(g_n), k = static_cast<size_t>(g_k);
    std::vector<uint16_t> src, dst;
    const Timing t = TimeIt(c_, iters, [&](int) -> Status {
      switch (shape_.type) {
        case Type::kLinearAllReduce:
          src.resize(static_cast<size_t>(m) * n, 0x3c00);
          return c_.AllReduce(src.data(), src.data(), src.size(), DType::kFloat16);
        case Type::kLinearReduceScatter:
          src.resize(static_cast<size_t>(m) * n, 0x3c00);
          dst.resize(src.size() / kWorld);
          return c_.ReduceScatter(src.data(), dst.data(), dst.size(), DType::kFloat16);
        default:
          src.resize(static_cast<size_t>(m) * k, 0x3c00);
          dst.resize(src.size() * kWorld);
          return c_.AllGather(src.data(), dst.data(), src.size(), DType::kFloat16);
      }
    });
    json r;
    r["bench"] = "linear_parallel";
    r["transport"] = c_.transport();
    r["ranks"] = c_.world_size();
    r["type"] = ops::LinearParallelTypeName(shape_.type);
    r["m"] = m;
    r["k_per_rank"] = g_k;
    r["n"] = g_n;
    r["dtype"] = "float16";
    r["variant"] = "comm";
    r["median_us"] = t.median_us;
    r["min_us"] = t.min_us;
    r["vs_matmul"] = t.median_us / mm->median_us;
    if (c_.rank() == 0) {
      std::fprintf(stderr, "%-28s %-13s %-9s median %10.1f us  min %10.1f us  x%.3f of matmul\n", tag_.c_str(), "comm",
                   "", t.median_us, t.min_us, t.median_us / mm->median_us);
    }
    out->push_back(r);
    return t;
  }

  comm::Communicator& c_;
  ThreadPool& pool_;
  Shape shape_;
  int copies_ = 1;
  std::string tag_;
  std::vector<std::unique_ptr<reference::LinearParallelCase>> cases_;
  HostTensor out_, pure_out_;
};

json RunRank(comm::Communicator& c, const std::vector<Shape>& shapes) {
  ThreadPool pool(1);
  json all = json::array();
  for (const Shape& s : shapes) {
    RankBench b(c, pool, s);
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
  std::string type;
  for (int i = 1; i < argc; ++i) {
    const bool has = i + 1 < argc;
    if (std::strcmp(argv[i], "--out") == 0 && has) out_path = argv[++i];
    else if (std::strcmp(argv[i], "--m") == 0 && has) ms = {std::atoll(argv[++i])};
    else if (std::strcmp(argv[i], "--type") == 0 && has) type = argv[++i];
    else if (std::strcmp(argv[i], "--k") == 0 && has) bench::g_k = std::atoll(argv[++i]);
    else if (std::strcmp(argv[i], "--n") == 0 && has) bench::g_n = std::atoll(argv[++i]);
    else if (std::strcmp(argv[i], "--iters") == 0 && has) bench::g_iters = std::atoi(argv[++i]);
    else if (std::strcmp(argv[i], "--copies") == 0 && has) bench::g_copies = std::atoi(argv[++i]);
    else if (std::strcmp(argv[i], "--chunk") == 0 && has) bench::g_chunk = std::atoll(argv[++i]);
    else std::fprintf(stderr, "ignoring %s (options: --type ar|rs|ag --m --k --n --iters --copies --chunk --out)\n", argv[i]);
  }
  std::vector<bench::Shape> shapes;
  if (!type.empty()) {
    const LinearParallelType t = type == "rs"   ? LinearParallelType::kLinearReduceScatter
                                 : type == "ag" ? LinearParallelType::kAllGatherLinear
                                                : LinearParallelType::kLinearAllReduce;
    for (int64_t m : ms) shapes.push_back({t, m});
  } else {
    for (int64_t m : ms) shapes.push_back({LinearParallelType::kLinearAllReduce, m});
    if (ms.size() > 1) {
      shapes.push_back({LinearParallelType::kLinearReduceScatter, 256});
      shapes.push_back({LinearParallelType::kAllGatherLinear, 128});
    }
  }
  nlohmann::json records;
  int rank = 0;
  if (std::getenv("OMPI_COMM_WORLD_SIZE") != nullptr) {
#ifdef MC2_BENCH_HAVE_MPI
    auto c = comm::InitMpi(comm::CommOptions::FromEnv());
    if (!c.ok() || (*c)->world_size() != bench::kWorld) {
      std::fprintf(stderr, "needs mpirun -np %d: %s\n", bench::kWorld, c.ok() ? "" : c.status().ToString().c_str());
      return 1;
    }
    rank = (*c)->rank();
    trace::SetProcessRank(rank);
    records = bench::RunRank(**c, shapes);
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
        per_rank[static_cast<size_t>(r)] = bench::RunRank(*(*comms)[static_cast<size_t>(r)], shapes); });
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
