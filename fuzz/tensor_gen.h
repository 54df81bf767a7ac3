// Shared by the operator fuzzers: decodes TensorViews from the fuzzer's bytes and backs them with
// memory that is valid for exactly what the view claims, or deliberately not.
//
// Every view gets a Backing chosen by the fuzzer:
//   kValid — data points to a fresh allocation of exactly the bytes the view can touch (so ASan
//            reports a read one element past the view); impossible views (negative or overflowing
//            extent, more than kMaxBackingBytes) fall back to kNull and are marked not valid;
//   kNull  — data is nullptr;
//   kShort — data points to a 1-byte allocation whatever the view claims.
// Callers may read through a view only when FuzzView::valid says so; validators must never read.
//
// All arithmetic on fuzzer-chosen dims and strides here is overflow-checked, so a sanitizer report
// always points into the code under test, not into the harness.
#pragma once

#include <fuzzer/FuzzedDataProvider.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <limits>
#include <memory>
#include <vector>

#include "core/dtype.h"
#include "core/tensor.h"

namespace mc2::fuzz {

inline constexpr int64_t kMaxBackingBytes = 1 << 16;

inline constexpr DType kAllDTypes[] = {DType::kFloat32, DType::kFloat16, DType::kInt8,    DType::kInt32,
                                       DType::kUInt8,   DType::kInt64,   DType::kUInt64,  DType::kFloat64,
                                       DType::kBFloat16, DType::kInt4};

enum class Backing : uint8_t { kValid, kNull, kShort };

struct FuzzView {
  TensorView view;
  Backing backing = Backing::kValid;
  bool valid = false;  // data covers every element the view can touch
};

// Exact-size allocations that live as long as one input.
class Arena {
 public:
  uint8_t* Alloc(size_t bytes) {
    blocks_.push_back(std::make_unique<uint8_t[]>(bytes));
    return blocks_.back().get();
  }

