// Fuzzes the argument rules of WeightQuantMatmulAllReduceAddRmsNorm, mc2::ops::ValidateArn
// (src/ops/arn/arn_validate.h), as aclnn GetWorkspaceSize and the native plan call them.
//
// Input decoding: the call of arn_call.h (shared with aclnn_arn_fuzzer.cc), then the rank count
// (sometimes a wild value).
//
// Checks: ValidateArn returns Ok or ACLNN_ERR_PARAM_INVALID / ACLNN_ERR_INNER_TILING, never crashes,
// reads no data (every buffer is exact-size, so ASan sees any read past a view) and has no UB on
// any dims or strides. An accepted non-empty call has every tensor non-null with non-negative
// dims, and when every view is valid, copying each view out (HostTensor::FromView) stays in bounds.
#include <optional>

#include "arn_call.h"
#include "core/status.h"
#include "fuzz_check.h"
#include "ops/arn/arn_validate.h"

namespace {

using namespace mc2;
using mc2::fuzz::FuzzView;

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  FuzzedDataProvider fdp(data, size);
  fuzz::Arena arena;
  fuzz::ArnCall call;
  fuzz::DecodeArnCall(fdp, arena, &call);
  static constexpr int kWorldSizes[] = {1, 2, 4, 8, 0, 3, -1, 16};
  const int world_size = fdp.PickValueInArray(kWorldSizes);

  ArnAttrs attrs;
  attrs.antiquant_group_size = call.group_size;
  attrs.epsilon = call.epsilon;
  const FuzzView* v = call.v;
  ops::ArnTensors t;
  t.in.x1 = v[0].view;
  t.in.x2 = v[1].view;
  if (call.has_bias) t.in.bias = v[2].view;
  t.in.antiquant_scale = v[3].view;
  if (call.has_offset) t.in.antiquant_offset = v[4].view;
  t.in.residual = v[5].view;
  t.in.gamma = v[6].view;
  t.y = v[7].view;
  t.norm_out = v[8].view;

  bool empty = false;
  const Status status = ops::ValidateArn(t, attrs, world_size, &empty);
  if (!status.ok()) {
    FUZZ_CHECK(status.space() == ErrorSpace::kAclnn);
    FUZZ_CHECK(status.code() == aclnn::kErrParamInvalid || status.code() == aclnn::kErrInnerTiling);
    return 0;
  }
  if (empty) return 0;
  bool all_valid = true;
  for (int i = 0; i < fuzz::ArnCall::kTensors; ++i) {
    if (!call.present(i)) continue;
    FUZZ_CHECK(v[i].view.data != nullptr);
    for (int64_t d : v[i].view.dims) FUZZ_CHECK(d >= 0);
    all_valid = all_valid && v[i].valid;
  }
  if (!all_valid) return 0;
  for (int i = 0; i < fuzz::ArnCall::kTensors; ++i) {
    if (call.present(i)) HostTensor::FromView(v[i].view);
  }
  return 0;
}
