// One rank of a multi-rank test, started by RunLauncher or mpirun:
//   comm_rank_main collectives   every collective against the reference (exit 0 on success)
//   comm_rank_main fail          rank 1 exits with code 3, the others block in a Barrier
//   comm_rank_main sleep         every rank sleeps 60 s (signal forwarding)
//   comm_rank_main fingerprint   prints a hash of a fixed fp32 AllReduce (determinism)
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <string>

#include "comm/process_transport.h"
#include "comm_test_util.h"

using namespace mc2;
using namespace mc2::comm;

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
  if (scenario == "fingerprint") {
    testing::Bytes out;
    const std::string err = testing::FingerprintAllReduce(c, 100003, &out);
    if (!err.empty()) {
      std::fprintf(stderr, "%s\n", err.c_str());
      return 1;
    }
    uint64_t h = 1469598103934665603ull;
    for (uint8_t b : out) h = (h ^ b) * 1099511628211ull;
    if (c.rank() == 0) std::printf("fingerprint %d %016llx\n", c.world_size(), static_cast<unsigned long long>(h));
    return 0;
  }
  std::string err = testing::CheckEverything(c, true);
  if (err.empty() && c.world_size() % 2 == 0) err = testing::CheckGrid(c, 2);
  if (!err.empty()) {
    std::fprintf(stderr, "rank %d (%s): %s\n", c.rank(), c.transport(), err.c_str());
    return 1;
  }
  return 0;
}
