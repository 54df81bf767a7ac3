// LinearParallelOp with ranks as forked processes (process transport: memfd segments shared between
// processes) and under mpirun (MPI transport): a case per type, each rank judging its outputs
// against the golden model it computes itself (the cases are deterministic).
//
// The MPI test starts `mpirun --oversubscribe -np 4` on this binary with MC2_LP_MPI_RANK=1 set; in
// that mode only LpMpiRank.* runs, one process per rank.
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
#include "ops_linear_parallel_test_util.h"

namespace mc2::ops {
namespace {

using reference::LinearParallelShape;
using Type = LinearParallelType;

struct ProcCase {
  const char* name;
  LinearParallelShape shape;
  LpOptions options;
};

// `internode`: every rank its own machine (MC2_MPI_FORCE_INTERNODE=1): every case runs chained,
// the prefill ones in chunks on the progress thread; ALL_GATHER_LINEAR_REDUCE_SCATTER has no
// chained form there and is left out.
std::vector<ProcCase> Cases(int world, bool internode = false) {
  std::vector<ProcCase> v;
  LinearParallelShape ar;
  ar.m = 3;
  ar.k = 128;
  ar.n = 64;
  ar.attrs.has_residual = true;
  v.push_back({"all_reduce_decode", ar, {}});
  LinearParallelShape ar2 = ar;
  ar2.act = DType::kBFloat16;
  ar2.m = 48;
  ar2.attrs.quant_type = QuantType::kPerChannel;
  v.push_back({"all_reduce_w8a16_twoshot", ar2, LpOptions{LpAlgorithm::kTwoShot, 16}});
  LinearParallelShape rs = ar;
  rs.attrs.type = Type::kLinearReduceScatter;
  rs.m = 32;
  rs.w8a8 = true;
  rs.attrs.quant_type = QuantType::kPerChannel;
  v.push_back({"reduce_scatter_w8a8", rs, LpOptions{LpAlgorithm::kAuto, 4}});
  LinearParallelShape ag = ar;
  ag.attrs.type = Type::kAllGatherLinear;
  ag.attrs.has_residual = false;
  ag.attrs.keep_intermediate = true;
  v.push_back({"all_gather_keep", ag, {}});
  LinearParallelShape ag2 = ag;
  ag2.m = 20;
  ag2.attrs.has_residual = true;
  v.push_back({"all_gather_keep_prefill_chunks", ag2, LpOptions{LpAlgorithm::kAuto, 6}});
  if (internode) return v;
  LinearParallelShape agrs = ag;
  agrs.attrs.type = Type::kAllGatherLinearReduceScatter;
  agrs.attrs.keep_intermediate = false;
  agrs.m = 8;
  agrs.attrs.ag_dim = 2;
  agrs.attrs.rs_dim = world / 2;
  v.push_back({"all_gather_reduce_scatter", agrs, {}});
  return v;
}

// Runs every case as rank comm.rank(); "" on success. `max_abs` gets the largest error.
std::string RunCases(comm::Communicator& comm, double* max_abs, bool internode = false) {
  for (const ProcCase& pc : Cases(comm.world_size(), internode)) {
    LinearParallelShape s = pc.shape;
    s.world_size = comm.world_size();
    reference::LinearParallelCase c = reference::MakeLinearParallelCase(s);
    auto golden = reference::LinearParallel(c.ranks, c.attrs, reference::Mode::kCann);
    if (!golden.ok()) return StrCat(pc.name, ": golden: ", golden.status().ToString());
    ThreadPool pool(1);
    const testing::LpRankResult res = testing::RunLpRank(c, &comm, &pool, pc.options, 2);
    if (!res.status.ok()) return StrCat(pc.name, ": ", res.status.ToString());
    if (!res.repeat_identical) return StrCat(pc.name, ": two runs differ");
    const auto& want = (*golden)[static_cast<size_t>(comm.rank())];
    double rel = 0;
    const std::string verdict = mc2::testing::JudgeLp(c, comm.rank(), res.output, want.output, max_abs, &rel);
    if (!verdict.empty()) return StrCat(pc.name, ": ", verdict);
    if (c.attrs.keep_intermediate &&
        std::memcmp(res.intermediate.data(), want.intermediate->data(), res.intermediate.bytes()) != 0) {
      return StrCat(pc.name, ": intermediate differs");
    }
  }
  return "";
}

TEST(LpProcesses, MatchGoldenWithTwoAndFourRanks) {
  for (int n : {2, 4}) {
    SCOPED_TRACE(::testing::Message() << n << " processes");
    std::vector<mc2::testing::ForkedRankReport> reports;
    const std::string failure = mc2::testing::RunForkedRanks(
        n, [&](comm::Communicator& c, mc2::testing::ForkedRankReport& rep) { return RunCases(c, &rep.max_abs); }, &reports);
    ASSERT_EQ(failure, "");
    for (int r = 0; r < n; ++r) {
      EXPECT_EQ(reports[r].done, 1) << "rank " << r << ": " << reports[r].message;
      std::printf("[LinearParallelOp processes] %d ranks, rank %d: max |error| %.3g\n", n, r, reports[r].max_abs);
    }
  }
}

// One rank under mpirun (only when started by LpMpi.FourRanksOversubscribed).
TEST(LpMpiRank, MatchesGolden) {
  if (std::getenv("MC2_LP_MPI_RANK") == nullptr) GTEST_SKIP() << "runs under mpirun only";
  comm::CommOptions o = comm::CommOptions::FromEnv();
  o.symmetric_bytes = 1 << 20;
  auto c = comm::InitMpi(o);
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  double max_abs = 0;
  const bool internode = std::getenv("MC2_MPI_FORCE_INTERNODE") != nullptr;
  EXPECT_EQ(RunCases(**c, &max_abs, internode), "") << "rank " << (*c)->rank();
  std::printf("[LinearParallelOp mpi] rank %d of %d (%s): max |error| %.3g\n", (*c)->rank(), (*c)->world_size(),
              (*c)->transport(), max_abs);
}

// Runs LpMpiRank.* under `mpirun -np 4` with `env` (-x ...) and expects all 4 ranks to pass.
void RunUnderMpirun(const std::string& env) {
  if (std::getenv("MC2_LP_MPI_RANK") != nullptr) GTEST_SKIP() << "this is a rank";
  if (!comm::MpiTransportAvailable()) GTEST_SKIP() << "mc2 built without MPI";
  if (std::system("command -v mpirun > /dev/null 2>&1") != 0) GTEST_SKIP() << "no mpirun";
  char self[4096] = {0};
  const ssize_t len = readlink("/proc/self/exe", self, sizeof(self) - 1);
  ASSERT_GT(len, 0);
  const std::string cmd = StrCat("timeout 170 mpirun --allow-run-as-root --oversubscribe -np 4 -x MC2_LP_MPI_RANK=1 ",
                                 env, " ", self, " --gtest_color=no --gtest_filter=LpMpiRank.* 2>&1");
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
  for (size_t at = text.find("[LinearParallelOp mpi]"); at != std::string::npos;
       at = text.find("[LinearParallelOp mpi]", at + 1)) {
    std::printf("%s\n", text.substr(at, text.find('\n', at) - at).c_str());
  }
}

TEST(LpMpi, FourRanksOversubscribed) { RunUnderMpirun(""); }

// Every rank its own "machine": the chained paths, prefill in chunks on the progress thread with
// the caller polling MPI between column blocks.
TEST(LpMpi, FourRanksEachItsOwnMachineRunChainedInChunks) { RunUnderMpirun("-x MC2_MPI_FORCE_INTERNODE=1"); }

}  // namespace
}  // namespace mc2::ops
