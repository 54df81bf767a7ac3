// Table-driven validation of aclnnAlltoAllAllGatherBatchMatMul: every row of moe_cases.csv
// (columns explained at its top) is one case run on a 2 x 2 grid of thread ranks made the way
// CANN's example makes it (HcclCommInitAll per EP group and per TP group), each rank calling
// GetWorkspaceSize with the same arguments and expecting the row's status, then the row's
// second-phase action. Plus: GetWorkspaceSize reads no tensor data.
#include <sys/mman.h>

#include <cstdint>
#include <cstring>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "csv_cases.h"

#include "acl/acl.h"
#include "aclnnop/aclnn_all_to_all_all_gather_batch_matmul.h"
#include "hccl/hccl.h"

namespace {

using Row = mc2::api_test::CsvRow;
constexpr int kWorld = 4, kTp = 2;

std::vector<Row> LoadCases() { return mc2::api_test::LoadCsvCases("moe_cases.csv"); }

std::vector<int64_t> Shape(const std::string& s) { return mc2::api_test::ParseShape(s); }

aclDataType DType(const std::string& s) {
  static const std::map<std::string, aclDataType> m = {{"fp16", ACL_FLOAT16}, {"bf16", ACL_BF16}, {"fp32", ACL_FLOAT},
                                                       {"int8", ACL_INT8},    {"int16", ACL_INT16}};
  return m.at(s);
}

// One rank's tensors for a row; owns their storage (zeros, outputs NaN-filled).
struct RankTensors {
  std::vector<std::vector<uint8_t>> storage;
  std::map<std::string, aclTensor*> t;

