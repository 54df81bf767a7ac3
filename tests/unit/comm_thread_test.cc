// Every collective with ranks as threads (1..8 ranks), sub-communicators, symmetric buffers,
// determinism across algorithms, timeouts and fail-fast behaviour.
#include <gtest/gtest.h>

#include <chrono>
#include <functional>
#include <thread>

#include "comm/thread_transport.h"
#include "comm_test_util.h"

namespace mc2::comm {
namespace {

using testing::Bytes;

// Small slots so multi-round and two-shot paths run on small messages.
CommOptions SmallOptions() {
  CommOptions o;
  o.slot_bytes = 64 << 10;
  o.oneshot_max_bytes = 16 << 10;
  o.symmetric_bytes = 64 << 10;
  o.timeout_ms = 60000;
  return o;
}

// Runs fn(comm) on one thread per rank and returns each rank's result.
std::vector<std::string> RunThreads(std::vector<std::unique_ptr<Communicator>>& comms,
                                    const std::function<std::string(Communicator&)>& fn) {
  std::vector<std::string> results(comms.size());
  std::vector<std::thread> threads;
  for (size_t r = 0; r < comms.size(); ++r) {
    threads.emplace_back([&, r] { results[r] = fn(*comms[r]); });
  }
  for (auto& t : threads) t.join();
  return results;
}

void ExpectAllOk(const std::vector<std::string>& results) {
  for (size_t r = 0; r < results.size(); ++r) EXPECT_EQ(results[r], "") << "rank " << r;
}

class CommThreads : public ::testing::TestWithParam<int> {};

TEST_P(CommThreads, EveryCollectiveMatchesReference) {
  auto comms = InitThreads(GetParam(), SmallOptions());
  ASSERT_TRUE(comms.ok()) << comms.status().ToString();
  ExpectAllOk(RunThreads(*comms, [](Communicator& c) { return testing::CheckEverything(c, GetParam() > 4); }));
}

TEST_P(CommThreads, DefaultOptionsLargeMessages) {
  CommOptions o;
  o.timeout_ms = 60000;
  auto comms = InitThreads(GetParam(), o);
  ASSERT_TRUE(comms.ok()) << comms.status().ToString();
  ExpectAllOk(RunThreads(*comms, [](Communicator& c) -> std::string {
    MC2_CHECK_EMPTY(testing::CheckAllReduce(c, DType::kFloat32, ReduceOp::kSum, 1234567, 5, false));
    MC2_CHECK_EMPTY(testing::CheckAllReduce(c, DType::kBFloat16, ReduceOp::kSum, 70001, 6, true));
    return testing::CheckAllGather(c, DType::kFloat32, 300000, 7, false);
  }));
}

// Broadcast read straight from the root's buffer for every size, and staged for every size.
TEST_P(CommThreads, BroadcastSingleCopyAndStaged) {
  for (size_t single_copy_min : {size_t{0}, SIZE_MAX}) {
    CommOptions o = SmallOptions();
    o.single_copy_min_bytes = single_copy_min;
    auto comms = InitThreads(GetParam(), o);
    ASSERT_TRUE(comms.ok()) << comms.status().ToString();
    ExpectAllOk(RunThreads(*comms, [](Communicator& c) { return testing::CheckBroadcasts(c, 700); }));
  }
}

INSTANTIATE_TEST_SUITE_P(Ranks, CommThreads, ::testing::Values(1, 2, 3, 4, 5, 6, 7, 8));

TEST(CommThreadsGrid, EpTpSubCommunicators) {
  for (int tp : {2, 4}) {
    auto comms = InitThreads(8, SmallOptions());
    ASSERT_TRUE(comms.ok());
    ExpectAllOk(RunThreads(*comms, [tp](Communicator& c) { return testing::CheckGrid(c, tp); }));
  }
}

TEST(CommThreadsGrid, ManyRanks) {
  for (int n : {16, 32}) {
    auto comms = InitThreads(n, SmallOptions());
    ASSERT_TRUE(comms.ok());
    ExpectAllOk(RunThreads(*comms, [](Communicator& c) -> std::string {
      MC2_CHECK_EMPTY(testing::CheckAllReduce(c, DType::kFloat16, ReduceOp::kSum, 3000, 1, false));
      MC2_CHECK_EMPTY(testing::CheckAllReduce(c, DType::kFloat32, ReduceOp::kSum, 20000, 2, false));
      MC2_CHECK_EMPTY(testing::CheckAllToAllV(c, DType::kInt32, 5, 3));
      return testing::CheckGrid(c, 4);
    }));
  }
}

// One-shot, two-shot with small and large rounds: bitwise the same result, every run, every rank.
TEST(CommThreadsDeterminism, SameBitsAcrossAlgorithmsAndRuns) {
  const size_t count = 100003;
  for (int n : {3, 4}) {
    std::vector<Bytes> seen;
    for (size_t slot : {size_t{64} << 10, size_t{1} << 20, size_t{4} << 20}) {
      for (size_t oneshot : {size_t{0}, size_t{1} << 30}) {
        CommOptions o;
        o.slot_bytes = slot;
        o.oneshot_max_bytes = oneshot;
        auto comms = InitThreads(n, o);
        ASSERT_TRUE(comms.ok());
        std::vector<Bytes> out(static_cast<size_t>(n));
        auto res = RunThreads(*comms, [&](Communicator& c) {
          return testing::FingerprintAllReduce(c, count, &out[static_cast<size_t>(c.rank())]);
        });
        ExpectAllOk(res);
        for (const Bytes& b : out) seen.push_back(b);
      }
    }
    for (const Bytes& b : seen) ASSERT_EQ(b, seen.front());
  }
}

TEST(CommThreadsFaults, MissingRankTimesOutNamingIt) {
  CommOptions o = SmallOptions();
  o.timeout_ms = 300;
  auto comms = InitThreads(3, o);
  ASSERT_TRUE(comms.ok());
  std::vector<Status> results(3);
  std::vector<std::thread> threads;
  const auto start = std::chrono::steady_clock::now();
  for (int r = 0; r < 2; ++r) {  // rank 2 never calls
    threads.emplace_back([&, r] {
      float x[4] = {1, 2, 3, 4};
      results[static_cast<size_t>(r)] = (*comms)[static_cast<size_t>(r)]->AllReduce(x, x, 4, DType::kFloat32);
    });
  }
  for (auto& t : threads) t.join();
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  EXPECT_LT(secs, 5.0);
  for (int r = 0; r < 2; ++r) {
    const Status& s = results[static_cast<size_t>(r)];
    ASSERT_FALSE(s.ok());
    EXPECT_TRUE(s.code() == hccl::kETimeout || s.code() == hccl::kERemote) << s.ToString();
    EXPECT_NE(s.message().find("rank"), std::string::npos) << s.ToString();
  }
  // At least one names rank 2 as the one that never arrived.
  EXPECT_TRUE(results[0].message().find("rank 2") != std::string::npos ||
              results[1].message().find("rank 2") != std::string::npos);
  // Broken communicators fail fast from now on.
  const auto t0 = std::chrono::steady_clock::now();
  float y = 1;
  EXPECT_FALSE((*comms)[0]->AllReduce(&y, &y, 1, DType::kFloat32).ok());
  EXPECT_FALSE((*comms)[0]->Barrier().ok());
  EXPECT_LT(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(), 0.1);
  // The late rank finds the data its peers published before they gave up, so this call may
  // succeed; the next one learns about the failure instead of waiting for its own timeout.
  float z = 1;
  (void)(*comms)[2]->AllReduce(&z, &z, 1, DType::kFloat32);
  const Status late = (*comms)[2]->Barrier();
  EXPECT_EQ(late.code(), hccl::kERemote) << late.ToString();
}

TEST(CommThreadsArgs, RejectsBadArguments) {
  auto comms = InitThreads(1, SmallOptions());
  ASSERT_TRUE(comms.ok());
  Communicator& c = *(*comms)[0];
  float x = 1;
  EXPECT_EQ(c.AllReduce(nullptr, &x, 1, DType::kFloat32).code(), hccl::kEPtr);
  EXPECT_EQ(c.AllReduce(&x, &x, 1, DType::kInt4).code(), hccl::kENotSupport);
  EXPECT_EQ(c.Broadcast(&x, 1, DType::kFloat32, 1).code(), hccl::kEPara);
  EXPECT_EQ(c.Signal(kMaxSignals, 1).code(), hccl::kEPara);
  EXPECT_EQ(c.WaitSignal(3, 0, 1).code(), hccl::kEPara);
  EXPECT_FALSE(c.CreateSub({0, 0}).ok());
  EXPECT_FALSE(InitThreads(0).ok());
  EXPECT_TRUE(c.AllReduce(&x, &x, 0, DType::kFloat32).ok());
  EXPECT_TRUE(c.health().ok());
}

// A 2 x 2 grid of sub-communicators (TP groups {0, 1} {2, 3}, EP groups {0, 2} {1, 3}) where
// rank 1 stalls: its TP peer (rank 0) and its EP peer (rank 3) time out naming it by its rank in
// the group and its global rank; rank 2, which shares no group with it, waits on rank 0 (asleep
// waiting for rank 1, so rank 2's deadline is extended once) and learns of rank 1 from rank 0's
// abort flag, which AbortFrom raised on the EP group when rank 0's TP group failed.
TEST(CommThreadsFaults, GridSurvivorsNameTheStalledRankByItsGlobalRank) {
  CommOptions o = SmallOptions();
  o.timeout_ms = 400;
  auto comms = InitThreads(4, o);
  ASSERT_TRUE(comms.ok());
  std::vector<Status> results(4);
  std::vector<std::thread> threads;
  for (int r = 0; r < 4; ++r) {
    threads.emplace_back([&, r] {
      Communicator& world = *(*comms)[static_cast<size_t>(r)];
      const std::vector<int> tp_group = r < 2 ? std::vector<int>{0, 1} : std::vector<int>{2, 3};
      const std::vector<int> ep_group = r % 2 == 0 ? std::vector<int>{0, 2} : std::vector<int>{1, 3};
      auto tp = world.CreateSub(tp_group);
      auto ep = world.CreateSub(ep_group);
      if (!tp.ok() || !ep.ok()) {
        results[static_cast<size_t>(r)] = !tp.ok() ? tp.status() : ep.status();
        return;
      }
      if (r == 1) {  // stalls past its peers' timeouts, then leaves
        std::this_thread::sleep_for(std::chrono::milliseconds(1500));
        return;
      }
      float x[4] = {1, 2, 3, 4};
      Status s = (*tp)->AllReduce(x, x, 4, DType::kFloat32);
      if (s.ok()) s = (*ep)->AllReduce(x, x, 4, DType::kFloat32);
      if (!(*tp)->health().ok()) (*ep)->AbortFrom(**tp);
      if (!(*ep)->health().ok()) (*tp)->AbortFrom(**ep);
      results[static_cast<size_t>(r)] = s;
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(results[0].code(), hccl::kETimeout) << results[0].ToString();
  EXPECT_NE(results[0].message().find("rank 1 (global rank 1) did not arrive"), std::string::npos)
      << results[0].ToString();
  EXPECT_EQ(results[3].code(), hccl::kETimeout) << results[3].ToString();
  EXPECT_NE(results[3].message().find("rank 0 (global rank 1) did not arrive"), std::string::npos)
      << results[3].ToString();
  EXPECT_EQ(results[2].code(), hccl::kERemote) << results[2].ToString();
  EXPECT_NE(results[2].message().find("rank 0 (global rank 0) failed and left the communicator because of global "
                                      "rank 1 (not in this group)"),
            std::string::npos)
      << results[2].ToString();
  // The reason rank 0 left travels with its flag.
  EXPECT_NE(results[2].message().find("rank 1 (global rank 1) did not arrive"), std::string::npos)
      << results[2].ToString();
}

}  // namespace
}  // namespace mc2::comm
