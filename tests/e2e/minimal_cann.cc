// Minimal CANN-style program (README): aclnnWeightQuantMatmulAllReduceAddRmsNorm on 2 devices
// (rank slots of this process), one thread per device, as CANN's documentation runs it.
#include <cstdio>
#include <thread>
#include <vector>

#include "acl/acl.h"
#include "aclnnop/aclnn_weight_quant_matmul_all_reduce_add_rms_norm.h"
#include "hccl/hccl.h"

constexpr int kDevices = 2;
constexpr int64_t kM = 4, kK = 64, kN = 32;  // x1 (1, m, k) fp16 per rank, x2 (k, n) int8

// A device tensor of `shape` (contiguous) filled with `bytes` of host data.
aclTensor* DeviceTensor(const std::vector<int64_t>& shape, aclDataType dtype, const void* host, size_t bytes,
                        void** dev) {
  std::vector<int64_t> strides(shape.size(), 1);
  for (int i = static_cast<int>(shape.size()) - 2; i >= 0; --i) strides[i] = shape[i + 1] * strides[i + 1];
  if (aclrtMalloc(dev, bytes, ACL_MEM_MALLOC_HUGE_FIRST) != ACL_SUCCESS) return nullptr;
  aclrtMemcpy(*dev, bytes, host, bytes, ACL_MEMCPY_HOST_TO_DEVICE);
  return aclCreateTensor(shape.data(), shape.size(), dtype, strides.data(), 0, ACL_FORMAT_ND, shape.data(),
                         shape.size(), *dev);
}

int main() {
  const uint16_t kHalfOne = 0x3C00, kHalfZero = 0, kHalfScale = 0x2000;  // fp16 1.0, 0.0, 2^-7
  std::vector<uint16_t> x1(kM * kK, kHalfOne), residual(kM * kN, kHalfZero), gamma(kN, kHalfOne);
  std::vector<uint16_t> scale(kN, kHalfScale), y(kM * kN), norm(kM * kN);
  std::vector<int8_t> x2(kK * kN, 2);
  int32_t devices[kDevices] = {0, 1};
  HcclComm comms[kDevices];
  if (aclInit(nullptr) != ACL_SUCCESS || HcclCommInitAll(kDevices, devices, comms) != HCCL_SUCCESS) return 1;
  std::vector<std::vector<uint16_t>> y_host(kDevices, y);
  std::vector<int> ok(kDevices, 0);
  std::vector<std::thread> threads;
  for (int d = 0; d < kDevices; ++d) {
    threads.emplace_back([&, d] {
      aclrtStream stream;
      char group[128] = {};
      if (aclrtSetDevice(d) != ACL_SUCCESS || aclrtCreateStream(&stream) != ACL_SUCCESS ||
          HcclGetCommName(comms[d], group) != HCCL_SUCCESS) {
        return;
      }
      void *p1, *p2, *ps, *pr, *pg, *py, *pn;
      aclTensor* t_x1 = DeviceTensor({1, kM, kK}, ACL_FLOAT16, x1.data(), x1.size() * 2, &p1);
      aclTensor* t_x2 = DeviceTensor({kK, kN}, ACL_INT8, x2.data(), x2.size(), &p2);
      aclTensor* t_scale = DeviceTensor({kN}, ACL_FLOAT16, scale.data(), scale.size() * 2, &ps);
      aclTensor* t_res = DeviceTensor({1, kM, kN}, ACL_FLOAT16, residual.data(), residual.size() * 2, &pr);
      aclTensor* t_gamma = DeviceTensor({kN}, ACL_FLOAT16, gamma.data(), gamma.size() * 2, &pg);
      aclTensor* t_y = DeviceTensor({1, kM, kN}, ACL_FLOAT16, y.data(), y.size() * 2, &py);
      aclTensor* t_norm = DeviceTensor({1, kM, kN}, ACL_FLOAT16, norm.data(), norm.size() * 2, &pn);
      uint64_t workspace_size = 0;
      aclOpExecutor* executor = nullptr;
      if (aclnnWeightQuantMatmulAllReduceAddRmsNormGetWorkspaceSize(
              t_x1, t_x2, nullptr, t_scale, nullptr, t_res, t_gamma, 1e-6, group, "sum", 0, 1, 0, t_y, t_norm,
              &workspace_size, &executor) != ACLNN_SUCCESS) {
        std::printf("device %d: %s\n", d, aclGetRecentErrMsg());
        return;
      }
      void* workspace = nullptr;
      if (workspace_size > 0) aclrtMalloc(&workspace, workspace_size, ACL_MEM_MALLOC_HUGE_FIRST);
      if (aclnnWeightQuantMatmulAllReduceAddRmsNorm(workspace, workspace_size, executor, stream) != ACLNN_SUCCESS ||
          aclrtSynchronizeStream(stream) != ACL_SUCCESS) {
        return;
      }
      aclrtMemcpy(y_host[d].data(), y.size() * 2, py, y.size() * 2, ACL_MEMCPY_DEVICE_TO_HOST);
      for (aclTensor* t : {t_x1, t_x2, t_scale, t_res, t_gamma, t_y, t_norm}) aclDestroyTensor(t);
      for (void* p : {p1, p2, ps, pr, pg, py, pn, workspace}) aclrtFree(p);
      aclrtDestroyStream(stream);
      ok[d] = 1;
    });
  }
  for (auto& t : threads) t.join();
  // Each rank's product is 64 * (1 * 2 * 2^-7) = 1.0 per element; summed over 2 ranks, y = 2.0 (fp16 0x4000).
  bool pass = true;
  for (int d = 0; d < kDevices; ++d) {
    pass = pass && ok[d];
    for (uint16_t v : y_host[d]) pass = pass && v == 0x4000;
  }
  for (int d = 0; d < kDevices; ++d) HcclCommDestroy(comms[d]);
  aclFinalize();
  std::printf("%s\n", pass ? "PASS" : "FAIL");
  return pass ? 0 : 1;
}
