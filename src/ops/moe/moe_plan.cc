#include "ops/moe/moe_plan.h"

#include <algorithm>

namespace mc2::ops {

const char* MoeAlgorithmName(MoeAlgorithm a) {
  switch (a) {
    case MoeAlgorithm::kAuto: return "auto";
    case MoeAlgorithm::kFused: return "fused";
    case MoeAlgorithm::kChained: return "chained";
  }
  return "?";
}

MoeSchedule ChooseMoeSchedule(const MoeGeometry& g, size_t ep_half, size_t tp_half, const MoeOptions& options) {
  MoeSchedule s;
  int64_t fit = 0;
  if (ep_half > 0 && tp_half > 0 && g.ExpertEpBytes() > 0 && g.ExpertY2Bytes() > 0) {
    fit = static_cast<int64_t>(std::min(ep_half / g.ExpertEpBytes(), tp_half / g.ExpertY2Bytes()));
  }
  fit = std::min({fit, kMoeMaxPassExperts, g.el});
  if (options.experts_per_pass > 0) fit = std::min(fit, options.experts_per_pass);
  if (options.algorithm == MoeAlgorithm::kChained || fit < 1) {
    s.algorithm = MoeAlgorithm::kChained;
    return s;
  }
  s.algorithm = MoeAlgorithm::kFused;
  // Even passes: 8 experts in 6 + 2 would leave the last pass without overlap; 4 + 4 keeps it.
  const int64_t passes = (g.el + fit - 1) / fit;
  s.experts_per_pass = (g.el + passes - 1) / passes;
  return s;
}

kernels::Activation ToKernelActivation(ActType act) {
  switch (act) {
    case ActType::kNone: return kernels::Activation::kNone;
    case ActType::kGelu: return kernels::Activation::kGelu;
    case ActType::kSilu: return kernels::Activation::kSilu;
    case ActType::kRelu: return kernels::Activation::kRelu;
    case ActType::kFastGelu: return kernels::Activation::kFastGelu;
  }
  return kernels::Activation::kNone;
}

RoundMode Y1RoundMode(const MoeGeometry& g) {
  if (g.dt == DType::kBFloat16) return RoundMode::kHalfAway;  // CAST_ROUND for every bf16 output
  return g.act == ActType::kSilu ? RoundMode::kHalfAway : RoundMode::kHalfEven;
}

}  // namespace mc2::ops
