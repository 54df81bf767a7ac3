// Weight access and dequantization for the LinearParallel golden model.
//
// ATB accepts the weight in four storages (spec 4.6): ND (k, n), ND (n, k) when transWeight, the
// same with a leading batch dim of 1, and FRACTAL_NZ. The matmul loops want one thing, op(W)[kk][j]
// with kk < k and j < n, so WeightMatrix hides the storage behind At(kk, j). k and n are derived
// from the dims exactly as ATB's GetYTensorK / GetYTensorN do, so for a 4-D NZ weight they include
// the NZ padding (k = dims[2] for transWeight=false). The dequant helpers sit here too because they
// are the other half of "what value does the cube see for weight element (kk, j)".
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

#include "core/dtype.h"
#include "core/status_or.h"
#include "core/tensor.h"
#include "reference/common.h"

namespace mc2::reference {

class WeightMatrix {
 public:
  WeightMatrix() = default;

  // Validates the layout (kInvalidTensorDim naming the rule broken) and derives k and n.
  //   ND:  rank 2 (R, C), or rank 3 (1, R, C).
  //   NZ:  rank 4 [1, C/c0, R_pad, c0] with R_pad % 16 == 0 and c0 = 32 (int8) or 16 (float), or
  //        rank 2 (R, C) whose storage (storage_dims, from the view's data + offset) holds the NZ
  //        arrangement [1, ceil(C/c0), ceil16(R), c0].
  // (R, C) = (k, n) when trans_weight is false, (n, k) when it is true.
  static StatusOr<WeightMatrix> Make(const TensorView& weight, bool trans_weight);

  int64_t k() const { return trans_ ? cols_ : rows_; }
  int64_t n() const { return trans_ ? rows_ : cols_; }
  DType dtype() const { return view_.dtype; }

  // The stored value of op(W)[kk][j], exactly.
  double At(int64_t kk, int64_t j) const;

 private:
  enum class Storage { kNd, kNz4, kNz2 };

  int64_t StorageIndex(int64_t r, int64_t c) const;

  TensorView view_;
  Storage storage_ = Storage::kNd;
  bool trans_ = false;
  int64_t rows_ = 0;  // R of the stored (R, C) matrix
  int64_t cols_ = 0;  // C
  int64_t c0_ = 16;
};

// op(W) as a row-major k x n matrix of its stored values (the float path).
std::vector<double> DenseWeight(const WeightMatrix& w);

// op(W) dequantized for W8A16 (spec 4.5): Wd[kk][j] = AntiquantWeight(w, scale[g][j], offset[g][j])
// with g = kk / group_size for per-group (group_size > 0) and g = 0 otherwise; size-1 dims of
// scale / offset broadcast. An absent or empty offset is 0. Row-major k x n.
std::vector<double> DequantizedWeight(const WeightMatrix& w, const TensorView& scale,
                                      const std::optional<TensorView>& offset, int32_t group_size, DType act_dtype,
                                      Mode mode);

// The W8A8 dequant scale of output column j (deq_scale (1), (n) or (1, n)). float32 deq_scale is
// its value; int64 deq_scale is the fp32 whose bits are the low 32 bits (Utils::QuantParamConvert),
// with the low 13 mantissa bits cleared when kCann produces fp16 (the hardware's deqscale format).
double W8a8Scale(const TensorView& deq_scale, int64_t j, DType out_dtype, Mode mode);

}  // namespace mc2::reference
