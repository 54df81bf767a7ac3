// Table-driven validation of atb::LinearParallelOperation: every row of atb_cases.csv (columns
// explained at its top) runs on `world` thread ranks, each with its own context and stream and
// (unless the row says comm=null) its HcclCommInitAll communicator, and must fail in the row's
// phase with the row's atb::ErrorType — or, for "run" rows, complete the whole call with
// NO_ERROR at aclrtSynchronizeStream. Results against the golden model: atb_lp_results_test.cc.
#include <unistd.h>

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
#include "atb/atb_infer.h"
#include "hccl/hccl.h"

namespace {

using Row = mc2::api_test::CsvRow;
using Param = atb::infer::LinearParallelParam;

std::vector<std::string> Split(const std::string& s, char sep) {
  std::vector<std::string> out;
  std::stringstream ss(s);
  std::string part;
  while (std::getline(ss, part, sep)) {
    if (!part.empty()) out.push_back(part);
  }
  return out;
}

std::vector<Row> LoadCases() { return mc2::api_test::LoadCsvCases("atb_cases.csv"); }

atb::Status Code(const std::string& name) {
  static const std::map<std::string, atb::Status> m = {
      {"NO_ERROR", atb::NO_ERROR},
      {"INVALID_PARAM", atb::ERROR_INVALID_PARAM},
      {"INVALID_IN_TENSOR_NUM", atb::ERROR_INVALID_IN_TENSOR_NUM},
      {"INVALID_TENSOR_INI_MATCH", atb::ERROR_INVALID_TENSOR_INI_MATCH},
      {"INVALID_TENSOR_DIM", atb::ERROR_INVALID_TENSOR_DIM},
      {"INVALID_TENSOR_DIM_NUM", atb::ERROR_INVALID_TENSOR_DIM_NUM},
      {"INVALID_TENSOR_ADDR", atb::ERROR_INVALID_TENSOR_ADDR},
      {"INVALID_TENSOR_SIZE", atb::ERROR_INVALID_TENSOR_SIZE},
      {"INVALID_CONTEXT_ADDR", atb::ERROR_INVALID_CONTEXT_ADDR},
  };
  return m.at(name);
}

aclDataType DType(const std::string& s) {
  static const std::map<std::string, aclDataType> m = {{"fp16", ACL_FLOAT16}, {"bf16", ACL_BF16}, {"fp32", ACL_FLOAT},
                                                       {"int8", ACL_INT8},    {"int32", ACL_INT32}, {"int64", ACL_INT64}};
  return m.at(s);
}

size_t ElemBytes(aclDataType d) {
  switch (d) {
    case ACL_INT8: return 1;
    case ACL_FLOAT16:
    case ACL_BF16: return 2;
    case ACL_INT64: return 8;
    default: return 4;
  }
}

atb::TensorDesc Desc(const std::string& spec) {
  const std::vector<std::string> f = Split(spec, ':');
  atb::TensorDesc d;
  d.dtype = DType(f.at(0));
  d.format = ACL_FORMAT_ND;
  if (f.size() > 2) d.format = f[2] == "nz" ? ACL_FORMAT_FRACTAL_NZ : ACL_FORMAT_NCHW;
  d.shape.dimNum = 0;
  if (f.at(1) != "e") {
    // dims holds atb::MAX_DIM (8) values; a longer spec (a dimNum-over-8 case) counts the rest
    // in dimNum without storing them, as a caller with a wrong dimNum would.
    for (const std::string& x : Split(f[1], 'x')) {
      if (d.shape.dimNum < atb::MAX_DIM) d.shape.dims[d.shape.dimNum] = std::stoll(x);
      ++d.shape.dimNum;
    }
  }
  return d;
}

// Owns the data of one rank's tensors (zeros: validation does not depend on values).
struct Tensors {
  std::vector<std::vector<uint8_t>> storage;
  atb::Tensor Make(const atb::TensorDesc& d) {
    atb::Tensor t;
    t.desc = d;
    const int64_t n = atb::Utils::GetTensorNumel(d);
    t.dataSize = d.shape.dimNum == 0 ? 0 : static_cast<uint64_t>(n) * ElemBytes(d.dtype);
    if (t.dataSize > 0) {
      storage.emplace_back(t.dataSize, 0);
      t.deviceData = storage.back().data();
    }
    return t;
  }
};

std::map<std::string, std::string> Params(const std::string& s) {
  std::map<std::string, std::string> m;
  for (const std::string& kv : Split(s, ';')) {
    const size_t eq = kv.find('=');
    m[kv.substr(0, eq)] = kv.substr(eq + 1);
  }
  return m;
}

Param MakeParam(const Row& row, const std::map<std::string, std::string>& kv, int rank, int world, HcclComm comm) {
  Param p;
  p.backend = row.at("backend");
  p.type = static_cast<Param::ParallelType>(std::stoi(row.at("type")));
  p.quantType = static_cast<Param::QuantType>(std::stoi(row.at("quant")));
  p.rank = rank;
  p.rankSize = world;
  p.hcclComm = comm;
  p.commDomain = "atb-cases-" + std::to_string(getpid()) + "-" + row.at("name");
  auto get = [&](const char* k) { return kv.count(k) ? kv.at(k) : std::string(); };
  if (get("comm") == "null") p.hcclComm = nullptr;
  if (get("comm") == "stale") p.hcclComm = reinterpret_cast<HcclComm>(&p);
  if (!get("res").empty()) p.hasResidual = get("res") == "1";
  if (!get("keep").empty()) p.keepIntermediate = get("keep") == "1";
  if (!get("trans").empty()) p.transWeight = get("trans") == "1";
  if (!get("mode").empty()) p.commMode = static_cast<atb::infer::CommMode>(std::stoi(get("mode")));
  if (!get("rank").empty()) p.rank = std::stoi(get("rank"));
  if (!get("rankSize").empty()) p.rankSize = std::stoi(get("rankSize"));
  if (!get("root").empty()) p.rankRoot = std::stoi(get("root"));
  if (!get("domain").empty()) p.commDomain = std::string(static_cast<size_t>(std::stoi(get("domain"))), 'd');
  if (get("table") == "missing") p.rankTableFile = "/nonexistent/mc2/rank_table.json";
  if (get("rsv") == "1") p.rsv[7] = 1;
  if (!get("ag").empty()) p.twoDimTPInfo.agDim = static_cast<uint16_t>(std::stoi(get("ag")));
  if (!get("rs").empty()) p.twoDimTPInfo.rsDim = static_cast<uint16_t>(std::stoi(get("rs")));
  if (!get("group").empty()) p.quantGroupSize = std::stoi(get("group"));
  if (!get("outdt").empty()) p.outDataType = DType(get("outdt"));
  return p;
}

struct RankResult {
  std::string phase = "-";  // where it stopped
  atb::Status code = atb::NO_ERROR;
  std::string note;
};

RankResult RunRank(const Row& row, int rank, int world, HcclComm comm) {
  RankResult res;
  const auto kv = Params(row.at("params"));
  const std::string action = row.at("action");
  auto fail = [&](const char* phase, atb::Status code) {
    res.phase = phase;
    res.code = code;
    return res;
  };
  aclrtSetDevice(rank);
  atb::Context* ctx = nullptr;
  atb::Context* other = nullptr;
  aclrtStream stream = nullptr;
  EXPECT_EQ(atb::CreateContext(&ctx), atb::NO_ERROR);
  EXPECT_EQ(aclrtCreateStream(&stream), ACL_SUCCESS);
  if (action != "nostream") ctx->SetExecuteStream(stream);
  struct Cleanup {
    atb::Context*& ctx;
    atb::Context*& other;
    aclrtStream& stream;
    atb::Operation* op = nullptr;
    ~Cleanup() {
      if (op != nullptr) atb::DestroyOperation(op);
      if (other != nullptr) atb::DestroyContext(other);
      atb::DestroyContext(ctx);
      aclrtDestroyStream(stream);
    }
  } cleanup{ctx, other, stream};

  const Param param = MakeParam(row, kv, rank, world, comm);
  atb::Operation* op = nullptr;
  atb::Status s = atb::CreateOperation(param, action == "nullop" ? nullptr : &op);
  if (s != atb::NO_ERROR) return fail("C", s);
  cleanup.op = op;
  EXPECT_EQ(op->GetName(), "LinearParallelOperation");

  atb::SVector<atb::TensorDesc> in_descs;
  for (const std::string& spec : Split(row.at("inputs"), ' ')) in_descs.push_back(Desc(spec));
  // Outputs from InferShape, or given (then Setup alone checks them, as ATB's Setup runs InferShape).
  atb::SVector<atb::TensorDesc> out_descs;
  if (row.at("outputs") == "infer") {
    s = op->InferShape(in_descs, out_descs);
    if (s != atb::NO_ERROR) return fail("I", s);
    if (out_descs.size() != op->GetOutputNum()) res.note = "InferShape gave a wrong output count";
  } else {
    for (const std::string& spec : Split(row.at("outputs"), ' ')) out_descs.push_back(Desc(spec));
  }

  Tensors owner;
  atb::VariantPack pack;
  for (const atb::TensorDesc& d : in_descs) pack.inTensors.push_back(owner.Make(d));
  for (const atb::TensorDesc& d : out_descs) pack.outTensors.push_back(owner.Make(d));
  if (action == "nodata") pack.inTensors[0].deviceData = nullptr;
  if (action == "shortdata") pack.inTensors[0].dataSize -= 1;

  uint64_t ws_size = 0;
  if (action != "nosetup") {
    atb::Context* setup_ctx = ctx;
    if (action == "nullctx") setup_ctx = nullptr;
    if (action == "badctx") setup_ctx = reinterpret_cast<atb::Context*>(&owner);
    s = op->Setup(pack, ws_size, setup_ctx);
    if (s != atb::NO_ERROR) return fail("S", s);
  }
  std::vector<uint8_t> ws(ws_size + 1);
  uint64_t give = ws_size;
  if (action == "small") {
    if (ws_size == 0) res.note = "Setup asked for no workspace, so 'small' cannot be tested";
    give = ws_size - 1;
  }
  atb::Context* exec_ctx = ctx;
  if (action == "otherctx") {
    EXPECT_EQ(atb::CreateContext(&other), atb::NO_ERROR);
    other->SetExecuteStream(stream);
    exec_ctx = other;
  }
  s = op->Execute(pack, ws.data(), give, exec_ctx);
  if (s != atb::NO_ERROR) return fail("E", s);
  const aclError sync = aclrtSynchronizeStream(stream);
  if (sync != ACL_SUCCESS) {
    res.note += " synchronize: " + std::string(aclGetRecentErrMsg());
    return fail("R", atb::ERROR_RT_FAIL);
  }
  res.phase = "R";
  return res;
}

class AtbCases : public ::testing::TestWithParam<Row> {};

TEST_P(AtbCases, Row) {
  const Row& row = GetParam();
  const int world = std::stoi(row.at("world"));
  const auto kv = Params(row.at("params"));
  std::vector<int32_t> devices(static_cast<size_t>(world));
  for (int i = 0; i < world; ++i) devices[static_cast<size_t>(i)] = i;
  std::vector<HcclComm> comms(static_cast<size_t>(world), nullptr);
  ASSERT_EQ(HcclCommInitAll(static_cast<uint32_t>(world), devices.data(), comms.data()), HCCL_SUCCESS);
  std::vector<RankResult> results(static_cast<size_t>(world));
  std::vector<std::thread> threads;
  for (int r = 0; r < world; ++r) {
    threads.emplace_back([&, r] { results[static_cast<size_t>(r)] = RunRank(row, r, world, comms[static_cast<size_t>(r)]); });
  }
  for (auto& t : threads) t.join();
  for (HcclComm c : comms) HcclCommDestroy(c);
  for (int r = 0; r < world; ++r) {
    const RankResult& got = results[static_cast<size_t>(r)];
    EXPECT_EQ(got.phase, row.at("phase")) << "rank " << r << " " << got.note << " code " << got.code;
    EXPECT_EQ(got.code, Code(row.at("code"))) << "rank " << r << " phase " << got.phase << " " << got.note;
    EXPECT_TRUE(got.note.empty() || row.at("action") != "run") << got.note;
  }
}

INSTANTIATE_TEST_SUITE_P(Csv, AtbCases, ::testing::ValuesIn(LoadCases()),
                         [](const ::testing::TestParamInfo<Row>& info) { return info.param.at("name"); });

TEST(AtbCases, TableCoversEveryPhase) {
  std::map<std::string, int> phases;
  for (const Row& row : LoadCases()) ++phases[row.at("phase")];
  for (const char* p : {"C", "I", "S", "E", "R"}) EXPECT_GT(phases[p], 0) << p;
}

}  // namespace
