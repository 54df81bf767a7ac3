// A program that uses only the installed mc2 package — CANN's headers and libraries, nothing from
// mc2's tree — built three ways by tests/package/package_test.sh (find_package(mc2), pkg-config,
// and a CANN build line with -lascendcl -lhccl -lnnopbase -lopapi -latb). Two devices driven by
// two threads, as CANN's examples do:
//   aclInit, aclrtSetDevice, HcclCommInitAll(2); per device a stream, then
//   HcclAllReduce of 4 floats (rank r sends r + 1 + i: the sum is 3 + 2i), and
//   ATB LinearParallel LINEAR_ALL_REDUCE (backend lcoc, hcclComm from HcclCommInitAll) of a
//   (2, 4) fp16 input and a (3, 4) weight (transWeight): out = x_0 W_0^T + x_1 W_1^T.
// Every value is a small integer, exact in fp16, so the expected outputs are computed here exactly.
// Also one aclnn call (null arguments -> ACLNN_ERR_PARAM_NULLPTR) so libopapi's symbols are used.
// Prints PASS and exits 0, or names what failed.
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "acl/acl.h"
#include "aclnnop/aclnn_weight_quant_matmul_all_reduce_add_rms_norm.h"
#include "atb/atb_infer.h"
#include "hccl/hccl.h"

namespace {

constexpr int kRanks = 2;
constexpr int kM = 2, kK = 4, kN = 3;

// IEEE half bits of an integer-valued float of magnitude < 2048 (exact), and back.
uint16_t Half(float v) {
  if (v == 0.0f) return 0;
  const uint16_t sign = v < 0 ? 0x8000 : 0;
  int e = 0;
  const float frac = std::frexp(std::fabs(v), &e);  // v = frac * 2^e, frac in [0.5, 1)
  const auto mant = static_cast<uint16_t>(std::lround((frac * 2.0f - 1.0f) * 1024.0f));
  return static_cast<uint16_t>(sign | ((e - 1 + 15) << 10) | mant);
}
float Float(uint16_t h) {
  const int e = (h >> 10) & 0x1f;
  const float m = static_cast<float>(h & 0x3ff);
  const float v = e == 0 ? std::ldexp(m, -24) : std::ldexp(1.0f + m / 1024.0f, e - 15);
  return (h & 0x8000) != 0 ? -v : v;
}

float X(int r, int i, int j) { return static_cast<float>(r + i + j); }
float W(int r, int n, int k) { return static_cast<float>(n - k + 2 * r); }

atb::Tensor Describe(aclDataType dtype, std::vector<int64_t> dims, void* data, uint64_t bytes) {
  atb::Tensor t;
  t.desc.dtype = dtype;
  t.desc.format = ACL_FORMAT_ND;
  t.desc.shape.dimNum = dims.size();
  for (size_t i = 0; i < dims.size(); ++i) t.desc.shape.dims[i] = dims[i];
  t.deviceData = data;
  t.dataSize = bytes;
  return t;
}

std::string RunRank(int rank, HcclComm comm) {
  if (aclrtSetDevice(rank) != ACL_SUCCESS) return "aclrtSetDevice";
  aclrtStream stream = nullptr;
  if (aclrtCreateStream(&stream) != ACL_SUCCESS) return "aclrtCreateStream";
  std::string err;
  // HcclAllReduce.
  float send[4], recv[4] = {0, 0, 0, 0};
  for (int i = 0; i < 4; ++i) send[i] = static_cast<float>(rank + 1 + i);
  if (HcclAllReduce(send, recv, 4, HCCL_DATA_TYPE_FP32, HCCL_REDUCE_SUM, comm, stream) != HCCL_SUCCESS ||
      aclrtSynchronizeStream(stream) != ACL_SUCCESS) {
    err = std::string("HcclAllReduce: ") + aclGetRecentErrMsg();
  }
  for (int i = 0; i < 4 && err.empty(); ++i) {
    if (recv[i] != static_cast<float>(3 + 2 * i)) err = "HcclAllReduce: element " + std::to_string(i) + " is " +
                                                        std::to_string(recv[i]);
  }
  // ATB LinearParallel.
  std::vector<uint16_t> x(kM * kK), w(kN * kK), out(kM * kN, 0xffff);
  for (int i = 0; i < kM; ++i)
    for (int j = 0; j < kK; ++j) x[i * kK + j] = Half(X(rank, i, j));
  for (int n = 0; n < kN; ++n)
    for (int k = 0; k < kK; ++k) w[n * kK + k] = Half(W(rank, n, k));
  atb::infer::LinearParallelParam param;
  param.backend = "lcoc";
  param.type = atb::infer::LinearParallelParam::LINEAR_ALL_REDUCE;
  param.rank = rank;
  param.rankSize = kRanks;
  param.hcclComm = comm;
  param.commMode = atb::infer::COMM_MULTI_THREAD;
  atb::Context* ctx = nullptr;
  atb::Operation* op = nullptr;
  if (err.empty() && atb::CreateContext(&ctx) != atb::NO_ERROR) err = "atb::CreateContext";
  if (err.empty()) ctx->SetExecuteStream(stream);
  if (err.empty() && atb::CreateOperation(param, &op) != atb::NO_ERROR) err = "atb::CreateOperation";
  atb::VariantPack pack;
  pack.inTensors.push_back(Describe(ACL_FLOAT16, {kM, kK}, x.data(), x.size() * 2));
  pack.inTensors.push_back(Describe(ACL_FLOAT16, {kN, kK}, w.data(), w.size() * 2));
  pack.outTensors.push_back(Describe(ACL_FLOAT16, {kM, kN}, out.data(), out.size() * 2));
  uint64_t ws_size = 0;
  void* ws = nullptr;
  if (err.empty() && op->Setup(pack, ws_size, ctx) != atb::NO_ERROR) err = std::string("Setup: ") + aclGetRecentErrMsg();
  if (err.empty() && ws_size > 0 && aclrtMalloc(&ws, ws_size, ACL_MEM_MALLOC_HUGE_FIRST) != ACL_SUCCESS) err = "aclrtMalloc";
  if (err.empty() && op->Execute(pack, static_cast<uint8_t*>(ws), ws_size, ctx) != atb::NO_ERROR) err = "Execute";
  if (err.empty() && aclrtSynchronizeStream(stream) != ACL_SUCCESS) err = std::string("sync: ") + aclGetRecentErrMsg();
  for (int i = 0; i < kM && err.empty(); ++i) {
    for (int n = 0; n < kN && err.empty(); ++n) {
      float want = 0;
      for (int r = 0; r < kRanks; ++r)
        for (int k = 0; k < kK; ++k) want += X(r, i, k) * W(r, n, k);
      const float got = Float(out[i * kN + n]);
      if (got != want) err = "LinearParallel: out[" + std::to_string(i) + "][" + std::to_string(n) + "] is " +
                             std::to_string(got) + ", want " + std::to_string(want);
    }
  }
  if (ws != nullptr) aclrtFree(ws);
  if (op != nullptr) atb::DestroyOperation(op);
  if (ctx != nullptr) atb::DestroyContext(ctx);
  aclrtDestroyStream(stream);
  return err.empty() ? err : "rank " + std::to_string(rank) + ": " + err;
}

}  // namespace

