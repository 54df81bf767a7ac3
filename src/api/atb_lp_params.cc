#include "api/atb_lp_params.h"

#include <sys/stat.h>

#include "api/hccl_comm.h"
#include "api/runtime.h"
#include "ops/linear_parallel/lp_validate.h"

namespace mc2::api {
namespace {

using Param = ::atb::infer::LinearParallelParam;

constexpr size_t kMaxCommDomain = 128;

Status Invalid(const std::string& msg) { return AtbError(atb::kInvalidParam, msg); }

// ATB's DistributedInitCheck.
Status CheckDistributed(const Param& p) {
  if (p.commMode != ::atb::infer::COMM_MULTI_PROCESS && p.commMode != ::atb::infer::COMM_MULTI_THREAD) {
    return Invalid(StrCat("commMode: ", static_cast<int>(p.commMode),
                          " (must be COMM_MULTI_PROCESS = 0 or COMM_MULTI_THREAD = 1)"));
  }
  if (p.commDomain.size() > kMaxCommDomain) {
    return Invalid(StrCat("commDomain: ", p.commDomain.size(), " characters (at most ", kMaxCommDomain, ")"));
  }
  struct stat st;
  if (!p.rankTableFile.empty() && stat(p.rankTableFile.c_str(), &st) != 0) {
    return Invalid(StrCat("rankTableFile: '", p.rankTableFile, "' does not exist"));
  }
  if (p.hcclComm != nullptr) {
    if (FindComm(p.hcclComm) == nullptr) {
      return Invalid(StrCat("hcclComm: ", p.hcclComm, " is not a live HCCL communicator"));
    }
    return Status::Ok();  // rank / rankSize are the communicator's
  }
  const int devices = Runtime::Get().DeviceCount();
  if (p.rankSize <= 0 || p.rankSize > devices) {
    return Invalid(StrCat("rankSize: ", p.rankSize, " (must be in [1, ", devices,
                          "], the device count; MC2_DEVICE_COUNT raises it)"));
  }
  if (p.rank < 0 || p.rank >= p.rankSize) {
    return Invalid(StrCat("rank: ", p.rank, " (must be in [0, rankSize = ", p.rankSize, "))"));
  }
  if (p.rankRoot < 0 || p.rankRoot >= p.rankSize) {
    return Invalid(StrCat("rankRoot: ", p.rankRoot, " (must be in [0, rankSize = ", p.rankSize, "))"));
  }
  return Status::Ok();
}

// ATB's CheckType (backend lcoc).
Status CheckLcocType(const Param& p) {
  if (p.type <= Param::UNDEFINED || p.type >= Param::MAX) {
    return Invalid(StrCat("type: ", static_cast<int>(p.type), " is not a ParallelType (0..6)"));
  }
  if (p.keepIntermediate && p.type != Param::ALL_GATHER_LINEAR) {
    return Invalid(StrCat("keepIntermediate: true with type ", static_cast<int>(p.type),
                          " (backend lcoc keeps the intermediate for ALL_GATHER_LINEAR only)"));
  }
  if (p.quantType == Param::QUANT_TYPE_PER_TOKEN && p.type != Param::LINEAR_ALL_REDUCE &&
      p.type != Param::ALLTOALLVC_ALL_GATHER_GMM && p.type != Param::GMM_REDUCE_SCATTER_ALLTOALLVC) {
    return Invalid(StrCat("quantType: QUANT_TYPE_PER_TOKEN with type ", static_cast<int>(p.type),
                          " (backend lcoc: only LINEAR_ALL_REDUCE and the MoE types)"));
  }
  if (p.type == Param::ALLTOALLVC_ALL_GATHER_GMM || p.type == Param::GMM_REDUCE_SCATTER_ALLTOALLVC) {
    return Invalid(StrCat("type: ", static_cast<int>(p.type),
                          " (the MoE types ALLTOALLVC_ALL_GATHER_GMM / GMM_REDUCE_SCATTER_ALLTOALLVC are not "
                          "implemented by mc2: the spec (4.3) leaves their token-count tensors undescribed)"));
  }
  return Status::Ok();
}

// ATB's CheckTypeMc2.
Status CheckMc2Type(const Param& p) {
  if (p.hasResidual) return Invalid("hasResidual: true (backend mc2 has no residual)");
  if (p.commMode != ::atb::infer::COMM_MULTI_THREAD) {
    return Invalid(StrCat("commMode: ", static_cast<int>(p.commMode), " (backend mc2 needs COMM_MULTI_THREAD)"));
  }
  if (p.quantType != Param::QUANT_TYPE_UNQUANT) {
    return Invalid(StrCat("quantType: ", static_cast<int>(p.quantType), " (backend mc2 is unquantized only)"));
  }
  if (p.type != Param::LINEAR_REDUCE_SCATTER) {
    return Invalid(StrCat("type: ", static_cast<int>(p.type), " (backend mc2 supports LINEAR_REDUCE_SCATTER only)"));
  }
  return Status::Ok();
}

}  // namespace

Status CheckAtbLpParam(const Param& p, AtbLpConfig* c) {
  for (size_t i = 0; i < sizeof(p.rsv); ++i) {
    if (p.rsv[i] != 0) return Invalid(StrCat("rsv[", i, "]: ", static_cast<int>(p.rsv[i]), " (reserved, must be 0)"));
  }
  MC2_RETURN_IF_ERROR(CheckDistributed(p));
  const bool lcoc = p.backend == "lcoc";
  if (lcoc && (p.rankSize <= 0 || (p.rankSize & (p.rankSize - 1)) != 0)) {
    return Invalid(StrCat("rankSize: ", p.rankSize, " (backend lcoc needs a power of two)"));
  }
  if (p.backend == "hccl") {
    c->backend = AtbBackend::kHccl;
  } else if (p.backend == "lccl") {
    c->backend = AtbBackend::kLccl;
  } else if (lcoc) {
    c->backend = AtbBackend::kLcoc;
  } else if (p.backend == "mc2") {
    c->backend = AtbBackend::kMc2;
  } else {
    return Invalid(StrCat("backend: '", p.backend, "' (must be \"hccl\", \"lccl\", \"lcoc\" or \"mc2\")"));
  }
  const bool graph = c->backend == AtbBackend::kHccl || c->backend == AtbBackend::kLccl;
  if (lcoc) MC2_RETURN_IF_ERROR(CheckLcocType(p));
  if (c->backend == AtbBackend::kMc2) MC2_RETURN_IF_ERROR(CheckMc2Type(p));
  if (graph && p.keepIntermediate) {
    return Invalid(StrCat("keepIntermediate: true with backend ", p.backend,
                          " (its Linear -> AllReduce graph has no intermediate output; use lcoc and "
                          "ALL_GATHER_LINEAR)"));
  }
  if (c->backend == AtbBackend::kHccl && p.commMode == ::atb::infer::COMM_MULTI_THREAD && p.hcclComm == nullptr) {
    return Invalid("commMode: COMM_MULTI_THREAD with backend hccl needs an hcclComm (HcclCommInitAll)");
  }

  // ATB's isQuant: lcoc / mc2, a non-2-D-TP type, and a quant type in 0..3.
  const int q = static_cast<int>(p.quantType);
  c->is_quant = !graph && p.type != Param::ALL_GATHER_LINEAR_REDUCE_SCATTER && q > -1 && q < 4;
  c->per_token = c->is_quant && p.quantType == Param::QUANT_TYPE_PER_TOKEN;
  LinearParallelAttrs& a = c->attrs;
  a.type = graph ? LinearParallelType::kLinearAllReduce : static_cast<LinearParallelType>(p.type);
  a.trans_weight = p.transWeight;
  a.has_residual = p.hasResidual;
  a.keep_intermediate = p.keepIntermediate;
  a.quant_type = c->is_quant ? static_cast<QuantType>(q) : QuantType::kUnquant;
  a.quant_group_size = p.quantGroupSize;
  if (c->is_quant && p.outDataType != ACL_DT_UNDEFINED) {
    if (IsKnownDType(static_cast<int32_t>(p.outDataType))) {
      a.out_dtype = static_cast<DType>(p.outDataType);
    } else {
      c->out_dtype_error = AtbError(atb::kInvalidTensorIniMatch, "outDataType: ", static_cast<int>(p.outDataType),
                                    " (W8A8 outputs ACL_FLOAT16 or ACL_BF16)");
    }
  }
  a.ag_dim = p.twoDimTPInfo.agDim;
  a.rs_dim = p.twoDimTPInfo.rsDim;
  a.inner_dim_is_ag = p.twoDimTPInfo.innerDimIsAg != 0;
  if (p.hcclComm != nullptr) {
    c->world_size = FindComm(p.hcclComm)->comm->world_size();
  } else {
    c->world_size = p.rankSize;
  }
  // The native operator's parameter rules (2-D TP grid, quantGroupSize, ...), shared with mc2's
  // own API and golden model.
  return ops::CheckLinearParallelParam(a, c->world_size);
}

}  // namespace mc2::api
