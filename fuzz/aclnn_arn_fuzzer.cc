// Fuzzes the CANN entry point aclnnWeightQuantMatmulAllReduceAddRmsNormGetWorkspaceSize (and its
// inplace twin) through the public C API: aclCreateTensor handles built from fuzzer-chosen view
// dims, strides, offset, dtype, format, storage dims and data pointer, plus the scalar arguments.
//
// Setup (once): two communicators from HcclCommInitAll, of 1 and 2 thread ranks, on device 0.
// Input decoding (FuzzedDataProvider): the consistent call of arn_validate_fuzzer.cc (dtypes, b, s,
// k, n, layouts, scale form, optional bias / offset) and up to 16 mutations of its nine views
// (tensor_gen.h); then per handle a choice of null, a destroyed handle, a tensor with 9 dims, or the
// view as is, with a raw aclDataType / aclFormat value sometimes replacing the view's (any int32,
// passed through raw_enum_call.c as a C caller would: values acl_base.h does not name must give a
// null tensor); then group
// (a live name, an unknown name, empty), reduceOp, commTurn, streamMode, antiquantGroupSize,
// epsilon, and whether to call the inplace form. Buffers are backed as tensor_gen.h says (exact,
// null or 1 byte).
//
// Checks: every call returns a status (never a crash, an out-of-bounds read, UB or a leak); success
// gives an executor, which is then destroyed unrun.
#include <cstdlib>
#include <initializer_list>
#include <string>

#include "aclnnop/aclnn_inplace_weight_quant_matmul_all_reduce_add_rms_norm.h"
#include "aclnnop/aclnn_weight_quant_matmul_all_reduce_add_rms_norm.h"
#include "fuzz_check.h"
#include "hccl/hccl.h"
#include "tensor_gen.h"

extern "C" aclTensor* FuzzCreateTensorRaw(const int64_t* viewDims, uint64_t viewDimsNum, int32_t dataType,
                                          const int64_t* stride, int64_t offset, int32_t format,
                                          const int64_t* storageDims, uint64_t storageDimsNum, void* tensorData);

