// HcclGetRootInfo / HcclCommInitRootInfo the way multi-process CANN programs use them: every rank is
// its own process, started by a launcher (`mc2 launch -n 2 hccl_rootinfo DIR` or
// `mpirun -np 2 hccl_rootinfo DIR`). Rank 0 makes the root info and hands it to the others through
// a file in DIR (written under a temporary name, then renamed, so a reader never sees half of it);
// the file name carries the launcher's pid, which every rank of one job shares as its parent, so
// two jobs never read each other's file. Every rank then joins with HcclCommInitRootInfo and runs
// aclnnWeightQuantMatmulAllReduceAddRmsNorm (int8 per-channel) on the communicator's group, and
// checks its outputs against mc2's golden model (torch.allclose rule, rtol = atol = 0.005).
//
// The rank and the rank count come from the launcher's environment: MC2_RANK / MC2_WORLD_SIZE
// (mc2 launch) or OMPI_COMM_WORLD_RANK / OMPI_COMM_WORLD_SIZE (Open MPI's mpirun).
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "acl/acl.h"
#include "aclnnop/aclnn_weight_quant_matmul_all_reduce_add_rms_norm.h"
#include "hccl/hccl.h"
#include "reference/accuracy.h"
#include "reference/arn.h"

#define CHECK_RET(cond, msg)                                                    \
  do {                                                                          \
    if (!(cond)) {                                                              \
      std::printf("rank %d: %s failed: %s\n", rank, msg, aclGetRecentErrMsg()); \
      return false;                                                             \
    }                                                                           \
  } while (0)

