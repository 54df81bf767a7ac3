// Helpers shared by the two LinearParallel reference test files: a pool that owns the tensors behind
// the views, builders for ND / FRACTAL_NZ / int64-deqScale tensors written from the layout formulas
// of the spec (not through the model's own code), and an output comparison.
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <deque>
#include <string>
#include <vector>

#include "core/float16.h"
#include "core/op_params.h"
#include "core/tensor.h"
#include "reference/linear_parallel.h"

namespace mc2::reference::lp_test {

class Pool {
 public:
  // A contiguous ND tensor holding `values` (row-major), each rounded to `dtype`.
  TensorView Nd(DType dtype, const Dims& dims, const std::vector<double>& values) {
    HostTensor& t = tensors_.emplace_back(dtype, dims);
    EXPECT_EQ(static_cast<int64_t>(values.size()), t.numel()) << dims.ToString();
    for (size_t i = 0; i < values.size() && static_cast<int64_t>(i) < t.numel(); ++i) {
      t.set(static_cast<int64_t>(i), values[i]);
    }
    return t.view();
  }

  // An empty (0-element) 1-D tensor.
  TensorView Empty(DType dtype) { return tensors_.emplace_back(dtype, Dims{0}).view(); }

  // The row-major (rows, cols) matrix `values` stored as 4-D FRACTAL_NZ [1, ceil(C/c0), ceil16(R), c0]:
  // element (r, c) at ((c / c0) * R_pad + r) * c0 + c % c0 (spec 4.6), padding zero.
  TensorView Nz4(DType dtype, int64_t rows, int64_t cols, const std::vector<double>& values) {
    const int64_t c0 = dtype == DType::kInt8 ? 32 : 16;
    const int64_t rows_pad = (rows + 15) / 16 * 16;
    const int64_t blocks = (cols + c0 - 1) / c0;
    HostTensor& t = tensors_.emplace_back(dtype, Dims{1, blocks, rows_pad, c0});
    for (int64_t r = 0; r < rows; ++r) {
      for (int64_t c = 0; c < cols; ++c) t.set(((c / c0) * rows_pad + r) * c0 + c % c0, values[r * cols + c]);
    }
    TensorView v = t.view();
    v.format = Format::kFractalNZ;
    return v;
  }

  // The same storage seen as a 2-D NZ view: dims (rows, cols), storage_dims the 4-D NZ shape.
  TensorView Nz2(DType dtype, int64_t rows, int64_t cols, const std::vector<double>& values) {
    TensorView v = Nz4(dtype, rows, cols, values);
    v.dims = Dims{rows, cols};
    v.strides = RowMajorStrides(v.dims);
    return v;
  }

  // An int64 deqScale: each fp32 scale's bits in the low 32 bits, high 32 bits zero.
  TensorView Int64Scale(const Dims& dims, const std::vector<float>& scales) {
    HostTensor& t = tensors_.emplace_back(DType::kInt64, dims);
    for (size_t i = 0; i < scales.size(); ++i) {
      uint32_t bits;
      std::memcpy(&bits, &scales[i], 4);
      const int64_t v = static_cast<int64_t>(bits);
      std::memcpy(t.data_as<int64_t>() + i, &v, 8);
    }
    return t.view();
  }

 private:
  std::deque<HostTensor> tensors_;
};

// Row-major transpose of a rows x cols matrix.
inline std::vector<double> Transpose(const std::vector<double>& m, int64_t rows, int64_t cols) {
  std::vector<double> t(m.size());
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t c = 0; c < cols; ++c) t[c * rows + r] = m[r * cols + c];
  }
  return t;
}

// Row-major rows x k times k x n, exact in double (the tests keep values where that is exact).
inline std::vector<double> MatMul(const std::vector<double>& x, const std::vector<double>& w, int64_t rows, int64_t k,
                                  int64_t n) {
  std::vector<double> out(static_cast<size_t>(rows * n), 0.0);
  for (int64_t i = 0; i < rows; ++i) {
    for (int64_t j = 0; j < n; ++j) {
      for (int64_t kk = 0; kk < k; ++kk) out[i * n + j] += x[i * k + kk] * w[kk * n + j];
    }
  }
  return out;
}

// Small integers in [-2, 2], different per (seed, i): exact in fp16 / bf16 / int8.
inline std::vector<double> SmallInts(int64_t count, int seed) {
  std::vector<double> v(static_cast<size_t>(count));
  for (int64_t i = 0; i < count; ++i) v[i] = static_cast<double>((i * 7 + seed * 3 + (i / 5) * seed) % 5 - 2);
  return v;
}

inline std::vector<double> Values(const HostTensor& t) {
  std::vector<double> v;
  for (int64_t i = 0; i < t.numel(); ++i) v.push_back(t.at(i));
  return v;
}

inline void ExpectTensor(const HostTensor& t, DType dtype, const Dims& dims, const std::vector<double>& values) {
  EXPECT_EQ(t.dtype(), dtype);
  ASSERT_EQ(t.dims(), dims) << t.dims().ToString() << " vs " << dims.ToString();
  ASSERT_EQ(t.numel(), static_cast<int64_t>(values.size()));
  for (int64_t i = 0; i < t.numel(); ++i) EXPECT_EQ(t.at(i), values[i]) << "element " << i;
}

// Runs the model and expects success.
inline std::vector<LinearParallelOutputs> RunLp(const std::vector<LinearParallelInputs>& ranks,
                                              const LinearParallelAttrs& attrs, Mode mode = Mode::kCann) {
  StatusOr<std::vector<LinearParallelOutputs>> out = LinearParallel(ranks, attrs, mode);
  EXPECT_TRUE(out.ok()) << out.status().ToString();
  if (!out.ok()) return {};
  EXPECT_EQ(out->size(), ranks.size());
  return std::move(out).value();
}

// Runs the model and expects an ATB error with `code`; returns its message.
inline std::string ExpectLpError(const std::vector<LinearParallelInputs>& ranks, const LinearParallelAttrs& attrs,
                            int32_t code) {
  StatusOr<std::vector<LinearParallelOutputs>> out = LinearParallel(ranks, attrs, Mode::kCann);
  EXPECT_FALSE(out.ok());
  if (out.ok()) return "";
  EXPECT_EQ(out.status().space(), ErrorSpace::kAtb);
  EXPECT_EQ(out.status().code(), code) << out.status().ToString();
  return out.status().message();
}

}  // namespace mc2::reference::lp_test
