// RankOp for the three operators: output tensors shaped by each operator's rules, one workspace.
#include "rank_op.h"

#include <cstring>

namespace mc2::cli {
namespace {

class ArnRankOp : public RankOp {
 public:
  Status Init(const ArnInputs& in, const ArnAttrs& attrs, const ops::OpContext& ctx, const ops::ArnOptions& options,
              bool inplace) {
    inplace_ = inplace;
    t_.in = in;
    const TensorView r = in.residual;
    outputs_.emplace_back("y", HostTensor(r.dtype, r.dims));
    outputs_.emplace_back("normOut", HostTensor(r.dtype, r.dims));
    residual_ = HostTensor::FromView(r);
    t_.y = outputs_[0].second.view();
    t_.norm_out = outputs_[1].second.view();
    if (inplace_) t_.in.residual = t_.y;
    CopyResidual();
    MC2_ASSIGN_OR_RETURN(op_, ops::ArnOp::Create(t_, attrs, ctx, options));
    workspace_.resize(op_->workspace_bytes());
    return Status::Ok();
  }
  Status Execute() override {
    CopyResidual();  // inplace: y starts as the residual on every call
    return op_->Execute(t_, workspace_.data(), workspace_.size());
  }
  std::string algorithm() const override { return ops::ArnAlgorithmName(op_->schedule().algorithm); }

 private:
  void CopyResidual() {
    if (inplace_) std::memcpy(outputs_[0].second.data(), residual_.data(), residual_.bytes());
  }
  bool inplace_ = false;
  ops::ArnTensors t_;
  HostTensor residual_;
  std::unique_ptr<ops::ArnOp> op_;
};

class LpRankOp : public RankOp {
 public:
  Status Init(const LinearParallelInputs& in, const LinearParallelAttrs& attrs, const ops::OpContext& ctx,
              const ops::LpOptions& options) {
    t_.in = in;
    const int world = ctx.comm != nullptr ? ctx.comm->world_size() : 1;
    MC2_ASSIGN_OR_RETURN(ops::LpShapeInfo info, ops::InferLinearParallelShape(in, attrs, world));
    outputs_.emplace_back("output", HostTensor(info.out_dtype, info.out_dims));
    if (attrs.keep_intermediate) {
      outputs_.emplace_back("intermediateOutput", HostTensor(in.input.dtype, info.intermediate_dims));
    }
    t_.output = outputs_[0].second.view();
    if (attrs.keep_intermediate) t_.intermediate = outputs_[1].second.view();
    MC2_ASSIGN_OR_RETURN(op_, ops::LinearParallelOp::Create(t_, attrs, ctx, options));
    workspace_.resize(op_->workspace_bytes());
    return Status::Ok();
  }
  Status Execute() override { return op_->Execute(t_, workspace_.data(), workspace_.size()); }
  std::string algorithm() const override { return ops::LpAlgorithmName(op_->schedule().algorithm); }

 private:
  ops::LinearParallelTensors t_;
  std::unique_ptr<ops::LinearParallelOp> op_;
};

class MoeRankOp : public RankOp {
 public:
  Status Init(const MoeInputs& in, const MoeAttrs& attrs, comm::Communicator& world, ThreadPool* pool,
              const ops::MoeOptions& options) {
    const int64_t ep = attrs.ep_world_size, tp = attrs.tp_world_size;
    if (ep <= 0 || tp <= 0 || ep * tp != world.world_size()) {
      return AclnnError(aclnn::kErrParamInvalid, "epWorldSize ", ep, " x tpWorldSize ", tp,
                        " must equal the number of ranks (", world.world_size(), ")");
    }
    const int64_t p = world.rank() / tp, t = world.rank() % tp;
    std::vector<int> ep_group, tp_group;
    for (int64_t i = 0; i < ep; ++i) ep_group.push_back(static_cast<int>(i * tp + t));
    for (int64_t j = 0; j < tp; ++j) tp_group.push_back(static_cast<int>(p * tp + j));
    MC2_ASSIGN_OR_RETURN(ep_, world.CreateSub(ep_group));
    MC2_ASSIGN_OR_RETURN(tp_, world.CreateSub(tp_group));
    const ops::MoeContext ctx{ep_.get(), tp_.get(), pool};
    t_.in = in;
    if (in.weight.rank() != 3 || in.x.rank() != 3) {
      return AclnnError(aclnn::kErrParamInvalid, "x and weight must be 3-D, got ", in.x.dims.ToString(), " and ",
                        in.weight.dims.ToString());
    }
    const int64_t el = in.weight.dims[0], h = in.weight.dims[1], ml = in.weight.dims[2];
    const int64_t rows = attrs.x_shard_type == 0 ? in.x.dims[1] * attrs.ep_world_size
                                                 : in.x.dims[1] * attrs.ep_world_size * attrs.tp_world_size;
    const DType dt = in.x.dtype;
    outputs_.emplace_back("y1", HostTensor(dt, {el, rows, ml}));
    if (attrs.want_y2) outputs_.emplace_back("y2", HostTensor(dt, {el, rows, h}));
    if (attrs.want_y3) outputs_.emplace_back("y3", HostTensor(dt, {el, rows, ml}));
    t_.y1 = outputs_[0].second.view();
    size_t next = 1;
    if (attrs.want_y2) t_.y2 = outputs_[next++].second.view();
    if (attrs.want_y3) t_.y3 = outputs_[next++].second.view();
    MC2_ASSIGN_OR_RETURN(op_, ops::MoeOp::Create(t_, attrs, ctx, options));
    workspace_.resize(op_->workspace_bytes());
    return Status::Ok();
  }
  Status Execute() override { return op_->Execute(t_, workspace_.data(), workspace_.size()); }
  std::string algorithm() const override { return ops::MoeAlgorithmName(op_->schedule().algorithm); }

 private:
  std::unique_ptr<comm::Communicator> ep_, tp_;
  ops::MoeTensors t_;
  std::unique_ptr<ops::MoeOp> op_;
};

}  // namespace

StatusOr<std::unique_ptr<RankOp>> MakeArnRankOp(const ArnInputs& in, const ArnAttrs& attrs, const ops::OpContext& ctx,
                                                const ops::ArnOptions& options, bool inplace) {
  auto op = std::make_unique<ArnRankOp>();
  MC2_RETURN_IF_ERROR(op->Init(in, attrs, ctx, options, inplace));
  return std::unique_ptr<RankOp>(std::move(op));
}

StatusOr<std::unique_ptr<RankOp>> MakeLpRankOp(const LinearParallelInputs& in, const LinearParallelAttrs& attrs,
                                               const ops::OpContext& ctx, const ops::LpOptions& options) {
  auto op = std::make_unique<LpRankOp>();
  MC2_RETURN_IF_ERROR(op->Init(in, attrs, ctx, options));
  return std::unique_ptr<RankOp>(std::move(op));
}

StatusOr<std::unique_ptr<RankOp>> MakeMoeRankOp(const MoeInputs& in, const MoeAttrs& attrs, comm::Communicator& world,
                                                ThreadPool* pool, const ops::MoeOptions& options) {
  auto op = std::make_unique<MoeRankOp>();
  MC2_RETURN_IF_ERROR(op->Init(in, attrs, world, pool, options));
  return std::unique_ptr<RankOp>(std::move(op));
}

}  // namespace mc2::cli
