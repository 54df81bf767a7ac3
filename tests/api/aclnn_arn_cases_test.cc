// Table-driven validation of aclnnWeightQuantMatmulAllReduceAddRmsNorm: every row of arn_cases.csv
// (columns explained at its top) is one case run on `world` thread ranks of one HcclCommInitAll,
// each rank calling GetWorkspaceSize with the same arguments and expecting the row's status, then
// the row's second-phase action.
#include <cstdint>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "csv_cases.h"

#include "aclnnop/aclnn_weight_quant_matmul_all_reduce_add_rms_norm.h"
#include "hccl/hccl.h"

namespace {

using Row = mc2::api_test::CsvRow;

std::vector<Row> LoadCases() { return mc2::api_test::LoadCsvCases("arn_cases.csv"); }

std::vector<int64_t> Shape(const std::string& s) { return mc2::api_test::ParseShape(s); }

aclDataType DType(const std::string& s) {
  static const std::map<std::string, aclDataType> m = {
      {"fp16", ACL_FLOAT16}, {"bf16", ACL_BF16}, {"fp32", ACL_FLOAT}, {"int8", ACL_INT8},
      {"int4", ACL_INT4},    {"uint8", ACL_UINT8}, {"int16", ACL_INT16}};
  return m.at(s);
}

// One rank's tensors for a row; owns their storage.
struct RankTensors {
  std::vector<std::vector<uint8_t>> storage;
  std::map<std::string, aclTensor*> t;

