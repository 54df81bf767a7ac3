// Validation of the LinearParallel golden model's inputs, kept apart from the arithmetic so that
// linear_parallel.cc reads as the math of spec 4.4-4.5 and this file as the rules of spec 4.3 and
// 4.7. The order of the checks follows ATB's (parameters, tensor list, dtypes, shapes), so a case
// that breaks several rules reports the one ATB would.
#pragma once

#include <cstdint>
#include <vector>

#include "core/dims.h"
#include "core/dtype.h"
#include "core/op_params.h"
#include "core/status_or.h"
#include "reference/linear_parallel_weight.h"

namespace mc2::reference {

// Which local product a rank computes (spec 4.3 ini combinations).
enum class LinearKind {
  kFloat,  // fp16 x fp16 or bf16 x bf16
  kW8A16,  // fp16/bf16 x int8, antiquant of the weight
  kW8A8,   // int8 x int8, int32 accumulation, dequant to fp16/bf16
};

// Everything the arithmetic needs, derived once from rank 0 (all ranks are checked to match).
struct LinearParallelPlan {
  LinearKind kind = LinearKind::kFloat;
  int world_size = 1;
  int64_t rows = 0;  // M: the rows of one rank's input flattened to (M, k)
  int64_t k = 0;
  int64_t n = 0;
  DType in_dtype = DType::kFloat16;
  DType out_dtype = DType::kFloat16;  // the output dtype of kCann mode
  Dims out_dims;                      // every rank's output dims
  Dims intermediate_dims;             // ALL_GATHER_LINEAR with keep_intermediate
  std::vector<WeightMatrix> weights;  // rank r's weight as op(W)
};

StatusOr<LinearParallelPlan> PlanLinearParallel(const std::vector<LinearParallelInputs>& ranks,
                                                const LinearParallelAttrs& attrs);

}  // namespace mc2::reference
