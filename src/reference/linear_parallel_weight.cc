// Weight storages and dequantization of the LinearParallel golden model; see the header for why.
#include "reference/linear_parallel_weight.h"

#include <cstring>

#include "core/float16.h"
#include "core/status.h"

namespace mc2::reference {
namespace {

// Storage element index of element j of a (1), (n), (1, n) or (1, 1) view, broadcasting size-1
// dims the way Load2 does.
int64_t VecIndex(const TensorView& v, int64_t j) {
  const int r = v.rank();
  const int64_t jj = v.dims[r - 1] == 1 ? 0 : j;
  return v.offset + jj * v.strides[r - 1];
}

}  // namespace

StatusOr<WeightMatrix> WeightMatrix::Make(const TensorView& weight, bool trans_weight) {
  WeightMatrix w;
  w.view_ = weight;
  w.trans_ = trans_weight;
  w.c0_ = weight.dtype == DType::kInt8 ? 32 : 16;
  const Dims& d = weight.dims;
  if (weight.format == Format::kND) {
    if (d.size() != 2 && d.size() != 3) {
      return AtbError(atb::kInvalidTensorDim, "weight: ND dims ", d.ToString(), " have rank ", d.size(),
                      " (an ND weight must be 2-D or 3-D)");
    }
    if (d.size() == 3 && d[0] != 1) {
      return AtbError(atb::kInvalidTensorDim, "weight: dims ", d.ToString(), " have batch ", d[0],
                      " (the weight batch must be 1)");
    }
    w.storage_ = Storage::kNd;
    w.rows_ = d.back(2);
    w.cols_ = d.back(1);
    return w;
  }
  if (d.size() == 4) {
    if (d[0] != 1) {
      return AtbError(atb::kInvalidTensorDim, "weight: FRACTAL_NZ dims ", d.ToString(), " have dim 0 = ", d[0],
                      " (must be 1)");
    }
    if (d[2] % 16 != 0) {
      return AtbError(atb::kInvalidTensorDim, "weight: FRACTAL_NZ dims ", d.ToString(), " have dim 2 = ", d[2],
                      " (must be a multiple of 16)");
    }
    if (d[3] != w.c0_) {
      return AtbError(atb::kInvalidTensorDim, "weight: FRACTAL_NZ dims ", d.ToString(), " have dim 3 = ", d[3],
                      " (must be ", w.c0_, " for a ", DTypeName(weight.dtype), " weight)");
    }
    w.storage_ = Storage::kNz4;
    w.rows_ = d[2];
    w.cols_ = d[1] * d[3];
    return w;
  }
  if (d.size() == 2) {
    const NzLayout layout{d[0], d[1], w.c0_};
    const int64_t need = weight.offset + layout.StorageElements();
    if (weight.storage_dims.empty() || weight.storage_dims.numel() < need) {
      return AtbError(atb::kInvalidTensorDim, "weight: 2-D FRACTAL_NZ dims ", d.ToString(), " need ",
                      layout.StorageElements(), " storage elements from offset ", weight.offset,
                      " but storage_dims are ", weight.storage_dims.ToString());
    }
    w.storage_ = Storage::kNz2;
    w.rows_ = d[0];
    w.cols_ = d[1];
    return w;
  }
  return AtbError(atb::kInvalidTensorDim, "weight: FRACTAL_NZ dims ", d.ToString(), " have rank ", d.size(),
                  " (an NZ weight must be 2-D or 4-D)");
}

int64_t WeightMatrix::StorageIndex(int64_t r, int64_t c) const {
  const TensorView& v = view_;
  switch (storage_) {
    case Storage::kNd:
      return v.offset + r * v.strides[v.rank() - 2] + c * v.strides[v.rank() - 1];
    case Storage::kNz4:
      return v.offset + (c / c0_) * v.strides[1] + r * v.strides[2] + (c % c0_) * v.strides[3];
    case Storage::kNz2:
      return v.offset + NzLayout{rows_, cols_, c0_}.Index(r, c);
  }
  return 0;
}

double WeightMatrix::At(int64_t kk, int64_t j) const {
  const int64_t r = trans_ ? j : kk;
  const int64_t c = trans_ ? kk : j;
  return view_.LoadFlat(StorageIndex(r, c));
}

std::vector<double> DenseWeight(const WeightMatrix& w) {
  std::vector<double> out(static_cast<size_t>(w.k() * w.n()));
  for (int64_t kk = 0; kk < w.k(); ++kk) {
    for (int64_t j = 0; j < w.n(); ++j) out[Idx2(kk, j, w.n())] = w.At(kk, j);
  }
  return out;
}

std::vector<double> DequantizedWeight(const WeightMatrix& w, const TensorView& scale,
                                      const std::optional<TensorView>& offset, int32_t group_size, DType act_dtype,
                                      Mode mode) {
  const bool has_offset = offset.has_value() && !offset->empty();
  std::vector<double> out(static_cast<size_t>(w.k() * w.n()));
  for (int64_t kk = 0; kk < w.k(); ++kk) {
    const int64_t g = group_size > 0 ? kk / group_size : 0;
    for (int64_t j = 0; j < w.n(); ++j) {
      const double s = Load2(scale, g, j);
      const double o = has_offset ? Load2(*offset, g, j) : 0.0;
      out[Idx2(kk, j, w.n())] = AntiquantWeight(w.At(kk, j), s, o, act_dtype, mode);
    }
  }
  return out;
}

double W8a8Scale(const TensorView& deq_scale, int64_t j, DType out_dtype, Mode mode) {
  if (deq_scale.dtype != DType::kInt64 && deq_scale.dtype != DType::kUInt64) return LoadVec(deq_scale, j);
  uint64_t raw = 0;
  std::memcpy(&raw, static_cast<const uint8_t*>(deq_scale.data) + VecIndex(deq_scale, j) * 8, 8);
  uint32_t bits = static_cast<uint32_t>(raw & 0xffffffffu);
  if (mode == Mode::kCann && out_dtype == DType::kFloat16) bits = (bits >> 13) << 13;
  return BitsToFloat(bits);
}

}  // namespace mc2::reference
