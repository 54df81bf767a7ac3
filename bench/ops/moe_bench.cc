// moe_bench: AlltoAllAllGatherBatchMatMul, fused against its parts and the unfused chain, all in
// one run on the same data. MoE layer of the issue: E = 16 experts, C = 32, 128, 282 tokens per
// expert, H = 4096, M = 1024 (M/tp = 512 per rank: M = 4096 makes one call ~3 s on this 2-core
// machine; --m changes it), fp16, xShardType 0, bias + GELU, y1 only; ep = 2, tp = 2 as 4 thread
// ranks (TP groups {0,1},{2,3}, EP groups {0,2},{1,3}), one pool thread per rank.
//
//   matmul         the local batch matmul alone (kernels::ExecuteFloatMatmul over the 8 local
//                  experts from an already gathered y2), no communication, no epilogue
//   fused          MoeOp: pipelined push / forward / gather / matmul over the local experts
//   fused_nopipe   MoeOp with one expert per pass: the same copies, no expert overlaps another
//   chain_op       MoeOp forced to kChained: AllToAll, AllGather, reorder, matmul + epilogue
//   chain          the unfused chain as separate calls: Communicator::AllToAll (EP),
//                  Communicator::AllGather (TP), reorder into y2, batch matmul to fp32, then
//                  bias + GELU + rounding as a separate pass (kernels::ApplyEpilogue)
//   chain_openmpi  the same chain with OpenMPI's MPI_Alltoall / MPI_Allgather on communicators
//                  split from MPI_COMM_WORLD like the EP and TP groups; only under mpirun
//
// Ranks: ep = tp = 2 is the smallest grid the operator accepts (spec 3.4), so 4 ranks: without
// mpirun as threads of this process, under `mpirun -np 4 moe_bench` as processes (mc2's MPI
// transport: shared memory between the ranks of one machine, so the fused path runs too).
// The MoeOp variants also record per-phase wall time of rank 0 (MoePhaseTimes: begin, push,
// ep_wait, forward, tp_wait, gather, matmul), per call, in "rank_phases_us" (records are rank 0's).
//
// A sample is one call between two barriers; its time is the slowest rank's; the median and min
// of --iters samples (default 3) are reported. Table to stderr, JSON records to stdout (or --out).
#include <sys/resource.h>

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

#include "comm/thread_transport.h"
#include "core/thread_pool.h"
#include "kernels/epilogue.h"
#include "kernels/float_matmul.h"
#include "ops/moe/moe_op.h"
#include "reference/cases.h"

#ifdef MC2_BENCH_HAVE_MPI
#include <mpi.h>

#include "comm/mpi_transport.h"
#endif

namespace mc2::bench {
namespace {

using nlohmann::json;

constexpr int64_t kEp = 2, kTp = 2, kE = 16, kH = 4096;

double Now() { return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count(); }

void Check(const Status& s, const char* what) {
  if (!s.ok()) {
    std::fprintf(stderr, "%s: %s\n", what, s.ToString().c_str());
    std::abort();
  }
}

struct Timing {
  double median_us = 0, min_us = 0;
  double cpu_user_us = 0, cpu_sys_us = 0;  // median over samples of the CPU time all ranks used
};

// User and system CPU time of this process so far, us.
void ProcessCpu(double* user_us, double* sys_us) {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  *user_us = static_cast<double>(u.ru_utime.tv_sec) * 1e6 + static_cast<double>(u.ru_utime.tv_usec);
  *sys_us = static_cast<double>(u.ru_stime.tv_sec) * 1e6 + static_cast<double>(u.ru_stime.tv_usec);
}

// Warm-up calls before the samples (--warmup): two by default, so that an operator alternating
// between the two halves of its symmetric buffers has touched both before it is timed.
int warmup_calls = 2;

// Times fn() on every rank of `world`; a sample is the slowest rank's time between two barriers.
// CPU time: the process's (ranks as threads share it: every rank sees the same, MAX keeps one) or
// the sum over processes (under mpirun), so it counts the work of all ranks, waiting included.
template <typename Fn>
Timing TimeIt(comm::Communicator& world, int iters, const Fn& fn, bool processes = false) {
  std::vector<double> samples, user, sys;
  for (int i = 0; i < warmup_calls + iters; ++i) {
    Check(world.Barrier(), "barrier");
    double u0 = 0, s0 = 0, u1 = 0, s1 = 0;
    ProcessCpu(&u0, &s0);
    const double t0 = Now();
    Check(fn(), "call");
    float dt = static_cast<float>((Now() - t0) * 1e6);
    ProcessCpu(&u1, &s1);
    float cpu[2] = {static_cast<float>(u1 - u0), static_cast<float>(s1 - s0)};
    Check(world.AllReduce(&dt, &dt, 1, DType::kFloat32, comm::ReduceOp::kMax), "allreduce");
    Check(world.AllReduce(cpu, cpu, 2, DType::kFloat32, processes ? comm::ReduceOp::kSum : comm::ReduceOp::kMax),
          "allreduce");
    if (i >= warmup_calls) {
      samples.push_back(dt);
      user.push_back(cpu[0]);
      sys.push_back(cpu[1]);
    }
  }
  std::sort(samples.begin(), samples.end());
  std::sort(user.begin(), user.end());
  std::sort(sys.begin(), sys.end());
  return {samples[samples.size() / 2], samples.front(), user[user.size() / 2], sys[sys.size() / 2]};
}

struct Rank {
  comm::Communicator* world;
  comm::Communicator* ep;
  comm::Communicator* tp;
  ThreadPool* pool;
  bool with_mpi = false;  // under mpirun: also time chain_openmpi
#ifdef MC2_BENCH_HAVE_MPI
  MPI_Comm mpi_ep = MPI_COMM_NULL, mpi_tp = MPI_COMM_NULL;
#endif
};

class ShapeRun {
 public:
  ShapeRun(const Rank& r, int64_t c, int64_t m, int iters) : r_(r), c_(c), m_(m), iters_(iters) {}

