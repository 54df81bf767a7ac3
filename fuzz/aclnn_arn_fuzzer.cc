// Fuzzes the CANN entry point aclnnWeightQuantMatmulAllReduceAddRmsNormGetWorkspaceSize (and its
// inplace twin) through the public C API: aclCreateTensor handles built from fuzzer-chosen view
// dims, strides, offset, dtype, format, storage dims and data pointer, plus the scalar arguments.
//
// Setup (once): two communicators from HcclCommInitAll, of 1 and 2 thread ranks, on device 0.
// Input decoding: the call of arn_call.h (shared with arn_validate_fuzzer.cc); then per handle a
// choice of null, a destroyed handle, a tensor with 9 dims, or the view as is, with a raw
// aclDataType / aclFormat value sometimes replacing the view's (any int32, passed through
// raw_enum_call.c as a C caller would: values acl_base.h does not name must give a null tensor);
// then group (a live name, an unknown name, empty), reduceOp, commTurn, streamMode, and whether
// to call the inplace form.
//
// Checks: every call returns a status (never a crash, an out-of-bounds read, UB or a leak); success
// gives an executor, which is then destroyed unrun.
#include <cstdlib>
#include <string>

#include "acl_handle.h"
#include "aclnnop/aclnn_inplace_weight_quant_matmul_all_reduce_add_rms_norm.h"
#include "aclnnop/aclnn_weight_quant_matmul_all_reduce_add_rms_norm.h"
#include "arn_call.h"
#include "fuzz_check.h"
#include "hccl/hccl.h"

namespace {

using namespace mc2;

using mc2::fuzz::FuzzView;

constexpr int kTensors = fuzz::ArnCall::kTensors;

struct Groups {
  std::string one, two;
};

const Groups& SetUp() {
  static const Groups groups = [] {
    Groups g;
    aclrtSetDevice(0);
    int32_t devices[2] = {0, 1};
    static HcclComm one[1], two[2];
    FUZZ_CHECK(HcclCommInitAll(1, devices, one) == HCCL_SUCCESS);
    FUZZ_CHECK(HcclCommInitAll(2, devices, two) == HCCL_SUCCESS);
    char name[COMM_NAME_MAX_LENGTH];
    FUZZ_CHECK(HcclGetCommName(one[0], name) == HCCL_SUCCESS);
    g.one = name;
    FUZZ_CHECK(HcclGetCommName(two[0], name) == HCCL_SUCCESS);
    g.two = name;
    return g;
  }();
  return groups;
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  setenv("MC2_API_QUIET", "1", 0);  // refusals are the normal answer here; do not print each one
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const Groups& groups = SetUp();
  FuzzedDataProvider fdp(data, size);
  fuzz::Arena arena;
  fuzz::ArnCall call;
  fuzz::DecodeArnCall(fdp, arena, &call);
  const FuzzView* v = call.v;

  aclTensor* h[kTensors] = {};
  bool owned[kTensors] = {};
  for (int i = 0; i < kTensors; ++i) {
    if (call.present(i)) h[i] = fuzz::MakeHandle(fdp, v[i], &owned[i]);
  }

  static const char* const kReduceOps[] = {"sum", "max", "", "summ", "SUM"};
  const char* reduce_op = fdp.PickValueInArray(kReduceOps);
  const int which_group = fdp.ConsumeIntegralInRange<int>(0, 3);
  const std::string group = which_group == 0   ? groups.one
                            : which_group == 1 ? groups.two
                            : which_group == 2 ? ""
                                               : "nope";
  const int64_t comm_turn = fdp.ConsumeIntegralInRange<int>(0, 7) == 0 ? fuzz::InterestingInt(fdp) : 0;
  const int64_t stream_mode = fdp.ConsumeIntegralInRange<int>(0, 7) == 0 ? fuzz::InterestingInt(fdp) : 1;
  const bool inplace = fdp.ConsumeBool();
  const bool null_outputs = fdp.ConsumeIntegralInRange<int>(0, 31) == 0;

  uint64_t workspace = 0;
  aclOpExecutor* executor = nullptr;
  aclnnStatus status;
  if (inplace) {
    status = aclnnInplaceWeightQuantMatmulAllReduceAddRmsNormGetWorkspaceSize(
        h[0], h[1], h[2], h[3], h[4], h[5], h[6], call.epsilon, group.c_str(), reduce_op, comm_turn, stream_mode,
        call.group_size, h[8], null_outputs ? nullptr : &workspace, null_outputs ? nullptr : &executor);
  } else {
    status = aclnnWeightQuantMatmulAllReduceAddRmsNormGetWorkspaceSize(
        h[0], h[1], h[2], h[3], h[4], h[5], h[6], call.epsilon, group.c_str(), reduce_op, comm_turn, stream_mode,
        call.group_size, h[7], h[8], null_outputs ? nullptr : &workspace, null_outputs ? nullptr : &executor);
  }
  if (status == ACLNN_SUCCESS) {
    FUZZ_CHECK(executor != nullptr);
    FUZZ_CHECK(aclDestroyAclOpExecutor(executor) == ACLNN_SUCCESS);
  } else {
    FUZZ_CHECK(executor == nullptr);
  }
  for (int i = 0; i < kTensors; ++i) {
    if (owned[i]) aclDestroyTensor(h[i]);
  }
  return 0;
}
