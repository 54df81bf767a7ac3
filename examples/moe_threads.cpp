// aclnnAlltoAllAllGatherBatchMatMul the way CANN's example runs it: one process, aclInit, every
// device set (8 devices, ep = 4, tp = 2), two communicators per device made by one HcclCommInitAll
// per group: EP groups strided {0,2,4,6}, {1,3,5,7}, TP groups consecutive {0,1}, {2,3}, ... (so
// device d is EP rank d / tp, TP rank d % tp); then per device a context and a stream, and one
// std::thread per device that makes its tensors (aclrtMalloc + aclrtMemcpy + aclCreateTensor), asks
// for the workspace with both group names (HcclGetCommName), runs the operator and synchronizes
// with a 10 s timeout. On mc2 the "devices" are rank slots of this process. Each rank's y1, y2 and
// y3 are checked against mc2's golden model (src/reference) with the rule of CANN's own test
// (allclose, rtol = atol = 0.001 for fp16, 0.005 for bf16).
//
// Usage: moe_threads [fp16|bf16] [h|c] [transposed]
//   fp16 h (default): xShardType 0 (gather along H), GELU, fp16 bias;
//   bf16 c: xShardType 1 (gather along C), SiLU, fp32 bias (what CANN requires for bf16).
#include <cstdio>
#include <cstring>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "acl/acl.h"
#include "aclnnop/aclnn_all_to_all_all_gather_batch_matmul.h"
#include "hccl/hccl.h"
#include "reference/accuracy.h"
#include "reference/moe.h"

#define CHECK_RET(cond, msg)                                     \
  do {                                                           \
    if (!(cond)) {                                               \
      std::printf("%s failed: %s\n", msg, aclGetRecentErrMsg()); \
      return false;                                              \
    }                                                            \
  } while (0)

