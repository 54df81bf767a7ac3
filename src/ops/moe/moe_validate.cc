#include "ops/moe/moe_validate.h"

#include <algorithm>

#include "ops/common/checks.h"

namespace mc2::ops {
namespace {

constexpr ErrorSpace kSpace = ErrorSpace::kAclnn;
constexpr int32_t kInvalid = aclnn::kErrParamInvalid;
constexpr int64_t kMaxMoeTensorBytes = int64_t{1} << 48;

template <typename... Args>
Status Invalid(const char* param, const Args&... msg) {
  return Fail(kSpace, kInvalid, param, msg...);
}

bool IsPow2Size(int64_t v) { return v == 2 || v == 4 || v == 8 || v == 16 || v == 32; }

Status CheckDims3(const char* param, const TensorView& v, int64_t d0, int64_t d1, int64_t d2) {
  if (v.rank() == 3 && v.dims[0] == d0 && v.dims[1] == d1 && v.dims[2] == d2) return Status::Ok();
  return Invalid(param, "shape is ", v.dims.ToString(), " but must be (", d0, ", ", d1, ", ", d2, ")");
}

Status CheckDTypes(const MoeTensors& t) {
  const MoeInputs& in = t.in;
  MC2_RETURN_IF_ERROR(CheckDTypeIn(kSpace, kInvalid, "x", in.x, {DType::kFloat16, DType::kBFloat16}));
  const DType act = in.x.dtype;
  if (in.weight.dtype != act) {
    return Invalid("weight", "dtype is ", DTypeName(in.weight.dtype), " but must equal x's ", DTypeName(act));
  }
  if (t.y1.dtype != act) return Invalid("y1Out", "dtype is ", DTypeName(t.y1.dtype), " but must equal x's ", DTypeName(act));
  if (in.bias) {
    const DType want = act == DType::kFloat16 ? DType::kFloat16 : DType::kFloat32;
    if (in.bias->dtype != want) {
      return Invalid("biasOptional", "dtype is ", DTypeName(in.bias->dtype), " but x is ", DTypeName(act),
                     ", which needs a ", DTypeName(want), " bias");
    }
  }
  if (t.y2 && t.y2->dtype != act) {
    return Invalid("y2OutOptional", "dtype is ", DTypeName(t.y2->dtype), " but must equal x's ", DTypeName(act));
  }
  if (t.y3 && t.y3->dtype != act) {
    return Invalid("y3OutOptional", "dtype is ", DTypeName(t.y3->dtype), " but must equal x's ", DTypeName(act));
  }
  return Status::Ok();
}

Status CheckAttrs(const MoeAttrs& a) {
  if (a.x_shard_type != 0 && a.x_shard_type != 1) return Invalid("xShardType", "is ", a.x_shard_type, " but must be 0 or 1");
  const int act = static_cast<int>(a.act_type);
  if (act < 0 || act > 4) return Invalid("actType", "is ", act, " but must be in [0, 4]");
  if (!IsPow2Size(a.ep_world_size)) {
    return Invalid("epWorldSize", "is ", a.ep_world_size, " but must be one of {2, 4, 8, 16, 32}");
  }
  if (!IsPow2Size(a.tp_world_size)) {
    return Invalid("tpWorldSize", "is ", a.tp_world_size, " but must be one of {2, 4, 8, 16, 32}");
  }
  return Status::Ok();
}

Status CheckShapes(const MoeTensors& t, const MoeAttrs& a) {
  const MoeInputs& in = t.in;
  for (const auto& [name, v] : {std::pair{"x", &in.x}, std::pair{"weight", &in.weight}, std::pair{"y1Out", &t.y1}}) {
    MC2_RETURN_IF_ERROR(CheckRankIn(kSpace, kInvalid, name, *v, {3}));
  }
  if (t.y2) MC2_RETURN_IF_ERROR(CheckRankIn(kSpace, kInvalid, "y2OutOptional", *t.y2, {3}));
  if (t.y3) MC2_RETURN_IF_ERROR(CheckRankIn(kSpace, kInvalid, "y3OutOptional", *t.y3, {3}));
  if (in.bias) MC2_RETURN_IF_ERROR(CheckRankIn(kSpace, kInvalid, "biasOptional", *in.bias, {2, 3}));
  const Dims& x = in.x.dims;
  const Dims& w = in.weight.dims;
  const Dims& y1 = t.y1.dims;
  if (CheckedMul(w[0], a.ep_world_size) != x[0]) {
    return Invalid("weight", "dim 0 (E/ep) is ", w[0], " but x's dim 0 (E) is ", x[0], " and epWorldSize is ",
                   a.ep_world_size, " (weight[0] * ep must equal x[0])");
  }
  if (y1[0] != w[0]) return Invalid("y1Out", "dim 0 is ", y1[0], " but must equal weight's dim 0 ", w[0]);
  if (y1[2] != w[2]) return Invalid("y1Out", "dim 2 is ", y1[2], " but must equal weight's dim 2 ", w[2]);
  if (a.x_shard_type == 0) {
    if (CheckedMul(x[2], a.tp_world_size) != w[1]) {
      return Invalid("x", "dim 2 (H/tp) is ", x[2], " but weight's dim 1 (H) is ", w[1], " and tpWorldSize is ",
                     a.tp_world_size, " (x[2] * tp must equal weight[1] for xShardType 0)");
    }
    if (CheckedMul(x[1], a.ep_world_size) != y1[1]) {
      return Invalid("y1Out", "dim 1 is ", y1[1], " but must be x[1] * ep = ", MulSat(x[1], a.ep_world_size));
    }
  } else {
    if (x[2] != w[1]) {
      return Invalid("x", "dim 2 (H) is ", x[2], " but weight's dim 1 is ", w[1], " (must match for xShardType 1)");
    }
    // ep * tp <= 1024 (CheckAttrs ran first), so only the product with x[1] can overflow.
    if (CheckedMul(x[1], a.ep_world_size * a.tp_world_size) != y1[1]) {
      return Invalid("y1Out", "dim 1 is ", y1[1], " but must be x[1] * ep * tp = ",
                     MulSat(x[1], a.ep_world_size * a.tp_world_size));
    }
  }
  if (in.bias) {
    const Dims& b = in.bias->dims;
    if (b[0] != w[0]) return Invalid("biasOptional", "dim 0 is ", b[0], " but must equal weight's dim 0 ", w[0]);
    if (b.size() == 3 && b[1] != 1) return Invalid("biasOptional", "is 3-D with dim 1 = ", b[1], " but dim 1 must be 1");
    if (b.back() != y1[2]) {
      return Invalid("biasOptional", "last dim is ", b.back(), " but must equal y1Out's dim 2 ", y1[2]);
    }
  }
  if (t.y2) MC2_RETURN_IF_ERROR(CheckDims3("y2OutOptional", *t.y2, w[0], y1[1], w[1]));
  if (t.y3) MC2_RETURN_IF_ERROR(CheckDims3("y3OutOptional", *t.y3, w[0], y1[1], y1[2]));
  return Status::Ok();
}

Status CheckRanges(const MoeTensors& t) {
  const Dims& x = t.in.x.dims;
  const Dims& w = t.in.weight.dims;
  if (w[2] < 1 || w[2] > 65535) return Invalid("weight", "dim 2 (M/tp) is ", w[2], " but must be in [1, 65535]");
  if (w[0] < 1 || w[0] > 32) return Invalid("weight", "dim 0 (E/ep) is ", w[0], " but must be in [1, 32]");
  if (x[0] < 2 || x[0] > 512) return Invalid("x", "dim 0 (E) is ", x[0], " but must be in [2, 512]");
  if (x[1] <= 0) return Invalid("x", "dim 1 (C) is ", x[1], " but must be > 0");
  if (w[1] < 1 || w[1] > 65535) return Invalid("weight", "dim 1 (H) is ", w[1], " but must be in [1, 65535]");
  // No range of the spec bounds C; the buffers the plan sizes from it must stay representable.
  // y1 (E/ep, rows, M/tp) and y2 (E/ep, rows, H) are the largest tensors of the call (x is at
  // most y2; the operator stages y2 when it is not given); rows = y1's dim 1, checked against
  // x[1] * ep (* tp) above.
  const int64_t elem = static_cast<int64_t>(DTypeStorageBytes(t.in.x.dtype, 1));
  const int64_t rows_bytes = MulSat(MulSat(w[0], t.y1.dims[1]), elem);
  const int64_t largest = MulSat(rows_bytes, std::max(w[1], w[2]));
  if (largest > kMaxMoeTensorBytes) {
    return Invalid("x", "dim 1 (C) is ", x[1], ", which makes y1 / y2 (E/ep, ", t.y1.dims[1], ", M/tp or H) ", largest,
                   " bytes or more (at most 2^48 bytes: no host has that memory)");
  }
  return Status::Ok();
}

Status CheckLayouts(const MoeTensors& t) {
  const std::pair<const char*, const TensorView*> views[] = {{"x", &t.in.x}, {"weight", &t.in.weight}, {"y1Out", &t.y1}};
  for (const auto& [name, v] : views) {
    if (v->format != Format::kND) return Invalid(name, "format is ", FormatName(v->format), " but only ND is supported");
    MC2_RETURN_IF_ERROR(CheckViewSane(kSpace, kInvalid, name, *v));
  }
  if (!t.in.x.IsContiguous()) return Invalid("x", "must be contiguous, strides are ", t.in.x.strides.ToString());
  if (!t.in.weight.IsContiguous() && !t.in.weight.IsTransposedLastTwo()) {
    return Invalid("weight", "strides ", t.in.weight.strides.ToString(),
                   " are neither row-major nor a transposed view of (E/ep, M/tp, H) storage");
  }
  for (const auto& [name, v] : {std::pair{"biasOptional", &t.in.bias}, std::pair{"y2OutOptional", &t.y2},
                                std::pair{"y3OutOptional", &t.y3}}) {
    if (*v) MC2_RETURN_IF_ERROR(CheckViewSane(kSpace, kInvalid, name, **v));
  }
  for (const auto& [name, v] : {std::pair{"y1Out", &t.y1}}) {
    if (!v->IsContiguous()) return Invalid(name, "must be contiguous, strides are ", v->strides.ToString());
  }
  return Status::Ok();
}

}  // namespace

Status ValidateMoe(const MoeTensors& t, const MoeAttrs& attrs) {
  MC2_RETURN_IF_ERROR(CheckDTypes(t));
  MC2_RETURN_IF_ERROR(CheckAttrs(attrs));
  MC2_RETURN_IF_ERROR(CheckShapes(t, attrs));
  MC2_RETURN_IF_ERROR(CheckRanges(t));
  if (t.y3 && attrs.act_type == ActType::kNone) {
    return Invalid("y3OutOptional", "is given but actType is 0 (no activation, so there is no pre-activation output)");
  }
  return CheckLayouts(t);
}

}  // namespace mc2::ops
