// Shared by the two MoE fuzzers (moe_validate_fuzzer.cc, aclnn_moe_fuzzer.cc): decodes one
// AlltoAllAllGatherBatchMatMul call from the fuzzer's bytes.
//
// First a consistent call -- x dtype (fp16/bf16), epWorldSize and tpWorldSize in {2, 4},
// xShardType, actType, E/ep in [1, 3], C in [1, 4], H/tp and M/tp in [1, 8], weight row-major or
// transposed, optional bias (2-D or 3-D), y2 and y3 (each attribute sometimes a wild value) --
// then up to 16 mutations, each of one property of one of the six tensors (tensor_gen.h: dtype,
// format, a dim, the rank, a stride, the offset, the backing, a transpose), then the backing of
// each view (valid for exactly what it claims, null, or a 1-byte buffer).
#pragma once

#include <fuzzer/FuzzedDataProvider.h>

#include <cstdint>

#include "core/op_params.h"
#include "tensor_gen.h"

namespace mc2::fuzz {

struct MoeCall {
  static constexpr int kTensors = 6;  // x weight bias y1 y2 y3
  FuzzView v[kTensors];
  MoeAttrs attrs;  // want_y2 / want_y3 follow the presence of y2 / y3
  bool has_bias = false;

  bool present(int i) const { return (i != 2 || has_bias) && (i != 4 || attrs.want_y2) && (i != 5 || attrs.want_y3); }
};

inline int64_t MaybeWild(FuzzedDataProvider& fdp, int64_t value) {
  return fdp.ConsumeIntegralInRange<int>(0, 15) == 0 ? InterestingInt(fdp) : value;
}

inline void DecodeMoeCall(FuzzedDataProvider& fdp, Arena& arena, MoeCall* call) {
  const DType act = fdp.ConsumeBool() ? DType::kBFloat16 : DType::kFloat16;
  MoeAttrs& attrs = call->attrs;
  attrs.ep_world_size = fdp.ConsumeBool() ? 4 : 2;
  attrs.tp_world_size = fdp.ConsumeBool() ? 4 : 2;
  attrs.x_shard_type = fdp.ConsumeBool() ? 1 : 0;
  attrs.act_type = static_cast<ActType>(fdp.ConsumeIntegralInRange<int32_t>(0, 4));
  const int64_t ep = attrs.ep_world_size, tp = attrs.tp_world_size;
  const int64_t el = fdp.ConsumeIntegralInRange<int64_t>(1, 3);
  const int64_t c = fdp.ConsumeIntegralInRange<int64_t>(1, 4);
  const int64_t hl = fdp.ConsumeIntegralInRange<int64_t>(1, 8);
  const int64_t ml = fdp.ConsumeIntegralInRange<int64_t>(1, 8);
  const bool w_transposed = fdp.ConsumeBool();
  const int bias_form = fdp.ConsumeIntegralInRange<int>(0, 2);  // none, 2-D, 3-D
  call->has_bias = bias_form != 0;
  attrs.want_y2 = fdp.ConsumeBool();
  attrs.want_y3 = fdp.ConsumeBool();
  attrs.ep_world_size = MaybeWild(fdp, attrs.ep_world_size);
  attrs.tp_world_size = MaybeWild(fdp, attrs.tp_world_size);
  attrs.x_shard_type = MaybeWild(fdp, attrs.x_shard_type);
  // ActType is 32-bit with a fixed underlying type: any int32 is a value of it.
  attrs.act_type = static_cast<ActType>(static_cast<int32_t>(MaybeWild(fdp, static_cast<int32_t>(attrs.act_type))));

  const int64_t h = hl * tp;
  const int64_t rows = attrs.x_shard_type == 1 ? c * ep * tp : c * ep;
  FuzzView* v = call->v;
  v[0].view = MakeContiguous(act, attrs.x_shard_type == 1 ? Dims{el * ep, c, h} : Dims{el * ep, c, hl});
  v[1].view = MakeContiguous(act, w_transposed ? Dims{el, ml, h} : Dims{el, h, ml});
  if (w_transposed) v[1].view = v[1].view.Transposed(1, 2);
  const DType bias_dtype = act == DType::kFloat16 ? DType::kFloat16 : DType::kFloat32;
  v[2].view = MakeContiguous(bias_dtype, bias_form == 2 ? Dims{el, 1, ml} : Dims{el, ml});
  v[3].view = MakeContiguous(act, Dims{el, rows, ml});
  v[4].view = MakeContiguous(act, Dims{el, rows, h});
  v[5].view = MakeContiguous(act, Dims{el, rows, ml});

  const int mutations = fdp.ConsumeIntegralInRange<int>(0, 16);
  for (int i = 0; i < mutations && fdp.remaining_bytes() > 0; ++i) {
    Mutate(fdp, v[fdp.ConsumeIntegralInRange<int>(0, MoeCall::kTensors - 1)]);
  }
  for (FuzzView& fv : call->v) Back(fdp, arena, fv);
}

}  // namespace mc2::fuzz
