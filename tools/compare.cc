// `mc2 compare ACTUAL GOLDEN`: applies Huawei's accuracy rules (spec 5) to two output sets in the
// run-op layout (DIR/rank<i>/<name>.npy) and prints, per tensor, pass/fail with error statistics.
// The rule is the one CANN's own tests use for the operator (--op), or one chosen with --rule.
// Exit code: 0 all pass, 1 some fail, 2 nothing to compare or unreadable files.
#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "cli.h"
#include "core/npy.h"
#include "op_io.h"
#include "reference/accuracy.h"

namespace mc2::cli {
namespace {

namespace fs = std::filesystem;

struct CompareOptions {
  std::string actual, golden;
  std::string op;
  std::string rule = "auto";
  std::string dtype;
  double rtol = 0.005, atol = 0.005;
};

// The dtype whose thresholds apply: --dtype, else the file's (float32 files hold bf16 outputs by
// mc2's .npy convention, float64 ones exact-mode outputs judged as fp32).
StatusOr<DType> JudgedDType(const CompareOptions& o, DType file) {
  if (o.dtype == "fp16") return DType::kFloat16;
  if (o.dtype == "bf16") return DType::kBFloat16;
  if (o.dtype == "fp32") return DType::kFloat32;
  if (!o.dtype.empty()) return AclnnError(aclnn::kErrParamInvalid, "--dtype: '", o.dtype, "' must be fp16, bf16 or fp32");
  if (file == DType::kFloat16) return DType::kFloat16;
  if (file == DType::kFloat32) return DType::kBFloat16;
  return DType::kFloat32;
}

StatusOr<reference::RuleSpec> ChooseRule(const CompareOptions& o, DType dtype) {
  if (o.rule == "auto") {
    if (o.op.empty()) {
      reference::RuleSpec spec;
      spec.rule = reference::AccuracyRule::kAllClose;
      spec.dtype = dtype;
      spec.rtol = o.rtol;
      spec.atol = o.atol;
      return spec;
    }
    MC2_ASSIGN_OR_RETURN(OpKind op, ParseOpKind(o.op));
    const reference::AccuracyOp acc = op == OpKind::kMoe ? reference::AccuracyOp::kAlltoAllAllGatherBatchMatMul
                                      : op == OpKind::kLinearParallel
                                          ? reference::AccuracyOp::kLinearParallel
                                          : reference::AccuracyOp::kMatmulAllReduceAddRmsNorm;
    return reference::DefaultRule(acc, dtype);
  }
  reference::RuleSpec spec;
  spec.dtype = dtype;
  if (o.rule == "allclose") {
    spec.rule = reference::AccuracyRule::kAllClose;
    spec.rtol = o.rtol;
    spec.atol = o.atol;
  } else if (o.rule == "rtol") {
    spec.rule = reference::AccuracyRule::kAssertRtolEqual;
    spec.prec = o.rtol;
    spec.prec16 = o.rtol;
  } else if (o.rule == "ref") {
    spec.rule = reference::AccuracyRule::kRefCompare;
    spec.err = reference::RefCompareErr(dtype);
  } else {
    return AclnnError(aclnn::kErrParamInvalid, "--rule: '", o.rule, "' must be auto, allclose, rtol or ref");
  }
  return spec;
}

int RunCompare(const CompareOptions& o) {
  const int ranks = CountRankDirs(o.golden);
  if (ranks == 0) {
    std::fprintf(stderr, "mc2 compare: %s has no rank0/ directory\n", o.golden.c_str());
    return 2;
  }
  int compared = 0, failed = 0;
  for (int r = 0; r < ranks; ++r) {
    const fs::path gdir = fs::path(o.golden) / ("rank" + std::to_string(r));
    std::vector<fs::path> files;
    for (const auto& e : fs::directory_iterator(gdir)) {
      if (e.path().extension() == ".npy") files.push_back(e.path());
    }
    std::sort(files.begin(), files.end());
    for (const fs::path& g : files) {
      const fs::path a = fs::path(o.actual) / ("rank" + std::to_string(r)) / g.filename();
      const std::string label = "rank" + std::to_string(r) + "/" + g.filename().string();
      if (!fs::exists(a)) {
        std::printf("%-28s MISSING in %s\n", label.c_str(), o.actual.c_str());
        ++failed;
        continue;
      }
      auto golden = ReadNpy(g.string());
      auto actual = ReadNpy(a.string());
      if (!golden.ok() || !actual.ok()) {
        std::fprintf(stderr, "mc2 compare: %s\n",
                     (!golden.ok() ? golden.status() : actual.status()).ToString().c_str());
        return 2;
      }
      auto dtype = JudgedDType(o, actual->dtype());
      if (!dtype.ok()) {
        std::fprintf(stderr, "mc2 compare: %s\n", dtype.status().message().c_str());
        return 2;
      }
      auto spec = ChooseRule(o, *dtype);
      if (!spec.ok()) {
        std::fprintf(stderr, "mc2 compare: %s\n", spec.status().message().c_str());
        return 2;
      }
      const reference::AccuracyReport report = reference::Check(*spec, *actual, *golden);
      std::printf("%-28s %s\n", label.c_str(), report.ToString().c_str());
      ++compared;
      if (!report.pass) ++failed;
    }
  }
  if (compared == 0) {
    std::fprintf(stderr, "mc2 compare: no .npy files under %s\n", o.golden.c_str());
    return 2;
  }
  std::printf("%d passed, %d failed\n", compared - failed, failed);
  return failed == 0 ? 0 : 1;
}

}  // namespace

CLI::App* AddCompare(CLI::App& app, int* exit_code) {
  static CompareOptions o;
  CLI::App* cmd = app.add_subcommand("compare", "Check outputs against golden ones with Huawei's accuracy rules");
  cmd->add_option("actual", o.actual, "directory of the outputs to check")->required()->check(CLI::ExistingDirectory);
  cmd->add_option("golden", o.golden, "directory of the golden outputs")->required()->check(CLI::ExistingDirectory);
  cmd->add_option("--op", o.op, "operator whose tests' rule applies (arn, moe, lp)");
  cmd->add_option("--rule", o.rule, "auto|allclose|rtol|ref")->capture_default_str();
  cmd->add_option("--dtype", o.dtype, "dtype whose thresholds apply: fp16|bf16|fp32 (default: from the files)");
  cmd->add_option("--rtol", o.rtol, "allclose rtol / assertRtolEqual prec")->capture_default_str();
  cmd->add_option("--atol", o.atol, "allclose atol")->capture_default_str();
  cmd->callback([exit_code] { *exit_code = RunCompare(o); });
  return cmd;
}

}  // namespace mc2::cli
