#include "core/dtype.h"

#include <cstdint>

namespace mc2 {
namespace {

struct DTypeInfo {
  DType dtype;
  std::string_view name;
  int bits;
};

constexpr DTypeInfo kDTypes[] = {
    {DType::kFloat32, "float32", 32}, {DType::kFloat16, "float16", 16}, {DType::kBFloat16, "bfloat16", 16},
    {DType::kInt8, "int8", 8},        {DType::kInt4, "int4", 4},        {DType::kInt32, "int32", 32},
    {DType::kInt64, "int64", 64},     {DType::kUInt64, "uint64", 64},   {DType::kUInt8, "uint8", 8},
    {DType::kFloat64, "float64", 64},
};

const DTypeInfo* Find(DType dtype) {
  for (const DTypeInfo& info : kDTypes) {
    if (info.dtype == dtype) return &info;
  }
  return nullptr;
}

}  // namespace

bool IsKnownDType(int32_t value) { return Find(static_cast<DType>(value)) != nullptr; }

std::string_view DTypeName(DType dtype) {
  const DTypeInfo* info = Find(dtype);
  return info ? info->name : std::string_view("unknown");
}

std::optional<DType> DTypeFromName(std::string_view name) {
  for (const DTypeInfo& info : kDTypes) {
    if (info.name == name) return info.dtype;
  }
  return std::nullopt;
}

int DTypeBits(DType dtype) {
  const DTypeInfo* info = Find(dtype);
  return info ? info->bits : 0;
}

size_t DTypeStorageBytes(DType dtype, int64_t count) {
  if (count <= 0) return 0;
  // Saturates: a count from user dims (Dims::numel saturates too) must never wrap to a small size
  // that a size check would then accept.
  size_t bits;
  if (__builtin_mul_overflow(static_cast<size_t>(count), static_cast<size_t>(DTypeBits(dtype)), &bits) ||
      bits > SIZE_MAX - 7) {
    return SIZE_MAX;
  }
  return (bits + 7) / 8;
}

bool IsFloating(DType dtype) {
  return dtype == DType::kFloat32 || dtype == DType::kFloat16 || dtype == DType::kBFloat16 ||
         dtype == DType::kFloat64;
}

bool IsInteger(DType dtype) { return Find(dtype) != nullptr && !IsFloating(dtype); }

}  // namespace mc2
