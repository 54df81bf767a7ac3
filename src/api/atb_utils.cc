// atb::Utils (atb/utils.h).
#include <cstdint>
#include <cstring>

#include "api/atb_status.h"
#include "api/atb_tensor.h"
#include "api/report.h"
#include "atb/utils.h"

namespace atb {

std::string Utils::GetAtbVersion() { return std::string("mc2 ") + MC2_VERSION + " (ATB-compatible API)"; }

uint64_t Utils::GetTensorNumel(const TensorDesc& tensorDesc) {
  uint64_t n = 1;
  for (uint64_t i = 0; i < tensorDesc.shape.dimNum && i < MAX_DIM; ++i) {
    if (tensorDesc.shape.dims[i] < 0) return 0;
    n *= static_cast<uint64_t>(tensorDesc.shape.dims[i]);
  }
  return n;
}

uint64_t Utils::GetTensorNumel(const Tensor& tensor) { return GetTensorNumel(tensor.desc); }

uint64_t Utils::GetTensorSize(const TensorDesc& tensorDesc) {
  uint64_t bytes = 0;
  const uint64_t n = GetTensorNumel(tensorDesc);
  if (n > static_cast<uint64_t>(INT64_MAX) ||
      !mc2::api::AtbDTypeBytes(tensorDesc.dtype, static_cast<int64_t>(n), &bytes)) {
    return 0;
  }
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

Status Utils::SetLogLevel(const LogLevel atbLogLevel) {
  const int level = static_cast<int>(atbLogLevel);
  if (level < DEBUG || level > NONE) {
    return mc2::api::AtbCode(mc2::AtbError(mc2::atb::kInvalidParam, "Utils::SetLogLevel: ", level,
                                           " is not a LogLevel (DEBUG = 0 .. NONE = 4)"));
  }
  mc2::api::SetAtbLogLevel(level);
  return NO_ERROR;
}

Status Utils::ResetLogLevel() {
  mc2::api::SetAtbLogLevel(-1);
  return NO_ERROR;
}

}  // namespace atb
