/* aclnnAlltoAllAllGatherBatchMatMul (spec section 3): the MoE expert layer over an EP x TP grid.
 * On the rank with EP rank p (in groupEp) and TP rank t (in groupTp):
 *   A  = AllToAll over EP of x split along dim 0 (chunk i to EP rank i; received chunks stacked
 *        along dim 1 in source order);
 *   y2 = AllGather of A over TP, along H (xShardType 0) or along C (xShardType 1);
 *   y3 = y2 @ weight + bias (per local expert, rounded to x's dtype), y1 = act(y3),
 *        actType 0 none, 1 GELU, 2 SiLU, 3 ReLU, 4 FastGELU.
 * groupEp / groupTp are names from HcclGetCommName of this rank's two communicators. Two phases as
 * every aclnn operator: GetWorkspaceSize validates (CANN's order and codes) and returns a
 * single-use executor; the second call enqueues the work on `stream` and releases the executor.
 * Plain C. */
#ifndef MC2_ACLNNOP_ACLNN_ALL_TO_ALL_ALL_GATHER_BATCH_MATMUL_H_
#define MC2_ACLNNOP_ACLNN_ALL_TO_ALL_ALL_GATHER_BATCH_MATMUL_H_

#include "acl/acl_rt.h"
#include "aclnn/acl_meta.h"

#ifdef __cplusplus
extern "C" {
#endif

ACL_FUNC_VISIBILITY aclnnStatus aclnnAlltoAllAllGatherBatchMatMulGetWorkspaceSize(
    const aclTensor *x, const aclTensor *weight, const aclTensor *biasOptional, const char *groupEp,
    const char *groupTp, int64_t epWorldSize, int64_t tpWorldSize, int64_t xShardType, int64_t actType,
    aclTensor *y1Out, aclTensor *y2OutOptional, aclTensor *y3OutOptional, uint64_t *workspaceSize,
    aclOpExecutor **executor);

ACL_FUNC_VISIBILITY aclnnStatus aclnnAlltoAllAllGatherBatchMatMul(void *workspace, uint64_t workspaceSize,
                                                                  aclOpExecutor *executor, aclrtStream stream);

#ifdef __cplusplus
}
#endif

#endif /* MC2_ACLNNOP_ACLNN_ALL_TO_ALL_ALL_GATHER_BATCH_MATMUL_H_ */
