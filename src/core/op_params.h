// Attributes and tensor lists of the three fused operators, shared by the golden reference model
// (src/reference) and the optimized operators (src/ops). Names follow the spec's parameters;
// values of enums are CANN's. Optional tensors are std::optional: absent is nullopt (an aclnn
// nullptr), while an empty tensor (0 elements) is a present view with a zero dim.
#pragma once

#include <cstdint>
#include <optional>

#include "core/dtype.h"
#include "core/tensor.h"

namespace mc2 {

// ---- WeightQuantMatmulAllReduceAddRmsNorm (spec section 2) ----

struct ArnAttrs {
  double epsilon = 1e-6;
  int64_t antiquant_group_size = 0;  // 0: per-tensor / per-channel; else per-group along k
};

// One rank's inputs. x1: (m, k) or (b, s, k), fp16/bf16. x2: view (k, n), int8/int4, possibly a
// transposed view (strides (1, k)). antiquant_scale/offset: (1), (n), (1, n) or (ceil(k/G), n)
// views. residual: (b, s, n). gamma: (n). bias: (n).
struct ArnInputs {
  TensorView x1;
  TensorView x2;
  std::optional<TensorView> bias;
  TensorView antiquant_scale;
  std::optional<TensorView> antiquant_offset;
  TensorView residual;
  TensorView gamma;
};

// ---- AlltoAllAllGatherBatchMatMul (spec section 3) ----

enum class ActType : int32_t { kNone = 0, kGelu = 1, kSilu = 2, kRelu = 3, kFastGelu = 4 };

struct MoeAttrs {
  int64_t ep_world_size = 2;
  int64_t tp_world_size = 2;
  int64_t x_shard_type = 0;  // 0: gather along H, 1: gather along C
  ActType act_type = ActType::kNone;
  bool want_y2 = false;  // y2OutOptional given
  bool want_y3 = false;  // y3OutOptional given (needs act_type != kNone)
};

// One rank's inputs. x: (E, C, H/tp) for shard type 0, (E, C/tp, H) for 1. weight: (E/ep, H, M/tp),
// possibly a transposed view. bias: (E/ep, 1, M/tp) or (E/ep, M/tp); fp16 for fp16 x, fp32 for bf16.
struct MoeInputs {
  TensorView x;
  TensorView weight;
  std::optional<TensorView> bias;
};

// ---- LinearParallel (spec section 4) ----

enum class LinearParallelType : int32_t {
  kLinearAllReduce = 0,
  kLinearReduceScatter = 1,
  kAllGatherLinear = 2,
  kPureLinear = 3,
  kAllGatherLinearReduceScatter = 4,
};

enum class QuantType : int32_t {
  kUnquant = -1,
  kPerTensor = 0,
  kPerChannel = 1,
  kPerGroup = 2,
  kPerToken = 3,
};

struct LinearParallelAttrs {
  LinearParallelType type = LinearParallelType::kLinearAllReduce;
  bool trans_weight = true;  // weight stored (n, k)
  bool has_residual = false;
  bool keep_intermediate = false;
  QuantType quant_type = QuantType::kUnquant;
  int32_t quant_group_size = 0;
  std::optional<DType> out_dtype;  // ACL_DT_UNDEFINED -> nullopt (same as input, or fp16 for W8A8)
  // ALL_GATHER_LINEAR_REDUCE_SCATTER grid.
  int32_t ag_dim = 0;
  int32_t rs_dim = 0;
  bool inner_dim_is_ag = true;
};

// One rank's inputs, in ATB's tensor order (spec 4.3). input: (m, k) or (b, m, k). weight: ND
// (k, n) / (n, k) when trans_weight, or FRACTAL_NZ (4-D storage [1, C/c0, R, c0]). For W8A16 the
// `bias` slot is the antiquant offset and `deq_scale` the antiquant scale; for W8A8 bias is int32
// and deq_scale float or int64 (fp32 bits in the low 32 bits).
struct LinearParallelInputs {
  TensorView input;
  TensorView weight;
  std::optional<TensorView> bias;
  std::optional<TensorView> deq_scale;
  std::optional<TensorView> residual;
  std::optional<TensorView> per_token_scale;
};

}  // namespace mc2
