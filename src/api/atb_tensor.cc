#include "api/atb_tensor.h"

#include <limits>

namespace mc2::api {
namespace {
// Non-null address for description-only views (InferShape reads no data).
alignas(64) char placeholder[64];
}  // namespace

bool AtbDTypeBytes(aclDataType dtype, int64_t numel, uint64_t* bytes) {
  if (!IsKnownDType(static_cast<int32_t>(dtype))) return false;
  *bytes = DTypeStorageBytes(static_cast<DType>(dtype), numel);
  return true;
}

Status AtbTensorView(const char* name, const ::atb::TensorDesc& desc, void* data, uint64_t data_size, bool with_data,
                     bool optional_empty, TensorView* view) {
  const ::atb::Dims& s = desc.shape;
  if (s.dimNum > ::atb::MAX_DIM) {
    return AtbError(atb::kInvalidTensorDimNum, name, ": dimNum ", s.dimNum, " (at most MAX_DIM = 8)");
  }
  Dims dims;
  for (uint64_t i = 0; i < s.dimNum; ++i) {
    if (s.dims[i] < 0) {
      return AtbError(atb::kInvalidTensorDim, name, ": dims[", i, "] is ", s.dims[i], " (no dim may be negative)");
    }
    dims.push_back(s.dims[i]);
  }
  if (s.dimNum == 0 && optional_empty) dims.push_back(0);
  if (!IsKnownDType(static_cast<int32_t>(desc.dtype))) {
    return AtbError(atb::kInvalidTensorIniMatch, name, ": dtype ", static_cast<int>(desc.dtype),
                    " is not one LinearParallel accepts (float16, bfloat16, int8, int32, int64, float)");
  }
  if (desc.format != ACL_FORMAT_ND && desc.format != ACL_FORMAT_FRACTAL_NZ) {
    return AtbError(atb::kInvalidTensorIniMatch, name, ": format ", static_cast<int>(desc.format),
                    " (must be ACL_FORMAT_ND = 2 or ACL_FORMAT_FRACTAL_NZ = 29)");
  }
  const DType dtype = static_cast<DType>(desc.dtype);
  const int64_t numel = dims.numel();
  if (with_data) {
    if (numel > 0 && data == nullptr) {
      return AtbError(atb::kInvalidTensorAddr, name, ": deviceData is null for ", dims.ToString(), " elements");
    }
    const uint64_t need = DTypeStorageBytes(dtype, numel);
    if (data_size < need) {
      return AtbError(atb::kInvalidTensorSize, name, ": dataSize ", data_size, " but ", dims.ToString(), " ",
                      DTypeName(dtype), " needs ", need, " bytes");
    }
  }
  TensorView v = TensorView::Contiguous(with_data ? data : placeholder, dtype, dims);
  v.format = desc.format == ACL_FORMAT_FRACTAL_NZ ? Format::kFractalNZ : Format::kND;
  if (v.format == Format::kFractalNZ && dims.size() == 2) {
    // The NZ arrangement's extent: what dataSize holds, or unbounded for a description.
    const int64_t elems = with_data ? static_cast<int64_t>(data_size * 8 / static_cast<uint64_t>(DTypeBits(dtype)))
                                    : std::numeric_limits<int32_t>::max();
    v.storage_dims = Dims{elems};
  }
  *view = v;
  return Status::Ok();
}

::atb::TensorDesc AtbDescOf(DType dtype, const Dims& dims) {
  ::atb::TensorDesc d;
  d.dtype = static_cast<aclDataType>(dtype);
  d.format = ACL_FORMAT_ND;
  d.shape.dimNum = static_cast<uint64_t>(dims.size());
  for (int i = 0; i < dims.size(); ++i) d.shape.dims[i] = dims[i];
  return d;
}

bool SameDesc(const ::atb::TensorDesc& a, const ::atb::TensorDesc& b) {
  if (a.dtype != b.dtype || a.format != b.format || a.shape.dimNum != b.shape.dimNum) return false;
  for (uint64_t i = 0; i < a.shape.dimNum && i < ::atb::MAX_DIM; ++i) {
    if (a.shape.dims[i] != b.shape.dims[i]) return false;
  }
  return true;
}

}  // namespace mc2::api
