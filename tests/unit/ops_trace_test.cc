// The fused operators' trace spans (core/trace.h) per chunk and phase, 2 thread ranks: every rank
// records the compute of each chunk and the communication of each chunk (on the thread that does
// it: the progress thread of the chained paths), in an order the data flow allows — the
// collective of chunk i starts after the matmul of chunk i ended, the matmuls follow one another,
// and all of a call's spans lie inside its operator span. Also: with tracing off nothing is
// recorded, and every operator still matches its golden (the suites of each operator check that).
#include <gtest/gtest.h>

#include <map>
#include <string>
#include <thread>
#include <vector>

#include "comm/thread_transport.h"
#include "core/trace.h"
#include "ops_arn_test_util.h"
#include "ops_linear_parallel_test_util.h"

namespace mc2::ops {
namespace {

using trace::Event;

class OpsTrace : public ::testing::Test {
 protected:
  void SetUp() override {
    trace::Disable();
    (void)trace::TakeEvents();
  }
  void TearDown() override {
    trace::Disable();
    (void)trace::TakeEvents();
  }
};

// Runs fn(rank, comm) on `world` thread ranks, each with its trace rank set.
template <typename Fn>
void RunRanks(int world, const Fn& fn) {
  comm::CommOptions o;
  o.symmetric_bytes = 4 << 20;
  o.slot_bytes = 256 << 10;
  o.timeout_ms = 60000;
  auto comms = comm::InitThreads(world, o);
  ASSERT_TRUE(comms.ok()) << comms.status().ToString();
  std::vector<std::thread> threads;
  for (int r = 0; r < world; ++r) {
    threads.emplace_back([&, r] {
      trace::RankScope rank(r);
      fn(r, (*comms)[static_cast<size_t>(r)].get());
    });
  }
  for (auto& t : threads) t.join();
}

// The spans of `rank` named `name`, by chunk index (each index once).
std::map<int, Event> ByChunk(const std::vector<Event>& events, int rank, const std::string& name) {
  std::map<int, Event> out;
  for (const Event& e : events) {
    if (e.rank != rank || name != e.name) continue;
    EXPECT_GE(e.index, 0) << name << " without a chunk index";
    EXPECT_TRUE(out.emplace(e.index, e).second) << name << " chunk " << e.index << " recorded twice on rank " << rank;
  }
  return out;
}

const Event* Find(const std::vector<Event>& events, int rank, const std::string& name) {
  for (const Event& e : events) {
    if (e.rank == rank && name == e.name) return &e;
  }
  return nullptr;
}

enum class Order { kCommAfterCompute, kComputeAfterComm };
enum class Thread { kSame, kOther };

// On every rank: `chunks` spans `first` and `second` (one per chunk), second(i) starting after
// first(i) ended; the `compute` spans back to back in chunk order, on one thread; the comm
// spans on `thread` relative to the compute spans; all inside the operator span `op`.
void ExpectChunks(const std::vector<Event>& events, int world, const std::string& op, const std::string& compute,
                  const std::string& comm, int chunks, Order order, Thread thread) {
  for (int r = 0; r < world; ++r) {
    SCOPED_TRACE(::testing::Message() << "rank " << r);
    const std::map<int, Event> mm = ByChunk(events, r, compute);
    const std::map<int, Event> cc = ByChunk(events, r, comm);
    ASSERT_EQ(mm.size(), static_cast<size_t>(chunks)) << compute;
    ASSERT_EQ(cc.size(), static_cast<size_t>(chunks)) << comm;
    const Event* call = Find(events, r, op);
    ASSERT_NE(call, nullptr) << op;
    for (int i = 0; i < chunks; ++i) {
      ASSERT_TRUE(mm.count(i) && cc.count(i)) << "chunk " << i;
      const Event& m = mm.at(i);
      const Event& c = cc.at(i);
      EXPECT_EQ(m.category, trace::Category::kCompute) << compute;
      EXPECT_EQ(c.category, trace::Category::kComm) << comm;
      EXPECT_LE(m.begin_ns, m.end_ns);
      EXPECT_LE(c.begin_ns, c.end_ns);
      if (order == Order::kCommAfterCompute) {
        EXPECT_GE(c.begin_ns, m.end_ns) << comm << " of chunk " << i << " began before its " << compute << " ended";
      } else {
        EXPECT_GE(m.begin_ns, c.end_ns) << compute << " of chunk " << i << " began before its " << comm << " ended";
      }
      EXPECT_EQ(m.tid, mm.at(0).tid) << "the compute spans move between threads";
      if (thread == Thread::kOther) {
        EXPECT_NE(c.tid, m.tid) << comm << " should run on the progress thread";
      } else {
        EXPECT_EQ(c.tid, m.tid);
      }
      if (i > 0) {
        EXPECT_GE(m.begin_ns, mm.at(i - 1).end_ns) << compute << " " << i << " overlaps " << i - 1;
        EXPECT_GE(c.begin_ns, cc.at(i - 1).end_ns) << comm << " " << i << " overlaps " << i - 1;
      }
      for (const Event* e : {&m, &c}) {
        EXPECT_GE(e->begin_ns, call->begin_ns) << e->name << " " << i << " outside " << op;
        EXPECT_LE(e->end_ns, call->end_ns) << e->name << " " << i << " outside " << op;
      }
    }
  }
}

reference::ArnCase ArnPrefill(int world) {
  reference::ArnShape s;
  s.world_size = world;
  s.b = 1;
  s.s = 40;
  s.k = 128;
  s.n = 64;
  return reference::MakeArnCase(s);
}

void RunArn(int world, const ArnOptions& options, ArnAlgorithm expect) {
  const reference::ArnCase c = ArnPrefill(world);
  RunRanks(world, [&](int r, comm::Communicator* comm) {
    ThreadPool pool(1);
    testing::RankResult res = testing::RunArnRank(c, comm, &pool, options, false);
    EXPECT_TRUE(res.status.ok()) << "rank " << r << ": " << res.status.ToString();
    EXPECT_EQ(res.algorithm, expect);
  });
}

TEST_F(OpsTrace, OffRecordsNothing) {
  RunArn(2, ArnOptions{ArnAlgorithm::kChained, 10}, ArnAlgorithm::kChained);
  EXPECT_TRUE(trace::TakeEvents().empty());
}

TEST_F(OpsTrace, ArnChainedChunksOnTheProgressThread) {
  trace::Enable();
  RunArn(2, ArnOptions{ArnAlgorithm::kChained, 10}, ArnAlgorithm::kChained);
  trace::Disable();
  const std::vector<Event> events = trace::TakeEvents();
  ExpectChunks(events, 2, "WeightQuantMatmulAllReduceAddRmsNorm.execute", "arn.matmul", "arn.allreduce", 4,
               Order::kCommAfterCompute, Thread::kOther);
  // The norm of chunk i follows its all-reduce on the same thread; the caller's wait follows its
  // last matmul.
  for (int r = 0; r < 2; ++r) {
    const std::map<int, Event> ar = ByChunk(events, r, "arn.allreduce");
    const std::map<int, Event> norm = ByChunk(events, r, "arn.norm");
    ASSERT_EQ(norm.size(), 4u);
    for (int i = 0; i < 4; ++i) {
      EXPECT_GE(norm.at(i).begin_ns, ar.at(i).end_ns);
      EXPECT_EQ(norm.at(i).tid, ar.at(i).tid);
      EXPECT_EQ(norm.at(i).category, trace::Category::kNorm);
    }
    const Event* wait = Find(events, r, "arn.wait_progress");
    ASSERT_NE(wait, nullptr);
    EXPECT_EQ(wait->category, trace::Category::kWait);
    EXPECT_GE(wait->begin_ns, ByChunk(events, r, "arn.matmul").at(3).end_ns);
    EXPECT_GE(wait->end_ns, norm.at(3).end_ns);
  }
}

TEST_F(OpsTrace, ArnTwoShotChunks) {
  trace::Enable();
  RunArn(2, ArnOptions{ArnAlgorithm::kTwoShot, 10}, ArnAlgorithm::kTwoShot);
  trace::Disable();
  const std::vector<Event> events = trace::TakeEvents();
  for (int r = 0; r < 2; ++r) {
    const std::map<int, Event> mm = ByChunk(events, r, "arn.matmul");
    const std::map<int, Event> red = ByChunk(events, r, "arn.reduce_norm_owned");
    const std::map<int, Event> gather = ByChunk(events, r, "arn.gather_norm");
    ASSERT_EQ(mm.size(), 4u);
    ASSERT_EQ(red.size(), 4u);
    ASSERT_EQ(gather.size(), 4u);
    for (int i = 0; i < 4; ++i) {
      // Interleaved on one thread: reduce of chunk i after the matmul of i + 1 (the pipeline).
      EXPECT_GE(red.at(i).begin_ns, mm.at(i).end_ns);
      if (i + 1 < 4) {
        EXPECT_GE(red.at(i).begin_ns, mm.at(i + 1).end_ns);
      }
      EXPECT_GE(gather.at(i).begin_ns, red.at(i).end_ns);
      EXPECT_EQ(red.at(i).category, trace::Category::kReduce);
    }
  }
}

void RunLp(int world, reference::LinearParallelShape s, const LpOptions& options) {
  s.world_size = world;
  const reference::LinearParallelCase c = reference::MakeLinearParallelCase(s);
  RunRanks(world, [&](int r, comm::Communicator* comm) {
    ThreadPool pool(1);
    testing::LpRankResult res = testing::RunLpRank(c, comm, &pool, options);
    EXPECT_TRUE(res.status.ok()) << "rank " << r << ": " << res.status.ToString();
    EXPECT_EQ(res.algorithm, options.algorithm);
  });
}

reference::LinearParallelShape LpShape(LinearParallelType type, int64_t m) {
  reference::LinearParallelShape s;
  s.attrs.type = type;
  s.attrs.has_residual = true;
  s.act = DType::kFloat16;
  s.b = 0;
  s.m = m;
  s.k = 64;
  s.n = 64;
  return s;
}

TEST_F(OpsTrace, LinearParallelChainedChunksOnTheProgressThread) {
  struct Want {
    LinearParallelType type;
    int64_t m;
    const char* compute;
    const char* comm;
    int chunks;
    Order order;
  };
  const Want wants[] = {
      {LinearParallelType::kLinearAllReduce, 40, "lp.matmul", "lp.allreduce", 4, Order::kCommAfterCompute},
      {LinearParallelType::kLinearReduceScatter, 80, "lp.matmul", "lp.reduce_scatter", 4, Order::kCommAfterCompute},
      {LinearParallelType::kAllGatherLinear, 40, "lp.matmul_peers", "lp.allgather", 4, Order::kComputeAfterComm},
  };
  for (const Want& w : wants) {
    SCOPED_TRACE(LinearParallelTypeName(w.type));
    trace::Enable();
    RunLp(2, LpShape(w.type, w.m), LpOptions{LpAlgorithm::kChained, 10});
    trace::Disable();
    ExpectChunks(trace::TakeEvents(), 2, "LinearParallel.execute", w.compute, w.comm, w.chunks, w.order,
                 Thread::kOther);
  }
}

TEST_F(OpsTrace, LinearParallelTwoShotChunks) {
  trace::Enable();
  RunLp(2, LpShape(LinearParallelType::kLinearAllReduce, 40), LpOptions{LpAlgorithm::kTwoShot, 10});
  trace::Disable();
  const std::vector<Event> events = trace::TakeEvents();
  for (int r = 0; r < 2; ++r) {
    const std::map<int, Event> mm = ByChunk(events, r, "lp.matmul");
    const std::map<int, Event> red = ByChunk(events, r, "lp.reduce");
    ASSERT_EQ(mm.size(), 4u);
    ASSERT_EQ(red.size(), 4u);
    for (int i = 0; i < 4; ++i) {
      EXPECT_GE(red.at(i).begin_ns, mm.at(i).end_ns);
      EXPECT_EQ(red.at(i).tid, mm.at(i).tid);
    }
  }
}

TEST_F(OpsTrace, ChromeJsonCarriesTheChunk) {
  trace::Enable();
  RunArn(2, ArnOptions{ArnAlgorithm::kChained, 10}, ArnAlgorithm::kChained);
  trace::Disable();
  const std::string json = trace::ToChromeJson(trace::TakeEvents());
  EXPECT_NE(json.find("\"name\":\"arn.allreduce\",\"cat\":\"comm\""), std::string::npos);
  EXPECT_NE(json.find("\"args\":{\"chunk\":3}"), std::string::npos);
}

}  // namespace
}  // namespace mc2::ops
