// aclnnWeightQuantMatmulAllReduceAddRmsNorm the way CANN's documentation runs it: one process,
// aclInit, every device set up from main (SetDevice, CreateContext, CreateStream), HcclCommInitAll,
// then one std::thread per device that makes its tensors (aclrtMalloc + aclrtMemcpy + aclCreateTensor),
// asks for the workspace, runs the operator and synchronizes with a 10 s timeout. On mc2 the
// "devices" are rank slots of this process. Each rank's outputs are checked against mc2's golden
// model (src/reference) with the rule of CANN's own test (torch.allclose, rtol = atol = 0.005).
//
// Usage: arn_threads [int8|int4] [inplace]   (default int8 per-channel; int4 uses per-group scales)
#include <cstdio>
#include <cstring>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "acl/acl.h"
#include "aclnnop/aclnn_inplace_weight_quant_matmul_all_reduce_add_rms_norm.h"
#include "aclnnop/aclnn_weight_quant_matmul_all_reduce_add_rms_norm.h"
#include "hccl/hccl.h"
#include "reference/accuracy.h"
#include "reference/arn.h"

#define CHECK_RET(cond, msg)                                   \
  do {                                                         \
    if (!(cond)) {                                             \
      std::printf("%s failed: %s\n", msg, aclGetRecentErrMsg()); \
      return false;                                            \
    }                                                          \
  } while (0)

