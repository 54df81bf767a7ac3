// Golden model of WeightQuantMatmulAllReduceAddRmsNorm: validation, then the four steps of spec 2.2
// as four plain loops (dequantize, local matmul + bias, cross-rank sum, add + RMSNorm).
//
// The checks here are the ones that make the math well defined (k agrees, scale/offset shapes fit
// the quantization mode, ranks agree on shapes). CANN's API-level limits (k, n <= 65535, group size
// a multiple of 32, epsilon in (0, 1), rank count in {1, 2, 4, 8}) belong to the aclnn layer and
// are not repeated, so the tests can use tiny shapes such as a group size of 3.
#include "reference/arn.h"

#include <cmath>
#include <string>

#include "core/status.h"

namespace mc2::reference {
namespace {

Status Invalid(const std::string& message) { return AclnnError(aclnn::kErrParamInvalid, message); }

// A present tensor with elements needs storage; every dim must be >= 0.
Status CheckView(const TensorView& v, const char* name) {
  for (int d = 0; d < v.rank(); ++d) {
    if (v.dims[d] < 0) return Invalid(StrCat(name, ": dim ", d, " is ", v.dims[d], " (dims must be >= 0)"));
  }
  if (!v.empty() && v.data == nullptr) {
    return AclnnError(aclnn::kErrParamNullptr, name, ": data is null but the view ", v.dims.ToString(), " holds ",
                      v.numel(), " elements");
  }
  return Status::Ok();
}

bool IsHalfType(DType d) { return d == DType::kFloat16 || d == DType::kBFloat16; }

// Shape rules of antiquantScale / antiquantOffset (spec 2.4 step 5).
Status CheckQuantParam(const TensorView& v, const char* name, int64_t k, int64_t n, int64_t group_size) {
  if (group_size > 0) {
    const int64_t groups = (k + group_size - 1) / group_size;
    if (v.rank() != 2 || v.dims[0] != groups || v.dims[1] != n) {
      return Invalid(StrCat(name, ": shape is ", v.dims.ToString(), " but antiquantGroupSize ", group_size,
                            " needs (ceil(k/G), n) = (", groups, ", ", n, ")"));
    }
    return Status::Ok();
  }
  const bool ok = (v.rank() == 1 && (v.dims[0] == 1 || v.dims[0] == n)) ||
                  (v.rank() == 2 && v.dims[0] == 1 && (v.dims[1] == 1 || v.dims[1] == n));
  if (!ok) {
    return Invalid(StrCat(name, ": shape is ", v.dims.ToString(),
                          " but without groups it must be (1), (n), (1, 1) or (1, n)", " with n = ", n));
  }
  return Status::Ok();
}

// Everything one rank's inputs must satisfy on their own.
Status CheckRank(const ArnInputs& in, const ArnAttrs& attrs) {
  MC2_RETURN_IF_ERROR(CheckView(in.x1, "x1"));
  MC2_RETURN_IF_ERROR(CheckView(in.x2, "x2"));
  MC2_RETURN_IF_ERROR(CheckView(in.antiquant_scale, "antiquantScale"));
  MC2_RETURN_IF_ERROR(CheckView(in.residual, "residual"));
  MC2_RETURN_IF_ERROR(CheckView(in.gamma, "gamma"));
  if (in.bias) MC2_RETURN_IF_ERROR(CheckView(*in.bias, "bias"));
  if (in.antiquant_offset) MC2_RETURN_IF_ERROR(CheckView(*in.antiquant_offset, "antiquantOffset"));

  const DType dt = in.x1.dtype;
  if (!IsHalfType(dt)) return Invalid(StrCat("x1: dtype is ", DTypeName(dt), " but must be float16 or bfloat16"));
  if (in.x2.dtype != DType::kInt8 && in.x2.dtype != DType::kInt4) {
    return Invalid(StrCat("x2: dtype is ", DTypeName(in.x2.dtype), " but must be int8 or int4"));
  }
  if (in.x1.rank() != 2 && in.x1.rank() != 3) {
    return Invalid(
        StrCat("x1: has ", in.x1.rank(), " dims ", in.x1.dims.ToString(), " but must be 2-D (m, k) or 3-D (b, s, k)"));
  }
  if (in.x2.rank() != 2) return Invalid(StrCat("x2: has ", in.x2.rank(), " dims but must be 2-D (k, n)"));
  const int64_t k = in.x1.dims.back();
  const int64_t rows = in.x1.rank() == 2 ? in.x1.dims[0] : in.x1.dims[0] * in.x1.dims[1];
  if (in.x2.dims[0] != k) {
    return Invalid(StrCat("x2: dim 0 is ", in.x2.dims[0], " but x1's last dim is ", k, " (k must match)"));
  }
  if (k == 0) return Invalid("x1: last dim k is 0 (k must not be empty)");
  const int64_t n = in.x2.dims[1];
  if (in.residual.rank() != 3) {
    return Invalid(StrCat("residual: shape is ", in.residual.dims.ToString(), " but must be 3-D (b, s, n)"));
  }
  if (in.residual.dims[2] != n) {
    return Invalid(
        StrCat("residual: last dim is ", in.residual.dims[2], " but x2's last dim is ", n, " (n must match)"));
  }
  if (in.residual.dims[0] * in.residual.dims[1] != rows) {
    return Invalid(StrCat("residual: b*s is ", in.residual.dims[0] * in.residual.dims[1], " but x1 has ", rows,
                          " rows (m = b*s must match)"));
  }
  if (in.residual.dtype != dt) {
    return Invalid(
        StrCat("residual: dtype is ", DTypeName(in.residual.dtype), " but x1 is ", DTypeName(dt), " (must match)"));
  }
  if (in.gamma.rank() != 1 || in.gamma.dims[0] != n) {
    return Invalid(StrCat("gamma: shape is ", in.gamma.dims.ToString(), " but must be (n) with n = ", n));
  }
  if (in.gamma.dtype != dt) {
    return Invalid(
        StrCat("gamma: dtype is ", DTypeName(in.gamma.dtype), " but residual is ", DTypeName(dt), " (must match)"));
  }
  if (in.bias) {
    if (in.bias->rank() != 1 || in.bias->dims[0] != n) {
      return Invalid(StrCat("bias: shape is ", in.bias->dims.ToString(), " but must be (n) with n = ", n));
    }
    if (in.bias->dtype != dt) {
      return Invalid(
          StrCat("bias: dtype is ", DTypeName(in.bias->dtype), " but x1 is ", DTypeName(dt), " (must match)"));
    }
  }
  if (attrs.antiquant_group_size < 0) {
    return Invalid(StrCat("antiquantGroupSize: is ", attrs.antiquant_group_size, " (must be 0 or positive)"));
  }
  if (in.antiquant_scale.dtype != dt) {
    return Invalid(StrCat("antiquantScale: dtype is ", DTypeName(in.antiquant_scale.dtype), " but x1 is ",
                          DTypeName(dt), " (must match)"));
  }
  MC2_RETURN_IF_ERROR(CheckQuantParam(in.antiquant_scale, "antiquantScale", k, n, attrs.antiquant_group_size));
  if (in.antiquant_offset) {
    if (in.antiquant_offset->dims != in.antiquant_scale.dims) {
      return Invalid(StrCat("antiquantOffset: shape is ", in.antiquant_offset->dims.ToString(),
                            " but antiquantScale is ", in.antiquant_scale.dims.ToString(), " (must match)"));
    }
    if (in.antiquant_offset->dtype != in.antiquant_scale.dtype) {
      return Invalid(StrCat("antiquantOffset: dtype is ", DTypeName(in.antiquant_offset->dtype),
                            " but antiquantScale is ", DTypeName(in.antiquant_scale.dtype), " (must match)"));
    }
  }
  return Status::Ok();
}

// Ranks must agree on what the all-reduce combines and on the output shape. bias and offset may
// be present on some ranks only: each rank's local product is its own business.
Status CheckAgainstRank0(const ArnInputs& in, const ArnInputs& first) {
  if (in.x1.dtype != first.x1.dtype) {
    return Invalid(StrCat("x1: dtype is ", DTypeName(in.x1.dtype), " but rank 0 has ", DTypeName(first.x1.dtype),
                          " (all ranks must match)"));
  }
  const struct {
    const char* name;
    const Dims& here;
    const Dims& there;
  } pairs[] = {{"x1", in.x1.dims, first.x1.dims},
               {"x2", in.x2.dims, first.x2.dims},
               {"residual", in.residual.dims, first.residual.dims}};
  for (const auto& p : pairs) {
    if (p.here != p.there) {
      return Invalid(StrCat(p.name, ": shape is ", p.here.ToString(), " but rank 0 has ", p.there.ToString(),
                            " (all ranks must match)"));
    }
  }
  return Status::Ok();
}

// Element (i, kk) of x1 viewed as (m, k).
double LoadX1(const TensorView& x1, int64_t i, int64_t kk) {
  if (x1.rank() == 2) {
    const int64_t idx[2] = {i, kk};
    return x1.Load(idx);
  }
  const int64_t idx[3] = {i / x1.dims[1], i % x1.dims[1], kk};
  return x1.Load(idx);
}

// Element (i, j) of residual viewed as (m, n).
double LoadRows(const TensorView& v, int64_t i, int64_t j) {
  const int64_t idx[3] = {i / v.dims[1], i % v.dims[1], j};
  return v.Load(idx);
}

// Step 1: W[kk * n + nn] = (x2[kk, nn] + offset) * scale, in x1's dtype (kCann) or exactly.
std::vector<double> DequantWeight(const ArnInputs& in, int64_t group_size, Mode mode) {
  const int64_t k = in.x2.dims[0];
  const int64_t n = in.x2.dims[1];
  std::vector<double> w(static_cast<size_t>(k * n));
  for (int64_t kk = 0; kk < k; ++kk) {
    const int64_t group_row = group_size > 0 ? kk / group_size : 0;
    for (int64_t nn = 0; nn < n; ++nn) {
      const int64_t idx[2] = {kk, nn};
      const double q = in.x2.Load(idx);
      const double scale = Load2(in.antiquant_scale, group_row, nn);
      const double offset = in.antiquant_offset ? Load2(*in.antiquant_offset, group_row, nn) : 0.0;
      w[Idx2(kk, nn, n)] = AntiquantWeight(q, scale, offset, in.x1.dtype, mode);
    }
  }
  return w;
}

// Step 2: P[i * n + nn] = round(sum_kk x1[i, kk] * W[kk, nn] + bias[nn]), accumulated in double,
// one rounding for product and bias together.
std::vector<double> LocalProduct(const ArnInputs& in, const std::vector<double>& w, int64_t m, Mode mode) {
  const int64_t k = in.x2.dims[0];
  const int64_t n = in.x2.dims[1];
  std::vector<double> p(static_cast<size_t>(m * n));
  for (int64_t i = 0; i < m; ++i) {
    for (int64_t nn = 0; nn < n; ++nn) {
      double acc = 0.0;
      for (int64_t kk = 0; kk < k; ++kk) acc += LoadX1(in.x1, i, kk) * w[Idx2(kk, nn, n)];
      if (in.bias) acc += LoadVec(*in.bias, nn);
      p[Idx2(i, nn, n)] = Round(acc, in.x1.dtype, mode);
    }
  }
  return p;
}

// Step 4 on one rank: y = A + residual, normOut = RMSNorm(y) * gamma, row by row.
ArnOutputs AddRmsNorm(const std::vector<double>& reduced, const ArnInputs& in, double epsilon, int64_t m, int64_t n,
                      Mode mode) {
  const DType dt = in.residual.dtype;
  ArnOutputs out{HostTensor(OutputDType(dt, mode), in.residual.dims),
                 HostTensor(OutputDType(dt, mode), in.residual.dims)};
  std::vector<double> y(static_cast<size_t>(n));
  for (int64_t i = 0; i < m; ++i) {
    // fp16: the add is in fp16; bf16: in fp32, then rounded to bf16. The statistics read the
    // rounded y in both cases.
    for (int64_t j = 0; j < n; ++j) y[j] = AddInDType(reduced[Idx2(i, j, n)], LoadRows(in.residual, i, j), dt, mode);
    for (int64_t j = 0; j < n; ++j) out.y.set(Idx2(i, j, n), y[j]);
    if (mode == Mode::kExact) {
      double ms = 0.0;
      for (int64_t j = 0; j < n; ++j) ms += y[j] * y[j];
      const double rstd = 1.0 / std::sqrt(ms / static_cast<double>(n) + epsilon);
      for (int64_t j = 0; j < n; ++j) out.norm_out.set(Idx2(i, j, n), y[j] * rstd * LoadVec(in.gamma, j));
      continue;
    }
    // fp32 statistics: each square is scaled by the fp32 constant 1/n, then summed in order.
    const float avg = 1.0f / static_cast<float>(n);
    float ms = 0.0f;
    for (int64_t j = 0; j < n; ++j) {
      const float x = static_cast<float>(y[j]);
      ms += (x * x) * avg;
    }
    const float rstd = 1.0f / std::sqrt(ms + static_cast<float>(epsilon));
    for (int64_t j = 0; j < n; ++j) {
      const float t = static_cast<float>(RoundToDType(static_cast<float>(y[j]) * rstd, dt));
      // t and gamma both have 11 (fp16) or 8 (bf16) significant bits, so their float product is
      // exact and this is a single rounding, whether the device multiplies in fp16 or fp32.
      const float g = static_cast<float>(LoadVec(in.gamma, j));
      out.norm_out.set(Idx2(i, j, n), RoundToDType(t * g, dt));
    }
  }
  return out;
}

}  // namespace

StatusOr<std::vector<ArnOutputs>> WeightQuantMatmulAllReduceAddRmsNorm(const std::vector<ArnInputs>& ranks,
                                                                       const ArnAttrs& attrs, Mode mode) {
  if (ranks.empty()) return Invalid("ranks: none given (need at least one rank)");
  for (size_t r = 0; r < ranks.size(); ++r) {
    Status s = CheckRank(ranks[r], attrs);
    if (s.ok() && r > 0) s = CheckAgainstRank0(ranks[r], ranks[0]);
    if (!s.ok()) return s.Prepend(StrCat("rank ", r));
  }
  const int64_t k = ranks[0].x2.dims[0];
  const int64_t n = ranks[0].x2.dims[1];
  const int64_t m = ranks[0].x1.numel() / k;
  const DType dt = ranks[0].x1.dtype;

  std::vector<std::vector<double>> partial;
  for (const ArnInputs& in : ranks) {
    partial.push_back(LocalProduct(in, DequantWeight(in, attrs.antiquant_group_size, mode), m, mode));
  }

  // Step 3: the all-reduce, one element at a time across ranks in rank order.
  std::vector<double> reduced(static_cast<size_t>(m * n));
  std::vector<double> column(ranks.size());
  for (int64_t e = 0; e < m * n; ++e) {
    for (size_t r = 0; r < ranks.size(); ++r) column[r] = partial[r][e];
    reduced[e] = CrossRankSum(column, dt, mode);
  }

  std::vector<ArnOutputs> outputs;
  for (const ArnInputs& in : ranks) outputs.push_back(AddRmsNorm(reduced, in, attrs.epsilon, m, n, mode));
  return outputs;
}

}  // namespace mc2::reference
