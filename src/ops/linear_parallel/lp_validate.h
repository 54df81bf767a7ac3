// Setup-time rules of ATB LinearParallelOperation (spec 4.3, 4.5-4.7) for one rank's tensors, with
// ATB's codes, in ATB's order: parameters (Create), the tensor lists (input / output counts), the
// dtype combinations of the ops .ini, then shapes and the type's InferShape (Setup).
//
// Backend rules (backend strings, commMode, rank / rankSize / rankRoot, rsv bytes, the mc2
// backend's k range) belong to the ATB API layer, which calls these functions after its own. The
// choices where ATB is silent are the golden model's (docs/reference.md, "LinearParallel"), so the
// operator and the model refuse the same calls with the same codes; on top, mc2's operator needs
// dense tensors (ATB tensors always are), refused with ERROR_INVALID_TENSOR_DIM.
#pragma once

#include <cstdint>
#include <optional>

#include "core/dims.h"
#include "core/op_params.h"
#include "core/status_or.h"
#include "core/tensor.h"

namespace mc2::ops {

// One rank's tensors: ATB's inTensors (spec 4.3 order, in LinearParallelInputs) and outTensors.
struct LinearParallelTensors {
  LinearParallelInputs in;
  TensorView output;
  std::optional<TensorView> intermediate;  // intermediateOutput, with keepIntermediate only
};

// Which local product a rank computes.
enum class LpKind : uint8_t {
  kFloat,  // fp16 x fp16, bf16 x bf16
  kW8A16,  // fp16/bf16 x int8: antiquant of the weight ("bias" = offset, "deqScale" = scale)
  kW8A8,   // int8 x int8 -> int32, dequant (+ per-token) to fp16 / bf16
};

// How the weight is stored (spec 4.6). (R, C) = (k, n), or (n, k) with transWeight.
enum class LpWeightStorage : uint8_t {
  kNd,   // (R, C) or (1, R, C), row-major
  kNz4,  // [1, C/c0, R_pad, c0]
  kNz2,  // dims (R, C), data in the NZ arrangement [1, ceil(C/c0), ceil16(R), c0]
};

// Everything InferShape derives from one rank's inputs.
struct LpShapeInfo {
  LpKind kind = LpKind::kFloat;
  LpWeightStorage storage = LpWeightStorage::kNd;
  int64_t c0 = 16;    // NZ block width: 16 (fp16 / bf16), 32 (int8)
  int64_t rows = 0;   // M: input flattened to (M, k)
  int64_t k = 0;
  int64_t n = 0;
  int64_t weight_rows = 0;  // R of the stored (R, C) matrix (NZ: R_pad)
  int64_t weight_cols = 0;  // C (NZ: C/c0 * c0)
  DType in_dtype = DType::kFloat16;
  DType out_dtype = DType::kFloat16;
  Dims out_dims;
  Dims intermediate_dims;  // keepIntermediate only
};

// The parameter rules expressible without a backend (ATB CheckType and the twoDimTPInfo rules),
// ERROR_INVALID_PARAM: type in 0..4; quantType in -1..3; keepIntermediate only with
// ALL_GATHER_LINEAR and not quantized; PER_TOKEN only with LINEAR_ALL_REDUCE; quantGroupSize > 0
// with PER_GROUP; ALL_GATHER_LINEAR_REDUCE_SCATTER: no quant, no residual, agDim, rsDim > 0 and
// agDim * rsDim == world_size.
Status CheckLinearParallelParam(const LinearParallelAttrs& attrs, int world_size);

// InferShape of one rank's inputs: the tensor list (ERROR_INVALID_IN_TENSOR_NUM), addresses,
// dtypes (ERROR_INVALID_TENSOR_INI_MATCH, W8A8 per-group / float PER_TOKEN: ERROR_INVALID_PARAM),
// shapes (ERROR_INVALID_TENSOR_DIM) and the output dims of the type:
//   LINEAR_ALL_REDUCE, PURE_LINEAR   input dims, last = n
//   LINEAR_REDUCE_SCATTER            dims[1] / R for a 3-D input with dims[0] == 1, else dims[0] / R
//   ALL_GATHER_LINEAR                dims[0] * R (intermediate: input dims with dims[0] * R)
//   ALL_GATHER_LINEAR_REDUCE_SCATTER dims[0] * agDim / rsDim
// Does not check the parameters (call CheckLinearParallelParam first).
StatusOr<LpShapeInfo> InferLinearParallelShape(const LinearParallelInputs& in, const LinearParallelAttrs& attrs,
                                               int world_size);

// Setup: parameters, InferShape, then the outputs against it (count: ERROR_INVALID_IN_TENSOR_NUM;
// dtype: ERROR_INVALID_TENSOR_INI_MATCH; dims: ERROR_INVALID_TENSOR_DIM).
StatusOr<LpShapeInfo> ValidateLinearParallel(const LinearParallelTensors& t, const LinearParallelAttrs& attrs,
                                             int world_size);

const char* LinearParallelTypeName(LinearParallelType type);
const char* QuantTypeName(QuantType quant);

}  // namespace mc2::ops
