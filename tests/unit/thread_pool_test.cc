#include "core/thread_pool.h"

#include <gtest/gtest.h>

#include <atomic>
#include <cstdlib>
#include <thread>
#include <vector>

namespace mc2 {
namespace {

TEST(ThreadPool, OneThreadRunsInlineOnTheCaller) {
  ThreadPool pool(1);
  EXPECT_EQ(pool.num_threads(), 1);
  const std::thread::id caller = std::this_thread::get_id();
  std::vector<int> seen(7, 0);
  ASSERT_TRUE(pool.ParallelFor(7, [&](int64_t task, int thread) {
                    EXPECT_EQ(thread, 0);
                    EXPECT_EQ(std::this_thread::get_id(), caller);
                    ++seen[task];
                  }).ok());
  for (int s : seen) EXPECT_EQ(s, 1);
  EXPECT_EQ(ThreadPool(0).num_threads(), 1);
  EXPECT_EQ(ThreadPool(-3).num_threads(), 1);
}

TEST(ThreadPool, StaticPartitionEachTaskOnce) {
  for (int threads : {2, 3, 4}) {
    ThreadPool pool(threads);
    for (int64_t n : {0, 1, 2, 3, 5, 64, 1001}) {
      std::vector<std::atomic<int>> runs(static_cast<size_t>(n));
      std::vector<int> owner(static_cast<size_t>(n), -1);
      ASSERT_TRUE(pool.ParallelFor(n, [&](int64_t task, int thread) {
                        runs[task].fetch_add(1);
                        owner[task] = thread;
                      }).ok());
      for (int64_t t = 0; t < n; ++t) {
        EXPECT_EQ(runs[t].load(), 1) << "task " << t;
        if (n > 1) {
          // Thread k owns [k*n/T, (k+1)*n/T).
          const int64_t begin = n * owner[t] / threads, end = n * (owner[t] + 1) / threads;
          EXPECT_TRUE(t >= begin && t < end) << "task " << t << " ran on thread " << owner[t];
        }
      }
    }
  }
}

TEST(ThreadPool, NestedCallIsAnErrorNotADeadlock) {
  ThreadPool pool(2);
  std::atomic<int> errors{0};
  ASSERT_TRUE(pool.ParallelFor(4, [&](int64_t, int) {
                    const Status inner = pool.ParallelFor(2, [](int64_t, int) {});
                    if (!inner.ok()) {
                      EXPECT_NE(inner.message().find("inside a task of the same pool"), std::string::npos)
                          << inner.message();
                      errors.fetch_add(1);
                    }
                  }).ok());
  EXPECT_EQ(errors.load(), 4);
  // The pool is still usable afterwards.
  std::atomic<int> count{0};
  ASSERT_TRUE(pool.ParallelFor(10, [&](int64_t, int) { count.fetch_add(1); }).ok());
  EXPECT_EQ(count.load(), 10);
}

TEST(ThreadPool, NestedCallOnAnotherPoolWorks) {
  ThreadPool outer(2), inner(2);
  std::atomic<int> count{0};
  // Two outer tasks on different threads would call `inner` concurrently: run them one at a time.
  ASSERT_TRUE(outer.ParallelFor(1, [&](int64_t, int) {
                     EXPECT_TRUE(inner.ParallelFor(8, [&](int64_t, int) { count.fetch_add(1); }).ok());
                   }).ok());
  EXPECT_EQ(count.load(), 8);
}

TEST(ThreadPool, CallFromSecondThreadWhileBusyIsAnError) {
  ThreadPool pool(2);
  Status second;
  ASSERT_TRUE(pool.ParallelFor(1, [&](int64_t, int) {
                    std::thread other([&] { second = pool.ParallelFor(1, [](int64_t, int) {}); });
                    other.join();
                  }).ok());
  EXPECT_FALSE(second.ok());
  EXPECT_NE(second.message().find("already running"), std::string::npos) << second.message();
  EXPECT_FALSE(pool.ParallelFor(-1, [](int64_t, int) {}).ok());
}

// 8 ranks x 2 threads on however many cores the host has (2 in CI): every waiter must end up
// asleep or this takes minutes instead of well under a second.
TEST(ThreadPool, ManyPoolsOversubscribed) {
  constexpr int kRanks = 8, kCalls = 2000;
  std::vector<int64_t> sums(kRanks, 0);
  std::vector<std::thread> ranks;
  for (int r = 0; r < kRanks; ++r) {
    ranks.emplace_back([&, r] {
      ThreadPool pool(2);
      std::atomic<int64_t> sum{0};
      for (int c = 0; c < kCalls; ++c) {
        if (!pool.ParallelFor(4, [&](int64_t task, int) { sum.fetch_add(task + 1); }).ok()) return;
      }
      sums[r] = sum.load();
    });
  }
  for (std::thread& t : ranks) t.join();
  for (int r = 0; r < kRanks; ++r) EXPECT_EQ(sums[r], int64_t{kCalls} * 10) << "rank " << r;
}

TEST(ThreadPool, CreateAndDestroyRepeatedly) {
  for (int i = 0; i < 200; ++i) {
    ThreadPool pool(3);
    if (i % 2) {
      std::atomic<int> c{0};
      ASSERT_TRUE(pool.ParallelFor(3, [&](int64_t, int) { c.fetch_add(1); }).ok());
      EXPECT_EQ(c.load(), 3);
    }
  }
}

TEST(ThreadPool, DefaultNumThreadsFromEnvironment) {
  unsetenv("MC2_NUM_THREADS");
  unsetenv("MC2_LOCAL_WORLD_SIZE");
  StatusOr<int> all = ThreadPool::DefaultNumThreads();
  ASSERT_TRUE(all.ok());
  EXPECT_GE(*all, 1);

  setenv("MC2_LOCAL_WORLD_SIZE", "1000", 1);  // more ranks than cores: still one thread each
  StatusOr<int> shared = ThreadPool::DefaultNumThreads();
  ASSERT_TRUE(shared.ok());
  EXPECT_EQ(*shared, 1);

  setenv("MC2_NUM_THREADS", "3", 1);  // explicit size wins
  StatusOr<int> forced = ThreadPool::DefaultNumThreads();
  ASSERT_TRUE(forced.ok());
  EXPECT_EQ(*forced, 3);

  setenv("MC2_NUM_THREADS", "two", 1);
  StatusOr<int> bad = ThreadPool::DefaultNumThreads();
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("MC2_NUM_THREADS: 'two'"), std::string::npos)
      << bad.status().message();

  setenv("MC2_NUM_THREADS", "0", 1);
  EXPECT_FALSE(ThreadPool::DefaultNumThreads().ok());
  unsetenv("MC2_NUM_THREADS");
  setenv("MC2_LOCAL_WORLD_SIZE", "-2", 1);
  EXPECT_FALSE(ThreadPool::DefaultNumThreads().ok());
  unsetenv("MC2_LOCAL_WORLD_SIZE");
}

}  // namespace
}  // namespace mc2