  json Run() {
    reference::MoeShape s;
    s.ep = kEp;
    s.tp = kTp;
    s.e = kE;
    s.c = c_;
    s.h = kH;
    s.m = m_;
    s.act = DType::kFloat16;
    s.x_shard_type = 0;
    s.act_type = ActType::kGelu;
    s.want_y2 = s.want_y3 = false;
    // Only this rank's inputs are needed, but the case builds all 4; cheap next to the runs.
    const reference::MoeCase c = reference::MakeMoeCase(s);
    const int64_t grid = r_.ep->rank() * kTp + r_.tp->rank();
    ops::MoeTensors t;
    t.in = c.ranks[static_cast<size_t>(grid)];
    el_ = t.in.weight.dims[0];
    ml_ = t.in.weight.dims[2];
    rows_ = kEp * c_;
    HostTensor y1(DType::kFloat16, {el_, rows_, ml_});
    t.y1 = y1.view();

    json out = json::array();
    const Timing mm = TimeMatmul(t);
    out.push_back(Record("matmul", mm, mm));
    out.push_back(Record("fused", TimeOp(t, c.attrs, {ops::MoeAlgorithm::kFused, 0}), mm));
    out.push_back(Record("fused_nopipe", TimeOp(t, c.attrs, {ops::MoeAlgorithm::kFused, 1}), mm));
    out.push_back(Record("chain_op", TimeOp(t, c.attrs, {ops::MoeAlgorithm::kChained, 0}), mm));
    out.push_back(Record("chain", TimeChain(t, false), mm));
#ifdef MC2_BENCH_HAVE_MPI
    if (r_.with_mpi) out.push_back(Record("chain_openmpi", TimeChain(t, true), mm));
#endif
    const double fused = out[1]["median_us"];
    for (auto& rec : out) rec["fused_vs_this"] = fused / rec["median_us"].get<double>();
    return out;
  }

 private:
  kernels::FloatMatmulDesc Desc(DType out) const {
    kernels::FloatMatmulDesc d;
    d.batch = el_;
    d.k = kH;
    d.n = ml_;
    d.out_dtype = out;
    return d;
  }

  // Batch matmul of all local experts over the pool (columns split across threads).
  Status Matmul(const char* y2, const void* w, void* y, DType out, std::vector<std::vector<uint8_t>>& scratch) {
    const kernels::FloatMatmulDesc d = Desc(out);
    kernels::FloatMatmulArgs a;
    a.x = y2;
    a.m = rows_;
    a.w = w;
    a.y = y;
    const int threads = r_.pool->num_threads();
    Status first;
    auto task = [&](int64_t i, int thread) {
      const kernels::MatmulRange range = kernels::SplitRange(rows_, ml_, 32, 64, i, threads);
      if (range.empty()) return;
      auto& s = scratch[static_cast<size_t>(thread)];
      const Status st = kernels::ExecuteFloatMatmul(d, a, 0, el_, range, s.data(), s.size());
      if (!st.ok()) first = st;
    };
    if (threads <= 1) {
      task(0, 0);
    } else {
      MC2_RETURN_IF_ERROR(r_.pool->ParallelFor(threads, task));
    }
    return first;
  }

