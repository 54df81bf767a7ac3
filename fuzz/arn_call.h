// Shared by the two ARN fuzzers (arn_validate_fuzzer.cc, aclnn_arn_fuzzer.cc): decodes one
// WeightQuantMatmulAllReduceAddRmsNorm call from the fuzzer's bytes.
//
// First a consistent call -- activation dtype (fp16/bf16), weight dtype (int8/int4), b, s in
// [0, 4], k, n in [0, 80], x1 2-D or 3-D, x2 row-major or transposed, the antiquantScale form
// ((1), (n), (1, n) or per-group), optional bias and offset, group size and epsilon (sometimes wild
// values) -- then up to 16 mutations, each of one property of one of the nine tensors
// (tensor_gen.h), then the backing of each view (valid for exactly what it claims, null, or a
// 1-byte buffer).
#pragma once

#include <fuzzer/FuzzedDataProvider.h>

#include <cstdint>

#include "tensor_gen.h"

namespace mc2::fuzz {

struct ArnCall {
  static constexpr int kTensors = 9;  // x1 x2 bias scale offset residual gamma y normOut
  FuzzView v[kTensors];
  bool has_bias = false;
  bool has_offset = false;
  int64_t group_size = 0;  // antiquantGroupSize
  double epsilon = 1e-6;

  bool present(int i) const { return (i != 2 || has_bias) && (i != 4 || has_offset); }
};

inline void DecodeArnCall(FuzzedDataProvider& fdp, Arena& arena, ArnCall* call) {
  const DType act = fdp.ConsumeBool() ? DType::kBFloat16 : DType::kFloat16;
  const DType wq = fdp.ConsumeBool() ? DType::kInt4 : DType::kInt8;
  const int64_t b = fdp.ConsumeIntegralInRange<int64_t>(0, 4);
  const int64_t s = fdp.ConsumeIntegralInRange<int64_t>(0, 4);
  const int64_t k = fdp.ConsumeIntegralInRange<int64_t>(0, 80);
  const int64_t n = fdp.ConsumeIntegralInRange<int64_t>(0, 80);
  const bool x1_3d = fdp.ConsumeBool();
  const bool x2_transposed = fdp.ConsumeBool();
  const int scale_form = fdp.ConsumeIntegralInRange<int>(0, 3);
  call->has_bias = fdp.ConsumeBool();
  call->has_offset = fdp.ConsumeBool();
  call->group_size = scale_form == 3 ? 32 * fdp.ConsumeIntegralInRange<int64_t>(1, 2) : 0;
  if (fdp.ConsumeIntegralInRange<int>(0, 7) == 0) call->group_size = InterestingInt(fdp);
  call->epsilon = fdp.ConsumeIntegralInRange<int>(0, 7) == 0 ? fdp.ConsumeFloatingPoint<double>() : 1e-6;

  // The per-group scale's rows follow the group size when it is a sane one.
  const int64_t g = call->group_size > 0 && call->group_size <= 64 ? call->group_size : 32;
  const Dims scale_dims = scale_form == 0   ? Dims{1}
                          : scale_form == 1 ? Dims{n}
                          : scale_form == 2 ? Dims{1, n}
                                            : Dims{(k + g - 1) / g, n};
  FuzzView* v = call->v;
  v[0].view = MakeContiguous(act, x1_3d ? Dims{b, s, k} : Dims{b * s, k});
  v[1].view = MakeContiguous(wq, x2_transposed ? Dims{n, k} : Dims{k, n});
  if (x2_transposed) v[1].view = v[1].view.Transposed(0, 1);
  v[2].view = MakeContiguous(act, Dims{n});
  v[3].view = MakeContiguous(act, scale_dims);
  v[4].view = MakeContiguous(act, scale_dims);
  for (int i : {5, 7, 8}) v[i].view = MakeContiguous(act, Dims{b, s, n});
  v[6].view = MakeContiguous(act, Dims{n});

  const int mutations = fdp.ConsumeIntegralInRange<int>(0, 16);
  for (int i = 0; i < mutations && fdp.remaining_bytes() > 0; ++i) {
    Mutate(fdp, v[fdp.ConsumeIntegralInRange<int>(0, ArnCall::kTensors - 1)]);
  }
  for (FuzzView& fv : call->v) Back(fdp, arena, fv);
}

}  // namespace mc2::fuzz
