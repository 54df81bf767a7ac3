// The ATB entry points around an operation (spec 4.1) beyond Create / Setup / Execute:
// CloneOperationParam, UpdateOperationParam, SetExecuteStreamId / GetExecuteStreamId with
// Context::SetExecuteStreams, and Utils::GetAtbVersion / SetLogLevel / ResetLogLevel /
// GetTensorNumel. One rank (an HcclCommInitAll communicator of one device); inputs are small
// integers, so every product, sum and fp16 rounding is exact and the expected outputs are worked
// out here.
#include <cstdlib>
#include <cstring>
#include <future>
#include <string>
#include <tuple>
#include <vector>

#include <gtest/gtest.h>

#include "acl/acl.h"
#include "api/streams.h"
#include "atb/atb_infer.h"
#include "core/float16.h"
#include "hccl/hccl.h"

namespace {

using Param = atb::infer::LinearParallelParam;

constexpr int kM = 3, kK = 8, kN = 4;

float X(int i, int k) { return static_cast<float>((i + k) % 5); }
float W(int n, int k) { return static_cast<float>((n * 3 + k) % 4 - 1); }
float R(int n) { return static_cast<float>(n + 1); }

atb::Tensor Describe(std::vector<int64_t> dims, std::vector<uint16_t>* data) {
  atb::Tensor t;
  t.desc.dtype = ACL_FLOAT16;
  t.desc.format = ACL_FORMAT_ND;
  t.desc.shape.dimNum = dims.size();
  for (size_t i = 0; i < dims.size(); ++i) t.desc.shape.dims[i] = dims[i];
  t.deviceData = data->data();
  t.dataSize = data->size() * sizeof(uint16_t);
  return t;
}

class AtbParamStream : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(aclrtSetDevice(0), ACL_SUCCESS);
    int32_t device = 0;
    ASSERT_EQ(HcclCommInitAll(1, &device, &comm_), HCCL_SUCCESS);
    ASSERT_EQ(aclrtCreateStream(&s0_), ACL_SUCCESS);
    ASSERT_EQ(aclrtCreateStream(&s1_), ACL_SUCCESS);
    ASSERT_EQ(atb::CreateContext(&ctx_), atb::NO_ERROR);
    ctx_->SetExecuteStream(s0_);
    for (int i = 0; i < kM; ++i)
      for (int k = 0; k < kK; ++k) x_.push_back(mc2::FloatToHalf(X(i, k)));
    for (int n = 0; n < kN; ++n)
      for (int k = 0; k < kK; ++k) w_.push_back(mc2::FloatToHalf(W(n, k)));
    for (int n = 0; n < kN; ++n) residual_.push_back(mc2::FloatToHalf(R(n)));
    out_.assign(kM * kN, 0x7e00);  // NaN until written
  }
  void TearDown() override {
    if (op_ != nullptr) atb::DestroyOperation(op_);
    atb::DestroyContext(ctx_);
    aclrtDestroyStream(s0_);
    aclrtDestroyStream(s1_);
    HcclCommDestroy(comm_);
  }

  Param BaseParam() const {
    Param p;
    p.backend = "lcoc";
    p.type = Param::PURE_LINEAR;
    p.rank = 0;
    p.rankSize = 1;
    p.hcclComm = comm_;
    p.commMode = atb::infer::COMM_MULTI_THREAD;
    return p;
  }

  atb::VariantPack Pack(bool residual) {
    atb::VariantPack pack;
    pack.inTensors.push_back(Describe({kM, kK}, &x_));
    pack.inTensors.push_back(Describe({kN, kK}, &w_));
    if (residual) pack.inTensors.push_back(Describe({kN}, &residual_));
    pack.outTensors.push_back(Describe({kM, kN}, &out_));
    return pack;
  }

  // Setup + Execute of `pack` on the operation; the codes of the two calls.
  std::pair<atb::Status, atb::Status> Run(const atb::VariantPack& pack) {
    uint64_t size = 0;
    const atb::Status setup = op_->Setup(pack, size, ctx_);
    if (setup != atb::NO_ERROR) return {setup, atb::NO_ERROR};
    workspace_.resize(size);
    return {setup, op_->Execute(pack, workspace_.data(), size, ctx_)};
  }

  // out_ against x W^T (+ residual), exactly; "" or the first difference.
  std::string CheckOut(bool residual) const {
    for (int i = 0; i < kM; ++i) {
      for (int n = 0; n < kN; ++n) {
        float want = residual ? R(n) : 0.0f;
        float product = 0;
        for (int k = 0; k < kK; ++k) product += X(i, k) * W(n, k);
        want += product;
        const float got = mc2::HalfToFloat(out_[i * kN + n]);
        if (got != want) {
          return "out[" + std::to_string(i) + "][" + std::to_string(n) + "] = " + std::to_string(got) + ", want " +
                 std::to_string(want);
        }
      }
    }
    return "";
  }

  HcclComm comm_ = nullptr;
  aclrtStream s0_ = nullptr, s1_ = nullptr;
  atb::Context* ctx_ = nullptr;
  atb::Operation* op_ = nullptr;
  std::vector<uint16_t> x_, w_, residual_, out_;
  std::vector<uint8_t> workspace_;
};

