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

struct Report {
  int32_t done;
  double max_abs;
  char message[512];
};

TEST(MoeProcesses, MatchGoldenOnATwoByTwoGridInBothLayouts) {
  constexpr int n = 4;
  for (GridLayout layout : {GridLayout::kTpConsecutive, GridLayout::kEpConsecutive}) {
    SCOPED_TRACE(layout == GridLayout::kTpConsecutive ? "tp-consecutive" : "ep-consecutive");
    auto info = comm::GetRootInfo();
    ASSERT_TRUE(info.ok()) << info.status().ToString();
    auto* reports = static_cast<Report*>(mmap(nullptr, sizeof(Report) * n, PROT_READ | PROT_WRITE,
                                              MAP_SHARED | MAP_ANONYMOUS, -1, 0));
    ASSERT_NE(reports, MAP_FAILED);
    std::vector<pid_t> pids;
    for (int r = 0; r < n; ++r) {
      const pid_t pid = fork();
      if (pid == 0) {
        comm::CommOptions o;
        o.symmetric_bytes = 1 << 20;
        o.slot_bytes = 256 << 10;
        o.timeout_ms = 60000;
        Report& rep = reports[r];
        auto c = comm::InitRootInfo(n, *info, r, o);
        std::string msg = c.ok() ? RunCases(**c, layout, &rep.max_abs) : "init: " + c.status().ToString();
        if (msg.empty() && std::string((*c)->transport()) != "processes") msg = "wrong transport";
        std::snprintf(rep.message, sizeof(rep.message), "%s", msg.c_str());
        rep.done = msg.empty() ? 1 : 2;
        _exit(msg.empty() ? 0 : 1);
      }
      pids.push_back(pid);
    }
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
    for (pid_t pid : pids) {
      int st = 0;
      while (waitpid(pid, &st, WNOHANG) != pid) {
        if (std::chrono::steady_clock::now() > deadline) {
          for (pid_t p : pids) kill(p, SIGKILL);
          FAIL() << "ranks did not finish within 120 s";
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(2));
      }
    }
    for (int r = 0; r < n; ++r) {
      EXPECT_EQ(reports[r].done, 1) << "rank " << r << ": " << reports[r].message;
      std::printf("[MoeOp processes] rank %d: max |error| %.3g\n", r, reports[r].max_abs);
    }
    munmap(reports, sizeof(Report) * n);
  }
}

}  // namespace
}  // namespace mc2::ops
