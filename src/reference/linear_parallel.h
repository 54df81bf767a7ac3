// Golden model of ATB LinearParallelOperation (spec 4.3-4.6): every rank's inputs in, every rank's
// outputs out, in one process, with plain nested loops.
//
// With x_r flattened to (M, k) rows, P_r(X) = round_out(X @ op(W_r)) the local product of rank r
// (float, W8A16 after antiquant, or W8A8 dequantized), and sum = the cross-rank sum:
//   LINEAR_ALL_REDUCE                 out_r = sum_j P_j(x_j)                      (+ residual)
//   LINEAR_REDUCE_SCATTER             out_r = rows [r*M/R, (r+1)*M/R) of sum_j P_j(x_j) (+ residual)
//   ALL_GATHER_LINEAR                 out_r = P_r(concat_j x_j)                   (+ residual)
//   PURE_LINEAR                       out_r = P_r(x_r)                            (+ residual)
//   ALL_GATHER_LINEAR_REDUCE_SCATTER  out_r = rows of rsIdx(r) of sum_{j in RS(r)} P_j(concat_{a in AG(j)} x_a)
// The residual is added once, after communication. The precision of each step and every choice
// made where CANN's documents are silent are in docs/reference.md, section "LinearParallel".
#pragma once

#include <optional>
#include <vector>

#include "core/op_params.h"
#include "core/status_or.h"
#include "core/tensor.h"
#include "reference/common.h"

namespace mc2::reference {

// output: the input's rank, last dim n (rows per the type's InferShape rule); dtype = the output
// dtype in kCann, float64 in kExact. intermediate: only with keep_intermediate (ALL_GATHER_LINEAR):
// the gathered input, shaped like the input with dims[0] * R; the input's dtype in kCann.
struct LinearParallelOutputs {
  HostTensor output;
  std::optional<HostTensor> intermediate;
};

// `ranks[r]` holds rank r's inputs (R = ranks.size() is rankSize); the result holds rank r's
// outputs at index r. Inconsistent inputs give an ATB error (kInvalidParam, kInvalidTensorDim,
// kInvalidTensorIniMatch, kInvalidInTensorNum) whose message names the parameter, its value and the
// rule; the model never aborts.
StatusOr<std::vector<LinearParallelOutputs>> LinearParallel(const std::vector<LinearParallelInputs>& ranks,
                                                            const LinearParallelAttrs& attrs, Mode mode);

}  // namespace mc2::reference
