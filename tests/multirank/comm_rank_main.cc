// One rank of a multi-rank test, started by RunLauncher or mpirun:
//   comm_rank_main collectives   every collective against the reference (exit 0 on success)
//   comm_rank_main fail          rank 1 exits with code 3, the others block in a Barrier
//   comm_rank_main sleep         every rank sleeps 60 s (signal forwarding)
//   comm_rank_main fingerprint   a fixed fp32 AllReduce must be bitwise equal to the same
//                                AllReduce run by threads in this process (determinism)
//   comm_rank_main tolerant      collectives whose results do not depend on the order of
//                                additions (integers, data movement)
//   comm_rank_main stall S B     rank S sleeps 3 x MC2_COMM_TIMEOUT_MS before an AllReduce the
//                                others start at once: every rank must get HCCL_E_TIMEOUT or
//                                HCCL_E_REMOTE (never hang), rank B (the one that waits on S
//                                directly) must name rank S, and the broken communicator must
//                                fail the next call at once
#include <unistd.h>

#include <thread>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "comm/process_transport.h"
#include "comm/thread_transport.h"
#include "comm_test_util.h"

using namespace mc2;
using namespace mc2::comm;

namespace {

std::string CheckOrderFree(Communicator& c) {
  uint64_t seed = 500;
  for (size_t count : {size_t{0}, size_t{1}, size_t{5}, size_t{1027}, size_t{40000}}) {
    for (DType dt : {DType::kInt32, DType::kInt64, DType::kInt8}) {
      MC2_CHECK_EMPTY(testing::CheckAllReduce(c, dt, ReduceOp::kSum, count, ++seed, false));
    }
    MC2_CHECK_EMPTY(testing::CheckAllReduce(c, DType::kFloat32, ReduceOp::kMax, count, ++seed, true));
    MC2_CHECK_EMPTY(testing::CheckReduceScatter(c, DType::kInt32, count / 4 + 1, ++seed, false));
    MC2_CHECK_EMPTY(testing::CheckAllGather(c, DType::kFloat32, count, ++seed, false));
    MC2_CHECK_EMPTY(testing::CheckAllGather(c, DType::kFloat16, count, ++seed, true));
    MC2_CHECK_EMPTY(testing::CheckAllToAll(c, DType::kBFloat16, count / 4 + 1, ++seed));
    MC2_CHECK_EMPTY(testing::CheckBroadcast(c, DType::kFloat32, count, static_cast<int>(count % 4) % c.world_size(), ++seed));
  }
  MC2_CHECK_EMPTY(testing::CheckAllToAllV(c, DType::kFloat32, 100, ++seed));
  MC2_CHECK_STATUS(c.Barrier());
  return "";
}

// The AllReduce cases the fingerprint compares: the three float types the operators reduce,
// odd sizes, one message of several 512 KiB windows, and a product (order matters for it too).
struct FingerprintCase {
  DType dtype;
  size_t count;
  ReduceOp op;
};
std::vector<FingerprintCase> FingerprintCases() {
  std::vector<FingerprintCase> cases;
  for (DType dt : {DType::kFloat32, DType::kFloat16, DType::kBFloat16}) {
    for (size_t count : {size_t{1}, size_t{7}, size_t{1027}, size_t{100003}, size_t{300001}}) {
      cases.push_back({dt, count, ReduceOp::kSum});
    }
  }
  cases.push_back({DType::kFloat32, 4099, ReduceOp::kProd});
  return cases;
}

std::string CheckStall(Communicator& c, int stalled, int blamer) {
  if (stalled < 0 || stalled >= c.world_size() || blamer < 0 || blamer >= c.world_size()) {
    return StrCat("stall: ranks ", stalled, " and ", blamer, " must be in [0, ", c.world_size(), ")");
  }
  MC2_CHECK_STATUS(c.Barrier());
  const int64_t timeout_ms = c.options().timeout_ms;
  if (c.rank() == stalled) usleep(static_cast<useconds_t>(3 * timeout_ms * 1000));
  std::vector<float> data(50000, 1.0f + static_cast<float>(c.rank()));
  const int64_t t0 = NowNs();
  const Status s = c.AllReduce(data.data(), data.data(), data.size(), DType::kFloat32);
  const double waited_ms = static_cast<double>(NowNs() - t0) / 1e6;
  std::fprintf(stderr, "rank %d: AllReduce returned after %.0f ms: %s\n", c.rank(), waited_ms,
               s.ToString().c_str());
  if (s.ok()) return "AllReduce succeeded although a rank stalled past the timeout";
  if (s.code() != hccl::kETimeout && s.code() != hccl::kERemote) {
    return StrCat("expected HCCL_E_TIMEOUT or HCCL_E_REMOTE, got ", s.ToString());
  }
  if (c.rank() == blamer && s.message().find(StrCat("rank ", stalled, " ")) == std::string::npos) {
    return StrCat("the error does not name the stalled rank ", stalled, ": ", s.ToString());
  }
  const Status again = c.Barrier();
  if (again.ok()) return "a Barrier on the broken communicator succeeded";
  return "";
}

std::string CheckFingerprint(Communicator& c) {
  const std::vector<FingerprintCase> cases = FingerprintCases();
  std::vector<testing::Bytes> mine(cases.size());
  for (size_t i = 0; i < cases.size(); ++i) {
    MC2_CHECK_EMPTY(testing::FingerprintAllReduce(c, cases[i].count, &mine[i], cases[i].dtype, cases[i].op));
  }
  auto comms = InitThreads(c.world_size());
  if (!comms.ok()) return comms.status().ToString();
  std::vector<std::vector<testing::Bytes>> out(static_cast<size_t>(c.world_size()),
                                               std::vector<testing::Bytes>(cases.size()));
  std::vector<std::string> errors(static_cast<size_t>(c.world_size()));
  std::vector<std::thread> threads;
  for (int r = 0; r < c.world_size(); ++r) {
    threads.emplace_back([&, r] {
      const size_t at = static_cast<size_t>(r);
      for (size_t i = 0; i < cases.size() && errors[at].empty(); ++i) {
        errors[at] = testing::FingerprintAllReduce(*(*comms)[at], cases[i].count, &out[at][i],
                                                   cases[i].dtype, cases[i].op);
      }
    });
  }
  for (auto& t : threads) t.join();
  for (const std::string& e : errors) {
    if (!e.empty()) return StrCat("threads: ", e);
  }
  for (size_t i = 0; i < cases.size(); ++i) {
    if (out[static_cast<size_t>(c.rank())][i] != mine[i]) {
      return StrCat("AllReduce ", DTypeName(cases[i].dtype), " x ", cases[i].count, " ",
                    ReduceOpName(cases[i].op), " over ", c.transport(), " (", c.name(),
                    ") differs from the thread transport");
    }
  }
  return "";
}

}  // namespace

