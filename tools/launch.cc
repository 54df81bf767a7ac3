// `mc2 launch -n N PROGRAM ARGS...`: starts N local ranks of PROGRAM as processes (the launcher of
// src/comm/launcher.h): rank, size and the root info travel in the environment, signals are
// forwarded, the rest are stopped when one fails, and the first non-zero exit code is returned.
#include <cstdio>
#include <string>
#include <vector>

#include "cli.h"
#include "comm/launcher.h"

namespace mc2::cli {

CLI::App* AddLaunch(CLI::App& app, int* exit_code) {
  static int nranks = 2;
  CLI::App* cmd = app.add_subcommand("launch", "Start N local ranks of a program as processes");
  cmd->add_option("-n,--ranks", nranks, "number of ranks")->capture_default_str()->check(CLI::Range(1, 250));
  cmd->footer("Usage: mc2 launch [-n N] PROGRAM [ARGS...]; everything from PROGRAM on is passed to the ranks.");
  // Everything from the first positional on belongs to the program, its own options included.
  cmd->prefix_command();
  cmd->callback([cmd, exit_code] {
    std::vector<std::string> argv = cmd->remaining();
    if (argv.empty()) {
      std::fprintf(stderr, "mc2 launch: no program given\n%s", cmd->help().c_str());
      *exit_code = 2;
      return;
    }
    *exit_code = comm::RunLauncher(nranks, argv);
  });
  return cmd;
}

}  // namespace mc2::cli
