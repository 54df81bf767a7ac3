// `mc2 gen-inputs OP --outputs DIR`: writes a random, valid per-rank input set for an operator in
// the run-op layout, from the same generators the tests use (reference/cases.h). A starting point
// for golden-data runs and the input of the CLI's own round-trip tests.
#include <cstdio>
#include <string>

#include "cli.h"
#include "op_io.h"
#include "reference/cases.h"

namespace mc2::cli {
namespace {

struct GenOptions {
  std::string op;
  std::string outputs;
  int ranks = 2;
  std::string dtype = "fp16";
  uint64_t seed = 1;
};

Status Write(const std::string& dir, int rank, const std::string& name, const TensorView& v) {
  return WriteOutput(dir, rank, name, HostTensor::FromView(v));
}

Status Write(const std::string& dir, int rank, const std::string& name, const std::optional<TensorView>& v) {
  return v ? Write(dir, rank, name, *v) : Status::Ok();
}

Status Generate(const GenOptions& o, OpKind op) {
  const DType act = o.dtype == "bf16" ? DType::kBFloat16 : DType::kFloat16;
  switch (op) {
    case OpKind::kArn:
    case OpKind::kArnInplace: {
      reference::ArnShape s;
      s.world_size = o.ranks;
      s.act = act;
      s.seed = o.seed;
      reference::ArnCase c = reference::MakeArnCase(s);
      for (int r = 0; r < o.ranks; ++r) {
        const ArnInputs& in = c.ranks[r];
        MC2_RETURN_IF_ERROR(Write(o.outputs, r, "x1", in.x1));
        MC2_RETURN_IF_ERROR(Write(o.outputs, r, "x2", in.x2));
        MC2_RETURN_IF_ERROR(Write(o.outputs, r, "antiquantScale", in.antiquant_scale));
        MC2_RETURN_IF_ERROR(Write(o.outputs, r, "antiquantOffset", in.antiquant_offset));
        if (r == 0) MC2_RETURN_IF_ERROR(Write(o.outputs, r, "bias", in.bias));  // CANN callers: rank 0 only
        MC2_RETURN_IF_ERROR(Write(o.outputs, r, "residual", in.residual));
        MC2_RETURN_IF_ERROR(Write(o.outputs, r, "gamma", in.gamma));
      }
      return Status::Ok();
    }
    case OpKind::kMoe: {
      reference::MoeShape s;
      s.act = act;
      s.seed = o.seed;
      if (o.ranks != 4) return AclnnError(aclnn::kErrParamInvalid, "--ranks: the MoE example is ep 2 x tp 2 = 4 ranks");
      reference::MoeCase c = reference::MakeMoeCase(s);
      for (int r = 0; r < o.ranks; ++r) {
        MC2_RETURN_IF_ERROR(Write(o.outputs, r, "x", c.ranks[r].x));
        MC2_RETURN_IF_ERROR(Write(o.outputs, r, "weight", c.ranks[r].weight));
        MC2_RETURN_IF_ERROR(Write(o.outputs, r, "bias", c.ranks[r].bias));
      }
      return Status::Ok();
    }
    case OpKind::kLinearParallel: {
      reference::LinearParallelShape s;
      s.world_size = o.ranks;
      s.act = act;
      s.seed = o.seed;
      s.attrs.has_residual = true;
      reference::LinearParallelCase c = reference::MakeLinearParallelCase(s);
      for (int r = 0; r < o.ranks; ++r) {
        MC2_RETURN_IF_ERROR(Write(o.outputs, r, "input", c.ranks[r].input));
        MC2_RETURN_IF_ERROR(Write(o.outputs, r, "weight", c.ranks[r].weight));
        MC2_RETURN_IF_ERROR(Write(o.outputs, r, "residual", c.ranks[r].residual));
      }
      return Status::Ok();
    }
  }
  return Status::Ok();
}

int RunGen(const GenOptions& o) {
  auto op = ParseOpKind(o.op);
  if (!op.ok()) {
    std::fprintf(stderr, "mc2 gen-inputs: %s\n", op.status().message().c_str());
    return 2;
  }
  Status s = Generate(o, *op);
  if (!s.ok()) {
    std::fprintf(stderr, "mc2 gen-inputs: %s\n", s.ToString().c_str());
    return 1;
  }
  std::printf("%s: %d ranks of inputs in %s\n", OpKindName(*op), o.ranks, o.outputs.c_str());
  return 0;
}

}  // namespace

CLI::App* AddGenInputs(CLI::App& app, int* exit_code) {
  static GenOptions o;
  CLI::App* cmd = app.add_subcommand("gen-inputs", "Write a random valid per-rank input set for an operator");
  cmd->add_option("op", o.op, "operator: arn, moe, lp")->required();
  cmd->add_option("--outputs", o.outputs, "directory to write rank<i>/<name>.npy into")->required();
  cmd->add_option("--ranks", o.ranks, "number of ranks")->capture_default_str()->check(CLI::Range(1, 8));
  cmd->add_option("--dtype", o.dtype, "activation dtype")->capture_default_str()->check(CLI::IsMember({"fp16", "bf16"}));
  cmd->add_option("--seed", o.seed, "random seed")->capture_default_str();
  cmd->callback([exit_code] { *exit_code = RunGen(o); });
  return cmd;
}

}  // namespace mc2::cli
