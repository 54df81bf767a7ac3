// Fuzzes the argument rules of AlltoAllAllGatherBatchMatMul, mc2::ops::ValidateMoe
// (src/ops/moe/moe_validate.h), as aclnn GetWorkspaceSize and the native plan call them.
//
// Input decoding: the call of moe_call.h (shared with aclnn_moe_fuzzer.cc).
//
// Checks: ValidateMoe returns Ok or ACLNN_ERR_PARAM_INVALID, never crashes, reads no data (every
// buffer is exact-size) and has no UB on any dims or strides. An accepted call has every tensor
// non-null with non-negative dims, and when every view is valid, copying each view out
// (HostTensor::FromView) stays in bounds.
#include "core/status.h"
#include "fuzz_check.h"
#include "moe_call.h"
#include "ops/moe/moe_validate.h"

namespace {

using namespace mc2;
using mc2::fuzz::FuzzView;

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  FuzzedDataProvider fdp(data, size);
  fuzz::Arena arena;
  fuzz::MoeCall call;
  fuzz::DecodeMoeCall(fdp, arena, &call);
  const FuzzView* v = call.v;

  ops::MoeTensors t;
  t.in.x = v[0].view;
  t.in.weight = v[1].view;
  if (call.has_bias) t.in.bias = v[2].view;
  t.y1 = v[3].view;
  if (call.attrs.want_y2) t.y2 = v[4].view;
  if (call.attrs.want_y3) t.y3 = v[5].view;

  const Status status = ops::ValidateMoe(t, call.attrs);
  if (!status.ok()) {
    FUZZ_CHECK(status.space() == ErrorSpace::kAclnn);
    FUZZ_CHECK(status.code() == aclnn::kErrParamInvalid);
    return 0;
  }
  bool all_valid = true;
  for (int i = 0; i < fuzz::MoeCall::kTensors; ++i) {
    if (!call.present(i)) continue;
    FUZZ_CHECK(v[i].view.data != nullptr);
    for (int64_t d : v[i].view.dims) FUZZ_CHECK(d >= 0);
    all_valid = all_valid && v[i].valid;
  }
  if (!all_valid) return 0;
  for (int i = 0; i < fuzz::MoeCall::kTensors; ++i) {
    if (call.present(i)) HostTensor::FromView(v[i].view);
  }
  return 0;
}