TEST_F(AtbParamStream, CloneReturnsTheCreatedParam) {
  Param p = BaseParam();
  p.type = Param::LINEAR_ALL_REDUCE;
  p.hasResidual = true;
  p.transWeight = false;
  p.commDomain = "clone-domain";
  p.twoDimTPInfo.innerDimIsAg = 0;
  ASSERT_EQ(atb::CreateOperation(p, &op_), atb::NO_ERROR);
  Param got;
  ASSERT_EQ(atb::CloneOperationParam(op_, got), atb::NO_ERROR);
  EXPECT_EQ(got.backend, "lcoc");
  EXPECT_EQ(got.type, Param::LINEAR_ALL_REDUCE);
  EXPECT_TRUE(got.hasResidual);
  EXPECT_FALSE(got.transWeight);
  EXPECT_EQ(got.commDomain, "clone-domain");
  EXPECT_EQ(got.hcclComm, comm_);
  EXPECT_EQ(got.commMode, atb::infer::COMM_MULTI_THREAD);
  EXPECT_EQ(got.twoDimTPInfo.innerDimIsAg, 0);
}

TEST_F(AtbParamStream, CloneAndUpdateRefuseBadOperations) {
  Param p;
  EXPECT_EQ(atb::CloneOperationParam(static_cast<const atb::Operation*>(nullptr), p), atb::ERROR_INVALID_PARAM);
  EXPECT_EQ(atb::UpdateOperationParam(static_cast<atb::Operation*>(nullptr), p), atb::ERROR_INVALID_PARAM);
  int not_an_operation = 0;
  auto* fake = reinterpret_cast<atb::Operation*>(&not_an_operation);
  EXPECT_EQ(atb::CloneOperationParam(fake, p), atb::ERROR_INVALID_OPERATION_ADDR);
  EXPECT_EQ(atb::UpdateOperationParam(fake, p), atb::ERROR_INVALID_OPERATION_ADDR);
  EXPECT_EQ(atb::SetExecuteStreamId(fake, 1), atb::ERROR_INVALID_OPERATION_ADDR);
  EXPECT_EQ(atb::SetExecuteStreamId(nullptr, 1), atb::ERROR_INVALID_PARAM);
  EXPECT_EQ(atb::GetExecuteStreamId(fake), 0u);
}

// A parameter CreateOperation would refuse is refused with its code, and the old one stays.
TEST_F(AtbParamStream, UpdateWithABadParamKeepsTheOldOne) {
  ASSERT_EQ(atb::CreateOperation(BaseParam(), &op_), atb::NO_ERROR);
  Param bad = BaseParam();
  bad.backend = "nccl";
  EXPECT_EQ(atb::UpdateOperationParam(op_, bad), atb::ERROR_INVALID_PARAM);
  bad = BaseParam();
  bad.rsv[3] = 1;
  EXPECT_EQ(atb::UpdateOperationParam(op_, bad), atb::ERROR_INVALID_PARAM);
  bad = BaseParam();
  bad.type = Param::ALLTOALLVC_ALL_GATHER_GMM;
  EXPECT_EQ(atb::UpdateOperationParam(op_, bad), atb::ERROR_INVALID_PARAM);
  Param got;
  ASSERT_EQ(atb::CloneOperationParam(op_, got), atb::NO_ERROR);
  EXPECT_EQ(got.backend, "lcoc");
  EXPECT_EQ(got.type, Param::PURE_LINEAR);
  EXPECT_EQ(op_->GetInputNum(), 2u);
  const atb::VariantPack pack = Pack(false);
  const auto [setup, execute] = Run(pack);
  ASSERT_EQ(setup, atb::NO_ERROR);
  ASSERT_EQ(execute, atb::NO_ERROR);
  ASSERT_EQ(aclrtSynchronizeStream(s0_), ACL_SUCCESS) << aclGetRecentErrMsg();
  EXPECT_EQ(CheckOut(false), "");
}

