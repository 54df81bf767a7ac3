// MoeOp with ranks as forked processes (the process transport: memfd segments shared between
// processes, sub-communicators for the EP and TP groups) and under mpirun (the MPI transport):
// 4 ranks as a 2 x 2 grid in both group layouts, judged by each rank against the golden model it
// computes itself (the cases are deterministic).
//
// The MPI tests start `mpirun --oversubscribe -np 4` on this very binary with MC2_MOE_MPI_RANK=1
// set; in that mode only MoeMpiRank.* runs, one process per rank. Plain mpirun puts the 4 ranks on
// one "machine" (shared memory, so the fused path runs); MC2_MPI_FORCE_INTERNODE=1 makes every
// rank its own machine, so peers' buffers are not mapped and the operator must choose the chained
// path over the hierarchical MPI communicator.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>

#include "comm/mpi_transport.h"
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
// `auto_algorithm`: what MoeAlgorithm::kAuto must choose on these communicators.
std::string RunCases(comm::Communicator& world, GridLayout layout, double* max_abs,
                     MoeAlgorithm auto_algorithm = MoeAlgorithm::kFused) {
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
    MoeAlgorithm want = pc.options.algorithm == MoeAlgorithm::kAuto ? auto_algorithm : pc.options.algorithm;
    // A forced fused schedule still falls back to the chain when the buffers are not mapped.
    if (auto_algorithm == MoeAlgorithm::kChained) want = MoeAlgorithm::kChained;
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

// One rank under mpirun (only when started by MoeMpi.*): both grid layouts.
TEST(MoeMpiRank, MatchesGolden) {
  if (std::getenv("MC2_MOE_MPI_RANK") == nullptr) GTEST_SKIP() << "runs under mpirun only";
  comm::CommOptions o = comm::CommOptions::FromEnv();
  o.symmetric_bytes = 1 << 20;
  auto c = comm::InitMpi(o);
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  ASSERT_EQ((*c)->world_size(), 4);
  const bool internode = std::getenv("MC2_MPI_FORCE_INTERNODE") != nullptr;
  const MoeAlgorithm auto_algorithm = internode ? MoeAlgorithm::kChained : MoeAlgorithm::kFused;
  double max_abs = 0;
  for (GridLayout layout : {GridLayout::kTpConsecutive, GridLayout::kEpConsecutive}) {
    EXPECT_EQ(RunCases(**c, layout, &max_abs, auto_algorithm), "")
        << "rank " << (*c)->rank() << (layout == GridLayout::kTpConsecutive ? " tp-consecutive" : " ep-consecutive");
  }
  std::printf("[MoeOp mpi] rank %d of %d (%s, %s path): max |error| %.3g\n", (*c)->rank(), (*c)->world_size(),
              (*c)->transport(), MoeAlgorithmName(auto_algorithm), max_abs);
}

// Runs MoeMpiRank.* under `mpirun -np 4` with `env` (-x ...) and expects all 4 ranks to pass.
void RunUnderMpirun(const std::string& env) {
  char self[4096] = {0};
  const ssize_t len = readlink("/proc/self/exe", self, sizeof(self) - 1);
  ASSERT_GT(len, 0);
  const std::string cmd = StrCat("timeout 170 mpirun --allow-run-as-root --oversubscribe -np 4 -x MC2_MOE_MPI_RANK=1 ",
                                 env, " ", self, " --gtest_filter=MoeMpiRank.* --gtest_color=no 2>&1");
  FILE* out = popen(cmd.c_str(), "r");
  ASSERT_NE(out, nullptr);
  std::string text;
  char buf[512];
  while (std::fgets(buf, sizeof(buf), out) != nullptr) text += buf;
  const int rc = pclose(out);
  EXPECT_EQ(rc, 0) << text;
  size_t passed = 0;
  for (size_t at = text.find("[  PASSED  ] 1 test"); at != std::string::npos; at = text.find("[  PASSED  ] 1 test", at + 1)) {
    ++passed;
  }
  EXPECT_EQ(passed, 4u) << text;
  for (size_t at = text.find("[MoeOp mpi]"); at != std::string::npos; at = text.find("[MoeOp mpi]", at + 1)) {
    std::printf("%s\n", text.substr(at, text.find('\n', at) - at).c_str());
  }
}

bool CanRunMpi() {
  return comm::MpiTransportAvailable() && std::system("command -v mpirun > /dev/null 2>&1") == 0;
}

TEST(MoeMpi, FourRanksOversubscribed) {
  if (std::getenv("MC2_MOE_MPI_RANK") != nullptr) GTEST_SKIP() << "this is a rank";
  if (!CanRunMpi()) GTEST_SKIP() << "mc2 built without MPI, or no mpirun";
  RunUnderMpirun("");
}

TEST(MoeMpi, FourRanksEachItsOwnMachine) {
  if (std::getenv("MC2_MOE_MPI_RANK") != nullptr) GTEST_SKIP() << "this is a rank";
  if (!CanRunMpi()) GTEST_SKIP() << "mc2 built without MPI, or no mpirun";
  RunUnderMpirun("-x MC2_MPI_FORCE_INTERNODE=1");
}

}  // namespace
}  // namespace mc2::ops
