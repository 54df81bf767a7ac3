// Regression tests for the fuzzers' findings (fuzz/, issue 8): each case is the smallest input of
// its kind, written out by hand, that used to overflow or crash, and must now give a status code
// with a message naming what is wrong.
#include <gtest/gtest.h>

#include <cstdint>
#include <vector>

#include "core/dtype.h"
#include "core/status.h"
#include "core/tensor.h"
#include "ops/linear_parallel/lp_validate.h"
#include "ops/moe/moe_validate.h"
#include "reference/linear_parallel_plan.h"
#include "reference/moe.h"

namespace mc2::reference {
namespace {

// A view over `data` with the given dims (row-major strides; the model never reads a view whose
// product of dims is refused, so the storage may be much smaller than the dims say).
TensorView ViewOf(void* data, const Dims& dims) {
  TensorView v;
  v.data = data;
  v.dtype = DType::kFloat16;
  v.dims = dims;
  v.strides = RowMajorStrides(dims);
  v.storage_dims = dims;
  return v;
}

struct MoeCase {
  int64_t ep, tp;
  int ranks;  // how many rank inputs are passed
  Dims x, weight;
  const char* message;  // a part of the expected message
};

class MoeDimsProducts : public ::testing::TestWithParam<MoeCase> {};

TEST_P(MoeDimsProducts, RefusedWithParamInvalid) {
  const MoeCase& c = GetParam();
  std::vector<uint16_t> storage(16);
  MoeAttrs attrs;
  attrs.ep_world_size = c.ep;
  attrs.tp_world_size = c.tp;
  attrs.x_shard_type = 0;
  std::vector<MoeInputs> in(static_cast<size_t>(c.ranks));
  for (MoeInputs& r : in) {
    r.x = ViewOf(storage.data(), c.x);
    r.weight = ViewOf(storage.data(), c.weight);
  }
  const StatusOr<std::vector<MoeOutputs>> out = AlltoAllAllGatherBatchMatMul(in, attrs, Mode::kCann);
  ASSERT_FALSE(out.ok());
  EXPECT_EQ(out.status().code(), aclnn::kErrParamInvalid);
  EXPECT_NE(out.status().message().find(c.message), std::string::npos) << out.status().message();
}

constexpr int64_t k2e40 = int64_t{1} << 40;
constexpr int64_t k2e62 = int64_t{1} << 62;

INSTANTIATE_TEST_SUITE_P(
    Reference, MoeDimsProducts,
    ::testing::Values(
        // epWorldSize * tpWorldSize overflows int64.
        MoeCase{k2e62, 4, 1, {4, 1, 1}, {1, 4, 1}, "epWorldSize * tpWorldSize"},
        // x holds 2^120 elements: its product of dims overflows.
        MoeCase{1, 1, 1, {k2e40, k2e40, k2e40}, {k2e40, k2e40, 1}, "x: shape"},
        // weight dim 0 * epWorldSize = 2^62 * 4 overflows (E = 4).
        MoeCase{4, 1, 4, {4, 1, 1}, {k2e62, 1, 1}, "weight: dim 0"},
        // H = x dim 2 * tpWorldSize = 2^62 * 4 overflows; x itself is empty (dim 1 is 0).
        MoeCase{1, 4, 4, {1, 0, k2e62}, {1, 4, 1}, "overflows int64"},
        // x and weight are empty (H = 0) but y1 = El * rows * M/tp would be 2^40 elements.
        MoeCase{1, 1, 1, {1, 1, 0}, {1, 0, k2e40}, "y1"}));

}  // namespace
}  // namespace mc2::reference

