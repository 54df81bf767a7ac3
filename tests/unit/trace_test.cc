// trace: spans record only while enabled, carry rank / thread / category, survive their threads,
// and the Chrome JSON parses with the values that were recorded.
#include "core/trace.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <thread>
#include <vector>

namespace mc2::trace {
namespace {

class TraceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    Disable();
    (void)TakeEvents();
    (void)DroppedEvents();
  }
  void TearDown() override {
    Disable();
    (void)TakeEvents();
  }
};

TEST_F(TraceTest, DisabledRecordsNothing) {
  ASSERT_FALSE(Enabled());
  { MC2_TRACE_SCOPE("off", kCompute); }
  EXPECT_TRUE(TakeEvents().empty());
}

TEST_F(TraceTest, SpanOpenedWhileDisabledStaysUnrecorded) {
  {
    MC2_TRACE_SCOPE("opened.off", kComm);
    Enable();
  }
  EXPECT_TRUE(TakeEvents().empty());
}

TEST_F(TraceTest, NestedSpansHaveCategoriesAndContainment) {
  Enable();
  {
    RankScope rank(3);
    MC2_TRACE_SCOPE("outer", kComm);
    { MC2_TRACE_SCOPE("inner", kReduce); }
  }
  Disable();
  std::vector<Event> events = TakeEvents();
  ASSERT_EQ(events.size(), 2u);
  // Sorted by begin time: the outer span began first.
  EXPECT_STREQ(events[0].name, "outer");
  EXPECT_EQ(events[0].category, Category::kComm);
  EXPECT_STREQ(events[1].name, "inner");
  EXPECT_EQ(events[1].category, Category::kReduce);
  for (const Event& e : events) {
    EXPECT_EQ(e.rank, 3);
    EXPECT_LE(e.begin_ns, e.end_ns);
  }
  EXPECT_LE(events[0].begin_ns, events[1].begin_ns);
  EXPECT_GE(events[0].end_ns, events[1].end_ns);
  EXPECT_EQ(events[0].tid, events[1].tid);
  EXPECT_TRUE(TakeEvents().empty()) << "TakeEvents drains";
}

TEST_F(TraceTest, RankScopeRestoresAndProcessRankIsTheFallback) {
  SetProcessRank(5);
  EXPECT_EQ(CurrentRank(), 5);
  {
    RankScope rank(1);
    EXPECT_EQ(CurrentRank(), 1);
    {
      RankScope inner(2);
      EXPECT_EQ(CurrentRank(), 2);
    }
    EXPECT_EQ(CurrentRank(), 1);
  }
  EXPECT_EQ(CurrentRank(), 5);
  SetProcessRank(0);
}

TEST_F(TraceTest, EventsOfExitedThreadsAreKeptPerThread) {
  Enable();
  constexpr int kThreads = 4;
  std::vector<std::thread> threads;
  for (int r = 0; r < kThreads; ++r) {
    threads.emplace_back([r] {
      SetThreadRank(r);
      for (int i = 0; i < 10; ++i) {
        MC2_TRACE_SCOPE("step", kCompute);
      }
      MC2_TRACE_SCOPE("wait", kWait);
    });
  }
  for (auto& t : threads) t.join();
  Disable();
  std::vector<Event> events = TakeEvents();
  ASSERT_EQ(events.size(), static_cast<size_t>(kThreads * 11));
  std::set<int32_t> ranks;
  std::set<uint32_t> tids;
  int waits = 0;
  for (const Event& e : events) {
    ranks.insert(e.rank);
    tids.insert(e.tid);
    if (e.category == Category::kWait) ++waits;
  }
  EXPECT_EQ(ranks.size(), static_cast<size_t>(kThreads));
  EXPECT_EQ(tids.size(), static_cast<size_t>(kThreads));
  EXPECT_EQ(waits, kThreads);
  for (size_t i = 1; i < events.size(); ++i) EXPECT_LE(events[i - 1].begin_ns, events[i].begin_ns);
}

TEST_F(TraceTest, ChromeJsonHasOneCompleteEventPerSpan) {
  // Independently worked values: 1.5 us after the origin, lasting 2.25 us.
  std::vector<Event> events = {
      {"arn.matmul", Category::kCompute, 0, 7, 1'000'000, 1'002'000},
      {"allreduce \"x\"", Category::kComm, 1, 8, 1'001'500, 1'003'750},
  };
  nlohmann::json doc = nlohmann::json::parse(ToChromeJson(events));
  ASSERT_TRUE(doc.contains("traceEvents"));
  std::vector<nlohmann::json> spans;
  std::set<std::string> process_names;
  for (const auto& e : doc["traceEvents"]) {
    if (e["ph"] == "X") spans.push_back(e);
    if (e["ph"] == "M" && e["name"] == "process_name") process_names.insert(e["args"]["name"]);
  }
  ASSERT_EQ(spans.size(), 2u);
  EXPECT_EQ(spans[0]["name"], "arn.matmul");
  EXPECT_EQ(spans[0]["cat"], "compute");
  EXPECT_EQ(spans[0]["pid"], 0);
  EXPECT_EQ(spans[0]["tid"], 7);
  EXPECT_DOUBLE_EQ(spans[0]["ts"].get<double>(), 0.0);
  EXPECT_DOUBLE_EQ(spans[0]["dur"].get<double>(), 2.0);
  EXPECT_EQ(spans[1]["name"], "allreduce \"x\"");
  EXPECT_EQ(spans[1]["cat"], "comm");
  EXPECT_EQ(spans[1]["pid"], 1);
  EXPECT_DOUBLE_EQ(spans[1]["ts"].get<double>(), 1.5);
  EXPECT_DOUBLE_EQ(spans[1]["dur"].get<double>(), 2.25);
  EXPECT_EQ(process_names, (std::set<std::string>{"rank 0", "rank 1"}));
}

TEST_F(TraceTest, EmptyTraceIsValidJson) {
  nlohmann::json doc = nlohmann::json::parse(ToChromeJson({}));
  EXPECT_TRUE(doc["traceEvents"].empty());
}

TEST_F(TraceTest, WriteChromeJsonWritesAFileAndNamesABadPath) {
  Enable();
  { MC2_TRACE_SCOPE("written", kNorm); }
  Disable();
  std::string path = ::testing::TempDir() + "mc2_trace_test.json";
  ASSERT_TRUE(WriteChromeJson(path, TakeEvents()).ok());
  std::ifstream in(path);
  nlohmann::json doc = nlohmann::json::parse(in);
  bool found = false;
  for (const auto& e : doc["traceEvents"]) found |= (e["ph"] == "X" && e["name"] == "written" && e["cat"] == "norm");
  EXPECT_TRUE(found);
  std::remove(path.c_str());

  Status bad = WriteChromeJson("/nonexistent-dir/x/trace.json", {});
  EXPECT_FALSE(bad.ok());
  EXPECT_NE(bad.message().find("/nonexistent-dir/x/trace.json"), std::string::npos);
}

}  // namespace
}  // namespace mc2::trace
