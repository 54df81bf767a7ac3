// Fuzzes ATB's LinearParallelOperation through the public C++ API: CreateOperation with a fuzzed
// atb::infer::LinearParallelParam, then InferShape and Setup with fuzzed tensor descriptions and
// buffers.
//
// Setup (once): HCCL communicators of 1 and 2 thread ranks (rank 0 on device 0) and an ATB context.
// Input decoding (FuzzedDataProvider):
//   the parameter: a consistent one (backend mostly "lcoc", type 0..4, quantType -1..3, with
//     residual / keepIntermediate / transWeight, rank / rankSize / hcclComm), then wild values for
//     some fields: any int for type, quantType, commMode, rank, rankSize, rankRoot (the enums have
//     a fixed underlying int, so any int is a value of them); quantGroupSize, agDim / rsDim,
//     innerDimIsAg, a nonzero rsv byte, backend and commDomain strings (also 128 / 129 chars),
//     rankTableFile (none, missing, existing), hcclComm (null, a live one, a stale pointer), and
//     outDataType (any value of aclDataType's range, -64..63: a C++ caller cannot hold others);
//   the tensors: the inputs the parameter asks for (input 2-D or 3-D, weight ND or NZ, bias /
//     deqScale / residual / perTokenScale of their kind) with InferShape's outputs, then up to 16
//     mutations (dtype or format from the enums' range, dimNum up to any uint64, a dim set to an
//     interesting int64, an extra or a missing tensor), then per tensor a buffer of exactly the
//     dataSize it claims: the bytes the description needs, the NZ padded size, one byte less, or
//     none (null data, dataSize 0);
//   the context: live, null, or a pointer that is not a context.
// InferShape runs on the consistent inputs and again on the mutated ones.
// Setup is skipped when it would make a communicator of several ranks itself (hcclComm null and
// rankSize > 1: the bootstrap would wait for peers that never come); CreateOperation and InferShape
// still run.
//
// Checks: every call returns an atb::ErrorType (never a crash, an out-of-bounds access, UB or a
// leak); Setup reads at most what each dataSize claims; a successful Setup books a positive
// workspace; DestroyOperation of the created operation succeeds.
#include <fuzzer/FuzzedDataProvider.h>

#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "acl/acl.h"
#include "atb/atb_infer.h"
#include "fuzz_check.h"
#include "hccl/hccl.h"
#include "tensor_gen.h"

