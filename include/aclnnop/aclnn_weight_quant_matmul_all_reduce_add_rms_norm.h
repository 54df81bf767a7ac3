/* aclnnWeightQuantMatmulAllReduceAddRmsNorm (spec section 2): per rank
 *   y = allReduce(x1 @ ((x2 + antiquantOffset) * antiquantScale) + bias) + residual
 *   normOut = y / sqrt(mean(y^2) + epsilon) * gamma
 * over the ranks of `group` (a name from HcclGetCommName). Two phases as every aclnn operator:
 * GetWorkspaceSize validates (CANN's order and codes) and returns a single-use executor; the
 * second call enqueues the work on `stream` and releases the executor. Plain C. */
#ifndef MC2_ACLNNOP_ACLNN_WEIGHT_QUANT_MATMUL_ALL_REDUCE_ADD_RMS_NORM_H_
#define MC2_ACLNNOP_ACLNN_WEIGHT_QUANT_MATMUL_ALL_REDUCE_ADD_RMS_NORM_H_

#include "acl/acl_rt.h"
#include "aclnn/acl_meta.h"

#ifdef __cplusplus
extern "C" {
#endif

ACL_FUNC_VISIBILITY aclnnStatus aclnnWeightQuantMatmulAllReduceAddRmsNormGetWorkspaceSize(
    const aclTensor *x1, const aclTensor *x2, const aclTensor *bias,
    const aclTensor *antiquantScale, const aclTensor *antiquantOffset, const aclTensor *residual,
    const aclTensor *gamma, double epsilon, const char *group, const char *reduceOp,
    int64_t commTurn, int64_t streamMode, int64_t antiquantGroupSize, const aclTensor *y,
    const aclTensor *normOut, uint64_t *workspaceSize, aclOpExecutor **executor);

ACL_FUNC_VISIBILITY aclnnStatus aclnnWeightQuantMatmulAllReduceAddRmsNorm(
    void *workspace, uint64_t workspaceSize, aclOpExecutor *executor, const aclrtStream stream);

#ifdef __cplusplus
}
#endif

#endif /* MC2_ACLNNOP_ACLNN_WEIGHT_QUANT_MATMUL_ALL_REDUCE_ADD_RMS_NORM_H_ */