  std::vector<std::vector<uint8_t>> Scratch(DType out) const {
    return std::vector<std::vector<uint8_t>>(static_cast<size_t>(r_.pool->num_threads()),
                                             std::vector<uint8_t>(kernels::FloatMatmulScratchBytes(Desc(out), rows_)));
  }

  Timing TimeMatmul(const ops::MoeTensors& t) {
    std::vector<uint16_t> y2(static_cast<size_t>(el_ * rows_ * kH), 0x3c00);
    auto scratch = Scratch(DType::kFloat16);
    return TimeIt(
        *r_.world, iters_,
        [&] { return Matmul(reinterpret_cast<const char*>(y2.data()), t.in.weight.data, t.y1.data, DType::kFloat16, scratch); },
        r_.with_mpi);
  }

  Timing TimeOp(const ops::MoeTensors& t, const MoeAttrs& attrs, const ops::MoeOptions& options) {
    auto op = ops::MoeOp::Create(t, attrs, ops::MoeContext{r_.ep, r_.tp, r_.pool}, options);
    Check(op.status(), "MoeOp::Create");
    std::vector<uint8_t> ws((*op)->workspace_bytes());
    passes_ = (*op)->schedule().passes(el_);
    phases_ = ops::MoePhaseTimes{};
    int calls = 0;  // the phases of the warm-up calls are not counted
    return TimeIt(
        *r_.world, iters_,
        [&] {
          (*op)->set_phase_times(calls++ >= warmup_calls ? &phases_ : nullptr);
          return (*op)->Execute(t, ws.data(), ws.size());
        },
        r_.with_mpi);
  }

  // Exchange of the chain: AllToAll over EP into recv, AllGather over TP into gathered.
  Status Exchange(const void* x, uint16_t* recv, uint16_t* gathered, size_t block, size_t x_elems, bool openmpi) {
    if (!openmpi) {
      MC2_RETURN_IF_ERROR(r_.ep->AllToAll(x, recv, static_cast<size_t>(el_) * block, DType::kFloat16));
      return r_.tp->AllGather(recv, gathered, x_elems, DType::kFloat16);
    }
#ifdef MC2_BENCH_HAVE_MPI
    const int a2a = static_cast<int>(static_cast<size_t>(el_) * block);
    if (MPI_Alltoall(x, a2a, MPI_UINT16_T, recv, a2a, MPI_UINT16_T, r_.mpi_ep) != MPI_SUCCESS ||
        MPI_Allgather(recv, static_cast<int>(x_elems), MPI_UINT16_T, gathered, static_cast<int>(x_elems), MPI_UINT16_T,
                      r_.mpi_tp) != MPI_SUCCESS) {
      return Status(ErrorSpace::kHccl, hccl::kEInternal, "MPI collective failed");
    }
    return Status::Ok();
#else
    return Status(ErrorSpace::kHccl, hccl::kENotSupport, "built without MPI");
#endif
  }

