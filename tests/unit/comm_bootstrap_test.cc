// Root info and bootstrap messages: round trips, and rejection of malformed, truncated and
// oversized input (everything a peer or a user can hand us goes through these parsers).
#include <gtest/gtest.h>

#include <cstring>
#include <random>
#include <tuple>

#include "comm/bootstrap.h"
#include "comm/rank_table.h"
#include "comm/reduce.h"
#include "comm/root_info.h"

namespace mc2::comm {
namespace {

TEST(CommRootInfo, RoundTripsThroughHexAndBytes) {
  auto info = GetRootInfo();
  ASSERT_TRUE(info.ok());
  auto again = RootInfoFromHex(RootInfoToHex(*info));
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  EXPECT_EQ(again->socket_name, info->socket_name);
  EXPECT_EQ(again->secret, info->secret);
  EXPECT_EQ(again->uid, info->uid);
  uint8_t raw[kHcclRootInfoBytes] = {};
  EncodeRootInfo(*info, raw);
  EXPECT_TRUE(DecodeRootInfo(raw, sizeof(raw)).ok());  // as stored in an HcclRootInfo
  auto other = GetRootInfo();
  ASSERT_TRUE(other.ok());
  EXPECT_NE(other->secret, info->secret);
  EXPECT_NE(other->socket_name, info->socket_name);
}

TEST(CommRootInfo, RejectsMalformedInput) {
  auto info = GetRootInfo();
  ASSERT_TRUE(info.ok());
  uint8_t raw[kHcclRootInfoBytes + 1] = {};
  EncodeRootInfo(*info, raw);
  EXPECT_FALSE(DecodeRootInfo(nullptr, kRootInfoWireBytes).ok());
  EXPECT_FALSE(DecodeRootInfo(raw, kRootInfoWireBytes - 1).ok());       // truncated
  EXPECT_FALSE(DecodeRootInfo(raw, kHcclRootInfoBytes + 1).ok());       // oversized
  uint8_t bad[kRootInfoWireBytes];
  std::memcpy(bad, raw, sizeof(bad));
  bad[0] ^= 1;
  EXPECT_FALSE(DecodeRootInfo(bad, sizeof(bad)).ok());  // magic
  std::memcpy(bad, raw, sizeof(bad));
  bad[8] = 2;
  EXPECT_FALSE(DecodeRootInfo(bad, sizeof(bad)).ok());  // version
  const size_t name_at = 16 + kSecretBytes;
  std::memcpy(bad, raw, sizeof(bad));
  bad[name_at] = '/';
  EXPECT_FALSE(DecodeRootInfo(bad, sizeof(bad)).ok());  // character outside the alphabet
  std::memcpy(bad, raw, sizeof(bad));
  std::memset(bad + name_at, 'a', kSocketNameBytes);
  EXPECT_FALSE(DecodeRootInfo(bad, sizeof(bad)).ok());  // unterminated
  std::memcpy(bad, raw, sizeof(bad));
  bad[name_at] = 0;
  EXPECT_FALSE(DecodeRootInfo(bad, sizeof(bad)).ok());  // empty name, garbage after
  std::string hex = RootInfoToHex(*info);
  EXPECT_FALSE(RootInfoFromHex(hex.substr(1)).ok());
  EXPECT_FALSE(RootInfoFromHex(hex + "00").ok());
  hex[3] = 'g';
  EXPECT_FALSE(RootInfoFromHex(hex).ok());
  EXPECT_FALSE(RootInfoFromHex("").ok());
}

TEST(CommBootstrap, HelloParser) {
  HelloMsg h;
  h.rank = 3;
  h.nranks = 4;
  h.segment_bytes = 1 << 20;
  std::vector<uint8_t> bytes = SerializeHello(h);
  ASSERT_EQ(bytes.size(), kHelloBytes);
  auto ok = ParseHello(bytes.data(), bytes.size());
  ASSERT_TRUE(ok.ok());
  EXPECT_EQ(ok->rank, 3u);
  EXPECT_FALSE(ParseHello(bytes.data(), bytes.size() - 1).ok());
  std::vector<uint8_t> longer = bytes;
  longer.push_back(0);
  EXPECT_FALSE(ParseHello(longer.data(), longer.size()).ok());
  for (auto [rank, nranks, seg] : std::vector<std::tuple<uint32_t, uint32_t, uint64_t>>{
           {0, 4, 4096}, {4, 4, 4096}, {1, 1, 4096}, {1, 100000, 4096}, {1, 2, 0}, {1, 2, 4095},
           {1, 2, uint64_t{1} << 50}}) {
    h.rank = rank;
    h.nranks = nranks;
    h.segment_bytes = seg;
    bytes = SerializeHello(h);
    EXPECT_FALSE(ParseHello(bytes.data(), bytes.size()).ok()) << rank << " " << nranks << " " << seg;
  }
}

TEST(CommBootstrap, WelcomeParser) {
  WelcomeMsg w;
  w.nranks = 3;
  w.segment_bytes = 8192;
  w.pids = {10, 11, 12};
  std::vector<uint8_t> bytes = SerializeWelcome(w);
  auto ok = ParseWelcome(bytes.data(), bytes.size());
  ASSERT_TRUE(ok.ok()) << ok.status().ToString();
  EXPECT_EQ(ok->pids.size(), 3u);
  EXPECT_FALSE(ParseWelcome(bytes.data(), bytes.size() - 1).ok());
  EXPECT_FALSE(ParseWelcome(bytes.data(), 10).ok());
  w.pids = {10, 11};  // fewer pids than ranks
  bytes = SerializeWelcome(w);
  EXPECT_FALSE(ParseWelcome(bytes.data(), bytes.size()).ok());
  w.pids = {10, -1, 12};
  bytes = SerializeWelcome(w);
  EXPECT_FALSE(ParseWelcome(bytes.data(), bytes.size()).ok());
  w.nranks = 100000;
  bytes = SerializeWelcome(w);
  EXPECT_FALSE(ParseWelcome(bytes.data(), bytes.size()).ok());
  // A refusal carries its reason, bounded.
  WelcomeMsg no;
  no.status = 1;
  no.reason = std::string(1000, 'x');
  bytes = SerializeWelcome(no);
  auto refused = ParseWelcome(bytes.data(), bytes.size());
  ASSERT_TRUE(refused.ok());
  EXPECT_EQ(refused->status, 1);
  EXPECT_EQ(refused->reason.size(), 127u);
}

TEST(CommBootstrap, RandomBytesNeverCrashTheParsers) {
  std::mt19937 rng(7);
  for (int i = 0; i < 20000; ++i) {
    std::vector<uint8_t> bytes(rng() % 1200);
    for (auto& b : bytes) b = static_cast<uint8_t>(rng());
    if (bytes.size() >= 8 && i % 2) {  // plausible headers get further into the parsers
      const uint32_t magic = i % 4 == 1 ? 0x4d433248 : 0x4d433257;
      std::memcpy(bytes.data(), &magic, 4);
    }
    (void)ParseHello(bytes.data(), bytes.size());
    (void)ParseWelcome(bytes.data(), bytes.size());
    (void)DecodeRootInfo(bytes.data(), bytes.size());
  }
}

TEST(CommRankTable, ParsesHcclRankTables) {
  auto t = ParseRankTable(R"({"version":"1.0","server_count":"2","status":"completed","server_list":[
      {"server_id":"a","device":[{"device_id":"0","device_ip":"1.1.1.1","rank_id":"1"},
                                 {"device_id":"1","device_ip":"1.1.1.2","rank_id":"0"}]},
      {"server_id":"b","device":[{"device_id":0,"rank_id":2}]}]})");
  ASSERT_TRUE(t.ok()) << t.status().ToString();
  ASSERT_EQ(t->ranks.size(), 3u);
  EXPECT_EQ(t->servers, (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(t->ranks[0].server, 0);
  EXPECT_EQ(t->ranks[0].device, 1);
  EXPECT_EQ(t->ranks[2].server, 1);
}

TEST(CommRankTable, RejectsMalformedTables) {
  for (const char* bad : {
           "", "[]", "{", "{}", R"({"server_list":[]})", R"({"server_list":[1]})",
           R"({"server_list":[{"device":[]}]})",
           R"({"server_list":[{"server_id":"a"}]})",
           R"({"server_list":[{"server_id":"a","device":[{"device_id":"0"}]}]})",
           R"({"server_list":[{"server_id":"a","device":[{"rank_id":"-1"}]}]})",
           R"({"server_list":[{"server_id":"a","device":[{"rank_id":"x"}]}]})",
           R"({"server_list":[{"server_id":"a","device":[{"rank_id":"1"}]}]})",
           R"({"server_list":[{"server_id":"a","device":[{"rank_id":"0"},{"rank_id":"0"}]}]})",
           R"({"server_list":[{"server_id":"a","device":[{"rank_id":"99999999999"}]}]})"}) {
    EXPECT_FALSE(ParseRankTable(bad).ok()) << bad;
  }
  EXPECT_EQ(LoadRankTable("/nonexistent/table.json").status().code(), hccl::kEOpenFileFailure);
}

TEST(CommReduce, RejectsBadArguments) {
  float a = 1;
  const void* srcs[1] = {&a};
  EXPECT_FALSE(ReduceSum(&a, srcs, 0, 1, DType::kFloat32).ok());
  EXPECT_FALSE(ReduceSum(&a, srcs, 1, 1, DType::kInt4).ok());
  EXPECT_TRUE(ReduceSum(&a, srcs, 1, 0, DType::kInt4).ok());
}

}  // namespace
}  // namespace mc2::comm
