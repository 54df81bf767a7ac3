// CreateOperation's checks of atb::infer::LinearParallelParam (spec 4.7, in ATB's order) and the
// mapping of the parameter onto the native operator's attributes.
//
// Backends (spec 4.4), all running mc2's one LinearParallel operator:
//   "hccl", "lccl"  ATB's graph Linear -> AllReduce -> Add: the `type` and `quantType` fields are
//                   ignored (always LINEAR_ALL_REDUCE, float16 / bfloat16, no bias / deqScale
//                   inputs); keepIntermediate is refused (the graph has no intermediate output).
//                   "hccl" with COMM_MULTI_THREAD needs an hcclComm.
//   "lcoc"          every type 0..4 and every quant mode; rankSize must be a power of two. The MoE
//                   types 5 and 6 are refused (ERROR_INVALID_PARAM): the spec puts them
//                   out of scope (4.3: they add token-count tensors it does not describe).
//   "mc2"           LINEAR_REDUCE_SCATTER only, COMM_MULTI_THREAD, no residual, no quant; at Setup
//                   input and weight must be 2-D and k in [256, 65535).
#pragma once

#include <cstdint>

#include "atb/infer_op_params.h"
#include "core/op_params.h"
#include "core/status.h"

namespace mc2::api {

enum class AtbBackend : uint8_t { kHccl, kLccl, kLcoc, kMc2 };

struct AtbLpConfig {
  AtbBackend backend = AtbBackend::kHccl;
  bool is_quant = false;  // bias and deqScale are inputs (ATB's isQuant)
  bool per_token = false;
  LinearParallelAttrs attrs;
  Status out_dtype_error;  // outDataType names no dtype mc2 knows: reported at InferShape / Setup
  // The rank count the rules use: the hcclComm's when given, else rankSize.
  int world_size = 1;
};

// The checks CreateOperation makes; on success fills `config`.
Status CheckAtbLpParam(const ::atb::infer::LinearParallelParam& p, AtbLpConfig* config);

}  // namespace mc2::api
