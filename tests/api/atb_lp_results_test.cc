// atb::LinearParallelOperation results against the golden model (reference::LinearParallel,
// CANN roundings) for each of the five types, float and quantized, ranks as threads (hcclComm from
// HcclCommInitAll, one context and stream per rank, as ATB's multi-thread tests) and as forked
// processes (hcclComm null: ATB makes its own communicator from rank, rankSize, rankRoot and
// commDomain, as ATB's demos). Each rank runs Setup + Execute twice (the second reuses the plan)
// and the two outputs must be identical. Judged by the LinearParallel suites' one judge (tests/unit/lp_judge.h:
// ATB's ref_compare, or the per-rank rounding bound of the summing types).
#include <signal.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "acl/acl.h"
#include "atb/atb_infer.h"
#include "hccl/hccl.h"
#include "lp_judge.h"
#include "reference/accuracy.h"
#include "reference/cases.h"
#include "reference/linear_parallel.h"

namespace {

using mc2::DType;
using mc2::HostTensor;
using mc2::LinearParallelType;
using mc2::QuantType;
using mc2::TensorView;
using mc2::reference::LinearParallelCase;
using mc2::reference::LinearParallelShape;
using Param = atb::infer::LinearParallelParam;

struct Case {
  const char* name;
  const char* backend;
  LinearParallelShape shape;
};

void PrintTo(const Case& c, std::ostream* os) { *os << c.name; }

LinearParallelShape Shape(int world, LinearParallelType type, QuantType quant = QuantType::kUnquant) {
  LinearParallelShape s;
  s.world_size = world;
  s.attrs.type = type;
  s.attrs.quant_type = quant;
  s.m = 8;
  s.k = 96;
  s.n = 48;
  return s;
}

std::vector<Case> Cases() {
  std::vector<Case> cases;
  {
    LinearParallelShape s = Shape(2, LinearParallelType::kLinearAllReduce);
    s.attrs.has_residual = true;
    cases.push_back({"hccl_allreduce_residual_fp16", "hccl", s});
  }
  {
    LinearParallelShape s = Shape(4, LinearParallelType::kLinearAllReduce);
    s.act = DType::kBFloat16;
    s.b = 2;
    cases.push_back({"lccl_allreduce_bf16_3d", "lccl", s});
  }
  {
    LinearParallelShape s = Shape(2, LinearParallelType::kLinearReduceScatter);
    s.attrs.trans_weight = false;
    cases.push_back({"lcoc_reduce_scatter_untransposed", "lcoc", s});
  }
  {
    LinearParallelShape s = Shape(2, LinearParallelType::kLinearReduceScatter);
    s.k = 256;
    cases.push_back({"mc2_reduce_scatter", "mc2", s});
  }
  {
    LinearParallelShape s = Shape(2, LinearParallelType::kAllGatherLinear);
    s.attrs.keep_intermediate = true;
    cases.push_back({"lcoc_allgather_keep_intermediate", "lcoc", s});
  }
  {
    LinearParallelShape s = Shape(2, LinearParallelType::kAllGatherLinear, QuantType::kPerChannel);
    s.attrs.has_residual = true;
    cases.push_back({"lcoc_allgather_w8a16_per_channel_residual", "lcoc", s});
  }
  {
    LinearParallelShape s = Shape(2, LinearParallelType::kPureLinear, QuantType::kPerGroup);
    s.attrs.quant_group_size = 32;
    cases.push_back({"lcoc_pure_linear_w8a16_per_group", "lcoc", s});
  }
  {
    LinearParallelShape s = Shape(4, LinearParallelType::kAllGatherLinearReduceScatter);
    s.attrs.ag_dim = 2;
    s.attrs.rs_dim = 2;
    cases.push_back({"lcoc_allgather_linear_reduce_scatter_2x2", "lcoc", s});
  }
  {
    LinearParallelShape s = Shape(4, LinearParallelType::kAllGatherLinearReduceScatter);
    s.attrs.ag_dim = 2;
    s.attrs.rs_dim = 2;
    s.attrs.inner_dim_is_ag = false;
    cases.push_back({"lcoc_allgather_linear_reduce_scatter_rs_inner", "lcoc", s});
  }
  {
    LinearParallelShape s = Shape(2, LinearParallelType::kLinearAllReduce, QuantType::kPerChannel);
    s.w8a8 = true;
    s.attrs.has_residual = true;
    cases.push_back({"lcoc_allreduce_w8a8_per_channel_int64", "lcoc", s});
  }
  {
    LinearParallelShape s = Shape(2, LinearParallelType::kLinearReduceScatter, QuantType::kPerTensor);
    s.w8a8 = true;
    s.deq_scale_int64 = false;
    s.attrs.out_dtype = DType::kBFloat16;
    s.nz_weight = true;
    s.k = 64;
    cases.push_back({"lcoc_reduce_scatter_w8a8_float_scale_bf16_nz", "lcoc", s});
  }
  {
    LinearParallelShape s = Shape(2, LinearParallelType::kLinearAllReduce, QuantType::kPerToken);
    s.w8a8 = true;
    cases.push_back({"lcoc_allreduce_w8a8_per_token", "lcoc", s});
  }
  {
    LinearParallelShape s = Shape(2, LinearParallelType::kLinearAllReduce);
    s.nz_weight = true;
    s.k = 64;
    cases.push_back({"hccl_allreduce_nz_fp16", "hccl", s});
  }
  return cases;
}

atb::Tensor ToTensor(const TensorView& v) {
  atb::Tensor t;
  t.desc.dtype = static_cast<aclDataType>(v.dtype);
  t.desc.format = v.format == mc2::Format::kFractalNZ ? ACL_FORMAT_FRACTAL_NZ : ACL_FORMAT_ND;
  t.desc.shape.dimNum = static_cast<uint64_t>(v.rank());
  for (int i = 0; i < v.rank(); ++i) t.desc.shape.dims[i] = v.dims[i];
  t.deviceData = v.data;
  t.dataSize = atb::Utils::GetTensorSize(t);
  return t;
}

Param MakeParam(const Case& c, int rank, HcclComm comm, const std::string& domain) {
  const mc2::LinearParallelAttrs& a = c.shape.attrs;
  Param p;
  p.backend = c.backend;
  p.type = static_cast<Param::ParallelType>(a.type);
  p.quantType = static_cast<Param::QuantType>(a.quant_type);
  p.transWeight = a.trans_weight;
  p.hasResidual = a.has_residual;
  p.keepIntermediate = a.keep_intermediate;
  p.quantGroupSize = a.quant_group_size;
  if (a.out_dtype) p.outDataType = static_cast<aclDataType>(*a.out_dtype);
  p.twoDimTPInfo.agDim = static_cast<uint16_t>(a.ag_dim);
  p.twoDimTPInfo.rsDim = static_cast<uint16_t>(a.rs_dim);
  p.twoDimTPInfo.innerDimIsAg = a.inner_dim_is_ag ? 1 : 0;
  p.rank = rank;
  p.rankSize = c.shape.world_size;
  p.hcclComm = comm;
  p.commDomain = domain;
  if (std::string(c.backend) == "mc2" || comm != nullptr) p.commMode = atb::infer::COMM_MULTI_THREAD;
  return p;
}

// One rank: the whole ATB call sequence; "" or what went wrong. Outputs land in `out` / `mid`.
// `device`: the rank's device (forked ranks use ids the parent's thread ranks never used: the
// parent's per-device thread pools have no threads in a child).
std::string RunRank(const Case& c, const LinearParallelCase& lc, int rank, int device, HcclComm comm,
                    const std::string& domain, const mc2::reference::LinearParallelOutputs& want) {
  aclrtSetDevice(device);
  atb::Context* ctx = nullptr;
  aclrtStream stream = nullptr;
  if (atb::CreateContext(&ctx) != atb::NO_ERROR) return "CreateContext failed";
  if (aclrtCreateStream(&stream) != ACL_SUCCESS) return "aclrtCreateStream failed";
  ctx->SetExecuteStream(stream);
  atb::Operation* op = nullptr;
  std::string err;
  const Param param = MakeParam(c, rank, comm, domain);
  atb::Status s = atb::CreateOperation(param, &op);
  if (s != atb::NO_ERROR) err = "CreateOperation: " + std::to_string(s);
  const mc2::LinearParallelInputs& in = lc.ranks[static_cast<size_t>(rank)];
  atb::VariantPack pack;
  if (err.empty()) {
    pack.inTensors.push_back(ToTensor(in.input));
    pack.inTensors.push_back(ToTensor(in.weight));
    if (in.deq_scale) {
      atb::Tensor bias;  // absent bias: an empty tensor
      bias.desc = ToTensor(*in.deq_scale).desc;
      bias.desc.dtype = in.input.dtype == DType::kInt8 ? ACL_INT32 : static_cast<aclDataType>(in.input.dtype);
      bias.desc.shape.dimNum = 0;
      pack.inTensors.push_back(in.bias ? ToTensor(*in.bias) : bias);
      pack.inTensors.push_back(ToTensor(*in.deq_scale));
    }
    if (in.residual) pack.inTensors.push_back(ToTensor(*in.residual));
    if (in.per_token_scale) pack.inTensors.push_back(ToTensor(*in.per_token_scale));
    if (pack.inTensors.size() != op->GetInputNum()) err = "GetInputNum disagrees with the tensor list";
  }
  HostTensor out, mid;
  if (err.empty()) {
    atb::SVector<atb::TensorDesc> in_descs, out_descs;
    for (const atb::Tensor& t : pack.inTensors) in_descs.push_back(t.desc);
    s = op->InferShape(in_descs, out_descs);
    if (s != atb::NO_ERROR) err = "InferShape: " + std::to_string(s);
    if (err.empty() && out_descs.size() != op->GetOutputNum()) err = "InferShape's output count";
    if (err.empty()) {
      const atb::TensorDesc& d = out_descs[0];
      out = HostTensor(static_cast<DType>(d.dtype), mc2::Dims(d.shape.dims, static_cast<int>(d.shape.dimNum)));
      pack.outTensors.push_back(ToTensor(out.view()));
      if (op->GetOutputNum() == 2) {
        const atb::TensorDesc& m = out_descs[1];
        mid = HostTensor(static_cast<DType>(m.dtype), mc2::Dims(m.shape.dims, static_cast<int>(m.shape.dimNum)));
        pack.outTensors.push_back(ToTensor(mid.view()));
      }
    }
  }
  HostTensor first;
  for (int round = 0; round < 2 && err.empty(); ++round) {
    uint64_t ws_size = 0;
    s = op->Setup(pack, ws_size, ctx);
    if (s != atb::NO_ERROR) {
      err = "Setup: " + std::to_string(s);
      break;
    }
    void* ws = nullptr;
    if (ws_size > 0 && aclrtMalloc(&ws, ws_size, ACL_MEM_MALLOC_HUGE_FIRST) != ACL_SUCCESS) err = "aclrtMalloc";
    if (err.empty()) s = op->Execute(pack, static_cast<uint8_t*>(ws), ws_size, ctx);
    if (err.empty() && s != atb::NO_ERROR) err = "Execute: " + std::to_string(s);
    const aclError sync = aclrtSynchronizeStream(stream);
    if (err.empty() && sync != ACL_SUCCESS) err = std::string("synchronize: ") + aclGetRecentErrMsg();
    if (ws != nullptr) aclrtFree(ws);
    if (round == 0) first = HostTensor::FromView(out.view());
  }
  if (err.empty() && std::memcmp(first.data(), out.data(), first.bytes()) != 0) err = "the second Execute differs";
  if (err.empty()) {
    const std::string verdict = mc2::testing::JudgeLp(lc, rank, out, want.output, nullptr, nullptr);
    if (!verdict.empty()) err = "output: " + verdict;
    if (err.empty() && want.intermediate) {
      const auto r2 = mc2::reference::Check(
          mc2::reference::DefaultRule(mc2::reference::AccuracyOp::kLinearParallel, want.intermediate->dtype()), mid,
          *want.intermediate);
      if (!r2.pass) err = "intermediateOutput: " + r2.ToString();
    }
  }
  if (op != nullptr) atb::DestroyOperation(op);
  atb::DestroyContext(ctx);
  aclrtDestroyStream(stream);
  return err.empty() ? err : "rank " + std::to_string(rank) + ": " + err;
}

class AtbLpResults : public ::testing::TestWithParam<Case> {};

TEST_P(AtbLpResults, ThreadsWithHcclCommInitAll) {
  const Case& c = GetParam();
  const int world = c.shape.world_size;
  const LinearParallelCase lc = mc2::reference::MakeLinearParallelCase(c.shape);
  auto golden = mc2::reference::LinearParallel(lc.ranks, lc.attrs, mc2::reference::Mode::kCann);
  ASSERT_TRUE(golden.ok()) << golden.status().ToString();
  std::vector<int32_t> devices(static_cast<size_t>(world));
  for (int i = 0; i < world; ++i) devices[static_cast<size_t>(i)] = i;
  std::vector<HcclComm> comms(static_cast<size_t>(world), nullptr);
  ASSERT_EQ(HcclCommInitAll(static_cast<uint32_t>(world), devices.data(), comms.data()), HCCL_SUCCESS);
  std::vector<std::string> errs(static_cast<size_t>(world));
  std::vector<std::thread> threads;
  for (int r = 0; r < world; ++r) {
    threads.emplace_back([&, r] {
      errs[static_cast<size_t>(r)] = RunRank(c, lc, r, r, comms[static_cast<size_t>(r)], "", (*golden)[static_cast<size_t>(r)]);
    });
  }
  for (auto& t : threads) t.join();
  for (HcclComm h : comms) HcclCommDestroy(h);
  for (const std::string& e : errs) EXPECT_EQ(e, "");
}

// Forked ranks, each making its own communicator through ATB (hcclComm null).
TEST_P(AtbLpResults, ProcessesWithOwnCommunicator) {
  const Case& c = GetParam();
  if (std::string(c.backend) == "mc2") GTEST_SKIP() << "backend mc2 is COMM_MULTI_THREAD only";
  const int world = c.shape.world_size;
  const std::string domain = "atb-results-" + std::to_string(getpid()) + "-" + c.name;
  struct Report {
    int32_t done;
    char message[480];
  };
  auto* shared = static_cast<Report*>(
      mmap(nullptr, sizeof(Report) * static_cast<size_t>(world), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0));
  ASSERT_NE(shared, MAP_FAILED);
  std::memset(shared, 0, sizeof(Report) * static_cast<size_t>(world));
  std::vector<pid_t> pids;
  for (int r = 0; r < world; ++r) {
    const pid_t pid = fork();
    if (pid == 0) {
      const LinearParallelCase lc = mc2::reference::MakeLinearParallelCase(c.shape);
      auto golden = mc2::reference::LinearParallel(lc.ranks, lc.attrs, mc2::reference::Mode::kCann);
      std::string err = golden.ok() ? RunRank(c, lc, r, 4 + r, nullptr, domain, (*golden)[static_cast<size_t>(r)])
                                    : golden.status().ToString();
      std::snprintf(shared[r].message, sizeof(shared[r].message), "%s", err.c_str());
      shared[r].done = err.empty() ? 1 : 2;
      _exit(0);
    }
    pids.push_back(pid);
  }
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
  for (pid_t pid : pids) {
    int st = 0;
    while (waitpid(pid, &st, WNOHANG) != pid) {
      if (std::chrono::steady_clock::now() > deadline) {
        for (pid_t p : pids) kill(p, SIGKILL);
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
  }
  for (int r = 0; r < world; ++r) {
    EXPECT_EQ(shared[r].done, 1) << "rank " << r << ": " << shared[r].message;
  }
  munmap(shared, sizeof(Report) * static_cast<size_t>(world));
}

INSTANTIATE_TEST_SUITE_P(Types, AtbLpResults, ::testing::ValuesIn(Cases()),
                         [](const ::testing::TestParamInfo<Case>& info) { return std::string(info.param.name); });

}  // namespace