namespace {

using namespace mc2;

bool NamedValue(int32_t v, std::initializer_list<int32_t> values) {
  for (int32_t x : values) {
    if (x == v) return true;
  }
  return false;
}
using mc2::fuzz::FuzzView;

constexpr int kTensors = 9;  // x1 x2 bias scale offset residual gamma y normOut

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

// An aclTensor for `fv` as the fuzzer says: the view, null, a destroyed handle, or too many dims.
aclTensor* MakeHandle(FuzzedDataProvider& fdp, const FuzzView& fv, bool* owned) {
  const TensorView& v = fv.view;
  *owned = false;
  int32_t dtype = static_cast<int32_t>(v.dtype);
  int32_t format = static_cast<int32_t>(v.format);
  switch (fdp.ConsumeIntegralInRange<int>(0, 31)) {
    case 0:
      return nullptr;
    case 1: {
      aclTensor* gone = aclCreateTensor(v.dims.data(), v.rank(), static_cast<aclDataType>(dtype), v.strides.data(),
                                        0, static_cast<aclFormat>(format), v.dims.data(), v.rank(), v.data);
      if (gone != nullptr) aclDestroyTensor(gone);
      return gone;  // a dangling handle: must be refused without being dereferenced
    }
    case 2: {
      const int64_t dims[kMaxDims + 1] = {1, 1, 1, 1, 1, 1, 1, 1, 1};
      return aclCreateTensor(dims, kMaxDims + 1, static_cast<aclDataType>(dtype), dims, 0,
                             static_cast<aclFormat>(format), dims, kMaxDims + 1, v.data);  // null: too many dims
    }
    // Raw values: small ones (near the named values) or any int32.
    case 3:
      dtype = fdp.ConsumeBool() ? fdp.ConsumeIntegralInRange<int32_t>(-64, 63) : fdp.ConsumeIntegral<int32_t>();
      break;
    case 4:
      format = fdp.ConsumeBool() ? fdp.ConsumeIntegralInRange<int32_t>(-64, 63) : fdp.ConsumeIntegral<int32_t>();
      break;
    default:
      break;
  }
  const bool null_strides = fdp.ConsumeIntegralInRange<int>(0, 15) == 0;
  aclTensor* t = FuzzCreateTensorRaw(v.dims.data(), v.rank(), dtype, null_strides ? nullptr : v.strides.data(),
                                     v.offset, format, v.storage_dims.data(), v.storage_dims.size(), v.data);
  // A value acl_base.h does not name must be refused.
  const bool named_dtype = NamedValue(dtype, {-1, 0, 1, 2, 3, 4, 6, 7, 8, 9, 10, 11, 12, 13, 16, 17, 27, 29, 30, 33,
                                              35, 36, 37, 38, 39, 40, 41});
  const bool named_format =
      NamedValue(format, {-1, 0, 1, 2, 3, 4, 12, 16, 27, 29, 30, 32, 33, 35, 47, 50, 51, 52, 53, 54});
  if (!named_dtype || !named_format) FUZZ_CHECK(t == nullptr);
  *owned = t != nullptr;
  return t;
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  setenv("MC2_API_QUIET", "1", 0);  // refusals are the normal answer here; do not print each one
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const Groups& groups = SetUp();
  FuzzedDataProvider fdp(data, size);
  const DType act = fdp.ConsumeBool() ? DType::kBFloat16 : DType::kFloat16;
  const DType wq = fdp.ConsumeBool() ? DType::kInt4 : DType::kInt8;
  const int64_t b = fdp.ConsumeIntegralInRange<int64_t>(0, 4);
  const int64_t s = fdp.ConsumeIntegralInRange<int64_t>(0, 4);
  const int64_t k = fdp.ConsumeIntegralInRange<int64_t>(0, 80);
  const int64_t n = fdp.ConsumeIntegralInRange<int64_t>(0, 80);
  const bool x1_3d = fdp.ConsumeBool();
  const bool x2_transposed = fdp.ConsumeBool();
  const int scale_form = fdp.ConsumeIntegralInRange<int>(0, 3);
  const bool has_bias = fdp.ConsumeBool();
  const bool has_offset = fdp.ConsumeBool();
  int64_t group_size = scale_form == 3 ? 32 * fdp.ConsumeIntegralInRange<int64_t>(1, 2) : 0;
  const int64_t g = group_size;
  const Dims scale_dims = scale_form == 0   ? Dims{1}
                          : scale_form == 1 ? Dims{n}
                          : scale_form == 2 ? Dims{1, n}
                                            : Dims{(k + g - 1) / g, n};
  FuzzView v[kTensors];
  v[0].view = fuzz::MakeContiguous(act, x1_3d ? Dims{b, s, k} : Dims{b * s, k});
  v[1].view = fuzz::MakeContiguous(wq, x2_transposed ? Dims{n, k} : Dims{k, n});
  if (x2_transposed) v[1].view = v[1].view.Transposed(0, 1);
  v[2].view = fuzz::MakeContiguous(act, Dims{n});
  v[3].view = fuzz::MakeContiguous(act, scale_dims);
  v[4].view = fuzz::MakeContiguous(act, scale_dims);
  for (int i : {5, 7, 8}) v[i].view = fuzz::MakeContiguous(act, Dims{b, s, n});
  v[6].view = fuzz::MakeContiguous(act, Dims{n});
  const int mutations = fdp.ConsumeIntegralInRange<int>(0, 16);
  for (int i = 0; i < mutations && fdp.remaining_bytes() > 0; ++i) {
    fuzz::Mutate(fdp, v[fdp.ConsumeIntegralInRange<int>(0, kTensors - 1)]);
  }
  fuzz::Arena arena;
  for (FuzzView& fv : v) fuzz::Back(fdp, arena, fv);

  aclTensor* h[kTensors] = {};
  bool owned[kTensors] = {};
  for (int i = 0; i < kTensors; ++i) {
    const bool optional_absent = (i == 2 && !has_bias) || (i == 4 && !has_offset);
    if (!optional_absent) h[i] = MakeHandle(fdp, v[i], &owned[i]);
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
  if (fdp.ConsumeIntegralInRange<int>(0, 7) == 0) group_size = fuzz::InterestingInt(fdp);
  const double epsilon = fdp.ConsumeIntegralInRange<int>(0, 7) == 0 ? fdp.ConsumeFloatingPoint<double>() : 1e-6;
  const bool inplace = fdp.ConsumeBool();
  const bool null_outputs = fdp.ConsumeIntegralInRange<int>(0, 31) == 0;

  uint64_t workspace = 0;
  aclOpExecutor* executor = nullptr;
  aclnnStatus status;
  if (inplace) {
    status = aclnnInplaceWeightQuantMatmulAllReduceAddRmsNormGetWorkspaceSize(
        h[0], h[1], h[2], h[3], h[4], h[5], h[6], epsilon, group.c_str(), reduce_op, comm_turn, stream_mode,
        group_size, h[8], null_outputs ? nullptr : &workspace, null_outputs ? nullptr : &executor);
  } else {
    status = aclnnWeightQuantMatmulAllReduceAddRmsNormGetWorkspaceSize(
        h[0], h[1], h[2], h[3], h[4], h[5], h[6], epsilon, group.c_str(), reduce_op, comm_turn, stream_mode,
        group_size, h[7], h[8], null_outputs ? nullptr : &workspace, null_outputs ? nullptr : &executor);
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
