// Fuzzes the CANN entry point aclnnAlltoAllAllGatherBatchMatMulGetWorkspaceSize through the public
// C API: aclCreateTensor handles built from fuzzer-chosen views, plus the groups and attributes.
//
// Setup (once): thread communicators from HcclCommInitAll -- two of 2 ranks and two of 4, whose
// rank 0 is on device 0, the calling thread's current device -- so that an EP and a TP group of
// either size can be picked, and rank 1 of one of them (device 1, a group of another rank).
// Input decoding: the call of moe_call.h (shared with moe_validate_fuzzer.cc); then per handle the
// choices of acl_handle.h (null, destroyed, too many dims, raw aclDataType / aclFormat values);
// then groupEp and groupTp, each one of: a live group of 2 or 4 ranks, the same as the other,
// another device's, an unknown name, empty, null, 127 or 128 characters; and sometimes null
// workspaceSize / executor pointers.
//
// Checks: every call returns ACLNN_SUCCESS, 161001 or 161002 (never a crash, an out-of-bounds
// read, UB or a leak; no tensor data is read: the validation sees shapes only); success gives a
// positive workspace size and an executor, which is then destroyed unrun; failure gives no executor.
#include <cstdlib>
#include <string>

#include "acl/acl.h"
#include "acl_handle.h"
#include "aclnnop/aclnn_all_to_all_all_gather_batch_matmul.h"
#include "fuzz_check.h"
#include "hccl/hccl.h"
#include "moe_call.h"

namespace {

using namespace mc2;
using mc2::fuzz::FuzzView;

constexpr int kTensors = fuzz::MoeCall::kTensors;

// Names of live communicators: [0], [1] of 2 ranks, [2], [3] of 4 ranks (all rank 0, device 0),
// [4] rank 1 of the first (device 1).
struct Groups {
  std::string names[5];
};

const Groups& SetUp() {
  static const Groups groups = [] {
    Groups g;
    FUZZ_CHECK(aclrtSetDevice(0) == ACL_SUCCESS);
    int32_t devices[4] = {0, 1, 2, 3};
    static HcclComm two_a[2], two_b[2], four_a[4], four_b[4];
    FUZZ_CHECK(HcclCommInitAll(2, devices, two_a) == HCCL_SUCCESS);
    FUZZ_CHECK(HcclCommInitAll(2, devices, two_b) == HCCL_SUCCESS);
    FUZZ_CHECK(HcclCommInitAll(4, devices, four_a) == HCCL_SUCCESS);
    FUZZ_CHECK(HcclCommInitAll(4, devices, four_b) == HCCL_SUCCESS);
    const HcclComm comms[5] = {two_a[0], two_b[0], four_a[0], four_b[0], two_a[1]};
    for (int i = 0; i < 5; ++i) {
      char name[COMM_NAME_MAX_LENGTH];
      FUZZ_CHECK(HcclGetCommName(comms[i], name) == HCCL_SUCCESS);
      g.names[i] = name;
    }
    return g;
  }();
  return groups;
}

// A group argument as the fuzzer says; `other` is the other group's pick (for "the same").
const char* PickGroup(FuzzedDataProvider& fdp, const Groups& groups, int world, const char* other,
                      std::string* storage) {
  switch (fdp.ConsumeIntegralInRange<int>(0, 15)) {
    case 0:
      return nullptr;
    case 1:
      return "";
    case 2:
      return "nope";
    case 3:
      *storage = std::string(127, 'g');
      return storage->c_str();
    case 4:
      *storage = std::string(128, 'g');
      return storage->c_str();
    case 5:
      return groups.names[4].c_str();  // rank 1 of a 2-rank group: device 1
    case 6:
      if (other != nullptr) return other;
      [[fallthrough]];
    default: {
      // A live group of the size the attributes ask for (sometimes of the other size); the two
      // picks coincide half the time when the sizes are equal.
      bool four = world == 4;
      if (fdp.ConsumeIntegralInRange<int>(0, 7) == 0) four = !four;
      return groups.names[(four ? 2 : 0) + fdp.ConsumeIntegralInRange<int>(0, 1)].c_str();
    }
  }
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
  fuzz::MoeCall call;
  fuzz::DecodeMoeCall(fdp, arena, &call);
  const FuzzView* v = call.v;

  aclTensor* h[kTensors] = {};
  bool owned[kTensors] = {};
  for (int i = 0; i < kTensors; ++i) {
    if (call.present(i)) h[i] = fuzz::MakeHandle(fdp, v[i], &owned[i]);
  }
  std::string ep_storage, tp_storage;
  const MoeAttrs& a = call.attrs;
  const char* group_ep = PickGroup(fdp, groups, static_cast<int>(a.ep_world_size), nullptr, &ep_storage);
  const char* group_tp = PickGroup(fdp, groups, static_cast<int>(a.tp_world_size), group_ep, &tp_storage);
  const bool null_workspace = fdp.ConsumeIntegralInRange<int>(0, 31) == 0;
  const bool null_executor = fdp.ConsumeIntegralInRange<int>(0, 31) == 0;

  uint64_t workspace = 0;
  aclOpExecutor* executor = nullptr;
  const aclnnStatus status = aclnnAlltoAllAllGatherBatchMatMulGetWorkspaceSize(
      h[0], h[1], h[2], group_ep, group_tp, a.ep_world_size, a.tp_world_size, a.x_shard_type,
      static_cast<int64_t>(a.act_type), h[3], h[4], h[5], null_workspace ? nullptr : &workspace,
      null_executor ? nullptr : &executor);
  if (status == ACLNN_SUCCESS) {
    FUZZ_CHECK(!null_workspace && !null_executor);
    FUZZ_CHECK(executor != nullptr);
    FUZZ_CHECK(workspace > 0);
    FUZZ_CHECK(aclDestroyAclOpExecutor(executor) == ACLNN_SUCCESS);
  } else {
    FUZZ_CHECK(status == ACLNN_ERR_PARAM_NULLPTR || status == ACLNN_ERR_PARAM_INVALID);
    FUZZ_CHECK(executor == nullptr);
  }
  for (int i = 0; i < kTensors; ++i) {
    if (owned[i]) aclDestroyTensor(h[i]);
  }
  return 0;
}
