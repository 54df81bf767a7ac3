// Regression tests for the fuzzers' findings (fuzz/, issue 8): each case is the smallest input of
// its kind, written out by hand, that used to overflow or crash, and must now give a status code
// with a message naming what is wrong.
#include <gtest/gtest.h>

#include <cstdint>
#include <vector>

#include "core/status.h"
#include "core/tensor.h"
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