  aclTensor* Make(const std::string& shape, aclDataType dtype, bool transposed = false, aclFormat fmt = ACL_FORMAT_ND) {
    if (shape == "-") return nullptr;
    std::vector<int64_t> dims = Shape(shape);
    std::vector<int64_t> strides(dims.size(), 1);
    for (int i = static_cast<int>(dims.size()) - 2; i >= 0; --i) strides[i] = strides[i + 1] * dims[i + 1];
    std::vector<int64_t> storage_dims = dims;
    if (transposed) {  // view (k, n) of (n, k) storage
      std::swap(storage_dims[0], storage_dims[1]);
      strides = {1, dims[0]};
    }
    int64_t numel = 1;
    for (int64_t d : dims) numel *= d;
    storage.emplace_back(static_cast<size_t>(numel * 4 + 64), 0);
    return aclCreateTensor(dims.data(), dims.size(), dtype, strides.data(), 0, fmt, storage_dims.data(),
                           storage_dims.size(), storage.back().data());
  }
  ~RankTensors() {
    for (auto& [name, p] : t) aclDestroyTensor(p);
  }
};

aclnnStatus RunRank(const Row& row, const char* group_name) {
  RankTensors r;
  const aclDataType act = DType(row.at("dtype"));
  std::map<std::string, aclDataType> dtypes = {{"x1", act},       {"bias", act},     {"antiquantScale", act},
                                               {"antiquantOffset", act}, {"residual", act}, {"gamma", act},
                                               {"y", act},        {"normOut", act}};
  if (row.at("override") != "-") {
    const std::string& o = row.at("override");
    dtypes[o.substr(0, o.find('='))] = DType(o.substr(o.find('=') + 1));
  }
  const std::string f = row.at("x2_format");
  const aclFormat x2_fmt = f == "nz" ? ACL_FORMAT_FRACTAL_NZ : f == "nchw" ? ACL_FORMAT_NCHW : ACL_FORMAT_ND;
  r.t["x1"] = r.Make(row.at("x1"), dtypes["x1"]);
  r.t["x2"] = r.Make(row.at("x2"), DType(row.at("x2_dtype")), row.at("x2_trans") == "1", x2_fmt);
  r.t["antiquantScale"] = r.Make(row.at("scale"), dtypes["antiquantScale"]);
  r.t["antiquantOffset"] = r.Make(row.at("offset"), dtypes["antiquantOffset"]);
  r.t["bias"] = r.Make(row.at("bias"), dtypes["bias"]);
  r.t["residual"] = r.Make(row.at("residual"), dtypes["residual"]);
  r.t["gamma"] = r.Make(row.at("gamma"), dtypes["gamma"]);
  r.t["y"] = r.Make(row.at("y"), dtypes["y"]);
  r.t["normOut"] = r.Make(row.at("norm_out"), dtypes["normOut"]);
  const std::string null = row.at("null");
  auto arg = [&](const char* name) -> const aclTensor* { return null == name ? nullptr : r.t[name]; };
  const std::string g = row.at("group");
  const char* group = g == "null" ? nullptr : g == "unknown" ? "no-such-group" : group_name;
  uint64_t ws = 0;
  aclOpExecutor* exec = nullptr;
  const aclnnStatus st = aclnnWeightQuantMatmulAllReduceAddRmsNormGetWorkspaceSize(
      arg("x1"), arg("x2"), arg("bias"), arg("antiquantScale"), arg("antiquantOffset"), arg("residual"), arg("gamma"),
      std::stod(row.at("epsilon")), group, row.at("reduce_op").c_str(), std::stoll(row.at("comm_turn")),
      std::stoll(row.at("stream_mode")), std::stoll(row.at("group_size")), arg("y"), arg("normOut"),
      null == "workspaceSize" ? nullptr : &ws, null == "executor" ? nullptr : &exec);
  EXPECT_EQ(st, std::stoi(row.at("expect"))) << row.at("name") << ": " << aclGetRecentErrMsg();
  if (st != ACLNN_SUCCESS) return st;
  const std::string action = row.at("exec");
  std::vector<uint8_t> workspace(ws + 64);
  aclnnStatus exec_st = ACLNN_SUCCESS;
  if (action == "-") {
    EXPECT_EQ(aclDestroyAclOpExecutor(exec), ACLNN_SUCCESS);
    return st;
  } else if (action == "run") {
    exec_st = aclnnWeightQuantMatmulAllReduceAddRmsNorm(workspace.data(), ws, exec, nullptr);
  } else if (action == "small") {
    exec_st = aclnnWeightQuantMatmulAllReduceAddRmsNorm(workspace.data(), ws - 1, exec, nullptr);
  } else if (action == "twice") {
    EXPECT_EQ(aclnnWeightQuantMatmulAllReduceAddRmsNorm(workspace.data(), ws, exec, nullptr), ACLNN_SUCCESS);
    exec_st = aclnnWeightQuantMatmulAllReduceAddRmsNorm(workspace.data(), ws, exec, nullptr);
  } else if (action == "nullexec") {
    exec_st = aclnnWeightQuantMatmulAllReduceAddRmsNorm(workspace.data(), ws, nullptr, nullptr);
    EXPECT_EQ(aclDestroyAclOpExecutor(exec), ACLNN_SUCCESS);
  }
  EXPECT_EQ(exec_st, std::stoi(row.at("expect_exec"))) << row.at("name") << " (second phase): " << aclGetRecentErrMsg();
  return st;
}

class ArnCases : public ::testing::TestWithParam<Row> {};

TEST_P(ArnCases, Status) {
  const Row& row = GetParam();
  const int world = std::stoi(row.at("world"));
  std::vector<int32_t> devices(world);
  for (int i = 0; i < world; ++i) devices[i] = i;
  std::vector<HcclComm> comms(world);
  ASSERT_EQ(HcclCommInitAll(world, devices.data(), comms.data()), HCCL_SUCCESS);
  std::vector<std::thread> threads;
  for (int rank = 0; rank < world; ++rank) {
    threads.emplace_back([&, rank] {
      aclrtSetDevice(rank);
      char name[COMM_NAME_MAX_LENGTH];
      ASSERT_EQ(HcclGetCommName(comms[rank], name), HCCL_SUCCESS);
      RunRank(row, name);
      aclrtResetDevice(rank);
    });
  }
  for (auto& t : threads) t.join();
  for (HcclComm c : comms) HcclCommDestroy(c);
}

INSTANTIATE_TEST_SUITE_P(Csv, ArnCases, ::testing::ValuesIn(LoadCases()),
                         [](const ::testing::TestParamInfo<Row>& info) { return info.param.at("name"); });

}  // namespace