  Timing TimeChain(const ops::MoeTensors& t, bool openmpi) {
    for (double& v : stage_us_) v = 0;
    stage_calls_ = 0;
    const size_t block = static_cast<size_t>(c_ * (kH / kTp));
    const size_t x_elems = static_cast<size_t>(kE) * block;
    std::vector<uint16_t> recv(x_elems), gathered(x_elems * kTp), y2(static_cast<size_t>(el_ * rows_ * kH));
    std::vector<float> acc(static_cast<size_t>(el_ * rows_ * ml_));
    std::vector<float> bias(static_cast<size_t>(el_ * ml_));
    for (int64_t e = 0; e < el_; ++e) {
      for (int64_t j = 0; j < ml_; ++j) {
        const int64_t idx[3] = {e, 0, j};
        bias[static_cast<size_t>(e * ml_ + j)] = static_cast<float>(t.in.bias->Load(idx));
      }
    }
    auto scratch = Scratch(DType::kFloat32);
    const int64_t hl = kH / kTp;
    int calls = 0;
    auto call = [&]() -> Status {
      double t0 = Now();
      MC2_RETURN_IF_ERROR(Exchange(t.in.x.data, recv.data(), gathered.data(), block, x_elems, openmpi));
      const double t1 = Now();
      for (int64_t e = 0; e < el_; ++e) {  // y2[e, i*C + c, j*Hl + h] = gathered[j][i][e][c][h]
        for (int64_t j = 0; j < kTp; ++j) {
          for (int64_t i = 0; i < kEp; ++i) {
            const uint16_t* src = gathered.data() + ((j * kEp + i) * el_ + e) * static_cast<int64_t>(block);
            for (int64_t c = 0; c < c_; ++c) {
              std::memcpy(y2.data() + (e * rows_ + i * c_ + c) * kH + j * hl, src + c * hl, static_cast<size_t>(hl) * 2);
            }
          }
        }
      }
      const double t2 = Now();
      MC2_RETURN_IF_ERROR(Matmul(reinterpret_cast<const char*>(y2.data()), t.in.weight.data, acc.data(), DType::kFloat32,
                                 scratch));
      const double t3 = Now();
      for (int64_t e = 0; e < el_; ++e) {
        kernels::EpilogueArgs a;
        a.rows = rows_;
        a.cols = ml_;
        a.bias = bias.data() + e * ml_;
        a.round_after_bias = true;
        a.act = kernels::Activation::kGelu;
        a.dst = static_cast<uint16_t*>(t.y1.data) + e * rows_ * ml_;
        a.dst_dtype = DType::kFloat16;
        MC2_RETURN_IF_ERROR(kernels::ApplyEpilogue(acc.data() + e * rows_ * ml_, ml_, a));
      }
      const double t4 = Now();
      if (calls++ < warmup_calls) return Status::Ok();
      stage_us_[0] += (t1 - t0) * 1e6;
      stage_us_[1] += (t2 - t1) * 1e6;
      stage_us_[2] += (t3 - t2) * 1e6;
      stage_us_[3] += (t4 - t3) * 1e6;
      ++stage_calls_;
      return Status::Ok();
    };
    return TimeIt(*r_.world, iters_, call, r_.with_mpi);
  }

  json Record(const char* variant, const Timing& t, const Timing& mm) {
    json r;
    r["op"] = "AlltoAllAllGatherBatchMatMul";
    r["variant"] = variant;
    r["ep"] = kEp;
    r["tp"] = kTp;
    r["E"] = kE;
    r["C"] = c_;
    r["H"] = kH;
    r["M"] = m_;
    r["dtype"] = "float16";
    r["act"] = "gelu";
    r["x_shard_type"] = 0;
    r["median_us"] = t.median_us;
    r["min_us"] = t.min_us;
    r["vs_matmul"] = t.median_us / mm.median_us;
    r["cpu_user_us"] = t.cpu_user_us;
    r["cpu_sys_us"] = t.cpu_sys_us;
    const std::string v = variant;
    if (v.rfind("fused", 0) == 0) r["passes"] = passes_;
    if ((v.rfind("fused", 0) == 0 || v == "chain_op") && phases_.calls > 0) {
      for (int p = 0; p < ops::MoePhaseTimes::kCount; ++p) {
        r["rank_phases_us"][ops::MoePhaseTimes::Name(p)] = phases_.seconds[p] * 1e6 / static_cast<double>(phases_.calls);
      }
    }
    if (v.rfind("chain", 0) == 0 && v != "chain_op" && stage_calls_ > 0) {
      const char* names[] = {"alltoall_allgather_us", "reorder_us", "matmul_us", "epilogue_us"};
      for (int i = 0; i < 4; ++i) r["rank_stages"][names[i]] = stage_us_[i] / stage_calls_;
    }
    if (r_.world->rank() == 0) {
      std::fprintf(stderr, "C %4lld M %5lld  %-13s %10.0f us  (x%.2f of matmul) cpu user %.0f sys %.0f |",
                   static_cast<long long>(c_), static_cast<long long>(m_), variant, t.median_us,
                   t.median_us / mm.median_us, t.cpu_user_us, t.cpu_sys_us);
      if (r.contains("rank_phases_us")) {
        for (auto& [name, us] : r["rank_phases_us"].items()) std::fprintf(stderr, " %s %.0f", name.c_str(), us.get<double>());
      }
      std::fprintf(stderr, "\n");
    }
    return r;
  }