namespace {

constexpr int kDevices = 8;
constexpr int64_t kEp = 4, kTp = 2;
constexpr int64_t kE = 8, kC = 4, kH = 64, kM = 32;  // experts, capacity, hidden, output (M/tp = 16 per rank)

struct Options {
  bool bf16 = false;
  int64_t shard = 0;
  bool transposed = false;
  mc2::DType dt() const { return bf16 ? mc2::DType::kBFloat16 : mc2::DType::kFloat16; }
  aclDataType acl_dt() const { return bf16 ? ACL_BF16 : ACL_FLOAT16; }
  int64_t act() const { return bf16 ? 2 : 1; }  // SiLU / GELU
  int64_t rows() const { return shard == 0 ? kEp * kC : kEp * kTp * (kC / kTp); }
};

// One rank's host data, kept for the golden model. w_storage is (El, H, M/tp), or (El, M/tp, H)
// when the weight is passed as a transposed view.
struct HostData {
  mc2::HostTensor x, w_storage, bias;
};

HostData MakeData(int device, const Options& o) {
  std::mt19937 rng(4321 + device);
  std::uniform_real_distribution<double> u01(0, 1), w(-0.1, 0.1);
  const int64_t el = kE / kEp, ml = kM / kTp;
  const mc2::Dims x_dims = o.shard == 0 ? mc2::Dims{kE, kC, kH / kTp} : mc2::Dims{kE, kC / kTp, kH};
  const mc2::Dims w_dims = o.transposed ? mc2::Dims{el, ml, kH} : mc2::Dims{el, kH, ml};
  HostData d{mc2::HostTensor(o.dt(), x_dims), mc2::HostTensor(o.dt(), w_dims),
             mc2::HostTensor(o.bf16 ? mc2::DType::kFloat32 : mc2::DType::kFloat16, {el, ml})};
  for (int64_t i = 0; i < d.x.numel(); ++i) d.x.set(i, u01(rng));
  for (int64_t i = 0; i < d.w_storage.numel(); ++i) d.w_storage.set(i, w(rng));
  for (int64_t i = 0; i < d.bias.numel(); ++i) d.bias.set(i, w(rng));
  return d;
}

// Row-major strides of `dims`.
std::vector<int64_t> Strides(const std::vector<int64_t>& dims) {
  std::vector<int64_t> s(dims.size(), 1);
  for (int i = static_cast<int>(dims.size()) - 2; i >= 0; --i) s[i] = dims[i + 1] * s[i + 1];
  return s;
}

// aclrtMalloc + H2D copy + aclCreateTensor, as CANN's examples do. `transposed`: the view swaps
// the last two dims of the storage (what CANN's IsTransposeLastTwoDims detects).
bool CreateAclTensor(const mc2::HostTensor& host, aclDataType dtype, void** dev, aclTensor** tensor,
                     bool transposed = false) {
  const std::vector<int64_t> storage(host.dims().begin(), host.dims().end());
  std::vector<int64_t> view = storage, strides = Strides(storage);
  if (transposed) {
    std::swap(view[1], view[2]);
    std::swap(strides[1], strides[2]);
  }
  CHECK_RET(aclrtMalloc(dev, host.bytes(), ACL_MEM_MALLOC_HUGE_FIRST) == ACL_SUCCESS, "aclrtMalloc");
  CHECK_RET(aclrtMemcpy(*dev, host.bytes(), host.data(), host.bytes(), ACL_MEMCPY_HOST_TO_DEVICE) == ACL_SUCCESS,
            "aclrtMemcpy");
  *tensor = aclCreateTensor(view.data(), view.size(), dtype, strides.data(), 0, ACL_FORMAT_ND, storage.data(),
                            storage.size(), *dev);
  return *tensor != nullptr;
}

struct RankResult {
  mc2::HostTensor y1, y2, y3;
  bool ok = false;
};

bool RunRank(aclrtContext context, aclrtStream stream, HcclComm ep_comm, HcclComm tp_comm, const HostData& d,
             const Options& o, RankResult* out) {
  CHECK_RET(aclrtSetCurrentContext(context) == ACL_SUCCESS, "aclrtSetCurrentContext");
  char group_ep[128] = {}, group_tp[128] = {};
  CHECK_RET(HcclGetCommName(ep_comm, group_ep) == HCCL_SUCCESS, "HcclGetCommName(EP)");
  CHECK_RET(HcclGetCommName(tp_comm, group_tp) == HCCL_SUCCESS, "HcclGetCommName(TP)");

  const int64_t el = kE / kEp, ml = kM / kTp;
  out->y1 = mc2::HostTensor(o.dt(), {el, o.rows(), ml});
  out->y2 = mc2::HostTensor(o.dt(), {el, o.rows(), kH});
  out->y3 = mc2::HostTensor(o.dt(), {el, o.rows(), ml});
  void *x_d, *w_d, *bias_d, *y1_d, *y2_d, *y3_d;
  aclTensor *x, *w, *bias, *y1, *y2, *y3;
  CHECK_RET(CreateAclTensor(d.x, o.acl_dt(), &x_d, &x), "x");
  CHECK_RET(CreateAclTensor(d.w_storage, o.acl_dt(), &w_d, &w, o.transposed), "weight");
  CHECK_RET(CreateAclTensor(d.bias, o.bf16 ? ACL_FLOAT : ACL_FLOAT16, &bias_d, &bias), "bias");
  CHECK_RET(CreateAclTensor(out->y1, o.acl_dt(), &y1_d, &y1), "y1");
  CHECK_RET(CreateAclTensor(out->y2, o.acl_dt(), &y2_d, &y2), "y2");
  CHECK_RET(CreateAclTensor(out->y3, o.acl_dt(), &y3_d, &y3), "y3");

  uint64_t workspace_size = 0;
  aclOpExecutor* executor = nullptr;
  aclnnStatus ret = aclnnAlltoAllAllGatherBatchMatMulGetWorkspaceSize(
      x, w, bias, group_ep, group_tp, kEp, kTp, o.shard, o.act(), y1, y2, y3, &workspace_size, &executor);
  CHECK_RET(ret == ACLNN_SUCCESS, "aclnnAlltoAllAllGatherBatchMatMulGetWorkspaceSize");
  void* workspace = nullptr;
  if (workspace_size > 0) {
    CHECK_RET(aclrtMalloc(&workspace, workspace_size, ACL_MEM_MALLOC_HUGE_FIRST) == ACL_SUCCESS, "workspace");
  }
  ret = aclnnAlltoAllAllGatherBatchMatMul(workspace, workspace_size, executor, stream);
  CHECK_RET(ret == ACLNN_SUCCESS, "aclnnAlltoAllAllGatherBatchMatMul");
  CHECK_RET(aclrtSynchronizeStreamWithTimeout(stream, 10000) == ACL_SUCCESS, "aclrtSynchronizeStreamWithTimeout");

  for (auto [host, dev] : {std::pair{&out->y1, y1_d}, std::pair{&out->y2, y2_d}, std::pair{&out->y3, y3_d}}) {
    CHECK_RET(aclrtMemcpy(host->data(), host->bytes(), dev, host->bytes(), ACL_MEMCPY_DEVICE_TO_HOST) == ACL_SUCCESS,
              "copy back");
  }
  for (aclTensor* t : {x, w, bias, y1, y2, y3}) aclDestroyTensor(t);
  for (void* p : {x_d, w_d, bias_d, y1_d, y2_d, y3_d}) aclrtFree(p);
  if (workspace != nullptr) aclrtFree(workspace);
  out->ok = true;
  return true;
}

// One HcclCommInitAll per group, as CANN's example: comms[device] is that device's communicator.
bool InitGroups(const std::vector<std::vector<int32_t>>& groups, HcclComm* comms) {
  for (const auto& g : groups) {
    std::vector<int32_t> devs = g;
    std::vector<HcclComm> made(devs.size());
    if (HcclCommInitAll(static_cast<uint32_t>(devs.size()), devs.data(), made.data()) != HCCL_SUCCESS) return false;
    for (size_t i = 0; i < devs.size(); ++i) comms[devs[i]] = made[i];
  }
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "bf16") == 0) o.bf16 = true;
    if (std::strcmp(argv[i], "c") == 0) o.shard = 1;
    if (std::strcmp(argv[i], "transposed") == 0) o.transposed = true;
  }
  if (aclInit(nullptr) != ACL_SUCCESS) return 1;
  aclrtContext contexts[kDevices];
  aclrtStream streams[kDevices];
  HcclComm ep_comms[kDevices], tp_comms[kDevices];
  for (int i = 0; i < kDevices; ++i) {
    if (aclrtSetDevice(i) != ACL_SUCCESS) return 1;
  }
  std::vector<std::vector<int32_t>> ep_groups(kTp), tp_groups(kEp);
  for (int d = 0; d < kDevices; ++d) {
    ep_groups[d % kTp].push_back(d);  // strided: {0,2,4,6}, {1,3,5,7}
    tp_groups[d / kTp].push_back(d);  // consecutive: {0,1}, {2,3}, ...
  }
  if (!InitGroups(ep_groups, ep_comms) || !InitGroups(tp_groups, tp_comms)) {
    std::printf("HcclCommInitAll failed: %s\n", aclGetRecentErrMsg());
    return 1;
  }
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
    threads.emplace_back(
        [&, i] { RunRank(contexts[i], streams[i], ep_comms[i], tp_comms[i], data[i], o, &results[i]); });
  }
  for (auto& t : threads) t.join();

  // The golden model, all ranks at once; its rank index p * tp + t is the device id here.
  std::vector<mc2::MoeInputs> inputs(kDevices);
  std::vector<mc2::HostTensor> weights;
  for (int i = 0; i < kDevices; ++i) {
    inputs[i].x = data[i].x.view();
    mc2::TensorView w = data[i].w_storage.view();
    if (o.transposed) {  // the same transposed view the operator got
      std::swap(w.dims[1], w.dims[2]);
      std::swap(w.strides[1], w.strides[2]);
    }
    inputs[i].weight = w;
    inputs[i].bias = data[i].bias.view();
  }
  mc2::MoeAttrs attrs;
  attrs.ep_world_size = kEp;
  attrs.tp_world_size = kTp;
  attrs.x_shard_type = o.shard;
  attrs.act_type = static_cast<mc2::ActType>(o.act());
  attrs.want_y2 = attrs.want_y3 = true;
  auto golden = mc2::reference::AlltoAllAllGatherBatchMatMul(inputs, attrs, mc2::reference::Mode::kCann);
  bool pass = golden.ok();
  if (!pass) std::printf("golden: %s\n", golden.status().ToString().c_str());
  const double tol = o.bf16 ? 0.005 : 0.001;
  for (int i = 0; i < kDevices && pass; ++i) {
    pass = results[i].ok;
    if (!pass) break;
    const mc2::reference::MoeOutputs& g = (*golden)[static_cast<size_t>(i)];
    auto r1 = mc2::reference::AllClose(results[i].y1, g.y1, tol, tol);
    auto r2 = mc2::reference::AllClose(results[i].y2, *g.y2, 0, 0);  // y2 is a copy of x: exact
    auto r3 = mc2::reference::AllClose(results[i].y3, *g.y3, tol, tol);
    if (!r1.pass || !r2.pass || !r3.pass) {
      std::printf("device %d: y1 %s\n  y2 %s\n  y3 %s\n", i, r1.ToString().c_str(), r2.ToString().c_str(),
                  r3.ToString().c_str());
    }
    pass = r1.pass && r2.pass && r3.pass;
  }
  for (int i = 0; i < kDevices; ++i) {
    aclrtDestroyStream(streams[i]);
    HcclCommDestroy(ep_comms[i]);
    HcclCommDestroy(tp_comms[i]);
    aclrtDestroyContext(contexts[i]);
    aclrtResetDevice(i);
  }
  aclFinalize();
  std::printf("moe_threads %s xShardType %lld%s, ep %lld x tp %lld: %s\n", o.bf16 ? "bf16" : "fp16",
              static_cast<long long>(o.shard), o.transposed ? " transposed weight" : "", static_cast<long long>(kEp),
              static_cast<long long>(kTp), pass ? "PASS" : "FAIL");
  return pass ? 0 : 1;
}