// Findings of the aclnn MoE and ATB LinearParallel fuzzers, and their neighbours.
namespace mc2::ops {
namespace {

TensorView Fp16(void* data, const Dims& dims) {
  TensorView v;
  v.data = data;
  v.dtype = DType::kFloat16;
  v.dims = dims;
  v.strides = RowMajorStrides(dims);
  v.storage_dims = dims;
  return v;
}

// A byte count that does not fit in size_t used to wrap (2^61 fp16 elements made 0 bytes, which a
// dataSize check then accepted); it saturates now.
TEST(FuzzFindings, StorageBytesSaturate) {
  EXPECT_EQ(DTypeStorageBytes(DType::kFloat16, int64_t{1} << 61), SIZE_MAX);
  EXPECT_EQ(DTypeStorageBytes(DType::kFloat32, INT64_MAX), SIZE_MAX);
  EXPECT_EQ(DTypeStorageBytes(DType::kInt4, int64_t{1} << 61), size_t{1} << 60);
  EXPECT_EQ(DTypeStorageBytes(DType::kInt4, int64_t{1} << 62), SIZE_MAX);  // 2^64 bits
  EXPECT_EQ(DTypeStorageBytes(DType::kInt4, 3), 2u);
}

// C has no range in the spec; the plan sized y2 = (E/ep, rows, H) with products that overflowed.
TEST(FuzzFindings, MoeRefusesACWhoseBuffersCannotExist) {
  std::vector<uint16_t> storage(16);
  const int64_t c = int64_t{1} << 44;  // rows = 2^45; y1 = 2^45 * 4 fp16 = 2^48 bytes
  MoeTensors t;
  t.in.x = Fp16(storage.data(), Dims{2, c, 4});
  t.in.weight = Fp16(storage.data(), Dims{1, 8, 4});
  t.y1 = Fp16(storage.data(), Dims{1, 2 * c, 4});
  MoeAttrs attrs;  // ep = tp = 2, xShardType 0
  const Status s = ValidateMoe(t, attrs);
  EXPECT_EQ(s.code(), aclnn::kErrParamInvalid);
  EXPECT_NE(s.message().find("x: dim 1 (C) is 17592186044416"), std::string::npos) << s.message();
  // One C less than that is fine as far as sizes go.
  t.in.x = Fp16(storage.data(), Dims{2, c / 4, 4});
  t.y1 = Fp16(storage.data(), Dims{1, c / 2, 4});
  EXPECT_TRUE(ValidateMoe(t, attrs).ok()) << ValidateMoe(t, attrs).message();
}

// atb_lp found it: agDim * rsDim was multiplied in int (39493 * 58444 overflows) before being
// compared with rankSize, in the operator's check and in the golden model's.
TEST(FuzzFindings, AgRsGridProductDoesNotOverflow) {
  LinearParallelAttrs attrs;
  attrs.type = LinearParallelType::kAllGatherLinearReduceScatter;
  attrs.ag_dim = 39493;
  attrs.rs_dim = 58444;
  const Status s = ops::CheckLinearParallelParam(attrs, 4);
  EXPECT_EQ(s.code(), atb::kInvalidParam);
  EXPECT_NE(s.message().find("= 2308128892 but rankSize is 4"), std::string::npos) << s.message();
  std::vector<LinearParallelInputs> ranks(4);
  const auto plan = mc2::reference::PlanLinearParallel(ranks, attrs);
  ASSERT_FALSE(plan.ok());
  EXPECT_EQ(plan.status().code(), atb::kInvalidParam);
  EXPECT_NE(plan.status().message().find("= 2308128892 but rankSize is 4"), std::string::npos)
      << plan.status().message();
}

struct LpOverflow {
  const char* name;
  LinearParallelType type;
  Dims input, weight;
  Format weight_format;
  int world;
  const char* message;
};

class LpDimsProducts : public ::testing::TestWithParam<LpOverflow> {};

// Empty tensors (a zero k or n) bound nothing, so the other dims may be anything: their products
// used to overflow int64 in the shape inference.
TEST_P(LpDimsProducts, RefusedWithInvalidTensorDim) {
  const LpOverflow& c = GetParam();
  std::vector<uint16_t> storage(16);
  LinearParallelInputs in;
  in.input = Fp16(storage.data(), c.input);
  in.weight = Fp16(storage.data(), c.weight);
  in.weight.format = c.weight_format;
  LinearParallelAttrs attrs;
  attrs.type = c.type;
  const StatusOr<LpShapeInfo> info = InferLinearParallelShape(in, attrs, c.world);
  ASSERT_FALSE(info.ok());
  EXPECT_EQ(info.status().code(), atb::kInvalidTensorDim);
  EXPECT_NE(info.status().message().find(c.message), std::string::npos) << info.status().message();
}

constexpr int64_t k2e40 = int64_t{1} << 40;
constexpr int64_t k2e62 = int64_t{1} << 62;

INSTANTIATE_TEST_SUITE_P(
    Validate, LpDimsProducts,
    ::testing::Values(
        LpOverflow{"rows", LinearParallelType::kLinearAllReduce, {k2e62, 4, 0}, {1, 0}, Format::kND, 2,
                   "the row count M overflows"},
        LpOverflow{"gathered_rows", LinearParallelType::kAllGatherLinear, {k2e62, 0}, {1, 0}, Format::kND, 4,
                   "dims[0] * rankSize overflows"},
        LpOverflow{"nz_weight", LinearParallelType::kLinearAllReduce, {1, k2e62}, {k2e40, k2e62}, Format::kFractalNZ,
                   2, "the NZ arrangement's size overflows"},
        // atb_lp found it: R = INT64_MAX rounded up to a multiple of 16 overflowed before the checked
        // products (C = 16 keeps ceil(C / c0) at 1).
        LpOverflow{"nz_weight_rows_pad", LinearParallelType::kLinearAllReduce, {1, INT64_MAX}, {INT64_MAX, 16},
                   Format::kFractalNZ, 2, "the NZ arrangement's size overflows"}),
    [](const ::testing::TestParamInfo<LpOverflow>& info) { return std::string(info.param.name); });

}  // namespace
}  // namespace mc2::ops