namespace {

using Param = atb::infer::LinearParallelParam;
using mc2::fuzz::InterestingInt;

struct Fixture {
  HcclComm one = nullptr, two = nullptr;
  atb::Context* context = nullptr;
};

const Fixture& SetUp() {
  static const Fixture fixture = [] {
    Fixture f;
    FUZZ_CHECK(aclrtSetDevice(0) == ACL_SUCCESS);
    int32_t devices[2] = {0, 1};
    static HcclComm one[1], two[2];
    FUZZ_CHECK(HcclCommInitAll(1, devices, one) == HCCL_SUCCESS);
    FUZZ_CHECK(HcclCommInitAll(2, devices, two) == HCCL_SUCCESS);
    f.one = one[0];
    f.two = two[0];
    FUZZ_CHECK(atb::CreateContext(&f.context) == atb::NO_ERROR);
    return f;
  }();
  return fixture;
}

int SmallOrWild(FuzzedDataProvider& fdp, int lo, int hi) {
  return fdp.ConsumeIntegralInRange<int>(0, 15) == 0 ? fdp.ConsumeIntegral<int>() : fdp.ConsumeIntegralInRange(lo, hi);
}

// An aclDataType from its representable range (-64..63); mostly one LinearParallel knows.
aclDataType PickDType(FuzzedDataProvider& fdp) {
  static constexpr int kKnown[] = {ACL_FLOAT16, ACL_BF16, ACL_INT8, ACL_INT32, ACL_INT64, ACL_FLOAT, ACL_INT4};
  return static_cast<aclDataType>(fdp.ConsumeBool() ? fdp.PickValueInArray(kKnown)
                                                    : fdp.ConsumeIntegralInRange<int>(-64, 63));
}

Param DecodeParam(FuzzedDataProvider& fdp, const Fixture& fx, std::string* domain_storage) {
  Param p;
  static const char* const kBackends[] = {"lcoc", "lcoc", "lcoc", "hccl", "lccl", "mc2", "", "LCOC", "lcoc\n"};
  p.backend = fdp.PickValueInArray(kBackends);
  p.type = static_cast<Param::ParallelType>(fdp.ConsumeIntegralInRange<int>(0, 4));
  p.quantType = static_cast<Param::QuantType>(fdp.ConsumeIntegralInRange<int>(-1, 3));
  p.transWeight = fdp.ConsumeBool();
  p.hasResidual = fdp.ConsumeBool();
  p.keepIntermediate = fdp.ConsumeIntegralInRange<int>(0, 3) == 0;
  p.quantGroupSize = p.quantType == Param::QUANT_TYPE_PER_GROUP ? 32 * fdp.ConsumeIntegralInRange<int>(1, 2) : 0;
  p.commMode = fdp.ConsumeBool() ? atb::infer::COMM_MULTI_THREAD : atb::infer::COMM_MULTI_PROCESS;
  switch (fdp.ConsumeIntegralInRange<int>(0, 7)) {
    case 0:
      p.hcclComm = nullptr;  // ATB would make its own communicator
      p.rankSize = 1;
      break;
    case 1: {
      static int not_a_comm;
      p.hcclComm = &not_a_comm;
      break;
    }
    case 2:
      p.hcclComm = fx.one;
      break;
    default:
      p.hcclComm = fx.two;
      break;
  }
  if (p.hcclComm == fx.two || p.hcclComm == fx.one) p.rankSize = p.hcclComm == fx.two ? 2 : 1;
  p.twoDimTPInfo.agDim = static_cast<uint16_t>(p.rankSize == 2 ? 2 : 1);
  p.twoDimTPInfo.rsDim = 1;
  // Wild values.
  if (fdp.ConsumeIntegralInRange<int>(0, 7) == 0) p.type = static_cast<Param::ParallelType>(SmallOrWild(fdp, -2, 8));
  if (fdp.ConsumeIntegralInRange<int>(0, 7) == 0) {
    p.quantType = static_cast<Param::QuantType>(SmallOrWild(fdp, -2, 5));
  }
  if (fdp.ConsumeIntegralInRange<int>(0, 15) == 0) p.commMode = static_cast<atb::infer::CommMode>(SmallOrWild(fdp, -2, 3));
  if (fdp.ConsumeIntegralInRange<int>(0, 15) == 0) p.rank = SmallOrWild(fdp, -1, 3);
  if (fdp.ConsumeIntegralInRange<int>(0, 15) == 0) p.rankSize = SmallOrWild(fdp, -1, 9);
  if (fdp.ConsumeIntegralInRange<int>(0, 15) == 0) p.rankRoot = SmallOrWild(fdp, -1, 3);
  if (fdp.ConsumeIntegralInRange<int>(0, 7) == 0) p.quantGroupSize = static_cast<int32_t>(InterestingInt(fdp));
  if (fdp.ConsumeIntegralInRange<int>(0, 7) == 0) {
    p.twoDimTPInfo.agDim = fdp.ConsumeIntegral<uint16_t>();
    p.twoDimTPInfo.rsDim = fdp.ConsumeIntegral<uint16_t>();
    p.twoDimTPInfo.innerDimIsAg = fdp.ConsumeIntegral<uint8_t>();
  }
  if (fdp.ConsumeIntegralInRange<int>(0, 31) == 0) {
    p.rsv[fdp.ConsumeIntegralInRange<size_t>(0, sizeof(p.rsv) - 1)] = fdp.ConsumeIntegral<uint8_t>();
  }
  if (fdp.ConsumeIntegralInRange<int>(0, 7) == 0) p.outDataType = PickDType(fdp);
  switch (fdp.ConsumeIntegralInRange<int>(0, 15)) {
    case 0:
      p.rankTableFile = "/nonexistent/rank_table.json";
      break;
    case 1:
      p.rankTableFile = "/dev/null";
      break;
    default:
      break;
  }
  switch (fdp.ConsumeIntegralInRange<int>(0, 15)) {
    case 0:
      *domain_storage = std::string(128, 'd');
      break;
    case 1:
      *domain_storage = std::string(129, 'd');
      break;
    case 2:
      *domain_storage = "fuzz";
      break;
    default:
      domain_storage->clear();
      break;
  }
  p.commDomain = *domain_storage;
  return p;
}

atb::TensorDesc Desc(aclDataType dtype, std::initializer_list<int64_t> dims, aclFormat format = ACL_FORMAT_ND) {
  atb::TensorDesc d;
  d.dtype = dtype;
  d.format = format;
  for (int64_t v : dims) d.shape.dims[d.shape.dimNum++] = v;
  return d;
}

// The inputs `p` asks for, in spec 4.3's order (input, weight[, bias, deqScale][, residual]
// [, perTokenScale]), for its kind: float, W8A16 or W8A8.
std::vector<atb::TensorDesc> Inputs(FuzzedDataProvider& fdp, const Param& p, int world) {
  const int64_t m = fdp.ConsumeIntegralInRange<int64_t>(0, 4) * (world > 0 && world <= 8 ? world : 1);
  const int64_t k = fdp.ConsumeIntegralInRange<int64_t>(1, 64);
  const int64_t n = fdp.ConsumeIntegralInRange<int64_t>(1, 64);
  const bool quant = p.quantType >= Param::QUANT_TYPE_PER_TENSOR && p.quantType <= Param::QUANT_TYPE_PER_TOKEN;
  const bool w8a8 = quant && fdp.ConsumeBool();
  const aclDataType act = fdp.ConsumeBool() ? ACL_BF16 : ACL_FLOAT16;
  const aclDataType x = w8a8 ? ACL_INT8 : act;
  const aclDataType w = quant ? ACL_INT8 : act;
  std::vector<atb::TensorDesc> in;
  in.push_back(fdp.ConsumeBool() ? Desc(x, {1, m, k}) : Desc(x, {m, k}));
  const bool nz = fdp.ConsumeIntegralInRange<int>(0, 3) == 0;
  const int64_t c0 = w == ACL_INT8 ? 32 : 16;
  if (nz && fdp.ConsumeBool()) {  // [1, C/c0, R_pad, c0]
    const int64_t r = p.transWeight ? n : k, c = p.transWeight ? k : n;
    in.push_back(Desc(w, {1, (c + c0 - 1) / c0, (r + 15) / 16 * 16, c0}, ACL_FORMAT_FRACTAL_NZ));
  } else {
    in.push_back(Desc(w, {p.transWeight ? n : k, p.transWeight ? k : n}, nz ? ACL_FORMAT_FRACTAL_NZ : ACL_FORMAT_ND));
  }
  if (quant) {
    const int64_t groups = p.quantType == Param::QUANT_TYPE_PER_GROUP && p.quantGroupSize > 0
                               ? (k + p.quantGroupSize - 1) / p.quantGroupSize
                               : 1;
    const int64_t last = p.quantType == Param::QUANT_TYPE_PER_TENSOR ? 1 : n;
    const aclDataType vec = w8a8 ? ACL_INT32 : act;
    const aclDataType scale = w8a8 ? (fdp.ConsumeBool() ? ACL_INT64 : ACL_FLOAT) : act;
    in.push_back(fdp.ConsumeIntegralInRange<int>(0, 3) == 0 ? atb::TensorDesc{vec, ACL_FORMAT_ND, {}}  // empty bias
                                                             : Desc(vec, {groups, last}));
    in.push_back(Desc(scale, {groups, last}));
  }
  if (p.hasResidual) in.push_back(Desc(w8a8 ? ACL_FLOAT16 : act, {n}));
  if (p.quantType == Param::QUANT_TYPE_PER_TOKEN) in.push_back(Desc(ACL_FLOAT, {m}));
  return in;
}

void MutateDesc(FuzzedDataProvider& fdp, atb::TensorDesc& d) {
  switch (fdp.ConsumeIntegralInRange<int>(0, 5)) {
    case 0:
      d.dtype = PickDType(fdp);
      break;
    case 1:
      if (fdp.ConsumeBool()) {
        d.format = fdp.ConsumeBool() ? ACL_FORMAT_ND : ACL_FORMAT_FRACTAL_NZ;
      } else {
        d.format = static_cast<aclFormat>(fdp.ConsumeIntegralInRange<int>(-64, 63));
      }
      break;
    case 2:
      d.shape.dimNum = fdp.ConsumeBool() ? fdp.ConsumeIntegralInRange<uint64_t>(0, atb::MAX_DIM)
                                         : fdp.ConsumeIntegral<uint64_t>();
      break;
    default:
      d.shape.dims[fdp.ConsumeIntegralInRange<int>(0, atb::MAX_DIM - 1)] = InterestingInt(fdp);
      break;
  }
}

// Bytes of `d`'s elements, or -1 when that is not a small finite number (this harness only).
int64_t DescBytes(const atb::TensorDesc& d) {
  if (d.shape.dimNum > atb::MAX_DIM) return -1;
  static constexpr struct {
    int dtype, bits;
  } kBits[] = {{ACL_FLOAT16, 16}, {ACL_BF16, 16}, {ACL_INT8, 8}, {ACL_INT32, 32}, {ACL_INT64, 64},
               {ACL_FLOAT, 32}, {ACL_INT4, 4}, {ACL_UINT8, 8}, {ACL_DOUBLE, 64}, {ACL_UINT64, 64}};
  int bits = 8;
  for (const auto& b : kBits) {
    if (b.dtype == d.dtype) bits = b.bits;
  }
  int64_t numel = 1;
  for (uint64_t i = 0; i < d.shape.dimNum; ++i) {
    if (d.shape.dims[i] < 0 || __builtin_mul_overflow(numel, d.shape.dims[i], &numel)) return -1;
  }
  if (numel > (int64_t{1} << 24)) return -1;
  return (numel * bits + 7) / 8;
}

// A tensor with a buffer of exactly the dataSize it claims.
atb::Tensor Back(FuzzedDataProvider& fdp, mc2::fuzz::Arena& arena, const atb::TensorDesc& d) {
  atb::Tensor t;
  t.desc = d;
  int64_t bytes = DescBytes(d);
  if (bytes >= 0 && d.format == ACL_FORMAT_FRACTAL_NZ && d.shape.dimNum == 2 && d.shape.dims[0] <= 4096 &&
      d.shape.dims[1] <= 4096 && fdp.ConsumeBool()) {
    // The NZ arrangement of a 2-D description: ceil(C / c0) blocks of ceil16(R) x c0.
    const int64_t c0 = d.dtype == ACL_INT8 ? 32 : 16;
    bytes = (d.shape.dims[1] + c0 - 1) / c0 * ((d.shape.dims[0] + 15) / 16 * 16) * c0 * (d.dtype == ACL_INT8 ? 1 : 2);
  }
  switch (fdp.ConsumeIntegralInRange<int>(0, 15)) {
    case 0:
      bytes = -1;  // none
      break;
    case 1:
      if (bytes > 0) --bytes;
      break;
    default:
      break;
  }
  if (bytes < 0 || bytes > mc2::fuzz::kMaxBackingBytes) return t;  // deviceData null, dataSize 0
  t.dataSize = static_cast<uint64_t>(bytes);
  t.deviceData = bytes > 0 ? arena.Alloc(static_cast<size_t>(bytes)) : nullptr;
  if (bytes > 0) std::memset(t.deviceData, 0x11, static_cast<size_t>(bytes));
  return t;
}

bool IsErrorType(atb::Status s) { return s >= atb::NO_ERROR && s <= atb::ERROR_COPY_HOST_MEMORY_FAIL; }

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  setenv("MC2_API_QUIET", "1", 0);  // refusals are the normal answer here; do not print each one
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const Fixture& fx = SetUp();
  FuzzedDataProvider fdp(data, size);
  std::string domain;
  const Param p = DecodeParam(fdp, fx, &domain);
  atb::Operation* op = nullptr;
  const atb::Status created = atb::CreateOperation(p, &op);
  FUZZ_CHECK(IsErrorType(created));
  if (created != atb::NO_ERROR) {
    FUZZ_CHECK(op == nullptr);
    return 0;
  }
  FUZZ_CHECK(op != nullptr);
  const int world = p.hcclComm == fx.two ? 2 : p.hcclComm == fx.one ? 1 : p.rankSize;

