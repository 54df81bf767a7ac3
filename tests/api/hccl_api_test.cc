// HCCL on mc2 (hccl/hccl.h): communicators made by HcclCommInitAll from one thread and used from
// one thread per device, collectives enqueued on streams, names, and argument errors.
#include <cstdio>
#include <cstring>
#include <fstream>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "hccl/hccl.h"

namespace {

constexpr int kRanks = 4;

struct Ranks {
  HcclComm comms[kRanks] = {};
  Ranks() {
    int32_t devices[kRanks] = {0, 1, 2, 3};
    EXPECT_EQ(HcclCommInitAll(kRanks, devices, comms), HCCL_SUCCESS);
  }
  ~Ranks() {
    for (HcclComm c : comms) EXPECT_EQ(HcclCommDestroy(c), HCCL_SUCCESS);
  }
  template <typename Fn>
  void Run(Fn fn) {
    std::vector<std::thread> threads;
    for (int r = 0; r < kRanks; ++r) {
      threads.emplace_back([&, r] {
        ASSERT_EQ(aclrtSetDevice(r), ACL_SUCCESS);
        aclrtStream stream = nullptr;
        ASSERT_EQ(aclrtCreateStream(&stream), ACL_SUCCESS);
        fn(r, comms[r], stream);
        EXPECT_EQ(aclrtDestroyStream(stream), ACL_SUCCESS);
        EXPECT_EQ(aclrtResetDevice(r), ACL_SUCCESS);
      });
    }
    for (auto& t : threads) t.join();
  }
};

TEST(Hccl, NamesRanksAndSizes) {
  Ranks ranks;
  std::set<std::string> names;
  for (int r = 0; r < kRanks; ++r) {
    char name[COMM_NAME_MAX_LENGTH] = {};
    ASSERT_EQ(HcclGetCommName(ranks.comms[r], name), HCCL_SUCCESS);
    names.insert(name);
    uint32_t id = 99, size = 0;
    ASSERT_EQ(HcclGetRankId(ranks.comms[r], &id), HCCL_SUCCESS);
    ASSERT_EQ(HcclGetRankSize(ranks.comms[r], &size), HCCL_SUCCESS);
    EXPECT_EQ(id, static_cast<uint32_t>(r));
    EXPECT_EQ(size, static_cast<uint32_t>(kRanks));
  }
  EXPECT_EQ(names.size(), static_cast<size_t>(kRanks));  // one name per rank, so each resolves to its comm
}

TEST(Hccl, CollectivesOnStreams) {
  Ranks ranks;
  ranks.Run([](int r, HcclComm comm, aclrtStream stream) {
    constexpr int n = 1000;
    std::vector<float> src(n, static_cast<float>(r + 1)), sum(n, 0.f);
    ASSERT_EQ(HcclAllReduce(src.data(), sum.data(), n, HCCL_DATA_TYPE_FP32, HCCL_REDUCE_SUM, comm, stream), HCCL_SUCCESS);
    std::vector<float> mx(n, 0.f);
    ASSERT_EQ(HcclAllReduce(src.data(), mx.data(), n, HCCL_DATA_TYPE_FP32, HCCL_REDUCE_MAX, comm, stream), HCCL_SUCCESS);
    std::vector<int32_t> mine(3, r), gathered(3 * kRanks, -1);
    ASSERT_EQ(HcclAllGather(mine.data(), gathered.data(), 3, HCCL_DATA_TYPE_INT32, comm, stream), HCCL_SUCCESS);
    std::vector<int32_t> blocks(2 * kRanks, r + 1), scattered(2, 0);
    ASSERT_EQ(HcclReduceScatter(blocks.data(), scattered.data(), 2, HCCL_DATA_TYPE_INT32, HCCL_REDUCE_SUM, comm, stream),
              HCCL_SUCCESS);
    std::vector<int64_t> bc(5, r == 2 ? 42 : 0);
    ASSERT_EQ(HcclBroadcast(bc.data(), 5, HCCL_DATA_TYPE_INT64, 2, comm, stream), HCCL_SUCCESS);
    std::vector<int32_t> a2a_src(kRanks), a2a_dst(kRanks, -1);
    for (int p = 0; p < kRanks; ++p) a2a_src[p] = r * 10 + p;
    ASSERT_EQ(HcclAlltoAll(a2a_src.data(), 1, HCCL_DATA_TYPE_INT32, a2a_dst.data(), 1, HCCL_DATA_TYPE_INT32, comm, stream),
              HCCL_SUCCESS);
    // AlltoAllV: rank r sends p+1 elements to rank p.
    std::vector<uint64_t> sc(kRanks), sd(kRanks), rc(kRanks), rd(kRanks);
    uint64_t so = 0, ro = 0;
    for (int p = 0; p < kRanks; ++p) {
      sc[p] = p + 1, sd[p] = so, so += sc[p];
      rc[p] = r + 1, rd[p] = ro, ro += rc[p];
    }
    std::vector<int32_t> v_src(so, r), v_dst(ro, -1);
    ASSERT_EQ(HcclAlltoAllV(v_src.data(), sc.data(), sd.data(), HCCL_DATA_TYPE_INT32, v_dst.data(), rc.data(), rd.data(),
                            HCCL_DATA_TYPE_INT32, comm, stream),
              HCCL_SUCCESS);
    ASSERT_EQ(HcclBarrier(comm, stream), HCCL_SUCCESS);
    ASSERT_EQ(aclrtSynchronizeStreamWithTimeout(stream, 60000), ACL_SUCCESS);
    EXPECT_EQ(sum[0], 10.f);
    EXPECT_EQ(sum[n - 1], 10.f);
    EXPECT_EQ(mx[7], 4.f);
    for (int p = 0; p < kRanks; ++p) EXPECT_EQ(gathered[3 * p + 2], p);
    EXPECT_EQ(scattered[0], 10);
    EXPECT_EQ(scattered[1], 10);
    EXPECT_EQ(bc[4], 42);
    for (int p = 0; p < kRanks; ++p) EXPECT_EQ(a2a_dst[p], p * 10 + r);
    for (int p = 0; p < kRanks; ++p) EXPECT_EQ(v_dst[rd[p]], p);
  });
}

TEST(Hccl, ArgumentErrors) {
  Ranks ranks;
  float x = 1.f, y = 0.f;
  HcclComm c = ranks.comms[0];
  EXPECT_EQ(HcclAllReduce(&x, &y, 1, HCCL_DATA_TYPE_INT16, HCCL_REDUCE_SUM, c, nullptr), HCCL_E_NOT_SUPPORT);
  EXPECT_EQ(HcclAllReduce(&x, &y, 1, static_cast<HcclDataType>(77), HCCL_REDUCE_SUM, c, nullptr), HCCL_E_PARA);
  EXPECT_EQ(HcclAllReduce(&x, &y, 1, HCCL_DATA_TYPE_FP32, static_cast<HcclReduceOp>(9), c, nullptr), HCCL_E_PARA);
  EXPECT_EQ(HcclAllReduce(nullptr, &y, 1, HCCL_DATA_TYPE_FP32, HCCL_REDUCE_SUM, c, nullptr), HCCL_E_PTR);
  EXPECT_EQ(HcclAllReduce(&x, &y, 1, HCCL_DATA_TYPE_FP32, HCCL_REDUCE_SUM, nullptr, nullptr), HCCL_E_PTR);
  EXPECT_EQ(HcclBroadcast(&x, 1, HCCL_DATA_TYPE_FP32, kRanks, c, nullptr), HCCL_E_PARA);
  int bogus = 0;
  EXPECT_EQ(HcclAllReduce(&x, &y, 1, HCCL_DATA_TYPE_FP32, HCCL_REDUCE_SUM, c, &bogus), HCCL_E_PARA);
  int32_t dup[2] = {1, 1};
  HcclComm out[2];
  EXPECT_EQ(HcclCommInitAll(2, dup, out), HCCL_E_PARA);
  EXPECT_EQ(HcclCommInitAll(2, nullptr, out), HCCL_E_PTR);
  char name[COMM_NAME_MAX_LENGTH];
  EXPECT_EQ(HcclGetCommName(&bogus, name), HCCL_E_PTR);
  EXPECT_EQ(HcclCommDestroy(&bogus), HCCL_E_PTR);
}

TEST(Hccl, RootInfoAndClusterInfo) {
  HcclRootInfo root;
  ASSERT_EQ(HcclGetRootInfo(&root), HCCL_SUCCESS);
  HcclComm comms[2] = {};
  std::vector<std::thread> threads;
  for (uint32_t r = 0; r < 2; ++r) {
    threads.emplace_back([&, r] { EXPECT_EQ(HcclCommInitRootInfo(2, &root, r, &comms[r]), HCCL_SUCCESS); });
  }
  for (auto& t : threads) t.join();
  for (HcclComm c : comms) EXPECT_EQ(HcclCommDestroy(c), HCCL_SUCCESS);
  EXPECT_EQ(HcclCommInitRootInfo(2, &root, 2, &comms[0]), HCCL_E_PARA);

  const std::string path = ::testing::TempDir() + "/mc2_rank_table.json";
  std::ofstream(path) << R"({"version": "1.0", "server_count": "1", "status": "completed", "server_list": [
      {"server_id": "host", "device": [{"device_id": "0", "device_ip": "1.1.1.1", "rank_id": "0"},
                                       {"device_id": "1", "device_ip": "1.1.1.2", "rank_id": "1"}]}]})";
  threads.clear();
  for (uint32_t r = 0; r < 2; ++r) {
    threads.emplace_back([&, r] { EXPECT_EQ(HcclCommInitClusterInfo(path.c_str(), r, &comms[r]), HCCL_SUCCESS); });
  }
  for (auto& t : threads) t.join();
  uint32_t size = 0;
  EXPECT_EQ(HcclGetRankSize(comms[1], &size), HCCL_SUCCESS);
  EXPECT_EQ(size, 2u);
  for (HcclComm c : comms) EXPECT_EQ(HcclCommDestroy(c), HCCL_SUCCESS);
  EXPECT_EQ(HcclCommInitClusterInfo(path.c_str(), 5, &comms[0]), HCCL_E_PARA);
  EXPECT_NE(HcclCommInitClusterInfo("/nonexistent/table.json", 0, &comms[0]), HCCL_SUCCESS);
}

}  // namespace