  Rank r_;
  const int64_t c_, m_;
  const int iters_;
  int64_t el_ = 0, ml_ = 0, rows_ = 0, passes_ = 0;
  ops::MoePhaseTimes phases_;
  double stage_us_[4] = {0, 0, 0, 0};
  int stage_calls_ = 0;
};

}  // namespace
}  // namespace mc2::bench

namespace mc2::bench {
namespace {

// One rank's whole run: its EP / TP groups (TP consecutive {0,1},{2,3}; EP strided {0,2},{1,3},
// CANN's example layout), then every C.
nlohmann::json RunRank(comm::Communicator& w, bool with_mpi, const std::vector<int64_t>& cs, int64_t m, int iters) {
  const int tp_n = static_cast<int>(kTp);
  const int p = w.rank() / tp_n, t = w.rank() % tp_n;
  auto ep = w.CreateSub({t, t + tp_n});
  Check(ep.status(), "ep group");
  auto tp = w.CreateSub({p * tp_n, p * tp_n + 1});
  Check(tp.status(), "tp group");
  ThreadPool pool(1);
  Rank rank{&w, ep->get(), tp->get(), &pool};
  rank.with_mpi = with_mpi;
#ifdef MC2_BENCH_HAVE_MPI
  if (with_mpi) {
    MPI_Comm_split(MPI_COMM_WORLD, t, p, &rank.mpi_ep);
    MPI_Comm_split(MPI_COMM_WORLD, p, t, &rank.mpi_tp);
  }
#endif
  nlohmann::json all = nlohmann::json::array();
  for (int64_t c : cs) {
    for (auto& rec : ShapeRun(rank, c, m, iters).Run()) {
      rec["ranks"] = with_mpi ? "mpirun processes" : "threads";
      all.push_back(rec);
    }
  }
#ifdef MC2_BENCH_HAVE_MPI
  if (with_mpi) {
    MPI_Comm_free(&rank.mpi_ep);
    MPI_Comm_free(&rank.mpi_tp);
  }
#endif
  return all;
}

}  // namespace
}  // namespace mc2::bench

int main(int argc, char** argv) {
  using namespace mc2;
  std::string out_path;
  std::vector<int64_t> cs = {32, 128, 282};
  int64_t m = 1024;
  int iters = 3;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--out") == 0 && i + 1 < argc) out_path = argv[++i];
    if (std::strcmp(argv[i], "--c") == 0 && i + 1 < argc) cs = {std::atoll(argv[++i])};
    if (std::strcmp(argv[i], "--m") == 0 && i + 1 < argc) m = std::atoll(argv[++i]);
    if (std::strcmp(argv[i], "--iters") == 0 && i + 1 < argc) iters = std::atoi(argv[++i]);
    if (std::strcmp(argv[i], "--warmup") == 0 && i + 1 < argc) bench::warmup_calls = std::atoi(argv[++i]);
  }
  const int world = static_cast<int>(bench::kEp * bench::kTp);
  nlohmann::json records;
  int rank = 0;
  if (std::getenv("OMPI_COMM_WORLD_SIZE") != nullptr) {
#ifdef MC2_BENCH_HAVE_MPI
    auto c = comm::InitMpi(comm::CommOptions::FromEnv());
    if (!c.ok() || (*c)->world_size() != world) {
      std::fprintf(stderr, "needs mpirun -np %d: %s\n", world, c.ok() ? "" : c.status().ToString().c_str());
      return 1;
    }
    rank = (*c)->rank();
    records = bench::RunRank(**c, true, cs, m, iters);
#else
    std::fprintf(stderr, "built without MPI\n");
    return 1;
#endif
  } else {
    auto comms = comm::InitThreads(world, comm::CommOptions::FromEnv());
    if (!comms.ok()) {
      std::fprintf(stderr, "%s\n", comms.status().ToString().c_str());
      return 1;
    }
    std::vector<nlohmann::json> per_rank(static_cast<size_t>(world));
    std::vector<std::thread> threads;
    for (int r = 0; r < world; ++r) {
      threads.emplace_back([&, r] {
        per_rank[static_cast<size_t>(r)] = bench::RunRank(*(*comms)[static_cast<size_t>(r)], false, cs, m, iters);
      });
    }
    for (auto& t : threads) t.join();
    records = per_rank[0];
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
