#include "core/status.h"

namespace mc2 {
namespace {

struct CodeEntry {
  int32_t code;
  const char* name;
};

constexpr CodeEntry kAclnnNames[] = {
    {aclnn::kSuccess, "ACLNN_SUCCESS"},
    {aclnn::kErrParamNullptr, "ACLNN_ERR_PARAM_NULLPTR"},
    {aclnn::kErrParamInvalid, "ACLNN_ERR_PARAM_INVALID"},
    {aclnn::kErrRuntime, "ACLNN_ERR_RUNTIME_ERROR"},
    {aclnn::kErrInner, "ACLNN_ERR_INNER"},
    {aclnn::kErrInnerInferShape, "ACLNN_ERR_INNER_INFERSHAPE_ERROR"},
    {aclnn::kErrInnerTiling, "ACLNN_ERR_INNER_TILING_ERROR"},
    {aclnn::kErrInnerFindKernel, "ACLNN_ERR_INNER_FIND_KERNEL_ERROR"},
    {aclnn::kErrInnerCreateExecutor, "ACLNN_ERR_INNER_CREATE_EXECUTOR"},
    {aclnn::kErrInnerNotTransExecutor, "ACLNN_ERR_INNER_NOT_TRANS_EXECUTOR"},
    {aclnn::kErrInnerNullptr, "ACLNN_ERR_INNER_NULLPTR"},
};

constexpr const char* kHcclNames[] = {
    "HCCL_SUCCESS",     "HCCL_E_PARA",          "HCCL_E_PTR",         "HCCL_E_MEMORY",
    "HCCL_E_INTERNAL",  "HCCL_E_NOT_SUPPORT",   "HCCL_E_NOT_FOUND",   "HCCL_E_UNAVAIL",
    "HCCL_E_SYSCALL",   "HCCL_E_TIMEOUT",       "HCCL_E_OPEN_FILE_FAILURE", "HCCL_E_TCP_CONNECT",
    "HCCL_E_ROCE_CONNECT", "HCCL_E_TCP_TRANSFER", "HCCL_E_ROCE_TRANSFER", "HCCL_E_RUNTIME",
    "HCCL_E_DRV",       "HCCL_E_PROFILING",     "HCCL_E_CCE",         "HCCL_E_NETWORK",
    "HCCL_E_AGAIN",     "HCCL_E_REMOTE",        "HCCL_E_SUSPENDING",  "HCCL_E_OPRETRY_FAIL",
    "HCCL_E_OOM",
};

constexpr const char* kAtbNames[] = {
    "NO_ERROR",
    "ERROR_INVALID_PARAM",
    "ERROR_INVALID_GRAPH",
    "ERROR_INTERNAL_ERROR",
    "ERROR_RT_FAIL",
    "ERROR_INVALID_IN_TENSOR_NUM",
    "ERROR_INVALID_TENSOR_DTYPE",
    "ERROR_INVALID_TENSOR_FORMAT",
    "ERROR_INVALID_TENSOR_DIM",
    "ERROR_INVALID_TENSOR_SIZE",
    "ERROR_OPERATION_NULL_RUNNER",
    "ERROR_GRAPH_INFERSHAPE_FUNC_FAIL",
    "ERROR_CANN_ERROR",
    "ERROR_INVALID_TENSOR_INI_MATCH",
    "ERROR_INVALID_TENSOR_ADDR",
    "ERROR_INVALID_TENSOR_NUM",
    "ERROR_INVALID_TENSOR_DIM_NUM",
    "ERROR_INVALID_SINGLE_OPERATION_PARAM",
    "ERROR_GRAPH_NODE_RESHAPE_FUNC_FAIL",
    "ERROR_INVALID_GRAPH_NODE_CHUNK",
    "ERROR_INVALID_CONTEXT_ADDR",
    "ERROR_INVALID_STREAM",
    "ERROR_INVALID_WORKSPACE_SIZE",
    "ERROR_INVALID_WORKSPACE_ADDR",
    "ERROR_INVALID_OPERATION_ADDR",
    "ERROR_HCCL_FAIL",
    "ERROR_OUT_OF_DEVICE_MEMORY",
    "ERROR_OUT_OF_HOST_MEMORY",
    "ERROR_COMM_EMPTY",
    "ERROR_COPY_HOST_MEMORY_FAIL",
};

constexpr CodeEntry kAclNames[] = {
    {acl::kSuccess, "ACL_SUCCESS"},
    {acl::kErrInvalidParam, "ACL_ERROR_INVALID_PARAM"},
    {acl::kErrUninitialize, "ACL_ERROR_UNINITIALIZE"},
    {acl::kErrRepeatInitialize, "ACL_ERROR_REPEAT_INITIALIZE"},
    {acl::kErrRepeatFinalize, "ACL_ERROR_REPEAT_FINALIZE"},
    {acl::kErrBadAlloc, "ACL_ERROR_BAD_ALLOC"},
    {acl::kErrApiNotSupport, "ACL_ERROR_API_NOT_SUPPORT"},
    {acl::kErrInvalidDevice, "ACL_ERROR_INVALID_DEVICE"},
    {acl::kErrInternal, "ACL_ERROR_INTERNAL_ERROR"},
    {acl::kErrFailure, "ACL_ERROR_FAILURE"},
    {acl::kErrRtFailure, "ACL_ERROR_RT_FAILURE"},
};

template <size_t N>
const char* Lookup(const CodeEntry (&table)[N], int32_t code) {
  for (const CodeEntry& e : table) {
    if (e.code == code) return e.name;
  }
  return "UNKNOWN";
}

template <size_t N>
const char* Lookup(const char* const (&table)[N], int32_t code) {
  return code >= 0 && static_cast<size_t>(code) < N ? table[code] : "UNKNOWN";
}

}  // namespace

const char* CodeName(ErrorSpace space, int32_t code) {
  switch (space) {
    case ErrorSpace::kOk:
      return "OK";
    case ErrorSpace::kAclnn:
      return Lookup(kAclnnNames, code);
    case ErrorSpace::kHccl:
      return Lookup(kHcclNames, code);
    case ErrorSpace::kAtb:
      return Lookup(kAtbNames, code);
    case ErrorSpace::kAcl:
      return Lookup(kAclNames, code);
  }
  return "UNKNOWN";
}

int32_t Status::ToAclnn() const {
  switch (space_) {
    case ErrorSpace::kOk:
      return aclnn::kSuccess;
    case ErrorSpace::kAclnn:
      return code_;
    case ErrorSpace::kHccl:
      if (code_ == hccl::kEPtr) return aclnn::kErrParamNullptr;
      if (code_ == hccl::kEPara || code_ == hccl::kENotSupport) return aclnn::kErrParamInvalid;
      return aclnn::kErrInner;
    case ErrorSpace::kAtb:
      if (code_ == atb::kInvalidTensorAddr) return aclnn::kErrParamNullptr;
      if (code_ == atb::kInternalError || code_ == atb::kHcclFail || code_ == atb::kRtFail ||
          code_ == atb::kOutOfHostMemory)
        return aclnn::kErrInner;
      return aclnn::kErrParamInvalid;
    case ErrorSpace::kAcl:
      if (code_ == acl::kErrInvalidParam) return aclnn::kErrParamInvalid;
      return aclnn::kErrRuntime;
  }
  return aclnn::kErrInner;
}

int32_t Status::ToHccl() const {
  switch (space_) {
    case ErrorSpace::kOk:
      return hccl::kSuccess;
    case ErrorSpace::kHccl:
      return code_;
    case ErrorSpace::kAclnn:
      if (code_ == aclnn::kErrParamNullptr) return hccl::kEPtr;
      if (code_ == aclnn::kErrParamInvalid) return hccl::kEPara;
      return hccl::kEInternal;
    case ErrorSpace::kAtb:
      if (code_ == atb::kHcclFail) return hccl::kEInternal;
      if (code_ == atb::kOutOfHostMemory) return hccl::kEMemory;
      if (code_ == atb::kInternalError) return hccl::kEInternal;
      return hccl::kEPara;
    case ErrorSpace::kAcl:
      if (code_ == acl::kErrInvalidParam) return hccl::kEPara;
      if (code_ == acl::kErrBadAlloc) return hccl::kEMemory;
      return hccl::kERuntime;
  }
  return hccl::kEInternal;
}

int32_t Status::ToAtb() const {
  switch (space_) {
    case ErrorSpace::kOk:
      return atb::kNoError;
    case ErrorSpace::kAtb:
      return code_;
    case ErrorSpace::kHccl:
      return atb::kHcclFail;
    case ErrorSpace::kAclnn:
      if (code_ == aclnn::kErrParamNullptr || code_ == aclnn::kErrParamInvalid) return atb::kInvalidParam;
      return atb::kInternalError;
    case ErrorSpace::kAcl:
      if (code_ == acl::kErrInvalidParam) return atb::kInvalidParam;
      return atb::kRtFail;
  }
  return atb::kInternalError;
}

int32_t Status::ToAcl() const {
  switch (space_) {
    case ErrorSpace::kOk:
      return acl::kSuccess;
    case ErrorSpace::kAcl:
      return code_;
    case ErrorSpace::kAclnn:
      if (code_ == aclnn::kErrParamNullptr || code_ == aclnn::kErrParamInvalid) return acl::kErrInvalidParam;
      return acl::kErrFailure;
    case ErrorSpace::kHccl:
      if (code_ == hccl::kEPara || code_ == hccl::kEPtr) return acl::kErrInvalidParam;
      if (code_ == hccl::kEMemory || code_ == hccl::kEOom) return acl::kErrBadAlloc;
      return acl::kErrFailure;
    case ErrorSpace::kAtb:
      if (code_ == atb::kOutOfHostMemory) return acl::kErrBadAlloc;
      return acl::kErrInvalidParam;
  }
  return acl::kErrFailure;
}

std::string Status::ToString() const {
  if (ok()) return "OK";
  return StrCat(code_, " (", CodeName(space_, code_), "): ", message_);
}

Status& Status::Prepend(const std::string& context) {
  if (!ok()) message_ = context + ": " + message_;
  return *this;
}

}  // namespace mc2
