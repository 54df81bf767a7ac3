// atb::Utils (atb/utils.h).
#include <cstring>

#include "api/atb_tensor.h"
#include "atb/utils.h"

namespace atb {

int64_t Utils::GetTensorNumel(const TensorDesc& tensorDesc) {
  int64_t n = 1;
  for (uint64_t i = 0; i < tensorDesc.shape.dimNum && i < MAX_DIM; ++i) n *= tensorDesc.shape.dims[i];
  return n;
}

int64_t Utils::GetTensorNumel(const Tensor& tensor) { return GetTensorNumel(tensor.desc); }

uint64_t Utils::GetTensorSize(const TensorDesc& tensorDesc) {
  uint64_t bytes = 0;
  const int64_t n = GetTensorNumel(tensorDesc);
  if (n < 0 || !mc2::api::AtbDTypeBytes(tensorDesc.dtype, n, &bytes)) return 0;
  return bytes;
}

uint64_t Utils::GetTensorSize(const Tensor& tensor) { return GetTensorSize(tensor.desc); }

void Utils::QuantParamConvert(const float* src, uint64_t* dst, uint64_t itemCount) {
  if (src == nullptr || dst == nullptr) return;
  for (uint64_t i = 0; i < itemCount; ++i) {
    uint32_t bits = 0;
    std::memcpy(&bits, &src[i], sizeof(bits));
    dst[i] = bits;
  }
}

}  // namespace atb
