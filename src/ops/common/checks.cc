#include "ops/common/checks.h"

#include <limits>

namespace mc2::ops {

std::string DTypeList(std::initializer_list<DType> dtypes) {
  std::string s;
  for (DType d : dtypes) {
    if (!s.empty()) s += ", ";
    s += DTypeName(d);
  }
  return "{" + s + "}";
}

Status CheckViewSane(ErrorSpace space, int32_t code, const char* param, const TensorView& v) {
  for (int d = 0; d < v.rank(); ++d) {
    if (v.dims[d] < 0) return Fail(space, code, param, "dim ", d, " is ", v.dims[d], " (dims must be >= 0)");
  }
  if (!v.empty() && v.data == nullptr) {
    return Fail(space, code, param, "data is null but the view ", v.dims.ToString(), " has ", v.numel(), " elements");
  }
  return Status::Ok();
}

Status CheckRankIn(ErrorSpace space, int32_t code, const char* param, const TensorView& v,
                   std::initializer_list<int> ranks) {
  for (int r : ranks) {
    if (v.rank() == r) return Status::Ok();
  }
  std::string allowed;
  for (int r : ranks) allowed += (allowed.empty() ? "" : " or ") + std::to_string(r);
  return Fail(space, code, param, "has ", v.rank(), " dims ", v.dims.ToString(), " but must have ", allowed);
}

Status CheckDTypeIn(ErrorSpace space, int32_t code, const char* param, const TensorView& v,
                    std::initializer_list<DType> dtypes) {
  for (DType d : dtypes) {
    if (v.dtype == d) return Status::Ok();
  }
  return Fail(space, code, param, "dtype is ", DTypeName(v.dtype), " but must be one of ", DTypeList(dtypes));
}

Status CheckSameDims(ErrorSpace space, int32_t code, const char* param, const TensorView& v, const char* other_name,
                     const TensorView& other) {
  if (v.dims == other.dims) return Status::Ok();
  return Fail(space, code, param, "shape is ", v.dims.ToString(), " but must equal ", other_name, "'s ",
              other.dims.ToString());
}

int64_t LeadingRows(const TensorView& v) {
  int64_t rows = 1;
  for (int d = 0; d + 1 < v.rank(); ++d) rows = MulSat(rows, v.dims[d]);
  return rows;
}

int64_t MulSat(int64_t a, int64_t b) {
  int64_t p;
  if (!__builtin_mul_overflow(a, b, &p)) return p;
  return (a < 0) != (b < 0) ? std::numeric_limits<int64_t>::min() : std::numeric_limits<int64_t>::max();
}

std::optional<int64_t> CheckedMul(int64_t a, int64_t b) {
  int64_t p;
  if (__builtin_mul_overflow(a, b, &p)) return std::nullopt;
  return p;
}

}  // namespace mc2::ops