 private:
  std::vector<std::unique_ptr<uint8_t[]>> blocks_;
};

// Bytes from storage element 0 to the last element the view can touch or storage_dims holds;
// false when that is not a finite non-negative range (negative dims, a negative index, overflow).
inline bool BackingBytes(const TensorView& v, int64_t* bytes) {
  int64_t lo = v.offset, hi = v.offset;
  for (int d = 0; d < v.rank(); ++d) {
    if (v.dims[d] < 0) return false;
  }
  const bool empty = std::find(v.dims.begin(), v.dims.end(), 0) != v.dims.end();
  for (int d = 0; d < v.rank() && !empty; ++d) {
    int64_t reach;
    if (__builtin_mul_overflow(v.dims[d] - 1, v.strides[d], &reach)) return false;
    if (__builtin_add_overflow(reach < 0 ? lo : hi, reach, reach < 0 ? &lo : &hi)) return false;
  }
  if (!empty && lo < 0) return false;
  if (empty) hi = -1;  // touches no element
  // The storage itself (storage_dims, e.g. of a FRACTAL_NZ weight) must be there too.
  int64_t storage = 1;
  for (int64_t d : v.storage_dims) {
    if (d < 0 || __builtin_mul_overflow(storage, d, &storage)) return false;
  }
  hi = std::max(hi, storage - 1);
  const int64_t bits = DTypeBits(v.dtype);
  int64_t count, total_bits;
  if (__builtin_add_overflow(hi, 1, &count) || __builtin_mul_overflow(count, bits, &total_bits)) return false;
  *bytes = (total_bits + 7) / 8;
  return true;
}

inline int64_t InterestingInt(FuzzedDataProvider& fdp) {
  static constexpr int64_t kValues[] = {0,
                                        1,
                                        2,
                                        3,
                                        -1,
                                        -2,
                                        7,
                                        16,
                                        31,
                                        32,
                                        33,
                                        64,
                                        65535,
                                        65536,
                                        2147483647,
                                        2147483648,
                                        int64_t{1} << 32,
                                        int64_t{1} << 62,
                                        std::numeric_limits<int64_t>::max(),
                                        std::numeric_limits<int64_t>::min()};
  const uint8_t pick = fdp.ConsumeIntegral<uint8_t>();
  if (pick < 200) return kValues[pick % std::size(kValues)];
  return fdp.ConsumeIntegral<int64_t>();
}

// A contiguous row-major view (strides computed without overflow for the small dims used here).
inline TensorView MakeContiguous(DType dtype, const Dims& dims) {
  TensorView v;
  v.dtype = dtype;
  v.dims = dims;
  v.strides = RowMajorStrides(dims);
  v.storage_dims = dims;
  return v;
}

// Changes one property of `v` as the fuzzer says: dtype, format, one dim, the rank, one stride, the
// offset, the backing, storage_dims, or a transpose of the last two dims.
inline void Mutate(FuzzedDataProvider& fdp, FuzzView& fv) {
  TensorView& v = fv.view;
  switch (fdp.ConsumeIntegralInRange<int>(0, 8)) {
    case 0:
      v.dtype = fdp.PickValueInArray(kAllDTypes);
      break;
    case 1:
      v.format = fdp.ConsumeBool() ? Format::kFractalNZ : Format::kND;
      break;
    case 2:
      if (v.rank() > 0) v.dims[fdp.ConsumeIntegralInRange<int>(0, v.rank() - 1)] = InterestingInt(fdp);
      break;
    case 3: {
      const int r = fdp.ConsumeIntegralInRange<int>(0, kMaxDims);
      const int old = v.rank();
      v.dims.resize(r, 1);
      v.strides.resize(r, 1);
      for (int d = old; d < r; ++d) v.dims[d] = fdp.ConsumeIntegralInRange<int64_t>(0, 4);
      break;
    }
    case 4:
      if (v.rank() > 0) v.strides[fdp.ConsumeIntegralInRange<int>(0, v.rank() - 1)] = InterestingInt(fdp);
      break;
    case 5:
      v.offset = InterestingInt(fdp);
      break;
    case 6:
      fv.backing = fdp.ConsumeBool() ? Backing::kNull : Backing::kShort;
      break;
    case 7:
      if (fdp.ConsumeBool() || v.storage_dims.empty()) {
        v.storage_dims = v.dims;
      } else {
        v.storage_dims[fdp.ConsumeIntegralInRange<int>(0, v.storage_dims.size() - 1)] = InterestingInt(fdp);
      }
      break;
    default:
      if (v.rank() >= 2) {  // the transposed view of the last two dims
        std::swap(v.dims[v.rank() - 1], v.dims[v.rank() - 2]);
        std::swap(v.strides[v.rank() - 1], v.strides[v.rank() - 2]);
      }
      break;
  }
}

// Points v.data at memory as fv.backing says, filled with up to `input_bytes` of the fuzzer's bytes
// and then a fixed pattern.
inline void Back(FuzzedDataProvider& fdp, Arena& arena, FuzzView& fv, size_t input_bytes = 0) {
  TensorView& v = fv.view;
  v.data = nullptr;
  fv.valid = false;
  int64_t bytes = 0;
  const bool sized = BackingBytes(v, &bytes) && bytes <= kMaxBackingBytes;
  switch (fv.backing) {
    case Backing::kValid:
      if (!sized) return;
      v.data = arena.Alloc(static_cast<size_t>(bytes));
      fv.valid = true;
      break;
    case Backing::kNull:
      fv.valid = sized && bytes == 0;
      return;
    case Backing::kShort:
      v.data = arena.Alloc(1);
      fv.valid = sized && bytes <= 1;
      bytes = 1;
      break;
  }
  auto* p = static_cast<uint8_t*>(v.data);
  const std::vector<uint8_t> fill = fdp.ConsumeBytes<uint8_t>(std::min(static_cast<size_t>(bytes), input_bytes));
  if (!fill.empty()) std::memcpy(p, fill.data(), fill.size());
  for (size_t i = fill.size(); i < static_cast<size_t>(bytes); ++i) p[i] = static_cast<uint8_t>(i * 37 + 11);
}

}  // namespace mc2::fuzz
