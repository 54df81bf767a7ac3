// `mc2 info`: version, the CPU's SIMD features, the Highway targets compiled in and the one each
// kernel dispatches to (asked from the kernels themselves), the transports of this build, and the
// threads a rank's pool gets with the environment variables that set them.
#include <hwy/targets.h>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>

#include "cli.h"
#include "core/thread_pool.h"
#include "kernels/cpu_features.h"

namespace mc2::cli {
namespace {

std::string TargetList(int64_t targets) {
  std::string s;
  for (int64_t bit = 1; bit > 0; bit <<= 1) {
    if (targets & bit) {
      if (!s.empty()) s += " ";
      s += hwy::TargetName(bit);
    }
  }
  return s;
}

const char* Env(const char* name) {
  const char* v = std::getenv(name);
  return v != nullptr ? v : "(unset)";
}

int RunInfo() {
  std::printf("mc2 %s\n\n", MC2_VERSION);
  const kernels::CpuFeatures f = kernels::DetectCpuFeatures();
  std::printf("CPU\n");
  std::printf("  hardware threads      %u\n", std::thread::hardware_concurrency());
  std::printf("  x86 features          avx2 %d fma %d f16c %d avx512f %d avx512bw %d avx512_vnni %d avx_vnni %d avx512_bf16 %d\n",
              f.avx2, f.fma, f.f16c, f.avx512f, f.avx512bw, f.avx512_vnni, f.avx_vnni, f.avx512_bf16);
  std::printf("  Arm features          neon %d sve %d dotprod %d\n", f.neon, f.sve, f.dotprod);
  std::printf("  SIMD targets compiled %s\n", TargetList(HWY_TARGETS).c_str());
  std::printf("  SIMD targets on host  %s\n", TargetList(hwy::SupportedTargets() & HWY_TARGETS).c_str());
  std::printf("\nKernel dispatch (the target each kernel runs on this CPU)\n");
  for (const kernels::KernelDispatch& k : kernels::KernelDispatchTargets()) {
    std::printf("  %-22s %s\n", k.kernel.c_str(), k.target.c_str());
  }
  std::printf("\nTransports\n");
  std::printf("  threads               yes (ranks as threads of one process, --threads)\n");
  std::printf("  processes             yes (memfd shared memory, `mc2 launch -n N` or the default of `mc2 demo`)\n");
#ifdef MC2_HAVE_MPI
  std::printf("  MPI                   yes (under mpirun: shared memory within a machine, MPI between machines)\n");
#else
  std::printf("  MPI                   no (built with MC2_WITH_MPI=OFF or without libopenmpi-dev)\n");
#endif
  std::printf("\nThreads per rank\n");
  auto threads = ThreadPool::DefaultNumThreads();
  if (threads.ok()) {
    std::printf("  this process          %d\n", *threads);
  } else {
    std::printf("  this process          error: %s\n", threads.status().ToString().c_str());
  }
  std::printf("  MC2_NUM_THREADS       %s   (threads of each rank's pool; wins when set)\n", Env("MC2_NUM_THREADS"));
  std::printf("  MC2_LOCAL_WORLD_SIZE  %s   (ranks on this machine; default pool = usable cores / this)\n",
              Env("MC2_LOCAL_WORLD_SIZE"));
  std::printf("  communicator tuning   MC2_COMM_TIMEOUT_MS %s, MC2_COMM_SPIN_US %s (docs/comm.md)\n",
              Env("MC2_COMM_TIMEOUT_MS"), Env("MC2_COMM_SPIN_US"));
  return threads.ok() ? 0 : 1;
}

}  // namespace

CLI::App* AddInfo(CLI::App& app, int* exit_code) {
  CLI::App* cmd = app.add_subcommand(
      "info", "Version, CPU features, the kernel each path dispatches to, transports, threads per rank");
  cmd->callback([exit_code] { *exit_code = RunInfo(); });
  return cmd;
}

}  // namespace mc2::cli
