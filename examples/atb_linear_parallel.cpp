// ATB LinearParallelOperation the way ATB's demos run it: one forked process per rank; each
// process does aclInit, aclrtSetDevice(rank), atb::CreateContext, aclrtCreateStream +
// SetExecuteStream, copies its tensors to device memory (aclrtMalloc + aclrtMemcpy), creates the
// operation with hcclComm = nullptr (so ATB makes the communicator itself from rank, rankSize,
// rankRoot and commDomain), Setup, aclrtMalloc of the workspace, Execute, aclrtSynchronizeStream,
// and copies the output back. Every rank checks its output against mc2's golden model
// (src/reference) with ATB's ref_compare rule; the parent prints PASS when every rank passed.
//
// Never a hang: the ranks' communication gives up after MC2_COMM_TIMEOUT_MS (set to 60 s here
// unless the environment says otherwise; mc2's default is 300 s), and the parent waits for the
// children at most that long plus 30 s, then kills them and reports FAIL naming the rank that did
// not finish. A rank that fails makes the parent stop the others after a few seconds instead of
// letting them wait for the dead peer until the timeout.
//
// Usage: atb_linear_parallel [float|w8a8]
//   float  LINEAR_ALL_REDUCE, fp16, with residual, backend "hccl"
//   w8a8   LINEAR_ALL_REDUCE, int8 x int8, per-channel int64 deqScale (Utils::QuantParamConvert),
//          int32 bias, fp16 output, backend "lcoc"
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "acl/acl.h"
#include "atb/atb_infer.h"
#include "reference/accuracy.h"
#include "reference/cases.h"
#include "reference/linear_parallel.h"

#define CHECK_RET(cond, msg)                                                    \
  do {                                                                          \
    if (!(cond)) {                                                              \
      std::printf("rank %d: %s failed: %s\n", rank, msg, aclGetRecentErrMsg()); \
      return false;                                                             \
    }                                                                           \
  } while (0)

