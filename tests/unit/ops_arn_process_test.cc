// ArnOp with ranks as forked processes (the process transport: memfd segments shared between
// processes) and under mpirun (the MPI transport): the same cases as the thread tests, judged by
// each rank against the golden model it computes itself (the cases are deterministic).
//
// The MPI test starts `mpirun --oversubscribe -np 4` on this very binary with MC2_ARN_MPI_RANK=1
// set; in that mode only ArnMpiRank.* runs, one process per rank.
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
#include "ops_arn_test_util.h"

namespace mc2::ops {
namespace {

using reference::ArnShape;
using reference::ScaleKind;

struct ProcCase {
  const char* name;
  ArnShape shape;
  ArnOptions options;
  bool inplace;
};

std::vector<ProcCase> Cases() {
  std::vector<ProcCase> v;
  ArnShape decode;  // fp16 int8 per-channel, m = 3
  decode.b = 1;
  decode.s = 3;
  decode.k = 256;
  decode.n = 128;
  v.push_back({"decode_oneshot", decode, {}, false});
  ArnShape prefill = decode;
  prefill.act = DType::kBFloat16;
  prefill.weight = DType::kInt4;
  prefill.scale = ScaleKind::kPerGroup;
  prefill.group_size = 64;
  prefill.transposed_weight = true;
  prefill.s = 70;
  v.push_back({"prefill_twoshot_inplace", prefill, ArnOptions{ArnAlgorithm::kTwoShot, 16}, true});
  v.push_back({"prefill_oneshot_chunks", prefill, ArnOptions{ArnAlgorithm::kOneShot, 24}, false});
  return v;
}

// Runs every case as rank comm.rank(); "" on success. `max_abs` gets the largest error against the
// full golden, `beyond_rule` the count of elements outside its allclose (explained by a product one
// ulp off, which the judge checks).
std::string RunCases(comm::Communicator& comm, double* max_abs, int64_t* beyond_rule) {
  for (const ProcCase& pc : Cases()) {
    ArnShape s = pc.shape;
    s.world_size = comm.world_size();
    reference::ArnCase c = reference::MakeArnCase(s);
    for (int r = 1; r < s.world_size; ++r) c.ranks[static_cast<size_t>(r)].bias.reset();
    auto golden = reference::WeightQuantMatmulAllReduceAddRmsNorm(c.ranks, c.attrs, reference::Mode::kCann);
    if (!golden.ok()) return golden.status().ToString();
    ThreadPool pool(1);
    const testing::RankResult res = testing::RunArnRank(c, &comm, &pool, pc.options, pc.inplace, 2);
    if (!res.status.ok()) return StrCat(pc.name, ": ", res.status.ToString());
    if (!res.repeat_identical) return StrCat(pc.name, ": two runs differ");
    // Every rank needs every rank's product to judge (ops_arn_test_util.h): gather them.
    const int world = comm.world_size();
    HostTensor all(res.product.dtype(), Dims{world, res.product.numel()});
    const Status gathered = comm.AllGather(res.product.data(), all.data(), static_cast<size_t>(res.product.numel()),
                                           res.product.dtype());
    if (!gathered.ok()) return StrCat(pc.name, ": gathering the products: ", gathered.ToString());
    std::vector<HostTensor> products;
    for (int r = 0; r < world; ++r) {
      HostTensor p(res.product.dtype(), res.product.dims());
      std::memcpy(p.data(), static_cast<const char*>(all.data()) + static_cast<size_t>(r) * p.bytes(), p.bytes());
      products.push_back(std::move(p));
    }
    testing::JudgeStats stats;
    const std::string verdict = testing::JudgeArnRank(c, products, comm.rank(), res.y, res.norm_out,
                                                      (*golden)[static_cast<size_t>(comm.rank())], &stats);
    if (!verdict.empty()) return StrCat(pc.name, ": ", verdict);
    *max_abs = std::max(*max_abs, stats.max_abs);
    *beyond_rule += stats.beyond_rule;
  }
  return "";
}

TEST(ArnProcesses, MatchGoldenWithTwoAndFourRanks) {
  for (int n : {2, 4}) {
    SCOPED_TRACE(::testing::Message() << n << " processes");
    std::vector<mc2::testing::ForkedRankReport> reports;
    const std::string failure = mc2::testing::RunForkedRanks(
        n, [&](comm::Communicator& c, mc2::testing::ForkedRankReport& rep) {
          return RunCases(c, &rep.max_abs, &rep.outliers);
        }, &reports);
    ASSERT_EQ(failure, "");
    for (int r = 0; r < n; ++r) {
      EXPECT_EQ(reports[r].done, 1) << "rank " << r << ": " << reports[r].message;
      std::printf("[ArnOp processes] %d ranks, rank %d: max |error| vs full golden %.3g, %lld outside its allclose\n", n, r,
                  reports[r].max_abs, static_cast<long long>(reports[r].outliers));
    }
  }
}

// One rank under mpirun (only when started by ArnMpi.FourRanksOversubscribed).
TEST(ArnMpiRank, MatchesGolden) {
  if (std::getenv("MC2_ARN_MPI_RANK") == nullptr) GTEST_SKIP() << "runs under mpirun only";
  comm::CommOptions o = comm::CommOptions::FromEnv();
  o.symmetric_bytes = 1 << 20;
  auto c = comm::InitMpi(o);
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  double max_abs = 0;
  int64_t beyond_rule = 0;
  EXPECT_EQ(RunCases(**c, &max_abs, &beyond_rule), "") << "rank " << (*c)->rank();
  std::printf("[ArnOp mpi] rank %d of %d (%s): max |error| vs full golden %.3g, %lld outside its allclose\n",
              (*c)->rank(), (*c)->world_size(), (*c)->transport(), max_abs, static_cast<long long>(beyond_rule));
}

// Starts `mpirun --oversubscribe -np 4` on this binary (ArnMpiRank.* only) with `env` and checks
// that all four ranks passed.
void RunFourMpiRanks(const std::string& env) {
  if (std::getenv("MC2_ARN_MPI_RANK") != nullptr) GTEST_SKIP() << "this is a rank";
  if (!comm::MpiTransportAvailable()) GTEST_SKIP() << "mc2 built without MPI";
  if (std::system("command -v mpirun > /dev/null 2>&1") != 0) GTEST_SKIP() << "no mpirun";
  char self[4096] = {0};
  const ssize_t len = readlink("/proc/self/exe", self, sizeof(self) - 1);
  ASSERT_GT(len, 0);
  const std::string cmd = StrCat("timeout 170 mpirun --allow-run-as-root --oversubscribe -np 4 -x MC2_ARN_MPI_RANK=1 ",
                                 env, " ", self, " --gtest_filter=ArnMpiRank.* --gtest_color=no 2>&1");
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
  for (size_t at = text.find("[ArnOp mpi]"); at != std::string::npos; at = text.find("[ArnOp mpi]", at + 1)) {
    std::printf("%s\n", text.substr(at, text.find('\n', at) - at).c_str());
  }
}

TEST(ArnMpi, FourRanksOversubscribed) { RunFourMpiRanks(""); }

// Two "machines" of two ranks (MC2_MPI_RANKS_PER_NODE=2): no peer buffer is mapped across them, so
// every case runs chained, the prefill ones in chunks whose all-reduce (shared memory inside a
// machine, MPI between them) runs on the progress thread.
TEST(ArnMpi, FourRanksOnTwoSimulatedMachinesRunChained) { RunFourMpiRanks("-x MC2_MPI_RANKS_PER_NODE=2"); }

}  // namespace
}  // namespace mc2::ops
