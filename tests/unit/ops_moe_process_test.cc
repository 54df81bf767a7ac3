// MoeOp with ranks as forked processes (the process transport: memfd segments shared between
// processes, sub-communicators for the EP and TP groups): 4 ranks as a 2 x 2 grid in both group
// layouts, judged by each rank against the golden model it computes itself (the cases are
// deterministic).
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <string>
#include <thread>

#include "comm/process_transport.h"
#include "comm/root_info.h"
#include "forked_ranks_test_util.h"
#include "ops_moe_test_util.h"

namespace mc2::ops {
namespace {

using reference::MoeShape;
using testing::GridLayout;

struct ProcCase {
  const char* name;
  MoeShape shape;
  MoeOptions options;
};

std::vector<ProcCase> Cases() {
  MoeShape a;  // fp16, type 0, GELU, 3-D bias, y2 and y3
  a.e = 8;
  a.c = 6;
  a.h = 64;
  a.m = 64;
  MoeShape b = a;  // bf16, type 1, SiLU, transposed weight, odd C / tp
  b.act = DType::kBFloat16;
  b.x_shard_type = 1;
  b.act_type = ActType::kSilu;
  b.c = 10;
  b.transposed_weight = true;
  return {{"fp16_h_gelu_fused", a, {}},
          {"bf16_c_silu_fused_passes", b, {MoeAlgorithm::kFused, 1}},
          {"fp16_h_gelu_chained", a, {MoeAlgorithm::kChained, 0}}};
}

// Runs every case as world rank world.rank(); "" on success. `max_abs` gets the largest error.
std::string RunCases(comm::Communicator& world, GridLayout layout, double* max_abs) {
  const testing::GridPlace place = testing::PlaceInGrid(layout, world.rank(), 2, 2);
  auto ep = world.CreateSub(place.ep_group);
  if (!ep.ok()) return "ep group: " + ep.status().ToString();
  auto tp = world.CreateSub(place.tp_group);
  if (!tp.ok()) return "tp group: " + tp.status().ToString();
  for (const ProcCase& pc : Cases()) {
    const reference::MoeCase c = reference::MakeMoeCase(pc.shape);
    auto golden = reference::AlltoAllAllGatherBatchMatMul(c.ranks, c.attrs, reference::Mode::kCann);
    if (!golden.ok()) return golden.status().ToString();
    ThreadPool pool(1);
    const int64_t grid = place.p * 2 + place.t;
    const testing::MoeRankResult res = testing::RunMoeRank(c, grid, MoeContext{ep->get(), tp->get(), &pool}, pc.options, 2);
    if (!res.status.ok()) return StrCat(pc.name, ": ", res.status.ToString());
    if (!res.repeat_identical) return StrCat(pc.name, ": two runs differ");
    const MoeAlgorithm want = pc.options.algorithm == MoeAlgorithm::kAuto ? MoeAlgorithm::kFused : pc.options.algorithm;
    if (res.algorithm != want) return StrCat(pc.name, ": ran ", MoeAlgorithmName(res.algorithm));
    int64_t differing = 0;
    const std::string verdict = testing::JudgeMoeRank(res, (*golden)[static_cast<size_t>(grid)], max_abs, &differing);
    if (!verdict.empty()) return StrCat(pc.name, ": ", verdict);
  }
  return "";
}

TEST(MoeProcesses, MatchGoldenOnATwoByTwoGridInBothLayouts) {
  constexpr int n = 4;
  for (GridLayout layout : {GridLayout::kTpConsecutive, GridLayout::kEpConsecutive}) {
    SCOPED_TRACE(layout == GridLayout::kTpConsecutive ? "tp-consecutive" : "ep-consecutive");
    std::vector<mc2::testing::ForkedRankReport> reports;
    const std::string failure = mc2::testing::RunForkedRanks(
        n, [&](comm::Communicator& c, mc2::testing::ForkedRankReport& rep) { return RunCases(c, layout, &rep.max_abs); }, &reports);
    ASSERT_EQ(failure, "");
    for (int r = 0; r < n; ++r) {
      EXPECT_EQ(reports[r].done, 1) << "rank " << r << ": " << reports[r].message;
      std::printf("[MoeOp processes] rank %d: max |error| %.3g\n", r, reports[r].max_abs);
    }
  }
}

}  // namespace
}  // namespace mc2::ops
