// mc2's CANN-compatible ATB entry header (atb/atb_infer.h): everything an ATB inference program
// includes, and CreateOperation for the parameter types mc2 implements.
#ifndef MC2_ATB_ATB_INFER_H_
#define MC2_ATB_ATB_INFER_H_

#include "atb/context.h"
#include "atb/infer_op_params.h"
#include "atb/operation.h"
#include "atb/svector.h"
#include "atb/types.h"
#include "atb/utils.h"

namespace atb {

// LinearParallelOperation (spec 4): validates the parameters (ERROR_INVALID_PARAM with the rule
// in the message, ERROR_OUT_OF_HOST_MEMORY) and returns a new operation in *operation.
template <>
ATB_API Status CreateOperation(const infer::LinearParallelParam& opParam, Operation** operation);

// The parameter of a LinearParallelOperation (ERROR_INVALID_PARAM if `operation` is null or not
// one; ERROR_INVALID_OPERATION_ADDR if it is not a live operation).
template <>
ATB_API Status CloneOperationParam(const Operation* operation, infer::LinearParallelParam& opParam);

// Replaces the parameter after CreateOperation's checks (their codes; the old parameter stays on
// an error). Work already enqueued finishes with the old one; the next Execute needs a Setup.
template <>
ATB_API Status UpdateOperationParam(Operation* operation, const infer::LinearParallelParam& opParam);

}  // namespace atb

#endif  // MC2_ATB_ATB_INFER_H_