  aclTensor* Make(const std::string& shape, aclDataType dtype, bool transposed = false,
                  aclFormat fmt = ACL_FORMAT_ND, uint8_t fill = 0) {
    if (shape == "-") return nullptr;
    std::vector<int64_t> dims = Shape(shape);
    std::vector<int64_t> strides(dims.size(), 1);
    for (int i = static_cast<int>(dims.size()) - 2; i >= 0; --i) strides[i] = strides[i + 1] * dims[i + 1];
    std::vector<int64_t> storage_dims = dims;
    if (transposed && dims.size() == 3) {  // view (El, H, Ml) of (El, Ml, H) storage
      std::swap(storage_dims[1], storage_dims[2]);
      strides = {dims[1] * dims[2], 1, dims[1]};
    }
    int64_t numel = 1;
    for (int64_t d : dims) numel *= d;
    storage.emplace_back(static_cast<size_t>(numel * 4 + 64), fill);
    return aclCreateTensor(dims.data(), dims.size(), dtype, strides.data(), 0, fmt, storage_dims.data(),
                           storage_dims.size(), storage.back().data());
  }
  ~RankTensors() {
    for (auto& [name, p] : t) aclDestroyTensor(p);
  }
};

// Every 16-bit element of `bytes` bytes is a number (the outputs start as 0xffff, a NaN).
bool AllWritten(const std::vector<uint8_t>& s, size_t bytes) {
  for (size_t i = 0; i + 1 < bytes; i += 2) {
    if (s[i] == 0xff && s[i + 1] == 0xff) return false;
  }
  return true;
}

struct Names {
  char ep[COMM_NAME_MAX_LENGTH];
  char tp[COMM_NAME_MAX_LENGTH];
};

const char* GroupArg(const std::string& how, const char* own, const char* other_kind, const char* next_rank,
                     const std::string& long_name) {
  if (how == "null") return nullptr;
  if (how == "empty") return "";
  if (how == "long") return long_name.c_str();
  if (how == "unknown") return "no-such-group";
  if (how == "same") return other_kind;
  if (how == "other") return next_rank;
  return own;
}

void RunRank(const Row& row, int rank, const std::vector<Names>& names) {
  RankTensors r;
  const aclDataType act = DType(row.at("dtype"));
  std::map<std::string, aclDataType> dtypes = {{"x", act},     {"weight", act}, {"bias", act},
                                               {"y1Out", act}, {"y2", act},     {"y3", act}};
  if (row.at("override") != "-") {
    const std::string& o = row.at("override");
    dtypes[o.substr(0, o.find('='))] = DType(o.substr(o.find('=') + 1));
  }
  const std::string f = row.at("x_format");
  const aclFormat x_fmt = f == "nz" ? ACL_FORMAT_FRACTAL_NZ : f == "nchw" ? ACL_FORMAT_NCHW : ACL_FORMAT_ND;
  r.t["x"] = r.Make(row.at("x"), dtypes["x"], false, x_fmt);
  r.t["weight"] = r.Make(row.at("weight"), dtypes["weight"], row.at("w_trans") == "1");
  r.t["bias"] = r.Make(row.at("bias"), dtypes["bias"]);
  r.t["y1Out"] = r.Make(row.at("y1"), dtypes["y1Out"], false, ACL_FORMAT_ND, 0xff);
  const size_t y1_slot = r.storage.size() - 1;
  r.t["y2"] = r.Make(row.at("y2"), dtypes["y2"], false, ACL_FORMAT_ND, 0xff);
  r.t["y3"] = r.Make(row.at("y3"), dtypes["y3"], false, ACL_FORMAT_ND, 0xff);
  const std::string null = row.at("null");
  auto arg = [&](const char* name) -> aclTensor* { return null == name ? nullptr : r.t[name]; };
  const std::string long_name(128, 'g');
  const int next = (rank + 1) % kWorld;
  const char* group_ep = GroupArg(row.at("group_ep"), names[rank].ep, names[rank].tp, names[next].ep, long_name);
  const char* group_tp = GroupArg(row.at("group_tp"), names[rank].tp, names[rank].ep, names[next].tp, long_name);
  uint64_t ws = 0;
  aclOpExecutor* exec = nullptr;
  const aclnnStatus st = aclnnAlltoAllAllGatherBatchMatMulGetWorkspaceSize(
      arg("x"), arg("weight"), arg("bias"), group_ep, group_tp, std::stoll(row.at("ep")), std::stoll(row.at("tp")),
      std::stoll(row.at("shard")), std::stoll(row.at("act")), arg("y1Out"), arg("y2"), arg("y3"),
      null == "workspaceSize" ? nullptr : &ws, null == "executor" ? nullptr : &exec);
  EXPECT_EQ(st, std::stoi(row.at("expect"))) << row.at("name") << ": " << aclGetRecentErrMsg();
  if (st != ACLNN_SUCCESS) return;
  EXPECT_GT(ws, 0u) << row.at("name");
  const std::string action = row.at("exec");
  std::vector<uint8_t> workspace(ws + 64);
  aclnnStatus exec_st = ACLNN_SUCCESS;
  if (action == "-") {
    EXPECT_EQ(aclDestroyAclOpExecutor(exec), ACLNN_SUCCESS);
    return;
  } else if (action == "run") {
    exec_st = aclnnAlltoAllAllGatherBatchMatMul(workspace.data(), ws, exec, nullptr);
  } else if (action == "stream") {
    aclrtStream stream = nullptr;
    EXPECT_EQ(aclrtCreateStream(&stream), ACL_SUCCESS);
    exec_st = aclnnAlltoAllAllGatherBatchMatMul(workspace.data(), ws, exec, stream);
    EXPECT_EQ(aclrtSynchronizeStreamWithTimeout(stream, 60000), ACL_SUCCESS) << aclGetRecentErrMsg();
    EXPECT_EQ(aclrtDestroyStream(stream), ACL_SUCCESS);
  } else if (action == "small") {
    exec_st = aclnnAlltoAllAllGatherBatchMatMul(workspace.data(), ws - 1, exec, nullptr);
  } else if (action == "nullws") {
    exec_st = aclnnAlltoAllAllGatherBatchMatMul(nullptr, ws, exec, nullptr);
  } else if (action == "twice") {
    EXPECT_EQ(aclnnAlltoAllAllGatherBatchMatMul(workspace.data(), ws, exec, nullptr), ACLNN_SUCCESS);
    exec_st = aclnnAlltoAllAllGatherBatchMatMul(workspace.data(), ws, exec, nullptr);
  } else if (action == "nullexec") {
    exec_st = aclnnAlltoAllAllGatherBatchMatMul(workspace.data(), ws, nullptr, nullptr);
    EXPECT_EQ(aclDestroyAclOpExecutor(exec), ACLNN_SUCCESS);
  }
  EXPECT_EQ(exec_st, std::stoi(row.at("expect_exec"))) << row.at("name") << " (second phase): " << aclGetRecentErrMsg();
  if (exec_st == ACLNN_SUCCESS && (action == "run" || action == "stream")) {
    int64_t y1_numel = 1;
    for (int64_t d : Shape(row.at("y1"))) y1_numel *= d;
    EXPECT_TRUE(AllWritten(r.storage[y1_slot], static_cast<size_t>(y1_numel) * 2)) << row.at("name") << ": y1 not written";
  }
}

// The grid of CANN's example: device d is (p, t) = (d / tp, d % tp); EP groups strided, TP groups
// consecutive, each made by its own HcclCommInitAll. Runs body(rank, names) on one thread per device.
template <typename Body>
void OnGrid(const Body& body) {
  ASSERT_EQ(aclInit(nullptr), ACL_SUCCESS);
  std::vector<HcclComm> ep(kWorld), tp(kWorld);
  for (int t = 0; t < kTp; ++t) {  // EP group of TP rank t: devices {t, t + tp}
    int32_t devs[2] = {t, t + kTp};
    HcclComm made[2];
    ASSERT_EQ(HcclCommInitAll(2, devs, made), HCCL_SUCCESS);
    ep[devs[0]] = made[0];
    ep[devs[1]] = made[1];
  }
  for (int p = 0; p < kWorld / kTp; ++p) {  // TP group of EP rank p: devices {p*tp, p*tp + 1}
    int32_t devs[2] = {p * kTp, p * kTp + 1};
    HcclComm made[2];
    ASSERT_EQ(HcclCommInitAll(2, devs, made), HCCL_SUCCESS);
    tp[devs[0]] = made[0];
    tp[devs[1]] = made[1];
  }
  std::vector<Names> names(kWorld);
  for (int d = 0; d < kWorld; ++d) {
    ASSERT_EQ(HcclGetCommName(ep[d], names[d].ep), HCCL_SUCCESS);
    ASSERT_EQ(HcclGetCommName(tp[d], names[d].tp), HCCL_SUCCESS);
  }
  std::vector<std::thread> threads;
  for (int rank = 0; rank < kWorld; ++rank) {
    threads.emplace_back([&, rank] {
      aclrtSetDevice(rank);
      body(rank, names);
      aclrtResetDevice(rank);
    });
  }
  for (auto& t : threads) t.join();
  for (int d = 0; d < kWorld; ++d) {
    EXPECT_EQ(HcclCommDestroy(ep[d]), HCCL_SUCCESS);
    EXPECT_EQ(HcclCommDestroy(tp[d]), HCCL_SUCCESS);
  }
  aclFinalize();
}

class MoeCases : public ::testing::TestWithParam<Row> {};

TEST_P(MoeCases, Status) {
  const Row& row = GetParam();
  OnGrid([&](int rank, const std::vector<Names>& names) { RunRank(row, rank, names); });
}

INSTANTIATE_TEST_SUITE_P(Csv, MoeCases, ::testing::ValuesIn(LoadCases()),
                         [](const ::testing::TestParamInfo<Row>& info) { return info.param.at("name"); });

// GetWorkspaceSize looks at shapes only: every tensor's data is memory that faults on any access.
TEST(MoeApi, GetWorkspaceSizeReadsNoTensorData) {
  const size_t bytes = 1 << 16;
  void* guard = mmap(nullptr, bytes, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  ASSERT_NE(guard, MAP_FAILED);
  OnGrid([&](int rank, const std::vector<Names>& names) {
    auto make = [&](std::vector<int64_t> dims, aclDataType dt) {
      std::vector<int64_t> strides(dims.size(), 1);
      for (int i = static_cast<int>(dims.size()) - 2; i >= 0; --i) strides[i] = strides[i + 1] * dims[i + 1];
      return aclCreateTensor(dims.data(), dims.size(), dt, strides.data(), 0, ACL_FORMAT_ND, dims.data(), dims.size(),
                             guard);
    };
    aclTensor* x = make({4, 3, 8}, ACL_FLOAT16);
    aclTensor* w = make({2, 16, 6}, ACL_FLOAT16);
    aclTensor* bias = make({2, 1, 6}, ACL_FLOAT16);
    aclTensor* y1 = make({2, 6, 6}, ACL_FLOAT16);
    aclTensor* y2 = make({2, 6, 16}, ACL_FLOAT16);
    aclTensor* y3 = make({2, 6, 6}, ACL_FLOAT16);
    uint64_t ws = 0;
    aclOpExecutor* exec = nullptr;
    EXPECT_EQ(aclnnAlltoAllAllGatherBatchMatMulGetWorkspaceSize(x, w, bias, names[rank].ep, names[rank].tp, 2, 2, 0, 1,
                                                                y1, y2, y3, &ws, &exec),
              ACLNN_SUCCESS)
        << aclGetRecentErrMsg();
    EXPECT_EQ(aclDestroyAclOpExecutor(exec), ACLNN_SUCCESS);
    for (aclTensor* t : {x, w, bias, y1, y2, y3}) aclDestroyTensor(t);
  });
  munmap(guard, bytes);
}

}  // namespace
