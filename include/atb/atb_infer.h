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

}  // namespace atb

#endif  // MC2_ATB_ATB_INFER_H_
