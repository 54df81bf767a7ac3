// Shared by the aclnn fuzzers: aclTensor handles made from a fuzzed view the way a C caller may
// make them -- the view as is, null, a destroyed handle, a tensor of too many dims, or one whose
// aclDataType / aclFormat is any int32 (passed through raw_enum_call.c: converting such a value to
// the C enum type in C++ would itself be undefined behaviour).
#pragma once

#include <fuzzer/FuzzedDataProvider.h>

#include <cstdint>
#include <initializer_list>

#include "aclnn/acl_meta.h"
#include "fuzz_check.h"
#include "tensor_gen.h"

extern "C" aclTensor* FuzzCreateTensorRaw(const int64_t* viewDims, uint64_t viewDimsNum, int32_t dataType,
                                          const int64_t* stride, int64_t offset, int32_t format,
                                          const int64_t* storageDims, uint64_t storageDimsNum, void* tensorData);

namespace mc2::fuzz {

inline bool NamedValue(int32_t v, std::initializer_list<int32_t> values) {
  for (int32_t x : values) {
    if (x == v) return true;
  }
  return false;
}

// An aclTensor for `fv` as the fuzzer says: the view, null, a destroyed handle, or too many dims.
inline aclTensor* MakeHandle(FuzzedDataProvider& fdp, const FuzzView& fv, bool* owned) {
  const TensorView& v = fv.view;
  *owned = false;
  int32_t dtype = static_cast<int32_t>(v.dtype);
  int32_t format = static_cast<int32_t>(v.format);
  switch (fdp.ConsumeIntegralInRange<int>(0, 31)) {
    case 0:
      return nullptr;
    case 1: {
      aclTensor* gone = aclCreateTensor(v.dims.data(), v.rank(), static_cast<aclDataType>(dtype), v.strides.data(),
                                        0, static_cast<aclFormat>(format), v.dims.data(), v.rank(), v.data);
      if (gone != nullptr) aclDestroyTensor(gone);
      return gone;  // a dangling handle: must be refused without being dereferenced
    }
    case 2: {
      const int64_t dims[kMaxDims + 1] = {1, 1, 1, 1, 1, 1, 1, 1, 1};
      return aclCreateTensor(dims, kMaxDims + 1, static_cast<aclDataType>(dtype), dims, 0,
                             static_cast<aclFormat>(format), dims, kMaxDims + 1, v.data);  // null: too many dims
    }
    // Raw values: small ones (near the named values) or any int32.
    case 3:
      dtype = fdp.ConsumeBool() ? fdp.ConsumeIntegralInRange<int32_t>(-64, 63) : fdp.ConsumeIntegral<int32_t>();
      break;
    case 4:
      format = fdp.ConsumeBool() ? fdp.ConsumeIntegralInRange<int32_t>(-64, 63) : fdp.ConsumeIntegral<int32_t>();
      break;
    default:
      break;
  }
  const bool null_strides = fdp.ConsumeIntegralInRange<int>(0, 15) == 0;
  aclTensor* t = FuzzCreateTensorRaw(v.dims.data(), v.rank(), dtype, null_strides ? nullptr : v.strides.data(),
                                     v.offset, format, v.storage_dims.data(), v.storage_dims.size(), v.data);
  // A value acl_base.h does not name must be refused.
  const bool named_dtype = NamedValue(dtype, {-1, 0, 1, 2, 3, 4, 6, 7, 8, 9, 10, 11, 12, 13, 16, 17, 27, 29, 30, 33,
                                              35, 36, 37, 38, 39, 40, 41});
  const bool named_format =
      NamedValue(format, {-1, 0, 1, 2, 3, 4, 12, 16, 27, 29, 30, 32, 33, 35, 47, 50, 51, 52, 53, 54});
  if (!named_dtype || !named_format) FUZZ_CHECK(t == nullptr);
  *owned = t != nullptr;
  return t;
}

}  // namespace mc2::fuzz
