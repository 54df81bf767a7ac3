// aclCreateTensor / aclDestroyTensor and the aclGet* accessors (aclnn/acl_meta.h).
// Getters that return arrays allocate them with new[]; the caller deletes them with delete[] as
// CANN's documentation of these functions says.
#include "api/acl_tensor.h"

#include <cstring>

#include "api/handles.h"
#include "api/report.h"

namespace mc2::api {
namespace {
HandleSet<aclTensor>& Tensors() {
  static auto* set = new HandleSet<aclTensor>();
  return *set;
}
HandleSet<aclIntArray>& IntArrays() {
  static auto* set = new HandleSet<aclIntArray>();
  return *set;
}

// The values acl_base.h names. A C caller may pass any int in an aclDataType / aclFormat; holding
// such a value in the C++ enum type is undefined behaviour, so aclCreateTensor copies the argument's
// bytes into an int32_t (no enum-typed load) and checks it against these lists.
constexpr int32_t kDataTypes[] = {-1, 0, 1, 2, 3, 4, 6, 7, 8, 9, 10, 11, 12, 13, 16, 17, 27, 29, 30, 33,
                                  35, 36, 37, 38, 39, 40, 41};
constexpr int32_t kFormats[] = {-1, 0, 1, 2, 3, 4, 12, 16, 27, 29, 30, 32, 33, 35, 47, 50, 51, 52, 53, 54};

template <typename Enum>
int32_t RawEnum(const Enum& e) {
  static_assert(sizeof(Enum) == sizeof(int32_t), "acl enums are int-sized");
  int32_t raw;
  std::memcpy(&raw, &e, sizeof raw);
  return raw;
}

template <size_t N>
bool OneOf(int32_t v, const int32_t (&values)[N]) {
  for (int32_t x : values) {
    if (x == v) return true;
  }
  return false;
}

Status BadTensor(const char* fn, const void* t) {
  return AclnnError(aclnn::kErrParamInvalid, fn, ": tensor ", t, " is not a live aclTensor");
}

aclnnStatus CopyOut(const char* fn, const aclTensor* handle, const std::vector<int64_t> aclTensor::*member,
                    int64_t** values, uint64_t* num) {
  if (handle == nullptr || values == nullptr || num == nullptr) {
    return AclnnCode(AclnnError(aclnn::kErrParamNullptr, fn, ": an argument is null"));
  }
  const aclTensor* t = FindTensor(handle);
  if (t == nullptr) return AclnnCode(BadTensor(fn, handle));
  const std::vector<int64_t>& v = t->*member;
  *values = new int64_t[v.empty() ? 1 : v.size()];
  if (!v.empty()) std::memcpy(*values, v.data(), v.size() * sizeof(int64_t));
  *num = v.size();
  return ACLNN_SUCCESS;
}
}  // namespace

const aclTensor* FindTensor(const aclTensor* handle) { return Tensors().Find(handle); }

TensorView ToView(const aclTensor& t, bool* known) {
  TensorView v;
  bool ok = IsKnownDType(t.dtype) && (t.format == ACL_FORMAT_ND || t.format == ACL_FORMAT_FRACTAL_NZ);
  v.data = t.data;
  v.dtype = IsKnownDType(t.dtype) ? static_cast<DType>(t.dtype) : DType::kFloat64;
  v.format = t.format == ACL_FORMAT_FRACTAL_NZ ? Format::kFractalNZ : Format::kND;
  v.dims = Dims(t.view_dims.data(), static_cast<int>(t.view_dims.size()));
  v.strides = Dims(t.strides.data(), static_cast<int>(t.strides.size()));
  v.offset = t.offset;
  v.storage_dims = Dims(t.storage_dims.data(), static_cast<int>(t.storage_dims.size()));
  if (known != nullptr) *known = ok;
  return v;
}

}  // namespace mc2::api

