#include "ops/arn/arn_validate.h"

#include <algorithm>

#include "ops/common/checks.h"

namespace mc2::ops {
namespace {

constexpr ErrorSpace kSpace = ErrorSpace::kAclnn;
constexpr int32_t kInvalid = aclnn::kErrParamInvalid;
constexpr int32_t kTiling = aclnn::kErrInnerTiling;

template <typename... Args>
Status Invalid(const char* param, const Args&... msg) {
  return Fail(kSpace, kInvalid, param, msg...);
}
template <typename... Args>
Status Tiling(const char* param, const Args&... msg) {
  return Fail(kSpace, kTiling, param, msg...);
}

Status SameDType(const char* param, const TensorView& v, const char* other, DType want) {
  if (v.dtype == want) return Status::Ok();
  return Invalid(param, "dtype is ", DTypeName(v.dtype), " but must equal ", other, "'s ", DTypeName(want));
}

Status IsNd(const char* param, const TensorView& v) {
  if (v.format == Format::kND) return Status::Ok();
  return Invalid(param, "format is ", FormatName(v.format), " but only ND is supported");
}

// Scale / offset shape without groups: (1), (n), (1, 1) or (1, n); with groups: (ceil(k/G), n).
Status CheckQuantShape(const char* param, const TensorView& v, int64_t k, int64_t n, int64_t group) {
  if (group > 0) {
    const int64_t groups = (k + group - 1) / group;
    if (v.rank() == 2 && v.dims[0] == groups && v.dims[1] == n) return Status::Ok();
    return Tiling(param, "shape is ", v.dims.ToString(), " but antiquantGroupSize ", group,
                  " needs (ceil(k / antiquantGroupSize), n) = (", groups, ", ", n, ")");
  }
  const bool ok = (v.rank() == 1 && (v.dims[0] == 1 || v.dims[0] == n)) ||
                  (v.rank() == 2 && v.dims[0] == 1 && (v.dims[1] == 1 || v.dims[1] == n));
  if (ok) return Status::Ok();
  return Tiling(param, "shape is ", v.dims.ToString(), " but without groups it must be (1), (", n, "), (1, 1) or (1, ",
                n, ")");
}

}  // namespace

Status CheckArnShapes(const ArnTensors& t) {
  const ArnInputs& in = t.in;
  if (in.x1.rank() < 1) return Invalid("x1", "has no dims");
  if (in.x2.rank() < 1) return Invalid("x2", "has no dims");
  if (in.residual.rank() < 1) return Invalid("residual", "has no dims");
  if (in.x1.dims.back() != in.x2.dims[0]) {
    return Invalid("x2", "dim 0 is ", in.x2.dims[0], " but x1's last dim is ", in.x1.dims.back(), " (k must match)");
  }
  if (in.residual.dims.back() != in.x2.dims.back()) {
    return Invalid("residual", "last dim is ", in.residual.dims.back(), " but x2's last dim is ", in.x2.dims.back(),
                   " (n must match)");
  }
  return Status::Ok();
}

StatusOr<bool> IsEmptyArnCall(const ArnTensors& t) {
  const ArnInputs& in = t.in;
  const bool empty = in.x1.empty() || in.x2.empty() || in.antiquant_scale.empty() || in.residual.empty() ||
                     in.gamma.empty();
  if (!empty) return false;
  if (in.x2.dims[0] == 0) return Invalid("x2", "k (dim 0) is 0; empty b*s or n are supported, empty k is not");
  return true;
}

Status CheckArnOpDef(const ArnTensors& t) {
  const ArnInputs& in = t.in;
  MC2_RETURN_IF_ERROR(CheckDTypeIn(kSpace, kInvalid, "x1", in.x1, {DType::kFloat16, DType::kBFloat16}));
  MC2_RETURN_IF_ERROR(CheckDTypeIn(kSpace, kInvalid, "x2", in.x2, {DType::kInt8, DType::kInt4}));
  const DType act = in.x1.dtype;
  if (in.bias) MC2_RETURN_IF_ERROR(SameDType("bias", *in.bias, "x1", act));
  MC2_RETURN_IF_ERROR(SameDType("antiquantScale", in.antiquant_scale, "x1", act));
  if (in.antiquant_offset) MC2_RETURN_IF_ERROR(SameDType("antiquantOffset", *in.antiquant_offset, "antiquantScale", act));
  MC2_RETURN_IF_ERROR(SameDType("residual", in.residual, "x1", act));
  MC2_RETURN_IF_ERROR(SameDType("gamma", in.gamma, "residual", act));
  MC2_RETURN_IF_ERROR(SameDType("y", t.y, "residual", act));
  MC2_RETURN_IF_ERROR(SameDType("normOut", t.norm_out, "residual", act));
  const std::pair<const char*, const TensorView*> all[] = {
      {"x1", &in.x1}, {"x2", &in.x2}, {"antiquantScale", &in.antiquant_scale}, {"residual", &in.residual},
      {"gamma", &in.gamma}, {"y", &t.y}, {"normOut", &t.norm_out}};
  for (const auto& [name, v] : all) {
    MC2_RETURN_IF_ERROR(IsNd(name, *v));
    MC2_RETURN_IF_ERROR(CheckViewSane(kSpace, kInvalid, name, *v));
  }
  for (const auto& [name, v] : {std::pair{"bias", &in.bias}, std::pair{"antiquantOffset", &in.antiquant_offset}}) {
    if (*v) {
      MC2_RETURN_IF_ERROR(IsNd(name, **v));
      MC2_RETURN_IF_ERROR(CheckViewSane(kSpace, kInvalid, name, **v));
    }
  }
  // Layouts: x1 is read row-major (CANN's transposeX1 is always false); x2 row-major (k, n) or the
  // transposed view of (n, k) storage.
  if (!in.x1.IsContiguous()) return Invalid("x1", "must be contiguous, strides are ", in.x1.strides.ToString());
  if (in.x2.rank() == 2 && !in.x2.IsContiguous() && !in.x2.IsTransposedLastTwo()) {
    return Invalid("x2", "strides ", in.x2.strides.ToString(), " are neither row-major (", in.x2.dims[1],
                   ", 1) nor transposed (1, ", in.x2.dims[0], ")");
  }
  for (const auto& [name, v] : {std::pair{"residual", &in.residual}, std::pair{"y", &t.y},
                                std::pair{"normOut", &t.norm_out}, std::pair{"gamma", &in.gamma}}) {
    if (!v->IsContiguous()) return Invalid(name, "must be contiguous, strides are ", v->strides.ToString());
  }
  if (in.x2.dtype == DType::kInt4 && in.x2.rank() == 2) {
    const bool transposed = in.x2.IsTransposedLastTwo() && !in.x2.IsContiguous();
    const int64_t packed_dim = transposed ? in.x2.dims[0] : in.x2.dims[1];
    if (packed_dim % 2 != 0) {
      return Invalid("x2", "int4 ", transposed ? "k" : "n", " is ", packed_dim,
                     " but must be even (two int4 values per byte along the contiguous dim)");
    }
  }
  return Status::Ok();
}

Status CheckArnTiling(const ArnTensors& t, const ArnAttrs& attrs, int world_size) {
  const ArnInputs& in = t.in;
  if (in.x1.rank() != 2 && in.x1.rank() != 3) return Tiling("x1", "has ", in.x1.rank(), " dims but must have 2 or 3");
  if (in.x2.rank() != 2) return Tiling("x2", "has ", in.x2.rank(), " dims but must have 2");
  if (in.residual.rank() != 3) return Tiling("residual", "has ", in.residual.rank(), " dims but must have 3 (b, s, n)");
  if (t.y.dims != in.residual.dims) {
    return Tiling("y", "shape is ", t.y.dims.ToString(), " but must equal residual's ", in.residual.dims.ToString());
  }
  if (t.norm_out.dims != in.residual.dims) {
    return Tiling("normOut", "shape is ", t.norm_out.dims.ToString(), " but must equal residual's ",
                  in.residual.dims.ToString());
  }
  const int64_t k = in.x2.dims[0];
  const int64_t n = in.x2.dims[1];
  const int64_t m = LeadingRows(in.x1);
  if (in.gamma.rank() != 1 || in.gamma.dims[0] != n) {
    return Tiling("gamma", "shape is ", in.gamma.dims.ToString(), " but must be (", n, ") = (residual's last dim)");
  }
  const int64_t bs = MulSat(in.residual.dims[0], in.residual.dims[1]);
  if (m != bs) {
    return Tiling("x1", "has ", m, " rows but residual has b*s = ", bs);
  }
  if (!(attrs.epsilon > 0 && attrs.epsilon < 1)) return Tiling("epsilon", "is ", attrs.epsilon, " but must be in (0, 1)");
  if (m > kArnMaxM) return Tiling("x1", "m = ", m, " exceeds ", kArnMaxM);
  if (k > kArnMaxKN) return Tiling("x2", "k = ", k, " exceeds ", kArnMaxKN);
  if (n > kArnMaxKN) return Tiling("x2", "n = ", n, " exceeds ", kArnMaxKN);
  if (in.bias && (in.bias->rank() != 1 || in.bias->dims[0] != n)) {
    return Tiling("bias", "shape is ", in.bias->dims.ToString(), " but must be (", n, ")");
  }
  const int64_t g = attrs.antiquant_group_size;
  if (g != 0) {
    const int64_t hi = std::min<int64_t>(k - 1, 2147483647);
    if (g % 32 != 0 || g < 32 || g > hi) {
      return Tiling("antiquantGroupSize", "is ", g, " but must be 0 or a multiple of 32 in [32, min(k - 1, INT32_MAX)] = [32, ",
                    hi, "]");
    }
  }
  MC2_RETURN_IF_ERROR(CheckQuantShape("antiquantScale", in.antiquant_scale, k, n, g));
  if (in.antiquant_offset && in.antiquant_offset->dims != in.antiquant_scale.dims) {
    return Tiling("antiquantOffset", "shape is ", in.antiquant_offset->dims.ToString(),
                  " but must equal antiquantScale's ", in.antiquant_scale.dims.ToString());
  }
  if (world_size != 1 && world_size != 2 && world_size != 4 && world_size != 8) {
    return Tiling("group", "has ", world_size, " ranks but the operator supports 1, 2, 4 or 8");
  }
  return Status::Ok();
}

Status ValidateArn(const ArnTensors& t, const ArnAttrs& attrs, int world_size, bool* empty) {
  MC2_RETURN_IF_ERROR(CheckArnShapes(t));
  MC2_ASSIGN_OR_RETURN(*empty, IsEmptyArnCall(t));
  if (*empty) return Status::Ok();
  MC2_RETURN_IF_ERROR(CheckArnOpDef(t));
  return CheckArnTiling(t, attrs, world_size);
}

}  // namespace mc2::ops
