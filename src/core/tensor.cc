#include "core/tensor.h"

#include <cmath>
#include <cstring>
#include <limits>

#include "core/status.h"

namespace mc2 {
namespace {

template <typename T>
T LoadAs(const void* base, int64_t index) {
  T v;
  std::memcpy(&v, static_cast<const uint8_t*>(base) + index * static_cast<int64_t>(sizeof(T)), sizeof(T));
  return v;
}

template <typename T>
void StoreAs(void* base, int64_t index, T v) {
  std::memcpy(static_cast<uint8_t*>(base) + index * static_cast<int64_t>(sizeof(T)), &v, sizeof(T));
}

// Nearest integer, ties away from zero, saturated to [lo, hi]; NaN becomes 0.
template <typename T>
T SaturateRound(double v) {
  if (std::isnan(v)) return 0;
  const double r = std::round(v);
  if (r <= static_cast<double>(std::numeric_limits<T>::lowest())) return std::numeric_limits<T>::lowest();
  if (r >= static_cast<double>(std::numeric_limits<T>::max())) return std::numeric_limits<T>::max();
  return static_cast<T>(r);
}

// double -> float rounded to odd: truncate toward zero, then set the last bit if inexact.
// A float rounded to odd, then rounded to fp16/bf16, equals the direct correctly rounded result.
float DoubleToFloatOdd(double v) {
  if (std::isnan(v) || std::isinf(v)) return static_cast<float>(v);
  float f = static_cast<float>(v);
  if (std::fabs(static_cast<double>(f)) > std::fabs(v)) f = std::nextafter(f, 0.0f);
  if (static_cast<double>(f) != v) {
    uint32_t bits = FloatBits(f);
    bits |= 1u;
    f = BitsToFloat(bits);
  }
  return f;
}

}  // namespace

std::string_view FormatName(Format format) {
  switch (format) {
    case Format::kND:
      return "ND";
    case Format::kFractalNZ:
      return "FRACTAL_NZ";
  }
  return "unknown";
}

uint16_t DoubleToHalf(double v, RoundMode mode) { return FloatToHalf(DoubleToFloatOdd(v), mode); }
uint16_t DoubleToBf16(double v, RoundMode mode) { return FloatToBf16(DoubleToFloatOdd(v), mode); }

double RoundToDType(double v, DType dtype, RoundMode mode) {
  switch (dtype) {
    case DType::kFloat16:
      return HalfToFloat(DoubleToHalf(v, mode));
    case DType::kBFloat16:
      return Bf16ToFloat(DoubleToBf16(v, mode));
    case DType::kFloat32:
      return static_cast<float>(v);
    default:
      return v;
  }
}

double LoadElement(const void* base, DType dtype, int64_t index) {
  switch (dtype) {
    case DType::kFloat32:
      return LoadAs<float>(base, index);
    case DType::kFloat16:
      return HalfToFloat(LoadAs<uint16_t>(base, index));
    case DType::kBFloat16:
      return Bf16ToFloat(LoadAs<uint16_t>(base, index));
    case DType::kFloat64:
      return LoadAs<double>(base, index);
    case DType::kInt8:
      return LoadAs<int8_t>(base, index);
    case DType::kUInt8:
      return LoadAs<uint8_t>(base, index);
    case DType::kInt4:
      return UnpackInt4(static_cast<const uint8_t*>(base), index);
    case DType::kInt32:
      return LoadAs<int32_t>(base, index);
    case DType::kInt64:
      return static_cast<double>(LoadAs<int64_t>(base, index));
    case DType::kUInt64:
      return static_cast<double>(LoadAs<uint64_t>(base, index));
  }
  return 0.0;
}

void StoreElement(void* base, DType dtype, int64_t index, double value, RoundMode mode) {
  switch (dtype) {
    case DType::kFloat32:
      StoreAs<float>(base, index, static_cast<float>(value));
      return;
    case DType::kFloat16:
      StoreAs<uint16_t>(base, index, DoubleToHalf(value, mode));
      return;
    case DType::kBFloat16:
      StoreAs<uint16_t>(base, index, DoubleToBf16(value, mode));
      return;
    case DType::kFloat64:
      StoreAs<double>(base, index, value);
      return;
    case DType::kInt8:
      StoreAs<int8_t>(base, index, SaturateRound<int8_t>(value));
      return;
    case DType::kUInt8:
      StoreAs<uint8_t>(base, index, SaturateRound<uint8_t>(value));
      return;
    case DType::kInt4: {
      const double r = std::isnan(value) ? 0.0 : std::round(value);
      PackInt4(static_cast<uint8_t*>(base), index, static_cast<int8_t>(r < -8 ? -8 : (r > 7 ? 7 : r)));
      return;
    }
    case DType::kInt32:
      StoreAs<int32_t>(base, index, SaturateRound<int32_t>(value));
      return;
    case DType::kInt64:
      StoreAs<int64_t>(base, index, SaturateRound<int64_t>(value));
      return;
    case DType::kUInt64:
      StoreAs<uint64_t>(base, index, SaturateRound<uint64_t>(value));
      return;
  }
}

TensorView TensorView::Contiguous(void* data, DType dtype, const Dims& dims) {
  TensorView v;
  v.data = data;
  v.dtype = dtype;
  v.dims = dims;
  v.strides = RowMajorStrides(dims);
  v.storage_dims = dims;
  return v;
}

bool TensorView::IsContiguous() const {
  if (empty()) return true;
  int64_t expect = 1;
  bool overflow = false;  // no stride can equal a product past int64
  for (int i = rank() - 1; i >= 0; --i) {
    if (dims[i] != 1 && (overflow || strides[i] != expect)) return false;
    overflow = overflow || __builtin_mul_overflow(expect, dims[i], &expect);
  }
  return true;
}

bool TensorView::IsTransposedLastTwo() const {
  if (rank() < 2) return false;
  const int r = rank();
  if (strides[r - 2] != 1 || strides[r - 1] != dims[r - 2]) return false;
  int64_t expect;
  bool overflow = __builtin_mul_overflow(dims[r - 2], dims[r - 1], &expect);
  for (int i = r - 3; i >= 0; --i) {
    if (dims[i] != 1 && (overflow || strides[i] != expect)) return false;
    overflow = overflow || __builtin_mul_overflow(expect, dims[i], &expect);
  }
  return true;
}

int64_t TensorView::StorageExtent() const {
  if (empty()) return 0;
  int64_t last = offset;
  for (int i = 0; i < rank(); ++i) last += (dims[i] - 1) * strides[i];
  return last + 1;
}

int64_t TensorView::ElementIndex(const int64_t* idx) const {
  int64_t e = offset;
  for (int i = 0; i < rank(); ++i) e += idx[i] * strides[i];
  return e;
}

double TensorView::Load(const int64_t* idx) const { return LoadElement(data, dtype, ElementIndex(idx)); }
double TensorView::LoadFlat(int64_t storage_index) const { return LoadElement(data, dtype, storage_index); }

void TensorView::Store(const int64_t* idx, double value, RoundMode mode) const {
  StoreElement(data, dtype, ElementIndex(idx), value, mode);
}
void TensorView::StoreFlat(int64_t storage_index, double value, RoundMode mode) const {
  StoreElement(data, dtype, storage_index, value, mode);
}

TensorView TensorView::Transposed(int a, int b) const {
  TensorView v = *this;
  std::swap(v.dims[a], v.dims[b]);
  std::swap(v.strides[a], v.strides[b]);
  return v;
}

std::string TensorView::ToString() const {
  return StrCat(DTypeName(dtype), " ", FormatName(format), " ", dims.ToString(), " strides ", strides.ToString(),
                " offset ", offset);
}

HostTensor::HostTensor(DType dtype, const Dims& dims)
    : dtype_(dtype), dims_(dims), storage_(DTypeStorageBytes(dtype, dims.numel())) {}

TensorView HostTensor::view() const {
  return TensorView::Contiguous(const_cast<uint8_t*>(storage_.data()), dtype_, dims_);
}

HostTensor HostTensor::Reshaped(const Dims& dims) const {
  HostTensor t = *this;
  t.dims_ = dims;
  return t;
}

HostTensor HostTensor::FromView(const TensorView& view) {
  HostTensor t(view.dtype, view.dims);
  const int r = view.rank();
  Dims idx;
  idx.resize(r);
  const int64_t n = view.numel();
  for (int64_t flat = 0; flat < n; ++flat) {
    int64_t rem = flat;
    for (int d = r - 1; d >= 0; --d) {
      idx[d] = rem % view.dims[d];
      rem /= view.dims[d];
    }
    t.set(flat, view.Load(idx.data()));
  }
  return t;
}

HostTensor HostTensor::CastTo(DType dtype) const {
  HostTensor t(dtype, dims_);
  for (int64_t i = 0; i < numel(); ++i) t.set(i, at(i));
  return t;
}

}  // namespace mc2
