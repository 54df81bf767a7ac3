/* The public CANN-compatible C headers — every one of them: acl/, aclnn/, aclnnop/, hccl/ — compile
 * together as C99 and a C program links against the CANN library names. Exercises a few calls
 * through the shared library. (tests/api/CMakeLists.txt also compiles each header alone, as C99
 * and as C++17, so a header that is added later is checked without editing this list.) */
#include <stdio.h>
#include <string.h>

#include "acl/acl.h"
#include "acl/acl_base.h"
#include "acl/acl_rt.h"
#include "aclnn/acl_meta.h"
#include "aclnnop/aclnn_all_to_all_all_gather_batch_matmul.h"
#include "aclnnop/aclnn_inplace_weight_quant_matmul_all_reduce_add_rms_norm.h"
#include "aclnnop/aclnn_weight_quant_matmul_all_reduce_add_rms_norm.h"
#include "hccl/hccl.h"
#include "hccl/hccl_types.h"

int main(void) {
  int failures = 0;
  if (aclInit(NULL) != ACL_SUCCESS) ++failures;
  if (aclInit(NULL) != ACL_ERROR_REPEAT_INITIALIZE) ++failures;
  if (aclrtSetDevice(0) != ACL_SUCCESS) ++failures;
  void *p = NULL;
  if (aclrtMalloc(&p, 100, ACL_MEM_MALLOC_HUGE_FIRST) != ACL_SUCCESS) ++failures;
  int64_t dims[2] = {2, 3};
  int64_t strides[2] = {3, 1};
  aclTensor *t = aclCreateTensor(dims, 2, ACL_FLOAT16, strides, 0, ACL_FORMAT_ND, dims, 2, p);
  aclDataType dt = ACL_DT_UNDEFINED;
  if (t == NULL || aclGetDataType(t, &dt) != ACLNN_SUCCESS || dt != ACL_FLOAT16) ++failures;
  aclDestroyTensor(t);
  /* C callers may pass any int as an enum: values acl_base.h does not name give a null tensor. */
  if (aclCreateTensor(dims, 2, (aclDataType)1000, strides, 0, ACL_FORMAT_ND, dims, 2, p) != NULL) ++failures;
  if (aclCreateTensor(dims, 2, ACL_FLOAT16, strides, 0, (aclFormat)-7, dims, 2, p) != NULL) ++failures;
  HcclComm comm = NULL;
  int32_t devices[1] = {0};
  char name[COMM_NAME_MAX_LENGTH];
  if (HcclCommInitAll(1, devices, &comm) != HCCL_SUCCESS) ++failures;
  if (HcclGetCommName(comm, name) != HCCL_SUCCESS || strlen(name) == 0) ++failures;
  uint64_t ws = 0;
  aclOpExecutor *exec = NULL;
  if (aclnnWeightQuantMatmulAllReduceAddRmsNormGetWorkspaceSize(NULL, NULL, NULL, NULL, NULL, NULL, NULL, 1e-6, name,
                                                               "sum", 0, 1, 0, NULL, NULL, &ws, &exec) !=
      ACLNN_ERR_PARAM_NULLPTR)
    ++failures;
  if (aclnnAlltoAllAllGatherBatchMatMulGetWorkspaceSize(NULL, NULL, NULL, name, name, 1, 1, 0, 0, NULL, NULL, NULL, &ws,
                                                        &exec) != ACLNN_ERR_PARAM_NULLPTR)
    ++failures;
  HcclCommDestroy(comm);
  aclrtFree(p);
  aclrtResetDevice(0);
  if (aclFinalize() != ACL_SUCCESS) ++failures;
  printf("%s\n", failures == 0 ? "PASS" : "FAIL");
  return failures == 0 ? 0 : 1;
}
