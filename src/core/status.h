// Status: the error value every mc2 layer returns.
//
// CANN has three families of codes that its users test for: aclnnStatus (161001 null pointer,
// 161002 invalid parameter, 561xxx inner errors), HcclResult (HCCL_E_PARA, HCCL_E_TIMEOUT, ...)
// and atb::ErrorType (ERROR_INVALID_TENSOR_DIM, ...). A Status carries the code in the family
// of the layer that produced it, plus a message that names the parameter, its value and the rule
// it broke. The CANN-compatible API maps a Status of another family onto its own with
// ToAclnn()/ToHccl()/ToAtb(); the mapping keeps the meaning (a null pointer stays a null pointer).
#pragma once

#include <cstdint>
#include <sstream>
#include <string>
#include <utility>

namespace mc2 {

enum class ErrorSpace : uint8_t { kOk = 0, kAclnn, kHccl, kAtb, kAcl };

// Codes, with CANN's values (spec section 1.1).
namespace aclnn {
inline constexpr int32_t kSuccess = 0;
inline constexpr int32_t kErrParamNullptr = 161001;
inline constexpr int32_t kErrParamInvalid = 161002;
inline constexpr int32_t kErrRuntime = 361001;
inline constexpr int32_t kErrInner = 561000;
inline constexpr int32_t kErrInnerInferShape = 561001;
inline constexpr int32_t kErrInnerTiling = 561002;
inline constexpr int32_t kErrInnerFindKernel = 561003;
inline constexpr int32_t kErrInnerCreateExecutor = 561101;
inline constexpr int32_t kErrInnerNotTransExecutor = 561102;
inline constexpr int32_t kErrInnerNullptr = 561103;
}  // namespace aclnn

namespace hccl {
inline constexpr int32_t kSuccess = 0;
inline constexpr int32_t kEPara = 1;
inline constexpr int32_t kEPtr = 2;
inline constexpr int32_t kEMemory = 3;
inline constexpr int32_t kEInternal = 4;
inline constexpr int32_t kENotSupport = 5;
inline constexpr int32_t kENotFound = 6;
inline constexpr int32_t kEUnavail = 7;
inline constexpr int32_t kESyscall = 8;
inline constexpr int32_t kETimeout = 9;
inline constexpr int32_t kEOpenFileFailure = 10;
inline constexpr int32_t kETcpConnect = 11;
inline constexpr int32_t kETcpTransfer = 13;
inline constexpr int32_t kERuntime = 15;
inline constexpr int32_t kENetwork = 19;
inline constexpr int32_t kEAgain = 20;
inline constexpr int32_t kERemote = 21;
inline constexpr int32_t kEOom = 24;
}  // namespace hccl

namespace atb {
inline constexpr int32_t kNoError = 0;
inline constexpr int32_t kInvalidParam = 1;
inline constexpr int32_t kInternalError = 3;
inline constexpr int32_t kRtFail = 4;
inline constexpr int32_t kInvalidInTensorNum = 5;
inline constexpr int32_t kInvalidTensorDtype = 6;
inline constexpr int32_t kInvalidTensorFormat = 7;
inline constexpr int32_t kInvalidTensorDim = 8;
inline constexpr int32_t kInvalidTensorSize = 9;
inline constexpr int32_t kInvalidTensorIniMatch = 13;
inline constexpr int32_t kInvalidTensorAddr = 14;
inline constexpr int32_t kInvalidTensorNum = 15;
inline constexpr int32_t kInvalidTensorDimNum = 16;
inline constexpr int32_t kInvalidSingleOperationParam = 17;
inline constexpr int32_t kInvalidContextAddr = 20;
inline constexpr int32_t kInvalidStream = 21;
inline constexpr int32_t kInvalidWorkspaceSize = 22;
inline constexpr int32_t kInvalidWorkspaceAddr = 23;
inline constexpr int32_t kInvalidOperationAddr = 24;
inline constexpr int32_t kHcclFail = 25;
inline constexpr int32_t kOutOfHostMemory = 27;
inline constexpr int32_t kCommEmpty = 28;
}  // namespace atb

namespace acl {
inline constexpr int32_t kSuccess = 0;
inline constexpr int32_t kErrInvalidParam = 100000;
inline constexpr int32_t kErrUninitialize = 100001;
inline constexpr int32_t kErrRepeatInitialize = 100002;
inline constexpr int32_t kErrRepeatFinalize = 100037;
inline constexpr int32_t kErrBadAlloc = 200000;
inline constexpr int32_t kErrApiNotSupport = 200001;
inline constexpr int32_t kErrInvalidDevice = 200002;
inline constexpr int32_t kErrInternal = 500000;
inline constexpr int32_t kErrFailure = 500001;
inline constexpr int32_t kErrRtFailure = 500003;
}  // namespace acl

class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(ErrorSpace space, int32_t code, std::string message)
      : space_(code == 0 ? ErrorSpace::kOk : space), code_(code), message_(std::move(message)) {}