int main(int argc, char** argv) {
  const std::string scenario = argc > 1 ? argv[1] : "collectives";
  if (scenario == "sleep") {
    sleep(60);
    return 0;
  }
  auto comm = InitFromEnv();
  if (!comm.ok()) {
    std::fprintf(stderr, "init: %s\n", comm.status().ToString().c_str());
    return 1;
  }
  Communicator& c = **comm;
  const int64_t env_rank = EnvInt("MC2_RANK", EnvInt("OMPI_COMM_WORLD_RANK", 0));
  if (env_rank != c.rank()) {
    std::fprintf(stderr, "rank %d but the environment says %lld\n", c.rank(), static_cast<long long>(env_rank));
    return 1;
  }
  if (scenario == "fail") {
    if (c.rank() == 1) return 3;
    const Status s = c.Barrier();
    std::fprintf(stderr, "rank %d: barrier returned %s\n", c.rank(), s.ToString().c_str());
    return 0;
  }
  std::string err;
  if (scenario == "fingerprint") {
    err = CheckFingerprint(c);
  } else if (scenario == "stall") {
    err = CheckStall(c, argc > 2 ? std::atoi(argv[2]) : -1, argc > 3 ? std::atoi(argv[3]) : -1);
  } else if (scenario == "tolerant") {
    err = CheckOrderFree(c);
  } else {
    err = testing::CheckEverything(c, true);
    if (err.empty() && c.world_size() % 2 == 0) err = testing::CheckGrid(c, 2);
  }
  if (!err.empty()) {
    std::fprintf(stderr, "rank %d (%s): %s\n", c.rank(), c.transport(), err.c_str());
    return 1;
  }
  if (c.rank() == 0) std::printf("%s: %d ranks over %s (%s) passed\n", scenario.c_str(), c.world_size(), c.transport(), c.name().c_str());
  return 0;
}
