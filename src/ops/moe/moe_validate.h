// Argument rules of AlltoAllAllGatherBatchMatMul, in CANN's order and with its codes (spec 3.4).
// The aclnn layer checks null pointers and the group names first, then calls ValidateMoe; the
// native plan calls ValidateMoe too, so both answer with the same code and message.
#pragma once

#include <optional>

#include "core/op_params.h"
#include "core/status.h"
#include "core/tensor.h"

namespace mc2::ops {

struct MoeTensors {
  MoeInputs in;
  TensorView y1;
  std::optional<TensorView> y2;
  std::optional<TensorView> y3;
};

// Steps 3-7 of spec 3.4: dtypes, attributes, dims, ranges, y3 with actType 0. Every failure is
// ACLNN_ERR_PARAM_INVALID. attrs.want_y2 / want_y3 are ignored: presence of t.y2 / t.y3 decides.
Status ValidateMoe(const MoeTensors& t, const MoeAttrs& attrs);

}  // namespace mc2::ops
