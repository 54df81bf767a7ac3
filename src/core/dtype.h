// Element types. The enumerator values are CANN's aclDataType values (spec 1.2), so the
// CANN-compatible layer converts by a cast after checking the value is one mc2 supports.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

namespace mc2 {

enum class DType : int32_t {
  kFloat32 = 0,
  kFloat16 = 1,
  kInt8 = 2,
  kInt32 = 3,
  kUInt8 = 4,
  kInt64 = 9,
  kUInt64 = 10,
  kFloat64 = 11,
  kBFloat16 = 27,
  kInt4 = 29,  // signed, two per byte, element 2j in the low nibble
};

// True for the values above; any other aclDataType value is not supported by mc2.
bool IsKnownDType(int32_t value);

// "float16", "bfloat16", "int4", ... (NumPy-like names; "bfloat16" and "int4" have no NumPy twin).
std::string_view DTypeName(DType dtype);
std::optional<DType> DTypeFromName(std::string_view name);

// Size of one element in bits (4 for int4).
int DTypeBits(DType dtype);

// Bytes needed to store `count` consecutive elements (int4 rounds up to whole bytes); SIZE_MAX when
// that does not fit in size_t (never wraps).
size_t DTypeStorageBytes(DType dtype, int64_t count);

bool IsFloating(DType dtype);  // float32/16, bfloat16, float64
bool IsInteger(DType dtype);

}  // namespace mc2
