// mc2's CANN-compatible operation parameters (atb/infer_op_params.h, namespace atb::infer).
// mc2 implements LinearParallelOperation; its fields, enum values and defaults are ATB's (spec 4.2).
#ifndef MC2_ATB_INFER_OP_PARAMS_H_
#define MC2_ATB_INFER_OP_PARAMS_H_

#include <cstdint>
#include <string>

#include "acl/acl.h"
#include "hccl/hccl_types.h"

namespace atb {
namespace infer {

enum CommMode : int { COMM_UNDEFINED = -1, COMM_MULTI_PROCESS, COMM_MULTI_THREAD };

struct LinearParallelParam {
  enum ParallelType : int {
    UNDEFINED = -1,
    LINEAR_ALL_REDUCE = 0,
    LINEAR_REDUCE_SCATTER = 1,
    ALL_GATHER_LINEAR = 2,
    PURE_LINEAR = 3,
    ALL_GATHER_LINEAR_REDUCE_SCATTER = 4,
    ALLTOALLVC_ALL_GATHER_GMM = 5,
    GMM_REDUCE_SCATTER_ALLTOALLVC = 6,
    MAX = 7,
  };
  enum QuantType : int {
    QUANT_TYPE_UNDEFINED = -1,
    QUANT_TYPE_UNQUANT = -1,
    QUANT_TYPE_PER_TENSOR = 0,
    QUANT_TYPE_PER_CHANNEL = 1,
    QUANT_TYPE_PER_GROUP = 2,
    QUANT_TYPE_PER_TOKEN = 3,
    QUANT_TYPE_MAX = 4,
  };
  // Weight stored as (n, k).
  bool transWeight = true;
  // This rank, the number of ranks, and the rank that roots the communicator ATB makes itself
  // (hcclComm null); unchecked when hcclComm is given.
  int rank = 0;
  int rankSize = 0;
  int rankRoot = 0;
  bool hasResidual = false;
  // "hccl" | "lccl" | "lcoc" | "mc2" (docs/api-atb.md: what each accepts).
  std::string backend = "hccl";
  HcclComm hcclComm = nullptr;
  CommMode commMode = COMM_MULTI_PROCESS;
  std::string rankTableFile;
  ParallelType type = LINEAR_ALL_REDUCE;
  bool keepIntermediate = false;
  QuantType quantType = QUANT_TYPE_UNQUANT;
  int32_t quantGroupSize = 0;
  aclDataType outDataType = ACL_DT_UNDEFINED;
  // Names the communicator ATB makes (hcclComm null); at most 128 characters.
  std::string commDomain;
  struct TwoDimTPInfo {
    uint16_t agDim = 0;
    uint16_t rsDim = 0;
    uint8_t innerDimIsAg = 1;
    uint8_t rsv[3] = {0};
  } twoDimTPInfo;
  struct MoeInfo {
    int16_t localExpertNums = 1;
    int8_t epSize = 1;
    int8_t tpSize = 1;
  } moeInfo;
  uint8_t rsv[52] = {0};
};

}  // namespace infer
}  // namespace atb

#endif  // MC2_ATB_INFER_OP_PARAMS_H_
