// Argument rules of WeightQuantMatmulAllReduceAddRmsNorm, in CANN's order and with its codes
// (spec 2.4). The aclnn layer runs them as CANN does — null checks, CheckArnShapes, the empty-call
// rule, streamMode, then CheckArnOpDef and CheckArnTiling — and the native plan runs the same
// functions, so both answer every bad argument with the same code and message.
#pragma once

#include "core/op_params.h"
#include "core/status_or.h"
#include "core/tensor.h"

namespace mc2::ops {

// One rank's tensors: the inputs plus the outputs y and normOut (y is residual for the inplace form).
struct ArnTensors {
  ArnInputs in;
  TensorView y;
  TensorView norm_out;
};

// CANN's limits (spec 2.4 step 5).
inline constexpr int64_t kArnMaxKN = 65535;
inline constexpr int64_t kArnMaxM = 2147483647;

// Step 2: ranks of x1/x2/residual >= 1; x1's last dim == x2's dim 0 (k); residual's last == x2's
// last (n). ACLNN_ERR_PARAM_INVALID otherwise.
Status CheckArnShapes(const ArnTensors& t);

// Step 3: whether the call has nothing to compute (x1, x2, antiquantScale, residual or gamma has no
// elements). An empty k is an error (ACLNN_ERR_PARAM_INVALID): empty b*s or n are supported, empty k
// is not.
StatusOr<bool> IsEmptyArnCall(const ArnTensors& t);

// Step 5, first half: dtypes, formats and layouts against the operator definition
// (ACLNN_ERR_PARAM_INVALID).
Status CheckArnOpDef(const ArnTensors& t);

// Step 5, second half: the tiling rules (ACLNN_ERR_INNER_TILING_ERROR): output shapes, gamma,
// epsilon, size limits, group size, scale/offset shapes, bias, the rank count.
Status CheckArnTiling(const ArnTensors& t, const ArnAttrs& attrs, int world_size);

// Runs steps 2, 3 and 5 (the parts that do not belong to the aclnn signature). `*empty` is set to
// whether the call has no work.
Status ValidateArn(const ArnTensors& t, const ArnAttrs& attrs, int world_size, bool* empty);

}  // namespace mc2::ops
