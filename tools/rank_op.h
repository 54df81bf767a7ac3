// One rank's instance of a fused operator, planned once and executed on demand: the common piece
// of `mc2 demo`, `mc2 run-op` (without --reference) and `mc2 bench --trace`. It owns the output
// tensors and the workspace, so callers only pick the operator, its options and its inputs.
#pragma once

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "core/op_params.h"
#include "core/status_or.h"
#include "core/tensor.h"
#include "ops/arn/arn_op.h"
#include "ops/linear_parallel/lp_op.h"
#include "ops/moe/moe_op.h"

namespace mc2::cli {

class RankOp {
 public:
  virtual ~RankOp() = default;
  // One call of the operator (collective: every rank of the group calls it).
  virtual Status Execute() = 0;
  // The outputs, named as the spec's parameters (y, normOut / output, intermediateOutput / y1, y2, y3).
  const std::vector<std::pair<std::string, HostTensor>>& outputs() const { return outputs_; }
  // The algorithm the plan chose, for tables.
  virtual std::string algorithm() const = 0;

 protected:
  std::vector<std::pair<std::string, HostTensor>> outputs_;
  std::vector<uint8_t> workspace_;
};

// Collective (every rank of ctx.comm calls it, with its own inputs).
StatusOr<std::unique_ptr<RankOp>> MakeArnRankOp(const ArnInputs& in, const ArnAttrs& attrs, const ops::OpContext& ctx,
                                                const ops::ArnOptions& options, bool inplace = false);
StatusOr<std::unique_ptr<RankOp>> MakeLpRankOp(const LinearParallelInputs& in, const LinearParallelAttrs& attrs,
                                               const ops::OpContext& ctx, const ops::LpOptions& options);
// Collective over `world` (ep * tp ranks): splits it into the EP x TP grid in CANN's example
// layout (TP groups consecutive: world rank = p * tp + t, the golden's index), which the RankOp
// keeps, then plans over both.
StatusOr<std::unique_ptr<RankOp>> MakeMoeRankOp(const MoeInputs& in, const MoeAttrs& attrs, comm::Communicator& world,
                                                ThreadPool* pool, const ops::MoeOptions& options);

}  // namespace mc2::cli
