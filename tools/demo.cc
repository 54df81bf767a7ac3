// `mc2 demo`: for now, a golden-reference run of every operator on a default case. Each case is
// computed twice — with CANN's roundings (kCann) and in float64 (kExact) — and the table shows how
// far CANN's precision steps move the result from the exact value (informative: with k = 1024,
// fp16 dequantization alone moves outputs by ~1e-2). A row is "ok" when both runs succeed and
// every output is finite.
#include <chrono>
#include <cmath>
#include <cstdio>
#include <functional>
#include <string>
#include <vector>

#include "cli.h"
#include "core/status_or.h"
#include "reference/arn.h"
#include "reference/cases.h"
#include "reference/linear_parallel.h"
#include "reference/moe.h"

namespace mc2::cli {
namespace {

using reference::Mode;

struct Row {
  std::string op, variant, shape;
  int ranks = 0;
  double ms = 0;
  double max_err = 0;  // max |cann - exact| / max(1, |exact|)
  bool pass = true;     // every output finite
  std::string error;
};

// Folds one output tensor pair into the row's error.
void Compare(const HostTensor& cann, const HostTensor& exact, Row& row) {
  for (int64_t i = 0; i < cann.numel(); ++i) {
    const double g = exact.at(i);
    const double e = std::fabs(cann.at(i) - g) / std::max(1.0, std::fabs(g));
    if (!std::isfinite(cann.at(i))) row.pass = false;
    row.max_err = std::max(row.max_err, std::isnan(e) ? INFINITY : e);
  }
}

template <typename Fn>
Row Time(Row row, Fn&& fn) {
  const auto t0 = std::chrono::steady_clock::now();
  Status s = fn(row);
  row.ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  if (!s.ok()) row.error = s.ToString();
  return row;
}

Row RunArn(const std::string& variant, const reference::ArnShape& shape) {
  Row row;
  row.op = "WeightQuantMatmulAllReduceAddRmsNorm";
  row.variant = variant;
  row.shape = StrCat("x1 (", shape.b, ",", shape.s, ",", shape.k, ") x2 (", shape.k, ",", shape.n, ")");
  row.ranks = shape.world_size;
  return Time(row, [&](Row& r) -> Status {
    reference::ArnCase c = reference::MakeArnCase(shape);
    MC2_ASSIGN_OR_RETURN(auto cann, reference::WeightQuantMatmulAllReduceAddRmsNorm(c.ranks, c.attrs, Mode::kCann));
    MC2_ASSIGN_OR_RETURN(auto exact, reference::WeightQuantMatmulAllReduceAddRmsNorm(c.ranks, c.attrs, Mode::kExact));
    for (size_t i = 0; i < cann.size(); ++i) {
      Compare(cann[i].y, exact[i].y, r);
      Compare(cann[i].norm_out, exact[i].norm_out, r);
    }
    return Status::Ok();
  });
}

Row RunMoe(const std::string& variant, const reference::MoeShape& shape) {
  Row row;
  row.op = "AlltoAllAllGatherBatchMatMul";
  row.variant = variant;
  row.shape = StrCat("E ", shape.e, " C ", shape.c, " H ", shape.h, " M ", shape.m, " ep ", shape.ep, " tp ", shape.tp);
  row.ranks = static_cast<int>(shape.ep * shape.tp);
  return Time(row, [&](Row& r) -> Status {
    reference::MoeCase c = reference::MakeMoeCase(shape);
    MC2_ASSIGN_OR_RETURN(auto cann, reference::AlltoAllAllGatherBatchMatMul(c.ranks, c.attrs, Mode::kCann));
    MC2_ASSIGN_OR_RETURN(auto exact, reference::AlltoAllAllGatherBatchMatMul(c.ranks, c.attrs, Mode::kExact));
    for (size_t i = 0; i < cann.size(); ++i) {
      Compare(cann[i].y1, exact[i].y1, r);
      if (cann[i].y2) Compare(*cann[i].y2, *exact[i].y2, r);
      if (cann[i].y3) Compare(*cann[i].y3, *exact[i].y3, r);
    }
    return Status::Ok();
  });
}

Row RunLinearParallel(const std::string& variant, const reference::LinearParallelShape& shape) {
  Row row;
  row.op = "LinearParallel";
  row.variant = variant;
  row.shape = StrCat("x (", shape.m, ",", shape.k, ") w (", shape.k, ",", shape.n, ")");
  row.ranks = shape.world_size;
  return Time(row, [&](Row& r) -> Status {
    reference::LinearParallelCase c = reference::MakeLinearParallelCase(shape);
    MC2_ASSIGN_OR_RETURN(auto cann, reference::LinearParallel(c.ranks, c.attrs, Mode::kCann));
    MC2_ASSIGN_OR_RETURN(auto exact, reference::LinearParallel(c.ranks, c.attrs, Mode::kExact));
    for (size_t i = 0; i < cann.size(); ++i) {
      Compare(cann[i].output, exact[i].output, r);
      if (cann[i].intermediate) Compare(*cann[i].intermediate, *exact[i].intermediate, r);
    }
    return Status::Ok();
  });
}

std::vector<Row> RunAll(int ranks) {
  std::vector<Row> rows;
  {
    reference::ArnShape s;
    s.world_size = ranks;
    s.k = 1024;
    s.n = 512;
    rows.push_back(RunArn("fp16 x int8, per-channel, offset, bias", s));
    s.act = DType::kBFloat16;
    s.weight = DType::kInt4;
    s.scale = reference::ScaleKind::kPerGroup;
    s.group_size = 128;
    s.transposed_weight = true;
    s.bias = false;
    rows.push_back(RunArn("bf16 x int4, per-group 128, transposed x2", s));
  }
  {
    reference::MoeShape s;
    s.e = 4;
    s.c = 16;
    s.h = 256;
    s.m = 128;
    rows.push_back(RunMoe("fp16, shard H, GELU, bias, y2 y3", s));
    s.act = DType::kBFloat16;
    s.x_shard_type = 1;
    s.act_type = ActType::kSilu;
    s.transposed_weight = true;
    rows.push_back(RunMoe("bf16, shard C, SiLU, transposed weight", s));
  }
  {
    reference::LinearParallelShape s;
    s.world_size = ranks;
    s.m = 16;
    s.k = 512;
    s.n = 256;
    s.attrs.has_residual = true;
    rows.push_back(RunLinearParallel("LINEAR_ALL_REDUCE fp16, residual", s));
    s.attrs.has_residual = false;
    s.attrs.type = LinearParallelType::kLinearReduceScatter;
    s.act = DType::kBFloat16;
    rows.push_back(RunLinearParallel("LINEAR_REDUCE_SCATTER bf16", s));
    s.attrs.type = LinearParallelType::kAllGatherLinear;
    s.attrs.keep_intermediate = true;
    s.attrs.trans_weight = false;
    rows.push_back(RunLinearParallel("ALL_GATHER_LINEAR bf16, keepIntermediate", s));
    s.attrs.keep_intermediate = false;
    s.attrs.type = LinearParallelType::kLinearAllReduce;
    s.attrs.quant_type = QuantType::kPerGroup;
    s.attrs.quant_group_size = 128;
    s.act = DType::kFloat16;
    rows.push_back(RunLinearParallel("LINEAR_ALL_REDUCE W8A16 per-group 128", s));
    s.attrs.quant_type = QuantType::kPerChannel;
    s.attrs.quant_group_size = 0;
    s.w8a8 = true;
    s.attrs.out_dtype = DType::kFloat16;
    rows.push_back(RunLinearParallel("LINEAR_ALL_REDUCE W8A8 per-channel -> fp16", s));
  }
  return rows;
}

int RunDemo(int ranks) {
  std::printf("mc2 demo: golden reference of every operator, CANN rounding vs float64 (%d ranks)\n\n", ranks);
  std::vector<Row> rows = RunAll(ranks);
  std::printf("%-38s %-44s %-34s %5s %9s %10s  %s\n", "operator", "variant", "shape", "ranks", "ref ms",
              "dev exact", "result");
  bool all = true;
  for (const Row& r : rows) {
    const char* result = !r.error.empty() ? "ERROR" : (r.pass ? "ok" : "NOT FINITE");
    all = all && r.error.empty() && r.pass;
    std::printf("%-38s %-44s %-34s %5d %9.1f %10.2e  %s\n", r.op.c_str(), r.variant.c_str(), r.shape.c_str(),
                r.ranks, r.ms, r.max_err, result);
    if (!r.error.empty()) std::printf("    %s\n", r.error.c_str());
  }
  std::printf("\ndev exact: max |cann - exact| / max(1, |exact|) over all outputs of all ranks: how far CANN's\n"
              "intermediate roundings move the golden result from the float64 one.\n");
  return all ? 0 : 1;
}

}  // namespace

CLI::App* AddDemo(CLI::App& app, int* exit_code) {
  CLI::App* cmd = app.add_subcommand("demo", "Run every operator on a default case and check it");
  static int ranks = 2;
  cmd->add_option("-n,--ranks", ranks, "number of ranks")->check(CLI::Range(1, 8));
  cmd->callback([exit_code] { *exit_code = RunDemo(ranks); });
  return cmd;
}

}  // namespace mc2::cli
