// LinearParallel Setup validation (spec 4.7): one case per rule, each expecting ATB's exact code
// and a message that starts with the parameter's name; plus InferShape's output dims per type.
#include <gtest/gtest.h>

#include <functional>
#include <string>

#include "ops/linear_parallel/lp_validate.h"
#include "reference/cases.h"

namespace mc2::ops {
namespace {

using Type = LinearParallelType;

// A valid call that each case breaks in one way: fp16 W8A16 per-channel LINEAR_ALL_REDUCE with a
// residual, input (8, 64), weight (32, 64) transposed, 2 ranks.
struct Fixture {
  static reference::LinearParallelShape Shape() {
    reference::LinearParallelShape s;
    s.attrs.quant_type = QuantType::kPerChannel;
    s.attrs.has_residual = true;
    return s;
  }
  reference::LinearParallelCase c{reference::MakeLinearParallelCase(Shape())};
  LinearParallelTensors t{c.ranks[0], c.pool.Zeros(DType::kFloat16, {8, 32}), std::nullopt};
  LinearParallelAttrs attrs = c.attrs;
  int world = 2;
};

void Reshape(TensorView& v, const Dims& dims) {
  v.dims = dims;
  v.strides = RowMajorStrides(dims);
}

struct CaseDef {
  const char* name;
  int32_t code;  // 0: valid
  const char* param;
  std::function<void(Fixture&)> mutate;
};

const CaseDef kCases[] = {
    {"valid", 0, "", [](Fixture&) {}},
    // Parameters (CheckType, twoDimTPInfo).
    {"type_out_of_range", atb::kInvalidParam, "type", [](Fixture& f) { f.attrs.type = static_cast<Type>(5); }},
    {"type_negative", atb::kInvalidParam, "type", [](Fixture& f) { f.attrs.type = static_cast<Type>(-1); }},
    {"quant_type_out_of_range", atb::kInvalidParam, "quantType",
     [](Fixture& f) { f.attrs.quant_type = static_cast<QuantType>(4); }},
    {"keep_intermediate_with_all_reduce", atb::kInvalidParam, "keepIntermediate",
     [](Fixture& f) { f.attrs.keep_intermediate = true; }},
    {"keep_intermediate_with_quant", atb::kInvalidParam, "keepIntermediate",
     [](Fixture& f) {
       f.attrs.type = Type::kAllGatherLinear;
       f.attrs.keep_intermediate = true;
     }},
    {"per_token_with_reduce_scatter", atb::kInvalidParam, "quantType",
     [](Fixture& f) {
       f.attrs.type = Type::kLinearReduceScatter;
       f.attrs.quant_type = QuantType::kPerToken;
     }},
    {"per_group_without_group_size", atb::kInvalidParam, "quantGroupSize",
     [](Fixture& f) { f.attrs.quant_type = QuantType::kPerGroup; }},
    {"agrs_with_quant", atb::kInvalidParam, "quantType",
     [](Fixture& f) {
       f.attrs.type = Type::kAllGatherLinearReduceScatter;
       f.attrs.ag_dim = 2;
       f.attrs.rs_dim = 1;
     }},
    {"agrs_with_residual", atb::kInvalidParam, "hasResidual",
     [](Fixture& f) {
       f.attrs.type = Type::kAllGatherLinearReduceScatter;
       f.attrs.quant_type = QuantType::kUnquant;
       f.attrs.ag_dim = 2;
       f.attrs.rs_dim = 1;
     }},
    {"agrs_rs_dim_zero", atb::kInvalidParam, "twoDimTPInfo",
     [](Fixture& f) {
       f.attrs.type = Type::kAllGatherLinearReduceScatter;
       f.attrs.quant_type = QuantType::kUnquant;
       f.attrs.has_residual = false;
       f.attrs.ag_dim = 2;
     }},
    {"agrs_grid_not_world", atb::kInvalidParam, "twoDimTPInfo",
     [](Fixture& f) {
       f.attrs.type = Type::kAllGatherLinearReduceScatter;
       f.attrs.quant_type = QuantType::kUnquant;
       f.attrs.has_residual = false;
       f.attrs.ag_dim = 2;
       f.attrs.rs_dim = 2;
     }},
    // Tensor lists.
    {"quant_without_deq_scale", atb::kInvalidInTensorNum, "deqScale", [](Fixture& f) { f.t.in.deq_scale.reset(); }},
    {"unquant_with_bias", atb::kInvalidInTensorNum, "bias",
     [](Fixture& f) { f.attrs.quant_type = QuantType::kUnquant; }},
    {"residual_missing", atb::kInvalidInTensorNum, "residual", [](Fixture& f) { f.t.in.residual.reset(); }},
    {"residual_unexpected", atb::kInvalidInTensorNum, "residual", [](Fixture& f) { f.attrs.has_residual = false; }},
    {"per_token_scale_unexpected", atb::kInvalidInTensorNum, "perTokenScale",
     [](Fixture& f) { f.t.in.per_token_scale = f.c.pool.Zeros(DType::kFloat32, {8}); }},
    {"intermediate_missing", atb::kInvalidInTensorNum, "intermediateOutput",
     [](Fixture& f) {
       f.attrs.type = Type::kAllGatherLinear;
       f.attrs.quant_type = QuantType::kUnquant;
       f.attrs.keep_intermediate = true;
     }},
    {"input_negative_dim", atb::kInvalidTensorDim, "input", [](Fixture& f) { f.t.in.input.dims = {-1, 64}; }},
    {"input_no_data", atb::kInvalidTensorAddr, "input", [](Fixture& f) { f.t.in.input.data = nullptr; }},
    {"input_strided", atb::kInvalidTensorDim, "input", [](Fixture& f) { f.t.in.input.strides = {128, 1}; }},
    // Dtypes (ini combinations).
    {"input_fp32", atb::kInvalidTensorIniMatch, "input", [](Fixture& f) { f.t.in.input.dtype = DType::kFloat32; }},
    {"w8a16_weight_fp16", atb::kInvalidTensorIniMatch, "weight",
     [](Fixture& f) { f.t.in.weight.dtype = DType::kFloat16; }},
    {"w8a16_scale_dtype", atb::kInvalidTensorIniMatch, "deqScale",
     [](Fixture& f) { f.t.in.deq_scale->dtype = DType::kBFloat16; }},
    {"w8a16_offset_dtype", atb::kInvalidTensorIniMatch, "bias",
     [](Fixture& f) { f.t.in.bias->dtype = DType::kFloat32; }},
    {"w8a16_per_token", atb::kInvalidParam, "quantType",
     [](Fixture& f) {
       f.attrs.quant_type = QuantType::kPerToken;
       f.t.in.per_token_scale = f.c.pool.Zeros(DType::kFloat32, {8});
     }},
    {"unquant_mixed_dtypes", atb::kInvalidTensorIniMatch, "input",
     [](Fixture& f) {
       f.attrs.quant_type = QuantType::kUnquant;
       f.t.in.bias.reset();
       f.t.in.deq_scale.reset();
     }},
    {"w8a8_per_group", atb::kInvalidParam, "quantType",
     [](Fixture& f) {
       f.t.in.input.dtype = DType::kInt8;
       f.attrs.quant_type = QuantType::kPerGroup;
       f.attrs.quant_group_size = 32;
     }},
    {"w8a8_fp16_out_float_scale", atb::kInvalidTensorIniMatch, "deqScale",
     [](Fixture& f) {
       f.t.in.input.dtype = DType::kInt8;
       f.t.in.deq_scale->dtype = DType::kFloat32;
     }},
    {"w8a8_scale_fp16", atb::kInvalidTensorIniMatch, "deqScale",
     [](Fixture& f) { f.t.in.input.dtype = DType::kInt8; }},
    {"w8a8_out_int32", atb::kInvalidTensorIniMatch, "outDataType",
     [](Fixture& f) {
       f.t.in.input.dtype = DType::kInt8;
       f.attrs.out_dtype = DType::kInt32;
     }},
    {"out_dtype_mismatch", atb::kInvalidTensorIniMatch, "outDataType",
     [](Fixture& f) { f.attrs.out_dtype = DType::kBFloat16; }},
    {"residual_dtype", atb::kInvalidTensorIniMatch, "residual",
     [](Fixture& f) { f.t.in.residual->dtype = DType::kBFloat16; }},
    // Shapes.
    {"input_4d", atb::kInvalidTensorDim, "input", [](Fixture& f) { Reshape(f.t.in.input, {1, 1, 8, 64}); }},
    {"weight_1d", atb::kInvalidTensorDim, "weight", [](Fixture& f) { Reshape(f.t.in.weight, {2048}); }},
    {"weight_batch_2", atb::kInvalidTensorDim, "weight", [](Fixture& f) { Reshape(f.t.in.weight, {2, 16, 64}); }},
    {"k_mismatch", atb::kInvalidTensorDim, "weight", [](Fixture& f) { Reshape(f.t.in.weight, {64, 32}); }},
    {"nz_bad_c0", atb::kInvalidTensorDim, "weight",
     [](Fixture& f) {
       f.t.in.weight.format = Format::kFractalNZ;
       Reshape(f.t.in.weight, {1, 4, 32, 16});
     }},
    {"nz_rows_not_16", atb::kInvalidTensorDim, "weight",
     [](Fixture& f) {
       f.t.in.weight.format = Format::kFractalNZ;
       Reshape(f.t.in.weight, {1, 2, 24, 32});
     }},
    {"nz_3d", atb::kInvalidTensorDim, "weight",
     [](Fixture& f) {
       f.t.in.weight.format = Format::kFractalNZ;
       Reshape(f.t.in.weight, {1, 32, 64});
     }},
    {"deq_scale_wrong_n", atb::kInvalidTensorDim, "deqScale", [](Fixture& f) { Reshape(*f.t.in.deq_scale, {31}); }},
    {"offset_wrong_shape", atb::kInvalidTensorDim, "bias", [](Fixture& f) { Reshape(*f.t.in.bias, {2, 32}); }},
    {"empty_offset_is_absent", 0, "", [](Fixture& f) { Reshape(*f.t.in.bias, {0}); }},
    {"per_tensor_scale_n", atb::kInvalidTensorDim, "deqScale",
     [](Fixture& f) { f.attrs.quant_type = QuantType::kPerTensor; }},
    {"per_group_scale_1d", atb::kInvalidTensorDim, "deqScale",
     [](Fixture& f) {
       f.attrs.quant_type = QuantType::kPerGroup;
       f.attrs.quant_group_size = 32;
     }},
    {"residual_3d", atb::kInvalidTensorDim, "residual", [](Fixture& f) { Reshape(*f.t.in.residual, {1, 1, 32}); }},
    {"residual_wrong_n", atb::kInvalidTensorDim, "residual", [](Fixture& f) { Reshape(*f.t.in.residual, {33}); }},
    {"residual_1_n_ok", 0, "", [](Fixture& f) { Reshape(*f.t.in.residual, {1, 32}); }},
    {"per_token_scale_rows", atb::kInvalidTensorDim, "perTokenScale",
     [](Fixture& f) {
       f.t.in.input.dtype = DType::kInt8;
       f.t.in.deq_scale->dtype = DType::kInt64;
       f.t.in.bias->dtype = DType::kInt32;
       f.attrs.quant_type = QuantType::kPerToken;
       f.t.in.per_token_scale = f.c.pool.Zeros(DType::kFloat32, {7});
     }},
    // InferShape divisibility.
    {"reduce_scatter_rows_not_divisible", atb::kInvalidTensorDim, "input",
     [](Fixture& f) {
       f.attrs.type = Type::kLinearReduceScatter;
       f.world = 3;
     }},
    {"agrs_rows_not_divisible", atb::kInvalidTensorDim, "input",
     [](Fixture& f) {
       f.attrs = LinearParallelAttrs{};
       f.attrs.type = Type::kAllGatherLinearReduceScatter;
       f.attrs.ag_dim = 1;
       f.attrs.rs_dim = 3;
       f.world = 3;
       f.t.in.bias.reset();
       f.t.in.deq_scale.reset();
       f.t.in.residual.reset();
       f.t.in.weight.dtype = DType::kFloat16;
     }},
    // Outputs.
    {"output_dtype", atb::kInvalidTensorIniMatch, "output", [](Fixture& f) { f.t.output.dtype = DType::kBFloat16; }},
    {"output_dims", atb::kInvalidTensorDim, "output", [](Fixture& f) { Reshape(f.t.output, {8, 31}); }},
    {"output_rank", atb::kInvalidTensorDim, "output", [](Fixture& f) { Reshape(f.t.output, {1, 8, 32}); }},
};

class LpValidate : public ::testing::TestWithParam<CaseDef> {};

TEST_P(LpValidate, ExactCodeAndParameter) {
  const CaseDef& d = GetParam();
  Fixture f;
  d.mutate(f);
  StatusOr<LpShapeInfo> got = ValidateLinearParallel(f.t, f.attrs, f.world);
  if (d.code == 0) {
    EXPECT_TRUE(got.ok()) << got.status().ToString();
    return;
  }
  ASSERT_FALSE(got.ok());
  EXPECT_EQ(got.status().code(), d.code) << got.status().ToString();
  EXPECT_EQ(got.status().message().rfind(std::string(d.param) + ":", 0), 0u) << got.status().message();
}

INSTANTIATE_TEST_SUITE_P(Rules, LpValidate, ::testing::ValuesIn(kCases),
                         [](const ::testing::TestParamInfo<CaseDef>& i) { return std::string(i.param.name); });

struct InferCase {
  Type type;
  Dims input;
  int world;
  int ag, rs;
  Dims want;
};

TEST(LpInferShape, OutputDimsPerType) {
  const InferCase cases[] = {
      {Type::kLinearAllReduce, {28, 2, 64}, 2, 0, 0, {28, 2, 32}},
      {Type::kPureLinear, {8, 64}, 4, 0, 0, {8, 32}},
      {Type::kLinearReduceScatter, {28, 2, 64}, 2, 0, 0, {14, 2, 32}},  // spec example
      {Type::kLinearReduceScatter, {1, 8, 64}, 4, 0, 0, {1, 2, 32}},    // dims[0] == 1: split dims[1]
      {Type::kLinearReduceScatter, {8, 64}, 4, 0, 0, {2, 32}},
      {Type::kAllGatherLinear, {3, 5, 64}, 4, 0, 0, {12, 5, 32}},
      {Type::kAllGatherLinearReduceScatter, {2, 64}, 8, 4, 2, {4, 32}},   // CSV case: agDim 4, rsDim 2
      {Type::kAllGatherLinearReduceScatter, {1024, 64}, 8, 2, 4, {512, 32}},
  };
  for (const InferCase& c : cases) {
    reference::LinearParallelShape s;
    s.k = 64;
    s.n = 32;
    reference::LinearParallelCase lc = reference::MakeLinearParallelCase(s);
    LinearParallelInputs in = lc.ranks[0];
    in.input = lc.pool.Zeros(DType::kFloat16, c.input);
    LinearParallelAttrs a;
    a.type = c.type;
    a.ag_dim = c.ag;
    a.rs_dim = c.rs;
    ASSERT_TRUE(CheckLinearParallelParam(a, c.world).ok());
    StatusOr<LpShapeInfo> info = InferLinearParallelShape(in, a, c.world);
    ASSERT_TRUE(info.ok()) << info.status().ToString();
    EXPECT_EQ(info->out_dims, c.want) << LinearParallelTypeName(c.type) << " " << c.input.ToString();
    if (c.type == Type::kAllGatherLinear) {
      EXPECT_EQ(info->intermediate_dims, (Dims{12, 5, 64}));
    }
  }
}

TEST(LpInferShape, NzWeightDerivesKAndNLikeAtb) {
  reference::LinearParallelShape s;
  s.k = 64;
  s.n = 48;
  s.nz_weight = true;
  s.attrs.trans_weight = false;
  reference::LinearParallelCase c = reference::MakeLinearParallelCase(s);
  StatusOr<LpShapeInfo> info = InferLinearParallelShape(c.ranks[0], c.attrs, 2);
  ASSERT_TRUE(info.ok()) << info.status().ToString();
  EXPECT_EQ(info->storage, LpWeightStorage::kNz4);
  EXPECT_EQ(info->k, 64);
  EXPECT_EQ(info->n, 48);  // dims[1] * dims[3] = 3 * 16
}

}  // namespace
}  // namespace mc2::ops
