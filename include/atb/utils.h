// mc2's CANN-compatible atb::Utils (atb/utils.h).
#ifndef MC2_ATB_UTILS_H_
#define MC2_ATB_UTILS_H_

#include <cstdint>

#include "atb/types.h"

namespace atb {

class ATB_API Utils {
 public:
  // Bytes of the tensor's elements (numel times the dtype's size; int4 rounds up to whole bytes);
  // 0 for a dtype without a size.
  static uint64_t GetTensorSize(const Tensor& tensor);
  static uint64_t GetTensorSize(const TensorDesc& tensorDesc);
  // Product of the dims (1 for 0 dims).
  static int64_t GetTensorNumel(const Tensor& tensor);
  static int64_t GetTensorNumel(const TensorDesc& tensorDesc);
  // The int64 deqScale encoding: dst[i] holds src[i]'s 32 IEEE bits in its low half, 0 above.
  static void QuantParamConvert(const float* src, uint64_t* dst, uint64_t itemCount);
};

}  // namespace atb

#endif  // MC2_ATB_UTILS_H_