namespace {

constexpr int kRanks = 2;
constexpr int64_t kM = 16, kK = 128, kN = 64;

// The same inputs in every process: the case is made from a fixed seed.
mc2::reference::LinearParallelCase MakeInputs(bool w8a8) {
  mc2::reference::LinearParallelShape s;
  s.world_size = kRanks;
  s.m = kM;
  s.k = kK;
  s.n = kN;
  s.attrs.type = mc2::LinearParallelType::kLinearAllReduce;
  s.attrs.has_residual = !w8a8;
  s.attrs.quant_type = w8a8 ? mc2::QuantType::kPerChannel : mc2::QuantType::kUnquant;
  s.w8a8 = w8a8;
  s.deq_scale_int64 = false;  // float scales, converted below with Utils::QuantParamConvert
  s.seed = 2024;
  return mc2::reference::MakeLinearParallelCase(s);
}

// A device copy of a host buffer, described for ATB.
struct DeviceTensor {
  atb::Tensor tensor;
  bool Make(aclDataType dtype, const mc2::Dims& dims, const void* host, uint64_t bytes) {
    tensor.desc.dtype = dtype;
    tensor.desc.format = ACL_FORMAT_ND;
    tensor.desc.shape.dimNum = static_cast<uint64_t>(dims.size());
    for (int i = 0; i < dims.size(); ++i) tensor.desc.shape.dims[i] = dims[i];
    tensor.dataSize = bytes;
    if (aclrtMalloc(&tensor.deviceData, bytes, ACL_MEM_MALLOC_HUGE_FIRST) != ACL_SUCCESS) return false;
    if (host == nullptr) return true;
    return aclrtMemcpy(tensor.deviceData, bytes, host, bytes, ACL_MEMCPY_HOST_TO_DEVICE) == ACL_SUCCESS;
  }
  DeviceTensor() = default;
  DeviceTensor(const DeviceTensor&) = delete;
  ~DeviceTensor() {
    if (tensor.deviceData != nullptr) aclrtFree(tensor.deviceData);
  }
};

bool FromView(DeviceTensor* t, const mc2::TensorView& v) {
  return t->Make(static_cast<aclDataType>(v.dtype), v.dims, v.data, mc2::DTypeStorageBytes(v.dtype, v.numel()));
}

bool RunRank(int rank, bool w8a8) {
  const mc2::reference::LinearParallelCase c = MakeInputs(w8a8);
  const mc2::LinearParallelInputs& in = c.ranks[rank];

  CHECK_RET(aclInit(nullptr) == ACL_SUCCESS, "aclInit");
  CHECK_RET(aclrtSetDevice(rank) == ACL_SUCCESS, "aclrtSetDevice");
  atb::Context* context = nullptr;
  CHECK_RET(atb::CreateContext(&context) == atb::NO_ERROR, "atb::CreateContext");
  aclrtStream stream = nullptr;
  CHECK_RET(aclrtCreateStream(&stream) == ACL_SUCCESS, "aclrtCreateStream");
  CHECK_RET(context->SetExecuteStream(stream) == atb::NO_ERROR, "SetExecuteStream");

  atb::infer::LinearParallelParam param;
  param.rank = rank;
  param.rankSize = kRanks;
  param.rankRoot = 0;
  param.transWeight = true;
  param.type = atb::infer::LinearParallelParam::LINEAR_ALL_REDUCE;
  param.commDomain = "atb-example-" + std::to_string(getppid()) + (w8a8 ? "-w8a8" : "-float");
  if (w8a8) {
    param.backend = "lcoc";
    param.quantType = atb::infer::LinearParallelParam::QUANT_TYPE_PER_CHANNEL;
    param.outDataType = ACL_FLOAT16;
  } else {
    param.backend = "hccl";
    param.hasResidual = true;
  }

  DeviceTensor x, w, bias, scale, residual, out;
  CHECK_RET(FromView(&x, in.input), "input");
  CHECK_RET(FromView(&w, in.weight), "weight");
  atb::VariantPack pack;
  pack.inTensors.push_back(x.tensor);
  pack.inTensors.push_back(w.tensor);
  if (w8a8) {
    CHECK_RET(FromView(&bias, *in.bias), "bias");
    // deqScale as int64: each float's bits in the low half (ATB's encoding).
    std::vector<uint64_t> encoded(static_cast<size_t>(kN));
    atb::Utils::QuantParamConvert(static_cast<const float*>(in.deq_scale->data), encoded.data(), encoded.size());
    CHECK_RET(scale.Make(ACL_INT64, mc2::Dims{kN}, encoded.data(), encoded.size() * 8), "deqScale");
    pack.inTensors.push_back(bias.tensor);
    pack.inTensors.push_back(scale.tensor);
  } else {
    CHECK_RET(FromView(&residual, *in.residual), "residual");
    pack.inTensors.push_back(residual.tensor);
  }
  CHECK_RET(out.Make(ACL_FLOAT16, mc2::Dims{kM, kN}, nullptr, static_cast<uint64_t>(kM * kN * 2)), "output");
  pack.outTensors.push_back(out.tensor);

  atb::Operation* op = nullptr;
  CHECK_RET(atb::CreateOperation(param, &op) == atb::NO_ERROR, "atb::CreateOperation");
  uint64_t workspace_size = 0;
  CHECK_RET(op->Setup(pack, workspace_size, context) == atb::NO_ERROR, "Setup");
  void* workspace = nullptr;
  if (workspace_size > 0) {
    CHECK_RET(aclrtMalloc(&workspace, workspace_size, ACL_MEM_MALLOC_HUGE_FIRST) == ACL_SUCCESS, "aclrtMalloc");
  }
  CHECK_RET(op->Execute(pack, static_cast<uint8_t*>(workspace), workspace_size, context) == atb::NO_ERROR, "Execute");
  CHECK_RET(aclrtSynchronizeStream(stream) == ACL_SUCCESS, "aclrtSynchronizeStream");

  mc2::HostTensor got(mc2::DType::kFloat16, mc2::Dims{kM, kN});
  CHECK_RET(aclrtMemcpy(got.data(), got.bytes(), out.tensor.deviceData, got.bytes(), ACL_MEMCPY_DEVICE_TO_HOST) ==
                ACL_SUCCESS,
            "aclrtMemcpy");
  if (workspace != nullptr) aclrtFree(workspace);
  atb::DestroyOperation(op);
  aclrtDestroyStream(stream);
  atb::DestroyContext(context);
  aclrtResetDevice(rank);
  aclFinalize();

  // The golden model takes every rank's inputs; W8A8 with the int64 deqScale the ranks were given.
  std::vector<mc2::LinearParallelInputs> ranks = c.ranks;
  std::vector<std::vector<uint64_t>> encoded_scales(kRanks);
  if (w8a8) {
    for (int r = 0; r < kRanks; ++r) {
      encoded_scales[r].resize(static_cast<size_t>(kN));
      atb::Utils::QuantParamConvert(static_cast<const float*>(c.ranks[r].deq_scale->data), encoded_scales[r].data(),
                                    encoded_scales[r].size());
      ranks[r].deq_scale = mc2::TensorView::Contiguous(encoded_scales[r].data(), mc2::DType::kInt64, mc2::Dims{kN});
    }
  }
  auto golden = mc2::reference::LinearParallel(ranks, c.attrs, mc2::reference::Mode::kCann);
  if (!golden.ok()) {
    std::printf("rank %d: golden model: %s\n", rank, golden.status().ToString().c_str());
    return false;
  }
  const auto rule = mc2::reference::DefaultRule(mc2::reference::AccuracyOp::kLinearParallel, mc2::DType::kFloat16);
  const auto report = mc2::reference::Check(rule, got, (*golden)[rank].output);
  std::printf("rank %d: %s\n", rank, report.ToString().c_str());
  return report.pass;
}

}  // namespace

