// Tensor views: strided, transposed and offset views, int4 packing, FRACTAL_NZ indexing, and
// element load/store for every dtype.
#include "core/tensor.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>

#include "core/dtype.h"

namespace mc2 {
namespace {

TEST(DimsTest, BasicsAndStrides) {
  Dims d{2, 3, 4};
  EXPECT_EQ(d.size(), 3);
  EXPECT_EQ(d.numel(), 24);
  EXPECT_EQ(d.back(), 4);
  EXPECT_EQ(d.back(2), 3);
  EXPECT_EQ(RowMajorStrides(d), (Dims{12, 4, 1}));
  EXPECT_EQ(Dims{}.numel(), 1);
  EXPECT_EQ((Dims{5, 0, 2}).numel(), 0);
  EXPECT_EQ((Dims{7}).ToString(), "(7,)");
  EXPECT_EQ(d.ToString(), "(2, 3, 4)");
}

TEST(DTypeTest, NamesSizesAndCannValues) {
  EXPECT_EQ(static_cast<int>(DType::kFloat32), 0);  // ACL_FLOAT
  EXPECT_EQ(static_cast<int>(DType::kFloat16), 1);  // ACL_FLOAT16
  EXPECT_EQ(static_cast<int>(DType::kInt8), 2);
  EXPECT_EQ(static_cast<int>(DType::kInt32), 3);
  EXPECT_EQ(static_cast<int>(DType::kInt64), 9);
  EXPECT_EQ(static_cast<int>(DType::kUInt64), 10);
  EXPECT_EQ(static_cast<int>(DType::kBFloat16), 27);
  EXPECT_EQ(static_cast<int>(DType::kInt4), 29);
  EXPECT_TRUE(IsKnownDType(29));
  EXPECT_FALSE(IsKnownDType(12));  // ACL_BOOL: not used by mc2
  EXPECT_EQ(DTypeStorageBytes(DType::kInt4, 7), 4u);
  EXPECT_EQ(DTypeStorageBytes(DType::kBFloat16, 3), 6u);
  EXPECT_EQ(DTypeStorageBytes(DType::kInt64, 0), 0u);
  EXPECT_EQ(DTypeFromName("bfloat16"), DType::kBFloat16);
  EXPECT_EQ(DTypeFromName("complex64"), std::nullopt);
  EXPECT_EQ(DTypeName(DType::kInt4), "int4");
}

TEST(Int4Test, PackingPutsEvenElementsInTheLowNibble) {
  uint8_t bytes[2] = {0, 0};
  PackInt4(bytes, 0, 3);   // low nibble of byte 0
  PackInt4(bytes, 1, -2);  // high nibble of byte 0: 0xE
  PackInt4(bytes, 2, -8);  // low nibble of byte 1: 0x8
  PackInt4(bytes, 3, 7);   // high nibble of byte 1
  EXPECT_EQ(bytes[0], 0xE3);
  EXPECT_EQ(bytes[1], 0x78);
  EXPECT_EQ(UnpackInt4(bytes, 0), 3);
  EXPECT_EQ(UnpackInt4(bytes, 1), -2);
  EXPECT_EQ(UnpackInt4(bytes, 2), -8);
  EXPECT_EQ(UnpackInt4(bytes, 3), 7);
  // Every value in every position round-trips without touching the neighbour.
  for (int v = -8; v <= 7; ++v) {
    for (int pos = 0; pos < 4; ++pos) {
      uint8_t b[2] = {0x5A, 0xC3};
      const int8_t before[4] = {UnpackInt4(b, 0), UnpackInt4(b, 1), UnpackInt4(b, 2), UnpackInt4(b, 3)};
      PackInt4(b, pos, static_cast<int8_t>(v));
      for (int q = 0; q < 4; ++q) EXPECT_EQ(UnpackInt4(b, q), q == pos ? v : before[q]);
    }
  }
  // Equivalently: 8 per little-endian int32, element i in bits 4i..4i+3 (spec 2.3).
  uint8_t word[4] = {};
  for (int i = 0; i < 8; ++i) PackInt4(word, i, static_cast<int8_t>(i - 4));
  uint32_t w;
  std::memcpy(&w, word, 4);
  for (int i = 0; i < 8; ++i) {
    int nib = (w >> (4 * i)) & 0xf;
    EXPECT_EQ(nib >= 8 ? nib - 16 : nib, i - 4);
  }
}

TEST(TensorViewTest, ContiguousIndexing) {
  HostTensor t(DType::kFloat32, {2, 3});
  for (int i = 0; i < 6; ++i) t.set(i, i * 1.5);
  TensorView v = t.view();
  EXPECT_TRUE(v.IsContiguous());
  EXPECT_FALSE(v.IsTransposedLastTwo());
  const int64_t idx[2] = {1, 2};
  EXPECT_EQ(v.ElementIndex(idx), 5);
  EXPECT_EQ(v.Load(idx), 7.5);
  EXPECT_EQ(v.StorageExtent(), 6);
}

TEST(TensorViewTest, TransposedViewOfRowMajorStorage) {
  // Storage (n=3, k=2) row-major, viewed as (k=2, n=3) with strides (1, 2): CANN's transposed x2.
  HostTensor storage(DType::kInt8, {3, 2});
  for (int r = 0; r < 3; ++r)
    for (int c = 0; c < 2; ++c) storage.set(r * 2 + c, 10 * r + c);
  TensorView v = storage.view();
  v.dims = {2, 3};
  v.strides = {1, 2};
  EXPECT_TRUE(v.IsTransposedLastTwo());
  EXPECT_FALSE(v.IsContiguous());
  for (int64_t kk = 0; kk < 2; ++kk)
    for (int64_t nn = 0; nn < 3; ++nn) {
      const int64_t idx[2] = {kk, nn};
      EXPECT_EQ(v.Load(idx), 10 * nn + kk);  // (kk, nn) of the view is (nn, kk) of the storage
    }
  // Transposed() of a contiguous view is the same thing.
  TensorView t2 = storage.view().Transposed(0, 1);
  EXPECT_EQ(t2.dims, v.dims);
  EXPECT_EQ(t2.strides, v.strides);
  // A copy materialises the transposed values.
  HostTensor copy = HostTensor::FromView(v);
  EXPECT_EQ(copy.dims(), (Dims{2, 3}));
  EXPECT_EQ(copy.at(1 * 3 + 2), 21);
}

TEST(TensorViewTest, StridedViewWithOffset) {
  // A (2, 2) window at rows 1..2, cols 1..2 of a (4, 5) fp16 matrix.
  HostTensor base(DType::kFloat16, {4, 5});
  for (int i = 0; i < 20; ++i) base.set(i, i);
  TensorView v = base.view();
  v.dims = {2, 2};
  v.strides = {5, 1};
  v.offset = 6;
  EXPECT_FALSE(v.IsContiguous());
  const int64_t a[2] = {0, 0}, b[2] = {1, 1};
  EXPECT_EQ(v.Load(a), 6);
  EXPECT_EQ(v.Load(b), 12);
  EXPECT_EQ(v.StorageExtent(), 13);
  v.Store(b, 100.25);  // 100.25 is exact in fp16
  EXPECT_EQ(base.at(12), 100.25);
}

TEST(TensorViewTest, Int4ViewsIndexNibbles) {
  // A (4, 2) int4 matrix stored row-major (2 per byte along the row), viewed transposed.
  HostTensor w(DType::kInt4, {4, 2});
  EXPECT_EQ(w.bytes(), 4u);
  for (int i = 0; i < 8; ++i) w.set(i, i - 4);
  TensorView t = w.view().Transposed(0, 1);
  for (int64_t r = 0; r < 2; ++r)
    for (int64_t c = 0; c < 4; ++c) {
      const int64_t idx[2] = {r, c};
      EXPECT_EQ(t.Load(idx), c * 2 + r - 4);
    }
}

TEST(NzLayoutTest, MatchesTheSpecFormula) {
  // Logical (R=20, C=40) with c0 = 16: storage [1, 3, 32, 16]; (r, c) at ((c/16)*32 + r)*16 + c%16.
  NzLayout nz{20, 40, 16};
  EXPECT_EQ(nz.rows_padded(), 32);
  EXPECT_EQ(nz.col_blocks(), 3);
  EXPECT_EQ(nz.StorageDims(), (Dims{1, 3, 32, 16}));
  EXPECT_EQ(nz.StorageElements(), 3 * 32 * 16);
  EXPECT_EQ(nz.Index(0, 0), 0);
  EXPECT_EQ(nz.Index(0, 15), 15);
  EXPECT_EQ(nz.Index(1, 0), 16);
  EXPECT_EQ(nz.Index(0, 16), 32 * 16);
  EXPECT_EQ(nz.Index(19, 39), (2 * 32 + 19) * 16 + 7);
  // Every logical element maps to a distinct storage slot inside the storage.
  std::vector<int> seen(nz.StorageElements(), 0);
  for (int64_t r = 0; r < 20; ++r)
    for (int64_t c = 0; c < 40; ++c) {
      const int64_t e = nz.Index(r, c);
      ASSERT_GE(e, 0);
      ASSERT_LT(e, nz.StorageElements());
      EXPECT_EQ(seen[e]++, 0);
    }
  // int8 quant weights use c0 = 32.
  NzLayout q{64, 64, 32};
  EXPECT_EQ(q.StorageDims(), (Dims{1, 2, 64, 32}));
  EXPECT_EQ(q.Index(3, 33), (1 * 64 + 3) * 32 + 1);
}

TEST(ElementTest, StoreAndLoadEveryDtype) {
  for (DType dt : {DType::kFloat32, DType::kFloat16, DType::kBFloat16, DType::kFloat64, DType::kInt8,
                   DType::kUInt8, DType::kInt4, DType::kInt32, DType::kInt64, DType::kUInt64}) {
    HostTensor t(dt, {5});
    const double values[5] = {0, 1, 2, 3, 7};
    for (int i = 0; i < 5; ++i) t.set(i, values[i]);
    for (int i = 0; i < 5; ++i) EXPECT_EQ(t.at(i), values[i]) << DTypeName(dt);
  }
  // Integers round half away from zero and saturate; floats round half to even.
  HostTensor i8(DType::kInt8, {4});
  i8.set(0, 2.5);
  i8.set(1, -2.5);
  i8.set(2, 1000);
  i8.set(3, -1000);
  EXPECT_EQ(i8.at(0), 3);
  EXPECT_EQ(i8.at(1), -3);
  EXPECT_EQ(i8.at(2), 127);
  EXPECT_EQ(i8.at(3), -128);
  HostTensor i4(DType::kInt4, {2});
  i4.set(0, 9);
  i4.set(1, -9);
  EXPECT_EQ(i4.at(0), 7);
  EXPECT_EQ(i4.at(1), -8);
  HostTensor h(DType::kFloat16, {2});
  h.set(0, 1.0 + std::ldexp(1.0, -11));  // tie -> even (1.0)
  h.set(1, 1.0 + std::ldexp(1.0, -11), RoundMode::kHalfAway);
  EXPECT_EQ(h.at(0), 1.0);
  EXPECT_EQ(h.at(1), 1.0 + std::ldexp(1.0, -10));
  EXPECT_EQ(RoundToDType(1.0 + std::ldexp(1.0, -9), DType::kBFloat16), 1.0);
  EXPECT_EQ(RoundToDType(0.1, DType::kFloat64), 0.1);
}

TEST(ElementTest, CastAndReshape) {
  HostTensor f(DType::kFloat32, {2, 2});
  f.set(0, 1.0);
  f.set(1, 1.0 + std::ldexp(1.0, -11));
  f.set(2, 65520);
  f.set(3, -0.0);
  HostTensor h = f.CastTo(DType::kFloat16);
  EXPECT_EQ(h.at(1), 1.0);
  EXPECT_TRUE(std::isinf(h.at(2)));
  EXPECT_TRUE(std::signbit(h.at(3)));
  HostTensor r = f.Reshaped({4});
  EXPECT_EQ(r.dims(), (Dims{4}));
  EXPECT_EQ(r.at(0), 1.0);
}

}  // namespace
}  // namespace mc2
