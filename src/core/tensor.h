// TensorView: how mc2 sees a CANN aclTensor — dtype, format, view dims, view strides and offset
// (both in elements), storage dims and the storage base pointer (spec 1.3, 2.3). A view may be
// non-contiguous or transposed; element (i0, i1, ...) lives at storage element
// offset + sum(i_d * stride_d). For int4, "element" means nibble: storage element e is in byte e/2,
// low nibble when e is even.
//
// FRACTAL_NZ (spec 4.6) stores a logical (R, C) matrix as [1, ceil(C/c0), R_pad, c0] with element
// (r, c) at ((c / c0) * R_pad + r) * c0 + c % c0; NzLayout does that arithmetic.
//
// HostTensor owns contiguous row-major storage and hands out views; the reference model and the
// tests build their data with it.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/dims.h"
#include "core/dtype.h"
#include "core/float16.h"

namespace mc2 {

// Values are CANN's aclFormat values.
enum class Format : int32_t { kND = 2, kFractalNZ = 29 };

std::string_view FormatName(Format format);

struct TensorView {
  void* data = nullptr;  // storage base
  DType dtype = DType::kFloat32;
  Format format = Format::kND;
  Dims dims;          // view shape
  Dims strides;       // view strides, elements
  int64_t offset = 0;  // view offset, elements
  Dims storage_dims;

  // A contiguous row-major ND view of `dims` over `data`.
  static TensorView Contiguous(void* data, DType dtype, const Dims& dims);

  int rank() const { return dims.size(); }
  int64_t numel() const { return dims.numel(); }
  bool empty() const { return numel() == 0; }
  bool IsContiguous() const;
  // CANN's IsTransposeLastTwoDims: stride[-2] == 1 and stride[-1] == dims[-2] (spec 2.3).
  bool IsTransposedLastTwo() const;
  // Largest storage element index + 1 the view can touch (0 if empty).
  int64_t StorageExtent() const;

  // Storage element index of the element at `idx` (rank() indices).
  int64_t ElementIndex(const int64_t* idx) const;

  // Reads an element, exactly, as double (every supported dtype fits).
  double Load(const int64_t* idx) const;
  double LoadFlat(int64_t storage_index) const;
  // Writes an element; floating values round as `mode` says, integers saturate after rounding
  // half away from zero.
  void Store(const int64_t* idx, double value, RoundMode mode = RoundMode::kHalfEven) const;
  void StoreFlat(int64_t storage_index, double value, RoundMode mode = RoundMode::kHalfEven) const;

  // Swaps two view dims (and strides): a transposed view of the same storage.
  TensorView Transposed(int a, int b) const;

  std::string ToString() const;  // "float16 ND (4, 8) strides (8, 1) offset 0"
};

// Reads / writes one storage element of `dtype` at `index` in `base`.
double LoadElement(const void* base, DType dtype, int64_t index);
void StoreElement(void* base, DType dtype, int64_t index, double value, RoundMode mode = RoundMode::kHalfEven);

// Correctly rounded double -> fp16 / bf16 (via round-to-odd float, so there is no double rounding).
uint16_t DoubleToHalf(double v, RoundMode mode = RoundMode::kHalfEven);
uint16_t DoubleToBf16(double v, RoundMode mode = RoundMode::kHalfEven);

// Rounds `v` to the nearest value of a floating dtype (identity for float64).
double RoundToDType(double v, DType dtype, RoundMode mode = RoundMode::kHalfEven);

// int4 packing: element 2j in the low nibble of byte j, element 2j+1 in the high nibble.
inline int8_t UnpackInt4(const uint8_t* bytes, int64_t index) {
  const uint8_t b = bytes[index >> 1];
  const int nib = (index & 1) ? (b >> 4) : (b & 0xf);
  return static_cast<int8_t>(nib >= 8 ? nib - 16 : nib);
}
inline void PackInt4(uint8_t* bytes, int64_t index, int8_t value) {
  uint8_t& b = bytes[index >> 1];
  const uint8_t nib = static_cast<uint8_t>(value) & 0xf;
  b = (index & 1) ? static_cast<uint8_t>((b & 0x0f) | (nib << 4)) : static_cast<uint8_t>((b & 0xf0) | nib);
}

// The FRACTAL_NZ arrangement of a logical rows x cols matrix with c0-wide column blocks.
struct NzLayout {
  int64_t rows = 0;
  int64_t cols = 0;
  int64_t c0 = 16;
  int64_t rows_padded() const { return (rows + 15) / 16 * 16; }
  int64_t col_blocks() const { return (cols + c0 - 1) / c0; }
  int64_t Index(int64_t r, int64_t c) const { return ((c / c0) * rows_padded() + r) * c0 + c % c0; }
  Dims StorageDims() const { return {1, col_blocks(), rows_padded(), c0}; }
  int64_t StorageElements() const { return col_blocks() * rows_padded() * c0; }
};

// Owns contiguous row-major storage of one dtype.
class HostTensor {
 public:
  HostTensor() = default;
  HostTensor(DType dtype, const Dims& dims);

  DType dtype() const { return dtype_; }
  const Dims& dims() const { return dims_; }
  int64_t numel() const { return dims_.numel(); }
  bool empty() const { return numel() == 0; }
  size_t bytes() const { return storage_.size(); }
  void* data() { return storage_.data(); }
  const void* data() const { return storage_.data(); }
  template <typename T>
  T* data_as() {
    return reinterpret_cast<T*>(storage_.data());
  }
  template <typename T>
  const T* data_as() const {
    return reinterpret_cast<const T*>(storage_.data());
  }

  TensorView view() const;

  // Same dtype, dims and bytes (two empty tensors of one shape are equal; no memcmp on null).
  bool SameBytes(const HostTensor& other) const {
    return dtype_ == other.dtype_ && dims_ == other.dims_ && storage_ == other.storage_;
  }

  // Flat (row-major) element access as double.
  double at(int64_t i) const { return LoadElement(storage_.data(), dtype_, i); }
  void set(int64_t i, double v, RoundMode mode = RoundMode::kHalfEven) {
    StoreElement(storage_.data(), dtype_, i, v, mode);
  }

  // Same values in another shape (numel must match); the storage is shared by copy.
  HostTensor Reshaped(const Dims& dims) const;

  // A copy of any view's elements into a new contiguous tensor of the same dtype.
  static HostTensor FromView(const TensorView& view);
  // Elementwise conversion to another dtype (round-half-even for floating targets).
  HostTensor CastTo(DType dtype) const;

 private:
  DType dtype_ = DType::kFloat32;
  Dims dims_;
  std::vector<uint8_t> storage_;
};

}  // namespace mc2