namespace {

constexpr int kDevices = 4;
constexpr int64_t kB = 1, kS = 16, kK = 256, kN = 128, kGroup = 64;

struct Options {
  bool int4 = false;
  bool inplace = false;
};

// One rank's host data, kept for the golden model.
struct HostData {
  mc2::HostTensor x1, x2, scale, offset, bias, residual, gamma;
};

HostData MakeData(int rank, const Options& o) {
  std::mt19937 rng(1234 + rank);
  std::uniform_real_distribution<double> u(-1, 1), s(0.001, 0.011);
  const int64_t groups = o.int4 ? kK / kGroup : 1;
  HostData d{mc2::HostTensor(mc2::DType::kFloat16, {kB, kS, kK}),
             mc2::HostTensor(o.int4 ? mc2::DType::kInt4 : mc2::DType::kInt8, {kK, kN}),
             mc2::HostTensor(mc2::DType::kFloat16, {groups, kN}),
             mc2::HostTensor(mc2::DType::kFloat16, {groups, kN}),
             mc2::HostTensor(mc2::DType::kFloat16, {kN}),
             mc2::HostTensor(mc2::DType::kFloat16, {kB, kS, kN}),
             mc2::HostTensor(mc2::DType::kFloat16, {kN})};
  const int wmax = o.int4 ? 7 : 127;
  std::uniform_int_distribution<int> w(-wmax - 1, wmax);
  for (int64_t i = 0; i < d.x1.numel(); ++i) d.x1.set(i, u(rng));
  for (int64_t i = 0; i < d.x2.numel(); ++i) d.x2.set(i, w(rng));
  for (int64_t i = 0; i < d.scale.numel(); ++i) d.scale.set(i, s(rng));
  for (int64_t i = 0; i < d.offset.numel(); ++i) d.offset.set(i, u(rng));
  for (int64_t i = 0; i < d.bias.numel(); ++i) d.bias.set(i, rank == 0 ? u(rng) : 0.0);
  for (int64_t i = 0; i < d.residual.numel(); ++i) d.residual.set(i, u(rng));
  for (int64_t i = 0; i < d.gamma.numel(); ++i) d.gamma.set(i, 1.0 + 0.1 * u(rng));
  return d;
}

// aclrtMalloc + H2D copy + aclCreateTensor with row-major strides, as CANN's examples do.
bool CreateAclTensor(const mc2::HostTensor& host, aclDataType dtype, void** dev, aclTensor** tensor) {
  const std::vector<int64_t> shape(host.dims().begin(), host.dims().end());
  std::vector<int64_t> strides(shape.size(), 1);
  for (int i = static_cast<int>(shape.size()) - 2; i >= 0; --i) strides[i] = shape[i + 1] * strides[i + 1];
  CHECK_RET(aclrtMalloc(dev, host.bytes(), ACL_MEM_MALLOC_HUGE_FIRST) == ACL_SUCCESS, "aclrtMalloc");
  CHECK_RET(aclrtMemcpy(*dev, host.bytes(), host.data(), host.bytes(), ACL_MEMCPY_HOST_TO_DEVICE) == ACL_SUCCESS,
            "aclrtMemcpy");
  *tensor = aclCreateTensor(shape.data(), shape.size(), dtype, strides.data(), 0, ACL_FORMAT_ND, shape.data(),
                            shape.size(), *dev);
  return *tensor != nullptr;
}

struct RankResult {
  mc2::HostTensor y, norm_out;
  bool ok = false;
};

bool RunRank(int device, aclrtContext context, aclrtStream stream, HcclComm comm, const HostData& d,
             const Options& o, RankResult* out) {
  CHECK_RET(aclrtSetCurrentContext(context) == ACL_SUCCESS, "aclrtSetCurrentContext");
  char group[128] = {};
  CHECK_RET(HcclGetCommName(comm, group) == HCCL_SUCCESS, "HcclGetCommName");

  const aclDataType wtype = o.int4 ? ACL_INT4 : ACL_INT8;
  void *x1_d, *x2_d, *scale_d, *offset_d, *bias_d, *residual_d, *gamma_d, *y_d, *norm_d;
  aclTensor *x1, *x2, *scale, *offset, *bias = nullptr, *residual, *gamma, *y = nullptr, *norm;
  mc2::HostTensor zeros(mc2::DType::kFloat16, {kB, kS, kN});
  CHECK_RET(CreateAclTensor(d.x1, ACL_FLOAT16, &x1_d, &x1), "x1");
  CHECK_RET(CreateAclTensor(d.x2, wtype, &x2_d, &x2), "x2");
  CHECK_RET(CreateAclTensor(d.scale, ACL_FLOAT16, &scale_d, &scale), "antiquantScale");
  CHECK_RET(CreateAclTensor(d.offset, ACL_FLOAT16, &offset_d, &offset), "antiquantOffset");
  CHECK_RET(CreateAclTensor(d.bias, ACL_FLOAT16, &bias_d, &bias), "bias");
  CHECK_RET(CreateAclTensor(d.residual, ACL_FLOAT16, &residual_d, &residual), "residual");
  CHECK_RET(CreateAclTensor(d.gamma, ACL_FLOAT16, &gamma_d, &gamma), "gamma");
  CHECK_RET(CreateAclTensor(zeros, ACL_FLOAT16, &norm_d, &norm), "normOut");
  if (!o.inplace) CHECK_RET(CreateAclTensor(zeros, ACL_FLOAT16, &y_d, &y), "y");

  const int64_t group_size = o.int4 ? kGroup : 0;
  uint64_t workspace_size = 0;
  aclOpExecutor* executor = nullptr;
  aclnnStatus ret;
  if (o.inplace) {
    ret = aclnnInplaceWeightQuantMatmulAllReduceAddRmsNormGetWorkspaceSize(
        x1, x2, bias, scale, offset, residual, gamma, 1e-6, group, "sum", 0, 1, group_size, norm, &workspace_size,
        &executor);
  } else {
    ret = aclnnWeightQuantMatmulAllReduceAddRmsNormGetWorkspaceSize(x1, x2, bias, scale, offset, residual, gamma, 1e-6,
                                                                   group, "sum", 0, 1, group_size, y, norm,
                                                                   &workspace_size, &executor);
  }
  CHECK_RET(ret == ACLNN_SUCCESS, "GetWorkspaceSize");
  void* workspace = nullptr;
  if (workspace_size > 0) {
    CHECK_RET(aclrtMalloc(&workspace, workspace_size, ACL_MEM_MALLOC_HUGE_FIRST) == ACL_SUCCESS, "workspace");
  }
  ret = o.inplace ? aclnnInplaceWeightQuantMatmulAllReduceAddRmsNorm(workspace, workspace_size, executor, stream)
                  : aclnnWeightQuantMatmulAllReduceAddRmsNorm(workspace, workspace_size, executor, stream);
  CHECK_RET(ret == ACLNN_SUCCESS, "aclnnWeightQuantMatmulAllReduceAddRmsNorm");
  CHECK_RET(aclrtSynchronizeStreamWithTimeout(stream, 10000) == ACL_SUCCESS, "aclrtSynchronizeStreamWithTimeout");

  out->y = mc2::HostTensor(mc2::DType::kFloat16, {kB, kS, kN});
  out->norm_out = mc2::HostTensor(mc2::DType::kFloat16, {kB, kS, kN});
  CHECK_RET(aclrtMemcpy(out->y.data(), out->y.bytes(), o.inplace ? residual_d : y_d, out->y.bytes(),
                        ACL_MEMCPY_DEVICE_TO_HOST) == ACL_SUCCESS, "copy y");
  CHECK_RET(aclrtMemcpy(out->norm_out.data(), out->norm_out.bytes(), norm_d, out->norm_out.bytes(),
                        ACL_MEMCPY_DEVICE_TO_HOST) == ACL_SUCCESS, "copy normOut");

  for (aclTensor* t : {x1, x2, scale, offset, bias, residual, gamma, norm}) aclDestroyTensor(t);
  for (void* p : {x1_d, x2_d, scale_d, offset_d, bias_d, residual_d, gamma_d, norm_d}) aclrtFree(p);
  if (!o.inplace) {
    aclDestroyTensor(y);
    aclrtFree(y_d);
  }
  if (workspace != nullptr) aclrtFree(workspace);
  (void)device;
  out->ok = true;
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "int4") == 0) o.int4 = true;
    if (std::strcmp(argv[i], "inplace") == 0) o.inplace = true;
  }
  if (aclInit(nullptr) != ACL_SUCCESS) return 1;
  int32_t devices[kDevices];
  aclrtContext contexts[kDevices];
  aclrtStream streams[kDevices];
  HcclComm comms[kDevices];
  for (int i = 0; i < kDevices; ++i) {
    devices[i] = i;
    if (aclrtSetDevice(i) != ACL_SUCCESS) return 1;
  }
  if (HcclCommInitAll(kDevices, devices, comms) != HCCL_SUCCESS) return 1;
  for (int i = 0; i < kDevices; ++i) {
    if (aclrtSetDevice(i) != ACL_SUCCESS || aclrtCreateContext(&contexts[i], i) != ACL_SUCCESS ||
        aclrtCreateStream(&streams[i]) != ACL_SUCCESS) {
      return 1;
    }
  }
  std::vector<HostData> data;
  for (int i = 0; i < kDevices; ++i) data.push_back(MakeData(i, o));
  std::vector<RankResult> results(kDevices);
  std::vector<std::thread> threads;
  for (int i = 0; i < kDevices; ++i) {
    threads.emplace_back([&, i] { RunRank(i, contexts[i], streams[i], comms[i], data[i], o, &results[i]); });
  }
  for (auto& t : threads) t.join();

  // The golden model, all ranks at once.
  std::vector<mc2::ArnInputs> inputs(kDevices);
  for (int i = 0; i < kDevices; ++i) {
    inputs[i].x1 = data[i].x1.view();
    inputs[i].x2 = data[i].x2.view();
    inputs[i].antiquant_scale = data[i].scale.view();
    inputs[i].antiquant_offset = data[i].offset.view();
    inputs[i].bias = data[i].bias.view();
    inputs[i].residual = data[i].residual.view();
    inputs[i].gamma = data[i].gamma.view();
  }
  mc2::ArnAttrs attrs;
  attrs.antiquant_group_size = o.int4 ? kGroup : 0;
  auto golden = mc2::reference::WeightQuantMatmulAllReduceAddRmsNorm(inputs, attrs, mc2::reference::Mode::kCann);
  bool pass = golden.ok();
  for (int i = 0; i < kDevices && pass; ++i) {
    pass = results[i].ok;
    if (!pass) break;
    auto ry = mc2::reference::AllClose(results[i].y, (*golden)[i].y, 0.005, 0.005);
    auto rn = mc2::reference::AllClose(results[i].norm_out, (*golden)[i].norm_out, 0.005, 0.005);
    if (!ry.pass || !rn.pass) std::printf("rank %d: y %s\n  normOut %s\n", i, ry.ToString().c_str(), rn.ToString().c_str());
    pass = ry.pass && rn.pass;
  }
  for (int i = 0; i < kDevices; ++i) {
    aclrtDestroyStream(streams[i]);
    HcclCommDestroy(comms[i]);
    aclrtDestroyContext(contexts[i]);
    aclrtResetDevice(i);
  }
  aclFinalize();
  std::printf("arn_threads %s%s: %s\n", o.int4 ? "int4 per-group" : "int8 per-channel", o.inplace ? " inplace" : "",
              pass ? "PASS" : "FAIL");
  return pass ? 0 : 1;
}
