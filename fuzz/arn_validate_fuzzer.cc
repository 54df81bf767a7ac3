// Fuzzes the argument rules of WeightQuantMatmulAllReduceAddRmsNorm, mc2::ops::ValidateArn
// (src/ops/arn/arn_validate.h), as aclnn GetWorkspaceSize and the native plan call them.
//
// Input decoding (FuzzedDataProvider): first a consistent call — activation dtype (fp16/bf16),
// weight dtype (int8/int4), b, s in [0, 4], k, n in [0, 80], x1 2-D or 3-D, x2 row-major or
// transposed, the antiquantScale form ((1), (n), (1, n) or per-group), optional bias and offset,
// group size, epsilon and rank count (sometimes wild values) — then up to 16 mutations, each of one
// property of one of the nine tensors (dtype, format, a dim, the rank, a stride, the offset, the
// backing, a transpose), then the backing of each view (tensor_gen.h: valid for exactly what it
// claims, null, or a 1-byte buffer).
//
// Checks: ValidateArn returns Ok or ACLNN_ERR_PARAM_INVALID / ACLNN_ERR_INNER_TILING, never crashes,
// reads no data (every buffer is exact-size, so ASan sees any read past a view) and has no UB on
// any dims or strides. An accepted non-empty call has every tensor non-null with non-negative
// dims, and when every view is valid, copying each view out (HostTensor::FromView) stays in bounds.
#include <optional>

#include "core/status.h"
#include "fuzz_check.h"
#include "ops/arn/arn_validate.h"
#include "tensor_gen.h"

namespace {

using namespace mc2;
using mc2::fuzz::FuzzView;

constexpr int kTensors = 9;  // x1 x2 bias scale offset residual gamma y normOut

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
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

  ArnAttrs attrs;
  attrs.antiquant_group_size = scale_form == 3 ? 32 * fdp.ConsumeIntegralInRange<int64_t>(1, 2) : 0;
  if (fdp.ConsumeIntegralInRange<int>(0, 7) == 0) attrs.antiquant_group_size = fuzz::InterestingInt(fdp);
  attrs.epsilon = fdp.ConsumeIntegralInRange<int>(0, 7) == 0 ? fdp.ConsumeFloatingPoint<double>() : 1e-6;
  static constexpr int kWorldSizes[] = {1, 2, 4, 8, 0, 3, -1, 16};
  const int world_size = fdp.PickValueInArray(kWorldSizes);

  const int64_t g =
      attrs.antiquant_group_size > 0 && attrs.antiquant_group_size <= 64 ? attrs.antiquant_group_size : 32;
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

  ops::ArnTensors t;
  t.in.x1 = v[0].view;
  t.in.x2 = v[1].view;
  if (has_bias) t.in.bias = v[2].view;
  t.in.antiquant_scale = v[3].view;
  if (has_offset) t.in.antiquant_offset = v[4].view;
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
  for (int i = 0; i < kTensors; ++i) {
    const bool present = (i != 2 || has_bias) && (i != 4 || has_offset);
    if (!present) continue;
    FUZZ_CHECK(v[i].view.data != nullptr);
    for (int64_t d : v[i].view.dims) FUZZ_CHECK(d >= 0);
    all_valid = all_valid && v[i].valid;
  }
  if (!all_valid) return 0;
  for (int i = 0; i < kTensors; ++i) {
    const bool present = (i != 2 || has_bias) && (i != 4 || has_offset);
    if (present) HostTensor::FromView(v[i].view);
  }
  return 0;
}