extern "C" {

// Null or inconsistent arguments give a null tensor, as in CANN. A null stride means row-major
// and null storage dims mean the view dims (mc2 leniencies; CANN callers always pass both).
aclTensor* aclCreateTensor(const int64_t* viewDims, uint64_t viewDimsNum, aclDataType dataType,
                           const int64_t* stride, int64_t offset, aclFormat format,
                           const int64_t* storageDims, uint64_t storageDimsNum, void* tensorData) {
  if (viewDimsNum > static_cast<uint64_t>(mc2::kMaxDims) || storageDimsNum > static_cast<uint64_t>(mc2::kMaxDims) ||
      (viewDims == nullptr && viewDimsNum > 0) || (storageDims == nullptr && storageDimsNum > 0) || offset < 0) {
    mc2::api::Report(mc2::AclnnError(mc2::aclnn::kErrParamInvalid, "aclCreateTensor: bad dims, more than ",
                                     mc2::kMaxDims, " dims, or negative offset"));
    return nullptr;
  }
  const int32_t dtype = mc2::api::RawEnum(dataType);
  const int32_t fmt = mc2::api::RawEnum(format);
  if (!mc2::api::OneOf(dtype, mc2::api::kDataTypes)) {
    mc2::api::Report(mc2::AclnnError(mc2::aclnn::kErrParamInvalid, "aclCreateTensor: dataType is ", dtype,
                                     " (must be one of the aclDataType values of acl_base.h)"));
    return nullptr;
  }
  if (!mc2::api::OneOf(fmt, mc2::api::kFormats)) {
    mc2::api::Report(mc2::AclnnError(mc2::aclnn::kErrParamInvalid, "aclCreateTensor: format is ", fmt,
                                     " (must be one of the aclFormat values of acl_base.h)"));
    return nullptr;
  }
  auto* t = new aclTensor();
  t->view_dims.assign(viewDims, viewDims + viewDimsNum);
  for (int64_t d : t->view_dims) {
    if (d < 0) {
      delete t;
      mc2::api::Report(mc2::AclnnError(mc2::aclnn::kErrParamInvalid, "aclCreateTensor: negative view dim"));
      return nullptr;
    }
  }
  if (stride != nullptr) {
    t->strides.assign(stride, stride + viewDimsNum);
  } else {
    const mc2::Dims rm = mc2::RowMajorStrides(mc2::Dims(viewDims, static_cast<int>(viewDimsNum)));
    t->strides.assign(rm.begin(), rm.end());
  }
  t->offset = offset;
  t->dtype = dtype;
  t->format = fmt;
  if (storageDims != nullptr) {
    t->storage_dims.assign(storageDims, storageDims + storageDimsNum);
  } else {
    t->storage_dims = t->view_dims;
  }
  t->data = tensorData;
  mc2::api::Tensors().Add(t);
  return t;
}

aclnnStatus aclDestroyTensor(const aclTensor* tensor) {
  if (tensor == nullptr) return ACLNN_SUCCESS;
  if (!mc2::api::Tensors().Remove(tensor)) return mc2::api::AclnnCode(mc2::api::BadTensor("aclDestroyTensor", tensor));
  delete tensor;
  return ACLNN_SUCCESS;
}

aclnnStatus aclGetViewShape(const aclTensor* tensor, int64_t** viewDims, uint64_t* viewDimsNum) {
  return mc2::api::CopyOut("aclGetViewShape", tensor, &aclTensor::view_dims, viewDims, viewDimsNum);
}

aclnnStatus aclGetStorageShape(const aclTensor* tensor, int64_t** storageDims, uint64_t* storageDimsNum) {
  return mc2::api::CopyOut("aclGetStorageShape", tensor, &aclTensor::storage_dims, storageDims, storageDimsNum);
}

aclnnStatus aclGetViewStrides(const aclTensor* tensor, int64_t** stridesValue, uint64_t* stridesNum) {
  return mc2::api::CopyOut("aclGetViewStrides", tensor, &aclTensor::strides, stridesValue, stridesNum);
}

aclnnStatus aclGetViewOffset(const aclTensor* tensor, int64_t* offset) {
  if (tensor == nullptr || offset == nullptr) {
    return mc2::api::AclnnCode(mc2::AclnnError(mc2::aclnn::kErrParamNullptr, "aclGetViewOffset: an argument is null"));
  }
  const aclTensor* t = mc2::api::FindTensor(tensor);
  if (t == nullptr) return mc2::api::AclnnCode(mc2::api::BadTensor("aclGetViewOffset", tensor));
  *offset = t->offset;
  return ACLNN_SUCCESS;
}

aclnnStatus aclGetFormat(const aclTensor* tensor, aclFormat* format) {
  if (tensor == nullptr || format == nullptr) {
    return mc2::api::AclnnCode(mc2::AclnnError(mc2::aclnn::kErrParamNullptr, "aclGetFormat: an argument is null"));
  }
  const aclTensor* t = mc2::api::FindTensor(tensor);
  if (t == nullptr) return mc2::api::AclnnCode(mc2::api::BadTensor("aclGetFormat", tensor));
  *format = static_cast<aclFormat>(t->format);
  return ACLNN_SUCCESS;
}

aclnnStatus aclGetDataType(const aclTensor* tensor, aclDataType* dataType) {
  if (tensor == nullptr || dataType == nullptr) {
    return mc2::api::AclnnCode(mc2::AclnnError(mc2::aclnn::kErrParamNullptr, "aclGetDataType: an argument is null"));
  }
  const aclTensor* t = mc2::api::FindTensor(tensor);
  if (t == nullptr) return mc2::api::AclnnCode(mc2::api::BadTensor("aclGetDataType", tensor));
  *dataType = static_cast<aclDataType>(t->dtype);
  return ACLNN_SUCCESS;
}

aclIntArray* aclCreateIntArray(const int64_t* value, uint64_t size) {
  if (value == nullptr && size > 0) return nullptr;
  auto* a = new aclIntArray();
  a->values.assign(value, value + size);
  mc2::api::IntArrays().Add(a);
  return a;
}

aclnnStatus aclDestroyIntArray(const aclIntArray* array) {
  if (array == nullptr) return ACLNN_SUCCESS;
  if (!mc2::api::IntArrays().Remove(array)) {
    return mc2::api::AclnnCode(mc2::AclnnError(mc2::aclnn::kErrParamInvalid, "aclDestroyIntArray: not a live array"));
  }
  delete array;
  return ACLNN_SUCCESS;
}

}  // extern "C"
