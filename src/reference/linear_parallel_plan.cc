// The rules of spec 4.3 / 4.7 as the golden model applies them; see the header for why this file
// exists. Each check returns the ATB code ATB returns for it; where ATB would accept a case whose
// result is not defined (noted inline), the model refuses it rather than invent an answer.
#include "reference/linear_parallel_plan.h"

#include <string>

#include "core/status.h"

namespace mc2::reference {
namespace {

using Type = LinearParallelType;

const char* TypeName(Type t) {
  switch (t) {
    case Type::kLinearAllReduce:
      return "LINEAR_ALL_REDUCE";
    case Type::kLinearReduceScatter:
      return "LINEAR_REDUCE_SCATTER";
    case Type::kAllGatherLinear:
      return "ALL_GATHER_LINEAR";
    case Type::kPureLinear:
      return "PURE_LINEAR";
    case Type::kAllGatherLinearReduceScatter:
      return "ALL_GATHER_LINEAR_REDUCE_SCATTER";
  }
  return "UNDEFINED";
}

const char* QuantName(QuantType q) {
  switch (q) {
    case QuantType::kUnquant:
      return "UNQUANT";
    case QuantType::kPerTensor:
      return "PER_TENSOR";
    case QuantType::kPerChannel:
      return "PER_CHANNEL";
    case QuantType::kPerGroup:
      return "PER_GROUP";
    case QuantType::kPerToken:
      return "PER_TOKEN";
  }
  return "UNDEFINED";
}

bool IsFloatAct(DType d) { return d == DType::kFloat16 || d == DType::kBFloat16; }

Status CheckAttrs(const LinearParallelAttrs& a, int world_size) {
  const int type = static_cast<int>(a.type);
  if (type < 0 || type > 4) {
    return AtbError(atb::kInvalidParam, "type: ", type, " is not a supported ParallelType (0..4)");
  }
  const int quant = static_cast<int>(a.quant_type);
  if (quant < -1 || quant > 3) {
    return AtbError(atb::kInvalidParam, "quantType: ", quant, " is not a QuantType (-1..3)");
  }
  const bool is_quant = a.quant_type != QuantType::kUnquant;
  if (a.keep_intermediate && a.type != Type::kAllGatherLinear) {
    return AtbError(atb::kInvalidParam, "keepIntermediate: true with type ", TypeName(a.type),
                    " (only ALL_GATHER_LINEAR keeps the gathered input)");
  }
  if (a.keep_intermediate && is_quant) {
    return AtbError(atb::kInvalidParam, "keepIntermediate: true with quantType ", QuantName(a.quant_type),
                    " (ALL_GATHER_LINEAR with keepIntermediate has no quantized form)");
  }
  if (a.quant_type == QuantType::kPerToken && a.type != Type::kLinearAllReduce) {
    return AtbError(atb::kInvalidParam, "quantType: PER_TOKEN with type ", TypeName(a.type),
                    " (only LINEAR_ALL_REDUCE supports PER_TOKEN)");
  }
  if (a.quant_type == QuantType::kPerGroup && a.quant_group_size <= 0) {
    return AtbError(atb::kInvalidParam, "quantGroupSize: ", a.quant_group_size,
                    " with quantType PER_GROUP (must be positive)");
  }
  if (a.type == Type::kAllGatherLinearReduceScatter) {
    if (is_quant) {
      return AtbError(atb::kInvalidParam, "quantType: ", QuantName(a.quant_type),
                      " with ALL_GATHER_LINEAR_REDUCE_SCATTER (that type has no quantized form)");
    }
    if (a.has_residual) {
      return AtbError(atb::kInvalidParam,
                      "hasResidual: true with ALL_GATHER_LINEAR_REDUCE_SCATTER (that type takes no residual)");
    }
    if (a.ag_dim <= 0 || a.rs_dim <= 0) {
      return AtbError(atb::kInvalidParam, "twoDimTPInfo: agDim ", a.ag_dim, " and rsDim ", a.rs_dim,
                      " (both must be positive)");
    }
    if (int64_t{a.ag_dim} * a.rs_dim != world_size) {  // 64-bit: each may be up to INT_MAX
      return AtbError(atb::kInvalidParam, "twoDimTPInfo: agDim ", a.ag_dim, " * rsDim ", a.rs_dim, " = ",
                      int64_t{a.ag_dim} * a.rs_dim, " but rankSize is ", world_size, " (agDim * rsDim must equal rankSize)");
    }
  }
  return Status::Ok();
}

// The tensor list of spec 4.3: which optional slots must be present.
Status CheckTensorList(const LinearParallelInputs& in, const LinearParallelAttrs& a) {
  const bool is_quant = a.quant_type != QuantType::kUnquant;
  if (is_quant && !in.deq_scale) {
    return AtbError(atb::kInvalidInTensorNum, "deqScale: absent but quantType ", QuantName(a.quant_type),
                    " needs it");
  }
  if (!is_quant && in.bias) {
    return AtbError(atb::kInvalidInTensorNum,
                    "bias: given but quantType is UNQUANT (the unquantized list is input, weight[, residual])");
  }
  if (!is_quant && in.deq_scale) {
    return AtbError(atb::kInvalidInTensorNum,
                    "deqScale: given but quantType is UNQUANT (the unquantized list is input, weight[, residual])");
  }
  if (a.has_residual != in.residual.has_value()) {
    return AtbError(atb::kInvalidInTensorNum, "residual: ", in.residual ? "given" : "absent", " but hasResidual is ",
                    a.has_residual ? "true" : "false");
  }
  if ((a.quant_type == QuantType::kPerToken) != in.per_token_scale.has_value()) {
    return AtbError(atb::kInvalidInTensorNum, "perTokenScale: ", in.per_token_scale ? "given" : "absent",
                    " but quantType is ", QuantName(a.quant_type), " (it goes with PER_TOKEN only)");
  }
  return Status::Ok();
}

Status CheckAddr(const char* name, const TensorView& v) {
  for (int64_t d : v.dims) {
    if (d < 0) return AtbError(atb::kInvalidTensorDim, name, ": dims ", v.dims.ToString(), " (no dim may be negative)");
  }
  if (v.numel() > 0 && v.data == nullptr) {
    return AtbError(atb::kInvalidTensorAddr, name, ": ", v.dims.ToString(), " elements but no data");
  }
  return Status::Ok();
}

Status CheckAddrs(const LinearParallelInputs& in) {
  MC2_RETURN_IF_ERROR(CheckAddr("input", in.input));
  MC2_RETURN_IF_ERROR(CheckAddr("weight", in.weight));
  if (in.bias) MC2_RETURN_IF_ERROR(CheckAddr("bias", *in.bias));
  if (in.deq_scale) MC2_RETURN_IF_ERROR(CheckAddr("deqScale", *in.deq_scale));
  if (in.residual) MC2_RETURN_IF_ERROR(CheckAddr("residual", *in.residual));
  if (in.per_token_scale) MC2_RETURN_IF_ERROR(CheckAddr("perTokenScale", *in.per_token_scale));
  return Status::Ok();
}

Status SameAsRank0(const char* name, const std::optional<TensorView>& t0, const std::optional<TensorView>& t) {
  if (t0.has_value() != t.has_value()) {
    return AtbError(atb::kInvalidInTensorNum, name, ": ", t ? "given" : "absent", " but rank 0's is ",
                    t0 ? "given" : "absent", " (every rank has the same tensor list)");
  }
  if (!t) return Status::Ok();
  if (t->dtype != t0->dtype || t->format != t0->format) {
    return AtbError(atb::kInvalidTensorIniMatch, name, ": ", DTypeName(t->dtype), " ", FormatName(t->format),
                    " but rank 0's is ", DTypeName(t0->dtype), " ", FormatName(t0->format),
                    " (every rank has the same dtypes)");
  }
  if (t->dims != t0->dims) {
    return AtbError(atb::kInvalidTensorDim, name, ": dims ", t->dims.ToString(), " but rank 0's are ",
                    t0->dims.ToString(), " (every rank has the same shapes)");
  }
  return Status::Ok();
}

Status SameAsRank0(const LinearParallelInputs& r0, const LinearParallelInputs& in) {
  MC2_RETURN_IF_ERROR(SameAsRank0("input", r0.input, in.input));
  MC2_RETURN_IF_ERROR(SameAsRank0("weight", r0.weight, in.weight));
  MC2_RETURN_IF_ERROR(SameAsRank0("bias", r0.bias, in.bias));
  MC2_RETURN_IF_ERROR(SameAsRank0("deqScale", r0.deq_scale, in.deq_scale));
  MC2_RETURN_IF_ERROR(SameAsRank0("residual", r0.residual, in.residual));
  return SameAsRank0("perTokenScale", r0.per_token_scale, in.per_token_scale);
}

// Dtype combinations of spec 4.3 (atb_ops_info.ini); sets kind and out_dtype.
Status CheckDTypes(const LinearParallelInputs& in, const LinearParallelAttrs& a, LinearParallelPlan* plan) {
  const DType x = in.input.dtype;
  const DType w = in.weight.dtype;
  plan->in_dtype = x;
  const bool is_quant = a.quant_type != QuantType::kUnquant;
  if (!is_quant) {
    if (!IsFloatAct(x) || w != x) {
      return AtbError(atb::kInvalidTensorIniMatch, "input/weight: dtypes ", DTypeName(x), "/", DTypeName(w),
                      " without quant (must be float16/float16 or bfloat16/bfloat16)");
    }
    plan->kind = LinearKind::kFloat;
    plan->out_dtype = x;
  } else if (IsFloatAct(x)) {
    if (w != DType::kInt8) {
      return AtbError(atb::kInvalidTensorIniMatch, "weight: ", DTypeName(w), " with a ", DTypeName(x),
                      " input and quantType ", QuantName(a.quant_type), " (W8A16 needs an int8 weight)");
    }
    if (a.quant_type == QuantType::kPerToken) {
      return AtbError(atb::kInvalidParam, "quantType: PER_TOKEN with a ", DTypeName(x),
                      " input (PER_TOKEN is defined for int8 inputs only; see docs/reference.md)");
    }
    if (in.deq_scale->dtype != x) {
      return AtbError(atb::kInvalidTensorIniMatch, "deqScale: ", DTypeName(in.deq_scale->dtype),
                      " (the W8A16 antiquant scale must have the input's dtype ", DTypeName(x), ")");
    }
    if (in.bias && !in.bias->empty() && in.bias->dtype != x) {
      return AtbError(atb::kInvalidTensorIniMatch, "bias: ", DTypeName(in.bias->dtype),
                      " (the W8A16 antiquant offset must have the input's dtype ", DTypeName(x), ")");
    }
    plan->kind = LinearKind::kW8A16;
    plan->out_dtype = x;
  } else if (x == DType::kInt8) {
    if (w != DType::kInt8) {
      return AtbError(atb::kInvalidTensorIniMatch, "weight: ", DTypeName(w),
                      " with an int8 input (W8A8 needs an int8 weight)");
    }
    if (a.quant_type == QuantType::kPerGroup) {
      return AtbError(atb::kInvalidParam, "quantType: PER_GROUP with an int8 input (W8A8 has no per-group)");
    }
    plan->kind = LinearKind::kW8A8;
    plan->out_dtype = a.out_dtype.value_or(DType::kFloat16);
    if (plan->out_dtype != DType::kFloat16 && plan->out_dtype != DType::kBFloat16) {
      return AtbError(atb::kInvalidTensorIniMatch, "outDataType: ", DTypeName(plan->out_dtype),
                      " (W8A8 outputs float16 or bfloat16)");
    }
    const DType s = in.deq_scale->dtype;
    if (s != DType::kInt64 && s != DType::kFloat32) {
      return AtbError(atb::kInvalidTensorIniMatch, "deqScale: ", DTypeName(s), " (W8A8 needs int64 or float32)");
    }
    if (s == DType::kFloat32 && plan->out_dtype == DType::kFloat16) {
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
  if (a.out_dtype && *a.out_dtype != plan->out_dtype) {
    return AtbError(atb::kInvalidTensorIniMatch, "outDataType: ", DTypeName(*a.out_dtype), " but the output is ",
                    DTypeName(plan->out_dtype), " for a ", DTypeName(x), " input");
  }
  if (in.residual && in.residual->dtype != plan->out_dtype) {
    return AtbError(atb::kInvalidTensorIniMatch, "residual: ", DTypeName(in.residual->dtype),
                    " (must be the output dtype ", DTypeName(plan->out_dtype), ")");
  }
  if (in.per_token_scale && in.per_token_scale->dtype != DType::kFloat32) {
    return AtbError(atb::kInvalidTensorIniMatch, "perTokenScale: ", DTypeName(in.per_token_scale->dtype),
                    " (must be float32)");
  }
  return Status::Ok();
}

// LinearBiasDeqCheck (spec 4.5): 1-D or 2-D, last dim `last`, a 2-D first dim `first`.
// `need_2d` adds the model's own rule for per-group (see docs/reference.md).
Status CheckVecShape(const char* name, const TensorView& v, int64_t last, int64_t first, bool need_2d,
                     const char* rule) {
  const Dims& d = v.dims;
  const bool ok = (d.size() == 1 && !need_2d && d[0] == last) || (d.size() == 2 && d[0] == first && d[1] == last);
  if (!ok) {
    return AtbError(atb::kInvalidTensorDim, name, ": dims ", d.ToString(), " (", rule, ")");
  }
  return Status::Ok();
}

Status CheckShapes(const LinearParallelInputs& in, const LinearParallelAttrs& a, LinearParallelPlan* plan) {
  const Dims& x = in.input.dims;
  if (x.size() != 2 && x.size() != 3) {
    return AtbError(atb::kInvalidTensorDim, "input: dims ", x.ToString(), " have rank ", x.size(),
                    " (must be 2-D (m, k) or 3-D (b, m, k))");
  }
  MC2_ASSIGN_OR_RETURN(WeightMatrix w, WeightMatrix::Make(in.weight, a.trans_weight));
  plan->k = x.back();
  plan->n = w.n();
  plan->rows = 1;
  for (int i = 0; i + 1 < x.size(); ++i) plan->rows *= x[i];
  if (w.k() != plan->k) {
    return AtbError(atb::kInvalidTensorDim, "weight: dims ", in.weight.dims.ToString(), " (", FormatName(in.weight.format),
                    ", transWeight ", a.trans_weight ? "true" : "false", ") give k = ", w.k(),
                    " but input dims ", x.ToString(), " give k = ", plan->k, " (k must match)");
  }
  const int64_t n = plan->n;
  if (in.deq_scale) {
    const bool per_tensor = a.quant_type == QuantType::kPerTensor;
    const bool per_group = a.quant_type == QuantType::kPerGroup;
    const int64_t last = per_tensor ? 1 : n;
    const int64_t groups = per_group ? (plan->k + a.quant_group_size - 1) / a.quant_group_size : 1;
    const std::string rule = per_group ? StrCat("per-group needs (ceil(k/G), n) = (", groups, ", ", n, ")")
                             : per_tensor ? std::string("per-tensor needs (1) or (1, 1)")
                                          : StrCat("per-channel needs (", n, ") or (1, ", n, ")");
    MC2_RETURN_IF_ERROR(CheckVecShape("deqScale", *in.deq_scale, last, groups, per_group, rule.c_str()));
    if (in.bias && !in.bias->empty()) {
      MC2_RETURN_IF_ERROR(CheckVecShape("bias", *in.bias, last, groups, per_group, rule.c_str()));
    }
  }
  if (in.residual) {
    MC2_RETURN_IF_ERROR(CheckVecShape("residual", *in.residual, n, 1, false,
                                      StrCat("must be (", n, ") or (1, ", n, ")").c_str()));
  }
  if (in.per_token_scale) {
    const Dims& p = in.per_token_scale->dims;
    if (p.size() != 1 || p[0] != plan->rows) {
      return AtbError(atb::kInvalidTensorDim, "perTokenScale: dims ", p.ToString(), " (must be (", plan->rows,
                      "), one scale per row of the input flattened to (m, k))");
    }
  }
  return Status::Ok();
}

// Output dims per the type's InferShape (linear_parallel_operation.cpp), with the divisibility the
// row split needs.
Status InferOutDims(const TensorView& input, const LinearParallelAttrs& a, LinearParallelPlan* plan) {
  const Dims& x = input.dims;
  const int64_t world = plan->world_size;
  Dims out = x;
  out[out.size() - 1] = plan->n;
  switch (a.type) {
    case Type::kLinearAllReduce:
    case Type::kPureLinear:
      break;
    case Type::kLinearReduceScatter: {
      // ATB divides dims[1] when dims[0] == 1; for a 2-D input that dim is n, which no row split
      // can produce, so a 2-D input always splits dims[0].
      const int d = (x.size() == 3 && x[0] == 1) ? 1 : 0;
      if (x[d] % world != 0) {
        return AtbError(atb::kInvalidTensorDim, "input: dims ", x.ToString(), " have dim ", d, " = ", x[d],
                        ", not divisible by rankSize ", world, " (LINEAR_REDUCE_SCATTER splits rows evenly)");
      }
      out[d] = x[d] / world;
      break;
    }
    case Type::kAllGatherLinear:
      out[0] = x[0] * world;
      plan->intermediate_dims = x;
      plan->intermediate_dims[0] = x[0] * world;
      break;
    case Type::kAllGatherLinearReduceScatter:
      if (x[0] * a.ag_dim % a.rs_dim != 0) {
        return AtbError(atb::kInvalidTensorDim, "input: dims ", x.ToString(), " have dim 0 = ", x[0], "; times agDim ",
                        a.ag_dim, " it is not divisible by rsDim ", a.rs_dim,
                        " (the gathered rows are split evenly over rsDim ranks)");
      }
      out[0] = x[0] * a.ag_dim / a.rs_dim;
      break;
  }
  plan->out_dims = out;
  return Status::Ok();
}

}  // namespace

StatusOr<LinearParallelPlan> PlanLinearParallel(const std::vector<LinearParallelInputs>& ranks,
                                                const LinearParallelAttrs& attrs) {
  if (ranks.empty()) return AtbError(atb::kInvalidParam, "ranks: none given (rankSize must be at least 1)");
  LinearParallelPlan plan;
  plan.world_size = static_cast<int>(ranks.size());
  MC2_RETURN_IF_ERROR(CheckAttrs(attrs, plan.world_size));
  for (size_t r = 0; r < ranks.size(); ++r) {
    Status s = CheckTensorList(ranks[r], attrs);
    if (s.ok()) s = CheckAddrs(ranks[r]);
    if (s.ok() && r > 0) s = SameAsRank0(ranks[0], ranks[r]);
    if (!s.ok()) return s.Prepend(StrCat("rank ", r));
  }
  MC2_RETURN_IF_ERROR(CheckDTypes(ranks[0], attrs, &plan));
  MC2_RETURN_IF_ERROR(CheckShapes(ranks[0], attrs, &plan));
  MC2_RETURN_IF_ERROR(InferOutDims(ranks[0].input, attrs, &plan));
  for (size_t r = 0; r < ranks.size(); ++r) {
    StatusOr<WeightMatrix> w = WeightMatrix::Make(ranks[r].weight, attrs.trans_weight);
    if (!w.ok()) {
      Status s = w.status();
      return s.Prepend(StrCat("rank ", r));
    }
    plan.weights.push_back(std::move(w).value());
  }
  return plan;
}

}  // namespace mc2::reference
