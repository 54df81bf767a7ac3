// mc2: run, check and benchmark CANN's fused communication + computation operators on CPUs.
#include <cstdio>

#include "cli.h"

int main(int argc, char** argv) {
  CLI::App app{"mc2: CANN's fused communication + computation operators (MC2) on CPUs"};
  app.require_subcommand(1);
  app.set_version_flag("--version", MC2_VERSION);
  int exit_code = 0;
  mc2::cli::AddDemo(app, &exit_code);
  mc2::cli::AddInfo(app, &exit_code);
  mc2::cli::AddRunOp(app, &exit_code);
  mc2::cli::AddCompare(app, &exit_code);
  mc2::cli::AddGenInputs(app, &exit_code);
  mc2::cli::AddLaunch(app, &exit_code);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);  // usage message, non-zero for real errors
  }
  return exit_code;
}