int main(int argc, char** argv) {
  const std::string mode = argc > 1 ? argv[1] : "float";
  if (mode != "float" && mode != "w8a8") {
    std::printf("usage: %s [float|w8a8]\n", argv[0]);
    return 2;
  }
  setenv("MC2_COMM_TIMEOUT_MS", "60000", /*overwrite=*/0);
  const long timeout_ms = std::strtol(std::getenv("MC2_COMM_TIMEOUT_MS"), nullptr, 10);
  std::fflush(stdout);
  std::vector<pid_t> children;
  for (int rank = 0; rank < kRanks; ++rank) {
    const pid_t pid = fork();
    if (pid == 0) {
      const bool ok = RunRank(rank, mode == "w8a8");
      std::fflush(stdout);
      _exit(ok ? 0 : 1);
    }
    children.push_back(pid);
  }
  // Wait for every rank, bounded: the communication timeout plus a margin for the rest of the
  // work; once a rank has failed, the others get a few seconds before they are stopped.
  using Clock = std::chrono::steady_clock;
  const Clock::time_point deadline = Clock::now() + std::chrono::milliseconds(timeout_ms) + std::chrono::seconds(30);
  Clock::time_point stop_at = deadline;
  std::vector<int> state(kRanks, -1);  // -1 running, 0 passed, 1 failed
  bool pass = true;
  for (int running = kRanks; running > 0;) {
    for (int r = 0; r < kRanks; ++r) {
      int status = 0;
      if (state[r] != -1 || waitpid(children[r], &status, WNOHANG) != children[r]) continue;
      state[r] = WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : 1;
      --running;
      if (state[r] == 1) {
        pass = false;
        if (!WIFEXITED(status)) std::printf("rank %d: died (signal %d)\n", r, WTERMSIG(status));
        stop_at = std::min(stop_at, Clock::now() + std::chrono::seconds(5));
      }
    }
    if (running > 0 && Clock::now() > stop_at) {
      for (int r = 0; r < kRanks; ++r) {
        if (state[r] != -1) continue;
        std::printf("rank %d: still running after %s; stopped\n", r,
                    stop_at == deadline ? "the communication timeout + 30 s" : "another rank failed");
        kill(children[r], SIGKILL);
        waitpid(children[r], nullptr, 0);
        state[r] = 1;
      }
      pass = false;
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  std::printf("atb_linear_parallel %s: %s\n", mode.c_str(), pass ? "PASS" : "FAIL");
  return pass ? 0 : 1;
}