int main() {
  if (aclInit(nullptr) != ACL_SUCCESS) {
    std::printf("FAIL: aclInit\n");
    return 1;
  }
  int failures = 0;
  uint64_t ws = 0;
  aclOpExecutor* exec = nullptr;
  if (aclnnWeightQuantMatmulAllReduceAddRmsNormGetWorkspaceSize(nullptr, nullptr, nullptr, nullptr, nullptr, nullptr,
                                                               nullptr, 1e-6, "g", "sum", 0, 1, 0, nullptr, nullptr,
                                                               &ws, &exec) != ACLNN_ERR_PARAM_NULLPTR) {
    std::printf("FAIL: aclnn with null tensors did not return ACLNN_ERR_PARAM_NULLPTR\n");
    ++failures;
  }
  int32_t devices[kRanks] = {0, 1};
  HcclComm comms[kRanks] = {nullptr, nullptr};
  if (HcclCommInitAll(kRanks, devices, comms) != HCCL_SUCCESS) {
    std::printf("FAIL: HcclCommInitAll: %s\n", aclGetRecentErrMsg());
    return 1;
  }
  uint32_t size = 0;
  if (HcclGetRankSize(comms[1], &size) != HCCL_SUCCESS || size != kRanks) {
    std::printf("FAIL: HcclGetRankSize\n");
    ++failures;
  }
  std::string errs[kRanks];
  std::vector<std::thread> threads;
  for (int r = 0; r < kRanks; ++r) threads.emplace_back([&, r] { errs[r] = RunRank(r, comms[r]); });
  for (auto& t : threads) t.join();
  for (const std::string& e : errs) {
    if (!e.empty()) {
      std::printf("FAIL: %s\n", e.c_str());
      ++failures;
    }
  }
  for (HcclComm c : comms) HcclCommDestroy(c);
  aclFinalize();
  if (failures == 0) std::printf("PASS\n");
  return failures == 0 ? 0 : 1;
}