  std::vector<atb::TensorDesc> in = Inputs(fdp, p, world);
  atb::SVector<atb::TensorDesc> in_descs, out_descs;
  for (const atb::TensorDesc& d : in) in_descs.push_back(d);
  const atb::Status inferred = op->InferShape(in_descs, out_descs);
  FUZZ_CHECK(IsErrorType(inferred));
  if (inferred == atb::NO_ERROR) FUZZ_CHECK(out_descs.size() == op->GetOutputNum());
  std::vector<atb::TensorDesc> out(out_descs.begin(), out_descs.end());
  while (out.size() < op->GetOutputNum()) out.push_back(Desc(ACL_FLOAT16, {1, 1}));

  const int mutations = fdp.ConsumeIntegralInRange<int>(0, 16);
  for (int i = 0; i < mutations && fdp.remaining_bytes() > 0; ++i) {
    switch (fdp.ConsumeIntegralInRange<int>(0, 15)) {
      case 0:
        if (!in.empty()) in.pop_back();
        break;
      case 1:
        in.push_back(Desc(ACL_FLOAT16, {1}));
        break;
      case 2:
        if (!out.empty()) out.pop_back();
        break;
      case 3:
        out.push_back(Desc(ACL_FLOAT16, {1}));
        break;
      default: {
        const size_t total = in.size() + out.size();
        if (total == 0) break;
        const size_t which = fdp.ConsumeIntegralInRange<size_t>(0, total - 1);
        MutateDesc(fdp, which < in.size() ? in[which] : out[which - in.size()]);
        break;
      }
    }
  }
  {
    atb::SVector<atb::TensorDesc> mutated, shapes;
    for (const atb::TensorDesc& d : in) mutated.push_back(d);
    FUZZ_CHECK(IsErrorType(op->InferShape(mutated, shapes)));
  }
  mc2::fuzz::Arena arena;
  atb::VariantPack pack;
  for (const atb::TensorDesc& d : in) pack.inTensors.push_back(Back(fdp, arena, d));  // at most 22 each
  for (const atb::TensorDesc& d : out) pack.outTensors.push_back(Back(fdp, arena, d));
  static char not_a_context;
  atb::Context* context = fx.context;
  switch (fdp.ConsumeIntegralInRange<int>(0, 31)) {
    case 0:
      context = nullptr;
      break;
    case 1:
      context = reinterpret_cast<atb::Context*>(&not_a_context);
      break;
    default:
      break;
  }
  // hcclComm null with several ranks: Setup would bootstrap a real communicator and wait for
  // peers (see the top of this file).
  const bool makes_a_job = p.hcclComm == nullptr && p.rankSize != 1;
  if (!makes_a_job) {
    uint64_t workspace = 0;
    const atb::Status set_up = op->Setup(pack, workspace, context);
    FUZZ_CHECK(IsErrorType(set_up));
    if (set_up == atb::NO_ERROR) FUZZ_CHECK(workspace > 0);
  }
  FUZZ_CHECK(atb::DestroyOperation(op) == atb::NO_ERROR);
  return 0;
}
