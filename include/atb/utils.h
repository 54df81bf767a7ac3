// mc2's CANN-compatible atb::Utils (atb/utils.h).
#ifndef MC2_ATB_UTILS_H_
#define MC2_ATB_UTILS_H_

#include <cstdint>
#include <string>

#include "atb/types.h"

namespace atb {

class ATB_API Utils {
 public:
  // "mc2 <version> (ATB-compatible API)".
  static std::string GetAtbVersion();
  // Bytes of the tensor's elements (numel times the dtype's size; int4 rounds up to whole bytes);
  // 0 for a dtype without a size.
  static uint64_t GetTensorSize(const Tensor& tensor);
  static uint64_t GetTensorSize(const TensorDesc& tensorDesc);
  // Product of the dims (1 for 0 dims; 0 if a dim is negative).
  static uint64_t GetTensorNumel(const Tensor& tensor);
  static uint64_t GetTensorNumel(const TensorDesc& tensorDesc);
  // The int64 deqScale encoding: dst[i] holds src[i]'s 32 IEEE bits in its low half, 0 above.
  static void QuantParamConvert(const float* src, uint64_t* dst, uint64_t itemCount);
  // Whether the atb:: entry points print their error messages ("mc2: ...") on stderr: DEBUG, INFO,
  // WARN and ERROR print them, NONE does not (mc2 logs nothing but errors). The message is kept
  // for aclGetRecentErrMsg() either way. ERROR_INVALID_PARAM for a value outside LogLevel.
  static Status SetLogLevel(const LogLevel atbLogLevel);
  // Back to the environment's choice (MC2_API_QUIET=1: silent).
  static Status ResetLogLevel();
};

}  // namespace atb

#endif  // MC2_ATB_UTILS_H_
