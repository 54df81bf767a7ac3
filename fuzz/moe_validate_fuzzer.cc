// Fuzzes the argument rules of AlltoAllAllGatherBatchMatMul, mc2::ops::ValidateMoe
// (src/ops/moe/moe_validate.h), as aclnn GetWorkspaceSize and the native plan call them.
//
// Input decoding (FuzzedDataProvider): first a consistent call — x dtype (fp16/bf16), epWorldSize
// and tpWorldSize in {2, 4}, xShardType, actType, E/ep in [1, 3], C in [1, 4], H/tp and M/tp in
// [1, 8], weight row-major or transposed, optional bias (2-D or 3-D), y2 and y3 (each attribute
// sometimes a wild value) — then up to 16 mutations, each of one property of one of the six tensors
// (dtype, format, a dim, the rank, a stride, the offset, the backing, a transpose), then the backing
// of each view (tensor_gen.h: valid for exactly what it claims, null, or a 1-byte buffer).
//
// Checks: ValidateMoe returns Ok or ACLNN_ERR_PARAM_INVALID, never crashes, reads no data (every
// buffer is exact-size) and has no UB on any dims or strides. An accepted call has every tensor
// non-null with non-negative dims, and when every view is valid, copying each view out
// (HostTensor::FromView) stays in bounds.
#include "core/status.h"
#include "fuzz_check.h"
#include "ops/moe/moe_validate.h"
#include "tensor_gen.h"

namespace {

using namespace mc2;
using mc2::fuzz::FuzzView;

constexpr int kTensors = 6;  // x weight bias y1 y2 y3

int64_t MaybeWild(FuzzedDataProvider& fdp, int64_t value) {
  return fdp.ConsumeIntegralInRange<int>(0, 15) == 0 ? fuzz::InterestingInt(fdp) : value;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  FuzzedDataProvider fdp(data, size);
  const DType act = fdp.ConsumeBool() ? DType::kBFloat16 : DType::kFloat16;
  MoeAttrs attrs;
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
  const bool has_y2 = fdp.ConsumeBool();
  const bool has_y3 = fdp.ConsumeBool();
  attrs.ep_world_size = MaybeWild(fdp, attrs.ep_world_size);
  attrs.tp_world_size = MaybeWild(fdp, attrs.tp_world_size);
  attrs.x_shard_type = MaybeWild(fdp, attrs.x_shard_type);
  attrs.act_type = static_cast<ActType>(static_cast<int32_t>(MaybeWild(fdp, static_cast<int32_t>(attrs.act_type))));

  const int64_t h = hl * tp;
  const int64_t rows = attrs.x_shard_type == 1 ? c * ep * tp : c * ep;
  FuzzView v[kTensors];
  v[0].view = fuzz::MakeContiguous(act, attrs.x_shard_type == 1 ? Dims{el * ep, c, h} : Dims{el * ep, c, hl});
  v[1].view = fuzz::MakeContiguous(act, w_transposed ? Dims{el, ml, h} : Dims{el, h, ml});
  if (w_transposed) v[1].view = v[1].view.Transposed(1, 2);
  const DType bias_dtype = act == DType::kFloat16 ? DType::kFloat16 : DType::kFloat32;
  v[2].view = fuzz::MakeContiguous(bias_dtype, bias_form == 2 ? Dims{el, 1, ml} : Dims{el, ml});
  v[3].view = fuzz::MakeContiguous(act, Dims{el, rows, ml});
  v[4].view = fuzz::MakeContiguous(act, Dims{el, rows, h});
  v[5].view = fuzz::MakeContiguous(act, Dims{el, rows, ml});

  const int mutations = fdp.ConsumeIntegralInRange<int>(0, 16);
  for (int i = 0; i < mutations && fdp.remaining_bytes() > 0; ++i) {
    fuzz::Mutate(fdp, v[fdp.ConsumeIntegralInRange<int>(0, kTensors - 1)]);
  }
  fuzz::Arena arena;
  for (FuzzView& fv : v) fuzz::Back(fdp, arena, fv);

  ops::MoeTensors t;
  t.in.x = v[0].view;
  t.in.weight = v[1].view;
  if (bias_form != 0) t.in.bias = v[2].view;
  t.y1 = v[3].view;
  if (has_y2) t.y2 = v[4].view;
  if (has_y3) t.y3 = v[5].view;
  const bool present[kTensors] = {true, true, bias_form != 0, true, has_y2, has_y3};

  const Status status = ops::ValidateMoe(t, attrs);
  if (!status.ok()) {
    FUZZ_CHECK(status.space() == ErrorSpace::kAclnn);
    FUZZ_CHECK(status.code() == aclnn::kErrParamInvalid);
    return 0;
  }
  bool all_valid = true;
  for (int i = 0; i < kTensors; ++i) {
    if (!present[i]) continue;
    FUZZ_CHECK(v[i].view.data != nullptr);
    for (int64_t d : v[i].view.dims) FUZZ_CHECK(d >= 0);
    all_valid = all_valid && v[i].valid;
  }
  if (!all_valid) return 0;
  for (int i = 0; i < kTensors; ++i) {
    if (present[i]) HostTensor::FromView(v[i].view);
  }
  return 0;
}