  static Status Ok() { return Status(); }

  bool ok() const { return space_ == ErrorSpace::kOk; }
  ErrorSpace space() const { return space_; }
  int32_t code() const { return code_; }
  const std::string& message() const { return message_; }

  // The same error expressed in another family's codes.
  int32_t ToAclnn() const;
  int32_t ToHccl() const;
  int32_t ToAtb() const;
  int32_t ToAcl() const;

  // "161002 (ACLNN_ERR_PARAM_INVALID): x2: dim 0 is 4095 but x1's last dim is 4096 (k must match)"
  std::string ToString() const;

  // Prefixes the message with context ("rank 3: ..."), keeping the code.
  Status& Prepend(const std::string& context);

 private:
  ErrorSpace space_ = ErrorSpace::kOk;
  int32_t code_ = 0;
  std::string message_;
};

// The symbolic name of a code, e.g. "ACLNN_ERR_PARAM_INVALID", "HCCL_E_TIMEOUT".
const char* CodeName(ErrorSpace space, int32_t code);

namespace internal {
inline void StrAppend(std::ostringstream&) {}
template <typename T, typename... Rest>
void StrAppend(std::ostringstream& os, const T& v, const Rest&... rest) {
  os << v;
  StrAppend(os, rest...);
}
}  // namespace internal

// Concatenates anything printable with operator<<.
template <typename... Args>
std::string StrCat(const Args&... args) {
  std::ostringstream os;
  internal::StrAppend(os, args...);
  return os.str();
}

// Shorthands for the codes the layers produce most.
template <typename... Args>
Status AclnnError(int32_t code, const Args&... msg) {
  return Status(ErrorSpace::kAclnn, code, StrCat(msg...));
}
template <typename... Args>
Status HcclError(int32_t code, const Args&... msg) {
  return Status(ErrorSpace::kHccl, code, StrCat(msg...));
}
template <typename... Args>
Status AtbError(int32_t code, const Args&... msg) {
  return Status(ErrorSpace::kAtb, code, StrCat(msg...));
}
template <typename... Args>
Status AclError(int32_t code, const Args&... msg) {
  return Status(ErrorSpace::kAcl, code, StrCat(msg...));
}

}  // namespace mc2

#define MC2_STATUS_CONCAT_INNER_(a, b) a##b
#define MC2_STATUS_CONCAT_(a, b) MC2_STATUS_CONCAT_INNER_(a, b)

// Returns the Status of `expr` from the enclosing function if it is not ok.
#define MC2_RETURN_IF_ERROR(expr)                                        \
  do {                                                                   \
    ::mc2::Status MC2_STATUS_CONCAT_(mc2_status_, __LINE__) = (expr);    \
    if (!MC2_STATUS_CONCAT_(mc2_status_, __LINE__).ok())                 \
      return MC2_STATUS_CONCAT_(mc2_status_, __LINE__);                  \
  } while (0)
