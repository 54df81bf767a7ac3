// Shared pieces of the operators: workspace booking and the cross-rank argument check.
#include <gtest/gtest.h>

#include <pthread.h>
#include <sched.h>

#include <atomic>
#include <chrono>
#include <thread>

#include "comm/thread_transport.h"
#include "core/trace.h"
#include "ops/common/arg_digest.h"
#include "ops/common/progress_thread.h"
#include "ops/common/workspace.h"

namespace mc2::ops {
namespace {

TEST(WorkspaceBookingTest, RegionsAreAlignedAndDisjoint) {
  WorkspaceBooking b;
  b.Book(1, 10);
  b.Book(2, 100, 128);
  b.Book(3, 0);
  b.Book(4, 7, 8);
  EXPECT_EQ(b.Bytes(2), 100u);
  alignas(128) static char ws[512];
  char* r1 = static_cast<char*>(b.Get(ws, 1));
  char* r2 = static_cast<char*>(b.Get(ws, 2));
  char* r4 = static_cast<char*>(b.Get(ws, 4));
  EXPECT_EQ(r1, ws);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(r2) % 128, 0u);
  EXPECT_GE(r2, r1 + 10);
  EXPECT_GE(r4, r2 + 100);
  EXPECT_EQ(b.Get(ws, 3), nullptr);   // zero bytes
  EXPECT_EQ(b.Get(ws, 99), nullptr);  // never booked
  EXPECT_EQ(b.total_bytes(), static_cast<size_t>(r4 + 7 - ws));
  EXPECT_TRUE(WorkspaceBooking().empty());
}

// Runs `fn(rank, comm)` on `n` thread ranks and collects each rank's Status.
template <typename Fn>
std::vector<Status> OnRanks(int n, Fn fn) {
  auto comms = comm::InitThreads(n);
  EXPECT_TRUE(comms.ok()) << comms.status().ToString();
  std::vector<Status> results(n);
  std::vector<std::thread> threads;
  for (int r = 0; r < n; ++r) {
    threads.emplace_back([&, r] { results[r] = fn(r, *(*comms)[r]); });
  }
  for (auto& t : threads) t.join();
  return results;
}

ArgDigest MakeDigest(int64_t n, std::optional<TensorView> bias, double eps) {
  ArgDigest d;
  d.AddTensor("x2", TensorView::Contiguous(nullptr, DType::kInt8, {256, n}));
  d.AddTensor("bias", bias, /*per_rank_optional=*/true);
  d.AddDouble("epsilon", eps);
  d.AddInt("antiquantGroupSize", 0);
  return d;
}

TEST(ArgDigestTest, AgreeingRanksPass) {
  auto results = OnRanks(3, [](int r, comm::Communicator& c) {
    // Bias on rank 0 only, as CANN's callers pass it: allowed.
    std::optional<TensorView> bias;
    if (r == 0) bias = TensorView::Contiguous(nullptr, DType::kFloat16, {128});
    return ExchangeAndCheck(c, MakeDigest(128, bias, 1e-6), Status::Ok(), ErrorSpace::kAclnn,
                            aclnn::kErrParamInvalid);
  });
  for (const Status& s : results) EXPECT_TRUE(s.ok()) << s.ToString();
}

TEST(ArgDigestTest, DisagreementFailsEveryRankNamingParameterAndRanks) {
  auto results = OnRanks(3, [](int r, comm::Communicator& c) {
    return ExchangeAndCheck(c, MakeDigest(r == 2 ? 64 : 128, std::nullopt, 1e-6), Status::Ok(),
                            ErrorSpace::kAclnn, aclnn::kErrParamInvalid);
  });
  for (const Status& s : results) {
    EXPECT_EQ(s.code(), 161002);
    EXPECT_EQ(s.message(),
              "x2: ranks disagree: rank 0 has (256, 128) int8 ND, rank 2 has (256, 64) int8 ND (every rank must pass "
              "the same shapes, dtypes and attributes)");
  }
}

TEST(ArgDigestTest, OptionalTensorsStillCompareShapes) {
  auto results = OnRanks(2, [](int r, comm::Communicator& c) {
    std::optional<TensorView> bias = TensorView::Contiguous(nullptr, DType::kFloat16, {r == 0 ? 128 : 64});
    return ExchangeAndCheck(c, MakeDigest(128, bias, 1e-6), Status::Ok(), ErrorSpace::kAtb, atb::kInvalidParam);
  });
  for (const Status& s : results) {
    EXPECT_EQ(s.space(), ErrorSpace::kAtb);
    EXPECT_EQ(s.code(), atb::kInvalidParam);
    EXPECT_NE(s.message().find("bias: ranks disagree"), std::string::npos) << s.message();
  }
}

TEST(ArgDigestTest, AttributeDisagreement) {
  auto results = OnRanks(2, [](int r, comm::Communicator& c) {
    return ExchangeAndCheck(c, MakeDigest(128, std::nullopt, r == 0 ? 1e-6 : 1e-5), Status::Ok(), ErrorSpace::kAclnn,
                            aclnn::kErrParamInvalid);
  });
  for (const Status& s : results) EXPECT_NE(s.message().find("epsilon: ranks disagree: rank 0 has 1e-06, rank 1 has 1e-05"),
                                            std::string::npos)
      << s.message();
}

TEST(ArgDigestTest, ARankThatRejectedItsArgumentsIsNamedByItsPeers) {
  auto results = OnRanks(3, [](int r, comm::Communicator& c) {
    Status local = r == 1 ? AclnnError(aclnn::kErrInnerTiling, "epsilon: is 2 but must be in (0, 1)") : Status::Ok();
    return ExchangeAndCheck(c, MakeDigest(128, std::nullopt, 1e-6), local, ErrorSpace::kAclnn,
                            aclnn::kErrParamInvalid);
  });
  EXPECT_EQ(results[1].code(), 561002);  // its own error, unchanged
  EXPECT_EQ(results[1].message(), "epsilon: is 2 but must be in (0, 1)");
  for (int r : {0, 2}) {
    EXPECT_EQ(results[r].code(), 161002);
    EXPECT_EQ(results[r].message(),
              "rank 1 rejected its arguments with 561002 (ACLNN_ERR_INNER_TILING_ERROR): epsilon: is 2 but must be in "
              "(0, 1)");
  }
}

// ProgressThread: tasks run in order on another thread carrying the caller's trace rank; WaitFor
// returns once the first tasks ran; Busy says whether a posted task is still running; Lend is
// harmless without a communicator; the first error is returned and later tasks are skipped.
struct ProgressLog {
  std::atomic<int> next{0};
  std::atomic<bool> release{false};
  std::thread::id thread;
  int order[4] = {-1, -1, -1, -1};
  int rank[4] = {-1, -1, -1, -1};
  int fail_at = -1;
};

Status LoggedTask(void* ctx, int64_t task) {
  auto* log = static_cast<ProgressLog*>(ctx);
  if (task == 1) {
    while (!log->release.load()) std::this_thread::sleep_for(std::chrono::microseconds(100));
  }
  log->thread = std::this_thread::get_id();
  const int i = log->next++;
  log->order[i] = static_cast<int>(task);
  log->rank[i] = trace::CurrentRank();
  if (task == log->fail_at) return HcclError(hccl::kETimeout, "task ", task, " failed");
  return Status::Ok();
}

TEST(ProgressThreadTest, RunsPostedTasksInOrderOnItsThread) {
  ProgressThread progress;
  ProgressLog log;
  trace::RankScope rank(5);
  progress.Begin(&LoggedTask, &log);
  EXPECT_FALSE(progress.Busy());
  progress.Post(2);
  progress.WaitFor(1);  // task 0 done; task 1 waits for `release`
  EXPECT_GE(log.next.load(), 1);
  EXPECT_TRUE(progress.Busy());
  progress.Lend(nullptr);
  log.release = true;
  progress.Post(4);
  EXPECT_TRUE(progress.Finish().ok());
  EXPECT_FALSE(progress.Busy());
  ASSERT_EQ(log.next.load(), 4);
  for (int i = 0; i < 4; ++i) {
    EXPECT_EQ(log.order[i], i);
    EXPECT_EQ(log.rank[i], 5) << "the task's spans would land on another rank";
  }
  EXPECT_NE(log.thread, std::this_thread::get_id());
}

// RealTimeCaller reads the calling thread's policy: false under the fair scheduler; true on a
// thread switched to SCHED_FIFO (when the process may do that: root or CAP_SYS_NICE, as in CI).
TEST(ProgressThreadTest, RealTimeCallerFollowsTheThreadsPolicy) {
  EXPECT_FALSE(ProgressThread::RealTimeCaller());
  int set_rc = -1;
  bool inside = false, after_reset = true;
  std::thread t([&] {
    sched_param p{};
    p.sched_priority = 1;
    set_rc = pthread_setschedparam(pthread_self(), SCHED_FIFO, &p);
    if (set_rc != 0) return;
    inside = ProgressThread::RealTimeCaller();
    p.sched_priority = 0;
    pthread_setschedparam(pthread_self(), SCHED_OTHER, &p);
    after_reset = ProgressThread::RealTimeCaller();
  });
  t.join();
  EXPECT_FALSE(ProgressThread::RealTimeCaller()) << "the policy of another thread leaked into this one";
  if (set_rc != 0) GTEST_SKIP() << "SCHED_FIFO not permitted here (pthread_setschedparam: " << set_rc << ")";
  EXPECT_TRUE(inside);
  EXPECT_FALSE(after_reset);
}

TEST(ProgressThreadTest, FirstErrorSkipsTheRest) {
  ProgressThread progress;
  ProgressLog log;
  log.release = true;
  log.fail_at = 1;
  progress.Begin(&LoggedTask, &log);
  progress.Post(4);
  Status s = progress.Finish();
  EXPECT_EQ(s.code(), hccl::kETimeout);
  EXPECT_EQ(log.next.load(), 2);  // tasks 2 and 3 skipped
  // The next call starts clean.
  ProgressLog again;
  again.release = true;
  progress.Begin(&LoggedTask, &again);
  progress.Post(1);
  EXPECT_TRUE(progress.Finish().ok());
  EXPECT_EQ(again.next.load(), 1);
}

}  // namespace
}  // namespace mc2::ops
