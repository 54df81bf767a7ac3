// mc2's CANN-compatible atb::Operation (atb/operation.h). Two phases, as in ATB:
//   Setup(variantPack, workspaceSize, context)  checks the tensors against the operation's rules
//       and returns the workspace the call needs (host memory on mc2: aclrtMalloc or any buffer);
//   Execute(variantPack, workspace, workspaceSize, context)  enqueues the work on the context's
//       stream and returns; aclrtSynchronizeStream reports how it went.
// CreateOperation is specialised per parameter type (atb/atb_infer.h); DestroyOperation deletes an
// operation made by it (it waits for nothing: work already enqueued keeps what it needs alive).
// CloneOperationParam copies an operation's parameter out; UpdateOperationParam replaces it (the
// new parameter is checked as CreateOperation checks it; on an error the old one stays), after
// which the next Execute needs a new Setup. SetExecuteStreamId(op, i) makes Execute enqueue on
// the context's i-th stream (Context::SetExecuteStreams; 0, the default, is GetExecuteStream()).
#ifndef MC2_ATB_OPERATION_H_
#define MC2_ATB_OPERATION_H_

#include <cstdint>
#include <string>

#include "atb/context.h"
#include "atb/svector.h"
#include "atb/types.h"

namespace atb {

class Operation {
 public:
  Operation() = default;
  virtual ~Operation() = default;
  virtual std::string GetName() const = 0;
  virtual Status InferShape(const SVector<TensorDesc>& inTensorDescs, SVector<TensorDesc>& outTensorDescs) const = 0;
  virtual uint32_t GetInputNum() const = 0;
  virtual uint32_t GetOutputNum() const = 0;
  virtual Status Setup(const VariantPack& variantPack, uint64_t& workspaceSize, Context* context) = 0;
  virtual Status Execute(const VariantPack& variantPack, uint8_t* workspace, uint64_t workspaceSize,
                         Context* context) = 0;
};

template <typename OpParam>
Status CreateOperation(const OpParam& opParam, Operation** operation);

ATB_API Status DestroyOperation(Operation* operation);

template <typename OpParam>
Status CloneOperationParam(const Operation* operation, OpParam& opParam);

template <typename OpParam>
Status UpdateOperationParam(Operation* operation, const OpParam& opParam);

ATB_API Status SetExecuteStreamId(Operation* operation, uint32_t streamId);
ATB_API uint32_t GetExecuteStreamId(Operation* operation);

}  // namespace atb

#endif  // MC2_ATB_OPERATION_H_
