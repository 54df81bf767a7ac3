#include "ops/linear_parallel/lp_validate.h"

#include <string>

#include "core/status.h"
#include "ops/common/checks.h"

namespace mc2::ops {

namespace {

using Type = LinearParallelType;

bool IsFloatAct(DType d) { return d == DType::kFloat16 || d == DType::kBFloat16; }
// a >= 0, b > 0 (dims are checked non-negative first); no overflow for any such a.
int64_t CeilDiv(int64_t a, int64_t b) { return a / b + (a % b != 0 ? 1 : 0); }

// Dims are the user's: a product that overflows int64 describes no tensor there can be.
Status TooLarge(const char* name, const Dims& dims, const char* what) {
  return AtbError(atb::kInvalidTensorDim, name, ": dims ", dims.ToString(), " (", what, " overflows int64)");
}

Status CheckList(const LinearParallelInputs& in, const LinearParallelAttrs& a) {
  const bool quant = a.quant_type != QuantType::kUnquant;
  if (quant && !in.deq_scale) {
    return AtbError(atb::kInvalidInTensorNum, "deqScale: absent but quantType ", QuantTypeName(a.quant_type),
                    " needs it (inputs: input, weight, bias, deqScale[, residual][, perTokenScale])");
  }
  if (!quant && (in.bias || in.deq_scale)) {
    return AtbError(atb::kInvalidInTensorNum, in.bias ? "bias" : "deqScale",
                    ": given but quantType is UNQUANT (inputs: input, weight[, residual])");
  }
  if (a.has_residual != in.residual.has_value()) {
    return AtbError(atb::kInvalidInTensorNum, "residual: ", in.residual ? "given" : "absent", " but hasResidual is ",
                    a.has_residual ? "true" : "false");
  }
  if ((a.quant_type == QuantType::kPerToken) != in.per_token_scale.has_value()) {
    return AtbError(atb::kInvalidInTensorNum, "perTokenScale: ", in.per_token_scale ? "given" : "absent",
                    " but quantType is ", QuantTypeName(a.quant_type), " (it goes with PER_TOKEN only)");
  }
  return Status::Ok();
}

// Sane dims, data present, and dense (mc2 reads tensors as dense arrays, as ATB's are).
Status CheckTensor(const char* name, const TensorView& v, bool need_dense = true) {
  for (int64_t d : v.dims) {
    if (d < 0) return AtbError(atb::kInvalidTensorDim, name, ": dims ", v.dims.ToString(), " (no dim may be negative)");
  }
  if (v.numel() > 0 && v.data == nullptr) {
    return AtbError(atb::kInvalidTensorAddr, name, ": ", v.dims.ToString(), " elements but no data");
  }
  if (need_dense && v.numel() > 0 && !v.IsContiguous()) {
    return AtbError(atb::kInvalidTensorDim, name, ": strides ", v.strides.ToString(), " for dims ", v.dims.ToString(),
                    " (must be dense row-major, as ATB tensors are)");
  }
  return Status::Ok();
}

Status CheckTensors(const LinearParallelInputs& in) {
  MC2_RETURN_IF_ERROR(CheckTensor("input", in.input));
  // A 2-D NZ weight's view dims are the logical matrix; its data is the NZ arrangement.
  const bool nz2 = in.weight.format == Format::kFractalNZ && in.weight.rank() == 2;
  MC2_RETURN_IF_ERROR(CheckTensor("weight", in.weight, !nz2));
  if (in.bias) MC2_RETURN_IF_ERROR(CheckTensor("bias", *in.bias, false));
  if (in.deq_scale) MC2_RETURN_IF_ERROR(CheckTensor("deqScale", *in.deq_scale, false));
  if (in.residual) MC2_RETURN_IF_ERROR(CheckTensor("residual", *in.residual));
  if (in.per_token_scale) MC2_RETURN_IF_ERROR(CheckTensor("perTokenScale", *in.per_token_scale));
  return Status::Ok();
}

// The ini combinations of spec 4.3; sets kind, in_dtype, out_dtype.
Status CheckDTypes(const LinearParallelInputs& in, const LinearParallelAttrs& a, LpShapeInfo* info) {
  const DType x = in.input.dtype;
  const DType w = in.weight.dtype;
  info->in_dtype = x;
  const QuantType q = a.quant_type;
  if (q == QuantType::kUnquant) {
    if (!IsFloatAct(x) || w != x) {
      return AtbError(atb::kInvalidTensorIniMatch, "input: dtypes input/weight ", DTypeName(x), "/", DTypeName(w),
                      " without quant (must be float16/float16 or bfloat16/bfloat16)");
    }
    info->kind = LpKind::kFloat;
    info->out_dtype = x;
  } else if (IsFloatAct(x)) {
    if (w != DType::kInt8) {
      return AtbError(atb::kInvalidTensorIniMatch, "weight: ", DTypeName(w), " with a ", DTypeName(x),
                      " input and quantType ", QuantTypeName(q), " (W8A16 needs an int8 weight)");
    }
    if (q == QuantType::kPerToken) {
      return AtbError(atb::kInvalidParam, "quantType: PER_TOKEN with a ", DTypeName(x),
                      " input (PER_TOKEN is defined for int8 inputs only)");
    }
    if (in.deq_scale->dtype != x) {
      return AtbError(atb::kInvalidTensorIniMatch, "deqScale: ", DTypeName(in.deq_scale->dtype),
                      " (the W8A16 antiquant scale must have the input's dtype ", DTypeName(x), ")");
    }
    if (in.bias && !in.bias->empty() && in.bias->dtype != x) {
      return AtbError(atb::kInvalidTensorIniMatch, "bias: ", DTypeName(in.bias->dtype),
                      " (the W8A16 antiquant offset must have the input's dtype ", DTypeName(x), ")");
    }
    info->kind = LpKind::kW8A16;
    info->out_dtype = x;
  } else if (x == DType::kInt8) {
    if (w != DType::kInt8) {
      return AtbError(atb::kInvalidTensorIniMatch, "weight: ", DTypeName(w), " with an int8 input (W8A8 needs int8)");
    }
    if (q == QuantType::kPerGroup) {
      return AtbError(atb::kInvalidParam, "quantType: PER_GROUP with an int8 input (W8A8 has no per-group)");
    }
    info->kind = LpKind::kW8A8;
    info->out_dtype = a.out_dtype.value_or(DType::kFloat16);
    if (!IsFloatAct(info->out_dtype)) {
      return AtbError(atb::kInvalidTensorIniMatch, "outDataType: ", DTypeName(info->out_dtype),
                      " (W8A8 outputs float16 or bfloat16)");
    }
    const DType s = in.deq_scale->dtype;
    if (s != DType::kInt64 && s != DType::kFloat32) {
      return AtbError(atb::kInvalidTensorIniMatch, "deqScale: ", DTypeName(s), " (W8A8 needs int64 or float32)");
    }
    if (s == DType::kFloat32 && info->out_dtype == DType::kFloat16) {
      return AtbError(atb::kInvalidTensorIniMatch,
                      "deqScale: float32 with output float16 (a float16 output needs an int64 deqScale)");
    }
    if (in.bias && !in.bias->empty() && in.bias->dtype != DType::kInt32) {
      return AtbError(atb::kInvalidTensorIniMatch, "bias: ", DTypeName(in.bias->dtype), " (W8A8 bias is int32)");
    }
  } else {
    return AtbError(atb::kInvalidTensorIniMatch, "input: ", DTypeName(x),
                    " (must be float16, bfloat16 or, quantized, int8)");
  }
  if (a.out_dtype && *a.out_dtype != info->out_dtype) {
    return AtbError(atb::kInvalidTensorIniMatch, "outDataType: ", DTypeName(*a.out_dtype), " but the output is ",
                    DTypeName(info->out_dtype), " for a ", DTypeName(x), " input");
  }
  if (in.residual && in.residual->dtype != info->out_dtype) {
    return AtbError(atb::kInvalidTensorIniMatch, "residual: ", DTypeName(in.residual->dtype),
                    " (must be the output dtype ", DTypeName(info->out_dtype), ")");
  }
  if (in.per_token_scale && in.per_token_scale->dtype != DType::kFloat32) {
    return AtbError(atb::kInvalidTensorIniMatch, "perTokenScale: ", DTypeName(in.per_token_scale->dtype),
                    " (must be float32)");
  }
  return Status::Ok();
}

// Weight storage, k and n as ATB's GetYTensorK / GetYTensorN derive them (spec 4.6).
Status CheckWeight(const TensorView& w, bool trans, LpShapeInfo* info) {
  const Dims& d = w.dims;
  info->c0 = w.dtype == DType::kInt8 ? 32 : 16;
  if (w.format != Format::kFractalNZ) {
    if (d.size() != 2 && d.size() != 3) {
      return AtbError(atb::kInvalidTensorDim, "weight: dims ", d.ToString(), " (an ND weight is 2-D or 3-D)");
    }
    if (d.size() == 3 && d[0] != 1) {
      return AtbError(atb::kInvalidTensorDim, "weight: dims ", d.ToString(), " (a 3-D weight has batch 1)");
    }
    info->storage = LpWeightStorage::kNd;
    info->weight_rows = d[d.size() - 2];
    info->weight_cols = d[d.size() - 1];
  } else if (d.size() == 4) {
    if (d[0] != 1 || d[2] % 16 != 0 || d[3] != info->c0) {
      return AtbError(atb::kInvalidTensorDim, "weight: NZ dims ", d.ToString(), " (must be [1, C/", info->c0,
                      ", R_pad, ", info->c0, "] with R_pad % 16 == 0)");
    }
    info->storage = LpWeightStorage::kNz4;
    info->weight_rows = d[2];
    if (__builtin_mul_overflow(d[1], d[3], &info->weight_cols)) return TooLarge("weight", d, "C = dims[1] * c0");
  } else if (d.size() == 2) {
    // ceil(C / c0) * R_pad * c0 with R_pad = ceil(R / 16) * 16, every product checked (a 2-D NZ
    // weight of R near INT64_MAX used to overflow R_pad itself).
    int64_t rows_pad = 0, need = 0;
    if (__builtin_mul_overflow(CeilDiv(d[0], 16), int64_t{16}, &rows_pad) ||
        __builtin_mul_overflow(CeilDiv(d[1], info->c0), rows_pad, &need) ||
        __builtin_mul_overflow(need, info->c0, &need)) {
      return TooLarge("weight", d, "the NZ arrangement's size");
    }
    if (w.storage_dims.empty() || w.offset < 0 || w.storage_dims.numel() - w.offset < need) {
      return AtbError(atb::kInvalidTensorDim, "weight: 2-D NZ ", d.ToString(), " needs ", need,
                      " storage elements from offset ", w.offset, " but storage_dims are ", w.storage_dims.ToString());
    }
    info->storage = LpWeightStorage::kNz2;
    info->weight_rows = d[0];
    info->weight_cols = d[1];
  } else {
    return AtbError(atb::kInvalidTensorDim, "weight: NZ dims ", d.ToString(), " (an NZ weight is 2-D or 4-D)");
  }
  info->k = trans ? info->weight_cols : info->weight_rows;
  info->n = trans ? info->weight_rows : info->weight_cols;
  return Status::Ok();
}

// LinearBiasDeqCheck (spec 4.5): (last) or (first, last); per-group needs the 2-D form.
Status CheckVec(const char* name, const TensorView& v, int64_t last, int64_t first, bool need_2d,
                const std::string& rule) {
  const Dims& d = v.dims;
  const bool ok = (d.size() == 1 && !need_2d && d[0] == last) || (d.size() == 2 && d[0] == first && d[1] == last);
  if (!ok) return AtbError(atb::kInvalidTensorDim, name, ": dims ", d.ToString(), " (", rule, ")");
  return Status::Ok();
}

Status CheckShapes(const LinearParallelInputs& in, const LinearParallelAttrs& a, LpShapeInfo* info) {
  const Dims& x = in.input.dims;
  if (x.size() != 2 && x.size() != 3) {
    return AtbError(atb::kInvalidTensorDim, "input: dims ", x.ToString(), " have rank ", x.size(),
                    " (must be 2-D (m, k) or 3-D (b, m, k))");
  }
  MC2_RETURN_IF_ERROR(CheckWeight(in.weight, a.trans_weight, info));
  if (info->k != x.back()) {
    return AtbError(atb::kInvalidTensorDim, "weight: dims ", in.weight.dims.ToString(), " (",
                    FormatName(in.weight.format), ", transWeight ", a.trans_weight ? "true" : "false", ") give k = ",
                    info->k, " but input dims ", x.ToString(), " give k = ", x.back(), " (k must match)");
  }
  info->rows = 1;
  for (int i = 0; i + 1 < x.size(); ++i) {
    if (__builtin_mul_overflow(info->rows, x[i], &info->rows)) return TooLarge("input", x, "the row count M");
  }
  const int64_t n = info->n;
  if (in.deq_scale) {
    const bool per_tensor = a.quant_type == QuantType::kPerTensor;
    const bool per_group = a.quant_type == QuantType::kPerGroup;
    const int64_t last = per_tensor ? 1 : n;
    const int64_t groups = per_group ? CeilDiv(info->k, a.quant_group_size) : 1;
    const std::string rule = per_group    ? StrCat("per-group needs (ceil(k/G), n) = (", groups, ", ", n, ")")
                             : per_tensor ? std::string("per-tensor needs (1) or (1, 1)")
                                          : StrCat("needs (", n, ") or (1, ", n, ")");
    MC2_RETURN_IF_ERROR(CheckVec("deqScale", *in.deq_scale, last, groups, per_group, rule));
    if (in.bias && !in.bias->empty()) MC2_RETURN_IF_ERROR(CheckVec("bias", *in.bias, last, groups, per_group, rule));
  }
  if (in.residual) {
    MC2_RETURN_IF_ERROR(CheckVec("residual", *in.residual, n, 1, false, StrCat("must be (", n, ") or (1, ", n, ")")));
  }
  if (in.per_token_scale) {
    const Dims& p = in.per_token_scale->dims;
    if (p.size() != 1 || p[0] != info->rows) {
      return AtbError(atb::kInvalidTensorDim, "perTokenScale: dims ", p.ToString(), " (must be (", info->rows,
                      "), one scale per row of the input flattened to (M, k))");
    }
  }
  return Status::Ok();
}

Status InferOutDims(const Dims& x, const LinearParallelAttrs& a, int world, LpShapeInfo* info) {
  Dims out = x;
  out[out.size() - 1] = info->n;
  switch (a.type) {
    case Type::kLinearAllReduce:
    case Type::kPureLinear:
      break;
    case Type::kLinearReduceScatter: {
      // ATB divides dims[1] when dims[0] == 1; for a 2-D input that is n, which no row split
      // produces, so a 2-D input always splits dims[0] (docs/reference.md).
      const int d = (x.size() == 3 && x[0] == 1) ? 1 : 0;
      if (x[d] % world != 0) {
        return AtbError(atb::kInvalidTensorDim, "input: dims ", x.ToString(), " have dim ", d, " = ", x[d],
                        ", not divisible by rankSize ", world, " (LINEAR_REDUCE_SCATTER splits rows evenly)");
      }
      out[d] = x[d] / world;
      break;
    }
    case Type::kAllGatherLinear:
      if (__builtin_mul_overflow(x[0], int64_t{world}, &out[0])) return TooLarge("input", x, "dims[0] * rankSize");
      info->intermediate_dims = x;
      info->intermediate_dims[0] = out[0];
      break;
    case Type::kAllGatherLinearReduceScatter:
      if (!CheckedMul(x[0], a.ag_dim)) return TooLarge("input", x, "dims[0] * agDim");
      if (x[0] * a.ag_dim % a.rs_dim != 0) {
        return AtbError(atb::kInvalidTensorDim, "input: dims ", x.ToString(), " have dim 0 = ", x[0], "; times agDim ",
                        a.ag_dim, " it is not divisible by rsDim ", a.rs_dim,
                        " (the gathered rows are split evenly over rsDim ranks)");
      }
      out[0] = x[0] * a.ag_dim / a.rs_dim;
      break;
  }
  info->out_dims = out;
  return Status::Ok();
}

Status CheckOutput(const char* name, const TensorView& v, DType dtype, const Dims& dims) {
  MC2_RETURN_IF_ERROR(CheckTensor(name, v));
  if (v.dtype != dtype) {
    return AtbError(atb::kInvalidTensorIniMatch, name, ": ", DTypeName(v.dtype), " (must be ", DTypeName(dtype), ")");
  }
  if (v.dims != dims) {
    return AtbError(atb::kInvalidTensorDim, name, ": dims ", v.dims.ToString(), " but InferShape gives ",
                    dims.ToString());
  }
  return Status::Ok();
}

}  // namespace

const char* LinearParallelTypeName(LinearParallelType type) {
  switch (type) {
    case Type::kLinearAllReduce: return "LINEAR_ALL_REDUCE";
    case Type::kLinearReduceScatter: return "LINEAR_REDUCE_SCATTER";
    case Type::kAllGatherLinear: return "ALL_GATHER_LINEAR";
    case Type::kPureLinear: return "PURE_LINEAR";
    case Type::kAllGatherLinearReduceScatter: return "ALL_GATHER_LINEAR_REDUCE_SCATTER";
  }
  return "UNDEFINED";
}

const char* QuantTypeName(QuantType quant) {
  switch (quant) {
    case QuantType::kUnquant: return "UNQUANT";
    case QuantType::kPerTensor: return "PER_TENSOR";
    case QuantType::kPerChannel: return "PER_CHANNEL";
    case QuantType::kPerGroup: return "PER_GROUP";
    case QuantType::kPerToken: return "PER_TOKEN";
  }
  return "UNDEFINED";
}

Status CheckLinearParallelParam(const LinearParallelAttrs& a, int world_size) {
  const int type = static_cast<int>(a.type);
  if (type < 0 || type > 4) {
    return AtbError(atb::kInvalidParam, "type: ", type, " is not a supported ParallelType (0..4)");
  }
  const int quant = static_cast<int>(a.quant_type);
  if (quant < -1 || quant > 3) return AtbError(atb::kInvalidParam, "quantType: ", quant, " is not a QuantType (-1..3)");
  const bool is_quant = a.quant_type != QuantType::kUnquant;
  if (a.keep_intermediate && a.type != Type::kAllGatherLinear) {
    return AtbError(atb::kInvalidParam, "keepIntermediate: true with type ", LinearParallelTypeName(a.type),
                    " (only ALL_GATHER_LINEAR keeps the gathered input)");
  }
  if (a.keep_intermediate && is_quant) {
    return AtbError(atb::kInvalidParam, "keepIntermediate: true with quantType ", QuantTypeName(a.quant_type),
                    " (ALL_GATHER_LINEAR with keepIntermediate has no quantized form)");
  }
  if (a.quant_type == QuantType::kPerToken && a.type != Type::kLinearAllReduce) {
    return AtbError(atb::kInvalidParam, "quantType: PER_TOKEN with type ", LinearParallelTypeName(a.type),
                    " (only LINEAR_ALL_REDUCE supports PER_TOKEN)");
  }
  if (a.quant_type == QuantType::kPerGroup && a.quant_group_size <= 0) {
    return AtbError(atb::kInvalidParam, "quantGroupSize: ", a.quant_group_size,
                    " with quantType PER_GROUP (must be positive)");
  }
  if (a.type == Type::kAllGatherLinearReduceScatter) {
    if (is_quant) {
      return AtbError(atb::kInvalidParam, "quantType: ", QuantTypeName(a.quant_type),
                      " with ALL_GATHER_LINEAR_REDUCE_SCATTER (that type has no quantized form)");
    }
    if (a.has_residual) {
      return AtbError(atb::kInvalidParam, "hasResidual: true with ALL_GATHER_LINEAR_REDUCE_SCATTER (no residual)");
    }
    if (a.ag_dim <= 0 || a.rs_dim <= 0) {
      return AtbError(atb::kInvalidParam, "twoDimTPInfo: agDim ", a.ag_dim, " and rsDim ", a.rs_dim,
                      " (both must be positive)");
    }
    if (int64_t{a.ag_dim} * a.rs_dim != world_size) {  // 64-bit: each may be up to INT_MAX
      return AtbError(atb::kInvalidParam, "twoDimTPInfo: agDim ", a.ag_dim, " * rsDim ", a.rs_dim, " = ",
                      int64_t{a.ag_dim} * a.rs_dim, " but rankSize is ", world_size, " (they must be equal)");
    }
  }
  return Status::Ok();
}

StatusOr<LpShapeInfo> InferLinearParallelShape(const LinearParallelInputs& in, const LinearParallelAttrs& attrs,
                                               int world_size) {
  LpShapeInfo info;
  MC2_RETURN_IF_ERROR(CheckList(in, attrs));
  MC2_RETURN_IF_ERROR(CheckTensors(in));
  MC2_RETURN_IF_ERROR(CheckDTypes(in, attrs, &info));
  MC2_RETURN_IF_ERROR(CheckShapes(in, attrs, &info));
  MC2_RETURN_IF_ERROR(InferOutDims(in.input.dims, attrs, world_size, &info));
  return info;
}

StatusOr<LpShapeInfo> ValidateLinearParallel(const LinearParallelTensors& t, const LinearParallelAttrs& attrs,
                                             int world_size) {
  MC2_RETURN_IF_ERROR(CheckLinearParallelParam(attrs, world_size));
  if (t.intermediate.has_value() != attrs.keep_intermediate) {
    return AtbError(atb::kInvalidInTensorNum, "intermediateOutput: ", t.intermediate ? "given" : "absent",
                    " but keepIntermediate is ", attrs.keep_intermediate ? "true" : "false");
  }
  MC2_ASSIGN_OR_RETURN(LpShapeInfo info, InferLinearParallelShape(t.in, attrs, world_size));
  MC2_RETURN_IF_ERROR(CheckOutput("output", t.output, info.out_dtype, info.out_dims));
  if (t.intermediate) {
    MC2_RETURN_IF_ERROR(CheckOutput("intermediateOutput", *t.intermediate, info.in_dtype, info.intermediate_dims));
  }
  return info;
}

}  // namespace mc2::ops