// Update to hasResidual: the tensor list grows, the old Setup no longer counts, and the result is
// the new parameter's.
TEST_F(AtbParamStream, UpdateChangesTheOperation) {
  ASSERT_EQ(atb::CreateOperation(BaseParam(), &op_), atb::NO_ERROR);
  const atb::VariantPack plain = Pack(false);
  auto [setup, execute] = Run(plain);
  ASSERT_EQ(setup, atb::NO_ERROR);
  ASSERT_EQ(execute, atb::NO_ERROR);
  ASSERT_EQ(aclrtSynchronizeStream(s0_), ACL_SUCCESS) << aclGetRecentErrMsg();
  ASSERT_EQ(CheckOut(false), "");

  Param p = BaseParam();
  p.hasResidual = true;
  ASSERT_EQ(atb::UpdateOperationParam(op_, p), atb::NO_ERROR);
  EXPECT_EQ(op_->GetInputNum(), 3u);
  EXPECT_EQ(op_->Execute(plain, workspace_.data(), workspace_.size(), ctx_), atb::ERROR_INVALID_PARAM)
      << "Execute after UpdateOperationParam needs a new Setup";
  uint64_t size = 0;
  EXPECT_EQ(op_->Setup(plain, size, ctx_), atb::ERROR_INVALID_IN_TENSOR_NUM);
  out_.assign(out_.size(), 0x7e00);
  const atb::VariantPack with_residual = Pack(true);
  std::tie(setup, execute) = Run(with_residual);
  ASSERT_EQ(setup, atb::NO_ERROR);
  ASSERT_EQ(execute, atb::NO_ERROR);
  ASSERT_EQ(aclrtSynchronizeStream(s0_), ACL_SUCCESS) << aclGetRecentErrMsg();
  EXPECT_EQ(CheckOut(true), "");
}

// SetExecuteStreamId(op, 1) runs the operation on the context's second stream: with the first
// stream held by a task that waits, stream 1 still completes the work.
TEST_F(AtbParamStream, StreamIdPicksTheContextsStream) {
  ASSERT_EQ(atb::CreateOperation(BaseParam(), &op_), atb::NO_ERROR);
  EXPECT_EQ(atb::GetExecuteStreamId(op_), 0u);
  ASSERT_EQ(ctx_->SetExecuteStreams({s0_, s1_}), atb::NO_ERROR);
  ASSERT_EQ(atb::SetExecuteStreamId(op_, 1), atb::NO_ERROR);
  EXPECT_EQ(atb::GetExecuteStreamId(op_), 1u);

  std::promise<void> release;
  std::shared_future<void> released = release.get_future().share();
  mc2::api::Stream* first = mc2::api::FindStream(s0_);
  ASSERT_NE(first, nullptr);
  first->Enqueue([released]() -> mc2::Status {
    released.wait();
    return mc2::Status::Ok();
  });
  const atb::VariantPack pack = Pack(false);
  const auto [setup, execute] = Run(pack);
  EXPECT_EQ(setup, atb::NO_ERROR);
  EXPECT_EQ(execute, atb::NO_ERROR);
  EXPECT_EQ(aclrtSynchronizeStream(s1_), ACL_SUCCESS) << aclGetRecentErrMsg();
  EXPECT_EQ(CheckOut(false), "") << "stream 1 drained but the output is not written: the work went elsewhere";

  // A stream id the context has no stream for.
  // (No ASSERT until the first stream is released: TearDown would wait for it.)
  EXPECT_EQ(atb::SetExecuteStreamId(op_, 2), atb::NO_ERROR);
  uint64_t size = 0;
  EXPECT_EQ(op_->Setup(pack, size, ctx_), atb::NO_ERROR);
  workspace_.resize(size);
  EXPECT_EQ(op_->Execute(pack, workspace_.data(), size, ctx_), atb::ERROR_INVALID_PARAM);
  EXPECT_NE(std::string(aclGetRecentErrMsg()).find("streamId"), std::string::npos) << aclGetRecentErrMsg();
  release.set_value();
  EXPECT_EQ(aclrtSynchronizeStream(s0_), ACL_SUCCESS);
}

