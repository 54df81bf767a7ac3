// Argument validation of the aclnn operators: one case per rule of spec 2.4 and 3.4, each
// expecting CANN's exact status code and a message that names the parameter.
#include <gtest/gtest.h>

#include <functional>
#include <string>

#include "ops/arn/arn_validate.h"
#include "ops/moe/moe_validate.h"
#include "reference/cases.h"

namespace mc2::ops {
namespace {

// A valid ARN call (fp16 x int8, per-channel, bias, offset; b=1, s=4, k=256, n=128) that each case
// breaks in one way.
struct ArnFixture {
  reference::ArnCase c{reference::MakeArnCase({})};
  TensorView y = c.pool.Zeros(DType::kFloat16, {1, 4, 128});
  TensorView norm = c.pool.Zeros(DType::kFloat16, {1, 4, 128});
  ArnTensors t{c.ranks[0], y, norm};
  ArnAttrs attrs = c.attrs;
  int world = 2;
};

struct ArnCaseDef {
  const char* name;
  int32_t code;  // 0: valid
  const char* param;
  std::function<void(ArnFixture&)> mutate;
};

void Reshape(TensorView& v, const Dims& dims) {
  v.dims = dims;
  v.strides = RowMajorStrides(dims);
}

const ArnCaseDef kArnCases[] = {
    {"valid", 0, "", [](ArnFixture&) {}},
    {"x1_rank0", 161002, "x1", [](ArnFixture& f) { Reshape(f.t.in.x1, {}); }},
    {"k_mismatch", 161002, "x2", [](ArnFixture& f) { Reshape(f.t.in.x1, {1, 4, 255}); }},
    {"n_mismatch", 161002, "residual", [](ArnFixture& f) { Reshape(f.t.in.residual, {1, 4, 127}); }},
    {"empty_bs_is_success", 0, "", [](ArnFixture& f) { Reshape(f.t.in.x1, {1, 0, 256}); }},
    {"empty_k", 161002, "x2", [](ArnFixture& f) {
       Reshape(f.t.in.x1, {1, 4, 0});
       Reshape(f.t.in.x2, {0, 128});
     }},
    {"x1_fp32", 161002, "x1", [](ArnFixture& f) { f.t.in.x1.dtype = DType::kFloat32; }},
    {"x2_fp16", 161002, "x2", [](ArnFixture& f) { f.t.in.x2.dtype = DType::kFloat16; }},
    {"bias_dtype", 161002, "bias", [](ArnFixture& f) { f.t.in.bias->dtype = DType::kBFloat16; }},
    {"scale_dtype", 161002, "antiquantScale", [](ArnFixture& f) { f.t.in.antiquant_scale.dtype = DType::kFloat32; }},
    {"offset_dtype", 161002, "antiquantOffset", [](ArnFixture& f) { f.t.in.antiquant_offset->dtype = DType::kBFloat16; }},
    {"residual_dtype", 161002, "residual", [](ArnFixture& f) { f.t.in.residual.dtype = DType::kBFloat16; }},
    {"gamma_dtype", 161002, "gamma", [](ArnFixture& f) { f.t.in.gamma.dtype = DType::kBFloat16; }},
    {"y_dtype", 161002, "y", [](ArnFixture& f) { f.t.y.dtype = DType::kBFloat16; }},
    {"normout_dtype", 161002, "normOut", [](ArnFixture& f) { f.t.norm_out.dtype = DType::kFloat32; }},
    {"x2_nz", 161002, "x2", [](ArnFixture& f) { f.t.in.x2.format = Format::kFractalNZ; }},
    {"x1_strided", 161002, "x1", [](ArnFixture& f) { f.t.in.x1.strides = {1024, 256, 2}; }},
    {"x2_bad_strides", 161002, "x2", [](ArnFixture& f) { f.t.in.x2.strides = {256, 2}; }},
    {"x1_4d", 561002, "x1", [](ArnFixture& f) { Reshape(f.t.in.x1, {1, 1, 4, 256}); }},
    {"residual_2d", 561002, "residual", [](ArnFixture& f) {
       Reshape(f.t.in.residual, {4, 128});
       Reshape(f.t.y, {4, 128});
       Reshape(f.t.norm_out, {4, 128});
     }},
    {"y_shape", 561002, "y", [](ArnFixture& f) { Reshape(f.t.y, {1, 2, 128}); }},
    {"normout_shape", 561002, "normOut", [](ArnFixture& f) { Reshape(f.t.norm_out, {2, 2, 128}); }},
    {"gamma_shape", 561002, "gamma", [](ArnFixture& f) { Reshape(f.t.in.gamma, {64}); }},
    {"rows_mismatch", 561002, "x1", [](ArnFixture& f) { Reshape(f.t.in.x1, {2, 4, 256}); }},
    {"epsilon_zero", 561002, "epsilon", [](ArnFixture& f) { f.attrs.epsilon = 0; }},
    {"epsilon_one", 561002, "epsilon", [](ArnFixture& f) { f.attrs.epsilon = 1; }},
    {"bias_shape", 561002, "bias", [](ArnFixture& f) { Reshape(*f.t.in.bias, {1, 128}); }},
    {"group_not_32", 561002, "antiquantGroupSize", [](ArnFixture& f) { f.attrs.antiquant_group_size = 48; }},
    {"group_ge_k", 561002, "antiquantGroupSize", [](ArnFixture& f) {
       f.attrs.antiquant_group_size = 256;
       Reshape(f.t.in.antiquant_scale, {1, 128});
       Reshape(*f.t.in.antiquant_offset, {1, 128});
     }},
    {"group_scale_shape", 561002, "antiquantScale", [](ArnFixture& f) { f.attrs.antiquant_group_size = 64; }},
    {"group_valid", 0, "", [](ArnFixture& f) {
       f.attrs.antiquant_group_size = 64;
       Reshape(f.t.in.antiquant_scale, {4, 128});
       Reshape(*f.t.in.antiquant_offset, {4, 128});
     }},
    {"scale_bad_channel", 561002, "antiquantScale", [](ArnFixture& f) { Reshape(f.t.in.antiquant_scale, {64}); }},
    {"offset_shape", 561002, "antiquantOffset", [](ArnFixture& f) { Reshape(*f.t.in.antiquant_offset, {1, 128}); }},
    {"per_tensor_valid", 0, "", [](ArnFixture& f) {
       Reshape(f.t.in.antiquant_scale, {1});
       f.t.in.antiquant_offset.reset();
       f.t.in.bias.reset();
     }},
    {"three_ranks", 561002, "group", [](ArnFixture& f) { f.world = 3; }},
    {"k_too_big", 561002, "x2", [](ArnFixture& f) {
       Reshape(f.t.in.x1, {1, 4, 65536});
       Reshape(f.t.in.x2, {65536, 128});
     }},
};

class ArnValidateTest : public ::testing::TestWithParam<ArnCaseDef> {};

TEST_P(ArnValidateTest, GivesCannsCode) {
  const ArnCaseDef& def = GetParam();
  ArnFixture f;
  def.mutate(f);
  bool empty = false;
  Status s = ValidateArn(f.t, f.attrs, f.world, &empty);
  EXPECT_EQ(s.code(), def.code) << s.ToString();
  if (def.code != 0) {
    EXPECT_EQ(s.message().rfind(std::string(def.param) + ":", 0), 0u) << s.message();
  }
}

INSTANTIATE_TEST_SUITE_P(Rules, ArnValidateTest, ::testing::ValuesIn(kArnCases),
                         [](const auto& info) { return std::string(info.param.name); });

TEST(ArnValidateTest, EmptyCallIsReported) {
  ArnFixture f;
  Reshape(f.t.in.residual, {1, 4, 0});
  Reshape(f.t.in.x2, {256, 0});
  bool empty = false;
  ASSERT_TRUE(ValidateArn(f.t, f.attrs, f.world, &empty).ok());
  EXPECT_TRUE(empty);
}

// A valid MoE call: fp16, ep 2, tp 2, shard type 0, E 4, C 8, H 64, M 32, bias, y2 and y3.
struct MoeFixture {
  reference::MoeCase c{reference::MakeMoeCase({})};
  MoeTensors t{c.ranks[0], c.pool.Zeros(DType::kFloat16, {2, 16, 16}), c.pool.Zeros(DType::kFloat16, {2, 16, 64}),
               c.pool.Zeros(DType::kFloat16, {2, 16, 16})};
  MoeAttrs attrs = c.attrs;
};

struct MoeCaseDef {
  const char* name;
  int32_t code;
  const char* param;
  std::function<void(MoeFixture&)> mutate;
};

const MoeCaseDef kMoeCases[] = {
    {"valid", 0, "", [](MoeFixture&) {}},
    {"x_fp32", 161002, "x", [](MoeFixture& f) { f.t.in.x.dtype = DType::kFloat32; }},
    {"weight_dtype", 161002, "weight", [](MoeFixture& f) { f.t.in.weight.dtype = DType::kBFloat16; }},
    {"y1_dtype", 161002, "y1Out", [](MoeFixture& f) { f.t.y1.dtype = DType::kBFloat16; }},
    {"bias_fp32_for_fp16", 161002, "biasOptional", [](MoeFixture& f) { f.t.in.bias->dtype = DType::kFloat32; }},
    {"y2_dtype", 161002, "y2OutOptional", [](MoeFixture& f) { f.t.y2->dtype = DType::kFloat32; }},
    {"y3_dtype", 161002, "y3OutOptional", [](MoeFixture& f) { f.t.y3->dtype = DType::kFloat32; }},
    {"shard_type_2", 161002, "xShardType", [](MoeFixture& f) { f.attrs.x_shard_type = 2; }},
    {"act_5", 161002, "actType", [](MoeFixture& f) { f.attrs.act_type = static_cast<ActType>(5); }},
    {"ep_3", 161002, "epWorldSize", [](MoeFixture& f) { f.attrs.ep_world_size = 3; }},
    {"tp_1", 161002, "tpWorldSize", [](MoeFixture& f) { f.attrs.tp_world_size = 1; }},
    {"x_2d", 161002, "x", [](MoeFixture& f) { Reshape(f.t.in.x, {4, 128}); }},
    {"bias_1d", 161002, "biasOptional", [](MoeFixture& f) { Reshape(*f.t.in.bias, {16}); }},
    {"weight_e", 161002, "weight", [](MoeFixture& f) { Reshape(f.t.in.weight, {1, 64, 16}); }},
    {"y1_dim0", 161002, "y1Out", [](MoeFixture& f) { Reshape(f.t.y1, {1, 16, 16}); }},
    {"y1_dim2", 161002, "y1Out", [](MoeFixture& f) { Reshape(f.t.y1, {2, 16, 8}); }},
    {"x_h_shard0", 161002, "x", [](MoeFixture& f) { Reshape(f.t.in.x, {4, 8, 16}); }},
    {"y1_dim1_shard0", 161002, "y1Out", [](MoeFixture& f) { Reshape(f.t.y1, {2, 8, 16}); }},
    {"bias_dim0", 161002, "biasOptional", [](MoeFixture& f) { Reshape(*f.t.in.bias, {1, 1, 16}); }},
    {"bias_dim1", 161002, "biasOptional", [](MoeFixture& f) { Reshape(*f.t.in.bias, {2, 2, 16}); }},
    {"bias_last", 161002, "biasOptional", [](MoeFixture& f) { Reshape(*f.t.in.bias, {2, 8}); }},
    {"bias_2d_valid", 0, "", [](MoeFixture& f) { Reshape(*f.t.in.bias, {2, 16}); }},
    {"y2_shape", 161002, "y2OutOptional", [](MoeFixture& f) { Reshape(*f.t.y2, {2, 16, 32}); }},
    {"y3_shape", 161002, "y3OutOptional", [](MoeFixture& f) { Reshape(*f.t.y3, {2, 16, 32}); }},
    {"y3_without_act", 161002, "y3OutOptional", [](MoeFixture& f) { f.attrs.act_type = ActType::kNone; }},
    {"no_y3_without_act", 0, "", [](MoeFixture& f) {
       f.attrs.act_type = ActType::kNone;
       f.t.y3.reset();
     }},
    {"e_too_big", 161002, "weight", [](MoeFixture& f) {
       Reshape(f.t.in.x, {66, 8, 32});
       Reshape(f.t.in.weight, {33, 64, 16});
       Reshape(f.t.y1, {33, 16, 16});
       f.t.in.bias.reset();
       f.t.y2.reset();
       f.t.y3.reset();
     }},
    {"weight_bad_strides", 161002, "weight", [](MoeFixture& f) { f.t.in.weight.strides = {1024, 1, 1}; }},
};

class MoeValidateTest : public ::testing::TestWithParam<MoeCaseDef> {};

TEST_P(MoeValidateTest, GivesCannsCode) {
  const MoeCaseDef& def = GetParam();
  MoeFixture f;
  def.mutate(f);
  Status s = ValidateMoe(f.t, f.attrs);
  EXPECT_EQ(s.code(), def.code) << s.ToString();
  if (def.code != 0) {
    EXPECT_EQ(s.message().rfind(std::string(def.param) + ":", 0), 0u) << s.message();
  }
}

INSTANTIATE_TEST_SUITE_P(Rules, MoeValidateTest, ::testing::ValuesIn(kMoeCases),
                         [](const auto& info) { return std::string(info.param.name); });

TEST(MoeValidateTest, ShardTypeOneShapes) {
  reference::MoeShape shape;
  shape.x_shard_type = 1;
  reference::MoeCase c = reference::MakeMoeCase(shape);
  // x (4, 4, 64), weight (2, 64, 16): y1 (2, ep * tp * 4 = 16, 16).
  MoeTensors t{c.ranks[0], c.pool.Zeros(DType::kFloat16, {2, 16, 16}), std::nullopt, std::nullopt};
  EXPECT_TRUE(ValidateMoe(t, c.attrs).ok());
  Reshape(t.y1, {2, 8, 16});
  EXPECT_EQ(ValidateMoe(t, c.attrs).code(), 161002);
}

}  // namespace
}  // namespace mc2::ops
