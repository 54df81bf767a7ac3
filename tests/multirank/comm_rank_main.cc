// One rank of a multi-rank test, started by RunLauncher or mpirun:
//   comm_rank_main collectives   every collective against the reference (exit 0 on success)
//   comm_rank_main fail          rank 1 exits with code 3, the others block in a Barrier
//   comm_rank_main sleep         every rank sleeps 60 s (signal forwarding)
//   comm_rank_main fingerprint   a fixed fp32 AllReduce must be bitwise equal to the same
//                                AllReduce run by threads in this process (determinism)
//   comm_rank_main tolerant      collectives whose results do not depend on the order of
//                                additions (integers, data movement): for machine layouts that
//                                reduce inside machines first
#include <unistd.h>

#include <thread>

#include <cstdio>
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

std::string CheckFingerprint(Communicator& c) {
  const size_t count = 100003;
  testing::Bytes mine;
  MC2_CHECK_EMPTY(testing::FingerprintAllReduce(c, count, &mine));
  auto comms = InitThreads(c.world_size());
  if (!comms.ok()) return comms.status().ToString();
  std::vector<testing::Bytes> out(static_cast<size_t>(c.world_size()));
  std::vector<std::thread> threads;
  for (int r = 0; r < c.world_size(); ++r) {
    threads.emplace_back([&, r] {
      (void)testing::FingerprintAllReduce(*(*comms)[static_cast<size_t>(r)], count, &out[static_cast<size_t>(r)]);
    });
  }
  for (auto& t : threads) t.join();
  if (out[0] != mine) return StrCat("AllReduce over ", c.transport(), " differs from the thread transport");
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