namespace {

constexpr int64_t kB = 1, kS = 8, kK = 256, kN = 128;

int EnvInt(const char* a, const char* b) {
  const char* v = std::getenv(a);
  if (v == nullptr) v = std::getenv(b);
  return v == nullptr ? -1 : std::atoi(v);
}

// One rank's inputs; every process can make every rank's (for the golden model).
struct HostData {
  mc2::HostTensor x1, x2, scale, residual, gamma;
};

HostData MakeData(int rank) {
  std::mt19937 rng(777 + rank);
  std::uniform_real_distribution<double> u(-1, 1), s(0.001, 0.011);
  std::uniform_int_distribution<int> w(-128, 127);
  HostData d{mc2::HostTensor(mc2::DType::kFloat16, {kB, kS, kK}), mc2::HostTensor(mc2::DType::kInt8, {kK, kN}),
             mc2::HostTensor(mc2::DType::kFloat16, {kN}), mc2::HostTensor(mc2::DType::kFloat16, {kB, kS, kN}),
             mc2::HostTensor(mc2::DType::kFloat16, {kN})};
  for (int64_t i = 0; i < d.x1.numel(); ++i) d.x1.set(i, u(rng));
  for (int64_t i = 0; i < d.x2.numel(); ++i) d.x2.set(i, w(rng));
  for (int64_t i = 0; i < d.scale.numel(); ++i) d.scale.set(i, s(rng));
  for (int64_t i = 0; i < d.residual.numel(); ++i) d.residual.set(i, u(rng));
  for (int64_t i = 0; i < d.gamma.numel(); ++i) d.gamma.set(i, 1.0 + 0.1 * u(rng));
  return d;
}

// Rank 0 publishes the root info at `path`; the others wait for it (spin, then sleep; 60 s).
bool ShareRootInfo(int rank, const std::string& path, HcclRootInfo* root) {
  if (rank == 0) {
    CHECK_RET(HcclGetRootInfo(root) == HCCL_SUCCESS, "HcclGetRootInfo");
    const std::string tmp = path + ".tmp";
    FILE* f = std::fopen(tmp.c_str(), "wb");
    CHECK_RET(f != nullptr, "open the root info file");
    const bool written = std::fwrite(root, sizeof(*root), 1, f) == 1;
    CHECK_RET(std::fclose(f) == 0 && written, "write the root info file");
    CHECK_RET(std::rename(tmp.c_str(), path.c_str()) == 0, "rename the root info file");
    return true;
  }
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  for (int spins = 0;; ++spins) {
    if (FILE* f = std::fopen(path.c_str(), "rb")) {
      const bool read = std::fread(root, sizeof(*root), 1, f) == 1;
      std::fclose(f);
      CHECK_RET(read, "read the root info file");
      return true;
    }
    CHECK_RET(std::chrono::steady_clock::now() < deadline, "wait for rank 0's root info file");
    if (spins > 1000) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
}

bool CreateAclTensor(int rank, const mc2::HostTensor& host, aclDataType dtype, void** dev, aclTensor** tensor) {
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

bool Run(int rank, int world, const std::string& dir) {
  CHECK_RET(aclInit(nullptr) == ACL_SUCCESS, "aclInit");
  CHECK_RET(aclrtSetDevice(rank) == ACL_SUCCESS, "aclrtSetDevice");
  aclrtStream stream = nullptr;
  CHECK_RET(aclrtCreateStream(&stream) == ACL_SUCCESS, "aclrtCreateStream");

  const std::string path = dir + "/hccl_rootinfo." + std::to_string(static_cast<long>(getppid()));
  HcclRootInfo root;
  if (!ShareRootInfo(rank, path, &root)) return false;
  HcclComm comm = nullptr;
  CHECK_RET(HcclCommInitRootInfo(static_cast<uint32_t>(world), &root, static_cast<uint32_t>(rank), &comm) ==
                HCCL_SUCCESS,
            "HcclCommInitRootInfo");
  if (rank == 0) std::remove(path.c_str());  // everyone has joined
  char group[128] = {};
  CHECK_RET(HcclGetCommName(comm, group) == HCCL_SUCCESS, "HcclGetCommName");

  const HostData d = MakeData(rank);
  mc2::HostTensor zeros(mc2::DType::kFloat16, {kB, kS, kN});
  void *x1_d, *x2_d, *scale_d, *residual_d, *gamma_d, *y_d, *norm_d;
  aclTensor *x1, *x2, *scale, *residual, *gamma, *y, *norm;
  CHECK_RET(CreateAclTensor(rank, d.x1, ACL_FLOAT16, &x1_d, &x1), "x1");
  CHECK_RET(CreateAclTensor(rank, d.x2, ACL_INT8, &x2_d, &x2), "x2");
  CHECK_RET(CreateAclTensor(rank, d.scale, ACL_FLOAT16, &scale_d, &scale), "antiquantScale");
  CHECK_RET(CreateAclTensor(rank, d.residual, ACL_FLOAT16, &residual_d, &residual), "residual");
  CHECK_RET(CreateAclTensor(rank, d.gamma, ACL_FLOAT16, &gamma_d, &gamma), "gamma");
  CHECK_RET(CreateAclTensor(rank, zeros, ACL_FLOAT16, &y_d, &y), "y");
  CHECK_RET(CreateAclTensor(rank, zeros, ACL_FLOAT16, &norm_d, &norm), "normOut");

  uint64_t workspace_size = 0;
  aclOpExecutor* executor = nullptr;
  CHECK_RET(aclnnWeightQuantMatmulAllReduceAddRmsNormGetWorkspaceSize(x1, x2, nullptr, scale, nullptr, residual, gamma,
                                                                      1e-6, group, "sum", 0, 1, 0, y, norm,
                                                                      &workspace_size, &executor) == ACLNN_SUCCESS,
            "GetWorkspaceSize");
  void* workspace = nullptr;
  if (workspace_size > 0) {
    CHECK_RET(aclrtMalloc(&workspace, workspace_size, ACL_MEM_MALLOC_HUGE_FIRST) == ACL_SUCCESS, "workspace");
  }
  CHECK_RET(aclnnWeightQuantMatmulAllReduceAddRmsNorm(workspace, workspace_size, executor, stream) == ACLNN_SUCCESS,
            "aclnnWeightQuantMatmulAllReduceAddRmsNorm");
  CHECK_RET(aclrtSynchronizeStreamWithTimeout(stream, 10000) == ACL_SUCCESS, "aclrtSynchronizeStreamWithTimeout");

  mc2::HostTensor got_y(mc2::DType::kFloat16, {kB, kS, kN}), got_norm(mc2::DType::kFloat16, {kB, kS, kN});
  CHECK_RET(aclrtMemcpy(got_y.data(), got_y.bytes(), y_d, got_y.bytes(), ACL_MEMCPY_DEVICE_TO_HOST) == ACL_SUCCESS,
            "copy y");
  CHECK_RET(aclrtMemcpy(got_norm.data(), got_norm.bytes(), norm_d, got_norm.bytes(), ACL_MEMCPY_DEVICE_TO_HOST) ==
                ACL_SUCCESS,
            "copy normOut");
  for (aclTensor* t : {x1, x2, scale, residual, gamma, y, norm}) aclDestroyTensor(t);
  for (void* p : {x1_d, x2_d, scale_d, residual_d, gamma_d, y_d, norm_d}) aclrtFree(p);
  if (workspace != nullptr) aclrtFree(workspace);
  aclrtDestroyStream(stream);
  HcclCommDestroy(comm);
  aclrtResetDevice(rank);
  aclFinalize();

  // The golden model, from every rank's inputs.
  std::vector<HostData> all;
  for (int r = 0; r < world; ++r) all.push_back(MakeData(r));
  std::vector<mc2::ArnInputs> inputs(static_cast<size_t>(world));
  for (int r = 0; r < world; ++r) {
    inputs[r].x1 = all[r].x1.view();
    inputs[r].x2 = all[r].x2.view();
    inputs[r].antiquant_scale = all[r].scale.view();
    inputs[r].residual = all[r].residual.view();
    inputs[r].gamma = all[r].gamma.view();
  }
  auto golden = mc2::reference::WeightQuantMatmulAllReduceAddRmsNorm(inputs, mc2::ArnAttrs{}, mc2::reference::Mode::kCann);
  CHECK_RET(golden.ok(), "golden model");
  const auto ry = mc2::reference::AllClose(got_y, (*golden)[rank].y, 0.005, 0.005);
  const auto rn = mc2::reference::AllClose(got_norm, (*golden)[rank].norm_out, 0.005, 0.005);
  std::printf("rank %d of %d: y %s\n  normOut %s\n", rank, world, ry.ToString().c_str(), rn.ToString().c_str());
  return ry.pass && rn.pass;
}

}  // namespace

int main(int argc, char** argv) {
  const int rank = EnvInt("MC2_RANK", "OMPI_COMM_WORLD_RANK");
  const int world = EnvInt("MC2_WORLD_SIZE", "OMPI_COMM_WORLD_SIZE");
  if (argc < 2 || rank < 0 || world < 1 || rank >= world) {
    std::printf("usage: mc2 launch -n N %s DIR   or   mpirun -np N %s DIR\n", argv[0], argv[0]);
    return 2;
  }
  const bool pass = Run(rank, world, argv[1]);
  std::printf("hccl_rootinfo rank %d: %s\n", rank, pass ? "PASS" : "FAIL");
  std::fflush(stdout);
  return pass ? 0 : 1;
}
