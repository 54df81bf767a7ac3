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
//
// A sample is one call between two barriers; its time is the slowest rank's; the median of
// --iters samples (default 3) is reported. Table to stderr, JSON records to stdout (or --out).
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
};

// Times fn() on every rank of `world`; a sample is the slowest rank's time between two barriers.
template <typename Fn>
Timing TimeIt(comm::Communicator& world, int iters, const Fn& fn) {
  std::vector<double> samples;
  for (int i = 0; i < 1 + iters; ++i) {
    Check(world.Barrier(), "barrier");
    const double t0 = Now();
    Check(fn(), "call");
    float dt = static_cast<float>((Now() - t0) * 1e6);
    Check(world.AllReduce(&dt, &dt, 1, DType::kFloat32, comm::ReduceOp::kMax), "allreduce");
    if (i >= 1) samples.push_back(dt);
  }
  std::sort(samples.begin(), samples.end());
  return {samples[samples.size() / 2], samples.front()};
}

struct Rank {
  comm::Communicator* world;
  comm::Communicator* ep;
  comm::Communicator* tp;
  ThreadPool* pool;
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
    out.push_back(Record("chain", TimeChain(t), mm));
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
    return TimeIt(*r_.world, iters_, [&] { return Matmul(reinterpret_cast<const char*>(y2.data()), t.in.weight.data,
                                                          t.y1.data, DType::kFloat16, scratch); });
  }

  Timing TimeOp(const ops::MoeTensors& t, const MoeAttrs& attrs, const ops::MoeOptions& options) {
    auto op = ops::MoeOp::Create(t, attrs, ops::MoeContext{r_.ep, r_.tp, r_.pool}, options);
    Check(op.status(), "MoeOp::Create");
    std::vector<uint8_t> ws((*op)->workspace_bytes());
    passes_ = (*op)->schedule().passes(el_);
    return TimeIt(*r_.world, iters_, [&] { return (*op)->Execute(t, ws.data(), ws.size()); });
  }

  Timing TimeChain(const ops::MoeTensors& t) {
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
    auto call = [&]() -> Status {
      double t0 = Now();
      MC2_RETURN_IF_ERROR(r_.ep->AllToAll(t.in.x.data, recv.data(), static_cast<size_t>(el_) * block, DType::kFloat16));
      MC2_RETURN_IF_ERROR(r_.tp->AllGather(recv.data(), gathered.data(), x_elems, DType::kFloat16));
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
      stage_us_[0] += (t1 - t0) * 1e6;
      stage_us_[1] += (t2 - t1) * 1e6;
      stage_us_[2] += (t3 - t2) * 1e6;
      stage_us_[3] += (t4 - t3) * 1e6;
      ++stage_calls_;
      return Status::Ok();
    };
    return TimeIt(*r_.world, iters_, call);
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
    if (std::string(variant).rfind("fused", 0) == 0) r["passes"] = passes_;
    if (std::string(variant) == "chain" && stage_calls_ > 0) {
      const char* names[] = {"alltoall_allgather_us", "reorder_us", "matmul_us", "epilogue_us"};
      for (int i = 0; i < 4; ++i) r["rank_stages"][names[i]] = stage_us_[i] / stage_calls_;
    }
    if (r_.world->rank() == 0) {
      std::fprintf(stderr, "C %4lld M %5lld  %-13s %10.0f us  (x%.2f of matmul)\n", static_cast<long long>(c_),
                   static_cast<long long>(m_), variant, t.median_us, t.median_us / mm.median_us);
    }
    return r;
  }

  Rank r_;
  const int64_t c_, m_;
  const int iters_;
  int64_t el_ = 0, ml_ = 0, rows_ = 0, passes_ = 0;
  double stage_us_[4] = {0, 0, 0, 0};
  int stage_calls_ = 0;
};

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
  }
  const int world = static_cast<int>(bench::kEp * bench::kTp);
  auto comms = comm::InitThreads(world, comm::CommOptions::FromEnv());
  if (!comms.ok()) {
    std::fprintf(stderr, "%s\n", comms.status().ToString().c_str());
    return 1;
  }
  std::vector<nlohmann::json> per_rank(static_cast<size_t>(world));
  std::vector<std::thread> threads;
  for (int r = 0; r < world; ++r) {
    threads.emplace_back([&, r] {
      comm::Communicator& w = *(*comms)[static_cast<size_t>(r)];
      const int p = r / static_cast<int>(bench::kTp), t = r % static_cast<int>(bench::kTp);
      auto ep = w.CreateSub({t, t + static_cast<int>(bench::kTp)});  // EP strided {0,2},{1,3}
      bench::Check(ep.status(), "ep group");
      auto tp = w.CreateSub({p * static_cast<int>(bench::kTp), p * static_cast<int>(bench::kTp) + 1});
      bench::Check(tp.status(), "tp group");
      ThreadPool pool(1);
      bench::Rank rank{&w, ep->get(), tp->get(), &pool};
      nlohmann::json all = nlohmann::json::array();
      for (int64_t c : cs) {
        for (auto& rec : bench::ShapeRun(rank, c, m, iters).Run()) all.push_back(rec);
      }
      per_rank[static_cast<size_t>(r)] = all;
    });
  }
  for (auto& t : threads) t.join();
  const std::string text = per_rank[0].dump(1);
  if (out_path.empty()) {
    std::printf("%s\n", text.c_str());
  } else {
    std::ofstream(out_path) << text << "\n";
  }
  return 0;
}
