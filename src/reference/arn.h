// Golden model of aclnnWeightQuantMatmulAllReduceAddRmsNorm (and its inplace twin, which is the
// same math with y written over residual): every rank's inputs in, every rank's outputs out, in
// one process, with plain nested loops.
//
// Per rank r (spec 2.2):   W_r = (x2_r + offset_r) * scale_r          antiquant, x1's dtype
//                          P_r = round(x1_r @ W_r + bias_r)            bias on every rank
// then                     A   = sum_r P_r                             the all-reduce
// and on each rank r       y_r = A + residual_r                        per row of n
//                          normOut_r = y_r / sqrt(mean(y_r^2) + eps) * gamma_r
// The precision of each step (fp16 vs bf16, where the roundings fall) is in docs/reference.md,
// section "WeightQuantMatmulAllReduceAddRmsNorm". In CANN's use residual and gamma are the same on
// every rank, so every rank's outputs are identical; the model still applies each rank's own
// residual and gamma, as the device does. bias may be given on some ranks only (callers pass it
// on rank 0 alone, because a bias given on every rank is counted once per rank).
#pragma once

#include <vector>

#include "core/op_params.h"
#include "core/status_or.h"
#include "core/tensor.h"
#include "reference/common.h"

namespace mc2::reference {

// y and normOut, both shaped like residual (b, s, n); dtype = residual's in kCann, float64 in kExact.
struct ArnOutputs {
  HostTensor y;
  HostTensor norm_out;
};

// `ranks[r]` holds rank r's inputs; the result holds one (identical) ArnOutputs per rank.
// Returns ACLNN_ERR_PARAM_INVALID (or ACLNN_ERR_PARAM_NULLPTR for missing data) naming the
// parameter, its value and the rule when the inputs are inconsistent; never aborts.
StatusOr<std::vector<ArnOutputs>> WeightQuantMatmulAllReduceAddRmsNorm(const std::vector<ArnInputs>& ranks,
                                                                       const ArnAttrs& attrs, Mode mode);

}  // namespace mc2::reference
