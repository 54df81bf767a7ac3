// MC2_FAULT (core/fault.h): the parser's answers, and which hits of which point on which rank
// fire. The actions that end or stop a process are exercised in fault_process_test.cc; here the
// digest action (which only returns) and a zero-length stall show the counting.
#include <gtest/gtest.h>

#include <cstdlib>
#include <string>

#include "core/fault.h"

namespace mc2::fault {
namespace {

TEST(FaultSpec, ParsesEveryKey) {
  auto s = ParseSpec("rank=3,point=ARN.execute|allreduce,action=stall,after=7,ms=250");
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_EQ(s->rank, 3);
  ASSERT_EQ(s->points.size(), 2u);
  EXPECT_EQ(s->points[0], "arn.execute");
  EXPECT_EQ(s->points[1], "allreduce");
  EXPECT_EQ(s->action, Action::kStall);
  EXPECT_EQ(s->after, 7);
  EXPECT_EQ(s->stall_ms, 250);
  auto d = ParseSpec("action=kill,point=moe.plan,rank=0");
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->action, Action::kKill);
  EXPECT_EQ(d->after, 0);
  EXPECT_EQ(d->stall_ms, 3600000);
}

TEST(FaultSpec, RejectsMalformedValuesNamingTheKey) {
  const std::pair<const char*, const char*> bad[] = {
      {"", "lacks rank"},
      {"rank=1,point=allreduce", "lacks action"},
      {"rank=1,action=exit", "lacks point"},
      {"rank=-1,point=allreduce,action=exit", "rank is '-1'"},
      {"rank=x,point=allreduce,action=exit", "rank is 'x'"},
      {"rank=1,point=allreduc,action=exit", "point 'allreduc'"},
      {"rank=1,point=allreduce|,action=exit", "point ''"},
      {"rank=1,point=allreduce,action=crash", "action 'crash'"},
      {"rank=1,point=allreduce,action=digest", "digest works at point digest only"},
      {"rank=1,point=allreduce,action=exit,after=", "after is ''"},
      {"rank=1,point=allreduce,action=exit,ms=99999999999999", "ms is"},
      {"rank=1,point=allreduce,action=exit,when=3", "unknown key 'when'"},
      {"rank=1,,point=allreduce,action=exit", "empty item"},
      {"rank", "has no '='"},
  };
  for (const auto& [text, want] : bad) {
    auto s = ParseSpec(text);
    ASSERT_FALSE(s.ok()) << text;
    EXPECT_EQ(s.status().code(), hccl::kEPara) << text;
    EXPECT_NE(s.status().message().find(want), std::string::npos) << text << " -> " << s.status().message();
    EXPECT_NE(s.status().message().find("MC2_FAULT"), std::string::npos);
  }
}

TEST(FaultInjection, FiresOnceAtTheChosenHitOfTheChosenRankAndPoint) {
  setenv("MC2_FAULT", "rank=2,point=digest,action=digest,after=2", 1);
  ASSERT_TRUE(ReloadFromEnv().ok());
  EXPECT_EQ(At("digest", 1), Action::kNone);  // another rank: not counted for rank 2
  EXPECT_EQ(At("allreduce", 2), Action::kNone);  // another point
  EXPECT_EQ(At("digest", 2), Action::kNone);  // hit 1
  EXPECT_EQ(At("DIGEST", 2), Action::kNone);  // hit 2 (names are case-insensitive)
  EXPECT_EQ(At("digest", 2), Action::kDigest);  // hit 3 = after + 1
  EXPECT_EQ(At("digest", 2), Action::kNone);  // once only
  // Reloading resets the counters.
  ASSERT_TRUE(ReloadFromEnv().ok());
  EXPECT_EQ(At("digest", 2), Action::kNone);
  EXPECT_EQ(At("digest", 2), Action::kNone);
  EXPECT_EQ(At("digest", 2), Action::kDigest);
  unsetenv("MC2_FAULT");
  ASSERT_TRUE(ReloadFromEnv().ok());
}

TEST(FaultInjection, StallReturnsAndUnsetOrMalformedArmsNothing) {
  setenv("MC2_FAULT", "rank=0,point=allgather|broadcast,action=stall,ms=0", 1);
  ASSERT_TRUE(ReloadFromEnv().ok());
  EXPECT_EQ(At("broadcast", 0), Action::kNone);  // fired: a stall of 0 ms, then on
  setenv("MC2_FAULT", "rank=0,point=digest,action=explode", 1);
  const Status s = ReloadFromEnv();
  EXPECT_EQ(s.code(), hccl::kEPara);
  EXPECT_EQ(At("digest", 0), Action::kNone);
  unsetenv("MC2_FAULT");
  ASSERT_TRUE(ReloadFromEnv().ok());
  for (int i = 0; i < 3; ++i) EXPECT_EQ(At("digest", 0), Action::kNone);
}

}  // namespace
}  // namespace mc2::fault
