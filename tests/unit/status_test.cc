// Status: codes keep CANN's values, messages carry context, and cross-family mapping keeps meaning.
#include "core/status.h"

#include <gtest/gtest.h>

#include "core/status_or.h"

namespace mc2 {
namespace {

TEST(StatusTest, CodesHaveCannValues) {
  EXPECT_EQ(aclnn::kErrParamNullptr, 161001);
  EXPECT_EQ(aclnn::kErrParamInvalid, 161002);
  EXPECT_EQ(aclnn::kErrInnerTiling, 561002);
  EXPECT_EQ(hccl::kETimeout, 9);
  EXPECT_EQ(hccl::kERemote, 21);
  EXPECT_EQ(atb::kInvalidTensorDim, 8);
  EXPECT_EQ(atb::kInvalidTensorIniMatch, 13);
  EXPECT_EQ(atb::kCommEmpty, 28);
  EXPECT_EQ(acl::kErrInvalidParam, 100000);
}

TEST(StatusTest, OkAndErrors) {
  EXPECT_TRUE(Status::Ok().ok());
  Status s = AclnnError(aclnn::kErrParamInvalid, "x2: dim 0 is ", 4095, " but x1's last dim is ", 4096,
                        " (k must match)");
  EXPECT_FALSE(s.ok());
  EXPECT_EQ(s.space(), ErrorSpace::kAclnn);
  EXPECT_EQ(s.code(), 161002);
  EXPECT_EQ(s.ToString(),
            "161002 (ACLNN_ERR_PARAM_INVALID): x2: dim 0 is 4095 but x1's last dim is 4096 (k must match)");
  s.Prepend("rank 3");
  EXPECT_EQ(s.message(), "rank 3: x2: dim 0 is 4095 but x1's last dim is 4096 (k must match)");
  // A zero code is success whatever the family.
  EXPECT_TRUE(Status(ErrorSpace::kHccl, 0, "").ok());
}

TEST(StatusTest, NamesOfCodes) {
  EXPECT_STREQ(CodeName(ErrorSpace::kHccl, hccl::kETimeout), "HCCL_E_TIMEOUT");
  EXPECT_STREQ(CodeName(ErrorSpace::kHccl, hccl::kEOom), "HCCL_E_OOM");
  EXPECT_STREQ(CodeName(ErrorSpace::kAtb, atb::kCommEmpty), "ERROR_COMM_EMPTY");
  EXPECT_STREQ(CodeName(ErrorSpace::kAtb, 29), "ERROR_COPY_HOST_MEMORY_FAIL");
  EXPECT_STREQ(CodeName(ErrorSpace::kAclnn, 561002), "ACLNN_ERR_INNER_TILING_ERROR");
  EXPECT_STREQ(CodeName(ErrorSpace::kAtb, 999), "UNKNOWN");
  EXPECT_STREQ(CodeName(ErrorSpace::kHccl, -1), "UNKNOWN");
}

TEST(StatusTest, MappingBetweenFamiliesKeepsMeaning) {
  EXPECT_EQ(HcclError(hccl::kETimeout, "rank 1 gone").ToAclnn(), aclnn::kErrInner);
  EXPECT_EQ(HcclError(hccl::kEPara, "").ToAclnn(), aclnn::kErrParamInvalid);
  EXPECT_EQ(HcclError(hccl::kETimeout, "").ToAtb(), atb::kHcclFail);
  EXPECT_EQ(AclnnError(aclnn::kErrParamNullptr, "").ToHccl(), hccl::kEPtr);
  EXPECT_EQ(AtbError(atb::kInvalidTensorDim, "").ToAclnn(), aclnn::kErrParamInvalid);
  EXPECT_EQ(AtbError(atb::kInvalidTensorDim, "").ToAtb(), atb::kInvalidTensorDim);
  EXPECT_EQ(Status::Ok().ToAtb(), 0);
  EXPECT_EQ(AclError(acl::kErrBadAlloc, "").ToHccl(), hccl::kEMemory);
}

StatusOr<int> Half(int v) {
  if (v % 2) return AclnnError(aclnn::kErrParamInvalid, "v: ", v, " is odd");
  return v / 2;
}

Status UseHalf(int v, int* out) {
  MC2_ASSIGN_OR_RETURN(int h, Half(v));
  MC2_RETURN_IF_ERROR(Status::Ok());
  *out = h;
  return Status::Ok();
}

TEST(StatusTest, StatusOrAndMacros) {
  int out = 0;
  EXPECT_TRUE(UseHalf(8, &out).ok());
  EXPECT_EQ(out, 4);
  Status s = UseHalf(7, &out);
  EXPECT_EQ(s.code(), 161002);
  EXPECT_EQ(s.message(), "v: 7 is odd");
}

}  // namespace
}  // namespace mc2
