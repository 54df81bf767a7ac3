// `mc2 info`: version, the CPU's SIMD features, the Highway targets compiled in and the one chosen.
#include <hwy/targets.h>

#include <cstdio>
#include <string>
#include <thread>

#include "cli.h"

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

int RunInfo() {
  std::printf("mc2 %s\n", MC2_VERSION);
  std::printf("hardware threads      %u\n", std::thread::hardware_concurrency());
  std::printf("SIMD targets compiled %s\n", TargetList(HWY_TARGETS).c_str());
  std::printf("SIMD targets on host  %s\n", TargetList(hwy::SupportedTargets() & HWY_TARGETS).c_str());
  return 0;
}

}  // namespace

CLI::App* AddInfo(CLI::App& app, int* exit_code) {
  CLI::App* cmd = app.add_subcommand("info", "Version, CPU features and the kernels each path dispatches to");
  cmd->callback([exit_code] { *exit_code = RunInfo(); });
  return cmd;
}

}  // namespace mc2::cli