TEST(AtbUtils, VersionLogLevelAndNumel) {
  EXPECT_EQ(atb::Utils::GetAtbVersion().rfind("mc2 ", 0), 0u) << atb::Utils::GetAtbVersion();
  atb::TensorDesc d;
  d.shape.dimNum = 3;
  d.shape.dims[0] = 2;
  d.shape.dims[1] = 3;
  d.shape.dims[2] = 4;
  EXPECT_EQ(atb::Utils::GetTensorNumel(d), 24u);
  d.shape.dims[1] = -3;
  EXPECT_EQ(atb::Utils::GetTensorNumel(d), 0u);

  // An ATB error (DestroyContext of a null context) with each log level.
  auto stderr_of_an_error = [] {
    testing::internal::CaptureStderr();
    EXPECT_EQ(atb::DestroyContext(nullptr), atb::ERROR_INVALID_PARAM);
    return testing::internal::GetCapturedStderr();
  };
  ASSERT_EQ(atb::Utils::SetLogLevel(atb::NONE), atb::NO_ERROR);
  EXPECT_EQ(stderr_of_an_error(), "");
  EXPECT_NE(std::string(aclGetRecentErrMsg()).find("DestroyContext"), std::string::npos) << "kept for aclGetRecentErrMsg";
  ASSERT_EQ(atb::Utils::SetLogLevel(atb::ERROR), atb::NO_ERROR);
  EXPECT_NE(stderr_of_an_error().find("DestroyContext: context is null"), std::string::npos);
  ASSERT_EQ(atb::Utils::SetLogLevel(atb::DEBUG), atb::NO_ERROR);
  EXPECT_NE(stderr_of_an_error().find("DestroyContext: context is null"), std::string::npos);
  EXPECT_EQ(atb::Utils::SetLogLevel(static_cast<atb::LogLevel>(7)), atb::ERROR_INVALID_PARAM);
  ASSERT_EQ(atb::Utils::ResetLogLevel(), atb::NO_ERROR);
  const char* quiet = std::getenv("MC2_API_QUIET");
  const bool env_quiet = quiet != nullptr && quiet[0] != '\0' && std::strcmp(quiet, "0") != 0;
  EXPECT_EQ(stderr_of_an_error().empty(), env_quiet);
}

}  // namespace

namespace {

// ATB's CreateContext(context, hostTilingBlockNum, deviceTilingBlockNum): the ranges [128, 1024]
// and [32, 1024] inclusive, a null context, and a context that works like the plain overload's.
TEST(AtbContextTilingBlocks, RangesAndNull) {
  atb::Context* ctx = nullptr;
  EXPECT_EQ(atb::CreateContext(nullptr, 128, 32), atb::ERROR_INVALID_PARAM);
  EXPECT_EQ(atb::CreateContext(&ctx, 127, 32), atb::ERROR_INVALID_PARAM);
  EXPECT_EQ(atb::CreateContext(&ctx, 1025, 32), atb::ERROR_INVALID_PARAM);
  EXPECT_EQ(atb::CreateContext(&ctx, 128, 31), atb::ERROR_INVALID_PARAM);
  EXPECT_EQ(atb::CreateContext(&ctx, 128, 1025), atb::ERROR_INVALID_PARAM);
  EXPECT_EQ(ctx, nullptr);
  for (auto [host, device] : {std::pair<uint32_t, uint32_t>{128, 32}, {1024, 1024}}) {
    ASSERT_EQ(atb::CreateContext(&ctx, host, device), atb::NO_ERROR);
    ASSERT_NE(ctx, nullptr);
    EXPECT_EQ(ctx->GetExecuteStream(), nullptr);
    EXPECT_EQ(atb::DestroyContext(ctx), atb::NO_ERROR);
    ctx = nullptr;
  }
}

}  // namespace
