// `mc2 run-op OP --inputs DIR --outputs DIR [--ranks N] [attributes...] --reference[=exact]`:
// runs one operator on per-rank .npy inputs and writes its outputs the same way (op_io.h has the
// file convention). --reference runs the golden model with CANN's roundings, --reference=exact its
// float64 mode: this is how users make golden data for NPU runs. Without --reference the fused
// operator itself runs, on `ranks` ranks as threads (default) or processes (--processes), each
// rank writing its own outputs; under `mc2 launch` / mpirun, this process is one rank of the job.
#include <cstdio>
#include <functional>
#include <map>
#include <string>

#include "cli.h"
#include "op_io.h"
#include "rank_op.h"
#include "ranks.h"
#include "reference/arn.h"
#include "reference/linear_parallel.h"
#include "reference/moe.h"

namespace mc2::cli {
namespace {

struct RunOpOptions {
  std::string op;
  std::string inputs, outputs;
  int ranks = 0;
  std::string reference;  // "", "cann" or "exact"
  bool processes = false;  // fused run: ranks as processes instead of threads
  std::string dtype;      // activation dtype: fp16 / bf16 (default: from the first activation file)
  // ARN
  double epsilon = 1e-6;
  int64_t antiquant_group_size = 0;
  std::string x2_dtype = "int8";
  bool transpose_x2 = false;
  // MoE
  int64_t ep = 0, tp = 0;
  int64_t x_shard_type = 0;
  std::string act_type = "none";
  bool y2 = false, y3 = false;
  bool transpose_weight = false;
  // LinearParallel
  std::string type = "linear_all_reduce";
  bool trans_weight = true;
  bool keep_intermediate = false;
  std::string quant_type = "none";
  int32_t quant_group_size = 0;
  std::string out_dtype;
  std::string weight_format = "nd";
  int32_t ag_dim = 0, rs_dim = 0;
  bool inner_dim_is_ag = true;
};

StatusOr<DType> ActDType(const RunOpOptions& o, InputLoader& loader, const std::string& first_input) {
  if (o.dtype == "fp16" || o.dtype == "float16") return DType::kFloat16;
  if (o.dtype == "bf16" || o.dtype == "bfloat16") return DType::kBFloat16;
  if (!o.dtype.empty()) return AclnnError(aclnn::kErrParamInvalid, "--dtype: '", o.dtype, "' must be fp16 or bf16");
  MC2_ASSIGN_OR_RETURN(DType file, loader.FileDType(0, first_input));
  if (file == DType::kFloat16) return DType::kFloat16;
  return AclnnError(aclnn::kErrParamInvalid, "rank0/", first_input, ".npy is ", DTypeName(file),
                    ": pass --dtype bf16 (bf16 tensors are stored as float32) or --dtype fp16");
}

reference::Mode RefMode(const RunOpOptions& o) {
  return o.reference == "exact" ? reference::Mode::kExact : reference::Mode::kCann;
}

TensorView TransposedView(TensorView v) { return v.Transposed(v.rank() - 2, v.rank() - 1); }

using MakeRankOp = std::function<StatusOr<std::unique_ptr<RankOp>>(comm::Communicator&, ThreadPool&)>;

// The fused operator on `ranks` ranks: every rank plans, executes once and writes its outputs.
Status RunFused(const RunOpOptions& o, int ranks, const MakeRankOp& make) {
  const int code = RunRanks(ranks, !o.processes, [&](comm::Communicator& c, ThreadPool& pool) {
    Status s = [&]() -> Status {
      if (c.world_size() != ranks) {
        return AclnnError(aclnn::kErrParamInvalid, "--ranks: the job has ", c.world_size(), " ranks but ", o.inputs,
                          " holds ", ranks);
      }
      MC2_ASSIGN_OR_RETURN(auto op, make(c, pool));
      MC2_RETURN_IF_ERROR(op->Execute());
      for (const auto& [name, t] : op->outputs()) MC2_RETURN_IF_ERROR(WriteOutput(o.outputs, c.rank(), name, t));
      return Status::Ok();
    }();
    if (s.ok()) return 0;
    std::fprintf(stderr, "mc2 run-op: rank %d: %s\n", c.rank(), s.ToString().c_str());
    return 1;
  });
  if (code != 0) return AclError(acl::kErrFailure, "the fused run failed (exit code ", code, ", messages above)");
  return Status::Ok();
}

Status RunArn(const RunOpOptions& o, int ranks, bool inplace) {
  InputLoader in(o.inputs);
  MC2_ASSIGN_OR_RETURN(DType act, ActDType(o, in, "x1"));
  DType wdt = DType::kInt8;
  if (o.x2_dtype == "int4") wdt = DType::kInt4;
  else if (o.x2_dtype != "int8") return AclnnError(aclnn::kErrParamInvalid, "--x2-dtype: '", o.x2_dtype, "' must be int8 or int4");
  std::vector<ArnInputs> all(ranks);
  for (int r = 0; r < ranks; ++r) {
    ArnInputs& a = all[r];
    MC2_ASSIGN_OR_RETURN(a.x1, in.Load(r, "x1", act));
    MC2_ASSIGN_OR_RETURN(a.x2, in.Load(r, "x2", wdt));
    if (o.transpose_x2) a.x2 = TransposedView(a.x2);
    MC2_ASSIGN_OR_RETURN(a.antiquant_scale, in.Load(r, "antiquantScale", act));
    MC2_ASSIGN_OR_RETURN(a.antiquant_offset, in.LoadOptional(r, "antiquantOffset", act));
    if (o.transpose_x2 && o.antiquant_group_size > 0) {
      // Per-group scale/offset of a transposed x2 come as (n, groups) storage, like the weight.
      a.antiquant_scale = TransposedView(a.antiquant_scale);
      if (a.antiquant_offset) a.antiquant_offset = TransposedView(*a.antiquant_offset);
    }
    MC2_ASSIGN_OR_RETURN(a.bias, in.LoadOptional(r, "bias", act));
    MC2_ASSIGN_OR_RETURN(a.residual, in.Load(r, "residual", act));
    MC2_ASSIGN_OR_RETURN(a.gamma, in.Load(r, "gamma", act));
  }
  ArnAttrs attrs;
  attrs.epsilon = o.epsilon;
  attrs.antiquant_group_size = o.antiquant_group_size;
  if (o.reference.empty()) {
    return RunFused(o, ranks, [&](comm::Communicator& c, ThreadPool& pool) {
      return MakeArnRankOp(all[static_cast<size_t>(c.rank())], attrs, ops::OpContext{&c, &pool}, {}, inplace);
    });
  }
  MC2_ASSIGN_OR_RETURN(auto outs, reference::WeightQuantMatmulAllReduceAddRmsNorm(all, attrs, RefMode(o)));
  for (int r = 0; r < ranks; ++r) {
    MC2_RETURN_IF_ERROR(WriteOutput(o.outputs, r, "y", outs[r].y));
    MC2_RETURN_IF_ERROR(WriteOutput(o.outputs, r, "normOut", outs[r].norm_out));
  }
  return Status::Ok();
}

StatusOr<ActType> ParseAct(const std::string& s) {
  static const std::map<std::string, ActType> kNames = {
      {"none", ActType::kNone}, {"0", ActType::kNone},   {"gelu", ActType::kGelu},       {"1", ActType::kGelu},
      {"silu", ActType::kSilu}, {"2", ActType::kSilu},   {"relu", ActType::kRelu},       {"3", ActType::kRelu},
      {"fastgelu", ActType::kFastGelu}, {"4", ActType::kFastGelu}};
  auto it = kNames.find(s);
  if (it == kNames.end()) {
    return AclnnError(aclnn::kErrParamInvalid, "--act-type: '", s, "' must be none, gelu, silu, relu, fastgelu or 0-4");
  }
  return it->second;
}

Status RunMoe(const RunOpOptions& o, int ranks) {
  if (o.ep <= 0 || o.tp <= 0 || o.ep * o.tp != ranks) {
    return AclnnError(aclnn::kErrParamInvalid, "--ep ", o.ep, " x --tp ", o.tp, " must equal the number of ranks (",
                      ranks, "); rank<i> holds grid position i = p * tp + t");
  }
  InputLoader in(o.inputs);
  MC2_ASSIGN_OR_RETURN(DType act, ActDType(o, in, "x"));
  const DType bias_dtype = act == DType::kBFloat16 ? DType::kFloat32 : DType::kFloat16;
  std::vector<MoeInputs> all(ranks);
  for (int r = 0; r < ranks; ++r) {
    MC2_ASSIGN_OR_RETURN(all[r].x, in.Load(r, "x", act));
    MC2_ASSIGN_OR_RETURN(all[r].weight, in.Load(r, "weight", act));
    if (o.transpose_weight) all[r].weight = TransposedView(all[r].weight);
    MC2_ASSIGN_OR_RETURN(all[r].bias, in.LoadOptional(r, "bias", bias_dtype));
  }
  MoeAttrs attrs;
  attrs.ep_world_size = o.ep;
  attrs.tp_world_size = o.tp;
  attrs.x_shard_type = o.x_shard_type;
  MC2_ASSIGN_OR_RETURN(attrs.act_type, ParseAct(o.act_type));
  attrs.want_y2 = o.y2;
  attrs.want_y3 = o.y3;
  if (o.reference.empty()) {
    return RunFused(o, ranks, [&](comm::Communicator& c, ThreadPool& pool) {
      return MakeMoeRankOp(all[static_cast<size_t>(c.rank())], attrs, c, &pool, {});
    });
  }
  MC2_ASSIGN_OR_RETURN(auto outs, reference::AlltoAllAllGatherBatchMatMul(all, attrs, RefMode(o)));
  for (int r = 0; r < ranks; ++r) {
    MC2_RETURN_IF_ERROR(WriteOutput(o.outputs, r, "y1", outs[r].y1));
    if (outs[r].y2) MC2_RETURN_IF_ERROR(WriteOutput(o.outputs, r, "y2", *outs[r].y2));
    if (outs[r].y3) MC2_RETURN_IF_ERROR(WriteOutput(o.outputs, r, "y3", *outs[r].y3));
  }
  return Status::Ok();
}

template <typename T>
StatusOr<T> Lookup(const std::map<std::string, T>& names, const std::string& value, const char* option) {
  auto it = names.find(value);
  if (it != names.end()) return it->second;
  std::string allowed;
  for (const auto& [k, v] : names) allowed += (allowed.empty() ? "" : ", ") + k;
  return AtbError(atb::kInvalidParam, option, ": '", value, "' must be one of ", allowed);
}

Status RunLinearParallel(const RunOpOptions& o, int ranks) {
  static const std::map<std::string, LinearParallelType> kTypes = {
      {"linear_all_reduce", LinearParallelType::kLinearAllReduce}, {"0", LinearParallelType::kLinearAllReduce},
      {"linear_reduce_scatter", LinearParallelType::kLinearReduceScatter},
      {"1", LinearParallelType::kLinearReduceScatter},
      {"all_gather_linear", LinearParallelType::kAllGatherLinear}, {"2", LinearParallelType::kAllGatherLinear},
      {"pure_linear", LinearParallelType::kPureLinear}, {"3", LinearParallelType::kPureLinear},
      {"all_gather_linear_reduce_scatter", LinearParallelType::kAllGatherLinearReduceScatter},
      {"4", LinearParallelType::kAllGatherLinearReduceScatter}};
  static const std::map<std::string, QuantType> kQuant = {
      {"none", QuantType::kUnquant},           {"-1", QuantType::kUnquant},
      {"per_tensor", QuantType::kPerTensor},   {"0", QuantType::kPerTensor},
      {"per_channel", QuantType::kPerChannel}, {"1", QuantType::kPerChannel},
      {"per_group", QuantType::kPerGroup},     {"2", QuantType::kPerGroup},
      {"per_token", QuantType::kPerToken},     {"3", QuantType::kPerToken}};
  LinearParallelAttrs attrs;
  MC2_ASSIGN_OR_RETURN(attrs.type, Lookup(kTypes, o.type, "--type"));
  MC2_ASSIGN_OR_RETURN(attrs.quant_type, Lookup(kQuant, o.quant_type, "--quant-type"));
  attrs.trans_weight = o.trans_weight;
  attrs.keep_intermediate = o.keep_intermediate;
  attrs.quant_group_size = o.quant_group_size;
  attrs.ag_dim = o.ag_dim;
  attrs.rs_dim = o.rs_dim;
  attrs.inner_dim_is_ag = o.inner_dim_is_ag;
  if (o.out_dtype == "fp16") attrs.out_dtype = DType::kFloat16;
  else if (o.out_dtype == "bf16") attrs.out_dtype = DType::kBFloat16;
  else if (!o.out_dtype.empty()) return AtbError(atb::kInvalidParam, "--out-dtype: '", o.out_dtype, "' must be fp16 or bf16");
  if (o.weight_format != "nd" && o.weight_format != "nz") {
    return AtbError(atb::kInvalidParam, "--weight-format: '", o.weight_format, "' must be nd or nz");
  }
  InputLoader in(o.inputs);
  MC2_ASSIGN_OR_RETURN(DType input_file, in.FileDType(0, "input"));
  const bool w8a8 = input_file == DType::kInt8;
  const bool quant = attrs.quant_type != QuantType::kUnquant;
  DType act = DType::kInt8;
  if (!w8a8) {
    MC2_ASSIGN_OR_RETURN(act, ActDType(o, in, "input"));
  }
  const DType out = w8a8 ? attrs.out_dtype.value_or(DType::kFloat16) : act;
  attrs.has_residual = in.Exists(0, "residual");
  std::vector<LinearParallelInputs> all(ranks);
  for (int r = 0; r < ranks; ++r) {
    LinearParallelInputs& a = all[r];
    MC2_ASSIGN_OR_RETURN(a.input, in.Load(r, "input", act));
    MC2_ASSIGN_OR_RETURN(a.weight, in.Load(r, "weight", quant ? DType::kInt8 : act));
    if (o.weight_format == "nz") a.weight.format = Format::kFractalNZ;
    if (quant) {
      if (w8a8) {
        MC2_ASSIGN_OR_RETURN(a.bias, in.LoadOptional(r, "bias", DType::kInt32));
        MC2_ASSIGN_OR_RETURN(DType scale_file, in.FileDType(r, "deqScale"));
        MC2_ASSIGN_OR_RETURN(a.deq_scale, in.Load(r, "deqScale", scale_file == DType::kInt64 ? DType::kInt64
                                                                                             : DType::kFloat32));
        MC2_ASSIGN_OR_RETURN(a.per_token_scale, in.LoadOptional(r, "perTokenScale", DType::kFloat32));
      } else {
        MC2_ASSIGN_OR_RETURN(a.bias, in.LoadOptional(r, "bias", act));
        MC2_ASSIGN_OR_RETURN(a.deq_scale, in.Load(r, "deqScale", act));
      }
    }
    MC2_ASSIGN_OR_RETURN(a.residual, in.LoadOptional(r, "residual", out));
  }
  if (o.reference.empty()) {
    return RunFused(o, ranks, [&](comm::Communicator& c, ThreadPool& pool) {
      return MakeLpRankOp(all[static_cast<size_t>(c.rank())], attrs, ops::OpContext{&c, &pool}, {});
    });
  }
  MC2_ASSIGN_OR_RETURN(auto outs, reference::LinearParallel(all, attrs, RefMode(o)));
  for (int r = 0; r < ranks; ++r) {
    MC2_RETURN_IF_ERROR(WriteOutput(o.outputs, r, "output", outs[r].output));
    if (outs[r].intermediate) MC2_RETURN_IF_ERROR(WriteOutput(o.outputs, r, "intermediateOutput", *outs[r].intermediate));
  }
  return Status::Ok();
}

int RunOp(const RunOpOptions& o) {
  auto op = ParseOpKind(o.op);
  if (!op.ok()) {
    std::fprintf(stderr, "mc2 run-op: %s\n", op.status().message().c_str());
    return 2;
  }
  const int ranks = o.ranks > 0 ? o.ranks : CountRankDirs(o.inputs);
  if (ranks <= 0) {
    std::fprintf(stderr, "mc2 run-op: %s has no rank0/ directory (inputs are DIR/rank<i>/<name>.npy)\n",
                 o.inputs.c_str());
    return 2;
  }
  Status s;
  switch (*op) {
    case OpKind::kArn:
    case OpKind::kArnInplace:
      s = RunArn(o, ranks, *op == OpKind::kArnInplace);
      break;
    case OpKind::kMoe:
      s = RunMoe(o, ranks);
      break;
    case OpKind::kLinearParallel:
      s = RunLinearParallel(o, ranks);
      break;
  }
  if (!s.ok()) {
    std::fprintf(stderr, "mc2 run-op %s: %s\n", OpKindName(*op), s.ToString().c_str());
    return 1;
  }
  if (InLaunchedJob()) return 0;  // one rank of a job: its peers would print the same line
  const char* what = o.reference.empty() ? (o.processes ? "fused operator, ranks as processes"
                                                        : "fused operator, ranks as threads")
                     : o.reference == "exact" ? "float64 reference" : "CANN-rounding reference";
  std::printf("%s: %d ranks, %s, outputs in %s\n", OpKindName(*op), ranks, what, o.outputs.c_str());
  return 0;
}

}  // namespace

CLI::App* AddRunOp(CLI::App& app, int* exit_code) {
  static RunOpOptions o;
  CLI::App* cmd = app.add_subcommand(
      "run-op", "Run one operator (fused, or the golden model with --reference) on per-rank .npy inputs\n"
                "(DIR/rank<i>/<name>.npy), writing its outputs the same way");
  cmd->add_option("op", o.op, "operator: arn, arn-inplace, moe, lp (or the CANN names)")->required();
  cmd->add_option("--inputs", o.inputs, "input directory")->required()->check(CLI::ExistingDirectory);
  cmd->add_option("--outputs", o.outputs, "output directory (created)")->required();
  cmd->add_option("--ranks", o.ranks, "number of ranks (default: the rank<i> directories found)")
      ->check(CLI::Range(1, 64));
  cmd->add_flag("--processes", o.processes, "fused run: ranks as processes (default: threads of this process)");
  cmd->add_option("--reference", o.reference,
                  "run the golden model instead of the fused operator: cann (default) or exact (float64)")
      ->expected(0, 1)
      ->default_str("cann")
      ->check(CLI::IsMember({"cann", "exact"}));
  cmd->add_option("--dtype", o.dtype, "activation dtype fp16|bf16 (default: float16 files mean fp16)");
  auto* arn = cmd->add_option_group("WeightQuantMatmulAllReduceAddRmsNorm");
  arn->add_option("--epsilon", o.epsilon, "RMSNorm epsilon")->capture_default_str();
  arn->add_option("--antiquant-group-size", o.antiquant_group_size, "per-group size along k (0: none)");
  arn->add_option("--x2-dtype", o.x2_dtype, "int8 or int4 (int4 files are int8 arrays in [-8, 7])")
      ->capture_default_str();
  arn->add_flag("--transpose-x2", o.transpose_x2, "x2.npy holds (n, k) storage: use its transposed view");
  auto* moe = cmd->add_option_group("AlltoAllAllGatherBatchMatMul");
  moe->add_option("--ep", o.ep, "epWorldSize");
  moe->add_option("--tp", o.tp, "tpWorldSize");
  moe->add_option("--x-shard-type", o.x_shard_type, "0: gather along H, 1: along C")->check(CLI::Range(0, 1));
  moe->add_option("--act-type", o.act_type, "none|gelu|silu|relu|fastgelu")->capture_default_str();
  moe->add_flag("--y2", o.y2, "write y2 (the all-gathered input)");
  moe->add_flag("--y3", o.y3, "write y3 (the pre-activation output)");
  moe->add_flag("--transpose-weight", o.transpose_weight, "weight.npy holds (E/ep, M/tp, H) storage");
  auto* lp = cmd->add_option_group("LinearParallel");
  lp->add_option("--type", o.type,
                 "linear_all_reduce|linear_reduce_scatter|all_gather_linear|pure_linear|"
                 "all_gather_linear_reduce_scatter or 0-4")
      ->capture_default_str();
  lp->add_option("--trans-weight", o.trans_weight, "weight stored (n, k)")->capture_default_str();
  lp->add_flag("--keep-intermediate", o.keep_intermediate, "ALL_GATHER_LINEAR: also write intermediateOutput");
  lp->add_option("--quant-type", o.quant_type, "none|per_tensor|per_channel|per_group|per_token")->capture_default_str();
  lp->add_option("--quant-group-size", o.quant_group_size, "per_group size");
  lp->add_option("--out-dtype", o.out_dtype, "W8A8 output dtype fp16|bf16 (default fp16)");
  lp->add_option("--weight-format", o.weight_format, "nd or nz (nz: weight.npy holds the 4-D FRACTAL_NZ storage)")
      ->capture_default_str();
  lp->add_option("--ag-dim", o.ag_dim, "ALL_GATHER_LINEAR_REDUCE_SCATTER agDim");
  lp->add_option("--rs-dim", o.rs_dim, "ALL_GATHER_LINEAR_REDUCE_SCATTER rsDim");
  lp->add_option("--inner-dim-is-ag", o.inner_dim_is_ag, "ALL_GATHER_LINEAR_REDUCE_SCATTER innerDimIsAg");
  cmd->callback([exit_code] { *exit_code = RunOp(o); });
  return cmd;
}

}  // namespace mc2::cli
